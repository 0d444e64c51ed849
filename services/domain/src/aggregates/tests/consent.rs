use chrono::TimeDelta;

use crate::aggregates::Aggregate;
use crate::aggregates::client::{Client, ClientEvent};
use crate::aggregates::consent::*;
use crate::aggregates::consent_form::ConsentForm;
use crate::context::{Actor, Ctx, SystemJob};
use crate::ids::{ConsentId, CourseId};
use crate::testing::*;
use crate::vocabulary::{Medium, Purpose, Role};

fn request(terms: Vec<PurposeTerms>) -> ConsentCommand {
    ConsentCommand::RequestConsent {
        client: client(),
        practitioner: user("sam"),
        scope: ConsentScope::Engagement,
        course_id: None,
        terms,
        expiry: None,
        form: form(),
        form_version: 1,
        renews: None,
    }
}

#[test]
fn request_consent_names_purposes_audience_and_the_form_shown() {
    let tenant = tenant(written_policy());
    let ids = [uuid(2)];
    let ctx = as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids);
    let state = given::<ConsentEvent>([])
        .when(request(assessment_terms()), &ctx)
        .then(vec![consent_requested(
            consent_id(),
            assessment_terms(),
            None,
        )]);
    assert_eq!(state.status(), Some(ConsentStatus::Requested));
    assert_eq!(state.core().unwrap().form, form_ref(1));
}

#[test]
fn request_consent_refuses_video_where_policy_is_audio_only() {
    let tenant = tenant(written_policy());
    let ids = [uuid(2)];
    let ctx = as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids);
    given::<ConsentEvent>([])
        .when(
            request(vec![terms(
                Purpose::Supervision,
                &["ada"],
                &[Medium::Video],
            )]),
            &ctx,
        )
        .then_error("forbidden", "does not allow video");
}

#[test]
fn request_consent_wants_named_people_not_roles_or_nobody() {
    let tenant = tenant(written_policy());
    let ids = [uuid(2)];
    let ctx = as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids);
    let mut by_role = terms(Purpose::Supervision, &[], &[Medium::Audio]);
    by_role.audience = Audience::roles([Role::Tutor]);
    given::<ConsentEvent>([])
        .when(request(vec![by_role]), &ctx)
        .then_error("invalid", "names people");
    given::<ConsentEvent>([])
        .when(
            request(vec![terms(Purpose::Supervision, &[], &[Medium::Audio])]),
            &ctx,
        )
        .then_error("invalid", "names nobody");
    given::<ConsentEvent>([])
        .when(
            request(vec![
                terms(Purpose::Supervision, &["ada"], &[Medium::Audio]),
                terms(Purpose::Supervision, &["bob"], &[Medium::Audio]),
            ]),
            &ctx,
        )
        .then_error("invalid", "named twice");
}

#[test]
fn request_consent_refuses_client_copies_where_policy_gives_none() {
    let mut policy = written_policy();
    policy.client_copies = crate::policy::ClientCopies::Never;
    let tenant = tenant(policy);
    let ids = [uuid(2)];
    let ctx = as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids);
    given::<ConsentEvent>([])
        .when(
            request(vec![terms(Purpose::ClientCopy, &[], &[Medium::Audio])]),
            &ctx,
        )
        .then_error("forbidden", "no copies");
}

#[test]
fn request_consent_needs_a_live_client_a_real_form_and_the_practitioner() {
    let tenant = tenant(written_policy());
    let ids = [uuid(2)];
    let mut erased = client_events();
    erased.push(ClientEvent::ClientErased {
        key_id: client_key(),
        subject_request_id: None,
        by: by("admin"),
        at: t(-1, 9),
    });
    let ctx = as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids);
    let mut command = request(assessment_terms());
    if let ConsentCommand::RequestConsent { client, .. } = &mut command {
        *client = Client::from_events(&erased);
    }
    given::<ConsentEvent>([])
        .when(command, &ctx)
        .then_error("not_found", "client");

    let mut command = request(assessment_terms());
    if let ConsentCommand::RequestConsent { form, .. } = &mut command {
        *form = ConsentForm::default();
    }
    given::<ConsentEvent>([])
        .when(command, &ctx)
        .then_error("not_found", "consent form");

    given::<ConsentEvent>([])
        .when(
            request(assessment_terms()),
            &as_user(&tenant, "pat", t(0, 9)).with_new_ids(&ids),
        )
        .then_error("forbidden", "own sessions");
}

#[test]
fn request_consent_checks_expiry_against_now_and_course() {
    let tenant = tenant(written_policy());
    let ids = [uuid(2)];
    let ctx = as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids);
    let mut command = request(assessment_terms());
    if let ConsentCommand::RequestConsent { expiry, .. } = &mut command {
        *expiry = Some(Expiry::OnDate { at: t(-1, 0) });
    }
    given::<ConsentEvent>([])
        .when(command, &ctx)
        .then_error("invalid", "expire");
    let mut command = request(assessment_terms());
    if let ConsentCommand::RequestConsent { expiry, .. } = &mut command {
        *expiry = Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CourseEnded {
                course_id: CourseId::from_uuid(uuid(7)).unwrap(),
            },
        });
    }
    given::<ConsentEvent>([])
        .when(command, &ctx)
        .then_error("invalid", "that course");
}

#[test]
fn give_consent_through_the_client_link_records_the_evidence() {
    let tenant = tenant(written_policy());
    let state = given([consent_requested(consent_id(), assessment_terms(), None)])
        .when(
            ConsentCommand::GiveConsent {
                evidence: evidence(form_ref(1)),
            },
            &as_client(&tenant, t(0, 10)),
        )
        .then(vec![consent_given()]);
    assert_eq!(state.status(), Some(ConsentStatus::Given));
    assert_eq!(state.given_at(), Some(t(0, 10)));
}

#[test]
fn give_consent_refuses_evidence_for_other_text_or_method() {
    let tenant = tenant(written_policy());
    let h = given::<ConsentEvent>([consent_requested(consent_id(), assessment_terms(), None)]);
    h.when(
        ConsentCommand::GiveConsent {
            evidence: evidence(form_ref(2)),
        },
        &as_client(&tenant, t(0, 10)),
    )
    .then_error("invalid", "different form");
    // A practitioner cannot record a client-link signature on the client's behalf.
    h.when(
        ConsentCommand::GiveConsent {
            evidence: evidence(form_ref(1)),
        },
        &as_user(&tenant, "sam", t(0, 10)),
    )
    .then_error("invalid", "client link");
    // Paper consent, scanned by the practitioner, is fine.
    let mut paper = evidence(form_ref(1));
    paper.collected_by = CollectionMethod::PaperFormScanned;
    h.when(
        ConsentCommand::GiveConsent { evidence: paper },
        &as_user(&tenant, "sam", t(0, 10)),
    )
    .events();
    // Another client's link may not answer for this client.
    let other = Ctx::new(
        tenant_id(),
        &tenant,
        Actor::client(crate::ids::ClientId::from_uuid(uuid(99)).unwrap()),
        t(0, 10),
    );
    h.when(
        ConsentCommand::GiveConsent {
            evidence: evidence(form_ref(1)),
        },
        &other,
    )
    .then_error("forbidden", "its own client");
    // The signature cannot come from the future.
    let mut early = evidence(form_ref(1));
    early.signed_at = t(0, 11);
    h.when(
        ConsentCommand::GiveConsent { evidence: early },
        &as_client(&tenant, t(0, 10)),
    )
    .then_error("invalid", "signed");
}

#[test]
fn give_consent_only_once() {
    let tenant = tenant(written_policy());
    given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::GiveConsent {
                evidence: evidence(form_ref(1)),
            },
            &as_client(&tenant, t(0, 11)),
        )
        .then_error("conflict", "only when requested");
}

#[test]
fn refuse_consent_is_final() {
    let tenant = tenant(written_policy());
    let state = given([consent_requested(consent_id(), assessment_terms(), None)])
        .when(ConsentCommand::RefuseConsent, &as_client(&tenant, t(0, 10)))
        .then(vec![ConsentEvent::ConsentRefused {
            by: Actor::client(client_id()),
            at: t(0, 10),
        }]);
    assert_eq!(state.status(), Some(ConsentStatus::Refused));
    given(given_consent_events(assessment_terms(), None))
        .when(ConsentCommand::RefuseConsent, &as_client(&tenant, t(0, 11)))
        .then_error("conflict", "withdrawn");
}

#[test]
fn withdraw_consent_whole_with_deletion() {
    let tenant = tenant(written_policy());
    let state = given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::WithdrawConsent {
                scope: WithdrawalScope::Whole,
                deletion_requested: true,
            },
            &as_client(&tenant, t(3, 9)),
        )
        .then(vec![ConsentEvent::ConsentWithdrawn {
            deletion_requested: true,
            by: Actor::client(client_id()),
            at: t(3, 9),
        }]);
    assert_eq!(state.status(), Some(ConsentStatus::Withdrawn));
    assert!(state.deletion_requested());
}

#[test]
fn withdraw_one_purpose_leaves_the_others() {
    let tenant = tenant(written_policy());
    let state = given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::WithdrawConsent {
                scope: WithdrawalScope::Purpose {
                    purpose: Purpose::PractitionerReflection,
                },
                deletion_requested: false,
            },
            &as_client(&tenant, t(3, 9)),
        )
        .then(vec![ConsentEvent::ConsentPurposeWithdrawn {
            purpose: Purpose::PractitionerReflection,
            by: Actor::client(client_id()),
            at: t(3, 9),
        }]);
    assert_eq!(state.status(), Some(ConsentStatus::Given));
    assert!(
        state.purposes()[&Purpose::PractitionerReflection]
            .withdrawn_at
            .is_some()
    );
    assert!(
        state.purposes()[&Purpose::CourseAssessment]
            .withdrawn_at
            .is_none()
    );
}

#[test]
fn withdraw_one_audience_member() {
    let tenant = tenant(written_policy());
    let state = given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::WithdrawConsent {
                scope: WithdrawalScope::AudienceMember {
                    purpose: Purpose::CourseAssessment,
                    user_id: user("bob"),
                },
                deletion_requested: false,
            },
            &as_user(&tenant, "sam", t(3, 9)),
        )
        .then(vec![ConsentEvent::ConsentAudienceMemberWithdrawn {
            purpose: Purpose::CourseAssessment,
            user_id: user("bob"),
            by: by("sam"),
            at: t(3, 9),
        }]);
    let audience = &state.purposes()[&Purpose::CourseAssessment]
        .terms
        .audience
        .users;
    assert!(audience.contains(&user("ada")) && !audience.contains(&user("bob")));
}

#[test]
fn withdraw_refuses_partial_deletion_unknown_parts_and_strangers() {
    let tenant = tenant(written_policy());
    let h = given::<ConsentEvent>(given_consent_events(assessment_terms(), None));
    h.when(
        ConsentCommand::WithdrawConsent {
            scope: WithdrawalScope::Purpose {
                purpose: Purpose::CourseAssessment,
            },
            deletion_requested: true,
        },
        &as_client(&tenant, t(3, 9)),
    )
    .then_error("invalid", "whole consent");
    h.when(
        ConsentCommand::WithdrawConsent {
            scope: WithdrawalScope::Purpose {
                purpose: Purpose::Credentialing,
            },
            deletion_requested: false,
        },
        &as_client(&tenant, t(3, 9)),
    )
    .then_error("not_found", "purpose");
    h.when(
        ConsentCommand::WithdrawConsent {
            scope: WithdrawalScope::AudienceMember {
                purpose: Purpose::CourseAssessment,
                user_id: user("cai"),
            },
            deletion_requested: false,
        },
        &as_client(&tenant, t(3, 9)),
    )
    .then_error("not_found", "audience member");
    h.when(
        ConsentCommand::WithdrawConsent {
            scope: WithdrawalScope::Whole,
            deletion_requested: false,
        },
        &as_user(&tenant, "ada", t(3, 9)),
    )
    .then_error("forbidden", "only the client");
    h.when(
        ConsentCommand::WithdrawConsent {
            scope: WithdrawalScope::Whole,
            deletion_requested: false,
        },
        &as_system(&tenant, t(3, 9)),
    )
    .then_error("forbidden", "never decides for a client");
}

#[test]
fn expire_consent_when_its_date_has_come() {
    let tenant = tenant(written_policy());
    let expiry = Some(Expiry::OnDate { at: t(30, 0) });
    let h = given::<ConsentEvent>(given_consent_events(assessment_terms(), expiry));
    h.when(
        ConsentCommand::ExpireConsent {
            cause: ExpiryCause::DateReached,
        },
        &as_system(&tenant, t(29, 23)),
    )
    .then_error("conflict", "has not come");
    let state = h
        .when(
            ConsentCommand::ExpireConsent {
                cause: ExpiryCause::DateReached,
            },
            &as_system(&tenant, t(30, 0)),
        )
        .then(vec![ConsentEvent::ConsentExpired {
            cause: ExpiryCause::DateReached,
            by: Actor::system(SystemJob::Cascade),
            at: t(30, 0),
        }]);
    assert_eq!(state.status(), Some(ConsentStatus::Expired));
}

#[test]
fn expire_consent_by_its_event_only() {
    let tenant = tenant(written_policy());
    let expiry = Some(Expiry::OnEvent {
        trigger: ExpiryTrigger::CredentialDecided,
    });
    let h = given::<ConsentEvent>(given_consent_events(assessment_terms(), expiry));
    let course = CourseId::from_uuid(uuid(7)).unwrap();
    h.when(
        ConsentCommand::ExpireConsent {
            cause: ExpiryCause::Triggered {
                trigger: ExpiryTrigger::CourseEnded { course_id: course },
            },
        },
        &as_system(&tenant, t(5, 0)),
    )
    .then_error("conflict", "not the one it names");
    h.when(
        ConsentCommand::ExpireConsent {
            cause: ExpiryCause::Triggered {
                trigger: ExpiryTrigger::CredentialDecided,
            },
        },
        &as_user(&tenant, "sam", t(5, 0)),
    )
    .events();
    h.when(
        ConsentCommand::ExpireConsent {
            cause: ExpiryCause::Triggered {
                trigger: ExpiryTrigger::CredentialDecided,
            },
        },
        &as_user(&tenant, "ada", t(5, 0)),
    )
    .then_error("forbidden", "records an expiry");
}

fn renewal_events(new_id: ConsentId) -> Vec<ConsentEvent> {
    let mut requested = consent_requested(new_id, assessment_terms(), None);
    if let ConsentEvent::ConsentRequested { form, renews, .. } = &mut requested {
        *form = form_ref(2);
        *renews = Some(consent_id());
    }
    let mut evidence = evidence(form_ref(2));
    evidence.signed_at = t(0, 10);
    vec![
        requested,
        ConsentEvent::ConsentGiven {
            evidence,
            by: Actor::client(client_id()),
            at: t(0, 10),
        },
    ]
}

#[test]
fn renewal_on_a_changed_form_supersedes_the_old_consent() {
    let tenant = tenant(written_policy());
    let new_id = ConsentId::from_uuid(uuid(20)).unwrap();
    // The renewal request names the old consent and the new form version.
    let ids = [uuid(20)];
    let old = given_consent(assessment_terms(), None);
    let events = given::<ConsentEvent>([])
        .when(
            ConsentCommand::RequestConsent {
                client: client(),
                practitioner: user("sam"),
                scope: ConsentScope::Engagement,
                course_id: None,
                terms: assessment_terms(),
                expiry: None,
                form: ConsentForm::from_events(&form_v2_events()),
                form_version: 2,
                renews: Some(Box::new(old.clone())),
            },
            &as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids),
        )
        .events();
    assert!(
        matches!(&events[0], ConsentEvent::ConsentRequested { renews: Some(r), .. } if *r == consent_id())
    );
    // Renewing onto the same form is refused.
    given::<ConsentEvent>([])
        .when(
            ConsentCommand::RequestConsent {
                client: client(),
                practitioner: user("sam"),
                scope: ConsentScope::Engagement,
                course_id: None,
                terms: assessment_terms(),
                expiry: None,
                form: form(),
                form_version: 1,
                renews: Some(Box::new(old)),
            },
            &as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids),
        )
        .then_error("conflict", "form has not changed");

    let renewal = Consent::from_events(&renewal_events(new_id));
    let state = given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::SupersedeConsent {
                renewal: Box::new(renewal),
            },
            &as_system(&tenant, t(0, 11)),
        )
        .then(vec![ConsentEvent::ConsentSuperseded {
            superseded_by: new_id,
            by: Actor::system(SystemJob::Cascade),
            at: t(0, 11),
        }]);
    assert_eq!(state.status(), Some(ConsentStatus::Superseded));
}

#[test]
fn supersede_needs_a_given_renewal_of_this_consent() {
    let tenant = tenant(written_policy());
    let new_id = ConsentId::from_uuid(uuid(20)).unwrap();
    let pending = Consent::from_events(&renewal_events(new_id)[..1]);
    given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::SupersedeConsent {
                renewal: Box::new(pending),
            },
            &as_system(&tenant, t(0, 11)),
        )
        .then_error("conflict", "renewal is given");
    let unrelated = given_consent(assessment_terms(), None);
    given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::SupersedeConsent {
                renewal: Box::new(unrelated),
            },
            &as_system(&tenant, t(0, 11)),
        )
        .then_error("invalid", "does not name this consent");
}

#[test]
fn give_notice_creates_a_notice_record_under_notified_opt_out() {
    let tenant = tenant(notice_policy());
    let ids = [uuid(2)];
    let command = || ConsentCommand::GiveNotice {
        notice: Box::new(NoticeTerms {
            client: client(),
            practitioner: user("sam"),
            terms: qa_notice_terms(),
            form: form(),
            form_version: 1,
        }),
        session_on: date(1),
    };
    let state = given::<ConsentEvent>([])
        .when(command(), &as_system(&tenant, t(1, 9)).with_new_ids(&ids))
        .then(vec![notice_given()]);
    assert_eq!(state.status(), Some(ConsentStatus::Noticed));
    // A written opt-in tenant never records on a notice.
    let written = crate::testing::tenant(written_policy());
    given::<ConsentEvent>([])
        .when(command(), &as_system(&written, t(1, 9)).with_new_ids(&ids))
        .then_error("consent_required", "written consent");
}

#[test]
fn give_session_notice_for_each_later_session() {
    let tenant = tenant(notice_policy());
    let h = given::<ConsentEvent>([notice_given()]);
    h.when(
        ConsentCommand::GiveSessionNotice {
            session_on: date(8),
        },
        &as_system(&tenant, t(8, 9)),
    )
    .then(vec![ConsentEvent::SessionNoticeGiven {
        session_on: date(8),
        by: Actor::system(SystemJob::Cascade),
        at: t(8, 9),
    }]);
    h.when(
        ConsentCommand::GiveSessionNotice {
            session_on: date(1),
        },
        &as_system(&tenant, t(8, 9)),
    )
    .then_error("conflict", "already recorded");
}

#[test]
fn opt_out_of_one_session_then_for_good() {
    let tenant = tenant(notice_policy());
    let state = given([notice_given()])
        .when(
            ConsentCommand::OptOutOfSession {
                session_on: date(1),
            },
            &as_user(&tenant, "sam", t(1, 9)),
        )
        .then(vec![ConsentEvent::ConsentOptedOutOfSession {
            session_on: date(1),
            by: by("sam"),
            at: t(1, 9),
        }]);
    assert!(state.opted_out_sessions().contains(&date(1)));
    assert_eq!(state.status(), Some(ConsentStatus::Noticed));
    let state = given([notice_given()])
        .when(
            ConsentCommand::OptOutForGood {
                deletion_requested: false,
            },
            &as_client(&tenant, t(9, 9)),
        )
        .then(vec![ConsentEvent::ConsentOptedOut {
            deletion_requested: false,
            by: Actor::client(client_id()),
            at: t(9, 9),
        }]);
    assert_eq!(state.status(), Some(ConsentStatus::OptedOut));
    // After opting out for good, no further notice can be recorded.
    let mut history = vec![notice_given()];
    history.push(ConsentEvent::ConsentOptedOut {
        deletion_requested: false,
        by: Actor::client(client_id()),
        at: t(9, 9),
    });
    given::<ConsentEvent>(history)
        .when(
            ConsentCommand::GiveSessionNotice {
                session_on: date(15),
            },
            &as_system(&tenant, t(15, 9)),
        )
        .then_error("conflict", "opted out for good");
}

#[test]
fn opting_out_applies_only_to_notices() {
    let tenant = tenant(written_policy());
    given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::OptOutForGood {
                deletion_requested: false,
            },
            &as_client(&tenant, t(2, 9)),
        )
        .then_error("conflict", "written consent is withdrawn");
}

#[test]
fn coverage_reports_each_gap() {
    let consent = given_consent(assessment_terms(), Some(Expiry::OnDate { at: t(30, 0) }));
    let tid = tenant_id();
    let sam = user("sam");
    let ada = user("ada");
    let cai = user("cai");
    let roles = std::collections::BTreeSet::from([Role::Tutor]);
    let base = Use {
        tenant_id: &tid,
        model: crate::policy::ConsentModel::WrittenOptIn,
        client_id: client_id(),
        practitioner: &sam,
        session_on: Some(date(1)),
        at: t(2, 9),
        purpose: Some(Purpose::CourseAssessment),
        medium: Some(Medium::Audio),
        derivative: None,
        listener: Some(Listener::Person {
            user_id: &ada,
            roles: &roles,
        }),
    };
    assert_eq!(consent.coverage(&base), Ok(()));
    let late = Use {
        at: t(30, 0) + TimeDelta::seconds(1),
        ..base
    };
    assert!(matches!(
        consent.coverage(&late).unwrap_err()[..],
        [ConsentGap::PastExpiry { .. }]
    ));
    let stranger = Use {
        listener: Some(Listener::Person {
            user_id: &cai,
            roles: &roles,
        }),
        ..base
    };
    assert_eq!(
        consent.coverage(&stranger),
        Err(vec![ConsentGap::ViewerNotInAudience {
            purpose: Purpose::CourseAssessment
        }])
    );
    let video = Use {
        medium: Some(Medium::Video),
        ..base
    };
    assert!(consent.coverage(&video).is_err());
    let other_tenant = other_tenant_id();
    let foreign = Use {
        tenant_id: &other_tenant,
        ..base
    };
    assert_eq!(
        consent.coverage(&foreign),
        Err(vec![ConsentGap::OtherTenant])
    );
}

#[test]
fn a_consent_from_another_tenant_is_not_found() {
    let tenant = tenant(written_policy());
    let ctx = Ctx::new(
        other_tenant_id(),
        &tenant,
        Actor::client(client_id()),
        t(3, 9),
    );
    given(given_consent_events(assessment_terms(), None))
        .when(
            ConsentCommand::WithdrawConsent {
                scope: WithdrawalScope::Whole,
                deletion_requested: false,
            },
            &ctx,
        )
        .then_error("not_found", "consent");
}
