//! The `hongbao` binary: the server, the admin tasks and `verify`. The storage backend is chosen here,
//! from the database URL, and nowhere else.

mod client;
mod log_key;
mod offline;
mod settings;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use hongbao_service::{Op, Outcome, Service, SystemClock};
use hongbao_store::Store;

/// mimalloc serves the many small allocations of a request in fewer instructions than glibc's
/// allocator (BENCHMARKS.md, the write path's instruction count).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Print the public key that verifies the journal's checkpoints and receipts: the current one, from
    /// the database's `log_keys` or from a running server's /.well-known/hongbao/log-key.
    LogKey {
        /// Read the key from this database [env: HONGBAO_DATABASE]; without it, ask the server.
        #[arg(long, env = "HONGBAO_DATABASE")]
        database: Option<String>,
        /// Print every key that ever signed, newest first, not only the current one.
        #[arg(long)]
        all: bool,
        /// Instead, generate a new signing key into this file (mode 0600; it must not exist) and print
        /// its public key: how a key is rotated (see README, "Keys").
        #[arg(long, value_name = "FILE", conflicts_with_all = ["database", "all"])]
        generate: Option<std::path::PathBuf>,
        /// The log's name for `--generate` [env: HONGBAO_LOG_ORIGIN, default hongbao/<host name>/journal].
        #[arg(long, env = "HONGBAO_LOG_ORIGIN", requires = "generate")]
        origin: Option<String>,
    },
    /// Verify receipts offline.
    #[command(subcommand)]
    Receipt(offline::ReceiptCommand),
    /// Verify the journal's checkpoints offline.
    #[command(subcommand)]
    Journal(offline::JournalCommand),
    /// Verify case dossiers offline.
    #[command(subcommand)]
    Dossier(offline::DossierCommand),
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
    // Offline checks need no server, no database and no runtime.
    let offline = match cli.command {
        Command::Receipt(command) => Some(offline::run_receipt(command)),
        Command::Journal(command) => Some(offline::run_journal(command)),
        Command::Dossier(command) => Some(offline::run_dossier(command)),
        command => {
            return run_online(Cli { command, connection: cli.connection });
        }
    };
    offline.map_or(ExitCode::SUCCESS, |result| {
        result.unwrap_or_else(|error| {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        })
    })
}

fn run_online(cli: Cli) -> ExitCode {
    if let Command::LogKey { generate: Some(path), origin, .. } = &cli.command {
        if path.exists() {
            eprintln!("error: {} exists: a key file is never overwritten", path.display());
            return ExitCode::from(2);
        }
        return match log_key::create(path, &origin.clone().unwrap_or_else(log_key::default_origin)) {
            Ok(key) => {
                println!("{}", key.verifier());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::LogKey { database: None, all, .. } = &cli.command {
        return log_key::print_from_server(&cli.connection, *all).unwrap_or_else(|error| {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        });
    }
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
        Command::LogKey { database, all, .. } => print_log_key(database.as_deref().unwrap_or(settings::DEFAULT_DATABASE), all).await,
        Command::Client(_) | Command::Receipt(_) | Command::Journal(_) | Command::Dossier(_) => {
            unreachable!("client and offline commands return before the runtime starts")
        }
    }
}

fn start_service(database: &str, mut config: hongbao_service::Config, key: &settings::LogKeySettings) -> Result<Service> {
    config.log_key = Some(log_key::load_or_create(&key.file, key.origin.as_deref())?);
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
    let service = start_service(&database, settings.config, &settings.log_key)?;
    let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("while binding {listen}"))?;
    let address = listener.local_addr().context("while reading the bound address")?;
    println!("hongbao listening on http://{address} (database {database})");
    std::io::stdout().flush().context("while writing to stdout")?;
    tracing::info!(%address, backend = service.backend_name(), "listening");
    hongbao_http::serve(listener, service, settings.http, settings::shutdown_signal()).await.context("while serving")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Prints the current verifier key (the newest in `log_keys`), or every key.
async fn print_log_key(database: &str, all: bool) -> Result<ExitCode> {
    let store = open_store(database)?;
    let keys = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut conn = store.open_reader().context("while opening the database for reading")?;
        let query = hongbao_store::transparency::log_keys_newest_first(1_000);
        hongbao_store::records::list::<hongbao_store::transparency::StoredLogKey>(conn.as_mut(), &query).context("while reading the log's keys")
    })
    .await
    .context("while reading the log's keys")??;
    if keys.is_empty() {
        bail!("no key has signed this database's checkpoints yet: start the server once");
    }
    for key in keys.iter().take(if all { keys.len() } else { 1 }) {
        println!("{}", key.verifier_key);
    }
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
    let service = start_service(database, settings.config, &settings.log_key)?;
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
