//! The name of each aggregate's stream: `<kind>-<id>`, and one `tenant` stream per tenant for
//! its policy and memberships.

use std::fmt::Display;

use confide_eventstore::{StoreError, StreamId};

/// The tenant's own stream: policy and memberships.
pub fn tenant_stream() -> StreamId {
    StreamId::parse("tenant").expect("\"tenant\" is a valid stream id")
}

/// The stream of the aggregate of `kind` (`consent`, `recording`, …) with `id`.
pub fn stream_of(kind: &str, id: impl Display) -> Result<StreamId, StoreError> {
    StreamId::parse(&format!("{kind}-{id}"))
}

/// The aggregate kind a stream belongs to: what precedes the first `-` (the whole name for
/// the tenant's own stream).
pub(crate) fn kind_of(stream: &StreamId) -> &str {
    stream
        .as_str()
        .split_once('-')
        .map_or(stream.as_str(), |(kind, _)| kind)
}
