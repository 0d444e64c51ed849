//! One message of the outbox (stream `message-<id>`): a notice to one recipient about one
//! event, and what became of it. Its stream holds exactly one event, the delivery or the final
//! failure, so an auditor's bundle shows who was told what, when, and through which channel —
//! and the stream's uniqueness is what records each message at most once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregates::Aggregate;
use crate::context::{Actor, Ctx, SystemJob};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{MessageId, TenantId};
use crate::outbox::{NoticeKind, Recipient};

/// How a message went out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Handed to the configured SMTP server, which accepted it.
    Email,
    /// Written as an `.eml` file into the data directory (no mail server configured).
    MailFolder,
    /// Posted to the organisation's webhook endpoint, which answered 2xx.
    Webhook,
}

impl Channel {
    /// The channel's name as events carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::MailFolder => "mail_folder",
            Channel::Webhook => "webhook",
        }
    }
}

/// What a message is about: the notice, its recipient and the event it answers. The same in
/// the delivery and in the failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFacts {
    /// The message (derived from the source event's id, the notice and the recipient).
    pub message_id: MessageId,
    /// Which notice.
    pub notice: NoticeKind,
    /// To whom.
    pub recipient: Recipient,
    /// The event the notice answers.
    pub source_event_id: Uuid,
    /// That event's sequence number in the tenant's log.
    pub source_sequence: u64,
    /// That event's type.
    pub source_event_type: String,
}

/// What the sender found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The channel accepted the message.
    Delivered {
        /// Which channel.
        channel: Channel,
        /// How many attempts it took.
        attempts: u32,
    },
    /// It will not be sent (again).
    Failed {
        /// The channel tried, if one was.
        channel: Option<Channel>,
        /// How many attempts were made.
        attempts: u32,
        /// Why, in words (never the message's content).
        reason: String,
    },
}

/// The message aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    facts: Option<MessageFacts>,
    delivered: bool,
    version: u64,
}

impl Message {
    /// What the message was about, once its outcome is recorded.
    pub fn facts(&self) -> Option<&MessageFacts> {
        self.facts.as_ref()
    }

    /// Whether it was delivered (else, if recorded, it failed).
    pub fn delivered(&self) -> bool {
        self.delivered
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What may be asked of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageCommand {
    /// Record what became of the message.
    RecordOutcome {
        /// What it was about.
        facts: MessageFacts,
        /// What became of it.
        outcome: Outcome,
    },
}

/// What a message records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MessageEvent {
    /// The notice reached its channel.
    NoticeDelivered {
        /// The message.
        message_id: MessageId,
        /// The tenant.
        tenant_id: TenantId,
        /// Which notice.
        notice: NoticeKind,
        /// To whom.
        recipient: Recipient,
        /// The event it answers.
        source_event_id: Uuid,
        /// That event's sequence number.
        source_sequence: u64,
        /// That event's type.
        source_event_type: String,
        /// How it went out.
        channel: Channel,
        /// How many attempts it took.
        attempts: u32,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The notice was given up: it will not be sent.
    NoticeFailed {
        /// The message.
        message_id: MessageId,
        /// The tenant.
        tenant_id: TenantId,
        /// Which notice.
        notice: NoticeKind,
        /// To whom.
        recipient: Recipient,
        /// The event it answers.
        source_event_id: Uuid,
        /// That event's sequence number.
        source_sequence: u64,
        /// That event's type.
        source_event_type: String,
        /// The channel tried, if any.
        channel: Option<Channel>,
        /// How many attempts were made.
        attempts: u32,
        /// Why.
        reason: String,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(MessageEvent {
    NoticeDelivered => 1,
    NoticeFailed => 1,
});

/// The longest failure reason recorded.
pub const MAX_REASON_CHARS: usize = 500;

impl Aggregate for Message {
    type Command = MessageCommand;
    type Event = MessageEvent;

    fn decide(
        &self,
        command: MessageCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<MessageEvent>, DomainError> {
        let MessageCommand::RecordOutcome { facts, outcome } = command;
        if !matches!(
            ctx.actor(),
            Actor::System {
                job: SystemJob::Notices
            }
        ) {
            return Err(DomainError::forbidden(
                "only the notice sender records what became of a message",
            ));
        }
        if self.facts.is_some() {
            return Err(DomainError::conflict(
                "the message's outcome is already recorded; a message is sent at most once",
            ));
        }
        let (by, at, tenant_id) = (ctx.actor().clone(), ctx.now(), ctx.tenant_id().clone());
        let MessageFacts {
            message_id,
            notice,
            recipient,
            source_event_id,
            source_sequence,
            source_event_type,
        } = facts;
        Ok(vec![match outcome {
            Outcome::Delivered { channel, attempts } => MessageEvent::NoticeDelivered {
                message_id,
                tenant_id,
                notice,
                recipient,
                source_event_id,
                source_sequence,
                source_event_type,
                channel,
                attempts,
                by,
                at,
            },
            Outcome::Failed {
                channel,
                attempts,
                reason,
            } => {
                // A reason is a sentence, never a dump of what the server said at length.
                let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
                if reason.trim().is_empty() {
                    return Err(DomainError::invalid("reason", "a failure says why"));
                }
                MessageEvent::NoticeFailed {
                    message_id,
                    tenant_id,
                    notice,
                    recipient,
                    source_event_id,
                    source_sequence,
                    source_event_type,
                    channel,
                    attempts,
                    reason,
                    by,
                    at,
                }
            }
        }])
    }

    fn apply(mut self, event: &MessageEvent) -> Self {
        self.version += 1;
        let (facts, delivered) = match event {
            MessageEvent::NoticeDelivered {
                message_id,
                notice,
                recipient,
                source_event_id,
                source_sequence,
                source_event_type,
                ..
            } => (
                (
                    message_id,
                    notice,
                    recipient,
                    source_event_id,
                    source_sequence,
                    source_event_type,
                ),
                true,
            ),
            MessageEvent::NoticeFailed {
                message_id,
                notice,
                recipient,
                source_event_id,
                source_sequence,
                source_event_type,
                ..
            } => (
                (
                    message_id,
                    notice,
                    recipient,
                    source_event_id,
                    source_sequence,
                    source_event_type,
                ),
                false,
            ),
        };
        let (message_id, notice, recipient, source_event_id, source_sequence, source_event_type) =
            facts;
        self.facts = Some(MessageFacts {
            message_id: *message_id,
            notice: *notice,
            recipient: recipient.clone(),
            source_event_id: *source_event_id,
            source_sequence: *source_sequence,
            source_event_type: source_event_type.clone(),
        });
        self.delivered = delivered;
        self
    }
}
