//! Property tests pinning the access decision's invariants over generated worlds: random
//! policies, consents in every state, audiences, media, recordings, viewers and grants.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::*;
use crate::aggregates::Aggregate;
use crate::aggregates::consent::{
    Audience, Consent, ConsentEvent, ConsentScope, Expiry, ExpiryCause, PurposeTerms,
};
use crate::aggregates::grant::{GrantEvent, RevocationReason};
use crate::aggregates::recording::{DestructionReason, RecordingEvent, TranscriptSpan};
use crate::context::{Actor, SystemJob};
use crate::ids::{ConsentId, GrantId, TranscriptId};
use crate::policy::{ConsentModel, MediaPolicy, TenantPolicy};
use crate::testing::*;
use crate::vocabulary::{Derivative, Jurisdiction, Medium, Sha256};

/// The people in generated worlds; "sam" is always the recording's practitioner.
const PEOPLE: &[&str] = &["sam", "ada", "bob", "rita", "ext"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifecycle {
    Requested,
    InForce,
    Refused,
    Withdrawn,
    Expired,
    Superseded,
    OptedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecState {
    Awaiting,
    Stored,
    Scheduled,
    Destroyed,
}

#[derive(Clone, Debug)]
enum ViewerSpec {
    Member(usize, BTreeSet<Role>),
    External(usize),
    Client,
}

#[derive(Clone, Debug)]
struct PurposeSpec {
    purpose: Purpose,
    users: BTreeSet<usize>,
    roles: BTreeSet<Role>,
    media: BTreeSet<Medium>,
}

#[derive(Clone, Debug)]
struct GrantSpec {
    purpose: Purpose,
    expires_day: i64,
    revoked: bool,
}

#[derive(Clone, Debug)]
struct World {
    policy: TenantPolicy,
    purposes: Vec<PurposeSpec>,
    expiry_day: Option<i64>,
    lifecycle: Lifecycle,
    rec_medium: Medium,
    rec_state: RecState,
    transcript: bool,
    viewer: ViewerSpec,
    grant: Option<GrantSpec>,
    purpose: Purpose,
    medium: Medium,
    at_day: i64,
}

fn purpose() -> impl Strategy<Value = Purpose> {
    prop::sample::select(Purpose::ALL.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn medium() -> impl Strategy<Value = Medium> {
    prop::sample::select(Medium::ALL.to_vec())
}

fn policy() -> impl Strategy<Value = TenantPolicy> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![
            crate::policy::ClientCopies::Allowed,
            crate::policy::ClientCopies::OnRequestReviewed,
            crate::policy::ClientCopies::Never,
        ]),
    )
        .prop_map(|(notice, video, self_access, client_copies)| TenantPolicy {
            consent_model: if notice {
                ConsentModel::NotifiedOptOut
            } else {
                ConsentModel::WrittenOptIn
            },
            allowed_media: if video {
                MediaPolicy::AudioAndVideo
            } else {
                MediaPolicy::AudioOnly
            },
            practitioner_self_access: self_access,
            client_copies,
            retention_days: 365,
            course_grace_days: 14,
            jurisdiction: Jurisdiction::Gdpr,
        })
}

fn purpose_spec() -> impl Strategy<Value = PurposeSpec> {
    (
        purpose(),
        prop::collection::btree_set(0..PEOPLE.len(), 0..4),
        prop::collection::btree_set(role(), 0..2),
        prop::collection::btree_set(medium(), 1..4),
    )
        .prop_map(|(purpose, users, roles, media)| PurposeSpec {
            purpose,
            users,
            roles,
            media,
        })
}

fn viewer() -> impl Strategy<Value = ViewerSpec> {
    prop_oneof![
        6 => (0..PEOPLE.len(), prop::collection::btree_set(role(), 1..3))
            .prop_map(|(i, roles)| ViewerSpec::Member(i, roles)),
        2 => (0..PEOPLE.len()).prop_map(ViewerSpec::External),
        1 => Just(ViewerSpec::Client),
    ]
}

fn world() -> impl Strategy<Value = World> {
    (
        policy(),
        prop::collection::vec(purpose_spec(), 1..4),
        prop::option::of(1i64..60),
        prop::sample::select(vec![
            Lifecycle::Requested,
            Lifecycle::InForce,
            Lifecycle::InForce,
            Lifecycle::InForce,
            Lifecycle::Refused,
            Lifecycle::Withdrawn,
            Lifecycle::Expired,
            Lifecycle::Superseded,
            Lifecycle::OptedOut,
        ]),
        (
            prop::sample::select(vec![Medium::Audio, Medium::Video]),
            prop::sample::select(vec![
                RecState::Awaiting,
                RecState::Stored,
                RecState::Stored,
                RecState::Stored,
                RecState::Scheduled,
                RecState::Destroyed,
            ]),
            any::<bool>(),
        ),
        viewer(),
        prop::option::of((purpose(), 1i64..60, prop::bool::weighted(0.2))),
        (purpose(), medium(), 2i64..60),
    )
        .prop_map(
            |(
                policy,
                purposes,
                expiry_day,
                lifecycle,
                (rec_medium, rec_state, transcript),
                viewer,
                grant,
                (purpose, medium, at_day),
            )| {
                World {
                    policy,
                    purposes,
                    expiry_day,
                    lifecycle,
                    rec_medium,
                    rec_state,
                    transcript,
                    viewer,
                    grant: grant.map(|(purpose, expires_day, revoked)| GrantSpec {
                        purpose,
                        expires_day,
                        revoked,
                    }),
                    purpose,
                    medium,
                    at_day,
                }
            },
        )
}

/// Generated worlds, half of them built to allow unless the property's change forbids it,
/// so that each property is tested against worlds where the rule under test is what decides.
fn any_world() -> impl Strategy<Value = World> {
    prop_oneof![world(), friendly_world()]
}

/// A world likely to allow: a given consent naming the viewer, a stored audio recording.
fn friendly_world() -> impl Strategy<Value = World> {
    (world(), 1..PEOPLE.len()).prop_map(|(mut w, who)| {
        w.lifecycle = Lifecycle::InForce;
        w.rec_state = RecState::Stored;
        w.rec_medium = Medium::Audio;
        w.medium = Medium::Audio;
        w.expiry_day = None;
        w.viewer = ViewerSpec::Member(who, BTreeSet::from([Role::Tutor]));
        w.purpose = Purpose::CourseAssessment;
        w.purposes.push(PurposeSpec {
            purpose: Purpose::Supervision,
            users: BTreeSet::from([who]),
            roles: BTreeSet::new(),
            media: BTreeSet::from([Medium::Audio]),
        });
        w.purposes
            .retain(|p| p.purpose != Purpose::CourseAssessment);
        w.purposes.push(PurposeSpec {
            purpose: Purpose::CourseAssessment,
            users: BTreeSet::from([who]),
            roles: BTreeSet::new(),
            media: BTreeSet::from([Medium::Audio]),
        });
        w
    })
}

struct Built {
    tenant_id: TenantId,
    policy: VersionedPolicy,
    recording: crate::aggregates::recording::Recording,
    consents: Vec<Consent>,
    grants: Vec<Grant>,
    viewer: Viewer,
    at: DateTime<Utc>,
}

fn people(ids: &BTreeSet<usize>) -> BTreeSet<UserId> {
    ids.iter().map(|i| user(PEOPLE[*i])).collect()
}

fn terms_of(w: &World) -> Vec<PurposeTerms> {
    let mut seen = BTreeSet::new();
    w.purposes
        .iter()
        .filter(|p| seen.insert(p.purpose))
        .map(|p| PurposeTerms {
            purpose: p.purpose,
            audience: Audience {
                users: people(&p.users),
                roles: p.roles.clone(),
            },
            media: p.media.clone(),
            derivatives: BTreeSet::from([Derivative::Transcript]),
        })
        .collect()
}

fn consent_events(w: &World, tenant: &TenantId, lifecycle: Lifecycle) -> Vec<ConsentEvent> {
    let client = Actor::client(client_id());
    let mut events = Vec::new();
    if w.policy.consent_model == ConsentModel::NotifiedOptOut {
        events.push(ConsentEvent::ConsentNoticeGiven {
            consent_id: consent_id(),
            tenant_id: tenant.clone(),
            client_id: client_id(),
            practitioner: user("sam"),
            terms: terms_of(w),
            form: form_ref(1),
            session_on: date(1),
            by: Actor::system(SystemJob::Cascade),
            at: t(0, 10),
        });
    } else {
        events.push(ConsentEvent::ConsentRequested {
            consent_id: consent_id(),
            tenant_id: tenant.clone(),
            client_id: client_id(),
            practitioner: user("sam"),
            scope: ConsentScope::Engagement,
            course_id: None,
            terms: terms_of(w),
            expiry: w.expiry_day.map(|d| Expiry::OnDate { at: t(d, 0) }),
            form: form_ref(1),
            renews: None,
            by: by("sam"),
            at: t(0, 9),
        });
        if lifecycle != Lifecycle::Requested {
            if lifecycle == Lifecycle::Refused {
                events.push(ConsentEvent::ConsentRefused {
                    by: client.clone(),
                    at: t(0, 10),
                });
                return events;
            }
            events.push(consent_given());
        }
    }
    match lifecycle {
        Lifecycle::Withdrawn => events.push(ConsentEvent::ConsentWithdrawn {
            deletion_requested: false,
            by: client,
            at: t(1, 12),
        }),
        Lifecycle::Expired => events.push(ConsentEvent::ConsentExpired {
            cause: ExpiryCause::DateReached,
            by: Actor::system(SystemJob::Cascade),
            at: t(1, 12),
        }),
        Lifecycle::Superseded => events.push(ConsentEvent::ConsentSuperseded {
            superseded_by: ConsentId::from_uuid(uuid(20)).unwrap(),
            by: Actor::system(SystemJob::Cascade),
            at: t(1, 12),
        }),
        Lifecycle::OptedOut => events.push(ConsentEvent::ConsentOptedOut {
            deletion_requested: false,
            by: client,
            at: t(1, 12),
        }),
        Lifecycle::Requested | Lifecycle::Refused
            if w.policy.consent_model == ConsentModel::NotifiedOptOut =>
        {
            // A notice has no "requested" or "refused" state; refusing is opting out.
            events.push(ConsentEvent::ConsentOptedOut {
                deletion_requested: false,
                by: client,
                at: t(0, 11),
            });
        }
        _ => {}
    }
    events
}

fn recording_events(w: &World, tenant: &TenantId) -> Vec<RecordingEvent> {
    let mut events = vec![RecordingEvent::RecordingCreated {
        recording_id: recording_id(),
        tenant_id: tenant.clone(),
        client_id: client_id(),
        practitioner: user("sam"),
        course_id: None,
        session_on: date(1),
        medium: w.rec_medium,
        consent_id: consent_id(),
        consent_version: 2,
        by: by("sam"),
        at: t(1, 9),
    }];
    if w.rec_state == RecState::Awaiting {
        return events;
    }
    events.push(recording_stored());
    if w.transcript {
        events.push(RecordingEvent::TranscriptAttached {
            transcript_id: TranscriptId::from_uuid(uuid(40)).unwrap(),
            span: TranscriptSpan::Whole,
            purpose: Purpose::CourseAssessment,
            sha256: Sha256::of(b"WEBVTT"),
            by: by("sam"),
            at: t(1, 12),
        });
    }
    match w.rec_state {
        RecState::Scheduled => events.push(RecordingEvent::RecordingDestructionScheduled {
            due: t(1, 13),
            reason: DestructionReason::Manual,
            by: by("sam"),
            at: t(1, 13),
        }),
        RecState::Destroyed => events.push(RecordingEvent::RecordingDestroyed {
            reason: DestructionReason::Manual,
            destroyed_key_id: Some(data_key()),
            object_sha256s: vec![],
            transcript_ids: vec![],
            by: by("sam"),
            at: t(1, 13),
        }),
        _ => {}
    }
    events
}

fn grant_events(w: &World, tenant: &TenantId, viewer: &Viewer) -> Vec<GrantEvent> {
    let Some(spec) = &w.grant else { return vec![] };
    let grantee = viewer.grantee();
    let mut events = vec![GrantEvent::AccessGranted {
        grant_id: GrantId::from_uuid(uuid(50)).unwrap(),
        tenant_id: tenant.clone(),
        recording_id: recording_id(),
        consent_id: consent_id(),
        consent_version: 2,
        grantee,
        purpose: spec.purpose,
        expires_at: t(spec.expires_day, 0),
        by: by("sam"),
        at: t(1, 14),
    }];
    if spec.revoked {
        events.push(GrantEvent::AccessRevoked {
            reason: RevocationReason::RevokedByGrantor,
            by: by("sam"),
            at: t(1, 15),
        });
    }
    events
}

fn build_in(w: &World, data_tenant: &TenantId) -> Built {
    let viewer = match &w.viewer {
        ViewerSpec::Member(i, roles) => Viewer::Member {
            user_id: user(PEOPLE[*i]),
            roles: roles.clone(),
        },
        ViewerSpec::External(i) => Viewer::ExternalAssessor {
            user_id: user(PEOPLE[*i]),
        },
        ViewerSpec::Client => Viewer::Client {
            client_id: client_id(),
        },
    };
    Built {
        tenant_id: tenant_id(),
        policy: VersionedPolicy {
            tenant_id: tenant_id(),
            version: 3,
            policy: w.policy.clone(),
        },
        recording: Aggregate::from_events(&recording_events(w, data_tenant)),
        consents: vec![Consent::from_events(&consent_events(
            w,
            data_tenant,
            w.lifecycle,
        ))],
        grants: vec![Grant::from_events(&grant_events(w, data_tenant, &viewer))],
        viewer,
        at: t(w.at_day, 0),
    }
}

fn build(w: &World) -> Built {
    build_in(w, &tenant_id())
}

fn decide(b: &Built, purpose: Purpose, medium: Medium) -> AccessDecision {
    decide_access(&AccessRequest {
        tenant_id: &b.tenant_id,
        viewer: &b.viewer,
        recording: &b.recording,
        purpose,
        medium,
        at: b.at,
        consents: &b.consents,
        grants: &b.grants,
        policy: &b.policy,
    })
}

fn decide_world(w: &World) -> AccessDecision {
    decide(&build(w), w.purpose, w.medium)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_consent_not_in_force_never_allows(
        mut w in any_world(),
        lifecycle in prop::sample::select(vec![
            Lifecycle::Requested, Lifecycle::Refused, Lifecycle::Withdrawn,
            Lifecycle::Expired, Lifecycle::Superseded, Lifecycle::OptedOut,
        ]),
    ) {
        w.lifecycle = lifecycle;
        prop_assert!(!decide_world(&w).is_allowed(), "{lifecycle:?} allowed");
    }

    #[test]
    fn a_consent_past_its_expiry_date_never_allows(mut w in friendly_world(), day in 2i64..30, after in 0i64..30) {
        w.expiry_day = Some(day);
        w.at_day = day + after;
        w.policy.consent_model = ConsentModel::WrittenOptIn;
        prop_assert!(!decide_world(&w).is_allowed());
    }

    #[test]
    fn a_viewer_not_in_the_named_audience_never_plays(mut w in any_world()) {
        let me = match &w.viewer {
            ViewerSpec::Member(i, _) | ViewerSpec::External(i) => Some(*i),
            ViewerSpec::Client => None,
        };
        for p in &mut w.purposes {
            if let Some(i) = me {
                p.users.remove(&i);
            }
            p.roles.clear();
        }
        if me.is_none() {
            // The client's only audience is their own copy.
            w.purpose = Purpose::Supervision;
        }
        prop_assert!(!decide_world(&w).is_allowed());
    }

    #[test]
    fn auditors_and_funders_never_play_media(
        mut w in friendly_world(),
        bad in prop::sample::select(vec![Role::Auditor, Role::Funder]),
        with_grant in any::<bool>(),
    ) {
        if let ViewerSpec::Member(_, roles) = &mut w.viewer {
            roles.insert(bad);
        }
        if with_grant {
            w.grant = Some(GrantSpec { purpose: w.purpose, expires_day: 90, revoked: false });
        }
        let decision = decide_world(&w);
        prop_assert!(!decision.is_allowed());
        let AccessDecision::Deny { reasons } = decision else { unreachable!() };
        let expected = DenyReason::RoleNeverPlaysMedia { role: bad };
        prop_assert!(reasons.contains(&expected), "{:?} lacks {:?}", reasons, expected);
    }

    #[test]
    fn an_org_admin_plays_only_through_a_purpose(mut w in friendly_world(), grant in any::<bool>()) {
        if let ViewerSpec::Member(_, roles) = &mut w.viewer {
            *roles = BTreeSet::from([Role::OrgAdmin]);
        }
        w.grant = grant.then_some(GrantSpec { purpose: w.purpose, expires_day: 90, revoked: false });
        let decision = decide_world(&w);
        // Without a grant the role alone never plays; with one, the same rules as anyone.
        prop_assert_eq!(decision.is_allowed(), grant && !is_self_play_refused(&w));
    }

    #[test]
    fn a_destroyed_or_unstored_or_doomed_recording_never_plays(
        mut w in any_world(),
        state in prop::sample::select(vec![RecState::Destroyed, RecState::Awaiting, RecState::Scheduled]),
    ) {
        w.rec_state = state;
        prop_assert!(!decide_world(&w).is_allowed());
    }

    #[test]
    fn another_tenants_anything_never_allows(w in any_world()) {
        let mut b = build(&w);
        // The request is made in another tenant.
        b.tenant_id = other_tenant_id();
        prop_assert_eq!(decide(&b, w.purpose, w.medium), AccessDecision::Deny { reasons: vec![DenyReason::OtherTenant] });
        // The policy handed in is another tenant's.
        let mut b = build(&w);
        b.policy.tenant_id = other_tenant_id();
        prop_assert!(!decide(&b, w.purpose, w.medium).is_allowed());
        // The recording, consents and grants are another tenant's.
        let b = build_in(&w, &other_tenant_id());
        prop_assert!(!decide(&b, w.purpose, w.medium).is_allowed());
        // Only the consents and grants are another tenant's.
        let mut b = build(&w);
        let foreign = build_in(&w, &other_tenant_id());
        b.consents = foreign.consents;
        b.grants = foreign.grants;
        prop_assert!(!decide(&b, w.purpose, w.medium).is_allowed());
    }

    #[test]
    fn withdrawing_one_purpose_leaves_the_others_intact(w in any_world(), pick in any::<prop::sample::Index>()) {
        let b = build(&w);
        let purposes: Vec<Purpose> = b.consents[0].purposes().keys().copied().collect();
        let withdrawn = purposes[pick.index(purposes.len())];
        let mut after = build(&w);
        after.consents = vec![b.consents[0].clone().apply(&ConsentEvent::ConsentPurposeWithdrawn {
            purpose: withdrawn,
            by: Actor::client(client_id()),
            at: t(1, 16),
        })];
        for purpose in Purpose::ALL.iter().copied() {
            for medium in Medium::ALL.iter().copied() {
                let before = decide(&b, purpose, medium);
                let now = decide(&after, purpose, medium);
                if purpose == withdrawn {
                    prop_assert!(!now.is_allowed());
                } else {
                    prop_assert_eq!(before.is_allowed(), now.is_allowed(), "{:?} changed", purpose);
                    if let (AccessDecision::Allow { basis: x }, AccessDecision::Allow { basis: y }) = (&before, &now) {
                        prop_assert_eq!(x.consent_id, y.consent_id);
                        prop_assert_eq!(x.grant_id, y.grant_id);
                        prop_assert_eq!(y.consent_version, x.consent_version + 1);
                    }
                }
            }
        }
    }

    #[test]
    fn practitioners_play_their_own_recordings_only_if_policy_allows(mut w in friendly_world()) {
        w.viewer = ViewerSpec::Member(0, BTreeSet::from([Role::Practitioner]));
        w.purpose = Purpose::PractitionerReflection;
        w.purposes.push(PurposeSpec {
            purpose: Purpose::PractitionerReflection,
            users: BTreeSet::from([0]),
            roles: BTreeSet::new(),
            media: BTreeSet::from([Medium::Audio]),
        });
        w.purposes.retain(|p| p.purpose != Purpose::PractitionerReflection || p.users.contains(&0));
        w.grant = None;
        let allowed = decide_world(&w).is_allowed();
        if !w.policy.practitioner_self_access {
            prop_assert!(!allowed);
        }
        // And with a grant to themselves it is still refused without self-access.
        w.grant = Some(GrantSpec { purpose: w.purpose, expires_day: 90, revoked: false });
        if !w.policy.practitioner_self_access {
            prop_assert!(!decide_world(&w).is_allowed());
        }
    }

    #[test]
    fn video_plays_only_if_both_policy_and_consent_allow_it(w in any_world()) {
        let b = build(&w);
        if decide(&b, w.purpose, Medium::Video).is_allowed() {
            prop_assert_eq!(w.policy.allowed_media, MediaPolicy::AudioAndVideo);
            let terms = &b.consents[0].purposes()[&w.purpose].terms;
            prop_assert!(terms.media.contains(&Medium::Video));
        }
    }

    #[test]
    fn an_expired_or_revoked_grant_is_no_basis(mut w in friendly_world(), expired in any::<bool>()) {
        w.viewer = ViewerSpec::External(4);
        for p in &mut w.purposes {
            p.users.insert(4);
        }
        w.grant = Some(if expired {
            GrantSpec { purpose: w.purpose, expires_day: w.at_day, revoked: false }
        } else {
            GrantSpec { purpose: w.purpose, expires_day: w.at_day + 1, revoked: true }
        });
        prop_assert!(!decide_world(&w).is_allowed());
        // The same grant, live, does allow: the test is about the grant, not the world.
        w.grant = Some(GrantSpec { purpose: w.purpose, expires_day: w.at_day + 1, revoked: false });
        let decision = decide_world(&w);
        prop_assert!(decision.is_allowed(), "{decision:?}");
    }

    /// What lets a decision read only the consents whose scope includes the recording's
    /// session: the others, in any state and in any place of the list, change nothing, not
    /// even the reasons of a refusal.
    #[test]
    fn consents_about_other_sessions_change_nothing(
        w in any_world(),
        lifecycle in prop::sample::select(vec![
            Lifecycle::Requested, Lifecycle::InForce, Lifecycle::Withdrawn,
        ]),
        first in any::<bool>(),
    ) {
        let alone = decide_world(&w);
        let mut with_other = build(&w);
        let other = other_session_consent(&w, lifecycle);
        if first {
            with_other.consents.insert(0, other);
        } else {
            with_other.consents.push(other);
        }
        prop_assert_eq!(decide(&with_other, w.purpose, w.medium), alone);
    }

    /// What lets a decision read only the grants naming its viewer: a grant to anyone else
    /// changes nothing.
    #[test]
    fn grants_to_other_viewers_change_nothing(mut w in friendly_world(), other in 0usize..PEOPLE.len()) {
        w.grant = Some(GrantSpec { purpose: w.purpose, expires_day: 30, revoked: false });
        let alone = decide_world(&w);
        let mut with_other = build(&w);
        let someone_else = Viewer::ExternalAssessor { user_id: user(&format!("{}-not", PEOPLE[other])) };
        with_other.grants.insert(0, Grant::from_events(&grant_events(&w, &tenant_id(), &someone_else)));
        prop_assert_eq!(decide(&with_other, w.purpose, w.medium), alone);
    }

    #[test]
    fn an_allow_names_its_basis(w in any_world()) {
        let b = build(&w);
        if let AccessDecision::Allow { basis } = decide(&b, w.purpose, w.medium) {
            prop_assert_eq!(basis.consent_id, consent_id());
            prop_assert_eq!(basis.consent_version, b.consents[0].version());
            prop_assert_eq!(basis.policy_version, 3);
            prop_assert!(b.consents[0].status().is_some_and(|s| s.is_in_force()));
            if let Some(grant_id) = basis.grant_id {
                prop_assert_eq!(grant_id, GrantId::from_uuid(uuid(50)).unwrap());
            }
        }
    }
}

/// A written consent about the same client and practitioner with the same terms, but for
/// another session (the recording is of `date(1)`), left at `lifecycle`.
fn other_session_consent(w: &World, lifecycle: Lifecycle) -> Consent {
    let mut events = vec![ConsentEvent::ConsentRequested {
        consent_id: ConsentId::from_uuid(uuid(21)).unwrap(),
        tenant_id: tenant_id(),
        client_id: client_id(),
        practitioner: user("sam"),
        scope: ConsentScope::Session {
            session_on: date(2),
        },
        course_id: None,
        terms: terms_of(w),
        expiry: None,
        form: form_ref(1),
        renews: None,
        by: by("sam"),
        at: t(0, 9),
    }];
    if lifecycle != Lifecycle::Requested {
        events.push(consent_given());
    }
    if lifecycle == Lifecycle::Withdrawn {
        events.push(ConsentEvent::ConsentWithdrawn {
            deletion_requested: false,
            by: Actor::client(client_id()),
            at: t(1, 12),
        });
    }
    Consent::from_events(&events)
}

fn is_self_play_refused(w: &World) -> bool {
    matches!(&w.viewer, ViewerSpec::Member(0, _)) && !w.policy.practitioner_self_access
}

#[test]
fn the_friendly_world_allows_so_the_properties_are_not_vacuous() {
    let w = World {
        policy: written_policy(),
        purposes: vec![PurposeSpec {
            purpose: Purpose::CourseAssessment,
            users: BTreeSet::from([1]),
            roles: BTreeSet::new(),
            media: BTreeSet::from([Medium::Audio]),
        }],
        expiry_day: None,
        lifecycle: Lifecycle::InForce,
        rec_medium: Medium::Audio,
        rec_state: RecState::Stored,
        transcript: false,
        viewer: ViewerSpec::Member(1, BTreeSet::from([Role::Tutor])),
        grant: None,
        purpose: Purpose::CourseAssessment,
        medium: Medium::Audio,
        at_day: 5,
    };
    assert_eq!(
        decide_world(&w),
        AccessDecision::Allow {
            basis: AccessBasis {
                consent_id: consent_id(),
                consent_version: 2,
                grant_id: None,
                policy_version: 3,
            }
        }
    );
}

#[test]
fn a_notice_names_a_role_and_counts_only_under_notified_opt_out() {
    let mut w = World {
        policy: notice_policy(),
        purposes: vec![PurposeSpec {
            purpose: Purpose::QualityAssurance,
            users: BTreeSet::new(),
            roles: BTreeSet::from([Role::Reviewer]),
            media: BTreeSet::from([Medium::Audio, Medium::Video]),
        }],
        expiry_day: None,
        lifecycle: Lifecycle::InForce,
        rec_medium: Medium::Video,
        rec_state: RecState::Stored,
        transcript: false,
        viewer: ViewerSpec::Member(3, BTreeSet::from([Role::Reviewer])),
        grant: None,
        purpose: Purpose::QualityAssurance,
        medium: Medium::Video,
        at_day: 5,
    };
    assert!(decide_world(&w).is_allowed());
    // The same notice under a written opt-in policy allows nothing.
    let b = build(&w);
    w.policy.consent_model = ConsentModel::WrittenOptIn;
    let mut written = build(&w);
    written.consents = b.consents;
    assert!(!decide(&written, Purpose::QualityAssurance, Medium::Video).is_allowed());
}
