//! Start-up: open the store, build the router, serve until shut down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use confide_api::ApiState;
use confide_api::auth::{Authenticator, JWKS_REFRESH_EVERY, RemoteKeySet};
use confide_api::links::SignedClientLinks;
use confide_app::{
    App, MailFolder, MailTransport, Media, NoticeChannels, RetryPolicy, S3Bucket, SmtpMailer,
    WebhookSender, Wiring,
};
use tokio::net::TcpListener;

use crate::keys::{self, Missing};
use crate::settings::{Database, MediaStore, Settings};

/// The application over the configured database, key store, blob store and signer, with
/// pending migrations applied. The keys are read before the database is opened; a missing
/// one is created only if `missing` says so (the server's first start).
pub(crate) async fn open_app(settings: &Settings, missing: Missing) -> Result<App> {
    let media = match &settings.media {
        MediaStore::Local(dir) => Media::Local(dir.clone()),
        MediaStore::S3(s3) => Media::S3(S3Bucket {
            bucket: s3.bucket.clone(),
            endpoint: s3.endpoint.clone(),
            region: s3.region.clone(),
            force_path_style: s3.force_path_style,
            credentials: match (&s3.access_key_id, &s3.secret_access_key) {
                (Some(id), Some(secret)) => Some((id.clone(), secret.expose().to_owned())),
                (None, None) => None,
                _ => anyhow::bail!(
                    "CONFIDE_S3_ACCESS_KEY_ID and CONFIDE_S3_SECRET_ACCESS_KEY go together"
                ),
            },
        }),
    };
    Ok(App::open(Wiring {
        database: database(settings),
        media,
        master_key: keys::load_master_key(settings, missing)?,
        checkpoint_seed: keys::load_checkpoint_seed(settings, missing)?,
        log_origin: settings.log_origin.clone(),
    })
    .await?)
}

/// The configured database, as the application names it.
pub(crate) fn database(settings: &Settings) -> confide_app::Database {
    match &settings.database {
        Database::Sqlite(path) => confide_app::Database::Sqlite(path.clone()),
        Database::Postgres(url) => confide_app::Database::Postgres(url.clone()),
    }
}

/// The channels notices go out through: the SMTP server `CONFIDE_SMTP_URL` names, else
/// `.eml` files in the mail folder; signed webhooks; client links signed by `auth`, as URLs
/// under `public_url`.
pub(crate) fn notice_channels(
    settings: &Settings,
    auth: &Arc<Authenticator>,
    public_url: &str,
) -> Result<NoticeChannels> {
    let mail: Arc<dyn MailTransport> = match &settings.mail.smtp_url {
        Some(url) => Arc::new(
            SmtpMailer::new(url.expose(), &settings.mail.from).context("CONFIDE_SMTP_URL")?,
        ),
        None => Arc::new(
            MailFolder::new(&settings.mail.mail_dir, &settings.mail.from)
                .context("the mail folder")?,
        ),
    };
    Ok(NoticeChannels {
        mail: Some(mail),
        webhooks: Some(WebhookSender::new().context("the webhook client")?),
        links: Some(Arc::new(SignedClientLinks::new(auth.clone(), public_url))),
        retry: RetryPolicy::default(),
    })
}

/// The authenticator of tokens: the server's own key, and the identity provider's.
pub(crate) fn authenticator(settings: &Settings, missing: Missing) -> Result<Authenticator> {
    let trusted = match &settings.jwks_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(&text)
                    .with_context(|| format!("{} is not a JWK set", path.display()))?,
            )
        }
        None => None,
    };
    let mut auth = Authenticator::new(
        settings.token_issuer.clone(),
        settings.token_audience.clone(),
        keys::load_token_key(settings, missing)?,
        trusted.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("the trusted keys: {e}"))?;
    if let Some(url) = &settings.jwks_url {
        // Fetched by `launch`, and on demand by a token naming a key the set lacks.
        let remote = RemoteKeySet::new(url).context("CONFIDE_JWKS_URL")?;
        auth = auth.with_remote_keys(Arc::new(remote));
    }
    Ok(auth)
}

/// The pages, reached at `public_url`, signing people in through the identity provider the
/// settings name.
pub(crate) fn pages(
    settings: &Settings,
    state: &ApiState,
    public_url: &str,
) -> Result<confide_web::WebState> {
    let pages = confide_web::WebState::new(state.app.clone(), state.auth.clone(), public_url)
        .in_development(state.development);
    Ok(match &settings.oidc {
        Some(oidc) => pages
            .with_identity_provider(confide_web::ProviderSettings {
                issuer: oidc.issuer.clone(),
                client_id: oidc.client_id.clone(),
                client_secret: oidc.client_secret.as_ref().map(|s| s.expose().to_owned()),
            })
            .map_err(|e| anyhow::anyhow!("CONFIDE_OIDC_ISSUER: {e}"))?,
        None => pages,
    })
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests. The
/// identity provider's key set, if one is configured, is fetched now and kept fresh meanwhile.
pub(crate) async fn launch(
    state: Arc<ApiState>,
    pages: confide_web::WebState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let refresher = state
        .auth
        .remote_keys()
        .cloned()
        .map(|keys| tokio::spawn(async move { keys.keep_fresh(JWKS_REFRESH_EVERY).await }));
    let app = state.app.clone();
    let destructions = tokio::spawn(async move { destruction_jobs(&app).await });
    let app = state.app.clone();
    let notices = tokio::spawn(async move { notice_jobs(&app).await });
    let pages = confide_web::router(Arc::new(pages));
    confide_api::serve(listener, confide_api::service(state, pages), shutdown).await;
    if let Some(refresher) = refresher {
        refresher.abort();
    }
    destructions.abort();
    notices.abort();
    Ok(())
}

/// How often the notice job runs when nothing wakes it.
const NOTICES_EVERY: Duration = Duration::from_secs(5);

/// The notices of every tenant: the outbox brought up to the log and every due message sent
/// ([`App::run_notice_jobs`]), at start-up, after this process appends (within a second), and
/// every [`NOTICES_EVERY`] for what other processes append and for retries that fall due. A
/// failed run is logged and the next one tries again; each message is claimed before it is
/// sent, so a run that is cut short never sends one twice.
async fn notice_jobs(app: &App) {
    let mut appended = app.appended();
    loop {
        match app.run_notice_jobs().await {
            Ok(run) if run.delivered + run.failed + run.retrying > 0 => tracing::info!(
                delivered = run.delivered,
                failed = run.failed,
                retrying = run.retrying,
                "notices sent"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the notice job failed; retrying later"),
        }
        tokio::select! {
            _ = appended.changed() => {
                // Let a burst of appends land before projecting them.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ = tokio::time::sleep(NOTICES_EVERY) => {}
        }
    }
}

/// How often retention and scheduled destructions run.
const DESTRUCTIONS_EVERY: Duration = Duration::from_secs(60);

/// Retention and destruction for every tenant: at start-up, which finishes any destruction
/// a crash cut short, and then every [`DESTRUCTIONS_EVERY`]. A failed run is logged and the
/// next one tries again; each step of a destruction is safe to repeat.
async fn destruction_jobs(app: &App) {
    let mut every = tokio::time::interval(DESTRUCTIONS_EVERY);
    loop {
        every.tick().await;
        match app.run_destruction_jobs().await {
            Ok(0) => {}
            Ok(destroyed) => tracing::info!(destroyed, "recordings destroyed"),
            Err(error) => tracing::warn!(%error, "the destruction jobs failed; retrying later"),
        }
    }
}

/// Completes on SIGINT (ctrl-c) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: a signal that arrives as soon as the server says it
/// is listening is a graceful shutdown, never the default action's sudden exit.
pub(crate) fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}
