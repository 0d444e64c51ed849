use crate::aggregates::consent_form::{ConsentFormCommand, ConsentFormEvent};
use crate::testing::*;
use crate::vocabulary::{Language, Sha256};

fn publish(text: &str) -> ConsentFormCommand {
    ConsentFormCommand::PublishConsentForm {
        title: "Recording consent".into(),
        language: Language::parse("en-GB").unwrap(),
        text: text.into(),
    }
}

#[test]
fn publish_consent_form_records_the_text_and_its_digest() {
    let tenant = tenant(written_policy());
    let ids = [uuid(3)];
    let ctx = as_user(&tenant, "admin", t(-25, 9)).with_new_ids(&ids);
    let state = given::<ConsentFormEvent>([])
        .when(publish(FORM_TEXT_V1), &ctx)
        .then(form_events());
    assert_eq!(state.latest_version(), 1);
    assert_eq!(state.reference(&tenant_id(), 1), Some(form_ref(1)));
    assert_eq!(state.reference(&other_tenant_id(), 1), None);
}

#[test]
fn publishing_new_text_makes_the_next_version() {
    let tenant = tenant(written_policy());
    let ctx = as_user(&tenant, "admin", t(-1, 9));
    let events = given(form_events())
        .when(publish(FORM_TEXT_V2), &ctx)
        .events();
    assert_eq!(events, form_v2_events()[1..].to_vec());
    let ConsentFormEvent::ConsentFormPublished {
        version,
        text_sha256,
        ..
    } = &events[0];
    assert_eq!(*version, 2);
    assert_eq!(*text_sha256, Sha256::of(FORM_TEXT_V2.as_bytes()));
}

#[test]
fn publishing_is_for_admins_and_refuses_unchanged_or_empty_text() {
    let tenant = tenant(written_policy());
    given(form_events())
        .when(publish(FORM_TEXT_V1), &as_user(&tenant, "admin", t(0, 9)))
        .then_error("conflict", "already the latest");
    given(form_events())
        .when(publish(FORM_TEXT_V2), &as_user(&tenant, "sam", t(0, 9)))
        .then_error("forbidden", "org_admin");
    given(form_events())
        .when(publish("   "), &as_user(&tenant, "admin", t(0, 9)))
        .then_error("invalid", "text");
}
