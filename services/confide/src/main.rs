//! `confide`: serve the API, migrate the database, sign checkpoints.

mod keys;
mod server;
mod settings;
mod telemetry;

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use confide_api::ApiState;
use confide_eventstore::TenantId;
use tokio::net::TcpListener;

use crate::server::AppState;
use crate::settings::{Database, Settings};

#[derive(Parser)]
#[command(
    version,
    about = "Recordings of counselling, coaching and supervision sessions, governed by consent"
)]
struct Cli {
    /// A TOML file of settings. Its keys are the `CONFIDE_…` variables' names without the
    /// prefix, in lower case (`database_url`, `listen`, `jwks_url`, …); variables win over it.
    #[arg(long, global = true, env = "CONFIDE_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). With no configuration: SQLite and local files under
    /// ~/.local/share/confide, listening on 127.0.0.1:8080.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Sign the current head of a tenant's log and print the checkpoint.
    Checkpoint {
        #[arg(long)]
        tenant: String,
    },
    /// Mint a development token for a user in a tenant, signed with the server's token key.
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// How long it lasts.
        #[arg(long, default_value_t = 8)]
        hours: i64,
    },
    /// Platform operations.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant (an organisation) and its first org_admin.
    Create {
        /// The tenant's id: lowercase letters, digits and '-'.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// The first administrator's user id (their identity provider subject).
        #[arg(long)]
        admin: String,
        /// `written_opt_in` (counselling) or `notified_opt_out` (coaching).
        #[arg(long, default_value = "written_opt_in")]
        consent_model: String,
        /// `gdpr`, `uk_gdpr`, `ccpa`, `hipaa` or `pdpa`.
        #[arg(long, default_value = "uk_gdpr")]
        jurisdiction: String,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    let telemetry = telemetry::init(settings.development)?;
    let outcome = run(cli.command.unwrap_or(Command::Serve), settings).await;
    // Whatever the outcome, export the spans and metrics that are left before exiting.
    telemetry.shutdown().await;
    outcome
}

async fn run(command: Command, settings: Settings) -> Result<()> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Token {
            tenant,
            user,
            hours,
        } => {
            let backend = server::open_store(&settings).await?;
            let services = server::services(&settings, &backend).await?;
            let token = services
                .auth
                .mint_user_token(
                    &TenantId::parse(&tenant)?,
                    &confide_domain::UserId::parse(&user)?,
                    chrono::TimeDelta::hours(hours),
                    chrono::Utc::now(),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{token}");
            Ok(())
        }
        Command::Tenant(TenantCommand::Create {
            tenant,
            name,
            admin,
            consent_model,
            jurisdiction,
        }) => {
            let backend = server::open_store(&settings).await?;
            let services = server::services(&settings, &backend).await?;
            let tenant = TenantId::parse(&tenant)?;
            let policy = confide_domain::policy::TenantPolicy {
                consent_model: serde_json::from_value(serde_json::json!(consent_model))
                    .context("--consent-model is written_opt_in or notified_opt_out")?,
                allowed_media: confide_domain::policy::MediaPolicy::AudioOnly,
                practitioner_self_access: true,
                client_copies: confide_domain::policy::ClientCopies::OnRequestReviewed,
                retention_days: 365,
                course_grace_days: 30,
                jurisdiction: serde_json::from_value(serde_json::json!(jurisdiction))
                    .context("--jurisdiction is gdpr, uk_gdpr, ccpa, hipaa or pdpa")?,
            };
            services
                .app
                .execute::<confide_domain::aggregates::tenant::Tenant>(
                    &tenant,
                    &confide_domain::Actor::system(confide_domain::SystemJob::Provisioning),
                    &confide_app::tenant_stream(),
                    confide_domain::aggregates::tenant::TenantCommand::CreateTenant {
                        name,
                        policy,
                        first_admin: confide_domain::UserId::parse(&admin)?,
                    },
                    &[],
                )
                .await?;
            println!("created tenant {tenant} with org_admin {admin}");
            Ok(())
        }
        Command::Migrate => {
            server::open_store(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Checkpoint { tenant } => {
            let tenant = TenantId::parse(&tenant)?;
            let backend = server::open_store(&settings).await?;
            let signer = keys::load_signer(&settings)?;
            let checkpoint = confide_eventstore::checkpoint::sign_checkpoint(
                backend.store.as_ref(),
                &signer,
                &tenant,
                chrono::Utc::now(),
            )
            .await?;
            print!("{}", checkpoint.note);
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> Result<()> {
    let backend = server::open_store(&settings).await?;
    let services = Arc::new(server::services(&settings, &backend).await?);
    let signer = keys::load_signer(&settings)?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let shutdown = server::shutdown_signal()?;
    let where_ = match &settings.database {
        Database::Sqlite(path) => format!("SQLite at {}", path.display()),
        Database::Postgres(_) => "PostgreSQL".to_owned(),
    };
    println!(
        "Confide {} listening on http://{address}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  data: {}", settings.data_dir.display());
    println!("  events: {where_}");
    match &settings.media {
        settings::MediaStore::Local(dir) => println!("  media: encrypted in {}", dir.display()),
        settings::MediaStore::S3(s3) => println!("  media: encrypted in S3 bucket {}", s3.bucket),
    }
    println!("  checkpoint key: {}", signer.note_signer().verifier());
    println!("  GraphQL: http://{address}/graphql");
    if settings.development {
        println!("  GraphiQL: open http://{address}/graphql in a browser");
        println!("  a token: confide token --tenant <tenant> --user <user>");
    }
    // Last: scripts and tests read up to this line.
    println!("  health: http://{address}/health");
    let state = AppState {
        store: backend.store.clone(),
        api: Arc::new(ApiState::new(services, settings.development)),
    };
    server::launch(state, listener, shutdown).await
}
