//! The case dossier as one archive (a POSIX tar), and its offline verification.
//!
//! ```text
//! dossier-<case id>/
//!   manifest.txt          a signed note (C2SP signed-note) by the log's key: the case, the log, when,
//!                         and every other file with its SHA-256 and size
//!   case.json             the case, its freezes, reversals, transactions and timeline
//!   evidence/<id>         every evidence file, as stored (content-addressed by SHA-256)
//!   receipts/<txn>.tlog-proof   a receipt (C2SP tlog-proof) of each transaction involved
//!   checkpoint.txt        the signed checkpoint (C2SP tlog-checkpoint) the receipts are proven in
//!   audit-log.json        the case's audit-log entries with their chain links (seq, prev_hash, hash and
//!                         every hashed field, so each hash can be recomputed)
//!   log-key.txt           the verifier key, for reference (verification uses the key it is given)
//!   README.txt            how to verify, in words
//! ```
//!
//! [`verify_dossier`] checks, with nothing but the operator's public key: the manifest's signature;
//! that every file is listed with its hash and size and nothing is missing or added; that the evidence
//! files are the ones the case names by SHA-256; that every receipt verifies and is proven in the
//! dossier's checkpoint, and that every transaction belongs to the case; that every audit entry's hash
//! recomputes from its fields, that adjacent entries link, and that the case's entries are about it.
//! Changing any byte of any file makes it fail, and the failure names what.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;

use hongbao_core::staff::{AuditRecord, audit_hash};
use hongbao_core::{JournalHash, TxnKind};
use hongbao_service::dossier::{Dossier, DossierRole};
use hongbao_tlog::{CheckpointError, NoteError, ReceiptError, SignerKey, VerifierKey, open_checkpoint, verify_receipt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The first line of a dossier's manifest.
pub const MANIFEST_HEADER: &str = "hongbao case dossier v1";
const MANIFEST: &str = "manifest.txt";
const CASE: &str = "case.json";
const AUDIT: &str = "audit-log.json";
const CHECKPOINT: &str = "checkpoint.txt";
const LOG_KEY: &str = "log-key.txt";
const README: &str = "README.txt";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The file name an evidence file has in the dossier.
fn evidence_path(id: &str) -> String {
    format!("evidence/{id}")
}

fn receipt_path(txn_no: &str) -> String {
    format!("receipts/{txn_no}.{}", hongbao_tlog::RECEIPT_FILE_EXTENSION)
}

fn role_name(role: DossierRole) -> &'static str {
    role.as_str()
}

/// Packs a dossier: reads its evidence files, writes every file, lists them in the manifest and signs
/// it with `signer` (the log's key). Errors: an evidence file that cannot be read.
pub fn build_dossier(dossier: &Dossier, signer: &SignerKey) -> std::io::Result<Vec<u8>> {
    let complaint = &dossier.complaint;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut evidence = Vec::new();
    for (file, path) in &dossier.evidence {
        let bytes = std::fs::read(path)?;
        evidence.push(json!({
            "id": file.id.to_string(), "sha256": file.sha256, "size": file.size, "content_type": file.content_type,
            "label": file.label.map(|label| label.as_str()), "uploaded_by": file.uploaded_by, "uploaded_at": file.created_at.to_rfc3339(),
            "file": evidence_path(file.id.as_str()),
        }));
        files.push((evidence_path(file.id.as_str()), bytes));
    }
    let mut transactions = Vec::new();
    for transaction in &dossier.transactions {
        let txn = &transaction.entry.txn;
        let path = receipt_path(txn.txn_no().as_str());
        transactions.push(json!({
            "txn_no": txn.txn_no().to_string(), "role": role_name(transaction.role), "kind": txn.kind().as_str(),
            "amount": txn.amount().minor_units(), "created_at": txn.created_at().to_rfc3339(), "seq": transaction.entry.seq,
            "corrects_txn_no": txn.related().corrects_txn_no.as_ref().map(ToString::to_string), "receipt": path,
        }));
        files.push((path, transaction.receipt.clone().into_bytes()));
    }
    let freezes: Vec<Value> = dossier
        .freezes
        .iter()
        .map(|freeze| {
            json!({"id": freeze.id.to_string(), "user_id": freeze.user_id.to_string(), "reason": freeze.reason, "created_by": freeze.created_by,
                   "created_at": freeze.created_at.to_rfc3339(), "refunded_amount": freeze.refunded_amount.minor_units(),
                   "lifted_at": freeze.lift.as_ref().map(|lift| lift.lifted_at.to_rfc3339())})
        })
        .collect();
    let reversals: Vec<Value> = dossier
        .reversals
        .iter()
        .map(|reversal| {
            json!({"id": reversal.id.to_string(), "txn_no": reversal.txn_no.to_string(), "amount": reversal.amount.minor_units(),
                   "reference": reversal.reference, "reason": reversal.reason, "status": reversal.approval.status.as_str(),
                   "reversal_txn_no": reversal.reversal_txn_no.as_ref().map(ToString::to_string)})
        })
        .collect();
    let mut timeline: Vec<(i64, String)> = vec![(
        complaint.created_at.millis(),
        format!("complaint {} ({}) submitted by {} about {}", complaint.id, complaint.kind.as_str(), complaint.complainant_id, join(&complaint.txn_nos)),
    )];
    for (file, _) in &dossier.evidence {
        timeline.push((file.created_at.millis(), format!("evidence {} uploaded by {}, SHA-256 {}", file.id, file.uploaded_by, file.sha256)));
    }
    for transaction in &dossier.transactions {
        let txn = &transaction.entry.txn;
        timeline.push((
            txn.created_at().millis(),
            format!("{} {}: {} of {} minor units", role_name(transaction.role), txn.txn_no(), txn.kind().as_str(), txn.amount().minor_units()),
        ));
    }
    for audited in dossier.audit.iter().filter(|audited| audited.of_case) {
        let record = &audited.entry.record;
        timeline.push((record.at.millis(), format!("{} by {} {}: {}", record.action, record.actor_role, record.actor_id, record.reason)));
    }
    if let Some(resolved_at) = complaint.resolved_at {
        timeline.push((resolved_at.millis(), format!("case resolved: {}", complaint.status.outcome().map_or("", |outcome| outcome.as_str()))));
    }
    timeline.sort_by_key(|(at, _)| *at);
    let case = json!({
        "id": complaint.id.to_string(), "kind": complaint.kind.as_str(), "status": complaint.status.as_str(),
        "outcome": complaint.status.outcome().map(|outcome| outcome.as_str()), "complainant_id": complaint.complainant_id.to_string(),
        "respondent_ids": complaint.respondent_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "txn_nos": complaint.txn_nos.iter().map(ToString::to_string).collect::<Vec<_>>(), "description": complaint.description,
        "refunded_amount": complaint.refunded_amount.minor_units(), "note": complaint.note, "created_at": complaint.created_at.to_rfc3339(),
        "resolved_at": complaint.resolved_at.map(|at| at.to_rfc3339()),
        "evidence": evidence, "freezes": freezes, "reversals": reversals, "transactions": transactions,
        "timeline": timeline.into_iter().map(|(at, what)| json!({"at": hongbao_core::Timestamp::from_millis(at).to_rfc3339(), "what": what})).collect::<Vec<_>>(),
    });
    files.push((CASE.to_owned(), pretty(&case)));
    let audit: Vec<Value> = dossier
        .audit
        .iter()
        .map(|audited| {
            let (entry, record) = (&audited.entry, &audited.entry.record);
            json!({"seq": entry.seq, "at_millis": record.at.millis(), "at": record.at.to_rfc3339(), "actor_id": record.actor_id,
                   "actor_role": record.actor_role, "action": record.action.as_str(), "target": record.target, "reason": record.reason,
                   "detail": record.detail, "prev_hash": entry.prev_hash.to_hex(), "hash": entry.hash.to_hex(), "of_case": audited.of_case})
        })
        .collect();
    files.push((AUDIT.to_owned(), pretty(&json!({ "entries": audit }))));
    files.push((CHECKPOINT.to_owned(), dossier.checkpoint.signed_note.clone().into_bytes()));
    files.push((LOG_KEY.to_owned(), format!("{}\n", dossier.verifier_key).into_bytes()));
    files.push((README.to_owned(), readme(dossier).into_bytes()));

    let mut manifest = format!("{MANIFEST_HEADER}\ncase {}\nlog {}\nmade {}\n", complaint.id, signer.name(), dossier.made_at.to_rfc3339());
    for (path, bytes) in &files {
        let _ = writeln!(manifest, "file {} {} {path}", sha256_hex(bytes), bytes.len());
    }
    let signed = signer.sign_note(&manifest).map_err(|error| std::io::Error::other(error.to_string()))?;
    files.insert(0, (MANIFEST.to_owned(), signed.into_bytes()));

    let root = format!("dossier-{}", complaint.id);
    let mtime = u64::try_from(dossier.made_at.millis() / 1_000).unwrap_or(0);
    let mut archive = tar::Builder::new(Vec::new());
    for (path, bytes) in &files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, format!("{root}/{path}"), bytes.as_slice())?;
    }
    archive.into_inner()
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn readme(dossier: &Dossier) -> String {
    format!(
        "Dossier of case {case}\n\n\
         Every file here is listed with its SHA-256 in manifest.txt, which is signed by the operator's key\n\
         {key}\n\
         (also served at /.well-known/hongbao/log-key). To check all of it, with no server and no database:\n\n\
         \x20   hongbao dossier verify dossier-{case}.tar --public-key '{key}'\n\n\
         Each receipt in receipts/ can also be checked on its own:\n\n\
         \x20   hongbao receipt verify receipts/<txn>.tlog-proof --public-key '{key}'\n\n\
         The receipts are proven in the signed checkpoint in checkpoint.txt (entries 1 to {size} of the log).\n\
         A later checkpoint of the log extends it if `hongbao journal verify-consistency` says so.\n",
        case = dossier.complaint.id,
        key = dossier.verifier_key,
        size = dossier.checkpoint.size,
    )
}

/// Why a dossier does not verify. Each names what failed; [`DossierError::code`] gives a stable code.
#[derive(Debug, thiserror::Error)]
pub enum DossierError {
    /// The archive is not a tar of regular files in one folder, or a file is not what it must be.
    #[error("the dossier is malformed: {0}")]
    Malformed(String),
    /// The manifest is not signed by the key given, or its signature does not verify.
    #[error("the manifest is not signed by the operator's key: {0}")]
    Manifest(NoteError),
    /// A file's bytes are not those the signed manifest lists.
    #[error("the file {path} was changed: its SHA-256 or size is not the one the signed manifest lists")]
    FileChanged { path: String },
    /// A file the manifest lists is not in the archive.
    #[error("the file {path} that the manifest lists is missing")]
    FileMissing { path: String },
    /// A file in the archive is not in the manifest.
    #[error("the file {path} is not listed in the signed manifest: it was added")]
    FileNotListed { path: String },
    /// The dossier names a different key than the one given for the check.
    #[error("the dossier's log-key.txt names the key {found}, not the key given for this check")]
    OtherKey { found: String },
    /// What the case file says does not fit the rest.
    #[error("case.json: {0}")]
    Case(String),
    /// An evidence file's SHA-256 is not the one the case records for it.
    #[error("evidence {id}: its file's SHA-256 is {actual}, but the case records {expected}")]
    EvidenceHash { id: String, expected: String, actual: String },
    /// The checkpoint does not open with the key.
    #[error("checkpoint.txt: {0}")]
    Checkpoint(CheckpointError),
    /// A receipt does not verify.
    #[error("the receipt of transaction {txn_no}: {error}")]
    Receipt { txn_no: String, error: ReceiptError },
    /// A receipt is proven in another checkpoint than the dossier's, or is of another transaction.
    #[error("the receipt of transaction {txn_no}: {problem}")]
    ReceiptMismatch { txn_no: String, problem: String },
    /// A transaction is not one of the case's, or not in the role the case file gives it.
    #[error("transaction {txn_no} is not part of case {case}: {problem}")]
    NotOfCase { txn_no: String, case: String, problem: String },
    /// An audit entry's hash does not recompute from its fields.
    #[error("audit log entry {seq}: its hash does not match its contents; the entry was altered")]
    AuditHash { seq: u64 },
    /// Two adjacent audit entries do not link.
    #[error("audit log entry {seq}: its previous hash is not entry {}'s hash; the chain is broken", seq - 1)]
    AuditLink { seq: u64 },
    /// An entry said to be about the case is about something else.
    #[error("audit log entry {seq} is said to be about the case, but it is about {target}")]
    AuditNotOfCase { seq: u64, target: String },
}

impl DossierError {
    /// A stable snake_case code for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            DossierError::Malformed(_) => "dossier_malformed",
            DossierError::Manifest(_) => "manifest_not_signed",
            DossierError::FileChanged { .. } => "file_changed",
            DossierError::FileMissing { .. } => "file_missing",
            DossierError::FileNotListed { .. } => "file_not_listed",
            DossierError::OtherKey { .. } => "other_key",
            DossierError::Case(_) => "case_inconsistent",
            DossierError::EvidenceHash { .. } => "evidence_hash_mismatch",
            DossierError::Checkpoint(error) => error.code(),
            DossierError::Receipt { error, .. } => error.code(),
            DossierError::ReceiptMismatch { .. } => "receipt_mismatch",
            DossierError::NotOfCase { .. } => "not_of_case",
            DossierError::AuditHash { .. } => "audit_hash_mismatch",
            DossierError::AuditLink { .. } => "audit_link_broken",
            DossierError::AuditNotOfCase { .. } => "audit_not_of_case",
        }
    }
}

/// The archive's files by their path inside the dossier's folder.
fn unpack(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, DossierError> {
    let malformed = |what: String| DossierError::Malformed(what);
    let mut archive = tar::Archive::new(bytes);
    let mut files = BTreeMap::new();
    let mut root: Option<String> = None;
    for entry in archive.entries().map_err(|error| malformed(format!("not a tar archive: {error}")))? {
        let mut entry = entry.map_err(|error| malformed(format!("not a tar archive: {error}")))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(malformed("it holds something other than regular files".into()));
        }
        let path = entry.path().map_err(|_| malformed("a file name is not text".into()))?.to_string_lossy().into_owned();
        let Some((top, inner)) = path.split_once('/') else { return Err(malformed(format!("{path} is not inside the dossier's folder"))) };
        if inner.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(malformed(format!("{path} is not a plain path")));
        }
        match &root {
            None => root = Some(top.to_owned()),
            Some(root) if root != top => return Err(malformed(format!("{path} is outside the dossier's folder {root}"))),
            Some(_) => {}
        }
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).map_err(|error| malformed(format!("{path} cannot be read: {error}")))?;
        if files.insert(inner.to_owned(), contents).is_some() {
            return Err(malformed(format!("{inner} appears twice")));
        }
    }
    Ok(files)
}

fn text_of<'a>(files: &'a BTreeMap<String, Vec<u8>>, path: &str) -> Result<&'a str, DossierError> {
    let bytes = files.get(path).ok_or_else(|| DossierError::FileMissing { path: path.to_owned() })?;
    std::str::from_utf8(bytes).map_err(|_| DossierError::Malformed(format!("{path} is not UTF-8 text")))
}

fn json_of(files: &BTreeMap<String, Vec<u8>>, path: &str) -> Result<Value, DossierError> {
    serde_json::from_str(text_of(files, path)?).map_err(|error| DossierError::Malformed(format!("{path} is not JSON: {error}")))
}

fn field<'a>(value: &'a Value, name: &str, file: &str) -> Result<&'a str, DossierError> {
    value.get(name).and_then(Value::as_str).ok_or_else(|| DossierError::Malformed(format!("{file}: a missing or non-text field {name}")))
}

/// Verifies a dossier with nothing but the operator's public key; returns what was checked, in words.
///
/// Errors: each failure has its [`DossierError`] variant.
pub fn verify_dossier(bytes: &[u8], key: &VerifierKey, currency: &str) -> Result<String, DossierError> {
    let files = unpack(bytes)?;
    // 1. The manifest is signed by the key, and lists every other file with its hash and size.
    let manifest_text = key.open_note(text_of(&files, MANIFEST)?).map_err(DossierError::Manifest)?;
    let mut lines = manifest_text.lines();
    if lines.next() != Some(MANIFEST_HEADER) {
        return Err(DossierError::Malformed(format!("the manifest does not begin with {MANIFEST_HEADER:?}")));
    }
    let case_id = lines.next().and_then(|line| line.strip_prefix("case ")).ok_or_else(|| DossierError::Malformed("the manifest names no case".into()))?;
    let log = lines.next().and_then(|line| line.strip_prefix("log ")).ok_or_else(|| DossierError::Malformed("the manifest names no log".into()))?;
    let made = lines.next().and_then(|line| line.strip_prefix("made ")).ok_or_else(|| DossierError::Malformed("the manifest has no date".into()))?;
    let mut listed = BTreeSet::new();
    for line in lines {
        let mut parts = line.strip_prefix("file ").ok_or_else(|| DossierError::Malformed(format!("the manifest line {line:?} is not a file")))?.splitn(3, ' ');
        let (Some(hash), Some(size), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(DossierError::Malformed(format!("the manifest line {line:?} is not a file")));
        };
        let bytes = files.get(path).ok_or_else(|| DossierError::FileMissing { path: path.to_owned() })?;
        if sha256_hex(bytes) != hash || bytes.len().to_string() != size {
            return Err(DossierError::FileChanged { path: path.to_owned() });
        }
        listed.insert(path.to_owned());
    }
    if let Some(extra) = files.keys().find(|path| path.as_str() != MANIFEST && !listed.contains(path.as_str())) {
        return Err(DossierError::FileNotListed { path: extra.clone() });
    }
    let named_key = text_of(&files, LOG_KEY)?.trim();
    if named_key != key.to_string() {
        return Err(DossierError::OtherKey { found: named_key.to_owned() });
    }

    // 2. The case file is of the manifest's case, and its evidence files are the ones it names.
    let case = json_of(&files, CASE)?;
    if field(&case, "id", CASE)? != case_id {
        return Err(DossierError::Case(format!("it is of case {}, the manifest of case {case_id}", field(&case, "id", CASE)?)));
    }
    let empty = Vec::new();
    let array = |value: &Value, name: &str| value.get(name).and_then(Value::as_array).unwrap_or(&empty).clone();
    let mut evidence_files = BTreeSet::new();
    let mut out = String::new();
    let _ = writeln!(out, "DOSSIER VERIFIED");
    let _ = writeln!(out);
    let _ = writeln!(out, "Case {case_id} ({}), {}", field(&case, "kind", CASE)?, field(&case, "status", CASE)?);
    let _ = writeln!(out, "  Complainant: {}", field(&case, "complainant_id", CASE)?);
    let _ = writeln!(out, "  Made:        {made} by the log {log}");
    let _ = writeln!(out, "  Signed by:   key {}", key.label());
    let _ = writeln!(out);
    let _ = writeln!(out, "Evidence");
    for file in array(&case, "evidence") {
        let (id, expected, path) = (field(&file, "id", CASE)?, field(&file, "sha256", CASE)?, field(&file, "file", CASE)?);
        let bytes = files.get(path).ok_or_else(|| DossierError::FileMissing { path: path.to_owned() })?;
        let actual = sha256_hex(bytes);
        if actual != expected {
            return Err(DossierError::EvidenceHash { id: id.to_owned(), expected: expected.to_owned(), actual });
        }
        evidence_files.insert(path.to_owned());
        let _ = writeln!(out, "  {id}: {} bytes, SHA-256 {actual}: matches the case's record", bytes.len());
    }
    if let Some(stray) = files.keys().find(|path| path.starts_with("evidence/") && !evidence_files.contains(path.as_str())) {
        return Err(DossierError::Case(format!("the evidence file {stray} is not one of the case's")));
    }

    // 3. The checkpoint, and a receipt of every transaction, proven in it.
    let checkpoint_text = text_of(&files, CHECKPOINT)?;
    let checkpoint = open_checkpoint(checkpoint_text, key, None).map_err(DossierError::Checkpoint)?;
    let payments: BTreeSet<String> = array(&case, "txn_nos").iter().filter_map(Value::as_str).map(str::to_owned).collect();
    let mut receipt_files = BTreeSet::new();
    let _ = writeln!(out);
    let _ = writeln!(out, "Transactions (each receipt verified against the checkpoint of {} entries)", checkpoint.checkpoint().size());
    for transaction in array(&case, "transactions") {
        let (txn_no, role, path) = (field(&transaction, "txn_no", CASE)?, field(&transaction, "role", CASE)?, field(&transaction, "receipt", CASE)?);
        let receipt = text_of(&files, path)?;
        let verified = verify_receipt(receipt, key, None).map_err(|error| DossierError::Receipt { txn_no: txn_no.to_owned(), error })?;
        let txn = verified.txn();
        if txn.txn_no().as_str() != txn_no {
            return Err(DossierError::ReceiptMismatch { txn_no: txn_no.to_owned(), problem: format!("it is the receipt of {}", txn.txn_no()) });
        }
        if verified.checkpoint().checkpoint() != checkpoint.checkpoint() {
            return Err(DossierError::ReceiptMismatch { txn_no: txn_no.to_owned(), problem: "it is proven in another checkpoint than checkpoint.txt".into() });
        }
        let not_of_case = |problem: String| DossierError::NotOfCase { txn_no: txn_no.to_owned(), case: case_id.to_owned(), problem };
        let corrects = txn.related().corrects_txn_no.as_ref().map(ToString::to_string);
        match role {
            "payment" if payments.contains(txn_no) => {}
            "payment" => return Err(not_of_case("the case does not complain about it".into())),
            "refund" => {
                let refund_of_case = txn.kind() == TxnKind::CaseRefund && txn.reference() == Some(case_id);
                let automatic = matches!(txn.kind(), TxnKind::PacketRefund | TxnKind::TransferRefund);
                if !refund_of_case && !automatic {
                    return Err(not_of_case(format!("a {} is not a refund of this case", txn.kind().as_str())));
                }
            }
            "reversal" if txn.kind() == TxnKind::Reversal && corrects.as_ref().is_some_and(|corrected| payments.contains(corrected)) => {}
            "reversal" => return Err(not_of_case("it does not reverse one of the case's payments".into())),
            other => return Err(DossierError::Case(format!("transaction {txn_no} has the unknown role {other:?}"))),
        }
        receipt_files.insert(path.to_owned());
        let amount = txn.amount().minor_units();
        let _ = writeln!(
            out,
            "  {role:<8} {txn_no}: {} of {}.{:02} {currency} at {}, entry {} of the log",
            hongbao_tlog::describe_kind(txn.kind()),
            amount / 100,
            amount % 100,
            txn.created_at().to_rfc3339(),
            verified.seq()
        );
    }
    if let Some(stray) = files.keys().find(|path| path.starts_with("receipts/") && !receipt_files.contains(path.as_str())) {
        return Err(DossierError::Case(format!("the receipt {stray} is of no transaction the case lists")));
    }

    // 4. The audit entries: each hash recomputes, adjacent entries link, the case's are about it.
    let audit = json_of(&files, AUDIT)?;
    let mut targets: BTreeSet<String> = BTreeSet::from([case_id.to_owned()]);
    targets.extend(array(&case, "freezes").iter().filter_map(|freeze| freeze.get("id").and_then(Value::as_str)).map(str::to_owned));
    targets.extend(array(&case, "reversals").iter().filter_map(|reversal| reversal.get("id").and_then(Value::as_str)).map(str::to_owned));
    let mut previous: Option<(u64, JournalHash)> = None;
    let (mut case_entries, mut links, mut gaps) = (0, 0, 0);
    for entry in array(&audit, "entries") {
        let seq = entry.get("seq").and_then(Value::as_u64).ok_or_else(|| DossierError::Malformed(format!("{AUDIT}: an entry without its seq")))?;
        let at = entry.get("at_millis").and_then(Value::as_i64).ok_or_else(|| DossierError::Malformed(format!("{AUDIT}: entry {seq} without at_millis")))?;
        let hash_of = |name: &str| -> Result<JournalHash, DossierError> {
            JournalHash::from_hex(field(&entry, name, AUDIT)?).ok_or_else(|| DossierError::Malformed(format!("{AUDIT}: entry {seq}'s {name}")))
        };
        let (prev_hash, hash) = (hash_of("prev_hash")?, hash_of("hash")?);
        let record = AuditRecord {
            at: hongbao_core::Timestamp::from_millis(at),
            actor_id: field(&entry, "actor_id", AUDIT)?.to_owned(),
            actor_role: field(&entry, "actor_role", AUDIT)?.to_owned(),
            action: {
                let action = field(&entry, "action", AUDIT)?;
                hongbao_core::staff::AuditAction::parse(action).ok_or_else(|| DossierError::Malformed(format!("{AUDIT}: entry {seq}'s action {action:?}")))?
            },
            target: field(&entry, "target", AUDIT)?.to_owned(),
            reason: field(&entry, "reason", AUDIT)?.to_owned(),
            detail: field(&entry, "detail", AUDIT)?.to_owned(),
        };
        if audit_hash(&prev_hash, seq, &record) != hash {
            return Err(DossierError::AuditHash { seq });
        }
        match previous {
            Some((previous_seq, _)) if seq <= previous_seq => return Err(DossierError::Malformed(format!("{AUDIT}: entries out of order at {seq}"))),
            Some((previous_seq, previous_hash)) if seq == previous_seq + 1 => {
                if prev_hash != previous_hash {
                    return Err(DossierError::AuditLink { seq });
                }
                links += 1;
            }
            Some(_) => gaps += 1,
            None => {}
        }
        if entry.get("of_case").and_then(Value::as_bool) == Some(true) {
            if !targets.contains(&record.target) {
                return Err(DossierError::AuditNotOfCase { seq, target: record.target });
            }
            case_entries += 1;
        }
        previous = Some((seq, hash));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Audit log");
    let _ = writeln!(out, "  {case_entries} entries about the case; every entry's SHA-256 recomputes from its fields and its predecessor's hash.");
    if gaps == 0 {
        let _ = writeln!(out, "  {links} links between consecutive entries checked: the stretch of the log is unbroken.");
    } else {
        let _ = writeln!(
            out,
            "  {links} links between consecutive entries checked; {gaps} times entries about other matters lie between two of the case's and are not included."
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "What was checked");
    let _ = writeln!(out, "  1. The manifest carries a valid Ed25519 signature by the key {}, given for this check.", key.label());
    let _ = writeln!(out, "  2. Every file is listed in it with its SHA-256 and size, and none is missing or added: {} files.", listed.len());
    let _ = writeln!(out, "  3. Every evidence file's SHA-256 is the one the case records.");
    let _ = writeln!(out, "  4. Every receipt verifies against the signed checkpoint, and every transaction belongs to the case.");
    let _ = writeln!(out, "  5. Every audit entry's hash recomputes, consecutive entries link, and the case's entries are about it.");
    Ok(out)
}
