//! A consent receipt's every member, tampered with: each member the format checks against
//! the proven events fails, named by its JSON pointer, when it is changed, widened, narrowed,
//! left out, or joined by a member the format does not have; each member no event states is
//! listed in the receipt as unproven and may only be text.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod support;

use confide_audit::receipt::{
    ReceiptError, UNPROVEN_MEMBERS, VerifiedReceipt, check_receipt_claims, verify_receipt_proof,
};
use serde_json::{Value, json};
use support::{ReceiptCase, expiries, operator};

/// Members whose whole value is the logged one: changed anywhere inside, they are named.
const WHOLE_VALUES: [&str; 2] = ["/confide/scope", "/confide/expiry"];

/// Lists of items that are checked item by item.
const LISTS_OF_OBJECTS: [&str; 4] = [
    "/piiControllers",
    "/services",
    "/services/0/purposes",
    "/confide/purposes",
];

/// Every member of `value` below `at`, as JSON pointers, parents before children.
fn members(value: &Value, at: &str, out: &mut Vec<String>) {
    if WHOLE_VALUES.contains(&at) {
        return;
    }
    match value {
        Value::Object(object) => {
            for (name, member) in object {
                let pointer = format!("{at}/{name}");
                out.push(pointer.clone());
                members(member, &pointer, out);
            }
        }
        Value::Array(items) if LISTS_OF_OBJECTS.contains(&at) => {
            for (index, item) in items.iter().enumerate() {
                let pointer = format!("{at}/{index}");
                out.push(pointer.clone());
                members(item, &pointer, out);
            }
        }
        _ => {}
    }
}

/// The leaves: members checked as one value.
fn leaves(receipt: &Value) -> Vec<String> {
    let mut all = Vec::new();
    members(receipt, "", &mut all);
    all.into_iter()
        .filter(|pointer| {
            let value = receipt.pointer(pointer).unwrap();
            WHOLE_VALUES.contains(&pointer.as_str())
                || !(value.is_object() || LISTS_OF_OBJECTS.contains(&pointer.as_str()))
        })
        .collect()
}

fn refusal(receipt: &Value, verified: &VerifiedReceipt) -> ReceiptError {
    match check_receipt_claims(receipt, verified) {
        Ok(()) => panic!("verified: {receipt}"),
        Err(error) => error,
    }
}

fn named_claim(error: &ReceiptError) -> &str {
    match error {
        ReceiptError::ClaimMismatch { claim, .. } => claim,
        other => panic!("not a claim mismatch: {other:?}"),
    }
}

/// The same value, otherwise.
fn changed(value: &Value) -> Value {
    match value {
        Value::Null => json!("2099-01-01T00:00:00Z"),
        Value::Bool(b) => json!(!b),
        Value::Number(n) => json!(n.as_i64().unwrap() + 1),
        Value::String(s) => json!(format!("{s}-changed")),
        Value::Array(items) if items.is_empty() => json!(["other"]),
        Value::Array(items) => {
            let mut items = items.clone();
            items[0] = changed(&items[0]);
            Value::Array(items)
        }
        Value::Object(object) => {
            let mut object = object.clone();
            object.insert("kind".to_owned(), json!("changed"));
            Value::Object(object)
        }
    }
}

fn case() -> (ReceiptCase, VerifiedReceipt) {
    let (expiry, termination, expires_at) = expiries().swap_remove(1);
    let case = ReceiptCase::new(expiry, termination, expires_at);
    let verified = verify_receipt_proof(&case.proof, &[operator().verifier()]).unwrap();
    (case, verified)
}

#[test]
fn the_issued_receipt_verifies_for_every_expiry() {
    for (expiry, termination, expires_at) in expiries() {
        let case = ReceiptCase::new(expiry.clone(), termination, expires_at);
        let verified = verify_receipt_proof(&case.proof, &[operator().verifier()]).unwrap();
        check_receipt_claims(&case.receipt, &verified)
            .unwrap_or_else(|error| panic!("{expiry}: {error}"));
    }
}

#[test]
fn every_member_is_checked_or_listed_as_unproven() {
    let (case, _) = case();
    let leaves = leaves(&case.receipt);
    for unproven in UNPROVEN_MEMBERS {
        assert!(
            leaves.iter().any(|leaf| leaf == unproven),
            "{unproven} is a member of the receipt"
        );
    }
    assert_eq!(
        case.receipt["confide"]["unproven"],
        json!(UNPROVEN_MEMBERS),
        "the receipt lists what is not proven"
    );
    // The Kantara members and Confide's, two purposes in each list: 63 values, 55 of them
    // checked against the events by the tests below, 8 unproven.
    assert_eq!(leaves.len(), 63, "{leaves:#?}");
}

#[test]
fn changing_any_checked_member_names_it() {
    let (case, verified) = case();
    for leaf in leaves(&case.receipt) {
        if UNPROVEN_MEMBERS.contains(&leaf.as_str()) {
            continue;
        }
        let mut receipt = case.receipt.clone();
        let member = receipt.pointer_mut(&leaf).unwrap();
        *member = changed(member);
        let error = refusal(&receipt, &verified);
        assert_eq!(named_claim(&error), leaf, "{error}");
        assert!(error.to_string().contains(&leaf), "{error}");
    }
}

#[test]
fn widening_or_narrowing_any_checked_list_names_it() {
    let (case, verified) = case();
    for leaf in leaves(&case.receipt) {
        let Some(items) = case.receipt.pointer(&leaf).unwrap().as_array() else {
            continue;
        };
        let mut wider = case.receipt.clone();
        let widened = wider.pointer_mut(&leaf).unwrap().as_array_mut().unwrap();
        let extra = match items.first() {
            Some(Value::String(_)) | None => json!("eve"),
            Some(other) => other.clone(),
        };
        widened.push(extra);
        assert_eq!(
            named_claim(&refusal(&wider, &verified)),
            leaf,
            "{leaf} widened"
        );
        if !items.is_empty() {
            let mut narrower = case.receipt.clone();
            narrower
                .pointer_mut(&leaf)
                .unwrap()
                .as_array_mut()
                .unwrap()
                .pop();
            assert_eq!(
                named_claim(&refusal(&narrower, &verified)),
                leaf,
                "{leaf} narrowed"
            );
        }
    }
}

#[test]
fn the_issues_widened_terms_fail() {
    let (case, verified) = case();
    let mut listener = case.receipt.clone();
    listener["services"][0]["purposes"][1]["thirdPartyName"] = json!("practitioner-0, eve");
    assert_eq!(
        named_claim(&refusal(&listener, &verified)),
        "/services/0/purposes/1/thirdPartyName"
    );
    let mut disclosed = case.receipt.clone();
    disclosed["services"][0]["purposes"][1]["thirdPartyDisclosure"] = json!(false);
    assert_eq!(
        named_claim(&refusal(&disclosed, &verified)),
        "/services/0/purposes/1/thirdPartyDisclosure"
    );
    let mut video = case.receipt.clone();
    video["services"][0]["purposes"][0]["piiCategory"] = json!(["audio", "video"]);
    assert_eq!(
        named_claim(&refusal(&video, &verified)),
        "/services/0/purposes/0/piiCategory"
    );
    let mut later = case.receipt.clone();
    later["confide"]["expiresAt"] = json!("2037-06-30T00:00:00Z");
    assert_eq!(
        named_claim(&refusal(&later, &verified)),
        "/confide/expiresAt"
    );
    let mut never = case.receipt.clone();
    never["confide"]["expiresAt"] = Value::Null;
    assert_eq!(
        named_claim(&refusal(&never, &verified)),
        "/confide/expiresAt"
    );
    let mut termination = case.receipt.clone();
    termination["services"][0]["purposes"][0]["termination"] =
        json!("does not expire by itself; may be withdrawn at any time");
    assert_eq!(
        named_claim(&refusal(&termination, &verified)),
        "/services/0/purposes/0/termination"
    );
}

#[test]
fn a_purpose_added_repeated_or_left_out_is_named() {
    let (case, verified) = case();
    for list in ["/services/0/purposes", "/confide/purposes"] {
        let items = case.receipt.pointer(list).unwrap().as_array().unwrap();
        // Another purpose.
        let mut added = case.receipt.clone();
        let mut research = items[0].clone();
        research["purpose"] = json!("research");
        added
            .pointer_mut(list)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(research);
        assert_eq!(
            named_claim(&refusal(&added, &verified)),
            format!("{list}/2/purpose")
        );
        // The same purpose twice.
        let mut repeated = case.receipt.clone();
        repeated
            .pointer_mut(list)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(items[0].clone());
        assert_eq!(
            named_claim(&refusal(&repeated, &verified)),
            format!("{list}/2/purpose")
        );
        // One left out.
        let mut fewer = case.receipt.clone();
        fewer
            .pointer_mut(list)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .remove(0);
        assert_eq!(named_claim(&refusal(&fewer, &verified)), list);
        // In another order: the same purposes.
        let mut reordered = case.receipt.clone();
        reordered
            .pointer_mut(list)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .reverse();
        check_receipt_claims(&reordered, &verified).unwrap();
    }
    // A purpose that is not an object is named as the item, like any other object.
    for list in ["/services/0/purposes", "/confide/purposes"] {
        let mut text = case.receipt.clone();
        text.pointer_mut(list).unwrap().as_array_mut().unwrap()[1] =
            json!("practitioner_reflection");
        assert_eq!(named_claim(&refusal(&text, &verified)), format!("{list}/1"));
    }
    for list in ["/piiControllers", "/services"] {
        let mut more = case.receipt.clone();
        let items = more.pointer_mut(list).unwrap().as_array_mut().unwrap();
        items.push(items[0].clone());
        assert_eq!(named_claim(&refusal(&more, &verified)), list);
        let mut none = case.receipt.clone();
        *none.pointer_mut(list).unwrap() = json!([]);
        assert_eq!(named_claim(&refusal(&none, &verified)), list);
    }
}

#[test]
fn leaving_out_any_member_names_it() {
    let (case, verified) = case();
    let mut all = Vec::new();
    members(&case.receipt, "", &mut all);
    for pointer in all {
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        let mut receipt = case.receipt.clone();
        let removed = match receipt.pointer_mut(parent).unwrap() {
            Value::Object(object) => object.remove(name).is_some(),
            // Items of lists are left out in the lists' own test.
            _ => false,
        };
        if !removed {
            continue;
        }
        match refusal(&receipt, &verified) {
            ReceiptError::MissingClaim { claim, logged } => {
                assert_eq!(claim, pointer);
                assert!(!logged.is_empty());
            }
            other => panic!("{pointer}: {other:?}"),
        }
    }
}

#[test]
fn a_member_the_format_does_not_have_is_named() {
    let (case, verified) = case();
    let mut objects = vec![String::new()];
    members(&case.receipt, "", &mut objects);
    for at in objects {
        if WHOLE_VALUES.contains(&at.as_str()) {
            continue;
        }
        let mut receipt = case.receipt.clone();
        let Some(object) = receipt.pointer_mut(&at).unwrap().as_object_mut() else {
            continue;
        };
        object.insert("sharedWith".to_owned(), json!("the police"));
        assert_eq!(
            refusal(&receipt, &verified),
            ReceiptError::UnknownMember {
                member: format!("{at}/sharedWith")
            },
            "in {at:?}"
        );
    }
}

#[test]
fn the_unproven_texts_may_say_anything_but_only_as_text() {
    let (case, verified) = case();
    for unproven in UNPROVEN_MEMBERS {
        let mut renamed = case.receipt.clone();
        *renamed.pointer_mut(unproven).unwrap() = json!("Another Clinic Ltd");
        check_receipt_claims(&renamed, &verified).unwrap();
        let mut structured = case.receipt.clone();
        *structured.pointer_mut(unproven).unwrap() = json!({ "name": "Another" });
        assert_eq!(named_claim(&refusal(&structured, &verified)), unproven);
    }
    // Declaring a proven member unproven does not exempt it.
    let mut exempted = case.receipt.clone();
    exempted["confide"]["unproven"]
        .as_array_mut()
        .unwrap()
        .push(json!("/confide/purposes"));
    assert_eq!(
        named_claim(&refusal(&exempted, &verified)),
        "/confide/unproven"
    );
}

#[test]
fn a_key_other_than_the_checkpoints_signer_is_named() {
    let (case, verified) = case();
    let mut receipt = case.receipt.clone();
    receipt["publicKey"] = json!(support::stranger().verifier().to_string());
    assert_eq!(named_claim(&refusal(&receipt, &verified)), "/publicKey");
}

#[test]
fn a_purpose_or_expiry_the_checker_does_not_know_cannot_be_proven() {
    let case = ReceiptCase::new(
        json!({ "kind": "on_event", "trigger": { "kind": "moon_phase" } }),
        "expires at the full moon",
        Value::Null,
    );
    let verified = verify_receipt_proof(&case.proof, &[operator().verifier()]).unwrap();
    assert!(matches!(
        refusal(&case.receipt, &verified),
        ReceiptError::UnprovableClaim { claim, .. } if claim == "/services/0/purposes/0/termination"
    ));
}

#[test]
fn sequence_numbers_and_sizes_beyond_the_formats_integers_are_not_a_proof() {
    let (case, _) = case();
    let proof: Value = serde_json::from_str(&case.proof.to_json()).unwrap();
    for pointer in ["/treeSize", "/events/0/sequence"] {
        let mut large = proof.clone();
        *large.pointer_mut(pointer).unwrap() = json!(9_007_199_254_740_993_u64);
        let error =
            confide_audit::receipt::ReceiptProof::from_json(&large.to_string()).unwrap_err();
        assert!(
            matches!(error, ReceiptError::MalformedProof(_)),
            "{pointer}: {error}"
        );
        // The same number with a zero fraction is the same number; a fraction is none.
        let mut whole = proof.clone();
        let value = whole.pointer(pointer).unwrap().as_u64().unwrap();
        *whole.pointer_mut(pointer).unwrap() = json!(value as f64);
        let read = confide_audit::receipt::ReceiptProof::from_json(&whole.to_string()).unwrap();
        assert_eq!(read, case.proof);
        *whole.pointer_mut(pointer).unwrap() = json!(value as f64 + 0.5);
        assert!(confide_audit::receipt::ReceiptProof::from_json(&whole.to_string()).is_err());
    }
}
