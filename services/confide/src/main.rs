//! `confide`: serve the API, migrate the database, sign checkpoints.

mod keys;
mod server;
mod settings;
mod telemetry;

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use confide_api::ApiState;
use confide_domain::TenantId;
use tokio::net::TcpListener;

use crate::keys::Missing;
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
    /// Audit bundles and the log's own integrity.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Export a tenant's log as an audit bundle that `confide-verify` checks offline. The
    /// export is recorded in the tenant's log first (by the platform operator).
    Export {
        #[arg(long)]
        tenant: String,
        /// Only these clients (and the consents, recordings and grants they created).
        #[arg(long = "client", value_name = "ID")]
        clients: Vec<uuid::Uuid>,
        /// Only these recordings (and their grants).
        #[arg(long = "recording", value_name = "ID")]
        recordings: Vec<uuid::Uuid>,
        /// Only these consents (and what was made under them).
        #[arg(long = "consent", value_name = "ID")]
        consents: Vec<uuid::Uuid>,
        /// Only events recorded at or after this instant (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events recorded before this instant (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// The checkpoint verified at the last audit (a file holding its signed note): the
        /// bundle then proves the log only grew since.
        #[arg(long, value_name = "FILE")]
        previous: Option<std::path::PathBuf>,
        /// Where to write the bundle (`-` for standard output).
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Check a tenant's stored log against itself: every row against its leaf hash, every
    /// stored tree node, every checkpoint's signature and root, and the head. Exits non-zero
    /// naming the first row that differs.
    VerifyStore {
        /// One tenant; every tenant when left out.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print the checkpoint key an auditor passes to `confide-verify --trusted-key`.
    Key,
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
            let tenant = TenantId::parse(&tenant)?;
            let user = confide_domain::UserId::parse(&user)?;
            let auth = server::authenticator(&settings, Missing::Refuse)?;
            let app = server::open_app(&settings, Missing::Refuse).await?;
            if !app.tenant_exists(&tenant).await? {
                anyhow::bail!(
                    "tenant {tenant} does not exist in {}: create it with `confide tenant create \
                     --tenant {tenant} --name <name> --admin <user>`, or point this command at \
                     the server's database (DATABASE_URL, or CONFIDE_DATA_DIR for the embedded \
                     default)",
                    describe_database(&settings.database)
                );
            }
            let token = auth
                .mint_user_token(
                    &tenant,
                    &user,
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
            let app = server::open_app(&settings, Missing::Refuse).await?;
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
            app.create_tenant(
                &tenant,
                name,
                policy,
                confide_domain::UserId::parse(&admin)?,
            )
            .await?;
            println!("created tenant {tenant} with org_admin {admin}");
            Ok(())
        }
        Command::Migrate => {
            // Needs no key, so creates none.
            confide_app::migrate_database(server::database(&settings)).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Audit(command) => audit(command, settings).await,
        Command::Checkpoint { tenant } => {
            let tenant = TenantId::parse(&tenant)?;
            let checkpoint = server::open_app(&settings, Missing::Refuse)
                .await?
                .sign_checkpoint(&tenant)
                .await?;
            print!("{}", checkpoint.note);
            Ok(())
        }
    }
}

async fn audit(command: AuditCommand, settings: Settings) -> Result<()> {
    match command {
        AuditCommand::Key => {
            let seed = keys::load_checkpoint_seed(&settings, Missing::Refuse)?;
            println!(
                "{}",
                confide_app::checkpoint_key(&settings.log_origin, &seed)?
            );
            Ok(())
        }
        AuditCommand::Export {
            tenant,
            clients,
            recordings,
            consents,
            from,
            until,
            previous,
            out,
        } => {
            let tenant = TenantId::parse(&tenant)?;
            let app = server::open_app(&settings, Missing::Refuse).await?;
            let previous = match previous {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let scope = confide_domain::aggregates::tenant::AuditScope::new(
                from,
                until,
                &clients,
                &recordings,
                &consents,
            )?;
            let operator = confide_app::Caller {
                tenant: tenant.clone(),
                actor: confide_domain::Actor::system(confide_domain::SystemJob::Operator),
            };
            let export_id = app
                .record_audit_export(&operator, scope.clone(), previous.as_deref())
                .await?;
            let summary = if out.as_os_str() == "-" {
                let mut stdout = tokio::io::stdout();
                app.write_audit_bundle(&operator, &scope, previous, &mut stdout)
                    .await?
            } else {
                // Written beside the target and moved into place only when complete, so a
                // failed export never leaves something that looks like a bundle.
                let partial = out.with_extension("partial");
                let mut file = tokio::io::BufWriter::new(
                    tokio::fs::File::create(&partial)
                        .await
                        .with_context(|| format!("creating {}", partial.display()))?,
                );
                let written = app
                    .write_audit_bundle(&operator, &scope, previous, &mut file)
                    .await;
                let summary = match written {
                    Ok(summary) => summary,
                    Err(error) => {
                        let _ = std::fs::remove_file(&partial);
                        return Err(error.into());
                    }
                };
                file.into_inner().sync_all().await?;
                std::fs::rename(&partial, &out)
                    .with_context(|| format!("moving the bundle to {}", out.display()))?;
                summary
            };
            eprintln!(
                "export {export_id}: {} events disclosed of {} (checkpoint of {} events, root {}), \
                 signed by {}",
                summary.bundle.events,
                summary.bundle.tree_size,
                summary.checkpoint.tree_size,
                hex::encode(summary.checkpoint.root),
                app.checkpoint_key(),
            );
            Ok(())
        }
        AuditCommand::VerifyStore { tenant } => {
            let app = server::open_app(&settings, Missing::Refuse).await?;
            let tenants = match tenant {
                Some(tenant) => vec![TenantId::parse(&tenant)?],
                None => app.tenants().await?,
            };
            for tenant in tenants {
                let checked = app
                    .verify_store(&tenant)
                    .await
                    .with_context(|| format!("tenant {tenant}'s log does not verify"))?;
                println!(
                    "{tenant}: {} events, {} tree nodes, {} checkpoints verified; root {}",
                    checked.events,
                    checked.nodes,
                    checked.checkpoints,
                    hex::encode(checked.root)
                );
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> Result<()> {
    // The server alone creates the keys it lacks, on its first start.
    let auth = Arc::new(server::authenticator(&settings, Missing::Create)?);
    let app = server::open_app(&settings, Missing::Create).await?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    let app =
        Arc::new(app.with_notice_channels(server::notice_channels(&settings, &auth, &public_url)?));
    let shutdown = server::shutdown_signal()?;
    let where_ = describe_database(&settings.database);
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
    println!("  checkpoint key: {}", app.checkpoint_key());
    println!("  notices: {}", app.notice_channels().describe());
    println!("  GraphQL: http://{address}/graphql");
    println!("  pages: http://{address}/ (client links open under /link/, auditors at /audit)");
    match &settings.oidc {
        Some(oidc) => println!("  sign-in: through {}", oidc.issuer),
        None if settings.development => {
            println!("  sign-in: development mode, as anyone, at http://{address}/sign-in")
        }
        None => println!("  sign-in: no identity provider (CONFIDE_OIDC_ISSUER) is set"),
    }
    if settings.development {
        println!("  GraphiQL: open http://{address}/graphql in a browser");
        println!("  a token: confide token --tenant <tenant> --user <user>");
    }
    // Last: scripts and tests read up to this line.
    println!("  health: http://{address}/health");
    let state = Arc::new(ApiState::new(app, auth, settings.development, &public_url));
    let pages = server::pages(&settings, &state, &public_url)?;
    server::launch(state, pages, listener, shutdown).await
}

/// Where the events are, for people: the database's URL may hold a password.
fn describe_database(database: &Database) -> String {
    match database {
        Database::Sqlite(path) => format!("SQLite at {}", path.display()),
        Database::Postgres(_) => "PostgreSQL".to_owned(),
    }
}
