//! The filter: which events of the scanned range a bundle discloses, the closure rule that
//! makes a filter with subjects list the streams its events create, and the `Matcher` that
//! evaluates a filter over many events for the writer and the verifier.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::line::exact_members;
use crate::envelope::Envelope;

/// Which events of the scanned range a bundle discloses.
///
/// An event matches when both hold:
///
/// - time: `from <= recorded_at` (if `from` is set) and `recorded_at < until` (if `until`
///   is set), comparing the timestamps as strings, which for their fixed format
///   (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) is chronological order;
/// - subject: `subjects` is empty, or for some kind `k` and one of its ids `i`, the event's
///   `stream_id` is `k-i` or its payload is an object with a top-level member `k_id` whose
///   value is the string `i`. So `{"client": ["c1"]}` matches the client's own stream and
///   every event whose payload names `"client_id": "c1"`.
///
/// A filter that lists subjects must be *closed*: every stream created by a matching event
/// (one with `stream_version` 1, in stream `k-i`) is listed too, as kind `k`, id `i`. The
/// writer and the verifier both require it, so that a bundle cannot silently leave out the
/// later events of a stream whose first event it discloses: a consent requested for a
/// listed client (its `ConsentGiven` and `ConsentWithdrawn` name no client), a recording
/// made for that client (its playbacks), a grant on that recording (its revocation). The
/// exporter lists a client's consents, recordings, grants and subject requests alongside
/// the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The earliest `recorded_at` disclosed, inclusive.
    pub from: Option<String>,
    /// The `recorded_at` from which nothing is disclosed, exclusive.
    pub until: Option<String>,
    /// Subject ids by kind (`client`, `consent`, `recording`, …). Empty: every subject.
    pub subjects: BTreeMap<String, BTreeSet<String>>,
}

impl Filter {
    /// The filter that matches every event.
    pub fn everything() -> Self {
        Self::default()
    }

    /// This filter with one more subject, e.g. `("recording", "0193…")`.
    pub fn with_subject(mut self, kind: &str, id: impl Into<String>) -> Self {
        self.subjects
            .entry(kind.to_owned())
            .or_default()
            .insert(id.into());
        self
    }

    /// This filter limited to `from <= recorded_at < until`.
    pub fn recorded_between(mut self, from: Option<String>, until: Option<String>) -> Self {
        self.from = from;
        self.until = until;
        self
    }

    /// Checks the filter's own shape: timestamps in the envelope format with `from` before
    /// `until`, kinds of lowercase letters and underscores, ids of printable ASCII without
    /// spaces (as in stream ids), and no kind without ids.
    pub fn validate(&self) -> Result<(), String> {
        for (name, bound) in [("from", &self.from), ("until", &self.until)] {
            if let Some(bound) = bound
                && !is_timestamp(bound)
            {
                return Err(format!(
                    "{name} {bound:?} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS.ffffffZ"
                ));
            }
        }
        if let (Some(from), Some(until)) = (&self.from, &self.until)
            && from >= until
        {
            return Err(format!("from {from} is not before until {until}"));
        }
        for (kind, ids) in &self.subjects {
            let kind_ok = kind.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !kind_ok {
                return Err(format!(
                    "subject kind {kind:?} is not lowercase letters and underscores"
                ));
            }
            if ids.is_empty() {
                return Err(format!("subject kind {kind:?} lists no ids"));
            }
            if let Some(id) = ids
                .iter()
                .find(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(format!(
                    "subject id {id:?} is not printable ASCII without spaces"
                ));
            }
        }
        Ok(())
    }

    /// Whether `envelope` matches the filter (see the type's documentation). An envelope
    /// whose `recorded_at` is not in the fixed format never matches a filter with a time
    /// bound.
    pub fn matches(&self, envelope: &Envelope) -> bool {
        let matcher = Matcher::new(self);
        let payload = |name: &str| {
            envelope
                .payload
                .get(name)
                .and_then(Value::as_str)
                .map(Cow::Borrowed)
        };
        matcher
            .evaluate(
                &envelope.recorded_at,
                &envelope.stream_id,
                envelope.stream_version,
                payload,
            )
            .is_ok_and(|verdict| verdict.matches)
    }

    /// Closes the filter over one event: if the event matches and creates a stream
    /// `kind-id` that the filter does not list (section 8's closure rule), lists it and
    /// returns true. An exporter runs this over the scanned events, in order, before it
    /// writes a bundle for a filter with subjects, so that the bundle discloses the
    /// streams its subjects created (a client's consents, their recordings, the grants on
    /// those) and not only the events that name the subject.
    pub fn close_over(
        &mut self,
        recorded_at: &str,
        stream_id: &str,
        stream_version: u64,
        payload: &Value,
    ) -> bool {
        let verdict = Matcher::new(self).evaluate(recorded_at, stream_id, stream_version, |name| {
            payload.get(name).and_then(Value::as_str).map(Cow::Borrowed)
        });
        let Ok(Verdict {
            unlisted_stream: Some(stream),
            ..
        }) = verdict
        else {
            return false;
        };
        match stream.split_once('-') {
            Some((kind, id)) => {
                self.subjects
                    .entry(kind.to_owned())
                    .or_default()
                    .insert(id.to_owned());
                true
            }
            None => false,
        }
    }

    pub(super) fn to_json(&self) -> Value {
        let subjects: Map<String, Value> = self
            .subjects
            .iter()
            .map(|(kind, ids)| (kind.clone(), json!(ids)))
            .collect();
        json!({ "from": self.from, "until": self.until, "subjects": subjects })
    }

    pub(super) fn from_json(value: &Value) -> Result<Self, String> {
        let members = exact_members(value, &["from", "subjects", "until"])?;
        let bound = |name: &str| match &members[name] {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.clone())),
            _ => Err(format!("filter.{name} is neither null nor a string")),
        };
        let Value::Object(subject_members) = &members["subjects"] else {
            return Err("filter.subjects is not an object".to_owned());
        };
        let mut subjects = BTreeMap::new();
        for (kind, ids) in subject_members {
            let Value::Array(ids) = ids else {
                return Err(format!("filter.subjects.{kind} is not an array"));
            };
            let mut set = BTreeSet::new();
            let mut previous: Option<&str> = None;
            for id in ids {
                let Value::String(id) = id else {
                    return Err(format!("filter.subjects.{kind} holds a non-string"));
                };
                // One encoding per filter: ids sorted (by bytes) without repeats.
                if previous.is_some_and(|previous| previous >= id.as_str()) {
                    return Err(format!(
                        "filter.subjects.{kind} is not sorted without repeats"
                    ));
                }
                previous = Some(id);
                set.insert(id.clone());
            }
            subjects.insert(kind.clone(), set);
        }
        let filter = Filter {
            from: bound("from")?,
            until: bound("until")?,
            subjects,
        };
        filter.validate()?;
        Ok(filter)
    }
}

/// Whether `text` is a timestamp of the envelope format `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
/// Only the shape is checked: for strings of this shape, string order is time order.
pub fn is_timestamp(text: &str) -> bool {
    const SHAPE: &[u8; 27] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE).all(|(byte, &shape)| match shape {
            b'd' => byte.is_ascii_digit(),
            other => byte == other,
        })
}

/// A filter prepared for evaluating many events.
#[derive(Clone, Debug)]
pub(crate) struct Matcher {
    from: Option<String>,
    until: Option<String>,
    /// (kind, payload member name `kind_id`, ids).
    subjects: Vec<(String, String, BTreeSet<String>)>,
}

/// What a filter says about one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) matches: bool,
    /// For a matching event that creates a stream `kind-id` that the filter does not list
    /// (when it lists subjects): the stream id.
    pub(crate) unlisted_stream: Option<String>,
}

impl Matcher {
    pub(crate) fn new(filter: &Filter) -> Self {
        Self {
            from: filter.from.clone(),
            until: filter.until.clone(),
            subjects: filter
                .subjects
                .iter()
                .map(|(kind, ids)| (kind.clone(), format!("{kind}_id"), ids.clone()))
                .collect(),
        }
    }

    fn is_everything(&self) -> bool {
        self.from.is_none() && self.until.is_none() && self.subjects.is_empty()
    }

    /// Evaluates the filter on an event's facts; `payload` looks up a top-level string
    /// member of the payload. Fails when the filter has a time bound and `recorded_at` is
    /// not in the fixed format.
    pub(crate) fn evaluate<'p>(
        &self,
        recorded_at: &str,
        stream_id: &str,
        stream_version: u64,
        payload: impl Fn(&str) -> Option<Cow<'p, str>>,
    ) -> Result<Verdict, String> {
        let no = Verdict {
            matches: false,
            unlisted_stream: None,
        };
        if self.is_everything() {
            return Ok(Verdict {
                matches: true,
                unlisted_stream: None,
            });
        }
        if self.from.is_some() || self.until.is_some() {
            if !is_timestamp(recorded_at) {
                return Err(format!(
                    "recorded_at {recorded_at:?} is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ, so the time filter cannot apply"
                ));
            }
            let after_from = self.from.as_deref().is_none_or(|from| from <= recorded_at);
            let before_until = self
                .until
                .as_deref()
                .is_none_or(|until| recorded_at < until);
            if !(after_from && before_until) {
                return Ok(no);
            }
        }
        let stream = stream_id.split_once('-');
        let names_subject = self.subjects.is_empty()
            || self.subjects.iter().any(|(kind, member, ids)| {
                let by_stream = stream.is_some_and(|(k, id)| k == kind && ids.contains(id));
                by_stream || payload(member).is_some_and(|id| ids.contains(id.as_ref()))
            });
        if !names_subject {
            return Ok(no);
        }
        let mut unlisted_stream = None;
        if let (false, 1, Some((kind, id))) = (self.subjects.is_empty(), stream_version, stream) {
            let listed = self
                .subjects
                .iter()
                .any(|(listed_kind, _, ids)| listed_kind == kind && ids.contains(id));
            if !listed {
                unlisted_stream = Some(stream_id.to_owned());
            }
        }
        Ok(Verdict {
            matches: true,
            unlisted_stream,
        })
    }
}
