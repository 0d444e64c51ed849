use std::collections::BTreeSet;

use crate::aggregates::case_study::*;
use crate::ids::CaseStudyId;
use crate::testing::*;
use crate::vocabulary::{Medium, Purpose, Sha256};

const TEXT: &str =
    "The client brought grief after a bereavement and explored it over twelve sessions.";

fn case_study_terms() -> Vec<crate::aggregates::consent::PurposeTerms> {
    vec![terms(Purpose::CaseStudy, &["sam"], &[Medium::Transcript])]
}

fn drafted() -> CaseStudyEvent {
    CaseStudyEvent::CaseStudyDrafted {
        case_study_id: CaseStudyId::from_uuid(uuid(70)).unwrap(),
        tenant_id: tenant_id(),
        author: user("sam"),
        clients: BTreeSet::from([client_id()]),
        body: sealed("Ym9keQ=="),
        body_sha256: Sha256::of(TEXT.as_bytes()),
        by: by("sam"),
        at: t(20, 9),
    }
}

fn publish(text: &str, names: &[&str]) -> CaseStudyCommand {
    CaseStudyCommand::PublishCaseStudy {
        funder: user("fran"),
        plaintext: text.into(),
        client_names: names.iter().map(|n| n.to_string()).collect(),
        consents: vec![given_consent(case_study_terms(), None)],
    }
}

#[test]
fn draft_case_study_needs_case_study_consent_from_every_client() {
    let tenant = tenant(written_policy());
    let ids = [uuid(70)];
    let ctx = as_user(&tenant, "sam", t(20, 9)).with_new_ids(&ids);
    let draft = |consents| CaseStudyCommand::DraftCaseStudy {
        clients: BTreeSet::from([client_id()]),
        body: sealed("Ym9keQ=="),
        body_sha256: Sha256::of(TEXT.as_bytes()),
        consents,
    };
    given::<CaseStudyEvent>([])
        .when(draft(vec![given_consent(case_study_terms(), None)]), &ctx)
        .then(vec![drafted()]);
    given::<CaseStudyEvent>([])
        .when(draft(vec![given_consent(assessment_terms(), None)]), &ctx)
        .then_error("consent_required", "case_study consent");
    given::<CaseStudyEvent>([])
        .when(draft(vec![]), &ctx)
        .then_error("consent_required", "case_study consent");
}

#[test]
fn revise_case_study_by_its_author() {
    let tenant = tenant(written_policy());
    given([drafted()])
        .when(
            CaseStudyCommand::ReviseCaseStudy {
                body: sealed("bmV3"),
                body_sha256: Sha256::of(b"new"),
            },
            &as_user(&tenant, "sam", t(21, 9)),
        )
        .then(vec![CaseStudyEvent::CaseStudyRevised {
            body: sealed("bmV3"),
            body_sha256: Sha256::of(b"new"),
            by: by("sam"),
            at: t(21, 9),
        }]);
    given([drafted()])
        .when(
            CaseStudyCommand::ReviseCaseStudy {
                body: sealed("bmV3"),
                body_sha256: Sha256::of(b"new"),
            },
            &as_user(&tenant, "pat", t(21, 9)),
        )
        .then_error("forbidden", "author");
}

#[test]
fn publish_case_study_to_a_named_funder_after_the_name_check() {
    let tenant = tenant(written_policy());
    let state = given([drafted()])
        .when(
            publish(TEXT, &["Jane Doe"]),
            &as_user(&tenant, "sam", t(22, 9)),
        )
        .then(vec![CaseStudyEvent::CaseStudyPublished {
            funder: user("fran"),
            body_sha256: Sha256::of(TEXT.as_bytes()),
            by: by("sam"),
            at: t(22, 9),
        }]);
    assert_eq!(state.status(), Some(CaseStudyStatus::Published));
}

#[test]
fn publishing_refuses_a_text_with_a_clients_name() {
    let tenant = tenant(written_policy());
    let named = "Jane brought grief after a bereavement.";
    let mut event = drafted();
    if let CaseStudyEvent::CaseStudyDrafted { body_sha256, .. } = &mut event {
        *body_sha256 = Sha256::of(named.as_bytes());
    }
    given([event])
        .when(
            publish(named, &["Jane Doe"]),
            &as_user(&tenant, "sam", t(22, 9)),
        )
        .then_error("invalid", "contains client names");
}

#[test]
fn publishing_checks_the_text_drafted_the_funder_and_the_names_given() {
    let tenant = tenant(written_policy());
    let sam = as_user(&tenant, "sam", t(22, 9));
    given([drafted()])
        .when(publish("Some other text.", &["Jane Doe"]), &sam)
        .then_error("invalid", "not the text drafted");
    given([drafted()])
        .when(publish(TEXT, &[]), &sam)
        .then_error("invalid", "every client's name");
    let mut to_tutor = publish(TEXT, &["Jane Doe"]);
    if let CaseStudyCommand::PublishCaseStudy { funder, .. } = &mut to_tutor {
        *funder = user("ada");
    }
    given([drafted()])
        .when(to_tutor, &sam)
        .then_error("invalid", "funder role");
}

#[test]
fn a_published_case_study_is_permanent() {
    let tenant = tenant(written_policy());
    let published = [
        drafted(),
        CaseStudyEvent::CaseStudyPublished {
            funder: user("fran"),
            body_sha256: Sha256::of(TEXT.as_bytes()),
            by: by("sam"),
            at: t(22, 9),
        },
    ];
    given(published.clone())
        .when(
            CaseStudyCommand::DiscardCaseStudy,
            &as_user(&tenant, "admin", t(23, 9)),
        )
        .then_error("conflict", "permanent");
    given(published)
        .when(
            CaseStudyCommand::ReviseCaseStudy {
                body: sealed("bmV3"),
                body_sha256: Sha256::of(b"new"),
            },
            &as_user(&tenant, "sam", t(23, 9)),
        )
        .then_error("conflict", "permanent");
}

#[test]
fn discard_a_draft() {
    let tenant = tenant(written_policy());
    let state = given([drafted()])
        .when(
            CaseStudyCommand::DiscardCaseStudy,
            &as_user(&tenant, "sam", t(23, 9)),
        )
        .then(vec![CaseStudyEvent::CaseStudyDiscarded {
            by: by("sam"),
            at: t(23, 9),
        }]);
    assert_eq!(state.status(), Some(CaseStudyStatus::Discarded));
}

#[test]
fn the_name_check_matches_whole_words_of_any_part_of_a_name() {
    let names = vec!["Jane Doe".to_string(), "Al O'Brien".to_string()];
    assert_eq!(names_found("Jane cried.", &names), vec![0]);
    assert_eq!(names_found("MS DOE said", &names), vec![0]);
    assert_eq!(names_found("Mr O’Brien", &names), vec![1]);
    assert_eq!(names_found("Al came", &names), vec![1]);
    assert!(names_found("A janitor and an alpine walk.", &names).is_empty());
}
