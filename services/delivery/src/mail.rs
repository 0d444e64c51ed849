//! E-mail: a [`Mail`] (plain text and HTML, a stable Message-ID) through a [`MailTransport`]:
//! an SMTP server ([`SmtpMailer`]) or a folder of `.eml` files ([`MailFolder`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{ConfigError, SendError};

/// One e-mail to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// The outbox's message id (a UUID): the Message-ID's left part, and the `.eml` file's
    /// name, so the same message always carries the same id.
    pub message_id: String,
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (the same words).
    pub html: String,
    /// The language the message is written in (a BCP 47 tag), as `Content-Language`.
    pub language: String,
}

/// Where e-mail goes.
#[async_trait]
pub trait MailTransport: Send + Sync {
    /// `email` (an SMTP server) or `mail_folder`.
    fn channel(&self) -> &'static str;

    /// Where messages go, for the start-up banner (never a password).
    fn describe(&self) -> String;

    /// Sends one message.
    async fn send(&self, mail: &Mail) -> Result<(), SendError>;
}

/// Builds the message: from the configured sender, to the recipient, multipart/alternative
/// (text, then HTML), with `Message-ID: <message id@sender's domain>`.
fn build(from: &Mailbox, mail: &Mail) -> Result<Message, SendError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| SendError::Permanent(format!("the recipient's address is not valid: {e}")))?;
    let domain = from.email.domain().to_owned();
    let mut message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", mail.message_id)))
        .date_now()
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("the message could not be built: {e}")))?;
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Content-Language"),
        mail.language.clone(),
    ));
    Ok(message)
}

/// The sender's address, checked.
fn mailbox(from: &str) -> Result<Mailbox, ConfigError> {
    from.parse().map_err(|e| {
        ConfigError(format!(
            "the sender's address {from:?} is not an e-mail address: {e}"
        ))
    })
}

/// E-mail handed to an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    described: String,
}

impl SmtpMailer {
    /// How long one SMTP exchange may take before it counts as failed (and is retried).
    pub const TIMEOUT: Duration = Duration::from_secs(20);

    /// From a URL as lettre reads it: `smtp://host:port` (no TLS: a relay on the same host),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS required),
    /// `smtp://host?tls=opportunistic`, or `smtps://user:pass@host:465` (TLS from the start);
    /// user and password authenticate. `from` is the sender's address.
    pub fn new(url: &str, from: &str) -> Result<Self, ConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ConfigError(format!("CONFIDE_SMTP_URL is not an SMTP URL: {e}")))?
            .timeout(Some(Self::TIMEOUT))
            .build();
        Ok(Self {
            transport,
            from: mailbox(from)?,
            described: redact(url),
        })
    }
}

/// The URL without its password, for the banner and the logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:…@{host}")
        }
        None => url.to_owned(),
    }
}

#[async_trait]
impl MailTransport for SmtpMailer {
    fn channel(&self) -> &'static str {
        "email"
    }

    fn describe(&self) -> String {
        format!("e-mail through {} from {}", self.described, self.from)
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = build(&self.from, mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // A 5xx answer will not change by asking again; anything else (a connection
            // refused, a timeout, a 4xx) may.
            Err(error) if error.is_permanent() => Err(SendError::Permanent(format!(
                "the mail server refused the message: {error}"
            ))),
            Err(error) => Err(SendError::Transient(format!(
                "the mail server could not take the message: {error}"
            ))),
        }
    }
}

/// E-mail written into a folder, one `<message id>.eml` file each (RFC 5322, as a mail client
/// opens it): the embedded default, so the whole flow is visible without a mail server.
pub struct MailFolder {
    dir: PathBuf,
    from: Mailbox,
}

impl MailFolder {
    /// Messages go into `dir` (created if missing), from `from`.
    pub fn new(dir: &Path, from: &str) -> Result<Self, ConfigError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError(format!("creating {}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_owned(),
            from: mailbox(from)?,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl MailTransport for MailFolder {
    fn channel(&self) -> &'static str {
        "mail_folder"
    }

    fn describe(&self) -> String {
        format!(
            "e-mail written to {} (one .eml file each)",
            self.dir.display()
        )
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let bytes = build(&self.from, mail)?.formatted();
        // The id is a UUID the outbox made; nothing else reaches the file name.
        if !mail
            .message_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(SendError::Permanent("a message id is a UUID".to_owned()));
        }
        let path = self.dir.join(format!("{}.eml", mail.message_id));
        let partial = self.dir.join(format!(".{}.eml.partial", mail.message_id));
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            // Renamed into place whole: a reader never sees half a message, and writing the
            // same message again replaces it with the same message.
            std::fs::rename(&partial, &path)
        })
        .await
        .map_err(|e| SendError::Transient(format!("writing the message: {e}")))?;
        written.map_err(|e| SendError::Transient(format!("writing the message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            message_id: "0f8fad5b-d9cb-469f-a165-70867728950e".to_owned(),
            to: "Ada <ada@example.org>".to_owned(),
            subject: "Zustimmung zurückgezogen".to_owned(),
            text: "Bitte nicht mehr abspielen.".to_owned(),
            html: "<p>Bitte nicht mehr abspielen.</p>".to_owned(),
            language: "de".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_folder_keeps_one_eml_file_per_message_with_both_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let folder =
            MailFolder::new(&dir.path().join("outbox"), "Confide <notices@example.org>").unwrap();
        folder.send(&mail()).await.unwrap();
        folder.send(&mail()).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(folder.dir()).unwrap().collect();
        assert_eq!(files.len(), 1, "the same message twice is one file");
        let text = std::fs::read_to_string(
            folder
                .dir()
                .join("0f8fad5b-d9cb-469f-a165-70867728950e.eml"),
        )
        .unwrap();
        assert!(text.contains("Message-ID: <0f8fad5b-d9cb-469f-a165-70867728950e@example.org>"));
        assert!(text.contains("Content-Language: de"));
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("text/plain") && text.contains("text/html"));
    }

    #[tokio::test]
    async fn a_bad_address_is_a_permanent_failure_and_a_bad_sender_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let folder = MailFolder::new(dir.path(), "notices@example.org").unwrap();
        let mut bad = mail();
        bad.to = "not an address".to_owned();
        assert!(matches!(
            folder.send(&bad).await,
            Err(SendError::Permanent(_))
        ));
        assert!(MailFolder::new(dir.path(), "nobody").is_err());
        assert!(SmtpMailer::new("ftp://example.org", "notices@example.org").is_err());
    }

    #[tokio::test]
    async fn the_description_never_shows_the_password() {
        let mailer = SmtpMailer::new(
            "smtp://notices:s3cret@mail.example.org:587?tls=required",
            "notices@example.org",
        )
        .unwrap();
        let described = mailer.describe();
        assert!(!described.contains("s3cret"), "{described}");
        assert!(described.contains("mail.example.org:587"), "{described}");
    }
}
