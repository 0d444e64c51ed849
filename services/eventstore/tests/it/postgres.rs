//! PostgreSQL only: many concurrent writers with rollbacks and a long transaction, read by a
//! concurrent global reader; and row-level security as the second wall between tenants.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use confide_audit::merkle;
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, GlobalPosition, InlineProjection, NewEvent,
    PgEventStore, RecordedEvent, StoreError, Subscription, TenantId, proof,
};
use confide_test_support::{append_n, at, event, postgres, postgres_with, stream, tenant};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::{PgConnection, Postgres};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Rolls its append back when an event asks for it, and holds its transaction open (with the
/// tenant's head row locked) when an event asks for that.
struct Saboteur;

#[async_trait]
impl InlineProjection<Postgres> for Saboteur {
    fn name(&self) -> &'static str {
        "saboteur"
    }

    async fn apply(
        &self,
        _conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), StoreError> {
        for event in events {
            if event.payload["hold_ms"].is_u64() {
                let ms = event.payload["hold_ms"].as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if event.payload["rollback"] == json!(true) {
                return Err(StoreError::Invalid("rolled back on purpose".into()));
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Outcomes {
    acknowledged: HashSet<Uuid>,
    rolled_back: HashSet<Uuid>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_reader_sees_every_committed_event_once_and_no_rolled_back_one() {
    let plain = postgres_with(20).await;
    let saboteur = plain.clone().with_inline_projection(Arc::new(Saboteur));
    let tenants: Vec<TenantId> = ["tenant-a", "tenant-b", "tenant-c"].map(tenant).to_vec();
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));

    // Two readers run from the start, concurrently with every writer: the global reader one
    // batch at a time, and a catch-up subscription with small batches read ahead.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let reader = {
        let store = plain.clone();
        tokio::spawn(async move { read_everything(store, done_rx).await })
    };
    let (followed_tx, mut followed_rx) = tokio::sync::mpsc::unbounded_channel();
    let subscriber = {
        let store: Arc<dyn EventStore> = Arc::new(plain.clone());
        tokio::spawn(async move {
            let mut subscription =
                Subscription::new(store, GlobalPosition::default(), Duration::from_millis(50))
                    .with_batch_size(7)
                    .with_read_ahead(3);
            loop {
                let event = subscription.next().await.unwrap();
                if followed_tx.send(event).is_err() {
                    return;
                }
            }
        })
    };

    // One append holds its tenant's transaction open for two seconds while others write.
    let long = {
        let store = saboteur.clone();
        let t = tenants[0].clone();
        let outcomes = outcomes.clone();
        tokio::spawn(async move {
            let e = NewEvent::new("Held", 1, json!({ "hold_ms": 2000 }));
            let id = e.event_id;
            store
                .append(
                    &t,
                    AppendRequest::to_stream(stream("held"), ExpectedVersion::Any, vec![e], at(0)),
                )
                .await
                .unwrap();
            outcomes.lock().await.acknowledged.insert(id);
        })
    };

    let mut writers = Vec::new();
    for w in 0..8u64 {
        let (plain, saboteur) = (plain.clone(), saboteur.clone());
        let tenants = tenants.clone();
        let outcomes = outcomes.clone();
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(w);
            for i in 0..40u64 {
                let t = &tenants[rng.gen_range(0..tenants.len())];
                let rollback = rng.gen_bool(0.2);
                let events: Vec<NewEvent> = (0..rng.gen_range(1..=3))
                    .map(|k| {
                        NewEvent::new(
                            "Noted",
                            1,
                            json!({ "w": w, "i": i, "k": k, "rollback": rollback }),
                        )
                    })
                    .collect();
                let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
                let request = AppendRequest::to_stream(
                    stream(&format!("writer-{w}")),
                    ExpectedVersion::Any,
                    events,
                    at(i as i64),
                );
                let store = if rollback || rng.gen_bool(0.3) {
                    &saboteur
                } else {
                    &plain
                };
                let result = store.append(t, request).await;
                let mut outcomes = outcomes.lock().await;
                match (rollback, result) {
                    (false, Ok(_)) => outcomes.acknowledged.extend(ids),
                    (true, Err(StoreError::Invalid(_))) => outcomes.rolled_back.extend(ids),
                    (rollback, other) => panic!("rollback={rollback}: unexpected {other:?}"),
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    long.await.unwrap();
    done_tx.send(true).unwrap();
    let seen = reader.await.unwrap();

    let outcomes = outcomes.lock().await;
    assert!(
        outcomes.rolled_back.len() > 20,
        "the test must roll some appends back"
    );
    let seen_ids: HashSet<Uuid> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(seen_ids.len(), seen.len(), "an event was delivered twice");
    assert!(
        seen_ids.is_disjoint(&outcomes.rolled_back),
        "a rolled-back event was read"
    );
    assert_eq!(
        seen_ids, outcomes.acknowledged,
        "the reader missed or invented events"
    );

    // The subscription delivers the same events, each tenant's in sequence order.
    let mut followed = Vec::new();
    while followed.len() < seen.len() {
        let event = tokio::time::timeout(Duration::from_secs(30), followed_rx.recv())
            .await
            .expect("the subscription reaches every acknowledged event")
            .expect("the subscription is still running");
        followed.push(event);
    }
    subscriber.abort();
    let mut next = GlobalPosition::default();
    for event in &followed {
        assert_eq!(event.sequence, next.get(&event.tenant_id), "out of order");
        next.advance(event);
    }
    let key = |e: &RecordedEvent| (e.tenant_id.clone(), e.sequence, e.event_id);
    let mut by_subscription: Vec<_> = followed.iter().map(key).collect();
    let mut by_reader: Vec<_> = seen.iter().map(key).collect();
    by_subscription.sort();
    by_reader.sort();
    assert_eq!(by_subscription, by_reader);

    // Every tenant's log is gap-free and its tree matches its events.
    for t in &tenants {
        let events: Vec<&RecordedEvent> = seen.iter().filter(|e| &e.tenant_id == t).collect();
        let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
        assert_eq!(sequences, (0..events.len() as u64).collect::<Vec<_>>());
        let head = plain.tree_head(t).await.unwrap().unwrap();
        assert_eq!(head.size, events.len() as u64);
        let last = head.size - 1;
        let p = proof::inclusion_proof(&plain, t, last, head.size)
            .await
            .unwrap();
        let leaf = events[last as usize].envelope().leaf_hash().unwrap();
        merkle::verify_inclusion(&leaf, last, head.size, &p.path, &head.root).unwrap();
    }
}

/// Reads across tenants until told the writers are done and nothing is left, checking on the
/// way that each tenant's events arrive exactly in sequence.
async fn read_everything(
    store: PgEventStore,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> Vec<RecordedEvent> {
    let mut position = GlobalPosition::default();
    let mut seen = Vec::new();
    let mut appended = store.appended();
    loop {
        let finished = *done.borrow_and_update();
        appended.borrow_and_update();
        let batch = store.read_all(&position, 25).await.unwrap();
        for event in &batch {
            assert_eq!(
                event.sequence,
                position.get(&event.tenant_id),
                "tenant {} skipped or repeated a sequence",
                event.tenant_id
            );
            position.advance(event);
        }
        let caught_up = batch.is_empty();
        seen.extend(batch);
        if caught_up {
            if finished {
                return seen;
            }
            tokio::select! {
                _ = appended.changed() => {}
                _ = done.changed() => {}
            }
        }
    }
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_even_from_a_query_without_a_tenant() {
    let store = postgres().await;
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    append_n(&store, &a, "log", 3).await;
    append_n(&store, &b, "log", 2).await;
    let pool = store.pool();

    // No tenant set: the wall shows nothing at all.
    let unscoped: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(unscoped, 0);
    let heads: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_heads")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(heads, 0);

    // Scoped to tenant A, a query that forgets its tenant still sees only A.
    let mut tx = store.begin_tenant(&a).await.unwrap();
    let tenants: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM events")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec!["tenant-a".to_string()]);
    // ...and cannot write into B.
    let forged = sqlx::query(
        "INSERT INTO checkpoints (tenant_id, tree_size, key_id, root_hash, note)
         VALUES ('tenant-b', 1, 'k', decode(repeat('00', 32), 'hex'), 'n')",
    )
    .execute(&mut *tx)
    .await;
    let error = forged.unwrap_err().to_string();
    assert!(error.contains("row-level security"), "{error}");
}

#[tokio::test]
async fn a_conflicting_append_under_contention_writes_nothing() {
    let store = postgres().await;
    let t = tenant("contended");
    store
        .append(
            &t,
            AppendRequest::to_stream(
                stream("consent-1"),
                ExpectedVersion::NoStream,
                vec![event("A", 0)],
                at(0),
            ),
        )
        .await
        .unwrap();
    // Ten writers race to be the second event of one stream: exactly one wins.
    let mut racers = Vec::new();
    for n in 0..10 {
        let store = store.clone();
        let t = t.clone();
        racers.push(tokio::spawn(async move {
            store
                .append(
                    &t,
                    AppendRequest::to_stream(
                        stream("consent-1"),
                        ExpectedVersion::Exact(1),
                        vec![event("B", n)],
                        at(n as i64),
                    ),
                )
                .await
        }));
    }
    let mut results = BTreeMap::new();
    for racer in racers {
        let key = match racer.await.unwrap() {
            Ok(_) => "won",
            Err(StoreError::Conflict { actual: 2, .. }) => "conflict",
            Err(other) => panic!("unexpected {other:?}"),
        };
        *results.entry(key).or_insert(0) += 1;
    }
    assert_eq!(results, BTreeMap::from([("conflict", 9), ("won", 1)]));
    assert_eq!(store.tree_head(&t).await.unwrap().unwrap().size, 2);
}

#[tokio::test]
async fn two_nodes_with_stale_memories_of_a_head_never_fork_the_tree() {
    // Two stores on one database are two API nodes: each remembers the head after its own
    // appends, and each append by one makes the other's memory stale.
    let node_a = postgres().await;
    let node_b = PgEventStore::new(node_a.pool().clone());
    let t = tenant("shared");
    for round in 0..6u64 {
        let node = if round % 2 == 0 { &node_a } else { &node_b };
        node.append(
            &t,
            AppendRequest::to_stream(
                stream("consent-1"),
                ExpectedVersion::Exact(round),
                vec![event("Noted", round)],
                at(round as i64),
            ),
        )
        .await
        .unwrap();
    }
    // A stale memory with a wrong expectation is a conflict with the true version.
    match node_b
        .append(
            &t,
            AppendRequest::to_stream(
                stream("consent-1"),
                ExpectedVersion::Exact(3),
                vec![event("Late", 9)],
                at(9),
            ),
        )
        .await
    {
        Err(StoreError::Conflict {
            actual: 6,
            expected: ExpectedVersion::Exact(3),
            ..
        }) => {}
        other => panic!("expected a conflict at version 6, got {other:?}"),
    }
    let events = node_a.read_tenant(&t, 0, 100).await.unwrap();
    assert_eq!(events.len(), 6);
    let head = node_b.tree_head(&t).await.unwrap().unwrap();
    for e in &events {
        assert_eq!(e.envelope().leaf_hash().unwrap(), e.leaf_hash);
        let p = proof::inclusion_proof(&node_a, &t, e.sequence, head.size)
            .await
            .unwrap();
        merkle::verify_inclusion(&e.leaf_hash, e.sequence, head.size, &p.path, &head.root).unwrap();
    }
}
