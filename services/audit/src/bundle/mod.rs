//! The audit bundle: a versioned, self-contained, streamable export of one tenant's log for
//! one filter, which an auditor verifies offline against a signed checkpoint. The format is
//! specified in `schema/audit-bundle.md`; in short, a bundle is JSON lines, each line the
//! canonical JSON ([`crate::canonical`]) of one object whose `type` member names it:
//!
//! ```text
//! header        format, version, tenant, filter, scanned range, export time
//! key+          the verifier keys (C2SP note verifier key strings)
//! checkpoint    the signed checkpoint (a C2SP signed note) of the tree of N events
//! consistency?  an older signed checkpoint and the consistency proof from it
//! event|skip*   in sequence order, covering leaves 0..N exactly once:
//!               event: a disclosed envelope and its leaf hash;
//!               skip:  a run of undisclosed leaves as the hashes of the perfect subtrees
//!                      that tile it (merkle::range_nodes)
//! end           counts and a digest of the lines before it (event lines by their leaf)
//! ```
//!
//! Because the event and skip lines cover the whole tree, the verifier folds them into the
//! root and compares it with the checkpoint's: one range proof for the whole bundle instead
//! of an audit path per event (about one node hash per event instead of `log2 N`).
//! Inside the scanned range the writer discloses every event that matches the filter and
//! hides the others; outside it, it hides everything.
//!
//! [`BundleWriter`] writes a bundle with flat memory, checking as it goes everything the
//! verifier will check (so an exporter cannot produce a bundle that fails verification
//! without getting an error), and [`BundleReader`] reads one line at a time.
//!
//! This module holds the format's constants and the header; the rest is in private
//! submodules, re-exported here:
//!
//! - `filter`: which events a bundle discloses ([`Filter`]) and its closure rule;
//! - `writer`: the streaming [`BundleWriter`] and its errors;
//! - `line`: the line types ([`Line`], [`EventLine`]) and the parsing of one line;
//! - `reader`: the [`BundleReader`], its chunks and its reading threads.

use std::ops::Range;

use serde_json::{Value, json};

mod filter;
mod line;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

pub(crate) use filter::Matcher;
pub use filter::{Filter, is_timestamp};
pub(crate) use line::parse_hash;
pub use line::{EventLine, Line};
pub use reader::{BundleReader, ReadError, ReadErrorKind};
pub use writer::{BundleError, BundleSummary, BundleWriter, Disclosure, Previous};

/// The `format` member of every header.
pub const FORMAT: &str = "confide-audit-bundle";

/// The version of the format this module writes and reads.
pub const VERSION: u64 = 1;

/// The longest line a reader accepts, newline included. Longer lines are refused rather
/// than buffered, so a hostile file cannot make the verifier's memory grow without bound.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// The first line of a bundle: whose log, which events, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleHeader {
    /// The tenant whose log the bundle holds; every envelope's `tenant_id`, and the
    /// checkpoint's origin is `<prefix>/<tenant_id>`.
    pub tenant_id: String,
    /// Which events of the scanned range are disclosed.
    pub filter: Filter,
    /// The sequence numbers the exporter examined, `start..end`: within it every event
    /// that matches the filter is disclosed; outside it nothing is.
    pub scan: Range<u64>,
    /// When the bundle was written, in the envelope timestamp format.
    pub exported_at: String,
    /// What wrote it, e.g. `confide 0.1.0`.
    pub generator: String,
}

impl BundleHeader {
    fn to_json(&self) -> Value {
        json!({
            "type": "header",
            "format": FORMAT,
            "version": VERSION,
            "tenant_id": self.tenant_id,
            "filter": self.filter.to_json(),
            "scan": { "start": self.scan.start, "end": self.scan.end },
            "exported_at": self.exported_at,
            "generator": self.generator,
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.tenant_id.is_empty() {
            return Err("the tenant id is empty".to_owned());
        }
        if self.scan.start > self.scan.end {
            return Err(format!(
                "the scanned range {}..{} ends before it starts",
                self.scan.start, self.scan.end
            ));
        }
        if !is_timestamp(&self.exported_at) {
            return Err(format!(
                "exported_at {:?} is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ",
                self.exported_at
            ));
        }
        self.filter.validate()
    }
}

/// Whether `origin` is a tenant's origin line: `<non-empty prefix>/<tenant_id>`.
pub fn origin_names_tenant(origin: &str, tenant_id: &str) -> bool {
    origin
        .strip_suffix(tenant_id)
        .and_then(|prefix| prefix.strip_suffix('/'))
        .is_some_and(|prefix| !prefix.is_empty())
}
