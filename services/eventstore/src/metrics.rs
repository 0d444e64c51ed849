//! The event store's metrics, recorded through the global OpenTelemetry meter.
//!
//! The instruments are made on first use from whatever meter provider is global then, so the
//! binary installs its provider before it opens a store; without one (tests, benchmarks) they
//! are no-ops that cost next to nothing on the append path.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge};

use crate::plan::WritePlan;

/// The type of the event that records a refused playback. Counting refusals where they are
/// committed counts each once, however often the decision was retried on contention.
const PLAYBACK_REFUSED: &str = "PlaybackRefused";

struct Instruments {
    appends: Counter<u64>,
    events: Counter<u64>,
    refused: Counter<u64>,
    projection_lag: Gauge<f64>,
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = opentelemetry::global::meter("confide-eventstore");
        Instruments {
            appends: meter
                .u64_counter("confide.eventstore.appends")
                .with_description("Appends committed to the log")
                .with_unit("{append}")
                .build(),
            events: meter
                .u64_counter("confide.eventstore.events")
                .with_description("Events committed to the log")
                .with_unit("{event}")
                .build(),
            refused: meter
                .u64_counter("confide.access.refused")
                .with_description("Playbacks refused and recorded in the log")
                .with_unit("{refusal}")
                .build(),
            projection_lag: meter
                .f64_gauge("confide.projection.lag")
                .with_description(
                    "How long ago the last event an asynchronous projection applied was \
                     recorded; 0 once it has caught up",
                )
                .with_unit("s")
                .build(),
        }
    })
}

/// Counts an append that committed `plan`.
pub(crate) fn appended(system: &'static str, plan: &WritePlan) {
    let instruments = instruments();
    let attributes = [KeyValue::new("db.system.name", system)];
    instruments.appends.add(1, &attributes);
    instruments
        .events
        .add(plan.events.len() as u64, &attributes);
    let refused = plan
        .events
        .iter()
        .filter(|event| event.event_type == PLAYBACK_REFUSED)
        .count();
    if refused > 0 {
        instruments.refused.add(refused as u64, &[]);
    }
}

/// Records how far behind the log `projection` is, from the recording time of the last event
/// it applied (`None`: it has caught up).
pub(crate) fn projection_lag(projection: &'static str, last_applied: Option<DateTime<Utc>>) {
    let lag = last_applied.map_or(0.0, |recorded_at| {
        (Utc::now() - recorded_at).as_seconds_f64().max(0.0)
    });
    instruments()
        .projection_lag
        .record(lag, &[KeyValue::new("confide.projection", projection)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_refusals_by_the_domain_event_type() {
        let recording_events = confide_domain::aggregates::recording::RecordingEvent::EVENT_TYPES;
        assert!(
            recording_events
                .iter()
                .any(|(event_type, _)| *event_type == PLAYBACK_REFUSED),
            "{PLAYBACK_REFUSED} is not a recording event type: {recording_events:?}"
        );
    }
}
