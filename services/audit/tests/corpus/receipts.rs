//! Receipts: every tampering class, and receipts edited at random, value by value.

#[allow(unused_imports)]
use super::*;

pub(crate) const WHOLE_VALUES: [&str; 2] = ["/confide/scope", "/confide/expiry"];
pub(crate) const LISTS_OF_OBJECTS: [&str; 4] = [
    "/piiControllers",
    "/services",
    "/services/0/purposes",
    "/confide/purposes",
];

pub(crate) fn members(value: &Value, at: &str, out: &mut Vec<String>) {
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

pub(crate) fn leaves(receipt: &Value) -> Vec<String> {
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

pub(crate) fn changed(value: &Value) -> Value {
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

/// An edit of a receipt's proof.
type ProofEdit = Box<dyn Fn(&mut Value)>;

pub(crate) fn slug(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

pub(crate) fn receipts(corpus: &mut Corpus) {
    let keys = [operator().verifier()];
    for (n, (expiry, termination, expires_at)) in expiries().into_iter().enumerate() {
        let case = ReceiptCase::new(expiry, termination, expires_at);
        corpus.receipt("valid", &format!("expiry-{n}"), &case.answer(), &keys);
    }
    let (expiry, termination, expires_at) = expiries().swap_remove(1);
    let case = ReceiptCase::new(expiry, termination, expires_at);
    let answer = case.answer();
    let proof_only = answer["data"]["consentReceipt"]["proof"].clone();
    corpus.receipt("valid", "proof-only", &proof_only, &keys);
    corpus.receipt(
        "valid",
        "unwrapped",
        &answer["data"]["consentReceipt"],
        &keys,
    );
    let with = |receipt: &Value| {
        let mut answer = answer.clone();
        answer["data"]["consentReceipt"]["receipt"] = receipt.clone();
        answer
    };

    // Every checked member changed; every list widened and narrowed.
    for leaf in leaves(&case.receipt) {
        let mut receipt = case.receipt.clone();
        let member = receipt.pointer_mut(&leaf).unwrap();
        *member = changed(member);
        corpus.receipt(
            "changed",
            &format!("changed-{}", slug(&leaf)),
            &with(&receipt),
            &keys,
        );
        let Some(items) = case.receipt.pointer(&leaf).unwrap().as_array() else {
            continue;
        };
        let mut wider = case.receipt.clone();
        let extra = match items.first() {
            Some(Value::String(_)) | None => json!("eve"),
            Some(other) => other.clone(),
        };
        wider
            .pointer_mut(&leaf)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(extra);
        corpus.receipt(
            "widened",
            &format!("widened-{}", slug(&leaf)),
            &with(&wider),
            &keys,
        );
        if !items.is_empty() {
            let mut narrower = case.receipt.clone();
            narrower
                .pointer_mut(&leaf)
                .unwrap()
                .as_array_mut()
                .unwrap()
                .pop();
            corpus.receipt(
                "narrowed",
                &format!("narrowed-{}", slug(&leaf)),
                &with(&narrower),
                &keys,
            );
        }
    }
    // Purposes added, repeated, left out, reordered; lists of one item with two or none.
    for list in ["/services/0/purposes", "/confide/purposes"] {
        let items = case.receipt.pointer(list).unwrap().as_array().unwrap();
        let mut research = items[0].clone();
        research["purpose"] = json!("research");
        for (name, edit) in [
            ("added", Some(research)),
            ("repeated", Some(items[0].clone())),
            ("left-out", None),
        ] {
            let mut receipt = case.receipt.clone();
            let list_items = receipt.pointer_mut(list).unwrap().as_array_mut().unwrap();
            match edit {
                Some(item) => list_items.push(item),
                None => {
                    list_items.remove(0);
                }
            }
            corpus.receipt(
                "purposes",
                &format!("purpose-{name}-{}", slug(list)),
                &with(&receipt),
                &keys,
            );
        }
        let mut reordered = case.receipt.clone();
        reordered
            .pointer_mut(list)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .reverse();
        corpus.receipt(
            "valid",
            &format!("reordered-{}", slug(list)),
            &with(&reordered),
            &keys,
        );
    }
    for list in ["/piiControllers", "/services"] {
        let mut more = case.receipt.clone();
        let items = more.pointer_mut(list).unwrap().as_array_mut().unwrap();
        items.push(items[0].clone());
        corpus.receipt("lists", &format!("two-{}", slug(list)), &with(&more), &keys);
        let mut none = case.receipt.clone();
        *none.pointer_mut(list).unwrap() = json!([]);
        corpus.receipt(
            "lists",
            &format!("none-{}", slug(list)),
            &with(&none),
            &keys,
        );
    }
    // Every member left out; a member the format does not have in every object.
    let mut all = Vec::new();
    members(&case.receipt, "", &mut all);
    for pointer in &all {
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        let mut receipt = case.receipt.clone();
        if let Value::Object(object) = receipt.pointer_mut(parent).unwrap() {
            object.remove(name);
            corpus.receipt(
                "missing",
                &format!("missing-{}", slug(pointer)),
                &with(&receipt),
                &keys,
            );
        }
    }
    let mut objects = vec![String::new()];
    objects.extend(all);
    for at in objects {
        if WHOLE_VALUES.contains(&at.as_str()) {
            continue;
        }
        let mut receipt = case.receipt.clone();
        let Some(object) = receipt.pointer_mut(&at).unwrap().as_object_mut() else {
            continue;
        };
        object.insert("sharedWith".to_owned(), json!("the police"));
        let name = if at.is_empty() { "top" } else { &slug(&at) };
        corpus.receipt(
            "unknown",
            &format!("unknown-in-{name}"),
            &with(&receipt),
            &keys,
        );
    }
    // Two faults in one object: the member the format does not have is named.
    let mut receipt = case.receipt.clone();
    receipt["confide"]["sharedWith"] = json!("the police");
    receipt["confide"]["consentId"] = json!("another");
    corpus.receipt("unknown", "unknown-and-changed", &with(&receipt), &keys);
    // The unproven texts: any text, nothing else.
    for unproven in UNPROVEN_MEMBERS {
        let mut renamed = case.receipt.clone();
        *renamed.pointer_mut(unproven).unwrap() = json!("Another Clinic Ltd");
        corpus.receipt(
            "valid",
            &format!("unproven-text-{}", slug(unproven)),
            &with(&renamed),
            &keys,
        );
        let mut structured = case.receipt.clone();
        *structured.pointer_mut(unproven).unwrap() = json!({ "name": "Another" });
        corpus.receipt(
            "unproven",
            &format!("unproven-object-{}", slug(unproven)),
            &with(&structured),
            &keys,
        );
    }
    let mut exempted = case.receipt.clone();
    exempted["confide"]["unproven"]
        .as_array_mut()
        .unwrap()
        .push(json!("/confide/purposes"));
    corpus.receipt("unproven", "exempted", &with(&exempted), &keys);
    let mut receipt = case.receipt.clone();
    receipt["publicKey"] = json!(stranger().verifier().to_string());
    corpus.receipt("changed", "public-key-stranger", &with(&receipt), &keys);
    let moon = ReceiptCase::new(
        json!({ "kind": "on_event", "trigger": { "kind": "moon_phase" } }),
        "expires at the full moon",
        Value::Null,
    );
    corpus.receipt("unprovable", "moon-phase", &moon.answer(), &keys);

    // A receipt that is not an object; a member whose name needs escaping in a pointer.
    corpus.receipt("edge", "receipt-text", &with(&json!("a receipt")), &keys);
    let mut receipt = case.receipt.clone();
    receipt["confide"]["shared/with~"] = json!("the police");
    corpus.receipt("edge", "unknown-escaped", &with(&receipt), &keys);
    // Numbers written as fractions, times with offsets.
    let mut receipt = case.receipt.clone();
    receipt["consentTimestamp"] = json!(1_736_157_600.0);
    corpus.receipt("edge", "timestamp-fraction", &with(&receipt), &keys);
    let mut receipt = case.receipt.clone();
    receipt["confide"]["consentVersion"] = json!(2.0);
    corpus.receipt("edge", "version-fraction", &with(&receipt), &keys);
    for (name, at, expires_at) in [
        (
            "offset",
            "2027-06-30T01:00:00.250+01:00",
            "2027-06-30T00:00:00Z",
        ),
        (
            "offset-kept",
            "2027-06-30T01:00:00.250+01:00",
            "2027-06-30T01:00:00+01:00",
        ),
        (
            "no-fraction",
            "2027-06-30T00:00:00Z",
            "2027-06-30T00:00:00Z",
        ),
        (
            "lowercase-z",
            "2027-06-30t00:00:00z",
            "2027-06-30T00:00:00Z",
        ),
        (
            "no-such-day",
            "2027-02-30T00:00:00Z",
            "2027-02-30T00:00:00Z",
        ),
        (
            "leap-day",
            "2028-02-29T23:59:59.999Z",
            "2028-02-29T23:59:59Z",
        ),
        (
            "leap-second",
            "2027-06-30T23:59:60Z",
            "2027-06-30T23:59:60Z",
        ),
    ] {
        let termination = format!("expires at {expires_at}; may be withdrawn at any time");
        let dated = ReceiptCase::new(
            json!({ "kind": "on_date", "at": at }),
            &termination,
            json!(expires_at),
        );
        corpus.receipt("edge", &format!("expiry-{name}"), &dated.answer(), &keys);
    }

    // The proof.
    corpus.receipt("proof", "stranger-key", &answer, &[stranger().verifier()]);
    corpus.receipt(
        "valid",
        "two-keys",
        &answer,
        &[stranger().verifier(), operator().verifier()],
    );
    let proof_at = |edit: &dyn Fn(&mut Value)| {
        let mut answer = answer.clone();
        edit(&mut answer["data"]["consentReceipt"]["proof"]);
        answer
    };
    let edits: Vec<(&str, ProofEdit)> = vec![
        (
            "envelope-edited",
            Box::new(|proof| {
                let text = proof["events"][1]["envelope"].as_str().unwrap();
                proof["events"][1]["envelope"] = json!(text.replacen("en-GB", "en-US", 1));
            }),
        ),
        (
            "envelope-not-canonical",
            Box::new(|proof| {
                let text = proof["events"][0]["envelope"].as_str().unwrap();
                proof["events"][0]["envelope"] = json!(text.replacen("\":", "\": ", 1));
            }),
        ),
        (
            "envelope-not-json",
            Box::new(|proof| proof["events"][0]["envelope"] = json!("{\"event_id\"")),
        ),
        (
            "path-edited",
            Box::new(|proof| {
                let hash = proof["events"][0]["inclusionPath"][0].as_str().unwrap();
                let flipped = if hash.starts_with('0') { "1" } else { "0" };
                proof["events"][0]["inclusionPath"][0] = json!(format!("{flipped}{}", &hash[1..]));
            }),
        ),
        (
            "path-shortened",
            Box::new(|proof| {
                proof["events"][1]["inclusionPath"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
        ),
        (
            "path-uppercase",
            Box::new(|proof| {
                let hash = proof["events"][0]["inclusionPath"][0].as_str().unwrap();
                proof["events"][0]["inclusionPath"][0] = json!(hash.to_uppercase());
            }),
        ),
        (
            "tree-size",
            Box::new(|proof| {
                let size = proof["treeSize"].as_u64().unwrap();
                proof["treeSize"] = json!(size - 1);
            }),
        ),
        (
            "sequence",
            Box::new(|proof| {
                let sequence = proof["events"][1]["sequence"].as_u64().unwrap();
                proof["events"][1]["sequence"] = json!(sequence + 1);
            }),
        ),
        (
            "reversed",
            Box::new(|proof| proof["events"].as_array_mut().unwrap().reverse()),
        ),
        (
            "given-alone",
            Box::new(|proof| {
                proof["events"].as_array_mut().unwrap().remove(0);
            }),
        ),
        (
            "requested-alone",
            Box::new(|proof| {
                proof["events"].as_array_mut().unwrap().pop();
            }),
        ),
        ("no-events", Box::new(|proof| proof["events"] = json!([]))),
        (
            "checkpoint-edited",
            Box::new(|proof| {
                let note = proof["checkpoint"].as_str().unwrap();
                proof["checkpoint"] =
                    json!(note.replacen("confide.example/", "confide.exampl/", 1));
            }),
        ),
        (
            "checkpoint-unsigned",
            Box::new(|proof| {
                let note = proof["checkpoint"].as_str().unwrap();
                let body_end = note.find("\n\n").unwrap() + 2;
                proof["checkpoint"] = json!(&note[..body_end]);
            }),
        ),
        (
            "unknown-member",
            Box::new(|proof| proof["signedBy"] = json!("the operator")),
        ),
        (
            "unknown-event-member",
            Box::new(|proof| proof["events"][0]["note"] = json!("x")),
        ),
        (
            "tree-size-text",
            Box::new(|proof| proof["treeSize"] = json!("57")),
        ),
    ];
    for (name, edit) in &edits {
        corpus.receipt("proof", name, &proof_at(edit.as_ref()), &keys);
    }
    // Another tenant's checkpoint: same tree, another origin.
    let mut foreign = answer.clone();
    let note = answer["data"]["consentReceipt"]["proof"]["checkpoint"]
        .as_str()
        .unwrap();
    let body = &note[..note.find("\n\n").unwrap() + 1];
    let parsed = Checkpoint::parse_body(body).unwrap();
    foreign["data"]["consentReceipt"]["proof"]["checkpoint"] = json!(
        operator().sign(
            &Checkpoint {
                origin: "confide.example/another-tenant".to_owned(),
                ..parsed
            }
            .to_body()
        )
    );
    corpus.receipt("proof", "origin-of-another-tenant", &foreign, &keys);
}

/// Receipts edited at random, value by value: members replaced by values of other types,
/// other members' values, numbers at the edges, or removed; list items repeated.
pub(crate) fn fuzzed_receipts(corpus: &mut Corpus) {
    let keys = [operator().verifier()];
    let (expiry, termination, expires_at) = expiries().swap_remove(2);
    let answer = ReceiptCase::new(expiry, termination, expires_at).answer();
    let mut pointers = Vec::new();
    every_pointer(&answer, "", &mut pointers);
    // A fixed xorshift, so the cases are the same in every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let replacements = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(2.0),
        json!(9_007_199_254_740_993_u64),
        json!(""),
        json!("x"),
        json!("2027-06-30T00:00:00Z"),
        json!([]),
        json!({}),
        json!(["x"]),
    ];
    for n in 0..mutated_cases() * 2 {
        let mut edited = answer.clone();
        for _ in 0..1 + next(2) {
            let pointer = &pointers[next(pointers.len())];
            let Some(target) = edited.pointer(pointer).cloned() else {
                continue;
            };
            let choice = next(replacements.len() + 3);
            let value = if choice < replacements.len() {
                replacements[choice].clone()
            } else if choice == replacements.len() {
                // Another member's value.
                let other = &pointers[next(pointers.len())];
                edited.pointer(other).cloned().unwrap_or(Value::Null)
            } else if choice == replacements.len() + 1 {
                // Removed.
                let (parent, name) = pointer.rsplit_once('/').unwrap();
                if let Some(Value::Object(object)) = edited.pointer_mut(parent) {
                    object.remove(name);
                }
                continue;
            } else {
                // A list's item repeated.
                match target {
                    Value::Array(mut items) if !items.is_empty() => {
                        items.push(items[0].clone());
                        Value::Array(items)
                    }
                    other => other,
                }
            };
            *edited.pointer_mut(pointer).unwrap() = value;
        }
        corpus.receipt("fuzzed", &format!("fuzzed-{n:03}"), &edited, &keys);
    }
}

/// Every member and item of `value` below `at`, as JSON pointers.
pub(crate) fn every_pointer(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (name, member) in object {
                let pointer = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                every_pointer(member, &pointer, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let pointer = format!("{at}/{index}");
                out.push(pointer.clone());
                every_pointer(item, &pointer, out);
            }
        }
        _ => {}
    }
}
