//! A clinic to start a test from: a tenant with its policy and first org_admin, members with
//! their roles, a published consent form, a client, and a consent the client was asked for
//! and gave. The same clinic is set up through the application's use cases
//! ([`Clinic::open_in`], with a [`Caller`] per step) or over HTTP through the API
//! ([`Clinic::open_over_http`], with the [`Server`] helpers).
//!
//! ```no_run
//! # async fn example(server: confide_test_support::Server) {
//! use confide_domain::{Purpose, Role};
//! use confide_test_support::clinic::Clinic;
//!
//! let clinic = Clinic::new("clinic")
//!     .member("sam", Role::Practitioner)
//!     .member("ada", Role::Tutor)
//!     .consent("sam", &[(Purpose::CourseAssessment, &["ada"])]);
//! let direct = clinic.open_in(&server.app).await;
//! let over_http = Clinic::new("other-clinic").open_over_http(&server).await;
//! # }
//! ```

use std::collections::BTreeSet;

use confide_app::{App, Caller, ClientDetails, ConsentRequested, PublishedForm};
use confide_domain::aggregates::consent::{Audience, PurposeTerms};
use confide_domain::policy::TenantPolicy;
use confide_domain::{
    Actor, ClientId, ConsentId, Language, Medium, Purpose, Role, TenantId, UserId,
};
use serde_json::{Value, json};

use crate::server::{Server, counselling_policy};

/// The consent form's text when the test gives none.
pub const FORM_TEXT: &str = "I agree that my sessions may be recorded in audio for the purposes \
    and listeners named below. I may withdraw at any time.";

/// What to set up; every part has a default (see [`Clinic::new`]).
#[derive(Clone, Debug)]
pub struct Clinic {
    pub tenant: String,
    pub name: String,
    pub policy: TenantPolicy,
    /// The first org_admin.
    pub admin: String,
    /// Members the administrator adds, each with one role.
    pub members: Vec<(String, Role)>,
    /// The published consent form's text (title "Recording consent", `en-GB`).
    pub form_text: String,
    /// The client's name (and the name they type to give consent) and contact.
    pub client: String,
    pub contact: String,
    /// The member who registers the client and asks for consent.
    pub practitioner: String,
    /// What the client consents to: each purpose, to be listened to in audio by the users
    /// named.
    pub purposes: Vec<(Purpose, Vec<String>)>,
}

/// A clinic set up through the application.
#[derive(Clone, Debug)]
pub struct InApp {
    pub tenant: TenantId,
    /// The administrator calling in the tenant.
    pub admin: Caller,
    /// The practitioner calling in the tenant.
    pub practitioner: Caller,
    pub form: PublishedForm,
    pub client: ClientId,
    pub consent: ConsentId,
}

/// A clinic set up over HTTP: the ids as the API returns them, and the tokens.
#[derive(Clone, Debug)]
pub struct OverHttp {
    /// The administrator's and the practitioner's tokens.
    pub admin: String,
    pub practitioner: String,
    /// The form's `id` and `version`.
    pub form: Value,
    pub client: Value,
    pub consent: Value,
    /// The client's link (a token).
    pub link: String,
}

/// Creates `tenant` as the platform operator does ([`App::create_tenant`]).
pub async fn create_tenant(
    app: &App,
    tenant: &TenantId,
    name: &str,
    policy: TenantPolicy,
    admin: &UserId,
) {
    app.create_tenant(tenant, name.to_owned(), policy, admin.clone())
        .await
        .expect("creating the tenant");
}

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("a valid user id")
}

/// A GraphQL enum value from the domain's name of it (`course_assessment`:
/// `COURSE_ASSESSMENT`).
fn graphql_enum(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_ascii_uppercase))
        .expect("a unit variant")
}

impl Clinic {
    /// "Community Counselling" under a written opt-in, audio-only policy, administered by
    /// `admin`; Sam a practitioner and Ada a tutor; a consent form; Morgan Ellis, Sam's client,
    /// who consents to Ada hearing their sessions for Sam's course assessment.
    pub fn new(tenant: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            name: "Community Counselling".to_owned(),
            policy: counselling_policy(),
            admin: "admin".to_owned(),
            members: vec![
                ("sam".to_owned(), Role::Practitioner),
                ("ada".to_owned(), Role::Tutor),
            ],
            form_text: FORM_TEXT.to_owned(),
            client: "Morgan Ellis".to_owned(),
            contact: "morgan@example.org".to_owned(),
            practitioner: "sam".to_owned(),
            purposes: vec![(Purpose::CourseAssessment, vec!["ada".to_owned()])],
        }
    }

    /// The organisation's name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    pub fn policy(mut self, policy: TenantPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn admin(mut self, admin: &str) -> Self {
        self.admin = admin.to_owned();
        self
    }

    /// Adds `user` with `role`, or gives them `role` instead of their default one.
    pub fn member(mut self, user: &str, role: Role) -> Self {
        self.members.retain(|(name, _)| name != user);
        self.members.push((user.to_owned(), role));
        self
    }

    /// No members but the administrator.
    pub fn without_members(mut self) -> Self {
        self.members.clear();
        self
    }

    pub fn form(mut self, text: &str) -> Self {
        self.form_text = text.to_owned();
        self
    }

    pub fn client(mut self, name: &str, contact: &str) -> Self {
        self.client = name.to_owned();
        self.contact = contact.to_owned();
        self
    }

    /// `practitioner` asks for the consent: each purpose heard by the users named.
    pub fn consent(mut self, practitioner: &str, purposes: &[(Purpose, &[&str])]) -> Self {
        self.practitioner = practitioner.to_owned();
        self.purposes = purposes
            .iter()
            .map(|(purpose, users)| (*purpose, users.iter().map(|u| (*u).to_owned()).collect()))
            .collect();
        self
    }

    fn tenant_id(&self) -> TenantId {
        TenantId::parse(&self.tenant).expect("a valid tenant id")
    }

    /// The consent's terms as the domain has them.
    pub fn terms(&self) -> Vec<PurposeTerms> {
        self.purposes
            .iter()
            .map(|(purpose, users)| PurposeTerms {
                purpose: *purpose,
                audience: Audience::users(users.iter().map(|name| user(name))),
                media: BTreeSet::from([Medium::Audio]),
                derivatives: BTreeSet::new(),
            })
            .collect()
    }

    /// The consent's terms as a `RequestConsentInput`'s `purposes`.
    pub fn purposes_input(&self) -> Value {
        self.purposes
            .iter()
            .map(|(purpose, users)| {
                json!({ "purpose": graphql_enum(purpose), "users": users, "media": ["AUDIO"] })
            })
            .collect()
    }

    /// Sets the clinic up through the application's use cases, each step as the caller who
    /// would take it: the platform operator, the administrator, the practitioner, the client
    /// through their link.
    pub async fn open_in(&self, app: &App) -> InApp {
        let tenant = self.tenant_id();
        let caller = |actor| Caller {
            tenant: tenant.clone(),
            actor,
        };
        create_tenant(
            app,
            &tenant,
            &self.name,
            self.policy.clone(),
            &user(&self.admin),
        )
        .await;
        let admin = caller(Actor::user(user(&self.admin)));
        for (member, role) in &self.members {
            app.add_member(&admin, user(member), BTreeSet::from([*role]))
                .await
                .expect("adding a member");
        }
        let form = app
            .publish_consent_form(
                &admin,
                None,
                "Recording consent".to_owned(),
                Language::parse("en-GB").expect("a language tag"),
                self.form_text.clone(),
            )
            .await
            .expect("publishing the consent form");
        let practitioner = caller(Actor::user(user(&self.practitioner)));
        let client = app
            .register_client(
                &practitioner,
                ClientDetails {
                    name: self.client.clone(),
                    contact: Some(self.contact.clone()),
                },
            )
            .await
            .expect("registering the client");
        let consent = app
            .request_consent(
                &practitioner,
                ConsentRequested {
                    client_id: client,
                    consent_form_id: form.id,
                    form_version: None,
                    terms: self.terms(),
                    session_on: None,
                    course_id: None,
                    expiry: None,
                },
            )
            .await
            .expect("requesting consent")
            .id()
            .expect("a requested consent has an id");
        app.give_consent(&caller(Actor::client(client)), consent, self.client.clone())
            .await
            .expect("giving consent");
        InApp {
            tenant,
            admin,
            practitioner,
            form,
            client,
            consent,
        }
    }

    /// Sets the clinic up over HTTP: the tenant as the platform operator provisions it (there
    /// is no mutation for it), then every other step through the API as its caller.
    pub async fn open_over_http(&self, server: &Server) -> OverHttp {
        let tenant = self.tenant_id();
        create_tenant(
            &server.app,
            &tenant,
            &self.name,
            self.policy.clone(),
            &user(&self.admin),
        )
        .await;
        let admin = server.token(&self.tenant, &self.admin);
        let members: Vec<(&str, String)> = self
            .members
            .iter()
            .map(|(member, role)| (member.as_str(), graphql_enum(role)))
            .collect();
        let members: Vec<(&str, &str)> = members
            .iter()
            .map(|(member, role)| (*member, role.as_str()))
            .collect();
        server.add_members(&admin, &members).await;
        let form = server.publish_form(&admin, &self.form_text).await;
        let practitioner = server.token(&self.tenant, &self.practitioner);
        let client = server
            .register_client(&practitioner, &self.client, &self.contact)
            .await;
        let (consent, link) = server
            .request_consent(
                &practitioner,
                json!({
                    "clientId": client,
                    "consentFormId": form["id"],
                    "purposes": self.purposes_input(),
                }),
            )
            .await;
        server.give_consent(&link, &consent, &self.client).await;
        OverHttp {
            admin,
            practitioner,
            form,
            client,
            consent,
            link,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Backend, spawn_app};

    /// The same clinic, set up both ways, ends in the same state: a given consent.
    #[tokio::test]
    async fn a_clinic_opens_the_same_in_the_application_and_over_http() {
        let server = spawn_app(Backend::Sqlite).await;
        let direct = Clinic::new("direct-clinic").open_in(&server.app).await;
        let consent = server
            .app
            .consent(&direct.practitioner, direct.consent)
            .await
            .expect("reading the consent");
        assert_eq!(
            consent.status(),
            Some(confide_domain::aggregates::consent::ConsentStatus::Given)
        );

        let over_http = Clinic::new("http-clinic").open_over_http(&server).await;
        let seen = server
            .ok(
                &over_http.practitioner,
                "query($id: UUID!) { consent(id: $id) { status } }",
                json!({ "id": over_http.consent }),
            )
            .await;
        assert_eq!(seen["consent"]["status"], "GIVEN", "{seen}");
        assert_eq!(
            server.log_size("direct-clinic").await,
            server.log_size("http-clinic").await,
            "the same events either way"
        );
    }
}
