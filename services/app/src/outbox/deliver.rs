//! One message: read what it is about, find where it goes, claim it, send it, record the
//! outcome. Every step before the claim only reads; the claim is committed before anything
//! leaves; the outcome is an event of the message's own stream, which holds at most one.

use chrono::{DateTime, Utc};
use confide_delivery::{Mail, SendError, WebhookPost, WebhookSecret};
use confide_domain::aggregates::client::Client;
use confide_domain::aggregates::consent::{Consent, ConsentEvent, Expiry};
use confide_domain::aggregates::consent_form::ConsentForm;
use confide_domain::aggregates::course::Course;
use confide_domain::aggregates::grant::{Grant, GrantEvent};
use confide_domain::aggregates::message::{
    Channel, Message, MessageCommand, MessageFacts, Outcome,
};
use confide_domain::aggregates::recording::{Recording, RecordingEvent};
use confide_domain::aggregates::subject_request::{SubjectRequest, SubjectRequestEvent};
use confide_domain::outbox::{NoticeKind, Recipient};
use confide_domain::{Actor, ClientId, DomainError, Event, MessageId, SystemJob, TenantId};
use confide_eventstore::RecordedEvent;
use confide_eventstore::proof::inclusion_proof;
use confide_readmodels::{OutboxRow, Subject};
use confide_vault::KeyError;

use super::STALE_AFTER;
use super::render::{self, Certificate, Lang, Rendered};
use crate::{App, AppError, stream};

/// What became of one message in this pass.
pub(super) enum Sent {
    Delivered,
    Failed,
    /// An attempt failed; the next waits for its backoff.
    Retrying,
    /// Not this pass: no channel for it, or another sender holds it.
    Skipped,
}

/// Why a message cannot go out, recorded as its failure.
const INTERRUPTED: &str = "outcome unknown: the sender stopped between sending and recording; \
    the message is not sent again, so that it is never sent twice";

/// A message ready for its channel.
enum Outgoing {
    Mail(Mail),
    Webhook {
        url: String,
        secret: WebhookSecret,
        body: Vec<u8>,
    },
}

/// What preparing a message found.
enum Prepared {
    Send(Outgoing),
    /// It can never be sent: recorded as failed, with this reason.
    Fail(String),
    /// Its channel is not configured here; it waits.
    NoChannel,
}

fn facts_of(row: &OutboxRow) -> Option<MessageFacts> {
    Some(MessageFacts {
        message_id: MessageId::parse(&row.message_id).ok()?,
        notice: NoticeKind::parse(&row.notice)?,
        recipient: Recipient::parse_key(&row.recipient)?,
        source_event_id: uuid::Uuid::parse_str(&row.source_event_id).ok()?,
        source_sequence: u64::try_from(row.source_sequence).ok()?,
        source_event_type: row.source_event_type.clone(),
    })
}

/// The first e-mail address among a client's contact details (free text: an address, a
/// phone number, both).
pub(super) fn email_in(contact: &str) -> Option<&str> {
    contact
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>'))
        .map(|word| word.trim_matches(|c: char| matches!(c, '(' | ')' | '"' | '\'')))
        .find(|word| super::settings::check_address(word).is_ok())
}

/// A value of the domain's vocabulary in its stored, readable form (`course_assessment`).
fn word(value: impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(map)) => map
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl App {
    /// Handles one due message.
    pub(super) async fn deliver(&self, row: OutboxRow) -> Result<Sent, AppError> {
        let tenant = TenantId::parse(&row.tenant_id)?;
        let Some(facts) = facts_of(&row) else {
            tracing::warn!(message_id = %row.message_id, "an outbox row this build cannot read");
            return Ok(Sent::Skipped);
        };
        let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        let recorded: Message = self.load(&tenant, &stream(facts.message_id)).await?.state;
        if recorded.facts().is_some() {
            // Recorded, but the sender stopped before it noted so.
            self.read
                .finish_message(&tenant, &row.message_id, self.clock.now())
                .await?;
            return Ok(Sent::Skipped);
        }
        if row.in_flight_since.is_some() {
            return self
                .record_failure(&tenant, facts, None, attempts, INTERRUPTED.to_owned())
                .await;
        }
        let now = self.clock.now();
        if row.due_at < now - chrono::TimeDelta::from_std(STALE_AFTER).unwrap_or_default() {
            let reason = format!(
                "not sent: it was due at {}, more than a week before the sender reached it",
                when(row.due_at)
            );
            return self
                .record_failure(&tenant, facts, None, attempts, reason)
                .await;
        }
        let outgoing = match self.prepare(&tenant, &facts).await? {
            Prepared::Send(outgoing) => outgoing,
            Prepared::Fail(reason) => {
                return self
                    .record_failure(&tenant, facts, None, attempts, reason)
                    .await;
            }
            Prepared::NoChannel => return Ok(Sent::Skipped),
        };
        let Some(attempt) = self
            .read
            .claim_message(&tenant, &row.message_id, now)
            .await?
        else {
            return Ok(Sent::Skipped);
        };
        let attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
        let (channel, sent) = self.send(&outgoing, &facts, now).await;
        match sent {
            Ok(()) => {
                self.record(
                    &tenant,
                    facts,
                    Outcome::Delivered {
                        channel,
                        attempts: attempt,
                    },
                )
                .await
            }
            Err(error) if error.is_transient() && attempt < self.notices.retry.max_attempts => {
                let wait = self.notices.retry.backoff(attempt);
                let next = now + chrono::TimeDelta::from_std(wait).unwrap_or_default();
                tracing::info!(message_id = %row.message_id, attempt, %error, "a notice will be tried again");
                self.read
                    .retry_message_at(&tenant, &row.message_id, next, &error.to_string())
                    .await?;
                Ok(Sent::Retrying)
            }
            Err(error) => {
                let reason = if error.is_transient() {
                    format!("{error} (gave up after {attempt} attempts)")
                } else {
                    error.to_string()
                };
                self.record_failure(&tenant, facts, Some(channel), attempt, reason)
                    .await
            }
        }
    }

    async fn send(
        &self,
        outgoing: &Outgoing,
        facts: &MessageFacts,
        now: DateTime<Utc>,
    ) -> (Channel, Result<(), SendError>) {
        match outgoing {
            Outgoing::Mail(mail) => match &self.notices.mail {
                Some(transport) => {
                    let channel = if transport.channel() == "mail_folder" {
                        Channel::MailFolder
                    } else {
                        Channel::Email
                    };
                    (channel, transport.send(mail).await)
                }
                None => (
                    Channel::Email,
                    Err(SendError::Transient("no mail channel".to_owned())),
                ),
            },
            Outgoing::Webhook { url, secret, body } => match &self.notices.webhooks {
                Some(sender) => (
                    Channel::Webhook,
                    sender
                        .post(WebhookPost {
                            url,
                            secret,
                            id: &facts.message_id.to_string(),
                            timestamp: now.timestamp(),
                            body,
                        })
                        .await,
                ),
                None => (
                    Channel::Webhook,
                    Err(SendError::Transient("no webhook sender".to_owned())),
                ),
            },
        }
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        facts: MessageFacts,
        channel: Option<Channel>,
        attempts: u32,
        reason: String,
    ) -> Result<Sent, AppError> {
        tracing::warn!(message_id = %facts.message_id, notice = facts.notice.as_str(), %reason, "a notice failed");
        self.record(
            tenant,
            facts,
            Outcome::Failed {
                channel,
                attempts,
                reason,
            },
        )
        .await
    }

    /// Records the outcome in the message's stream, then notes it finished. A second outcome
    /// is refused by the domain: the first stands.
    async fn record(
        &self,
        tenant: &TenantId,
        facts: MessageFacts,
        outcome: Outcome,
    ) -> Result<Sent, AppError> {
        let delivered = matches!(outcome, Outcome::Delivered { .. });
        let message_id = facts.message_id;
        match self
            .execute::<Message>(
                tenant,
                &Actor::system(SystemJob::Notices),
                &stream(message_id),
                MessageCommand::RecordOutcome { facts, outcome },
                &[],
            )
            .await
        {
            Ok(_) | Err(AppError::Domain(DomainError::Conflict { .. })) => {}
            Err(other) => return Err(other),
        }
        self.read
            .finish_message(tenant, &message_id.to_string(), self.clock.now())
            .await?;
        Ok(if delivered {
            Sent::Delivered
        } else {
            Sent::Failed
        })
    }

    /// The event a message answers, as stored and as the domain reads it.
    async fn source_event(
        &self,
        tenant: &TenantId,
        facts: &MessageFacts,
    ) -> Result<(RecordedEvent, Event), AppError> {
        let stored = self
            .store
            .read_tenant(tenant, facts.source_sequence, 1)
            .await?
            .into_iter()
            .next()
            .filter(|e| e.event_id == facts.source_event_id)
            .ok_or_else(|| AppError::UnreadableEvent {
                tenant: tenant.clone(),
                sequence: facts.source_sequence,
                reason: "the event a notice answers is not at its sequence".to_owned(),
            })?;
        let event = Event::from_stored(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|e| AppError::UnreadableEvent {
                tenant: tenant.clone(),
                sequence: stored.sequence,
                reason: e.to_string(),
            })?;
        Ok((stored, event))
    }

    /// Where the message goes, in words ready to send.
    async fn prepare(&self, tenant: &TenantId, facts: &MessageFacts) -> Result<Prepared, AppError> {
        match &facts.recipient {
            Recipient::Webhook { endpoint_id } => {
                if self.notices.webhooks.is_none() {
                    return Ok(Prepared::NoChannel);
                }
                let settings = self.notice_settings(tenant).await?;
                let Some(endpoint) = settings.endpoints().get(endpoint_id) else {
                    return Ok(Prepared::Fail(
                        "the webhook endpoint was removed".to_owned(),
                    ));
                };
                let secret = match self
                    .keys
                    .open(
                        tenant,
                        endpoint.secret.key_id(),
                        endpoint.secret.ciphertext(),
                    )
                    .await
                {
                    Ok(bytes) => WebhookSecret::from_bytes(bytes),
                    Err(KeyError::Destroyed { .. }) => {
                        return Ok(Prepared::Fail(
                            "the webhook endpoint was removed".to_owned(),
                        ));
                    }
                    Err(other) => return Err(other.into()),
                };
                let (stored, _) = self.source_event(tenant, facts).await?;
                Ok(Prepared::Send(Outgoing::Webhook {
                    url: endpoint.url.as_str().to_owned(),
                    secret,
                    body: webhook_body(&stored, facts)?,
                }))
            }
            Recipient::Person { user_id } => {
                if self.notices.mail.is_none() {
                    return Ok(Prepared::NoChannel);
                }
                let settings = self.notice_settings(tenant).await?;
                let Some(sealed) = settings.address_of(user_id) else {
                    return Ok(Prepared::Fail(format!(
                        "no notice address is set for {user_id}"
                    )));
                };
                let address = match self
                    .keys
                    .open(tenant, sealed.key_id(), sealed.ciphertext())
                    .await
                {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(KeyError::Destroyed { .. }) => {
                        return Ok(Prepared::Fail(format!(
                            "the notice address of {user_id} was erased"
                        )));
                    }
                    Err(other) => return Err(other.into()),
                };
                let (_, event) = self.source_event(tenant, facts).await?;
                let rendered = self.render_for_staff(tenant, facts, &event).await?;
                Ok(Prepared::Send(Outgoing::Mail(mail(
                    facts, address, rendered,
                ))))
            }
            Recipient::Client { client_id } => {
                if self.notices.mail.is_none() {
                    return Ok(Prepared::NoChannel);
                }
                let erased = || {
                    Ok(Prepared::Fail(
                        "the client is erased: nothing more is sent to them".to_owned(),
                    ))
                };
                let client: Client = self.load(tenant, &stream(*client_id)).await?.state;
                if client.is_erased() {
                    return erased();
                }
                let Some(details) = self.client_details(tenant, &client).await? else {
                    return erased();
                };
                let Some(address) = details.contact.as_deref().and_then(email_in) else {
                    return Ok(Prepared::Fail(
                        "the client's contact details hold no e-mail address".to_owned(),
                    ));
                };
                let address = address.to_owned();
                let (stored, event) = self.source_event(tenant, facts).await?;
                let lang = self.client_language(tenant, *client_id, &event).await?;
                match self
                    .render_for_client(tenant, facts, &stored, &event, lang)
                    .await?
                {
                    Ok(rendered) => Ok(Prepared::Send(Outgoing::Mail(mail(
                        facts, address, rendered,
                    )))),
                    Err(reason) => Ok(Prepared::Fail(reason)),
                }
            }
        }
    }

    /// The language of the client's form: the one the consent request names, else that of
    /// the client's latest consent.
    async fn client_language(
        &self,
        tenant: &TenantId,
        client_id: ClientId,
        event: &Event,
    ) -> Result<Lang, AppError> {
        let form = match event {
            Event::Consent(ConsentEvent::ConsentRequested { form, .. }) => Some(form.clone()),
            _ => self
                .linked::<Consent>(tenant, &Subject::Client(client_id.to_string()), "consent")
                .await?
                .into_iter()
                .filter_map(|(_, consent)| consent.core().cloned())
                .max_by_key(|core| core.recorded_at)
                .map(|core| core.form),
        };
        let Some(form) = form else {
            return Ok(Lang::English);
        };
        let state: ConsentForm = self
            .load(tenant, &stream(form.consent_form_id))
            .await?
            .state;
        Ok(Lang::of(
            state.get(form.version).map(|v| v.language.as_str()),
        ))
    }

    /// A notice to a client; `Err` with the reason if it cannot be written.
    async fn render_for_client(
        &self,
        tenant: &TenantId,
        facts: &MessageFacts,
        stored: &RecordedEvent,
        event: &Event,
        lang: Lang,
    ) -> Result<Result<Rendered, String>, AppError> {
        let organisation = self.organisation(tenant).await?;
        let name = organisation.name();
        Ok(match (facts.notice, event) {
            (
                NoticeKind::ConsentRequest,
                Event::Consent(ConsentEvent::ConsentRequested { client_id, .. }),
            ) => {
                let Some(links) = &self.notices.links else {
                    return Ok(Err("no client links can be issued here".to_owned()));
                };
                match links.client_link(tenant, *client_id, self.clock.now()) {
                    Ok(link) => Ok(render::consent_request(lang, name, &link)),
                    Err(reason) => Err(format!("the client's link could not be made: {reason}")),
                }
            }
            (
                NoticeKind::RecordingNotice,
                Event::Consent(ConsentEvent::ConsentNoticeGiven { client_id, .. }),
            ) => {
                let Some(links) = &self.notices.links else {
                    return Ok(Err("no client links can be issued here".to_owned()));
                };
                match links.client_link(tenant, *client_id, self.clock.now()) {
                    Ok(link) => Ok(render::recording_notice(lang, name, &link)),
                    Err(reason) => Err(format!("the client's link could not be made: {reason}")),
                }
            }
            (
                NoticeKind::SubjectRequestDecided,
                Event::SubjectRequest(SubjectRequestEvent::SubjectRequestDecided {
                    outcome,
                    reason,
                    ..
                }),
            ) => {
                let request: SubjectRequest = self.load(tenant, &stored.stream_id).await?.state;
                let kind = request.kind().map(word).unwrap_or_default();
                Ok(render::request_decided(
                    lang,
                    name,
                    &kind,
                    &word(outcome),
                    reason.as_deref(),
                ))
            }
            (
                NoticeKind::DestructionCertificate,
                Event::Recording(RecordingEvent::RecordingDestroyed {
                    reason,
                    destroyed_key_id,
                    object_sha256s,
                    at,
                    ..
                }),
            ) => {
                let recording: Recording = self.load(tenant, &stored.stream_id).await?.state;
                let checkpoint = self.sign_checkpoint(tenant).await?;
                let proof = inclusion_proof(
                    self.store.as_ref(),
                    tenant,
                    stored.sequence,
                    checkpoint.tree_size,
                )
                .await?;
                Ok(render::destruction_certificate(
                    lang,
                    &Certificate {
                        organisation: name,
                        recording_id: recording
                            .core()
                            .map(|c| c.id.to_string())
                            .unwrap_or_default(),
                        session_on: recording.core().map(|c| c.session_on.to_string()),
                        destroyed_at: when(*at),
                        reason: word(reason),
                        key_id: destroyed_key_id.as_ref().map(|k| k.as_str().to_owned()),
                        object_sha256s: object_sha256s.iter().map(|d| d.to_string()).collect(),
                        log: tenant.to_string(),
                        sequence: stored.sequence,
                        leaf_hash: hex(&stored.leaf_hash),
                        inclusion_path: proof.path.iter().map(|h| hex(h)).collect(),
                        checkpoint: checkpoint.note,
                        checkpoint_key: self.checkpoint_key(),
                    },
                ))
            }
            _ => Err(format!(
                "a {} notice does not answer a {} event",
                facts.notice.as_str(),
                stored.event_type
            )),
        })
    }

    /// A notice to a member or an external assessor.
    async fn render_for_staff(
        &self,
        tenant: &TenantId,
        facts: &MessageFacts,
        event: &Event,
    ) -> Result<Rendered, AppError> {
        let organisation = self.organisation(tenant).await?;
        let from = format!("From {}.", organisation.name());
        let stored_stream = || async {
            Ok::<_, AppError>(
                self.store
                    .read_tenant(tenant, facts.source_sequence, 1)
                    .await?
                    .into_iter()
                    .next()
                    .map(|e| e.stream_id),
            )
        };
        Ok(match (facts.notice, event) {
            (
                NoticeKind::WithdrawalNotice,
                Event::Consent(ConsentEvent::WithdrawalNoticeIssued { recording_ids, .. }),
            ) => {
                let ids: Vec<String> = recording_ids.iter().map(|id| id.to_string()).collect();
                render::staff(
                    "Consent withdrawn: recordings you had access to".to_owned(),
                    vec![
                        format!(
                            "A client has withdrawn their consent and asked for their recordings to be erased. You had access to: {}.",
                            ids.join(", ")
                        ),
                        "Do not play, keep or pass them on, and delete any notes or copies you made from them. Confide has stopped every playback and destroys the recordings (GDPR Art. 17 and 19).".to_owned(),
                        from,
                    ],
                )
            }
            (
                NoticeKind::GrantGiven | NoticeKind::GrantEndingSoon,
                Event::Grant(GrantEvent::AccessGranted {
                    recording_id,
                    purpose,
                    expires_at,
                    ..
                }),
            ) => {
                if facts.notice == NoticeKind::GrantGiven {
                    render::staff(
                        "You have been given access to a recording".to_owned(),
                        vec![
                            format!(
                                "You may play recording {recording_id} for {} until {}, within what the client consented to. Every playback is recorded.",
                                word(purpose),
                                when(*expires_at)
                            ),
                            from,
                        ],
                    )
                } else {
                    render::staff(
                        "Your access to a recording ends in a week".to_owned(),
                        vec![
                            format!(
                                "Your access to recording {recording_id} for {} ends at {}.",
                                word(purpose),
                                when(*expires_at)
                            ),
                            from,
                        ],
                    )
                }
            }
            (NoticeKind::GrantRevoked, Event::Grant(GrantEvent::AccessRevoked { reason, .. })) => {
                let grant: Grant = match stored_stream().await? {
                    Some(stream) => self.load(tenant, &stream).await?.state,
                    None => Grant::default(),
                };
                let (recording, purpose) =
                    grant.core().map_or((String::new(), String::new()), |c| {
                        (c.recording_id.to_string(), word(c.purpose))
                    });
                render::staff(
                    "Your access to a recording was revoked".to_owned(),
                    vec![
                        format!(
                            "Your access to recording {recording} for {purpose} was revoked ({}). It can no longer be played.",
                            word(reason).replace('_', " ")
                        ),
                        from,
                    ],
                )
            }
            (NoticeKind::ConsentEndingSoon, Event::Consent(ConsentEvent::ConsentGiven { .. })) => {
                let consent: Consent = match stored_stream().await? {
                    Some(stream) => self.load(tenant, &stream).await?.state,
                    None => Consent::default(),
                };
                let (id, end) = consent.core().map_or((String::new(), String::new()), |c| {
                    let end = match c.expiry {
                        Some(Expiry::OnDate { at }) => when(at),
                        _ => String::new(),
                    };
                    (c.id.to_string(), end)
                });
                render::staff(
                    "A client's consent ends in a week".to_owned(),
                    vec![
                        format!(
                            "Consent {id} ends at {end}. After that its recordings cannot be played and are destroyed as the organisation's policy says. If the client wishes to go on, ask them to renew it."
                        ),
                        from,
                    ],
                )
            }
            (NoticeKind::CourseEndingSoon, Event::Course(_)) => {
                let course: Course = match stored_stream().await? {
                    Some(stream) => self.load(tenant, &stream).await?.state,
                    None => Course::default(),
                };
                render::staff(
                    "Your course ends in a week".to_owned(),
                    vec![
                        format!(
                            "The course \u{201c}{}\u{201d} ends on {}. Recordings made for it are destroyed after the organisation's grace period, unless a later consent says otherwise.",
                            course.title(),
                            course.ends_on().map(|d| d.to_string()).unwrap_or_default()
                        ),
                        from,
                    ],
                )
            }
            (NoticeKind::SubjectRequestDueSoon, Event::SubjectRequest(_)) => {
                let request: SubjectRequest = match stored_stream().await? {
                    Some(stream) => self.load(tenant, &stream).await?.state,
                    None => SubjectRequest::default(),
                };
                render::staff(
                    "A subject request is due soon".to_owned(),
                    vec![
                        format!(
                            "Subject request {} ({}) must be decided by {}, and is not decided yet.",
                            request.id().map(|id| id.to_string()).unwrap_or_default(),
                            request.kind().map(word).unwrap_or_default(),
                            request.due_by().map(when).unwrap_or_default()
                        ),
                        from,
                    ],
                )
            }
            _ => render::staff(
                format!("Notice: {}", facts.source_event_type),
                vec![
                    format!(
                        "Event {} of the organisation's log ({}) concerns you.",
                        facts.source_sequence, facts.source_event_type
                    ),
                    from,
                ],
            ),
        })
    }
}

fn mail(facts: &MessageFacts, to: String, rendered: Rendered) -> Mail {
    Mail {
        message_id: facts.message_id.to_string(),
        to,
        text: rendered.text(),
        html: rendered.html(),
        subject: rendered.subject,
        language: rendered.language.to_owned(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A webhook's body: the event's type and time, and ids only — never a name, an address, a
/// user id or anything sealed.
fn webhook_body(stored: &RecordedEvent, facts: &MessageFacts) -> Result<Vec<u8>, AppError> {
    let mut ids = serde_json::Map::new();
    if let Some(fields) = stored.payload.as_object() {
        for (key, value) in fields {
            let is_uuid = |v: &serde_json::Value| {
                v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
            };
            let keep = (key.ends_with("_id") && is_uuid(value))
                || (key.ends_with("_ids")
                    && value
                        .as_array()
                        .is_some_and(|items| items.iter().all(is_uuid)));
            if keep {
                ids.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(stream_id) = stored.stream_id.as_str().split_once('-') {
        ids.entry(format!("{}_id", stream_id.0))
            .or_insert_with(|| serde_json::Value::String(stream_id.1.to_owned()));
    }
    let body = serde_json::json!({
        "type": stored.event_type,
        "timestamp": stored.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": {
            "tenant_id": stored.tenant_id.as_str(),
            "event_id": stored.event_id,
            "sequence": stored.sequence,
            "notice": facts.notice.as_str(),
            "ids": ids,
        }
    });
    Ok(serde_json::to_vec(&body)?)
}

#[cfg(test)]
mod tests {
    use super::email_in;

    #[test]
    fn the_e_mail_address_is_found_among_contact_details() {
        assert_eq!(
            email_in("07700 900123, morgan@example.org"),
            Some("morgan@example.org")
        );
        assert_eq!(
            email_in("Morgan <morgan@example.org>"),
            Some("morgan@example.org")
        );
        assert_eq!(email_in("07700 900123"), None);
    }
}
