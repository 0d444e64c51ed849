//! RFC 8785 (JSON Canonicalization Scheme, "JCS") serialization of a
//! [`serde_json::Value`].
//!
//! The canonical form is what gets hashed into the log, so two independent
//! implementations must produce the same bytes for the same value:
//!
//! - no whitespace between tokens;
//! - object members sorted by their names compared as sequences of UTF-16 code
//!   units (RFC 8785 §3.2.3), which differs from UTF-8 byte order for names
//!   that mix characters above U+FFFF with characters in U+E000..=U+FFFF;
//! - strings escaped exactly as ECMAScript's `JSON.stringify` does: `\"`,
//!   `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, every other character below U+0020
//!   as `\u00xx` with lowercase hex, and everything else (including `/`, DEL
//!   and all non-ASCII characters) as literal UTF-8.
//!
//! **Numbers are restricted to integers in the I-JSON safe range**
//! `-(2^53 - 1) ..= 2^53 - 1`, printed in plain decimal. Any other number
//! (a fraction, an exponent form that serde_json stores as a float, or an
//! integer outside that range) is rejected with
//! [`CanonicalError::UnsupportedNumber`]. Confide's events only carry
//! integers, and this restriction spares every re-implementer (an auditor's
//! script in any language) the ECMAScript double-to-string algorithm of
//! RFC 8785 §3.2.2.3, which is the part of JCS that implementations most often
//! get wrong. Every accepted number prints the same in full JCS.

use serde_json::Value;

/// The largest integer that an IEEE 754 double represents exactly, together
/// with all integers below it (I-JSON, RFC 7493 §2.2).
pub(crate) const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a value has no canonical form here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// The number is not an integer in `-(2^53 - 1) ..= 2^53 - 1`; the string
    /// is the number as serde_json prints it.
    #[error(
        "number {0} is not supported: canonical JSON here only carries integers between -(2^53-1) and 2^53-1"
    )]
    UnsupportedNumber(String),
}

/// Serializes `value` in RFC 8785 canonical form (with the integer-only
/// restriction described in the module documentation).
pub fn to_canonical_vec(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    write_value(&mut out, value)?;
    Ok(out)
}

pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(out, number)?,
        Value::String(string) => write_string(out, string),
        Value::Array(items) => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            // serde_json's map is ordered by UTF-8 bytes (or by insertion with
            // the `preserve_order` feature), neither of which is JCS order.
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|(left, _), (right, _)| left.encode_utf16().cmp(right.encode_utf16()));
            out.push(b'{');
            for (position, (name, member)) in sorted.into_iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_string(out, name);
                out.push(b':');
                write_value(out, member)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_number(out: &mut Vec<u8>, number: &serde_json::Number) -> Result<(), CanonicalError> {
    // `as_u64`/`as_i64` only succeed for numbers that serde_json holds as
    // integers, so fractions and floats such as `1.0` fall through to the
    // error, whichever serde_json features the workspace enables.
    let in_range = match (number.as_u64(), number.as_i64()) {
        (Some(unsigned), _) => unsigned <= MAX_SAFE_INTEGER,
        (None, Some(signed)) => signed.unsigned_abs() <= MAX_SAFE_INTEGER,
        (None, None) => false,
    };
    if !in_range {
        return Err(CanonicalError::UnsupportedNumber(number.to_string()));
    }
    // Integers print as plain decimal both in serde_json and in ECMAScript
    // for this range, so the two agree digit for digit.
    out.extend_from_slice(number.to_string().as_bytes());
    Ok(())
}

/// Writes `string` as a JCS string literal. Only `"`, `\\` and control characters below
/// U+0020 are escaped, so everything between them is copied as one run of bytes (multi-byte
/// UTF-8 sequences never contain a byte below 0x80).
pub(crate) fn write_string(out: &mut Vec<u8>, string: &str) {
    out.push(b'"');
    let bytes = string.as_bytes();
    let mut run_start = 0;
    for (position, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..position]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{byte:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        run_start = position + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(value: &Value) -> String {
        String::from_utf8(to_canonical_vec(value).unwrap()).unwrap()
    }

    /// RFC 8785 §3.2.3, the sorting example: the emoji (surrogate pair
    /// D83D DE00) sorts before U+FB33 by UTF-16 code units although it comes
    /// after it by code point and by UTF-8 bytes.
    #[test]
    fn sorts_members_by_utf16_code_units_as_in_rfc_8785_section_3_2_3() {
        let input: Value = serde_json::from_str(
            r#"{
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }"#,
        )
        .unwrap();
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonical(&input), expected);
    }

    #[test]
    fn a_character_above_u_ffff_sorts_before_the_private_use_area() {
        let input = json!({ "\u{e000}": 1, "\u{1f600}": 2 });
        assert_eq!(canonical(&input), "{\"\u{1f600}\":2,\"\u{e000}\":1}");
        // UTF-8 byte order would put U+E000 (EE 80 80) first; make sure the
        // test really distinguishes the two orders.
        assert!("\u{e000}".as_bytes() < "\u{1f600}".as_bytes());
    }

    /// RFC 8785 §3.2.2 sample document, without its non-integer numbers
    /// (which this module rejects on purpose).
    #[test]
    fn escapes_strings_as_in_the_rfc_8785_sample() {
        let input: Value = serde_json::from_str(
            r#"{
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }"#,
        )
        .unwrap();
        assert_eq!(
            canonical(&input),
            r#"{"literals":[null,true,false],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn escapes_every_control_character_and_nothing_else() {
        let input = json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f} /\u{7f}\u{e9}\u{2028}");
        assert_eq!(
            canonical(&input),
            "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f /\u{7f}\u{e9}\u{2028}\""
        );
    }

    #[test]
    fn sorts_nested_objects_and_keeps_array_order() {
        let input = json!({
            "b": [{ "z": 1, "a": [3, 2, 1] }, "x", {}],
            "a": { "d": true, "c": null, "": [] },
            "aa": -7,
        });
        assert_eq!(
            canonical(&input),
            r#"{"a":{"":[],"c":null,"d":true},"aa":-7,"b":[{"a":[3,2,1],"z":1},"x",{}]}"#
        );
    }

    #[test]
    fn prints_integers_at_the_edges_of_the_safe_range() {
        let max = 9_007_199_254_740_991_i64;
        let input = json!([0, -0, 1, -1, max, -max]);
        assert_eq!(
            canonical(&input),
            "[0,0,1,-1,9007199254740991,-9007199254740991]"
        );
    }

    #[test]
    fn rejects_fractions_and_integers_outside_the_safe_range() {
        let too_big = 9_007_199_254_740_992_u64;
        for (value, printed) in [
            (json!(1.5), "1.5"),
            (json!(1.0), "1.0"),
            (json!(too_big), "9007199254740992"),
            (json!(-9_007_199_254_740_992_i64), "-9007199254740992"),
            (json!(u64::MAX), "18446744073709551615"),
        ] {
            let nested = json!({ "outer": [value] });
            assert_eq!(
                to_canonical_vec(&nested),
                Err(CanonicalError::UnsupportedNumber(printed.to_owned())),
                "{printed}"
            );
        }
    }
}
