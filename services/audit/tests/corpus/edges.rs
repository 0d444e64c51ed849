//! Corners of the format: encodings, notes and lines at the edge of what section 2 allows.
//! Named by whatever the Rust verifier concludes; the JavaScript one must agree.

#[allow(unused_imports)]
use super::*;

/// The bundle's lines with line `index` replaced by `text`, resealed.
pub(crate) fn replaced(lines: &[String], index: usize, text: String) -> Vec<u8> {
    let mut lines = lines.to_vec();
    lines[index] = text;
    resealed(lines)
}

pub(crate) fn edges(corpus: &mut Corpus) {
    let options = trusted();
    let (log, l0) = honest();
    let size = log.envelopes.len() as u64;
    let class = "edge";
    // Encodings a JSON parser accepts and the canonical form does not.
    let key = l0[1].clone();
    let key_value: Value = serde_json::from_str(&key).unwrap();
    let key_text = key_value["key"].as_str().unwrap().to_owned();
    for (name, text) in [
        (
            "duplicate-member",
            format!("{{\"key\":\"{key_text}\",\"key\":\"{key_text}\",\"type\":\"key\"}}"),
        ),
        (
            "escaped-letter",
            key.replacen("\"type\":\"key\"", "\"type\":\"k\\u0065y\"", 1),
        ),
        ("escaped-slash", key.replacen('/', "\\/", 1)),
        ("bom", format!("\u{feff}{key}")),
    ] {
        corpus.bundle(class, name, &replaced(&l0, 1, text), &options);
    }
    for (name, number) in [
        ("too-large", "9007199254740993"),
        ("max", "9007199254740991"),
        ("negative-zero", "-0"),
        ("exponent", "1e0"),
        ("leading-zero", "01"),
    ] {
        let text = l0[5].replacen(
            "\"schema_version\":1",
            &format!("\"schema_version\":{number}"),
            1,
        );
        corpus.bundle(
            class,
            &format!("number-{name}"),
            &replaced(&l0, 5, text),
            &options,
        );
    }
    for (name, escape) in [
        ("lone-surrogate", "\\ud800"),
        ("control-raw", "\u{1}"),
        ("control-escaped", "\\u0001"),
        ("control-uppercase-hex", "\\u001F"),
        ("delete", "\u{7f}"),
        ("non-ascii", "é"),
    ] {
        let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
        header["generator"] = json!("placeholder");
        let text = canonical(&header).replacen("placeholder", escape, 1);
        corpus.bundle(
            class,
            &format!("string-{name}"),
            &replaced(&l0, 0, text),
            &options,
        );
    }
    // Lines out of their form.
    corpus.bundle(
        class,
        "key-twice",
        &{
            let mut l = l0.clone();
            l.insert(2, key.clone());
            resealed(l)
        },
        &options,
    );
    let other_key = stranger().verifier().to_string();
    let (name, rest) = other_key.split_once('+').unwrap();
    let (_, key64) = rest.split_once('+').unwrap();
    corpus.bundle(
        class,
        "key-id-mismatch",
        &replaced(
            &l0,
            1,
            canonical(&json!({"key": format!("{name}+00000000+{key64}"), "type": "key"})),
        ),
        &VerifyOptions::default(),
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["filter"]["subjects"] = json!({"client": ["b", "a"]});
    corpus.bundle(
        class,
        "filter-unsorted",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    header["filter"]["subjects"] = json!({"client": []});
    corpus.bundle(
        class,
        "filter-empty-list",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    header["filter"]["subjects"] = json!({"Client": ["a"]});
    corpus.bundle(
        class,
        "filter-kind-uppercase",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["filter"]["from"] = json!("2025-01-05T00:00:00Z");
    corpus.bundle(
        class,
        "filter-from-short",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["scan"] = json!({"end": 5, "start": 6});
    corpus.bundle(
        class,
        "scan-reversed",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["tenant_id"] = json!("");
    corpus.bundle(
        class,
        "tenant-empty",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["version"] = json!("1");
    corpus.bundle(
        class,
        "version-text",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header.as_object_mut().unwrap().remove("generator");
    corpus.bundle(
        class,
        "header-member-missing",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["exported_at"] = json!("2025-03-01T12:00:00Z");
    corpus.bundle(
        class,
        "exported-at-short",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    corpus.bundle(
        class,
        "blank-line",
        &{
            let mut l = l0.clone();
            l.insert(4, String::new());
            resealed(l)
        },
        &options,
    );
    corpus.bundle(class, "header-only", &join(&l0[..1]), &options);
    corpus.bundle(
        class,
        "no-key",
        &{
            let mut l = l0.clone();
            l.remove(1);
            resealed(l)
        },
        &options,
    );

    // Envelopes.
    let mut envelope: Value = serde_json::to_value(&log.envelopes[7]).unwrap();
    envelope["zz"] = json!(1);
    let bytes = confide_audit::canonical::to_canonical_vec(&envelope).unwrap();
    let extra = format!(
        "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
        String::from_utf8(bytes.clone()).unwrap(),
        hex::encode(merkle::leaf_hash(&bytes))
    );
    corpus.bundle(
        class,
        "envelope-extra-member",
        &replaced(&l0, 10, extra),
        &options,
    );
    for (name, member, value) in [
        ("stream-version-zero", "stream_version", json!(0)),
        (
            "schema-version-large",
            "schema_version",
            json!(4_294_967_296_u64),
        ),
        ("sequence-negative", "sequence", json!(-1)),
        ("event-id-number", "event_id", json!(7)),
        (
            "recorded-at-short",
            "recorded_at",
            json!("2025-01-05T00:00:08Z"),
        ),
    ] {
        let mut value_envelope: Value = serde_json::to_value(&log.envelopes[7]).unwrap();
        value_envelope[member] = value;
        let bytes = confide_audit::canonical::to_canonical_vec(&value_envelope).unwrap();
        let line = format!(
            "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
            String::from_utf8(bytes.clone()).unwrap(),
            hex::encode(merkle::leaf_hash(&bytes))
        );
        corpus.bundle(
            class,
            &format!("envelope-{name}"),
            &replaced(&l0, 10, line),
            &options,
        );
    }
    // A time filter and an envelope whose time is not of the fixed form.
    let log30 = self::log(30);
    let signer = operator();
    let mut envelopes = log30.envelopes.clone();
    envelopes[60].recorded_at = "2025-01-05T00:01:15Z".to_owned();
    let tree = Tree::new(&envelopes);
    let mut export = Export::everything(&envelopes, &tree, &signer);
    export.filter = Filter::everything();
    let mut l = lines(&export.write());
    let mut header: Value = serde_json::from_str(&l[0]).unwrap();
    header["filter"]["from"] = json!(support::timestamp(0));
    l[0] = canonical(&header);
    corpus.bundle(class, "time-filter-odd-time", &resealed(l), &options);

    // Skip lines.
    let log20 = self::log(20);
    let mut export = Export::everything(&log20.envelopes, &log20.tree, &signer);
    export.filter = with_client(Filter::everything(), 4);
    let filtered = lines(&export.write());
    let skip = filtered
        .iter()
        .position(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let value: Value = serde_json::from_str(&filtered[skip]).unwrap();
    let start = value["start"].as_u64().unwrap();
    corpus.bundle(
        class,
        "skip-empty",
        &{
            let mut l = filtered.clone();
            l.insert(
                skip,
                canonical(&json!({"end": start, "hashes": [], "start": start, "type": "skip"})),
            );
            resealed(l)
        },
        &options,
    );
    corpus.bundle(
        class,
        "skip-uppercase",
        &replaced(
            &filtered,
            skip,
            filtered[skip]
                .to_uppercase()
                .replace("\"END\"", "\"end\"")
                .replace("\"HASHES\"", "\"hashes\"")
                .replace("\"START\"", "\"start\"")
                .replace("\"TYPE\":\"SKIP\"", "\"type\":\"skip\""),
        ),
        &options,
    );
    let last = filtered.len() - 2;
    let tail: Value = serde_json::from_str(&filtered[last]).unwrap();
    if tail["type"] == "skip" {
        let (start, end) = (
            tail["start"].as_u64().unwrap(),
            tail["end"].as_u64().unwrap(),
        );
        let hashes: Vec<String> = log20.tree.run(start, end).iter().map(hex::encode).collect();
        let mut more = hashes.clone();
        more.push(hashes[0].clone());
        corpus.bundle(
            class,
            "skip-beyond-tree",
            &replaced(
                &filtered,
                last,
                canonical(&json!({"end": end + 1, "hashes": more, "start": start, "type": "skip"})),
            ),
            &options,
        );
    }

    // Notes.
    let root = log.tree.root(size);
    let body = Checkpoint {
        origin: support::origin(),
        size,
        root,
        extensions: vec!["confide-extension value".to_owned()],
    }
    .to_body();
    let with_extension = operator().sign(&body);
    corpus.bundle(
        class,
        "checkpoint-extension",
        &replaced(
            &l0,
            2,
            canonical(&json!({"note": with_extension, "type": "checkpoint"})),
        ),
        &options,
    );
    let plain = checkpoint_note(&operator(), size, root);
    let by_stranger = checkpoint_note(&stranger(), size, root);
    let stranger_line = &by_stranger[by_stranger.rfind("\u{2014}").unwrap()..];
    let cosigned = format!("{plain}{stranger_line}");
    corpus.bundle(
        class,
        "checkpoint-cosigned",
        &replaced(
            &l0,
            2,
            canonical(&json!({"note": cosigned, "type": "checkpoint"})),
        ),
        &options,
    );
    let operator_line = plain[plain.rfind("\u{2014}").unwrap()..].to_owned();
    let at = operator_line.len() - 10;
    let mut broken = operator_line.clone();
    broken.replace_range(
        at..at + 1,
        if &operator_line[at..=at] == "A" {
            "B"
        } else {
            "A"
        },
    );
    let twice = format!("{plain}{broken}");
    corpus.bundle(
        class,
        "checkpoint-second-signature-bad",
        &replaced(
            &l0,
            2,
            canonical(&json!({"note": twice, "type": "checkpoint"})),
        ),
        &options,
    );
    for (name, note) in [
        (
            "no-signature",
            plain[..plain.find("\n\n").unwrap() + 2].to_owned(),
        ),
        ("extra-newline", format!("{plain}\n")),
        ("carriage-return", plain.replacen('\n', "\r\n", 1)),
        ("hyphen-not-dash", plain.replacen('\u{2014}', "-", 1)),
        (
            "size-leading-zero",
            plain.replacen(&format!("\n{size}\n"), &format!("\n0{size}\n"), 1),
        ),
    ] {
        corpus.bundle(
            class,
            &format!("note-{name}"),
            &replaced(
                &l0,
                2,
                canonical(&json!({"note": note, "type": "checkpoint"})),
            ),
            &options,
        );
    }
    // Consistency lines and previous checkpoints of other logs or sizes.
    let old = 100;
    let old_note = checkpoint_note(&signer, old, log.tree.root(old));
    let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
    export.previous = Some((old_note.clone(), log.tree.consistency(old, size)));
    let with_proof = export.write();
    let foreign_old = operator().sign(
        &Checkpoint {
            origin: "confide.example/another-tenant".to_owned(),
            size: old,
            root: log.tree.root(old),
            extensions: vec![],
        }
        .to_body(),
    );
    corpus.bundle(
        class,
        "previous-of-another-log",
        &with_proof,
        &with_previous(foreign_old.clone()),
    );
    let proof: Vec<String> = log
        .tree
        .consistency(old, size)
        .iter()
        .map(hex::encode)
        .collect();
    let mut l = lines(&with_proof);
    l[3] = canonical(&json!({"note": foreign_old, "proof": proof, "type": "consistency"}));
    corpus.bundle(class, "consistency-of-another-log", &resealed(l), &options);
    let other_old = checkpoint_note(&signer, 90, log.tree.root(90));
    corpus.bundle(
        class,
        "previous-other-size",
        &with_proof,
        &with_previous(other_old),
    );
    let zero = checkpoint_note(&signer, 0, log.tree.root(0));
    let mut l = lines(&Export::everything(&log.envelopes, &log.tree, &signer).write());
    l.insert(
        3,
        canonical(&json!({"note": zero, "proof": [], "type": "consistency"})),
    );
    corpus.bundle(class, "consistency-from-empty", &resealed(l), &options);
    let same = checkpoint_note(&signer, size, root);
    let mut l = lines(&Export::everything(&log.envelopes, &log.tree, &signer).write());
    l.insert(
        3,
        canonical(&json!({"note": same, "proof": [], "type": "consistency"})),
    );
    corpus.bundle(class, "consistency-same-size", &resealed(l), &options);
    let mut l = lines(&with_proof);
    l.insert(4, l[3].clone());
    corpus.bundle(class, "consistency-twice", &resealed(l), &options);
}
