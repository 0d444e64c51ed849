//! Audit bundles written from the store verify offline, and a row edited in the database is
//! found by `verify_store`: on every backend.

use std::sync::Arc;

use confide_audit::checkpoint::NoteSigner;
use confide_audit::verify::{VerifyError, VerifyOptions, verify_bundle};
use confide_eventstore::checkpoint::{CheckpointSigner, sign_checkpoint};
use confide_eventstore::export::{
    ExportError, ExportRequest, ExportSummary, Filter, export_bundle, verify_store,
};
use confide_eventstore::{
    AppendRequest, ExpectedVersion, NewEvent, PgEventStore, SqliteEventStore, StoreError,
};
use confide_test_support::{Store, at, both_backends, sqlite, stream, tenant};
use serde_json::json;

both_backends!(
    |store| case(Arc::new(store.clone()), Editor::from(&store));
    a_client_bundle_discloses_the_streams_the_client_created_and_verifies,
    a_bundle_proves_the_log_extends_the_auditors_previous_checkpoint,
    a_previous_checkpoint_of_another_log_is_refused,
    verify_store_names_a_row_edited_in_the_database,
    verify_store_finds_a_stored_tree_node_or_checkpoint_that_was_changed,
);

/// Writes to the database behind the store's back, as someone with access to it could.
enum Editor {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl From<&SqliteEventStore> for Editor {
    fn from(store: &SqliteEventStore) -> Self {
        Editor::Sqlite(store.pool().clone())
    }
}

impl From<&PgEventStore> for Editor {
    fn from(store: &PgEventStore) -> Self {
        Editor::Postgres(store.pool().clone())
    }
}

impl Editor {
    /// Runs `sql` (with `?` placeholders for SQLite, `$n` for PostgreSQL) in the tenant's
    /// row-level-security scope.
    async fn run(&self, tenant: &str, sql: &str) {
        match self {
            Editor::Sqlite(pool) => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
            Editor::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT set_config('confide.tenant_id', $1, true)")
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let done = sqlx::query(sql).execute(&mut *tx).await.unwrap();
                assert!(done.rows_affected() > 0, "{sql} changed nothing");
                tx.commit().await.unwrap();
            }
        }
    }
}

fn signer(name: &str) -> CheckpointSigner {
    CheckpointSigner::new(NoteSigner::generate(name).unwrap(), name)
}

fn new(kind: &str, payload: serde_json::Value) -> NewEvent {
    let mut payload = payload;
    payload["type"] = json!(kind);
    NewEvent::new(kind, 1, payload)
}

async fn write(store: &Store, t: &str, stream_name: &str, events: Vec<NewEvent>, second: i64) {
    store
        .append(
            &tenant(t),
            AppendRequest::to_stream(
                stream(stream_name),
                ExpectedVersion::Any,
                events,
                at(second),
            ),
        )
        .await
        .unwrap();
}

/// A small organisation's log: two clients, a consent of the first with a grant under it.
async fn story(store: &Store, t: &str) {
    write(
        store,
        t,
        "tenant",
        vec![new("TenantCreated", json!({"tenant_id": t}))],
        0,
    )
    .await;
    write(
        store,
        t,
        "client-c1",
        vec![new("ClientRegistered", json!({"client_id": "c1"}))],
        1,
    )
    .await;
    write(
        store,
        t,
        "client-c2",
        vec![new("ClientRegistered", json!({"client_id": "c2"}))],
        2,
    )
    .await;
    let requested = json!({"client_id": "c1", "consent_id": "k1"});
    write(
        store,
        t,
        "consent-k1",
        vec![new("ConsentRequested", requested)],
        3,
    )
    .await;
    // Later events of a stream name only the stream: the filter must be closed over it.
    write(
        store,
        t,
        "consent-k1",
        vec![new("ConsentGiven", json!({}))],
        4,
    )
    .await;
    let granted = json!({"consent_id": "k1", "grant_id": "g1"});
    write(store, t, "grant-g1", vec![new("AccessGranted", granted)], 5).await;
    write(
        store,
        t,
        "grant-g1",
        vec![new("AccessRevoked", json!({}))],
        6,
    )
    .await;
    let other = json!({"client_id": "c2", "consent_id": "k2"});
    write(
        store,
        t,
        "consent-k2",
        vec![new("ConsentRequested", other)],
        7,
    )
    .await;
}

async fn export(
    store: &Store,
    signer: &CheckpointSigner,
    t: &str,
    request: ExportRequest,
) -> Result<(Vec<u8>, ExportSummary), ExportError> {
    let mut out = Vec::new();
    let summary = export_bundle(
        store.as_ref(),
        signer,
        &tenant(t),
        request,
        at(100),
        &mut out,
    )
    .await?;
    Ok((out, summary))
}

fn verify(
    bundle: &[u8],
    signer: &CheckpointSigner,
    previous: Option<String>,
) -> Result<u64, VerifyError> {
    let options = VerifyOptions {
        trusted_keys: vec![signer.note_signer().verifier()],
        previous,
    };
    verify_bundle(bundle, &options, &mut ()).map(|verified| verified.events)
}

async fn a_client_bundle_discloses_the_streams_the_client_created_and_verifies(
    store: Store,
    _: Editor,
) {
    let key = signer("confide.test");
    story(&store, "counselling").await;
    let request = ExportRequest {
        filter: Filter::everything().with_subject("client", "c1"),
        ..ExportRequest::default()
    };
    let (bundle, summary) = export(&store, &key, "counselling", request).await.unwrap();
    // The client's registration, the consent requested and given, the grant and its
    // revocation; not the other client's.
    assert_eq!(summary.bundle.events, 5);
    assert_eq!(summary.bundle.tree_size, 8);
    let listed = &summary.filter.subjects;
    assert!(listed["consent"].contains("k1") && !listed["consent"].contains("k2"));
    assert!(listed["grant"].contains("g1"));
    assert_eq!(verify(&bundle, &key, None), Ok(5));
    let text = String::from_utf8(bundle.clone()).unwrap();
    assert!(
        !text.contains("\"c2\""),
        "the other client's events are hidden"
    );

    // The whole log, unfiltered, discloses every event; a bundle checked against another
    // operator's key is refused.
    let (everything, summary) = export(&store, &key, "counselling", ExportRequest::default())
        .await
        .unwrap();
    assert_eq!(summary.bundle.events, 8);
    assert_eq!(verify(&everything, &key, None), Ok(8));
    assert_eq!(
        verify(&everything, &signer("confide.test"), None)
            .unwrap_err()
            .name(),
        "UnknownSigner"
    );
}

async fn a_bundle_proves_the_log_extends_the_auditors_previous_checkpoint(store: Store, _: Editor) {
    let key = signer("confide.test");
    story(&store, "counselling").await;
    let last_audit = sign_checkpoint(store.as_ref(), &key, &tenant("counselling"), at(50))
        .await
        .unwrap();
    write(
        &store,
        "counselling",
        "client-c3",
        vec![new("ClientRegistered", json!({"client_id": "c3"}))],
        60,
    )
    .await;
    let request = ExportRequest {
        previous: Some(last_audit.note.clone()),
        ..ExportRequest::default()
    };
    let (bundle, summary) = export(&store, &key, "counselling", request).await.unwrap();
    assert_eq!(summary.checkpoint.tree_size, 9);
    assert_eq!(verify(&bundle, &key, Some(last_audit.note.clone())), Ok(9));
    let text = String::from_utf8(bundle).unwrap();
    assert!(
        text.lines()
            .any(|line| line.contains("\"type\":\"consistency\""))
    );

    // Against the same checkpoint, the proof is empty and the roots must agree.
    let head = sign_checkpoint(store.as_ref(), &key, &tenant("counselling"), at(70))
        .await
        .unwrap();
    let request = ExportRequest {
        previous: Some(head.note.clone()),
        ..ExportRequest::default()
    };
    let (bundle, _) = export(&store, &key, "counselling", request).await.unwrap();
    assert_eq!(verify(&bundle, &key, Some(head.note)), Ok(9));
}

async fn a_previous_checkpoint_of_another_log_is_refused(store: Store, _: Editor) {
    let key = signer("confide.test");
    story(&store, "counselling").await;
    story(&store, "coaching").await;
    let theirs = sign_checkpoint(store.as_ref(), &key, &tenant("coaching"), at(50))
        .await
        .unwrap();
    let forged = sign_checkpoint(
        store.as_ref(),
        &signer("elsewhere"),
        &tenant("counselling"),
        at(50),
    )
    .await
    .unwrap();
    for note in [theirs.note, forged.note, "not a note".to_owned()] {
        let request = ExportRequest {
            previous: Some(note),
            ..ExportRequest::default()
        };
        let error = export(&store, &key, "counselling", request)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ExportError::Invalid(_) | ExportError::Bundle(_)),
            "{error}"
        );
    }
}

async fn verify_store_names_a_row_edited_in_the_database(store: Store, edit: Editor) {
    let key = signer("confide.test");
    story(&store, "counselling").await;
    sign_checkpoint(store.as_ref(), &key, &tenant("counselling"), at(50))
        .await
        .unwrap();
    let keys = [key.note_signer().verifier()];
    let checked = verify_store(store.as_ref(), &tenant("counselling"), &keys)
        .await
        .unwrap();
    assert_eq!((checked.events, checked.checkpoints), (8, 1));
    assert_eq!(
        checked.root,
        store
            .tree_head(&tenant("counselling"))
            .await
            .unwrap()
            .unwrap()
            .root
    );

    // Someone with database access turns the consent given into one for another client.
    let sql = "UPDATE events SET payload = '{\"client_id\":\"c9\",\"type\":\"ConsentGiven\"}' \
               WHERE tenant_id = 'counselling' AND sequence = 4";
    edit.run("counselling", sql).await;
    let error = verify_store(store.as_ref(), &tenant("counselling"), &keys)
        .await
        .unwrap_err();
    let StoreError::Integrity(message) = error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("event 4 (ConsentGiven version 2 of stream consent-k1)"),
        "{message}"
    );
    // An export of the edited log is refused rather than written against a root it cannot
    // reach; the other tenant's log is untouched.
    assert!(matches!(
        export(&store, &key, "counselling", ExportRequest::default()).await,
        Err(ExportError::Bundle(_))
    ));
}

async fn verify_store_finds_a_stored_tree_node_or_checkpoint_that_was_changed(
    store: Store,
    edit: Editor,
) {
    let key = signer("confide.test");
    story(&store, "counselling").await;
    let keys = [key.note_signer().verifier()];
    sign_checkpoint(store.as_ref(), &key, &tenant("counselling"), at(50))
        .await
        .unwrap();

    // A leaf hash rewritten to match an edited payload still leaves the stored nodes above
    // it, which were computed from the original.
    let (payload, leaf) = {
        let mut events = store
            .read_tenant(&tenant("counselling"), 2, 1)
            .await
            .unwrap();
        let mut edited = events.remove(0);
        edited.payload = json!({"client_id": "c9", "type": "ClientRegistered"});
        let text = confide_audit::canonical::to_canonical_vec(&edited.payload).unwrap();
        (
            String::from_utf8(text).unwrap(),
            hex(&edited.envelope().leaf_hash().unwrap()),
        )
    };
    let sql = match edit {
        Editor::Sqlite(_) => format!(
            "UPDATE events SET payload = '{payload}', leaf_hash = X'{leaf}' WHERE tenant_id = 'counselling' AND sequence = 2"
        ),
        Editor::Postgres(_) => format!(
            "UPDATE events SET payload = '{payload}', leaf_hash = '\\x{leaf}' WHERE tenant_id = 'counselling' AND sequence = 2"
        ),
    };
    edit.run("counselling", &sql).await;
    let error = verify_store(store.as_ref(), &tenant("counselling"), &keys)
        .await
        .unwrap_err();
    let StoreError::Integrity(message) = error else {
        panic!("{error:?}")
    };
    assert!(message.contains("subtree"), "{message}");

    // A checkpoint signed by another key is not one of this server's.
    let other = signer("elsewhere");
    let store2: Store = std::sync::Arc::new(sqlite().await);
    story(&store2, "counselling").await;
    sign_checkpoint(store2.as_ref(), &other, &tenant("counselling"), at(50))
        .await
        .unwrap();
    let error = verify_store(store2.as_ref(), &tenant("counselling"), &keys)
        .await
        .unwrap_err();
    let StoreError::Integrity(message) = error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("not signed by a key of this server"),
        "{message}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
