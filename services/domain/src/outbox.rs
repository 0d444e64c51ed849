//! Who must be told of an event, and when: the outbox's rules, as a pure function of the event
//! and the state of its stream ([`plan`]). The asynchronous projection that fills the outbox
//! calls it for every event in the log, and the sender delivers what it plans.
//!
//! - the consent request, to the client (with their link);
//! - a withdrawal notice to every person the cascade named (`WithdrawalNoticeIssued`, GDPR
//!   Art. 19);
//! - a grant given or revoked, to the person it names, and a reminder a week before it ends;
//! - a reminder to the practitioner a week before a consent's date or their course's end;
//! - a reminder to the organisation's administrators a week before a subject request's
//!   deadline, and its decision to the client;
//! - a destruction certificate to the client once their recording is destroyed;
//! - every event that told someone something, announced to each webhook endpoint (ids and
//!   types only).
//!
//! Reminders are cancelled when what they remind of ends first (a grant revoked, a consent
//! withdrawn, a course ended, a request decided), and a client's erasure cancels everything
//! not yet sent to them: after erasure nothing more is ever sent to a client.
//!
//! A message's id is derived from the event's id, the notice and the recipient
//! ([`message_id`]), so planning the same event again (a rebuild, a retry of the projection)
//! plans the same messages.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::aggregates::client::ClientEvent;
use crate::aggregates::consent::{Consent, ConsentEvent, Expiry};
use crate::aggregates::course::{Course, CourseEvent};
use crate::aggregates::grant::{Grant, GrantEvent, Grantee};
use crate::aggregates::recording::{Recording, RecordingEvent};
use crate::aggregates::subject_request::{SubjectRequest, SubjectRequestEvent};
use crate::events::Event;
use crate::ids::{ClientId, MessageId, UserId, WebhookEndpointId};

/// How long before an end a reminder goes out.
pub const REMINDER_LEAD: TimeDelta = TimeDelta::days(7);

/// Which notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The client is asked for consent, with their link.
    ConsentRequest,
    /// Under notified opt-out, the client is given the notice in writing, with their link to
    /// read it and to opt out of a session or for good.
    RecordingNotice,
    /// A person who had access is told of a withdrawal (Art. 19).
    WithdrawalNotice,
    /// A person was granted access to a recording.
    GrantGiven,
    /// A person's grant was revoked.
    GrantRevoked,
    /// A person's grant ends within a week.
    GrantEndingSoon,
    /// The practitioner's consent ends within a week.
    ConsentEndingSoon,
    /// The practitioner's course ends within a week.
    CourseEndingSoon,
    /// A subject request's deadline is within a week.
    SubjectRequestDueSoon,
    /// The client's subject request was decided.
    SubjectRequestDecided,
    /// The client's recording was destroyed: the certificate.
    DestructionCertificate,
    /// An event announced to a webhook endpoint.
    WebhookEvent,
}

impl NoticeKind {
    /// The kind's name as events and the outbox carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ConsentRequest => "consent_request",
            NoticeKind::RecordingNotice => "recording_notice",
            NoticeKind::WithdrawalNotice => "withdrawal_notice",
            NoticeKind::GrantGiven => "grant_given",
            NoticeKind::GrantRevoked => "grant_revoked",
            NoticeKind::GrantEndingSoon => "grant_ending_soon",
            NoticeKind::ConsentEndingSoon => "consent_ending_soon",
            NoticeKind::CourseEndingSoon => "course_ending_soon",
            NoticeKind::SubjectRequestDueSoon => "subject_request_due_soon",
            NoticeKind::SubjectRequestDecided => "subject_request_decided",
            NoticeKind::DestructionCertificate => "destruction_certificate",
            NoticeKind::WebhookEvent => "webhook_event",
        }
    }

    /// The kind from its name.
    pub fn parse(name: &str) -> Option<Self> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == name)
    }
}

const ALL_KINDS: &[NoticeKind] = &[
    NoticeKind::ConsentRequest,
    NoticeKind::RecordingNotice,
    NoticeKind::WithdrawalNotice,
    NoticeKind::GrantGiven,
    NoticeKind::GrantRevoked,
    NoticeKind::GrantEndingSoon,
    NoticeKind::ConsentEndingSoon,
    NoticeKind::CourseEndingSoon,
    NoticeKind::SubjectRequestDueSoon,
    NoticeKind::SubjectRequestDecided,
    NoticeKind::DestructionCertificate,
    NoticeKind::WebhookEvent,
];

/// Who is told.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recipient {
    /// A member or an external assessor, at the address the organisation set for them.
    Person {
        /// Who.
        user_id: UserId,
    },
    /// A client, at the contact sealed in their details.
    Client {
        /// Who.
        client_id: ClientId,
    },
    /// One of the organisation's webhook endpoints.
    Webhook {
        /// Which.
        endpoint_id: WebhookEndpointId,
    },
}

impl Recipient {
    /// A stable text key: `person:<user>`, `client:<id>`, `webhook:<id>`.
    pub fn key(&self) -> String {
        match self {
            Recipient::Person { user_id } => format!("person:{user_id}"),
            Recipient::Client { client_id } => format!("client:{client_id}"),
            Recipient::Webhook { endpoint_id } => format!("webhook:{endpoint_id}"),
        }
    }

    /// The recipient from [`Recipient::key`].
    pub fn parse_key(key: &str) -> Option<Self> {
        let (kind, id) = key.split_once(':')?;
        match kind {
            "person" => UserId::parse(id)
                .ok()
                .map(|user_id| Recipient::Person { user_id }),
            "client" => ClientId::parse(id)
                .ok()
                .map(|client_id| Recipient::Client { client_id }),
            "webhook" => WebhookEndpointId::parse(id)
                .ok()
                .map(|endpoint_id| Recipient::Webhook { endpoint_id }),
            _ => None,
        }
    }
}

/// One message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// Derived from the event, the notice and the recipient.
    pub message_id: MessageId,
    /// Which notice.
    pub notice: NoticeKind,
    /// To whom.
    pub recipient: Recipient,
    /// Not before this moment (now, or a reminder's time).
    pub due: DateTime<Utc>,
}

/// Messages not yet sent that an event makes pointless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// These notices planned from the same stream as the event.
    SameStream(Vec<NoticeKind>),
    /// Everything to this client: they were erased.
    Client(ClientId),
}

/// What an event means for the outbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Messages to add.
    pub send: Vec<Intent>,
    /// Messages to cancel, before those are added.
    pub cancel: Vec<Cancel>,
}

/// The state of the event's own stream, as far as the rules need it (the facts they read are
/// fixed when the stream is created, so its latest state will do).
#[derive(Clone, Copy, Debug)]
pub enum StreamState<'a> {
    /// Nothing needed.
    None,
    /// A consent's stream.
    Consent(&'a Consent),
    /// A grant's stream.
    Grant(&'a Grant),
    /// A course's stream.
    Course(&'a Course),
    /// A recording's stream.
    Recording(&'a Recording),
    /// A subject request's stream.
    SubjectRequest(&'a SubjectRequest),
    /// A client's stream (its id is the stream's).
    Client(ClientId),
}

/// Whether [`plan`] needs the state of the event's stream for `event_type`; most events need
/// none, so the projection reads nothing for them. (A client's erasure needs only the
/// client's id, which is the stream's: [`StreamState::Client`].)
pub fn needs_state(event_type: &str) -> bool {
    matches!(
        event_type,
        "ConsentGiven"
            | "AccessRevoked"
            | "StudentEnrolled"
            | "SubjectRequestDecided"
            | "RecordingDestroyed"
    )
}

/// Whether `event_type` may plan a message to the organisation's administrators, so the
/// projection reads who they are only then.
pub fn needs_admins(event_type: &str) -> bool {
    matches!(
        event_type,
        "SubjectRequestOpened" | "SubjectRequestDeadlineExtended"
    )
}

/// The message id of `notice` to `recipient` about the event `event_id`: the first 16 bytes
/// of a SHA-256 over the three, as a version 8 UUID.
pub fn message_id(event_id: Uuid, notice: NoticeKind, recipient: &Recipient) -> MessageId {
    let mut hash = Sha256::new();
    hash.update(b"confide-message\0");
    hash.update(event_id.as_bytes());
    hash.update(notice.as_str().as_bytes());
    hash.update(b"\0");
    hash.update(recipient.key().as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let uuid = uuid::Builder::from_custom_bytes(bytes).into_uuid();
    // A version 8 UUID is never nil: its version bits are set.
    MessageId::from_uuid(uuid).unwrap_or_else(|_| unreachable!("a v8 UUID is not nil"))
}

/// What the rules need beyond the event and its stream.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The event's id and when it was recorded.
    pub event_id: Uuid,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The state of its stream, if [`needs_state`].
    pub stream: StreamState<'a>,
    /// The organisation's administrators, if [`needs_admins`].
    pub admins: &'a [UserId],
    /// The organisation's webhook endpoints.
    pub endpoints: &'a [WebhookEndpointId],
}

/// The outbox's rules: who is told of `event`, and what it cancels.
pub fn plan(event: &Event, context: &Context<'_>) -> Plan {
    let now = context.recorded_at;
    let mut plan = Plan::default();
    let mut add = |notice: NoticeKind, recipient: Recipient, due: DateTime<Utc>| {
        plan.send.push(Intent {
            message_id: message_id(context.event_id, notice, &recipient),
            notice,
            recipient,
            due,
        });
    };
    let reminder = |end: DateTime<Utc>| {
        let at = end - REMINDER_LEAD;
        // A reminder only means something if it comes before the end and after the event
        // that set it; one for an end less than a week away is not sent.
        (at > now).then_some(at)
    };
    let person = |user_id: &UserId| Recipient::Person {
        user_id: user_id.clone(),
    };
    let mut cancel = Vec::new();
    match event {
        Event::Consent(ConsentEvent::ConsentRequested { client_id, .. }) => add(
            NoticeKind::ConsentRequest,
            Recipient::Client {
                client_id: *client_id,
            },
            now,
        ),
        Event::Consent(ConsentEvent::ConsentNoticeGiven { client_id, .. }) => add(
            NoticeKind::RecordingNotice,
            Recipient::Client {
                client_id: *client_id,
            },
            now,
        ),
        Event::Consent(ConsentEvent::WithdrawalNoticeIssued { recipient, .. }) => {
            add(NoticeKind::WithdrawalNotice, person(recipient), now);
        }
        Event::Consent(ConsentEvent::ConsentGiven { .. }) => {
            if let StreamState::Consent(consent) = context.stream
                && let Some(core) = consent.core()
                && let Some(Expiry::OnDate { at }) = core.expiry
                && let Some(due) = reminder(at)
            {
                add(
                    NoticeKind::ConsentEndingSoon,
                    person(&core.practitioner),
                    due,
                );
            }
        }
        Event::Consent(
            ConsentEvent::ConsentWithdrawn { .. }
            | ConsentEvent::ConsentRefused { .. }
            | ConsentEvent::ConsentExpired { .. }
            | ConsentEvent::ConsentSuperseded { .. }
            | ConsentEvent::ConsentOptedOut { .. },
        ) => cancel.push(Cancel::SameStream(vec![NoticeKind::ConsentEndingSoon])),
        Event::Grant(GrantEvent::AccessGranted {
            grantee: Grantee::Member { user_id } | Grantee::ExternalAssessor { user_id },
            expires_at,
            ..
        }) => {
            add(NoticeKind::GrantGiven, person(user_id), now);
            if let Some(due) = reminder(*expires_at) {
                add(NoticeKind::GrantEndingSoon, person(user_id), due);
            }
        }
        Event::Grant(GrantEvent::AccessRevoked { .. }) => {
            cancel.push(Cancel::SameStream(vec![NoticeKind::GrantEndingSoon]));
            if let StreamState::Grant(grant) = context.stream
                && let Some(core) = grant.core()
                && let Grantee::Member { user_id } | Grantee::ExternalAssessor { user_id } =
                    &core.grantee
            {
                add(NoticeKind::GrantRevoked, person(user_id), now);
            }
        }
        Event::Course(CourseEvent::StudentEnrolled { user_id, .. }) => {
            if let StreamState::Course(course) = context.stream
                && let Some(ends_on) = course.ends_on()
                && let Some(due) = reminder(ends_on.and_time(NaiveTime::MIN).and_utc())
            {
                add(NoticeKind::CourseEndingSoon, person(user_id), due);
            }
        }
        Event::Course(CourseEvent::CourseEnded { .. }) => {
            cancel.push(Cancel::SameStream(vec![NoticeKind::CourseEndingSoon]));
        }
        Event::SubjectRequest(
            SubjectRequestEvent::SubjectRequestOpened { due_by, .. }
            | SubjectRequestEvent::SubjectRequestDeadlineExtended { due_by, .. },
        ) => {
            cancel.push(Cancel::SameStream(vec![NoticeKind::SubjectRequestDueSoon]));
            // A deadline less than a week away is announced at once.
            let due = reminder(*due_by).unwrap_or(now);
            for admin in context.admins {
                add(NoticeKind::SubjectRequestDueSoon, person(admin), due);
            }
        }
        Event::SubjectRequest(SubjectRequestEvent::SubjectRequestDecided { .. }) => {
            cancel.push(Cancel::SameStream(vec![NoticeKind::SubjectRequestDueSoon]));
            if let StreamState::SubjectRequest(request) = context.stream
                && let Some(client_id) = request.client_id()
            {
                add(
                    NoticeKind::SubjectRequestDecided,
                    Recipient::Client { client_id },
                    now,
                );
            }
        }
        Event::Recording(RecordingEvent::RecordingDestroyed { .. }) => {
            if let StreamState::Recording(recording) = context.stream
                && let Some(core) = recording.core()
            {
                add(
                    NoticeKind::DestructionCertificate,
                    Recipient::Client {
                        client_id: core.client_id,
                    },
                    now,
                );
            }
        }
        Event::Client(ClientEvent::ClientErased { .. }) => {
            if let StreamState::Client(client_id) = context.stream {
                cancel.push(Cancel::Client(client_id));
            }
        }
        _ => {}
    }
    // Every event that tells someone something now is announced to the endpoints too.
    let announced = plan.send.iter().any(|intent| intent.due == now);
    if announced {
        for endpoint_id in context.endpoints {
            let recipient = Recipient::Webhook {
                endpoint_id: *endpoint_id,
            };
            plan.send.push(Intent {
                message_id: message_id(context.event_id, NoticeKind::WebhookEvent, &recipient),
                notice: NoticeKind::WebhookEvent,
                recipient,
                due: now,
            });
        }
    }
    plan.cancel = cancel;
    plan
}

#[cfg(test)]
mod tests;
