//! Limits on what people type and on the dates they give. Every text a person enters has a
//! stated length, counted in characters, and carries no control characters (a NUL, say, which
//! some databases and most tools cut a string at); a single line has no line breaks either.
//! A session date lies within a window around today. Each refusal is `Invalid`, naming the
//! field and the limit.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::DomainError;

/// The longest name (a client's, a typed signature, a form's or a course's title).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest contact details.
pub const MAX_CONTACT_CHARS: usize = 500;
/// The longest form or case study text.
pub const MAX_DOCUMENT_CHARS: usize = 100_000;

/// How far back a session date may lie, in years.
pub const SESSION_YEARS_BACK: i32 = 50;
/// How far ahead a session date may lie, in years (a consent asked for a session to come).
pub const SESSION_YEARS_AHEAD: i32 = 2;

/// A single line of text: at most `max` characters, no control characters.
pub fn text<'a>(field: &'static str, value: &'a str, max: usize) -> Result<&'a str, DomainError> {
    check(field, value, max, |c| c.is_control())
}

/// A block of text: at most `max` characters, no control characters other than line breaks
/// and tabs.
pub fn text_block<'a>(
    field: &'static str,
    value: &'a str,
    max: usize,
) -> Result<&'a str, DomainError> {
    check(field, value, max, |c| {
        c.is_control() && !matches!(c, '\n' | '\r' | '\t')
    })
}

fn check<'a>(
    field: &'static str,
    value: &'a str,
    max: usize,
    forbidden: impl Fn(char) -> bool,
) -> Result<&'a str, DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid(field, "may not be empty"));
    }
    // Counting stops past the limit, so an enormous input costs no more than a long one.
    if value.chars().take(max + 1).count() > max {
        return Err(DomainError::invalid(
            field,
            format!("is at most {max} characters"),
        ));
    }
    if value.chars().any(forbidden) {
        return Err(DomainError::invalid(
            field,
            "may not contain control characters (such as NUL, or a line break in a single line)",
        ));
    }
    Ok(value)
}

/// A session's date: no more than [`SESSION_YEARS_BACK`] years before `now` nor
/// [`SESSION_YEARS_AHEAD`] after it.
pub fn session_date(
    field: &'static str,
    on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<NaiveDate, DomainError> {
    let today = now.date_naive();
    let earliest = today
        .with_year(today.year() - SESSION_YEARS_BACK)
        .unwrap_or(NaiveDate::MIN);
    let latest = today
        .with_year(today.year() + SESSION_YEARS_AHEAD)
        .unwrap_or(NaiveDate::MAX);
    if on < earliest || on > latest {
        return Err(DomainError::invalid(
            field,
            format!("a session date lies between {earliest} and {latest}"),
        ));
    }
    Ok(on)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn text_is_bounded_and_free_of_control_characters() {
        assert_eq!(text("label", "Opening", 10), Ok("Opening"));
        assert!(text("label", "", 10).is_err());
        assert!(text("label", "   ", 10).is_err());
        assert_eq!(text("label", "ééééé", 5), Ok("ééééé"));
        assert!(text("label", "éééééé", 5).is_err());
        assert!(text("label", "a\0b", 10).is_err());
        assert!(text("label", "a\nb", 10).is_err());
        assert_eq!(text_block("comment", "a\nb\tc", 10), Ok("a\nb\tc"));
        assert!(text_block("comment", "a\0b", 10).is_err());
        let long = "x".repeat(48 * 1024);
        let refused = text("name", &long, MAX_NAME_CHARS).unwrap_err();
        assert!(refused.to_string().contains("200 characters"), "{refused}");
    }

    #[test]
    fn session_dates_lie_near_today() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(session_date("session_on", day(2026, 12, 4), now).is_ok());
        assert!(session_date("session_on", day(1976, 12, 4), now).is_ok());
        assert!(session_date("session_on", day(1976, 12, 3), now).is_err());
        assert!(session_date("session_on", day(2028, 12, 4), now).is_ok());
        assert!(session_date("session_on", day(2028, 12, 5), now).is_err());
        assert!(session_date("session_on", NaiveDate::MAX, now).is_err());
        assert!(session_date("session_on", NaiveDate::MIN, now).is_err());
    }
}
