//! A catch-up subscription across tenants: first everything already committed, then live
//! appends as they commit.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::{EventStore, GlobalPosition, RecordedEvent, StoreError};

pub struct Subscription {
    store: Arc<dyn EventStore>,
    position: GlobalPosition,
    buffer: VecDeque<RecordedEvent>,
    appended: watch::Receiver<u64>,
    batch_size: usize,
    poll: Duration,
}

impl Subscription {
    /// Starts after `position`. Appends made by this process wake the subscription at once;
    /// those made by other processes are found within `poll`.
    pub fn new(store: Arc<dyn EventStore>, position: GlobalPosition, poll: Duration) -> Self {
        let appended = store.appended();
        Self {
            store,
            position,
            buffer: VecDeque::new(),
            appended,
            batch_size: 1_000,
            poll,
        }
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The position just after the last event returned by `next`.
    pub fn position(&self) -> &GlobalPosition {
        &self.position
    }

    /// The next event, waiting for one to be committed if the subscription has caught up.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.position.advance(&event);
                return Ok(event);
            }
            // Mark the current append count as seen before reading, so an append that commits
            // after this read still wakes the wait below.
            self.appended.borrow_and_update();
            let batch = self.store.read_all(&self.position, self.batch_size).await?;
            if batch.is_empty() {
                tokio::select! {
                    _ = self.appended.changed() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                }
            }
            self.buffer.extend(batch);
        }
    }
}
