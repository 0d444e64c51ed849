//! Notices that reach people: the outbox and its sender.
//!
//! The outbox is an asynchronous projection of the log (`confide_readmodels::NoticeOutbox`,
//! by the domain's rules in `confide_domain::outbox`): every event that means someone must be
//! told becomes one message per recipient, its id derived from the event's. The sender
//! ([`App::deliver_due_notices`]) sends each due message through its channel — e-mail (an SMTP
//! server, or `.eml` files in a folder) or a signed webhook — and records what became of it as
//! an event of the message's own stream: `NoticeDelivered`, or `NoticeFailed` with the reason.
//!
//! At most once per recipient and event: before a message leaves, the sender claims it
//! (`notice_attempts.in_flight_since`, committed first); a failed attempt releases the claim
//! with a backoff; an outcome, once recorded, finishes it; and a claim still held after
//! [`CLAIM_TIMEOUT`] means the sender stopped between sending and recording, so the message
//! is recorded as failed with that reason and never sent again. What a receiver sees is
//! deduplicable too: the same message always has the same `Message-ID` and `webhook-id`.
//!
//! Layout: `settings` (addresses and webhook endpoints, set by an org_admin), `render` (the
//! words), `deliver` (one message: resolve, claim, send, record).

mod deliver;
mod render;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use confide_delivery::{MailTransport, WebhookSender};
use confide_domain::{ClientId, TenantId};
use confide_readmodels::OutboxRow;
use futures_util::StreamExt;

pub use settings::{AddedWebhookEndpoint, MAX_ADDRESS_CHARS, WebhookEndpointView};

use crate::{App, AppError, Caller};

/// A claim older than this is a send the sender never finished (it stopped): the message is
/// recorded as failed rather than sent a second time. Longer than any one send may take.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A message due longer ago than this is not sent (an outbox started on an old log, a sender
/// stopped for a week): it is recorded as failed, saying so.
pub const STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// How many messages are sent at once.
const CONCURRENT_SENDS: usize = 8;

/// How many due messages are read per round.
const BATCH: i64 = 200;

/// The link a client follows to answer; the edge that signs links provides it.
pub trait ClientLinks: Send + Sync {
    /// A link for `client` of `tenant`, minted at `now`.
    fn client_link(
        &self,
        tenant: &TenantId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<String, String>;
}

/// When a failed attempt is tried again, and how often before it is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; doubled after each further one.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Attempts before the message is recorded as failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s, doubling to at most an hour, ten attempts: a mail server down for about six
    /// hours delays notices; one down for longer fails them, on the record.
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt `attempts` failed.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// The channels notices go out through. Without a mail transport, e-mail waits in the
/// outbox; without a webhook sender, webhooks do.
#[derive(Clone, Default)]
pub struct NoticeChannels {
    pub mail: Option<Arc<dyn MailTransport>>,
    pub webhooks: Option<WebhookSender>,
    pub links: Option<Arc<dyn ClientLinks>>,
    pub retry: RetryPolicy,
}

impl NoticeChannels {
    /// Where e-mail goes, for the start-up banner.
    pub fn describe(&self) -> String {
        match &self.mail {
            Some(mail) => mail.describe(),
            None => "e-mail is not sent (no mail channel)".to_owned(),
        }
    }
}

/// What one run of the notice jobs did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoticeRun {
    /// Events the outbox projection applied.
    pub projected: usize,
    /// Messages delivered.
    pub delivered: usize,
    /// Messages recorded as failed.
    pub failed: usize,
    /// Messages that failed an attempt and wait for the next.
    pub retrying: usize,
}

impl NoticeRun {
    fn add(&mut self, other: NoticeRun) {
        self.projected += other.projected;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.retrying += other.retrying;
    }
}

impl App {
    /// The application with these notice channels.
    pub fn with_notice_channels(mut self, channels: NoticeChannels) -> Self {
        self.notices = Arc::new(channels);
        self
    }

    /// The notice channels, for the start-up banner.
    pub fn notice_channels(&self) -> &NoticeChannels {
        &self.notices
    }

    /// Where a client's notices by e-mail go (a consent request with their link, say): the
    /// first e-mail address among their contact details, when this server sends e-mail.
    pub fn client_mail_address(&self, details: &crate::ClientDetails) -> Option<String> {
        self.notices.mail.as_ref()?;
        details
            .contact
            .as_deref()
            .and_then(deliver::email_in)
            .map(str::to_owned)
    }

    /// Brings the outbox up to the log: applies every event committed so far, a batch at a
    /// time, resting after each batch as long as the batch took. A long catch-up (the first
    /// start on a large log, or after a long stop) then takes at most about half of one
    /// database connection's time, and requests keep theirs; the usual few events of a pass
    /// cost one short rest.
    pub async fn project_notices(&self) -> Result<usize, AppError> {
        let mut total = 0;
        loop {
            let started = std::time::Instant::now();
            match self.read.project_outbox().await? {
                0 => return Ok(total),
                n => total += n,
            }
            tokio::time::sleep(started.elapsed()).await;
        }
    }

    /// Deletes the outbox and projects it again from the log. Messages already sent stay
    /// sent: their outcome is in the log and the sender's bookkeeping is not rebuilt.
    pub async fn rebuild_notice_outbox(&self) -> Result<usize, AppError> {
        Ok(self.read.rebuild_outbox().await?)
    }

    /// The notice job's one pass: the outbox brought up to the log, then every due message
    /// sent. What a background task runs on a timer (and what a lease may wrap: each
    /// message's work is safe to repeat, and claimed before it is sent).
    pub async fn run_notice_jobs(&self) -> Result<NoticeRun, AppError> {
        let projected = self.project_notices().await?;
        let mut run = self.deliver_due_notices().await?;
        run.projected = projected;
        Ok(run)
    }

    /// Sends every message due now, a batch at a time, several at once, resting after each
    /// full batch as long as it took (each outcome is an append to the tenant's log, which
    /// a backlog must not take from the requests that append too).
    pub async fn deliver_due_notices(&self) -> Result<NoticeRun, AppError> {
        let mut run = NoticeRun::default();
        loop {
            let started = std::time::Instant::now();
            let now = self.clock.now();
            let stale = now - chrono::TimeDelta::from_std(CLAIM_TIMEOUT).unwrap_or_default();
            let rows = self.read.due_messages(now, stale, BATCH).await?;
            let fetched = rows.len();
            let outcomes: Vec<Result<deliver::Sent, AppError>> = futures_util::stream::iter(rows)
                .map(|row| async move { self.deliver(row).await })
                .buffer_unordered(CONCURRENT_SENDS)
                .collect()
                .await;
            let mut this_round = NoticeRun::default();
            let mut first_error = None;
            for outcome in outcomes {
                match outcome {
                    Ok(deliver::Sent::Delivered) => this_round.delivered += 1,
                    Ok(deliver::Sent::Failed) => this_round.failed += 1,
                    Ok(deliver::Sent::Retrying) => this_round.retrying += 1,
                    Ok(deliver::Sent::Skipped) => {}
                    Err(error) => {
                        tracing::warn!(%error, "a notice could not be handled; it is tried again later");
                        first_error.get_or_insert(error);
                    }
                }
            }
            run.add(this_round);
            if let Some(error) = first_error {
                return Err(error);
            }
            // A full batch of which something was finished may have more behind it.
            let finished = this_round.delivered + this_round.failed;
            if usize::try_from(BATCH).unwrap_or(usize::MAX) > fetched || finished == 0 {
                return Ok(run);
            }
            tokio::time::sleep(started.elapsed()).await;
        }
    }

    /// The tenant's outbox (an org_admin or an auditor): every message, its state and attempts.
    pub async fn outbox_messages(&self, caller: &Caller) -> Result<Vec<OutboxRow>, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        confide_domain::reads::log(&organisation, &caller.actor)?;
        Ok(self.read.outbox_messages(&caller.tenant).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling() {
        let policy = RetryPolicy {
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(300),
            max_attempts: 10,
        };
        assert_eq!(policy.backoff(1), Duration::from_secs(30));
        assert_eq!(policy.backoff(2), Duration::from_secs(60));
        assert_eq!(policy.backoff(4), Duration::from_secs(240));
        assert_eq!(policy.backoff(5), Duration::from_secs(300));
        assert_eq!(policy.backoff(1000), Duration::from_secs(300));
    }
}
