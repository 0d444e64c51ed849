//! Clients and their consent: registering a client (their details sealed under a key of
//! their own), asking for consent, and the client giving, refusing or withdrawing it, with
//! everything a withdrawal implies in the same append.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::aggregates::consent::{
    CollectionMethod, Consent, ConsentCommand, ConsentEvent, ConsentScope, Evidence, Expiry,
    ExpiryCause, ExpiryTrigger, PurposeTerms, WithdrawalScope,
};
use confide_domain::aggregates::consent_form::ConsentForm;
use confide_domain::aggregates::grant::Grant;
use confide_domain::aggregates::recording::Recording;
use confide_domain::cascade::{after_consent_event, revocations_for};
use confide_domain::limits::{MAX_CONTACT_CHARS, MAX_NAME_CHARS};
use confide_domain::{
    Actor, Aggregate, ClientId, ConsentFormId, ConsentId, CourseId, DomainError, Event, GrantId,
    KeyId, Purpose, Sealed, SystemJob, UserId, reads, text, text_block,
};
use confide_eventstore::StreamId;
use confide_vault::KeyError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{App, AppError, Caller, Subject, stream};

/// The key that seals a client's personal details.
pub(crate) fn client_key(client: ClientId) -> KeyId {
    KeyId::of("client", client.as_uuid())
}

/// A client's personal details, as sealed in `ClientRegistered`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientDetails {
    pub name: String,
    pub contact: Option<String>,
}

/// What a practitioner asks a client to consent to.
#[derive(Clone, Debug)]
pub struct ConsentRequested {
    pub client_id: ClientId,
    pub consent_form_id: ConsentFormId,
    /// The version shown; the latest when absent.
    pub form_version: Option<u32>,
    pub terms: Vec<PurposeTerms>,
    /// One session only; all sessions of the engagement when absent.
    pub session_on: Option<NaiveDate>,
    pub course_id: Option<CourseId>,
    pub expiry: Option<Expiry>,
}

impl App {
    /// Registers a client. Their name and contact details are sealed under a key of their
    /// own, which erasure destroys; the name is what a case study is checked against.
    pub async fn register_client(
        &self,
        caller: &Caller,
        details: ClientDetails,
    ) -> Result<ClientId, AppError> {
        reads::member(&caller.actor)?;
        text("name", &details.name, MAX_NAME_CHARS)?;
        if let Some(contact) = &details.contact {
            text_block("contact", contact, MAX_CONTACT_CHARS)?;
        }
        let plaintext = serde_json::to_vec(&details)?;
        let client_id = ClientId::from_uuid(Uuid::now_v7())?;
        let key = client_key(client_id);
        self.keys.create_key(&caller.tenant, &key).await?;
        let registered = async {
            let sealed = self.keys.seal(&caller.tenant, &key, &plaintext).await?;
            self.execute::<Client>(
                &caller.tenant,
                &caller.actor,
                &stream(client_id),
                ClientCommand::RegisterClient {
                    details: Sealed::new(key.clone(), sealed)?,
                },
                &[client_id.as_uuid()],
            )
            .await
        }
        .await;
        if let Err(refused) = registered {
            // A registration that did not happen leaves no key behind. Should destroying
            // fail too, the key seals nothing the log refers to.
            if let Err(error) = self.keys.destroy(&caller.tenant, &key).await {
                tracing::warn!(%error, "the key of a refused registration was not destroyed");
            }
            return Err(refused);
        }
        self.index_new_client(&caller.tenant, client_id, &details.name)
            .await;
        Ok(client_id)
    }

    /// A client's details, opened; `None` once the client is erased (their key destroyed).
    pub(crate) async fn client_details(
        &self,
        tenant: &confide_domain::TenantId,
        client: &Client,
    ) -> Result<Option<ClientDetails>, AppError> {
        let Some(details) = client.details() else {
            return Ok(None);
        };
        match self
            .keys
            .open(tenant, details.key_id(), details.ciphertext())
            .await
        {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(KeyError::Destroyed { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Asks a client for consent; the consent as requested. The client answers through a
    /// link the edge gives them.
    pub async fn request_consent(
        &self,
        caller: &Caller,
        request: ConsentRequested,
    ) -> Result<Consent, AppError> {
        let Actor::User { user_id } = &caller.actor else {
            return Err(DomainError::forbidden("a client link cannot do this").into());
        };
        let practitioner = user_id.clone();
        let consent_id = ConsentId::from_uuid(Uuid::now_v7())?;
        self.transact(&caller.tenant, &caller.actor, move |work| {
            let (request, practitioner) = (request.clone(), practitioner.clone());
            Box::pin(async move {
                let client: Client = work.load(&stream(request.client_id)).await?;
                let form: ConsentForm = work.load(&stream(request.consent_form_id)).await?;
                let form_version = request
                    .form_version
                    .unwrap_or_else(|| form.latest_version());
                let target = stream(consent_id);
                let consent: Consent = work.load(&target).await?;
                work.decide(
                    &target,
                    &consent,
                    ConsentCommand::RequestConsent {
                        client,
                        practitioner,
                        scope: request
                            .session_on
                            .map_or(ConsentScope::Engagement, |session_on| {
                                ConsentScope::Session { session_on }
                            }),
                        course_id: request.course_id,
                        terms: request.terms,
                        expiry: request.expiry,
                        form,
                        form_version,
                        renews: None,
                    },
                    &[consent_id.as_uuid()],
                )
            })
        })
        .await?;
        Ok(self
            .load::<Consent>(&caller.tenant, &stream(consent_id))
            .await?
            .state)
    }

    /// The client gives the consent they were asked for, signing with their typed name
    /// (through their link), or a member records a paper form. The evidence is built here:
    /// the form's version and language, the tenant's jurisdiction, the moment, the typed
    /// name sealed under the client's key.
    pub async fn give_consent(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
        typed_name: String,
    ) -> Result<Consent, AppError> {
        text("typed_name", &typed_name, MAX_NAME_CHARS)?;
        let client_id = self.consent_of_caller(caller, consent_id).await?;
        let key = client_key(client_id);
        let sealed = self
            .keys
            .seal(&caller.tenant, &key, typed_name.as_bytes())
            .await?;
        let typed_name = Sealed::new(key, sealed)?;
        let collected_by = if caller.client().is_some() {
            CollectionMethod::ClientLinkSignature
        } else {
            CollectionMethod::PaperFormScanned
        };
        self.transact(&caller.tenant, &caller.actor, move |work| {
            let typed_name = typed_name.clone();
            Box::pin(async move {
                let target = stream(consent_id);
                let consent: Consent = work.load(&target).await?;
                let core = consent
                    .core()
                    .ok_or_else(|| DomainError::not_found("consent"))?;
                let form: ConsentForm = work.load(&stream(core.form.consent_form_id)).await?;
                let language = form
                    .get(core.form.version)
                    .map(|v| v.language.clone())
                    .ok_or_else(|| DomainError::not_found("consent form version"))?;
                let jurisdiction = work
                    .organisation()
                    .policy()
                    .map(|p| p.policy.jurisdiction)
                    .ok_or_else(|| DomainError::not_found("tenant policy"))?;
                let evidence = Evidence {
                    form: core.form.clone(),
                    collected_by,
                    typed_name,
                    signed_at: work.now(),
                    jurisdiction,
                    language,
                };
                work.decide(
                    &target,
                    &consent,
                    ConsentCommand::GiveConsent { evidence },
                    &[],
                )
            })
        })
        .await?;
        self.consent(caller, consent_id).await
    }

    /// The client refuses the consent they were asked for.
    pub async fn refuse_consent(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
    ) -> Result<Consent, AppError> {
        self.consent_of_caller(caller, consent_id).await?;
        self.execute::<Consent>(
            &caller.tenant,
            &caller.actor,
            &stream(consent_id),
            ConsentCommand::RefuseConsent,
            &[],
        )
        .await?;
        self.consent(caller, consent_id).await
    }

    /// Withdraws consent, in whole or in part, and in the same append everything that
    /// follows from it: each grant it no longer covers is revoked, and with a deletion request
    /// each recording it covered is scheduled for destruction and everyone who had access is
    /// sent a notice (GDPR Art. 19), an event per recipient. Then any grant committed while
    /// the withdrawal was decided is revoked too. Returns the consent's events recorded: the
    /// withdrawal and its notices.
    pub async fn withdraw_consent(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
        scope: WithdrawalScope,
        deletion_requested: bool,
    ) -> Result<Vec<ConsentEvent>, AppError> {
        self.consent_of_caller(caller, consent_id).await?;
        let command = ConsentCommand::WithdrawConsent {
            scope,
            deletion_requested,
        };
        self.change_consent(caller, consent_id, command).await
    }

    /// Records that the credentialing body decided on the submission a consent was for: a
    /// consent that ends with that decision expires, and the grants under it are revoked
    /// (the practitioner or an org_admin).
    pub async fn record_credential_decision(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
    ) -> Result<Consent, AppError> {
        let cause = ExpiryCause::Triggered {
            trigger: ExpiryTrigger::CredentialDecided,
        };
        self.change_consent(caller, consent_id, ConsentCommand::ExpireConsent { cause })
            .await?;
        self.consent(caller, consent_id).await
    }

    /// Decides a command that ends or narrows a consent (a withdrawal, an opt-out, an
    /// expiry) and appends, with it, what follows in other streams (`cascade`): grants it no
    /// longer covers revoked, recordings scheduled for destruction, notices to those who had
    /// access. Then revokes any grant committed while this was decided. Returns the
    /// consent's events recorded.
    pub(crate) async fn change_consent(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
        command: ConsentCommand,
    ) -> Result<Vec<ConsentEvent>, AppError> {
        let recorded = self
            .transact(&caller.tenant, &caller.actor, move |work| {
                let command = command.clone();
                Box::pin(async move {
                    let target = stream(consent_id);
                    let consent: Consent = work.load(&target).await?;
                    let client = consent
                        .core()
                        .map(|core| core.client_id.to_string())
                        .ok_or_else(|| DomainError::not_found("consent"))?;
                    let decided = consent.decide(command, &work.ctx())?;
                    let recordings: Vec<(StreamId, Recording)> =
                        work.linked(&Subject::Client(client), "recording").await?;
                    let grants: Vec<(StreamId, Grant)> = work
                        .linked(&Subject::Consent(consent_id.to_string()), "grant")
                        .await?;
                    let grant_states: Vec<Grant> = grants.into_iter().map(|(_, g)| g).collect();
                    let recording_states: Vec<Recording> =
                        recordings.into_iter().map(|(_, r)| r).collect();
                    let mut after = consent.clone();
                    let mut consent_events = decided.clone();
                    let mut cascaded: BTreeMap<StreamId, Vec<Event>> = BTreeMap::new();
                    for event in &decided {
                        let cascade = after_consent_event(
                            &after,
                            event,
                            &grant_states,
                            &recording_states,
                            work.organisation(),
                        );
                        after = after.apply(event);
                        consent_events.extend(cascade.notices);
                        for (grant_id, revoked) in cascade.revocations {
                            cascaded
                                .entry(stream(grant_id))
                                .or_default()
                                .push(revoked.into());
                        }
                        for (recording_id, scheduled) in cascade.destructions {
                            cascaded
                                .entry(stream(recording_id))
                                .or_default()
                                .push(scheduled.into());
                        }
                    }
                    work.write(&target, &consent_events)?;
                    let cascade = Actor::system(SystemJob::Cascade);
                    for (target, events) in cascaded {
                        work.write_as(&target, &events, &cascade)?;
                    }
                    Ok(consent_events)
                })
            })
            .await?;
        // A grant committed after this decision read the grants, but before it committed,
        // was not revoked above: look again now that the change is in.
        self.revoke_uncovered_grants(&caller.tenant, consent_id)
            .await?;
        Ok(recorded)
    }

    /// Revokes every grant under a consent that the consent, as it stands, no longer covers
    /// and that is not revoked yet (an event per grant). Returns the grants revoked; none when
    /// everything is already consistent, so it may run any number of times.
    pub async fn revoke_uncovered_grants(
        &self,
        tenant: &confide_domain::TenantId,
        consent_id: ConsentId,
    ) -> Result<Vec<GrantId>, AppError> {
        let job = Actor::system(SystemJob::Cascade);
        self.transact(tenant, &job, move |work| {
            Box::pin(async move {
                let consent: Consent = work.load(&stream(consent_id)).await?;
                let Some(core) = consent.core() else {
                    return Ok(Vec::new());
                };
                let grants: Vec<(StreamId, Grant)> = work
                    .linked(&Subject::Consent(consent_id.to_string()), "grant")
                    .await?;
                let recordings: Vec<(StreamId, Recording)> = work
                    .linked(&Subject::Client(core.client_id.to_string()), "recording")
                    .await?;
                let revocations = revocations_for(
                    &consent,
                    &grants.into_iter().map(|(_, g)| g).collect::<Vec<_>>(),
                    &recordings.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
                    work.organisation(),
                    work.now(),
                );
                let mut revoked = Vec::new();
                for (grant_id, event) in revocations {
                    work.write(&stream(grant_id), &[event])?;
                    revoked.push(grant_id);
                }
                Ok(revoked)
            })
        })
        .await
    }

    /// The client of a consent that exists, refusing a client link acting on another
    /// client's consent; the rest is the domain's to decide.
    pub(crate) async fn consent_of_caller(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
    ) -> Result<ClientId, AppError> {
        let consent = self
            .load::<Consent>(&caller.tenant, &stream(consent_id))
            .await?
            .state;
        let client = consent
            .core()
            .map(|core| core.client_id)
            .ok_or_else(|| DomainError::not_found("consent"))?;
        reads::own_client(&caller.actor, client)?;
        Ok(client)
    }

    /// One consent, as it now stands: its client through their link, or a member of the
    /// organisation.
    pub async fn consent(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
    ) -> Result<Consent, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        if caller.client().is_none() {
            reads::organisation_member(&organisation, &caller.actor)?;
        }
        let consent = self
            .load::<Consent>(&caller.tenant, &stream(consent_id))
            .await?
            .state;
        let core = consent
            .core()
            .ok_or_else(|| DomainError::not_found("consent"))?;
        reads::client_records(&organisation, &caller.actor, core.client_id)?;
        Ok(consent)
    }

    /// A client's consents, each folded to its current state.
    pub async fn consent_history(
        &self,
        tenant: &confide_domain::TenantId,
        client_id: ClientId,
    ) -> Result<Vec<Consent>, AppError> {
        Ok(self
            .linked::<Consent>(tenant, &Subject::Client(client_id.to_string()), "consent")
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }
}

/// What ends a consent by itself, as a practitioner asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentEnd {
    /// The end of the course the consent is for (the default for a course's consent).
    CourseEnd,
    /// The credentialing body's decision on the submission the recordings are for.
    CredentialDecision,
}

/// The expiry a request names: a date, or the event it ends with; at most one of them. A
/// consent for a course with neither ends with the course (the domain's default).
pub fn consent_expiry(
    expires_at: Option<DateTime<Utc>>,
    ends_with: Option<ConsentEnd>,
    course_id: Option<CourseId>,
) -> Result<Option<Expiry>, DomainError> {
    match (expires_at, ends_with) {
        (Some(_), Some(_)) => Err(DomainError::invalid(
            "expiry",
            "give an expiry date or the event the consent ends with, not both",
        )),
        (Some(at), None) => Ok(Some(Expiry::OnDate { at })),
        (None, Some(ConsentEnd::CourseEnd)) => {
            let course_id = course_id.ok_or_else(|| {
                DomainError::invalid(
                    "expiry",
                    "a consent that ends with a course names the course (courseId)",
                )
            })?;
            Ok(Some(Expiry::OnEvent {
                trigger: ExpiryTrigger::CourseEnded { course_id },
            }))
        }
        (None, Some(ConsentEnd::CredentialDecision)) => Ok(Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CredentialDecided,
        })),
        (None, None) => Ok(None),
    }
}

/// How much of a consent a withdrawal takes back: the whole, one purpose, or one person from
/// a purpose's audience.
pub fn withdrawal_scope(
    purpose: Option<Purpose>,
    audience_member: Option<UserId>,
) -> Result<WithdrawalScope, DomainError> {
    match (purpose, audience_member) {
        (None, None) => Ok(WithdrawalScope::Whole),
        (Some(purpose), None) => Ok(WithdrawalScope::Purpose { purpose }),
        (Some(purpose), Some(user_id)) => Ok(WithdrawalScope::AudienceMember { purpose, user_id }),
        (None, Some(_)) => Err(DomainError::invalid(
            "audience_member",
            "name the purpose the person is withdrawn from",
        )),
    }
}
