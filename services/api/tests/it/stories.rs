//! The practices' stories through GraphQL as their people live them, over a real HTTP server
//! on each backend: the course that ends (consents expired, plays refused, recordings destroyed
//! after the grace), the credential decision, the coaching company's notified opt-out, the
//! client who stops part way, a tutor's comments, and the refusals a client link and another
//! tenant meet.

use chrono::{NaiveDate, TimeDelta, Utc};
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use confide_domain::{Jurisdiction, Purpose, Role};
use confide_domain::{TenantId, UserId};
use confide_test_support::audio::{upload, wav};
use confide_test_support::both_backends;
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, Server, code, spawn_app};
use serde_json::{Value, json};

const TENANT: &str = "clinic";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn create_recording(server: &Server, token: &str, consent: &Value, on: NaiveDate) -> Value {
    server
        .graphql(
            token,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id courseId status } }",
            json!({ "c": consent, "d": on }),
        )
        .await
}

async fn play(server: &Server, token: &str, recording: &Value, purpose: &str) -> Value {
    server
        .ok(
            token,
            "mutation($r: UUID!, $p: Purpose!) { startPlayback(recordingId: $r, purpose: $p) { allowed access { reasons explanation } } }",
            json!({ "r": recording, "p": purpose }),
        )
        .await["startPlayback"]
        .clone()
}

async fn consent_view(server: &Server, token: &str, consent: &Value) -> Value {
    server
        .ok(
            token,
            "query($id: UUID!) { consent(id: $id) { status endsWith courseId expiresAt noticedSessions optedOutSessions deletionRequested } }",
            json!({ "id": consent }),
        )
        .await["consent"]
        .clone()
}

async fn recording_status(server: &Server, token: &str, recording: &Value, purpose: &str) -> Value {
    server
        .ok(
            token,
            "query($r: UUID!, $p: Purpose!) { recording(id: $r, purpose: $p) { status destructionDue stopAtMs media { durationMs } } }",
            json!({ "r": recording, "p": purpose }),
        )
        .await["recording"]
        .clone()
}

/// A course whose tutor assesses a student's recorded sessions: the course ends, the consents
/// that end with it expire at once, the tutor's plays are refused, and the recordings are
/// destroyed once the tenant's grace after the end has passed, not before.
async fn a_course_that_ends_takes_its_recordings_with_it(server: Server) {
    let clinic = Clinic::new(TENANT).open_over_http(&server).await;
    let (admin, sam) = (&clinic.admin, &clinic.practitioner);
    let ada = server.token(TENANT, "ada");
    let grace = i64::from(confide_test_support::server::counselling_policy().course_grace_days);

    // Two courses: one that ended longer ago than the grace, one within it.
    let mut courses = Vec::new();
    for (title, ended_days_ago) in [("Diploma 2025", grace + 1), ("Diploma 2026", grace - 1)] {
        let starts = today() - TimeDelta::days(ended_days_ago + 200);
        let course = server
            .ok(
                admin,
                "mutation($t: String!, $s: NaiveDate!, $e: NaiveDate!) { createCourse(title: $t, startsOn: $s, endsOn: $e, tutors: [\"ada\"]) { id } }",
                json!({ "t": title, "s": starts, "e": today() }),
            )
            .await["createCourse"]["id"]
            .clone();
        server
            .ok(
                admin,
                "mutation($c: UUID!) { enrolInCourse(courseId: $c, userId: \"sam\") { id } }",
                json!({ "c": course }),
            )
            .await;
        // A client of the student's for each course, so that each recording rests on its
        // course's consent alone.
        let client = server
            .register_client(sam, "Morgan Ellis", "morgan@example.org")
            .await;
        let (consent, link) = server
            .request_consent(
                sam,
                json!({
                    "clientId": client, "consentFormId": clinic.form["id"],
                    "courseId": course,
                    "purposes": [{ "purpose": "COURSE_ASSESSMENT", "users": ["ada"], "media": ["AUDIO"] }],
                }),
            )
            .await;
        server.give_consent(&link, &consent, "Morgan Ellis").await;
        let view = consent_view(&server, sam, &consent).await;
        assert_eq!(view["endsWith"], "COURSE_END", "{view}");
        assert_eq!(view["courseId"], course);
        let recording = create_recording(&server, sam, &consent, today()).await;
        let recording = recording["data"]["createRecording"]["id"].clone();
        let (status, body) =
            upload(server.address, recording.as_str().unwrap(), sam, &wav(2)).await;
        assert_eq!(status, 201, "{body}");
        let played = play(&server, &ada, &recording, "COURSE_ASSESSMENT").await;
        assert_eq!(
            played["allowed"], true,
            "the tutor assesses during the course: {played}"
        );
        courses.push((course, consent, recording, ended_days_ago));
    }

    for (course, consent, recording, ended_days_ago) in &courses {
        let ended_on = today() - TimeDelta::days(*ended_days_ago);
        server
            .ok(
                admin,
                "mutation($c: UUID!, $e: NaiveDate!) { endCourse(courseId: $c, endedOn: $e) { endedOn } }",
                json!({ "c": course, "e": ended_on }),
            )
            .await;
        let view = consent_view(&server, sam, consent).await;
        assert_eq!(
            view["status"], "EXPIRED",
            "the course's end expires its consent: {view}"
        );
        let refused = play(&server, &ada, recording, "COURSE_ASSESSMENT").await;
        assert_eq!(refused["allowed"], false, "{refused}");
        let explanation = refused["access"]["explanation"].as_str().unwrap();
        assert!(explanation.contains("not in force"), "{explanation}");
        assert!(!explanation.contains('{'), "no debug output: {explanation}");
    }

    let tenant = TenantId::parse(TENANT).unwrap();
    let scheduled = server.app.run_retention(&tenant).await.unwrap();
    let (past, within) = (&courses[0], &courses[1]);
    assert_eq!(
        scheduled.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        vec![past.2.as_str().unwrap().to_owned()],
        "only the recording whose course ended longer ago than the grace is due"
    );
    let due = recording_status(&server, sam, &past.2, "COURSE_ASSESSMENT").await;
    let expected_due = (today() - TimeDelta::days(past.3) + TimeDelta::days(grace))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let due_at: chrono::DateTime<Utc> = due["destructionDue"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        due_at, expected_due,
        "due at the course's end plus the grace: {due}"
    );
    server.app.run_destruction_jobs().await.unwrap();
    let destroyed = recording_status(&server, sam, &past.2, "COURSE_ASSESSMENT").await;
    assert_eq!(destroyed["status"], "DESTROYED", "{destroyed}");
    let kept = recording_status(&server, sam, &within.2, "COURSE_ASSESSMENT").await;
    assert_eq!(kept["status"], "STORED", "still within the grace: {kept}");
    assert!(kept["destructionDue"].is_null(), "{kept}");
}

/// A coach records for a credential: the consent ends with the credentialing body's decision,
/// which the coach records; only the practitioner (or an org_admin) may record it, and a
/// consent that names another end cannot be ended so.
async fn a_credential_decision_ends_the_consent_given_for_it(server: Server) {
    let clinic = Clinic::new(TENANT)
        .member("mia", Role::Assessor)
        .consent("sam", &[(Purpose::Credentialing, &["mia"])])
        .open_over_http(&server)
        .await;
    let sam = &clinic.practitioner;
    let (consent, link) = server
        .request_consent(
            sam,
            json!({
                "clientId": clinic.client, "consentFormId": clinic.form["id"],
                "endsWith": "CREDENTIAL_DECISION",
                "purposes": clinic_purposes(),
            }),
        )
        .await;
    server.give_consent(&link, &consent, "Morgan Ellis").await;
    assert_eq!(
        consent_view(&server, sam, &consent).await["endsWith"],
        "CREDENTIAL_DECISION"
    );

    let both = server
        .graphql(
            sam,
            "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { clientLink { token } } }",
            json!({ "input": {
                "clientId": clinic.client, "consentFormId": clinic.form["id"],
                "endsWith": "CREDENTIAL_DECISION", "expiresAt": Utc::now() + TimeDelta::days(9),
                "purposes": clinic_purposes(),
            }}),
        )
        .await;
    assert_eq!(code(&both), "BAD_USER_INPUT", "{both}");

    let decide = "mutation($c: UUID!) { recordCredentialDecision(consentId: $c) { status } }";
    let ada = server.token(TENANT, "ada");
    let refused = server.graphql(&ada, decide, json!({ "c": consent })).await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    let other_end = server
        .graphql(sam, decide, json!({ "c": clinic.consent }))
        .await;
    assert_eq!(
        code(&other_end),
        "CONFLICT",
        "the first consent names no such end: {other_end}"
    );

    let decided = server.ok(sam, decide, json!({ "c": consent })).await;
    assert_eq!(decided["recordCredentialDecision"]["status"], "EXPIRED");
    let again = server.graphql(sam, decide, json!({ "c": consent })).await;
    assert_eq!(code(&again), "CONFLICT", "{again}");
}

fn clinic_purposes() -> Value {
    json!([{ "purpose": "CREDENTIALING", "users": ["mia"], "media": ["AUDIO"] }])
}

/// The coaching company's policy: recorded by default after a notice, QA may listen, no client
/// copies.
fn coaching_policy() -> TenantPolicy {
    TenantPolicy {
        consent_model: ConsentModel::NotifiedOptOut,
        allowed_media: MediaPolicy::AudioOnly,
        practitioner_self_access: true,
        client_copies: ClientCopies::Never,
        retention_days: 90,
        course_grace_days: 0,
        jurisdiction: Jurisdiction::UkGdpr,
    }
}

/// The coaching company records after a notice that names the QA team by role; the client
/// opts out of one session through their link, the coach plays the notice again at the next,
/// and the client opts out for good with deletion: the recordings are scheduled for
/// destruction and nothing more can be recorded.
async fn the_coaching_company_records_after_a_notice_and_the_client_opts_out(server: Server) {
    confide_test_support::clinic::create_tenant(
        &server.app,
        &TenantId::parse(TENANT).unwrap(),
        "Coaching Company",
        coaching_policy(),
        &UserId::parse("admin").unwrap(),
    )
    .await;
    let admin = server.token(TENANT, "admin");
    server
        .add_members(&admin, &[("sam", "PRACTITIONER"), ("quinn", "REVIEWER")])
        .await;
    let form = server
        .publish_form(
            &admin,
            "Sessions are recorded for quality assurance. Tell us to stop.",
        )
        .await;
    let (sam, quinn) = (&server.token(TENANT, "sam"), server.token(TENANT, "quinn"));
    let client = server
        .register_client(sam, "Kim Client", "kim@example.org")
        .await;
    let first = today() - TimeDelta::days(14);
    let notice = server
        .ok(
            sam,
            "mutation($input: GiveNoticeInput!) { giveNotice(input: $input) { consent { id status noticedSessions } clientLink { token } } }",
            json!({ "input": {
                "clientId": client, "consentFormId": form["id"], "sessionOn": first,
                "purposes": [{ "purpose": "QUALITY_ASSURANCE", "users": [], "roles": ["REVIEWER"], "media": ["AUDIO"] }],
            }}),
        )
        .await["giveNotice"]
        .clone();
    assert_eq!(notice["consent"]["status"], "NOTICED", "{notice}");
    assert_eq!(notice["consent"]["noticedSessions"], json!([first]));
    let consent = notice["consent"]["id"].clone();
    let link = notice["clientLink"]["token"].as_str().unwrap().to_owned();
    let recording = create_recording(&server, sam, &consent, first).await;
    let recording = recording["data"]["createRecording"]["id"].clone();
    assert!(recording.is_string(), "the noticed session is recorded");
    let (status, body) = upload(server.address, recording.as_str().unwrap(), sam, &wav(1)).await;
    assert_eq!(status, 201, "{body}");
    let played = play(&server, &quinn, &recording, "QUALITY_ASSURANCE").await;
    assert_eq!(played["allowed"], true, "QA listens by role: {played}");

    // The client, through the link the notice came with, opts out of next week's session.
    let second = today() - TimeDelta::days(7);
    let opted = server
        .ok(
            &link,
            "mutation($c: UUID!, $d: NaiveDate!) { optOutOfSession(consentId: $c, sessionOn: $d) { optedOutSessions } }",
            json!({ "c": consent, "d": second }),
        )
        .await;
    assert_eq!(
        opted["optOutOfSession"]["optedOutSessions"],
        json!([second])
    );
    let notice_anyway = server
        .graphql(
            sam,
            "mutation($c: UUID!, $d: NaiveDate!) { giveSessionNotice(consentId: $c, sessionOn: $d) { id } }",
            json!({ "c": consent, "d": second }),
        )
        .await;
    assert!(
        notice_anyway["errors"].is_null(),
        "a notice may still be played: {notice_anyway}"
    );
    let refused = create_recording(&server, sam, &consent, second).await;
    assert_eq!(code(&refused), "CONSENT_REQUIRED", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["reasons"],
        json!(["session_opted_out"]),
        "{refused}"
    );

    // The next session: the notice played again, the session recorded.
    let third = today();
    server
        .ok(
            sam,
            "mutation($c: UUID!, $d: NaiveDate!) { giveSessionNotice(consentId: $c, sessionOn: $d) { noticedSessions } }",
            json!({ "c": consent, "d": third }),
        )
        .await;
    let unnoticed = create_recording(&server, sam, &consent, third - TimeDelta::days(1)).await;
    assert_eq!(code(&unnoticed), "CONSENT_REQUIRED", "{unnoticed}");
    let third_recording = create_recording(&server, sam, &consent, third).await;
    assert!(third_recording["errors"].is_null(), "{third_recording}");

    // For good, with deletion.
    let out = server
        .ok(
            &link,
            "mutation($c: UUID!) { optOut(consentId: $c, deletionRequested: true) { status deletionRequested } }",
            json!({ "c": consent }),
        )
        .await;
    assert_eq!(out["optOut"]["status"], "OPTED_OUT");
    let due = recording_status(&server, sam, &recording, "QUALITY_ASSURANCE").await;
    assert!(
        due["destructionDue"].is_string(),
        "scheduled at once: {due}"
    );
    let after = play(&server, &quinn, &recording, "QUALITY_ASSURANCE").await;
    assert_eq!(after["allowed"], false);
    let fourth = create_recording(&server, sam, &consent, third).await;
    assert_eq!(code(&fourth), "CONSENT_REQUIRED", "{fourth}");
}

/// A client link acts only on its own client's recordings: another client's is not found, and
/// asking writes nothing about anyone.
async fn a_client_link_reaches_only_its_own_clients_recordings(server: Server) {
    let clinic = Clinic::new(TENANT)
        .consent("sam", &[(Purpose::ClientCopy, &[])])
        .policy(TenantPolicy {
            client_copies: ClientCopies::Allowed,
            ..confide_test_support::server::counselling_policy()
        })
        .open_over_http(&server)
        .await;
    let sam = &clinic.practitioner;
    let recording = create_recording(&server, sam, &clinic.consent, today()).await;
    let recording = recording["data"]["createRecording"]["id"].clone();
    let other = server
        .register_client(sam, "Robin Other", "robin@example.org")
        .await;
    let (other_consent, other_link) = server
        .request_consent(
            sam,
            json!({ "clientId": other, "consentFormId": clinic.form["id"],
                    "purposes": [{ "purpose": "CLIENT_COPY", "users": [], "media": ["AUDIO"] }] }),
        )
        .await;
    server
        .give_consent(&other_link, &other_consent, "Robin Other")
        .await;

    let before = server.log_size(TENANT).await;
    let probe = server
        .graphql(
            &other_link,
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: CLIENT_COPY) { allowed } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(code(&probe), "NOT_FOUND", "{probe}");
    let stop = server
        .graphql(
            &other_link,
            "mutation($r: UUID!) { requestStop(recordingId: $r, offsetMs: 1000) { id } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(code(&stop), "NOT_FOUND", "{stop}");
    let notes = server
        .graphql(
            &other_link,
            "query($r: UUID!) { recordingNotes(recordingId: $r, purpose: CLIENT_COPY) { comments { text } } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(code(&notes), "NOT_FOUND", "{notes}");
    assert_eq!(
        server.log_size(TENANT).await,
        before,
        "nothing was written about anyone"
    );

    // Their own client's recording is theirs to ask about (the refusal is recorded).
    let own = server
        .graphql(
            &clinic.link,
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: CLIENT_COPY) { allowed } }",
            json!({ "r": recording }),
        )
        .await;
    assert!(own["errors"].is_null(), "{own}");
    assert_eq!(server.log_size(TENANT).await, before + 1);
}

/// A consent of another tenant is not found, like one that does not exist.
async fn another_tenants_consent_is_not_found(server: Server) {
    let ours = Clinic::new(TENANT).open_over_http(&server).await;
    let theirs = Clinic::new("elsewhere").open_over_http(&server).await;
    let probe = create_recording(&server, &ours.practitioner, &theirs.consent, today()).await;
    assert_eq!(code(&probe), "NOT_FOUND", "{probe}");
    let missing = create_recording(
        &server,
        &ours.practitioner,
        &json!(uuid::Uuid::now_v7()),
        today(),
    )
    .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
}

/// The client asks to stop part way through the session; the upload that follows is cut at
/// the stop, so nothing after it is ever stored.
async fn a_client_stops_part_way_and_nothing_after_is_stored(server: Server) {
    let clinic = Clinic::new(TENANT).open_over_http(&server).await;
    let sam = &clinic.practitioner;
    let recording = create_recording(&server, sam, &clinic.consent, today()).await;
    let recording = recording["data"]["createRecording"]["id"].clone();
    let stopped = server
        .ok(
            &clinic.link,
            "mutation($r: UUID!) { requestStop(recordingId: $r, offsetMs: 1500) { stopAtMs } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(stopped["requestStop"]["stopAtMs"], 1500);
    let later = server
        .graphql(
            &clinic.link,
            "mutation($r: UUID!) { requestStop(recordingId: $r, offsetMs: 2500) { stopAtMs } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(
        code(&later),
        "CONFLICT",
        "a later stop changes nothing: {later}"
    );
    let (status, body) = upload(server.address, recording.as_str().unwrap(), sam, &wav(4)).await;
    assert_eq!(status, 201, "{body}");
    let stored = recording_status(&server, sam, &recording, "COURSE_ASSESSMENT").await;
    assert_eq!(stored["media"]["durationMs"], 1500, "{stored}");
    assert_eq!(stored["stopAtMs"], 1500);
}

/// A tutor comments at moments of a recording they may play; the practitioner's bookmarks and
/// the comments read back for those two, and for nobody else; once the recording is destroyed
/// they are gone with its key.
async fn a_tutors_comments_are_sealed_and_read_back(server: Server) {
    let clinic = Clinic::new(TENANT)
        .member("lee", Role::Tutor)
        .open_over_http(&server)
        .await;
    let sam = &clinic.practitioner;
    let (ada, lee) = (server.token(TENANT, "ada"), server.token(TENANT, "lee"));
    let recording = create_recording(&server, sam, &clinic.consent, today()).await;
    let recording = recording["data"]["createRecording"]["id"].clone();
    let (status, body) = upload(server.address, recording.as_str().unwrap(), sam, &wav(3)).await;
    assert_eq!(status, 201, "{body}");
    server
        .ok(
            sam,
            "mutation($r: UUID!) { addBookmark(recordingId: $r, offsetMs: 500, label: \"Opening\") { at } }",
            json!({ "r": recording }),
        )
        .await;
    let comment = "mutation($r: UUID!, $o: Int!, $t: String!) { addComment(recordingId: $r, purpose: COURSE_ASSESSMENT, offsetMs: $o, text: $t) { comments { offsetMs text by } } }";
    let commented = server
        .ok(
            &ada,
            comment,
            json!({ "r": recording, "o": 2000, "t": "Good reflection here.\nTry a longer pause." }),
        )
        .await;
    assert_eq!(
        commented["addComment"]["comments"],
        json!([{ "offsetMs": 2000, "text": "Good reflection here.\nTry a longer pause.", "by": "ada" }])
    );
    let not_named = server
        .graphql(&lee, comment, json!({ "r": recording, "o": 100, "t": "x" }))
        .await;
    assert_eq!(code(&not_named), "FORBIDDEN", "{not_named}");
    assert_eq!(
        not_named["errors"][0]["extensions"]["reasons"],
        json!(["consent_does_not_cover"]),
        "{not_named}"
    );
    let past_end = server
        .graphql(
            &ada,
            comment,
            json!({ "r": recording, "o": 60_000, "t": "x" }),
        )
        .await;
    assert_eq!(code(&past_end), "BAD_USER_INPUT", "{past_end}");
    let nul = server
        .graphql(
            &ada,
            comment,
            json!({ "r": recording, "o": 100, "t": "a\u{0}b" }),
        )
        .await;
    assert_eq!(code(&nul), "BAD_USER_INPUT", "{nul}");

    let read = "query($r: UUID!) { recordingNotes(recordingId: $r, purpose: COURSE_ASSESSMENT) { bookmarks { offsetMs text by } comments { text } } }";
    for reader in [sam, &ada] {
        let notes = server.ok(reader, read, json!({ "r": recording })).await;
        assert_eq!(
            notes["recordingNotes"]["bookmarks"],
            json!([{ "offsetMs": 500, "text": "Opening", "by": "sam" }])
        );
        assert_eq!(
            notes["recordingNotes"]["comments"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
    for outsider in [&lee, &clinic.admin] {
        let refused = server
            .graphql(outsider, read, json!({ "r": recording }))
            .await;
        assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    }

    server
        .ok(
            sam,
            "mutation($r: UUID!) { destroyRecording(recordingId: $r) { status } }",
            json!({ "r": recording }),
        )
        .await;
    let gone = server.ok(sam, read, json!({ "r": recording })).await;
    assert_eq!(
        gone["recordingNotes"],
        json!({ "bookmarks": [], "comments": [] }),
        "the notes went with the recording's key"
    );
}

/// Every text a person types has a stated limit, and dates lie near today: too long, a NUL, or
/// a far date is `BAD_USER_INPUT`, and nothing is written.
async fn inputs_have_limits(server: Server) {
    let clinic = Clinic::new(TENANT).open_over_http(&server).await;
    let sam = &clinic.practitioner;
    let before = server.log_size(TENANT).await;
    let huge = "x".repeat(48 * 1024);
    for (name, contact) in [
        (huge.as_str(), "c"),
        ("a\u{0}b", "c"),
        ("Ok Name", huge.as_str()),
    ] {
        let refused = server
            .graphql(
                sam,
                "mutation($n: String!, $c: String) { registerClient(name: $n, contact: $c) }",
                json!({ "n": name, "c": contact }),
            )
            .await;
        assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.len() < 200,
            "the message does not echo the input: {message}"
        );
    }
    for on in ["1900-01-01", "9999-12-31"] {
        let refused = server
            .graphql(
                sam,
                "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
                json!({ "c": clinic.consent, "d": on }),
            )
            .await;
        assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    }
    assert_eq!(server.log_size(TENANT).await, before, "nothing was written");
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    a_course_that_ends_takes_its_recordings_with_it,
    a_credential_decision_ends_the_consent_given_for_it,
    the_coaching_company_records_after_a_notice_and_the_client_opts_out,
    a_client_link_reaches_only_its_own_clients_recordings,
    another_tenants_consent_is_not_found,
    a_client_stops_part_way_and_nothing_after_is_stored,
    a_tutors_comments_are_sealed_and_read_back,
    inputs_have_limits,
);
