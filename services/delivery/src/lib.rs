//! Confide's notice channels, which the application's outbox sender delivers through: e-mail
//! handed to an SMTP server ([`SmtpMailer`], lettre over rustls with aws-lc-rs, STARTTLS or
//! TLS and authentication as the URL says), e-mail written as `.eml` files into a folder when
//! no server is configured ([`MailFolder`]), and webhooks posted to the organisation's own
//! systems, signed as the Standard Webhooks specification describes ([`WebhookSender`],
//! [`sign`]). Nothing here decides who is told what: that is the domain's, and the wording the
//! application's.
//!
//! Layout:
//! - `mail`: [`Mail`], [`MailTransport`], [`SmtpMailer`], [`MailFolder`].
//! - `webhook`: [`WebhookSecret`], [`sign`], [`WebhookSender`].
//!
//! Every send answers `Ok` or a [`SendError`] that says whether trying again may help.

mod mail;
mod webhook;

pub use mail::{Mail, MailFolder, MailTransport, SmtpMailer};
pub use webhook::{WebhookPost, WebhookSecret, WebhookSender, sign};

/// Why a message did not go out, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server or endpoint could not be reached, or answered "later" (4xx SMTP, a 5xx or
    /// 429 over HTTP): the sender tries again after a backoff.
    #[error("{0}")]
    Transient(String),
    /// It will not go through as it is (a refused recipient, an invalid address, a 410 Gone):
    /// recorded as failed at once.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// Why a channel could not be configured.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);
