//! One conformance suite, run against every backend.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use confide_audit::checkpoint::{Checkpoint, NoteSigner};
use confide_audit::merkle;
use confide_eventstore::checkpoint::{CheckpointSigner, sign_checkpoint};
use confide_eventstore::{
    AppendRequest, ExpectedVersion, GlobalPosition, NewEvent, StoreError, Subscription, Upcasters,
    proof,
};
use confide_test_support::{Store, append_n, at, both_backends, event, stream, tenant};
use serde_json::json;

both_backends!(
    |store| case(Arc::new(store));
    appends_and_reads_back_exactly_what_was_hashed,
    expected_versions_are_enforced_and_conflicts_write_nothing,
    several_streams_are_written_atomically,
    an_append_can_be_conditioned_on_a_stream_it_does_not_write,
    appends_are_idempotent_on_event_id,
    sequences_are_contiguous_per_tenant,
    tenants_never_see_each_other,
    proofs_verify_and_fail_when_anything_changes,
    checkpoints_are_signed_kept_and_consistent,
    the_global_reader_sees_every_event_once_and_positions_persist,
    a_subscription_catches_up_then_follows_live_appends,
    malformed_events_are_refused_and_nothing_is_written,
);

async fn appends_and_reads_back_exactly_what_was_hashed(store: Store) {
    let t = tenant("brookes-counselling");
    let result = store
        .append(
            &t,
            AppendRequest::to_stream(
                stream("consent-1"),
                ExpectedVersion::NoStream,
                vec![event("ConsentRequested", 0), event("ConsentGiven", 1)],
                at(0),
            ),
        )
        .await
        .unwrap();
    assert_eq!((result.first_sequence, result.last_sequence), (0, 1));
    assert_eq!(result.stream_versions, vec![(stream("consent-1"), 2)]);

    let events = store
        .read_stream(&t, &stream("consent-1"), 1, 100)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].event_type, "ConsentGiven");
    assert_eq!(events[1].payload, json!({ "n": 1, "note": "séance ✓" }));
    assert_eq!(events[1].stream_version, 2);
    assert_eq!(events[1].sequence, 1);
    // Time survives the round trip to the microsecond, so the hash can be recomputed.
    assert_eq!(events[0].recorded_at.timestamp_subsec_nanos(), 123_456_000);
    for e in &events {
        assert_eq!(e.envelope().leaf_hash().unwrap(), e.leaf_hash);
    }
    let from_two = store
        .read_stream(&t, &stream("consent-1"), 2, 100)
        .await
        .unwrap();
    assert_eq!(from_two.len(), 1);

    let head = store.tree_head(&t).await.unwrap().unwrap();
    assert_eq!(head.size, 2);
    let leaves: Vec<merkle::Hash> = events.iter().map(|e| e.leaf_hash).collect();
    assert_eq!(head.root, merkle::node_hash(&leaves[0], &leaves[1]));
    assert_eq!(store.read_tenant(&t, 0, 10).await.unwrap(), events);
}

async fn expected_versions_are_enforced_and_conflicts_write_nothing(store: Store) {
    let t = tenant("coaching-co");
    let s = stream("recording-7");
    let write = |expected, n| {
        AppendRequest::to_stream(s.clone(), expected, vec![event("Noted", n)], at(n as i64))
    };
    let conflict = store
        .append(&t, write(ExpectedVersion::StreamExists, 0))
        .await;
    assert!(matches!(
        conflict,
        Err(StoreError::Conflict {
            expected: ExpectedVersion::StreamExists,
            actual: 0,
            ..
        })
    ));
    store
        .append(&t, write(ExpectedVersion::NoStream, 1))
        .await
        .unwrap();
    store
        .append(&t, write(ExpectedVersion::Exact(1), 2))
        .await
        .unwrap();
    store
        .append(&t, write(ExpectedVersion::StreamExists, 3))
        .await
        .unwrap();
    store
        .append(&t, write(ExpectedVersion::Any, 4))
        .await
        .unwrap();
    let head_before = store.tree_head(&t).await.unwrap();

    match store.append(&t, write(ExpectedVersion::Exact(2), 5)).await {
        Err(StoreError::Conflict {
            stream,
            expected,
            actual,
        }) => {
            assert_eq!(stream, s);
            assert_eq!(expected, ExpectedVersion::Exact(2));
            assert_eq!(actual, 4);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        store.append(&t, write(ExpectedVersion::NoStream, 6)).await,
        Err(StoreError::Conflict { actual: 4, .. })
    ));
    assert_eq!(store.tree_head(&t).await.unwrap(), head_before);
    assert_eq!(store.read_stream(&t, &s, 1, 100).await.unwrap().len(), 4);
}

async fn several_streams_are_written_atomically(store: Store) {
    let t = tenant("oxford-clinic");
    let both = AppendRequest::new(at(0))
        .write(
            stream("consent-1"),
            ExpectedVersion::NoStream,
            vec![event("ConsentGiven", 0)],
        )
        .write(
            stream("recording-1"),
            ExpectedVersion::NoStream,
            vec![event("RecordingCreated", 1), event("RecordingStored", 2)],
        );
    let result = store.append(&t, both).await.unwrap();
    assert_eq!(
        result.stream_versions,
        vec![(stream("consent-1"), 1), (stream("recording-1"), 2)]
    );
    // The second stream's expectation fails, so the first stream is not written either.
    let half = AppendRequest::new(at(1))
        .write(
            stream("consent-1"),
            ExpectedVersion::Exact(1),
            vec![event("ConsentWithdrawn", 3)],
        )
        .write(
            stream("recording-1"),
            ExpectedVersion::Exact(1),
            vec![event("Noted", 4)],
        );
    assert!(matches!(
        store.append(&t, half).await,
        Err(StoreError::Conflict { actual: 2, .. })
    ));
    assert_eq!(
        store
            .read_stream(&t, &stream("consent-1"), 1, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.tree_head(&t).await.unwrap().unwrap().size, 3);
}

async fn an_append_can_be_conditioned_on_a_stream_it_does_not_write(store: Store) {
    let t = tenant("icf-mentoring");
    store
        .append(
            &t,
            AppendRequest::to_stream(
                stream("consent-9"),
                ExpectedVersion::NoStream,
                vec![event("ConsentGiven", 0)],
                at(0),
            ),
        )
        .await
        .unwrap();
    let grant = |n| {
        AppendRequest::to_stream(
            stream(&format!("grant-{n}")),
            ExpectedVersion::NoStream,
            vec![event("AccessGranted", n)],
            at(n as i64),
        )
        .condition(stream("consent-9"), ExpectedVersion::Exact(1))
    };
    store.append(&t, grant(1)).await.unwrap();
    store
        .append(
            &t,
            AppendRequest::to_stream(
                stream("consent-9"),
                ExpectedVersion::Exact(1),
                vec![event("ConsentWithdrawn", 2)],
                at(2),
            ),
        )
        .await
        .unwrap();
    match store.append(&t, grant(3)).await {
        Err(StoreError::Conflict {
            stream: s, actual, ..
        }) => {
            assert_eq!(s, stream("consent-9"));
            assert_eq!(actual, 2);
        }
        other => panic!("expected the condition to fail, got {other:?}"),
    }
    assert!(
        store
            .read_stream(&t, &stream("grant-3"), 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn appends_are_idempotent_on_event_id(store: Store) {
    let t = tenant("brookes-counselling");
    let request = AppendRequest::new(at(0))
        .write(
            stream("consent-1"),
            ExpectedVersion::NoStream,
            vec![event("ConsentGiven", 0)],
        )
        .write(
            stream("recording-1"),
            ExpectedVersion::NoStream,
            vec![event("RecordingCreated", 1)],
        );
    let first = store.append(&t, request.clone()).await.unwrap();
    store
        .append(
            &t,
            AppendRequest::to_stream(
                stream("other"),
                ExpectedVersion::Any,
                vec![event("Noted", 2)],
                at(1),
            ),
        )
        .await
        .unwrap();
    let again = store.append(&t, request.clone()).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(store.tree_head(&t).await.unwrap().unwrap().size, 3);

    // The same id for different content is refused.
    let mut changed = request.clone();
    changed.writes[0].events[0].payload = json!({ "n": 99 });
    let id = changed.writes[0].events[0].event_id;
    assert!(matches!(
        store.append(&t, changed).await,
        Err(StoreError::DuplicateEvent { event_id }) if event_id == id
    ));
    // A mix of stored and new events is refused and writes nothing.
    let mut mixed = request;
    mixed.writes[1].events.push(event("Noted", 3));
    assert!(matches!(
        store.append(&t, mixed).await,
        Err(StoreError::DuplicateEvent { .. })
    ));
    assert_eq!(store.tree_head(&t).await.unwrap().unwrap().size, 3);
}

async fn sequences_are_contiguous_per_tenant(store: Store) {
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    for i in 0..6 {
        let t = if i % 3 == 0 { &b } else { &a };
        store
            .append(
                t,
                AppendRequest::to_stream(
                    stream("log"),
                    ExpectedVersion::Any,
                    vec![event("Noted", i), event("Noted", i + 100)],
                    at(i as i64),
                ),
            )
            .await
            .unwrap();
        // A refused append between them takes no number.
        let refused = store
            .append(
                t,
                AppendRequest::to_stream(
                    stream("log"),
                    ExpectedVersion::NoStream,
                    vec![event("Noted", 0)],
                    at(0),
                ),
            )
            .await;
        assert!(refused.is_err());
    }
    for (t, n) in [(&a, 8), (&b, 4)] {
        let sequences: Vec<u64> = store
            .read_tenant(t, 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.sequence)
            .collect();
        assert_eq!(sequences, (0..n).collect::<Vec<u64>>());
    }
}

async fn tenants_never_see_each_other(store: Store) {
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    append_n(store.as_ref(), &a, "consent-1", 3).await;
    assert!(
        store
            .read_stream(&b, &stream("consent-1"), 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.read_tenant(&b, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.tree_head(&b).await.unwrap(), None);
    assert!(matches!(
        proof::inclusion_proof(store.as_ref(), &b, 0, 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.checkpoints(&b).await.unwrap().is_empty());
    // The same stream name in another tenant is another stream.
    store
        .append(
            &b,
            AppendRequest::to_stream(
                stream("consent-1"),
                ExpectedVersion::NoStream,
                vec![event("Noted", 0)],
                at(0),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .read_stream(&a, &stream("consent-1"), 1, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.tree_head(&b).await.unwrap().unwrap().size, 1);
    assert!(
        store
            .read_tenant(&b, 0, 10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.tenant_id == b)
    );
}

async fn proofs_verify_and_fail_when_anything_changes(store: Store) {
    let t = tenant("audited");
    // Batches of uneven sizes, so that appends complete subtrees in every way.
    let mut n = 0;
    for batch in [1u64, 2, 5, 1, 8, 3, 17] {
        let events = (0..batch).map(|i| event("Noted", n + i)).collect();
        store
            .append(
                &t,
                AppendRequest::to_stream(stream("log"), ExpectedVersion::Any, events, at(n as i64)),
            )
            .await
            .unwrap();
        n += batch;
    }
    let events = store.read_tenant(&t, 0, 100).await.unwrap();
    assert_eq!(events.len() as u64, n);
    for size in 1..=n {
        let root = proof::root_at(store.as_ref(), &t, size).await.unwrap();
        let leaves: Vec<merkle::Hash> = events[..size as usize]
            .iter()
            .map(|e| e.leaf_hash)
            .collect();
        assert_eq!(root, naive_root(&leaves), "root at {size}");
        for index in (0..size).step_by(3) {
            let p = proof::inclusion_proof(store.as_ref(), &t, index, size)
                .await
                .unwrap();
            let leaf = events[index as usize].envelope().leaf_hash().unwrap();
            merkle::verify_inclusion(&leaf, index, size, &p.path, &root).unwrap();
            if let Some(first) = p.path.first() {
                let mut bad = p.path.clone();
                bad[0][7] ^= 1;
                assert_ne!(&bad[0], first);
                assert!(merkle::verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            }
            let mut edited = events[index as usize].envelope();
            edited.payload = json!({ "n": 1_000_000 });
            let edited_leaf = edited.leaf_hash().unwrap();
            assert!(merkle::verify_inclusion(&edited_leaf, index, size, &p.path, &root).is_err());
        }
    }
    let old_root = proof::root_at(store.as_ref(), &t, 11).await.unwrap();
    let new_root = proof::root_at(store.as_ref(), &t, n).await.unwrap();
    let c = proof::consistency_proof(store.as_ref(), &t, 11, n)
        .await
        .unwrap();
    merkle::verify_consistency(11, n, &old_root, &new_root, &c.path).unwrap();
    let mut wrong_old = old_root;
    wrong_old[0] ^= 0x80;
    assert!(merkle::verify_consistency(11, n, &wrong_old, &new_root, &c.path).is_err());
    assert!(matches!(
        proof::inclusion_proof(store.as_ref(), &t, n, n).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        proof::inclusion_proof(store.as_ref(), &t, 0, n + 1).await,
        Err(StoreError::Invalid(_))
    ));
}

/// RFC 9162's MTH straight from its definition, independent of the store's node tables.
fn naive_root(leaves: &[merkle::Hash]) -> merkle::Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            // The largest power of two smaller than n.
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            merkle::node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

async fn checkpoints_are_signed_kept_and_consistent(store: Store) {
    let t = tenant("brookes-counselling");
    let signer = CheckpointSigner::new(
        NoteSigner::generate("confide.test").unwrap(),
        "confide.test",
    );
    let verifier = signer.note_signer().verifier();
    append_n(store.as_ref(), &t, "log", 5).await;
    let first = sign_checkpoint(store.as_ref(), &signer, &t, at(10))
        .await
        .unwrap();
    let body = verifier.verify(&first.note).unwrap();
    let parsed = Checkpoint::parse_body(&body).unwrap();
    assert_eq!(parsed.origin, "confide.test/brookes-counselling");
    assert_eq!(parsed.size, 5);
    assert_eq!(
        parsed.root,
        store.tree_head(&t).await.unwrap().unwrap().root
    );
    // Signing again at the same size gives the same checkpoint.
    assert_eq!(
        sign_checkpoint(store.as_ref(), &signer, &t, at(11))
            .await
            .unwrap(),
        first
    );

    append_n(store.as_ref(), &t, "log", 4).await;
    let second = sign_checkpoint(store.as_ref(), &signer, &t, at(12))
        .await
        .unwrap();
    assert_eq!(second.tree_size, 9);
    let kept = store.checkpoints(&t).await.unwrap();
    assert_eq!(kept, vec![first.clone(), second.clone()]);
    let c = proof::consistency_proof(store.as_ref(), &t, first.tree_size, second.tree_size)
        .await
        .unwrap();
    merkle::verify_consistency(
        first.tree_size,
        second.tree_size,
        &first.root,
        &second.root,
        &c.path,
    )
    .unwrap();

    // Another key's verifier finds no signature of its own.
    let stranger = NoteSigner::generate("confide.test").unwrap().verifier();
    assert!(stranger.verify(&second.note).is_err());
    let mut forged = second.note.clone();
    forged = forged.replacen("\n9\n", "\n8\n", 1);
    assert!(verifier.verify(&forged).is_err());
}

async fn the_global_reader_sees_every_event_once_and_positions_persist(store: Store) {
    let tenants = [tenant("tenant-a"), tenant("tenant-b"), tenant("tenant-c")];
    for (i, t) in tenants.iter().enumerate() {
        append_n(store.as_ref(), t, "log", 3 + i as u64).await;
    }
    let mut position = GlobalPosition::default();
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    loop {
        let batch = store.read_all(&position, 2).await.unwrap();
        assert!(batch.len() <= 2);
        if batch.is_empty() {
            break;
        }
        for e in &batch {
            seen.entry(e.tenant_id.to_string())
                .or_default()
                .push(e.sequence);
            position.advance(e);
        }
    }
    assert_eq!(seen["tenant-a"], vec![0, 1, 2]);
    assert_eq!(seen["tenant-b"], vec![0, 1, 2, 3]);
    assert_eq!(seen["tenant-c"], vec![0, 1, 2, 3, 4]);
    store.save_position("reports", &position).await.unwrap();
    assert_eq!(store.load_position("reports").await.unwrap(), position);
    assert_eq!(
        store.load_position("never-saved").await.unwrap(),
        GlobalPosition::default()
    );

    append_n(store.as_ref(), &tenants[1], "log", 1).await;
    let next = store.read_all(&position, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].tenant_id.as_str(), next[0].sequence),
        ("tenant-b", 4)
    );
}

async fn a_subscription_catches_up_then_follows_live_appends(store: Store) {
    let t = tenant("live");
    append_n(store.as_ref(), &t, "log", 3).await;
    // A long poll interval: the live event must arrive through the append notification.
    let mut subscription = Subscription::new(
        store.clone(),
        GlobalPosition::default(),
        Duration::from_secs(60),
    );
    for expected in 0..3 {
        assert_eq!(subscription.next().await.unwrap().sequence, expected);
    }
    let writer = {
        let store = store.clone();
        let t = t.clone();
        tokio::spawn(async move { append_n(store.as_ref(), &t, "log", 2).await })
    };
    for expected in 3..5 {
        let e = tokio::time::timeout(Duration::from_secs(20), subscription.next())
            .await
            .expect("a live append reaches the subscription")
            .unwrap();
        assert_eq!(e.sequence, expected);
    }
    writer.await.unwrap();
    assert_eq!(subscription.position().get(&t), 5);
}

async fn malformed_events_are_refused_and_nothing_is_written(store: Store) {
    let t = tenant("strict");
    let refuse = |payload: serde_json::Value| {
        AppendRequest::to_stream(
            stream("log"),
            ExpectedVersion::Any,
            vec![NewEvent::new("Noted", 1, payload)],
            at(0),
        )
    };
    for bad in [
        json!({ "ratio": 0.5 }),
        json!([1]),
        json!({ "big": 9_007_199_254_740_993u64 }),
    ] {
        assert!(matches!(
            store.append(&t, refuse(bad)).await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert!(matches!(
        store.append(&t, AppendRequest::new(at(0))).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.tree_head(&t).await.unwrap(), None);
}

// The same log read by a store without upcasters and by one with them.
both_backends!(
    |store| case(Arc::new(store.clone()), Arc::new(store.with_upcasters(upcasters())));
    upcasting_is_applied_on_read,
);

/// Upcasting changes what is read, never what is stored or hashed.
async fn upcasting_is_applied_on_read(store: Store, upcast: Store) {
    let t = tenant("upcast");
    store
        .append(
            &t,
            AppendRequest::to_stream(
                stream("consent-1"),
                ExpectedVersion::Any,
                vec![NewEvent::new(
                    "ConsentGiven",
                    1,
                    json!({ "purpose": "supervision" }),
                )],
                at(0),
            ),
        )
        .await
        .unwrap();
    let stored = store
        .read_stream(&t, &stream("consent-1"), 1, 10)
        .await
        .unwrap();
    let read = upcast
        .read_stream(&t, &stream("consent-1"), 1, 10)
        .await
        .unwrap();
    assert_eq!(read[0].schema_version, 3);
    assert_eq!(read[0].stored_schema_version, 1);
    assert!(read[0].was_upcast());
    assert_eq!(
        read[0].payload,
        json!({ "purposes": ["supervision"], "audience": [] })
    );
    assert_eq!(read[0].leaf_hash, stored[0].leaf_hash);
    assert_eq!(
        stored[0].envelope().leaf_hash().unwrap(),
        stored[0].leaf_hash
    );
    let all = upcast
        .read_all(&GlobalPosition::default(), 10)
        .await
        .unwrap();
    assert_eq!(all[0].schema_version, 3);
}

fn upcasters() -> Upcasters {
    Upcasters::new()
        .register("ConsentGiven", 1, |mut p| {
            let purpose = p["purpose"].take();
            json!({ "purposes": [purpose] })
        })
        .register("ConsentGiven", 2, |mut p| {
            p["audience"] = json!([]);
            p
        })
}
