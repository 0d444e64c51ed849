//! Bundles: untampered ones of several sizes and filters, and every tampering class.

#[allow(unused_imports)]
use super::*;

pub(crate) fn trusted() -> VerifyOptions {
    VerifyOptions {
        trusted_keys: vec![operator().verifier()],
        previous: None,
    }
}

pub(crate) fn with_previous(note: String) -> VerifyOptions {
    VerifyOptions {
        previous: Some(note),
        ..trusted()
    }
}

pub(crate) struct Log {
    pub(crate) envelopes: Vec<Envelope>,
    pub(crate) tree: Tree,
}

pub(crate) fn log(clients: usize) -> Log {
    let envelopes = support::synthetic_log(clients);
    let tree = Tree::new(&envelopes);
    Log { envelopes, tree }
}

pub(crate) fn with_client(filter: Filter, n: usize) -> Filter {
    filter
        .with_subject("client", support::client_id(n))
        .with_subject("consent", support::consent_id(n))
        .with_subject("recording", support::recording_id(n))
        .with_subject("grant", support::grant_id(n))
}

pub(crate) fn line_with(lines: &[String], needle: &str) -> usize {
    lines.iter().position(|line| line.contains(needle)).unwrap()
}

pub(crate) fn event_lines(lines: &[String]) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| lines[i].ends_with("\"type\":\"event\"}"))
        .collect()
}

pub(crate) fn untampered(corpus: &mut Corpus) {
    let class = "valid";
    let signer = operator();
    for clients in [0, 1, 3, 20, 40] {
        let log = log(clients);
        let bundle = Export::everything(&log.envelopes, &log.tree, &signer).write();
        corpus.bundle(
            class,
            &format!("complete-{clients}-clients"),
            &bundle,
            &trusted(),
        );
    }
    // Small trees of every shape: sizes 1 to 9 and a power of two.
    let log20 = log(20);
    for size in [1usize, 2, 3, 4, 5, 7, 8, 9, 64] {
        let envelopes = &log20.envelopes[..size];
        let tree = Tree::new(envelopes);
        let bundle = Export::everything(envelopes, &tree, &signer).write();
        corpus.bundle(class, &format!("size-{size}"), &bundle, &trusted());
    }
    // The bundle's own keys only.
    let log10 = self::log(10);
    let bundle = Export::everything(&log10.envelopes, &log10.tree, &signer).write();
    corpus.bundle(class, "own-keys", &bundle, &VerifyOptions::default());
    // Filtered by client, scanning part of the log.
    let log30 = log(30);
    let size = log30.envelopes.len() as u64;
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = with_client(Filter::everything(), 6);
    export.scan = 10..size - 5;
    corpus.bundle(class, "client-filter", &export.write(), &trusted());
    // Two clients, the whole log.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = with_client(with_client(Filter::everything(), 3), 17);
    corpus.bundle(class, "two-clients", &export.write(), &trusted());
    // A time window.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = Filter::everything().recorded_between(
        Some(support::timestamp(50_000)),
        Some(support::timestamp(100_000)),
    );
    corpus.bundle(class, "time-window", &export.write(), &trusted());
    // A time window and a client.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter =
        with_client(Filter::everything(), 2).recorded_between(Some(support::timestamp(0)), None);
    corpus.bundle(class, "client-from", &export.write(), &trusted());
    // With a consistency line, checked alone and against the auditor's previous checkpoint.
    let size = log20.envelopes.len() as u64;
    let old_note = checkpoint_note(&signer, 100, log20.tree.root(100));
    let mut export = Export::everything(&log20.envelopes, &log20.tree, &signer);
    export.previous = Some((old_note.clone(), log20.tree.consistency(100, size)));
    let bundle = export.write();
    corpus.bundle(class, "consistency", &bundle, &trusted());
    corpus.bundle(
        class,
        "consistency-previous",
        &bundle,
        &with_previous(old_note),
    );
    // The previous checkpoint is the bundle's own.
    let same = checkpoint_note(&signer, size, log20.tree.root(size));
    let bundle = Export::everything(&log20.envelopes, &log20.tree, &signer).write();
    corpus.bundle(class, "previous-same-size", &bundle, &with_previous(same));
    // The fuzzer's bundle.
    corpus.bundle(class, "fuzz-base", fuzz_bundle(), &trusted());
}

pub(crate) fn honest() -> (Log, Vec<String>) {
    let log = log(20);
    let bundle = Export::everything(&log.envelopes, &log.tree, &operator()).write();
    (log, lines(&bundle))
}

pub(crate) fn resealed(mut lines: Vec<String>) -> Vec<u8> {
    reseal(&mut lines);
    join(&lines)
}

pub(crate) fn tampered(corpus: &mut Corpus) {
    let options = trusted();

    // PayloadAltered.
    let (_, mut l) = honest();
    let index = line_with(&l, "\"type\":\"PlaybackStarted\"");
    l[index] = l[index].replacen("\"user_id\":\"ada\"", "\"user_id\":\"adb\"", 1);
    corpus.bundle("PayloadAltered", "payload-edited", &join(&l), &options);
    // The leaf in uppercase hex.
    let (_, mut l) = honest();
    let at = l[5].rfind("\"leaf\":\"").unwrap() + 8;
    let upper = l[5][at..at + 64].to_uppercase();
    l[5].replace_range(at..at + 64, &upper);
    corpus.bundle("Malformed", "leaf-uppercase", &resealed(l), &options);

    // BadInclusionProof: an edit with a recomputed leaf and digest.
    let (_, mut l) = honest();
    let index = line_with(&l, "\"type\":\"ConsentWithdrawn\"");
    let edited = l[index].replacen(
        "\"deletion_requested\":true",
        "\"deletion_requested\":false",
        1,
    );
    let envelope_end = edited.rfind(",\"leaf\":").unwrap();
    let envelope = &edited["{\"envelope\":".len()..envelope_end];
    let leaf = hex::encode(merkle::leaf_hash(envelope.as_bytes()));
    l[index] = format!("{{\"envelope\":{envelope},\"leaf\":\"{leaf}\",\"type\":\"event\"}}");
    corpus.bundle("BadInclusionProof", "releafed", &resealed(l), &options);

    // EventDropped.
    let (_, mut l) = honest();
    let events = event_lines(&l);
    l.remove(events[100]);
    corpus.bundle("EventDropped", "dropped-middle", &resealed(l), &options);
    let (_, mut l) = honest();
    let last = *event_lines(&l).last().unwrap();
    l.remove(last);
    corpus.bundle("EventDropped", "dropped-last", &resealed(l), &options);
    let (_, mut l) = honest();
    l.remove(3);
    corpus.bundle("EventDropped", "dropped-first", &resealed(l), &options);

    // EventsOutOfOrder.
    let (_, mut l) = honest();
    l.swap(events[50], events[51]);
    corpus.bundle(
        "EventsOutOfOrder",
        "swapped-adjacent",
        &resealed(l),
        &options,
    );
    let (_, mut l) = honest();
    l.swap(events[10], events[90]);
    corpus.bundle("EventsOutOfOrder", "swapped-far", &resealed(l), &options);

    // EventInserted.
    let (log, l0) = honest();
    let index = line_with(&l0, "\"type\":\"PlaybackRefused\"");
    let forged = l0[index].replacen("icf-assessor", "icf-assessor-2", 1);
    let envelope_end = forged.rfind(",\"leaf\":").unwrap();
    let envelope = &forged["{\"envelope\":".len()..envelope_end];
    let leaf = hex::encode(merkle::leaf_hash(envelope.as_bytes()));
    let forged = format!("{{\"envelope\":{envelope},\"leaf\":\"{leaf}\",\"type\":\"event\"}}");
    let mut l = l0.clone();
    l.insert(index + 1, forged.clone());
    corpus.bundle("EventInserted", "forged-after", &resealed(l), &options);
    let mut l = l0.clone();
    l.insert(index, forged);
    corpus.bundle("EventInserted", "forged-before", &resealed(l), &options);
    let size = log.envelopes.len() as u64;
    let mut extra = log.envelopes[5].clone();
    extra.sequence = size;
    let mut l = l0.clone();
    let end = l.len() - 1;
    l.insert(end, event_line(&extra));
    corpus.bundle("EventInserted", "beyond-tree", &resealed(l), &options);
    let mut l = l0.clone();
    let copy = l[events[200]].clone();
    l.insert(events[20], copy);
    corpus.bundle("EventInserted", "early-copy", &resealed(l), &options);
    let mut l = l0.clone();
    let copy = l[events[30]].clone();
    l.insert(events[30], copy);
    corpus.bundle("EventInserted", "duplicated", &resealed(l), &options);

    // Truncated.
    let bundle = join(&l0);
    corpus.bundle(
        "Truncated",
        "without-end",
        &join(&l0[..l0.len() - 1]),
        &options,
    );
    for (name, cut) in [
        ("half", bundle.len() / 2),
        ("last-newline", bundle.len() - 1),
        ("one-byte", 1),
        ("empty", 0),
    ] {
        corpus.bundle(
            "Truncated",
            &format!("cut-{name}"),
            &bundle[..cut],
            &options,
        );
    }

    // UnknownSigner.
    let log10 = self::log(10);
    let impostor = stranger();
    let bundle = Export::everything(&log10.envelopes, &log10.tree, &impostor).write();
    corpus.bundle(
        "valid",
        "impostor-own-keys",
        &bundle,
        &VerifyOptions::default(),
    );
    corpus.bundle("UnknownSigner", "impostor", &bundle, &options);
    let mut export = Export::everything(&log10.envelopes, &log10.tree, &impostor);
    export.keys = vec![operator().verifier(), impostor.verifier()];
    corpus.bundle(
        "UnknownSigner",
        "impostor-lists-operator",
        &export.write(),
        &options,
    );

    // BadCheckpointSignature.
    let mut l = l0.clone();
    l[2] = l[2].replacen(&format!("\\n{size}\\n"), &format!("\\n{}\\n", size - 1), 1);
    corpus.bundle(
        "BadCheckpointSignature",
        "checkpoint-edited",
        &join(&l),
        &options,
    );
    let mut l = l0.clone();
    l[2] = l[2].replacen(&format!("\\n{size}\\n"), &format!("\\n{}\\n", size - 1), 1);
    corpus.bundle(
        "BadCheckpointSignature",
        "checkpoint-edited-own-keys",
        &resealed(l),
        &VerifyOptions::default(),
    );

    // OriginMismatch: the checkpoint names another tenant's log.
    let root = log.tree.root(size);
    let other = operator().sign(
        &Checkpoint {
            origin: "confide.example/another-tenant".to_owned(),
            size,
            root,
            extensions: vec![],
        }
        .to_body(),
    );
    let mut l = l0.clone();
    l[2] = canonical(&json!({"note": other, "type": "checkpoint"}));
    corpus.bundle(
        "OriginMismatch",
        "checkpoint-of-another-tenant",
        &resealed(l),
        &options,
    );
    let bare = operator().sign(
        &Checkpoint {
            origin: support::TENANT.to_owned(),
            size,
            root,
            extensions: vec![],
        }
        .to_body(),
    );
    let mut l = l0.clone();
    l[2] = canonical(&json!({"note": bare, "type": "checkpoint"}));
    corpus.bundle(
        "OriginMismatch",
        "origin-without-prefix",
        &resealed(l),
        &options,
    );

    // CheckpointRollback.
    let signer = operator();
    let old_size = size - 40;
    let seen_last_time = checkpoint_note(&signer, size, log.tree.root(size));
    let mut stale = Export::everything(&log.envelopes[..old_size as usize], &log.tree, &signer);
    stale.size = old_size;
    let stale = stale.write();
    corpus.bundle(
        "CheckpointRollback",
        "previous-newer",
        &stale,
        &with_previous(seen_last_time.clone()),
    );
    let mut l = lines(&stale);
    l.insert(
        3,
        canonical(&json!({"note": seen_last_time, "proof": [], "type": "consistency"})),
    );
    corpus.bundle(
        "CheckpointRollback",
        "consistency-newer",
        &resealed(l),
        &options,
    );

    // InconsistentTrees, ConsistencyProofMissing.
    let old = 100;
    let old_note = checkpoint_note(&signer, old, log.tree.root(old));
    let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
    export.previous = Some((old_note, log.tree.consistency(old, size)));
    let with_proof = export.write();
    let mut other = log.envelopes[..old as usize].to_vec();
    other[42].payload["at"] = json!("2025-01-06T11:11:11Z");
    let forked = checkpoint_note(&signer, old, Tree::new(&other).root(old));
    corpus.bundle(
        "InconsistentTrees",
        "previous-forked",
        &with_proof,
        &with_previous(forked.clone()),
    );
    let proof: Vec<String> = log
        .tree
        .consistency(old, size)
        .iter()
        .map(hex::encode)
        .collect();
    let mut l = lines(&with_proof);
    l[3] = canonical(&json!({"note": forked, "proof": proof, "type": "consistency"}));
    corpus.bundle(
        "InconsistentTrees",
        "consistency-forked",
        &resealed(l),
        &options,
    );
    let mut l = lines(&with_proof);
    let at = l[3].find("\"proof\":[\"").unwrap() + 10;
    let flipped = if &l[3][at..=at] == "0" { "1" } else { "0" };
    l[3].replace_range(at..=at, flipped);
    corpus.bundle(
        "InconsistentTrees",
        "consistency-proof-edited",
        &resealed(l),
        &options,
    );
    let mut small = Export::everything(&log.envelopes[..old as usize], &log.tree, &signer);
    small.size = old;
    corpus.bundle(
        "InconsistentTrees",
        "previous-same-size-forked",
        &small.write(),
        &with_previous(forked),
    );
    let unproven = checkpoint_note(&signer, 50, log.tree.root(50));
    corpus.bundle(
        "ConsistencyProofMissing",
        "previous-without-proof",
        &with_proof,
        &with_previous(unproven),
    );
    let by_stranger = checkpoint_note(&stranger(), old, log.tree.root(old));
    corpus.bundle(
        "UnknownSigner",
        "previous-by-stranger",
        &with_proof,
        &with_previous(by_stranger),
    );

    // NotCanonical, Malformed, DigestMismatch, CountMismatch, TrailingData.
    let mut l = l0.clone();
    l[5] = l[5].replacen("{\"envelope\":{", "{\"envelope\": {", 1);
    corpus.bundle("NotCanonical", "space", &join(&l), &options);
    let mut l = l0.clone();
    l[5] = l[5].replacen("\"schema_version\":1", "\"schema_version\":1.0", 1);
    corpus.bundle("NotCanonical", "fraction", &join(&l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen(
        "{\"exported_at\"",
        "{\"type\":\"header\",\"exported_at\"",
        1,
    );
    l[0] = l[0].replacen(",\"type\":\"header\"}", "}", 1);
    corpus.bundle("NotCanonical", "unsorted-members", &resealed(l), &options);
    let mut l = l0.clone();
    l[5].truncate(40);
    corpus.bundle("Malformed", "not-json", &join(&l), &options);
    let mut l = l0.clone();
    l[1] = l[1].replacen("\"type\":\"key\"", "\"type\":\"key\",\"x\":1", 1);
    corpus.bundle("Malformed", "unknown-member", &resealed(l), &options);
    let mut l = l0.clone();
    l.swap(0, 1);
    corpus.bundle("Malformed", "key-before-header", &resealed(l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen("\"scan\":{\"end\":", "\"scan\":{\"end\":1", 1);
    corpus.bundle("Malformed", "scan-beyond-tree", &resealed(l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen("confide-audit tests", "confide-audit tests!", 1);
    corpus.bundle("DigestMismatch", "header-edited", &join(&l), &options);
    let mut l = l0.clone();
    let last = l.len() - 1;
    l[last] = l[last].replacen("\"events\":", "\"events\":1", 1);
    corpus.bundle("CountMismatch", "events", &join(&l), &options);
    let mut l = l0.clone();
    l[last] = l[last].replacen("\"lines\":", "\"lines\":1", 1);
    corpus.bundle("CountMismatch", "lines", &join(&l), &options);
    let mut l = l0.clone();
    l.push(l[last].clone());
    corpus.bundle("TrailingData", "end-twice", &join(&l), &options);
    let mut bytes = join(&l0);
    bytes.extend_from_slice(b"x");
    corpus.bundle("TrailingData", "byte-after-end", &bytes, &options);
    let mut bytes = join(&l0);
    let crlf = bytes.iter().position(|&b| b == b'\n').unwrap();
    bytes.insert(crlf, b'\r');
    corpus.bundle("NotCanonical", "carriage-return", &bytes, &options);
    let mut bytes = join(&l0);
    let at = bytes.windows(3).position(|w| w == b"ada").unwrap();
    bytes[at] = 0xff;
    corpus.bundle("Malformed", "not-utf8", &bytes, &options);

    // WrongTenant.
    let mut foreign = log.envelopes[30].clone();
    foreign.tenant_id = "another-tenant".to_owned();
    let mut l = l0.clone();
    l[33] = event_line(&foreign);
    corpus.bundle("WrongTenant", "foreign-event", &resealed(l), &options);

    // UnsupportedVersion.
    let mut l = l0.clone();
    l[0] = l[0].replacen("\"version\":1", "\"version\":2", 1);
    corpus.bundle("UnsupportedVersion", "version-2", &join(&l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen("confide-audit-bundle", "confide-audit-bundlf", 1);
    corpus.bundle("UnsupportedVersion", "format", &join(&l), &options);

    // Filters: FilterMismatch, FilterNotClosed, OutsideScan, a hidden run's hash.
    let log20 = self::log(20);
    let mut export = Export::everything(&log20.envelopes, &log20.tree, &signer);
    export.filter = with_client(Filter::everything(), 4);
    let filtered = export.write();
    let mut l = lines(&filtered);
    let skip = l
        .iter()
        .rposition(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let value: Value = serde_json::from_str(&l[skip]).unwrap();
    let (start, end) = (
        value["start"].as_u64().unwrap() as usize,
        value["end"].as_u64().unwrap() as usize,
    );
    let disclosed: Vec<String> = log20.envelopes[start..end].iter().map(event_line).collect();
    l.splice(skip..=skip, disclosed);
    corpus.bundle(
        "FilterMismatch",
        "hidden-run-disclosed",
        &resealed(l),
        &options,
    );
    let mut l = lines(&filtered);
    let mut header: Value = serde_json::from_str(&l[0]).unwrap();
    header["filter"]["subjects"]
        .as_object_mut()
        .unwrap()
        .remove("grant");
    l[0] = canonical(&header);
    corpus.bundle(
        "FilterNotClosed",
        "grant-not-listed",
        &resealed(l),
        &options,
    );
    let mut l = lines(&filtered);
    let at = l[skip].find("\"hashes\":[\"").unwrap() + 11;
    let flipped = if &l[skip][at..=at] == "0" { "1" } else { "0" };
    l[skip].replace_range(at..=at, flipped);
    corpus.bundle(
        "BadInclusionProof",
        "hidden-run-hash",
        &resealed(l),
        &options,
    );
    let mut l = lines(&filtered);
    let first_skip = l
        .iter()
        .position(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let removed = l.remove(first_skip);
    let value: Value = serde_json::from_str(&removed).unwrap();
    let (start, end) = (
        value["start"].as_u64().unwrap(),
        value["end"].as_u64().unwrap(),
    );
    let hashes = log20.tree.run(start, end - 1);
    let hashes: Vec<String> = hashes.iter().map(hex::encode).collect();
    l.insert(
        first_skip,
        canonical(&json!({"end": end - 1, "hashes": hashes, "start": start, "type": "skip"})),
    );
    corpus.bundle("EventDropped", "hidden-run-short", &resealed(l), &options);
    let mut l = lines(&filtered);
    l[first_skip] = l[first_skip].replacen("\"hashes\":[", "\"hashes\":[\"00\",", 1);
    corpus.bundle("Malformed", "hidden-run-extra-hash", &resealed(l), &options);
    // Disclosing events before the scanned range.
    let log30 = self::log(30);
    let size30 = log30.envelopes.len() as u64;
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = with_client(Filter::everything(), 6);
    export.scan = 10..size30 - 5;
    let mut l = lines(&export.write());
    let first_skip = l
        .iter()
        .position(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let disclosed: Vec<String> = log30.envelopes[..10].iter().map(event_line).collect();
    l.splice(first_skip..=first_skip, disclosed);
    corpus.bundle("OutsideScan", "before-scan", &resealed(l), &options);
    // A time filter an event is outside of.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = Filter::everything().recorded_between(
        Some(support::timestamp(50_000)),
        Some(support::timestamp(100_000)),
    );
    let mut l = lines(&export.write());
    let mut header: Value = serde_json::from_str(&l[0]).unwrap();
    header["filter"]["until"] = json!(support::timestamp(90_000));
    l[0] = canonical(&header);
    corpus.bundle("FilterMismatch", "window-narrowed", &resealed(l), &options);
}
