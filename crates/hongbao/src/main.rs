//! The `hongbao` binary: the server, the admin tasks and `verify`. The storage backend is chosen here,
//! from the database URL, and nowhere else.

mod client;
mod settings;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use hongbao_service::{Op, Outcome, Service, SystemClock};
use hongbao_store::Store;

#[derive(Parser)]
#[command(name = "hongbao", version, about = "Wallets, red packets and a hash-chained double-entry ledger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: client::Connection,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (configuration from HONGBAO_* variables; flags override them).
    Serve {
        /// Address to listen on [env: HONGBAO_LISTEN, default 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<String>,
        /// `sqlite://PATH` or `postgres://...` [env: HONGBAO_DATABASE, default sqlite://hongbao.db].
        #[arg(long)]
        database: Option<String>,
    },
    /// Recompute the journal's hash chain and every balance; exit non-zero on any discrepancy.
    Verify {
        #[arg(long, env = "HONGBAO_DATABASE", default_value = settings::DEFAULT_DATABASE)]
        database: String,
    },
    /// Manage users directly in the database.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print their token (shown once).
    Add {
        name: String,
        #[arg(long, env = "HONGBAO_DATABASE", default_value = settings::DEFAULT_DATABASE)]
        database: String,
    },
}

/// Opens the backend a database URL names.
fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let limits = settings::postgres_limits()?;
        let store = hongbao_store_postgres::PostgresStore::with_limits(url, &limits).context("while reading the PostgreSQL url")?;
        return Ok(Arc::new(store));
    }
    let store = hongbao_store_sqlite::SqliteStore::from_url(url).with_context(|| format!("while opening {url}"))?;
    Ok(Arc::new(store))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Client(command) = cli.command {
        // Client commands block on HTTP and need no runtime of their own.
        return client::run(cli.connection, command).unwrap_or_else(|error| {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        });
    }
    settings::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve { listen, database } => serve(listen, database).await,
        Command::Verify { database } => verify(&database).await,
        Command::User { command: UserCommand::Add { name, database } } => add_user(&name, &database).await,
        Command::Openapi => {
            println!("{}", hongbao_http::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(_) => unreachable!("client commands return before the runtime starts"),
    }
}

fn start_service(database: &str, config: hongbao_service::Config) -> Result<Service> {
    let store = open_store(database)?;
    let started = Service::start(store, config, Arc::new(SystemClock)).with_context(|| format!("while starting on {database}"))?;
    if let Some(token) = started.generated_admin_token {
        // Printed once, the first time the database is used; only its hash is stored.
        println!("admin token (shown once, keep it): {token}");
    }
    Ok(started.service)
}

async fn serve(listen: Option<String>, database: Option<String>) -> Result<ExitCode> {
    let mut settings = settings::Settings::from_env()?;
    if let Some(database) = database {
        settings.set_database(database);
    }
    settings.load_secret_key()?;
    let listen = listen.unwrap_or(settings.listen);
    let database = settings.database;
    let service = start_service(&database, settings.config)?;
    let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("while binding {listen}"))?;
    let address = listener.local_addr().context("while reading the bound address")?;
    println!("hongbao listening on http://{address} (database {database})");
    std::io::stdout().flush().context("while writing to stdout")?;
    tracing::info!(%address, backend = service.backend_name(), "listening");
    hongbao_http::serve(listener, service, settings.http, settings::shutdown_signal()).await.context("while serving")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn verify(database: &str) -> Result<ExitCode> {
    let store = open_store(database)?;
    let report = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut conn = store.open_reader().context("while opening the database for reading")?;
        hongbao_service::verify::verify(conn.as_mut()).context("while reading the journal")
    })
    .await
    .context("while verifying")??;
    println!("{report}");
    for discrepancy in report.discrepancies.iter().skip(1).take(20) {
        println!("  also: {discrepancy}");
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn add_user(name: &str, database: &str) -> Result<ExitCode> {
    let mut settings = settings::Settings::from_env()?;
    settings.set_database(database.to_owned());
    settings.load_secret_key()?;
    let service = start_service(database, settings.config)?;
    match service.execute(Op::CreateUser { name: name.to_owned() }).await {
        Ok(Outcome::UserCreated { user, token }) => {
            println!("user {} ({})", user.id, user.name);
            println!("token (shown once): {token}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(other) => bail!("unexpected outcome {other:?}"),
        Err(error) => Err(anyhow::Error::new(error).context("while creating the user")),
    }
}
