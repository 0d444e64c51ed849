//! Upcasting: old event schemas are brought to the current one as they are read. The stored
//! bytes, and so the leaf hashes and every proof, never change.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::RecordedEvent;

type Step = Arc<dyn Fn(Value) -> Value + Send + Sync>;

/// Steps from one schema version of an event type to the next.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), Step>,
}

impl Upcasters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the step that turns `event_type` at `from_version` into `from_version + 1`.
    pub fn register(
        mut self,
        event_type: &str,
        from_version: u32,
        step: impl Fn(Value) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.steps
            .insert((event_type.to_owned(), from_version), Arc::new(step));
        self
    }

    /// Applies every registered step in turn until the event is at its newest version.
    pub(crate) fn upcast(&self, event: &mut RecordedEvent) {
        if self.steps.is_empty() {
            return;
        }
        while let Some(step) = self
            .steps
            .get(&(event.event_type.clone(), event.schema_version))
        {
            event.payload = step(std::mem::take(&mut event.payload));
            event.schema_version += 1;
        }
    }
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut steps: Vec<_> = self.steps.keys().collect();
        steps.sort();
        f.debug_struct("Upcasters").field("steps", &steps).finish()
    }
}
