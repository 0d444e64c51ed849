//! How long one access decision takes, against a trivial baseline measured in the same run.
//!
//! Run with `cargo bench -p confide-domain --bench access_decision`. The world is a realistic
//! one: a tenant, four consents about the client (one given with three purposes and named
//! audiences, one withdrawn, one superseded, one refused), a stored recording with a
//! transcript, and two grants. The target (`docs/design.md` section 6) is under 10 µs per
//! decision.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use confide_domain::aggregates::Aggregate;
use confide_domain::aggregates::consent::{
    Audience, CollectionMethod, Consent, ConsentEvent, ConsentScope, Evidence, PurposeTerms,
};
use confide_domain::aggregates::consent_form::FormRef;
use confide_domain::aggregates::grant::{Grant, GrantEvent, Grantee};
use confide_domain::aggregates::recording::{Recording, RecordingEvent, TranscriptSpan};
use confide_domain::policy::{
    ClientCopies, ConsentModel, MediaPolicy, TenantPolicy, VersionedPolicy,
};
use confide_domain::vocabulary::Derivative;
use confide_domain::{
    AccessRequest, Actor, ClientId, ConsentFormId, ConsentId, GrantId, Jurisdiction, KeyId,
    Language, Medium, Offset, Purpose, RecordingId, Role, Sealed, Sha256, TenantId, TranscriptId,
    UserId, Viewer, decide_access,
};
use uuid::Uuid;

const BATCH: usize = 100;
const SAMPLES: usize = 20_000;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n)
}

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("a valid user id")
}

fn at(day: i64) -> DateTime<Utc> {
    let start: DateTime<Utc> = "2025-01-06T09:00:00Z".parse().expect("a valid time");
    start + TimeDelta::days(day)
}

fn session() -> NaiveDate {
    at(1).date_naive()
}

struct World {
    tenant: TenantId,
    policy: VersionedPolicy,
    recording: Recording,
    consents: Vec<Consent>,
    grants: Vec<Grant>,
}

fn consent(n: u128, tenant: &TenantId, ending: Option<ConsentEvent>) -> Consent {
    let client = ClientId::from_uuid(id(1)).expect("id");
    let form = FormRef {
        consent_form_id: ConsentFormId::from_uuid(id(3)).expect("id"),
        version: 1,
        text_sha256: Sha256::of(b"form text"),
    };
    let purpose = |purpose, users: &[&str], media: &[Medium]| PurposeTerms {
        purpose,
        audience: Audience::users(users.iter().map(|u| user(u))),
        media: media.iter().copied().collect(),
        derivatives: BTreeSet::from([Derivative::Transcript, Derivative::Excerpt]),
    };
    let mut events = vec![
        ConsentEvent::ConsentRequested {
            consent_id: ConsentId::from_uuid(id(n)).expect("id"),
            tenant_id: tenant.clone(),
            client_id: client,
            practitioner: user("sam"),
            scope: ConsentScope::Engagement,
            course_id: None,
            terms: vec![
                purpose(
                    Purpose::CourseAssessment,
                    &["ada", "bob"],
                    &[Medium::Audio, Medium::Transcript],
                ),
                purpose(Purpose::Supervision, &["cai"], &[Medium::Audio]),
                purpose(Purpose::Credentialing, &["icf-assessor"], &[Medium::Audio]),
            ],
            expiry: None,
            form: form.clone(),
            renews: None,
            by: Actor::user(user("sam")),
            at: at(0),
        },
        ConsentEvent::ConsentGiven {
            evidence: Evidence {
                form,
                collected_by: CollectionMethod::ClientLinkSignature,
                typed_name: Sealed::new(KeyId::parse("client-key").expect("key"), "bmFtZQ==")
                    .expect("sealed"),
                signed_at: at(0),
                jurisdiction: Jurisdiction::UkGdpr,
                language: Language::parse("en-GB").expect("language"),
            },
            by: Actor::client(client),
            at: at(0),
        },
    ];
    events.extend(ending);
    Consent::from_events(&events)
}

fn world() -> World {
    let tenant = TenantId::parse("community-counselling").expect("tenant");
    let client = ClientId::from_uuid(id(1)).expect("id");
    let by_client = Actor::client(client);
    let consents = vec![
        consent(
            10,
            &tenant,
            Some(ConsentEvent::ConsentWithdrawn {
                deletion_requested: false,
                by: by_client.clone(),
                at: at(0),
            }),
        ),
        consent(
            11,
            &tenant,
            Some(ConsentEvent::ConsentSuperseded {
                superseded_by: ConsentId::from_uuid(id(2)).expect("id"),
                by: by_client.clone(),
                at: at(0),
            }),
        ),
        consent(
            12,
            &tenant,
            Some(ConsentEvent::ConsentPurposeWithdrawn {
                purpose: Purpose::CourseAssessment,
                by: by_client,
                at: at(0),
            }),
        ),
        consent(2, &tenant, None),
    ];
    let recording_id = RecordingId::from_uuid(id(4)).expect("id");
    let recording = Recording::from_events(&[
        RecordingEvent::RecordingCreated {
            recording_id,
            tenant_id: tenant.clone(),
            client_id: client,
            practitioner: user("sam"),
            course_id: None,
            session_on: session(),
            medium: Medium::Audio,
            consent_id: ConsentId::from_uuid(id(2)).expect("id"),
            consent_version: 2,
            by: Actor::user(user("sam")),
            at: at(1),
        },
        RecordingEvent::RecordingStored {
            sha256: Sha256::of(b"media"),
            bytes: 48_000_000,
            duration: Offset::from_millis(3_000_000).expect("offset"),
            data_key_id: KeyId::parse("recording-key").expect("key"),
            codec: "pcm_s16le".to_owned(),
            content_type: "audio/wav".to_owned(),
            object_key: "tenant/recording/upload".to_owned(),
            by: Actor::user(user("sam")),
            at: at(1),
        },
        RecordingEvent::TranscriptAttached {
            transcript_id: TranscriptId::from_uuid(id(40)).expect("id"),
            span: TranscriptSpan::Whole,
            purpose: Purpose::CourseAssessment,
            sha256: Sha256::of(b"WEBVTT"),
            by: Actor::user(user("sam")),
            at: at(1),
        },
    ]);
    let grant = |n, grantee, purpose| {
        Grant::from_events(&[GrantEvent::AccessGranted {
            grant_id: GrantId::from_uuid(id(n)).expect("id"),
            tenant_id: tenant.clone(),
            recording_id,
            consent_id: ConsentId::from_uuid(id(2)).expect("id"),
            consent_version: 2,
            grantee,
            purpose,
            expires_at: at(32),
            by: Actor::user(user("sam")),
            at: at(2),
        }])
    };
    let grants = vec![
        grant(
            50,
            Grantee::Member {
                user_id: user("cai"),
            },
            Purpose::Supervision,
        ),
        grant(
            51,
            Grantee::ExternalAssessor {
                user_id: user("icf-assessor"),
            },
            Purpose::Credentialing,
        ),
    ];
    World {
        policy: VersionedPolicy {
            tenant_id: tenant.clone(),
            version: 4,
            policy: TenantPolicy {
                consent_model: ConsentModel::WrittenOptIn,
                allowed_media: MediaPolicy::AudioOnly,
                practitioner_self_access: true,
                client_copies: ClientCopies::OnRequestReviewed,
                retention_days: 365,
                course_grace_days: 14,
                jurisdiction: Jurisdiction::UkGdpr,
            },
        },
        tenant,
        recording,
        consents,
        grants,
    }
}

struct Stats {
    mean_ns: f64,
    p50_ns: f64,
    p99_ns: f64,
}

/// Times `f` in batches of `BATCH` calls and reports per-call figures.
fn measure(mut f: impl FnMut() -> bool) -> Stats {
    for _ in 0..2_000 {
        black_box(f());
    }
    let mut per_call: Vec<f64> = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(f());
        }
        per_call.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    per_call.sort_by(f64::total_cmp);
    let mean_ns = per_call.iter().sum::<f64>() / per_call.len() as f64;
    let pick = |q: f64| per_call[((per_call.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        mean_ns,
        p50_ns: pick(0.50),
        p99_ns: pick(0.99),
    }
}

fn main() {
    let w = world();
    let viewers = [
        (
            "allow: tutor by role rule",
            Viewer::Member {
                user_id: user("ada"),
                roles: BTreeSet::from([Role::Tutor]),
            },
            Purpose::CourseAssessment,
            Medium::Audio,
            true,
        ),
        (
            "allow: external assessor by grant",
            Viewer::ExternalAssessor {
                user_id: user("icf-assessor"),
            },
            Purpose::Credentialing,
            Medium::Audio,
            true,
        ),
        (
            "deny: auditor, video, not named",
            Viewer::Member {
                user_id: user("aude"),
                roles: BTreeSet::from([Role::Auditor]),
            },
            Purpose::QualityAssurance,
            Medium::Video,
            false,
        ),
    ];

    // The baseline is the least any decision must do: look the viewer up in one audience.
    let audience: BTreeSet<UserId> = ["ada", "bob", "cai"].iter().map(|u| user(u)).collect();
    let probe = user("bob");
    let baseline = measure(|| black_box(&audience).contains(black_box(&probe)));

    println!("access decision, {SAMPLES} samples of {BATCH} calls each (per-call times)");
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>12}",
        "case", "mean", "p50", "p99", "x baseline"
    );
    println!(
        "{:<36} {:>8.0}ns {:>8.0}ns {:>8.0}ns {:>12}",
        "baseline: one audience lookup", baseline.mean_ns, baseline.p50_ns, baseline.p99_ns, "1.0"
    );
    let mut worst_p99: f64 = 0.0;
    for (name, viewer, purpose, medium, expect_allow) in &viewers {
        let request = AccessRequest {
            tenant_id: &w.tenant,
            viewer,
            recording: &w.recording,
            purpose: *purpose,
            medium: *medium,
            at: at(10),
            consents: &w.consents,
            grants: &w.grants,
            policy: &w.policy,
        };
        assert_eq!(
            decide_access(&request).is_allowed(),
            *expect_allow,
            "{name}: {:?}",
            decide_access(&request)
        );
        let stats = measure(|| decide_access(black_box(&request)).is_allowed());
        worst_p99 = worst_p99.max(stats.p99_ns);
        println!(
            "{:<36} {:>8.0}ns {:>8.0}ns {:>8.0}ns {:>12.1}",
            name,
            stats.mean_ns,
            stats.p50_ns,
            stats.p99_ns,
            stats.mean_ns / baseline.mean_ns.max(0.001)
        );
    }
    let verdict = if worst_p99 < 10_000.0 {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "target: a decision under 10 µs; worst p99 {:.2} µs: {verdict}",
        worst_p99 / 1000.0
    );
}
