//! What a receipt may say, member by member, given the events its proof shows.
//!
//! The checker knows the whole receipt format (`schema/consent-receipt.md` section 1): each
//! member is either derived here, independently of the server that issued the receipt, from
//! the proven `ConsentRequested` and `ConsentGiven` envelopes (or fixed by the format), or it
//! is one of [`UNPROVEN_MEMBERS`], texts no event states, which the receipt itself lists
//! under `confide.unproven`. A member the format does not have is refused, so nothing can be
//! added to a receipt that verifies; a member missing, or saying more, less or other than the
//! events, is named by its JSON pointer.

use serde_json::{Value, json};

use super::{ReceiptError, VerifiedReceipt};

/// The version string of the Kantara Consent Receipt Specification the receipt follows.
pub const KANTARA_CR_VERSION: &str = "KI-CR-v1.1.0";

/// The members of a receipt that no proven event states, as JSON pointers: the controller's
/// name and contact details (the tenant's settings) and the title of the consent form (its
/// text is proven, by SHA-256, under `confide.consentForm`). A receipt lists exactly these
/// under `confide.unproven`; the checker requires them to be text and nothing more.
pub const UNPROVEN_MEMBERS: [&str; 8] = [
    "/piiControllers/0/piiController",
    "/piiControllers/0/contact",
    "/piiControllers/0/address/streetAddress",
    "/piiControllers/0/address/addressCountry",
    "/piiControllers/0/email",
    "/piiControllers/0/phone",
    "/piiControllers/0/piiControllerUrl",
    "/services/0/service",
];

/// The nearest W3C Data Privacy Vocabulary purpose of a Confide purpose, as the receipt
/// states it (`purposeCategory`, `confide.purposes[].dpvPurpose`); `None` for a purpose this
/// checker does not know. The server derives the same from its own vocabulary, and a test of
/// the application pins that the two agree for every purpose.
pub fn dpv_purpose(purpose: &str) -> Option<&'static str> {
    Some(match purpose {
        "supervision"
        | "course_assessment"
        | "credentialing"
        | "practitioner_reflection"
        | "transcription" => "https://w3id.org/dpv#ProfessionalTraining",
        "quality_assurance" => "https://w3id.org/dpv#ImproveExistingProductsAndServices",
        "client_copy" => "https://w3id.org/dpv#RequestedServiceProvision",
        "case_study" => "https://w3id.org/dpv#OrganisationGovernance",
        _ => return None,
    })
}

/// What a member of the receipt must be.
enum Expected {
    /// This value, as the events state it, or why they state none.
    Logged(Result<Value, String>),
    /// One of these values (the keys that signed the checkpoint).
    OneOf(Vec<Value>),
    /// Any text: a member listed in [`UNPROVEN_MEMBERS`].
    Unproven,
    /// An object with exactly these members.
    Object(Vec<(&'static str, Expected)>),
    /// An array of exactly these items, in this order.
    Items(Vec<Expected>),
    /// The purposes requested, each exactly once, in any order, matched by their `purpose`.
    Purposes(Vec<(String, Expected)>),
}

impl Expected {
    fn fixed(value: Value) -> Self {
        Self::Logged(Ok(value))
    }

    /// What the events say, for a message.
    fn describe(&self) -> String {
        match self {
            Self::Logged(Ok(value)) => value.to_string(),
            Self::Logged(Err(reason)) => format!("nothing usable ({reason})"),
            Self::OneOf(values) => format!("one of {}", Value::Array(values.clone())),
            Self::Unproven => "text (a member no event states)".to_owned(),
            Self::Object(members) => format!(
                "an object with the members {}",
                members
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Items(items) => format!("a list of {} item(s)", items.len()),
            Self::Purposes(purposes) => Value::Array(
                purposes
                    .iter()
                    .map(|(purpose, _)| Value::from(purpose.as_str()))
                    .collect(),
            )
            .to_string(),
        }
    }
}

/// Checks that `receipt` says exactly what `verified`'s events say (see the module
/// documentation).
pub(super) fn check(receipt: &Value, verified: &VerifiedReceipt) -> Result<(), ReceiptError> {
    check_member(Some(receipt), &expected_receipt(verified), "")
}

fn mismatch(claim: &str, said: &Value, expected: &Expected) -> ReceiptError {
    ReceiptError::ClaimMismatch {
        claim: claim_name(claim),
        receipt: said.to_string(),
        logged: expected.describe(),
    }
}

fn claim_name(pointer: &str) -> String {
    if pointer.is_empty() {
        "/".to_owned()
    } else {
        pointer.to_owned()
    }
}

/// JSON pointer of `name` in the object at `at` (RFC 6901 escapes).
fn child(at: &str, name: &str) -> String {
    format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// Whether two JSON values are the same, numbers compared by value: `2` and `2.0` are one
/// number in JSON (RFC 8259 section 6), and a receipt is JSON read by any parser.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q))
                    if p == q && p.fract() == 0.0 && p.abs() <= 9_007_199_254_740_991.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(name, v)| y.get(name).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn check_member(said: Option<&Value>, expected: &Expected, at: &str) -> Result<(), ReceiptError> {
    let Some(said) = said else {
        return Err(ReceiptError::MissingClaim {
            claim: claim_name(at),
            logged: expected.describe(),
        });
    };
    match expected {
        Expected::Logged(Ok(logged)) => {
            if !same_json(said, logged) {
                return Err(mismatch(at, said, expected));
            }
        }
        Expected::Logged(Err(reason)) => {
            return Err(ReceiptError::UnprovableClaim {
                claim: claim_name(at),
                reason: reason.clone(),
            });
        }
        Expected::OneOf(values) => {
            if !values.contains(said) {
                return Err(mismatch(at, said, expected));
            }
        }
        Expected::Unproven => {
            if !said.is_string() {
                return Err(mismatch(at, said, expected));
            }
        }
        Expected::Object(members) => {
            let Some(object) = said.as_object() else {
                return Err(mismatch(at, said, expected));
            };
            if let Some(unknown) = object
                .keys()
                .find(|key| !members.iter().any(|(name, _)| name == key))
            {
                return Err(ReceiptError::UnknownMember {
                    member: child(at, unknown),
                });
            }
            for (name, member) in members {
                check_member(object.get(*name), member, &child(at, name))?;
            }
        }
        Expected::Items(items) => {
            let Some(list) = said.as_array().filter(|list| list.len() == items.len()) else {
                return Err(mismatch(at, said, expected));
            };
            for (index, (item, expected)) in list.iter().zip(items).enumerate() {
                check_member(Some(item), expected, &format!("{at}/{index}"))?;
            }
        }
        Expected::Purposes(purposes) => {
            let Some(list) = said.as_array() else {
                return Err(mismatch(at, said, expected));
            };
            let mut unlisted: Vec<&(String, Expected)> = purposes.iter().collect();
            for (index, item) in list.iter().enumerate() {
                let item_at = format!("{at}/{index}");
                let unlisted_purposes = || {
                    Value::Array(
                        unlisted
                            .iter()
                            .map(|(name, _)| Value::from(name.as_str()))
                            .collect(),
                    )
                };
                if !item.is_object() {
                    // Not a purpose at all: the item says other than the events, as any
                    // member that should be an object does.
                    return Err(ReceiptError::ClaimMismatch {
                        claim: item_at,
                        receipt: item.to_string(),
                        logged: format!("one of {}", unlisted_purposes()),
                    });
                }
                let purpose = item.get("purpose");
                if purpose.is_none() {
                    return Err(ReceiptError::MissingClaim {
                        claim: format!("{item_at}/purpose"),
                        logged: format!("one of {}", unlisted_purposes()),
                    });
                }
                let Some(position) = unlisted
                    .iter()
                    .position(|(name, _)| purpose.and_then(Value::as_str) == Some(name.as_str()))
                else {
                    // Not requested, or listed twice: nothing the events say is left for it.
                    return Err(ReceiptError::ClaimMismatch {
                        claim: format!("{item_at}/purpose"),
                        receipt: purpose.unwrap_or(&Value::Null).to_string(),
                        logged: format!(
                            "one of the purposes requested and not yet listed, {}",
                            unlisted_purposes()
                        ),
                    });
                };
                let (_, terms) = unlisted.remove(position);
                check_member(Some(item), terms, &item_at)?;
            }
            if !unlisted.is_empty() {
                return Err(ReceiptError::ClaimMismatch {
                    claim: claim_name(at),
                    receipt: Value::Array(
                        list.iter()
                            .map(|item| item.get("purpose").cloned().unwrap_or(Value::Null))
                            .collect(),
                    )
                    .to_string(),
                    logged: expected.describe(),
                });
            }
        }
    }
    Ok(())
}

/// `value`, which the event must hold.
fn required(value: &Value, what: &str) -> Result<Value, String> {
    if value.is_null() {
        Err(format!("the logged events hold no {what}"))
    } else {
        Ok(value.clone())
    }
}

/// The receipt the events support, member by member.
fn expected_receipt(verified: &VerifiedReceipt) -> Expected {
    use Expected::{Items, Logged, Object, OneOf, Purposes, Unproven};
    let requested = &verified.requested().payload;
    let given = verified.given();
    let evidence = &given.payload["evidence"];
    let form = &evidence["form"];
    let signed_at = LoggedInstant::parse(&evidence["signed_at"]);
    let expiry = &requested["expiry"];
    let termination = termination(expiry);
    let terms: Vec<&Value> = requested["terms"]
        .as_array()
        .map(|terms| terms.iter().collect())
        .unwrap_or_default();
    let purposes_of = |describe: &dyn Fn(&Value) -> Expected| -> Expected {
        if terms.is_empty() {
            return Logged(Err("the request holds no purposes".to_owned()));
        }
        Purposes(
            terms
                .iter()
                .map(|terms| {
                    let purpose = terms["purpose"].as_str().unwrap_or_default().to_owned();
                    (purpose, describe(terms))
                })
                .collect(),
        )
    };
    let kantara_purposes = purposes_of(&|terms| {
        let names = audience_names(&terms["audience"]);
        Object(vec![
            ("purpose", Logged(required(&terms["purpose"], "purpose"))),
            (
                "purposeCategory",
                Logged(dpv(terms).map(|iri| json!([iri]))),
            ),
            ("consentType", Expected::fixed(json!("EXPLICIT"))),
            ("piiCategory", Logged(required(&terms["media"], "media"))),
            ("primaryPurpose", Expected::fixed(json!(false))),
            ("termination", Logged(termination.clone().map(Value::from))),
            (
                "thirdPartyDisclosure",
                Logged(names.clone().map(|names| json!(!names.is_empty()))),
            ),
            (
                "thirdPartyName",
                Logged(names.map(|names| json!(names.join(", ")))),
            ),
        ])
    });
    let confide_purposes = purposes_of(&|terms| {
        Object(vec![
            ("purpose", Logged(required(&terms["purpose"], "purpose"))),
            ("dpvPurpose", Logged(dpv(terms).map(Value::from))),
            (
                "audience",
                Object(vec![
                    (
                        "users",
                        Logged(required(&terms["audience"]["users"], "audience")),
                    ),
                    (
                        "roles",
                        Logged(required(&terms["audience"]["roles"], "audience")),
                    ),
                ]),
            ),
            ("media", Logged(required(&terms["media"], "media"))),
            (
                "derivatives",
                Logged(required(&terms["derivatives"], "derivatives")),
            ),
        ])
    });
    let policy_url = match (form["consent_form_id"].as_str(), &form["version"]) {
        (Some(id), Value::Number(version)) => {
            Ok(json!(format!("urn:confide:consent-form:{id}:{version}")))
        }
        _ => Err("the evidence names no consent form".to_owned()),
    };
    Object(vec![
        ("version", Expected::fixed(json!(KANTARA_CR_VERSION))),
        (
            "jurisdiction",
            Logged(required(&evidence["jurisdiction"], "jurisdiction")),
        ),
        (
            "consentTimestamp",
            Logged(signed_at.clone().map(|at| json!(at.epoch_seconds))),
        ),
        (
            "collectionMethod",
            Logged(required(&evidence["collected_by"], "collection method")),
        ),
        ("consentReceiptID", Expected::fixed(json!(given.event_id))),
        (
            "publicKey",
            OneOf(
                verified
                    .signed_by
                    .iter()
                    .map(|key| json!(key.to_string()))
                    .collect(),
            ),
        ),
        (
            "language",
            Logged(required(&evidence["language"], "language")),
        ),
        (
            "piiPrincipalId",
            Logged(required(&requested["client_id"], "client")),
        ),
        (
            "piiControllers",
            Items(vec![Object(vec![
                ("piiController", Unproven),
                // Each tenant is the controller of its own clients' data.
                ("onBehalf", Expected::fixed(json!(false))),
                ("contact", Unproven),
                (
                    "address",
                    Object(vec![
                        ("streetAddress", Unproven),
                        ("addressCountry", Unproven),
                    ]),
                ),
                ("email", Unproven),
                ("phone", Unproven),
                ("piiControllerUrl", Unproven),
            ])]),
        ),
        ("policyUrl", Logged(policy_url)),
        (
            "services",
            Items(vec![Object(vec![
                ("service", Unproven),
                ("purposes", kantara_purposes),
            ])]),
        ),
        // Recordings of counselling, coaching and supervision sessions are health data.
        ("sensitive", Expected::fixed(json!(true))),
        ("spiCat", Expected::fixed(json!(["health"]))),
        (
            "confide",
            Object(vec![
                ("tenantId", Expected::fixed(json!(given.tenant_id))),
                (
                    "consentId",
                    Logged(required(&requested["consent_id"], "consent")),
                ),
                (
                    "consentVersion",
                    Expected::fixed(json!(given.stream_version)),
                ),
                (
                    "consentForm",
                    Object(vec![
                        (
                            "id",
                            Logged(required(&form["consent_form_id"], "consent form")),
                        ),
                        (
                            "version",
                            Logged(required(&form["version"], "consent form version")),
                        ),
                        (
                            "textSha256",
                            Logged(required(&form["text_sha256"], "consent form text")),
                        ),
                    ]),
                ),
                ("scope", Logged(required(&requested["scope"], "scope"))),
                ("courseId", Expected::fixed(requested["course_id"].clone())),
                ("expiry", Expected::fixed(expiry.clone())),
                ("expiresAt", Logged(expires_at(expiry))),
                ("signedAt", Logged(signed_at.map(|at| json!(at.to_seconds)))),
                ("purposes", confide_purposes),
                (
                    "event",
                    Object(vec![
                        ("eventId", Expected::fixed(json!(given.event_id))),
                        ("sequence", Expected::fixed(json!(given.sequence))),
                        ("stream", Expected::fixed(json!(given.stream_id))),
                    ]),
                ),
                ("unproven", Expected::fixed(json!(UNPROVEN_MEMBERS))),
            ]),
        ),
    ])
}

fn dpv(terms: &Value) -> Result<&'static str, String> {
    let purpose = terms["purpose"].as_str().unwrap_or_default();
    dpv_purpose(purpose).ok_or_else(|| {
        format!(
            "{purpose:?} is a purpose this checker does not know (is it older than the receipt?)"
        )
    })
}

/// The named audience of a purpose as the receipt names it: people by their ids, then roles.
fn audience_names(audience: &Value) -> Result<Vec<String>, String> {
    let names = |member: &str| -> Result<Vec<String>, String> {
        audience[member]
            .as_array()
            .and_then(|names| {
                names
                    .iter()
                    .map(|name| name.as_str().map(str::to_owned))
                    .collect()
            })
            .ok_or_else(|| format!("the audience's {member} are not a list of names"))
    };
    let users = names("users")?;
    let roles = names("roles")?;
    Ok(users
        .into_iter()
        .chain(roles.into_iter().map(|role| format!("role: {role}")))
        .collect())
}

/// When the consent ends by itself, as the receipt says it of each purpose.
fn termination(expiry: &Value) -> Result<String, String> {
    let ends = match (expiry["kind"].as_str(), &expiry["trigger"]) {
        _ if expiry.is_null() => "does not expire by itself".to_owned(),
        (Some("on_date"), _) => format!(
            "expires at {}",
            LoggedInstant::parse(&expiry["at"])?.to_seconds
        ),
        (Some("on_event"), trigger) => match trigger["kind"].as_str() {
            Some("course_ended") => format!(
                "expires when course {} ends",
                trigger["course_id"]
                    .as_str()
                    .ok_or("the course expiry names no course")?
            ),
            Some("credential_decided") => "expires when the credentialing body decides".to_owned(),
            _ => return Err(format!("an expiry this checker does not know: {expiry}")),
        },
        _ => return Err(format!("an expiry this checker does not know: {expiry}")),
    };
    Ok(format!("{ends}; may be withdrawn at any time"))
}

/// The moment a consent with an expiry date ends, to the second; `null` for any other.
fn expires_at(expiry: &Value) -> Result<Value, String> {
    match expiry["kind"].as_str() {
        Some("on_date") => Ok(json!(LoggedInstant::parse(&expiry["at"])?.to_seconds)),
        _ => {
            termination(expiry)?;
            Ok(Value::Null)
        }
    }
}

/// An instant as the events log it (RFC 3339 in UTC, `Z`, with a fraction of a second when
/// there is one), and as the receipt states it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LoggedInstant {
    /// RFC 3339 to the second, the fraction dropped: `2027-06-30T00:00:00Z`.
    to_seconds: String,
    /// Whole seconds since the Unix epoch (the fraction dropped).
    epoch_seconds: i64,
}

impl LoggedInstant {
    fn parse(value: &Value) -> Result<Self, String> {
        let text = value
            .as_str()
            .ok_or_else(|| format!("{value} is not a logged instant"))?;
        Self::parse_text(text).ok_or_else(|| format!("{text:?} is not an RFC 3339 instant in UTC"))
    }

    fn parse_text(text: &str) -> Option<Self> {
        let (date, time) = text.split_once('T')?;
        let time = time.strip_suffix('Z')?;
        let (clock, fraction) = match time.split_once('.') {
            Some((clock, fraction)) => (clock, Some(fraction)),
            None => (time, None),
        };
        if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let number = |part: &str, digits: usize| -> Option<i64> {
            (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        let (sign, unsigned) = match date.as_bytes().first()? {
            b'+' => (1, &date[1..]),
            b'-' => (-1, &date[1..]),
            _ => (1, date),
        };
        let mut fields = unsigned.split('-');
        let year = fields.next()?;
        if year.len() < 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year = sign * year.parse::<i64>().ok()?;
        let month = number(fields.next()?, 2)?;
        let day = number(fields.next()?, 2)?;
        let mut clock_fields = clock.split(':');
        let hour = number(clock_fields.next()?, 2)?;
        let minute = number(clock_fields.next()?, 2)?;
        let second = number(clock_fields.next()?, 2)?;
        if fields.next().is_some() || clock_fields.next().is_some() {
            return None;
        }
        if !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        Some(Self {
            to_seconds: format!("{date}T{clock}Z"),
            epoch_seconds: days_from_civil(year, month, day) * 86_400
                + hour * 3_600
                + minute * 60
                + second,
        })
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn numbers_are_compared_by_value() {
        use serde_json::json;
        assert!(same_json(&json!(2.0), &json!(2)));
        assert!(same_json(
            &json!({"a": [1_736_157_600.0]}),
            &json!({"a": [1_736_157_600]})
        ));
        assert!(!same_json(&json!(2.5), &json!(2)));
        assert!(!same_json(
            &json!(9_007_199_254_740_993_u64),
            &json!(9_007_199_254_740_992.0)
        ));
        assert!(!same_json(&json!("2"), &json!(2)));
        assert!(!same_json(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn instants_read_as_the_server_writes_them() {
        let at = LoggedInstant::parse_text("2027-06-30T00:00:00Z").unwrap();
        assert_eq!(at.to_seconds, "2027-06-30T00:00:00Z");
        assert_eq!(at.epoch_seconds, 1_814_313_600);
        let fraction = LoggedInstant::parse_text("2025-01-06T10:00:00.123456Z").unwrap();
        assert_eq!(fraction.to_seconds, "2025-01-06T10:00:00Z");
        assert_eq!(fraction.epoch_seconds, 1_736_157_600);
        assert_eq!(
            LoggedInstant::parse_text("1970-01-01T00:00:00Z")
                .unwrap()
                .epoch_seconds,
            0
        );
        assert_eq!(
            LoggedInstant::parse_text("1969-12-31T23:59:59.5Z")
                .unwrap()
                .epoch_seconds,
            -1
        );
        assert_eq!(
            LoggedInstant::parse_text("2024-02-29T12:00:00Z")
                .unwrap()
                .epoch_seconds,
            1_709_208_000
        );
        for wrong in [
            "2025-02-29T00:00:00Z",
            "2025-01-06T10:00:00",
            "2025-01-06T10:00:00+01:00",
            "2025-01-06 10:00:00Z",
            "2025-1-06T10:00:00Z",
            "2025-01-06T24:00:00Z",
            "2025-01-06T10:00:00.Z",
            "2025-01-06T10:00Z",
        ] {
            assert_eq!(LoggedInstant::parse_text(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn every_expiry_has_its_termination() {
        assert_eq!(
            termination(&Value::Null).unwrap(),
            "does not expire by itself; may be withdrawn at any time"
        );
        let on_date = json!({ "kind": "on_date", "at": "2027-06-30T00:00:00.5Z" });
        assert_eq!(
            termination(&on_date).unwrap(),
            "expires at 2027-06-30T00:00:00Z; may be withdrawn at any time"
        );
        assert_eq!(expires_at(&on_date).unwrap(), json!("2027-06-30T00:00:00Z"));
        let course = json!({ "kind": "on_event", "trigger": { "kind": "course_ended", "course_id": "c-1" } });
        assert_eq!(
            termination(&course).unwrap(),
            "expires when course c-1 ends; may be withdrawn at any time"
        );
        assert_eq!(expires_at(&course).unwrap(), Value::Null);
        let decided = json!({ "kind": "on_event", "trigger": { "kind": "credential_decided" } });
        assert_eq!(
            termination(&decided).unwrap(),
            "expires when the credentialing body decides; may be withdrawn at any time"
        );
        let unknown = json!({ "kind": "on_event", "trigger": { "kind": "moon_phase" } });
        assert!(termination(&unknown).is_err());
        assert!(expires_at(&unknown).is_err());
    }
}
