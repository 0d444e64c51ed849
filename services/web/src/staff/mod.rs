//! What the organisation's pages share: the signed-in staff member (or the way to sign in),
//! times as `mm:ss`, and the application's refusals in plain words.

use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use confide_domain::{DenyReason, DomainError, Offset, Purpose};

pub(crate) mod practice;
pub(crate) mod review;

/// Where someone not signed in is sent: the sign-in page, then back here.
pub(crate) fn sign_in_first(uri: &Uri) -> Response {
    let next = uri.path_and_query().map_or("/", |p| p.as_str());
    let next: String = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Redirect::to(&format!("/sign-in?{next}")).into_response()
}

/// A moment of a recording as `m:ss` (or `h:mm:ss`).
pub(crate) fn clock(offset: Offset) -> String {
    let seconds = offset.as_millis() / 1000;
    let (h, m, s) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A moment typed as `m:ss`, `h:mm:ss` or seconds (with an optional fraction).
pub(crate) fn typed_moment(field: &'static str, typed: &str) -> Result<Offset, DomainError> {
    let wrong = || DomainError::invalid(field, "a moment is written m:ss, for example 4:05");
    let mut seconds = 0f64;
    for part in typed.trim().split(':') {
        let value: f64 = part.trim().parse().map_err(|_| wrong())?;
        if !value.is_finite() || value < 0.0 {
            return Err(wrong());
        }
        seconds = seconds * 60.0 + value;
    }
    if seconds > 1.0e7 {
        return Err(wrong());
    }
    // Bounded and non-negative above: the cast keeps the value.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let millis = (seconds * 1000.0).round() as u64;
    Offset::from_millis(millis)
}

/// A WebVTT timestamp (`hh:mm:ss.mmm`).
pub(crate) fn vtt_time(millis: u64) -> String {
    let (h, m, s, ms) = (
        millis / 3_600_000,
        (millis / 60_000) % 60,
        (millis / 1000) % 60,
        millis % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// The purposes a reviewer may name, in the order the pages list them.
pub(crate) const REVIEW_PURPOSES: &[Purpose] = &[
    Purpose::Supervision,
    Purpose::CourseAssessment,
    Purpose::Credentialing,
    Purpose::QualityAssurance,
    Purpose::PractitionerReflection,
];

/// Why a play was refused, one sentence each.
pub(crate) fn reasons(reasons: &[DenyReason]) -> Vec<String> {
    reasons
        .iter()
        .map(|r| crate::words::capitalised(&r.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_typed_and_shown_as_minutes_and_seconds() {
        assert_eq!(typed_moment("at", "4:05").unwrap().as_millis(), 245_000);
        assert_eq!(
            typed_moment("at", "1:00:01").unwrap().as_millis(),
            3_601_000
        );
        assert_eq!(typed_moment("at", "12.5").unwrap().as_millis(), 12_500);
        assert!(typed_moment("at", "four").is_err());
        assert!(typed_moment("at", "-3").is_err());
        assert_eq!(clock(Offset::from_millis(245_900).unwrap()), "4:05");
        assert_eq!(clock(Offset::from_millis(3_601_000).unwrap()), "1:00:01");
        assert_eq!(vtt_time(3_723_004), "01:02:03.004");
    }
}
