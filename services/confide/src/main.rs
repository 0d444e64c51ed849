//! `confide`: serve the API, migrate the database, sign checkpoints.

mod keys;
mod server;
mod settings;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
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
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            server::open_store(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Checkpoint { tenant } => {
            let tenant = TenantId::parse(&tenant)?;
            let store = server::open_store(&settings).await?;
            let signer = keys::load_signer(&settings)?;
            let checkpoint = confide_eventstore::checkpoint::sign_checkpoint(
                store.as_ref(),
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
    let store = server::open_store(&settings).await?;
    let signer = keys::load_signer(&settings)?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
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
    println!("  checkpoint key: {}", signer.note_signer().verifier());
    println!("  health: http://{address}/health");
    server::launch(AppState { store }, listener, server::shutdown_signal()).await
}
