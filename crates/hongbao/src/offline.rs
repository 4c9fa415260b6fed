//! Offline verification for people who trust nothing but the operator's public key: a receipt, two
//! checkpoints and the consistency proof between them, a case dossier. No server, no database: what
//! was checked is printed in plain words, and any failure is named and exits 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use hongbao_tlog::{VerifierKey, parse_proof, verify_consistency, verify_receipt};

#[derive(Subcommand)]
pub enum ReceiptCommand {
    /// Verify a receipt (a C2SP tlog-proof from GET /v1/transactions/{txn_no}/receipt) with the
    /// operator's public key; print what it shows and what was checked.
    Verify {
        /// The receipt file.
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// The currency the amounts are in (ISO 4217); the receipt itself carries minor units.
        #[arg(long, default_value = "CNY")]
        currency: String,
    },
}

#[derive(Subcommand)]
pub enum JournalCommand {
    /// Check that a newer signed checkpoint extends a kept one, by the consistency proof between them
    /// (from GET /v1/journal/consistency?from=OLD_SIZE&to=NEW_SIZE).
    VerifyConsistency {
        /// The kept (older) checkpoint, a signed note.
        old: PathBuf,
        /// The newer checkpoint, a signed note.
        new: PathBuf,
        /// The consistency proof: base64 hashes, one per line.
        proof: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Subcommand)]
pub enum DossierCommand {
    /// Verify a case dossier (from GET /v1/ops/cases/{id}/dossier) with the operator's public key:
    /// every file's hash, the signed manifest, every receipt, the audit-log chain.
    Verify {
        /// The dossier archive (.tar).
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// The currency the amounts are in (ISO 4217).
        #[arg(long, default_value = "CNY")]
        currency: String,
    },
}

#[derive(clap::Args)]
pub struct KeyArgs {
    /// The operator's public key: the verifier key text (`<name>+<id>+<base64>`, from
    /// /.well-known/hongbao/log-key or `hongbao log-key`) or a file holding it.
    #[arg(long = "public-key", value_name = "KEY")]
    public_key: String,
    /// The log's origin the checkpoints must name; by default the key's name.
    #[arg(long)]
    origin: Option<String>,
}

impl KeyArgs {
    fn key(&self) -> Result<VerifierKey> {
        let text = self.public_key.trim();
        if let Ok(key) = VerifierKey::parse(text) {
            return Ok(key);
        }
        let contents = std::fs::read_to_string(Path::new(text))
            .with_context(|| format!("--public-key is neither a verifier key (<name>+<id>+<base64>) nor a readable file: {text}"))?;
        VerifierKey::parse(contents.trim()).map_err(|error| anyhow::anyhow!("the file {text} does not hold a verifier key: {error}"))
    }
}

fn read(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("while reading the {what} {}", path.display()))
}

/// Prints a failure in words, with its stable code, and exits 1.
fn refused(heading: &str, detail: &str, code: &str) -> ExitCode {
    println!("{heading}");
    println!();
    println!("  What failed: {detail}");
    println!("  (code: {code})");
    ExitCode::from(1)
}

pub fn run_receipt(command: ReceiptCommand) -> Result<ExitCode> {
    let ReceiptCommand::Verify { file, key, currency } = command;
    let verifier = key.key()?;
    let text = read(&file, "receipt")?;
    Ok(match verify_receipt(&text, &verifier, key.origin.as_deref()) {
        Ok(verified) => {
            print!("{}", verified.report(&currency));
            ExitCode::SUCCESS
        }
        Err(error) => refused("RECEIPT NOT VERIFIED", &error.to_string(), error.code()),
    })
}

pub fn run_journal(command: JournalCommand) -> Result<ExitCode> {
    let JournalCommand::VerifyConsistency { old, new, proof, key } = command;
    let verifier = key.key()?;
    let (old, new, proof) = (read(&old, "kept checkpoint")?, read(&new, "newer checkpoint")?, read(&proof, "consistency proof")?);
    let checked = parse_proof(&proof).and_then(|proof| verify_consistency(&old, &new, &proof, &verifier));
    Ok(match checked {
        Ok(verified) => {
            print!("{}", verified.report());
            ExitCode::SUCCESS
        }
        Err(error) => refused("CONSISTENCY NOT VERIFIED", &error.to_string(), error.code()),
    })
}

pub fn run_dossier(command: DossierCommand) -> Result<ExitCode> {
    let DossierCommand::Verify { file, key, currency } = command;
    let verifier = key.key()?;
    let bytes = std::fs::read(&file).with_context(|| format!("while reading the dossier {}", file.display()))?;
    Ok(match hongbao_http::dossier::verify_dossier(&bytes, &verifier, &currency) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => refused("DOSSIER NOT VERIFIED", &error.to_string(), error.code()),
    })
}
