//! Signed checkpoints of the journal's tree (C2SP `tlog-checkpoint`), receipts of journal entries (C2SP
//! `tlog-proof`, see `hongbao_tlog::Receipt`) and consistency proofs between tree sizes (RFC 9162
//! §2.1.4): what lets anyone holding the operator's public key check a payment without trusting the
//! operator's database.
//!
//! A checkpoint is made from committed state only: the tree's size and its root, read from stored nodes
//! on a read connection, are signed outside the writer; the writer only stores the signed note
//! (`LogOp::StoreCheckpoint`), once per log, size and key, so processes that checkpoint the same tree
//! at the same time store it once. The signing key names the log (its name is the checkpoint's origin,
//! as C2SP recommends); every key that ever signed is kept in `log_keys`, so checkpoints made before a
//! rotation stay verifiable with the key that signed them.

use hongbao_core::staff::Role;
use hongbao_core::{Timestamp, TxnNo};
use hongbao_store::records::{Query, Value, list, text};
use hongbao_store::transparency::{CHECKPOINTS, StoredCheckpoint, StoredLogKey, log_keys_newest_first};
use hongbao_store::{ReadConn, StoreResult};
use hongbao_tlog::{Checkpoint, Hash, LogId, Receipt, SignerKey, VerifierKey, consistency_proof, inclusion_proof, root_at};

use crate::journal_log::{StoredNodes, build_error};
use crate::ops::checkpoints::LogOp;
use crate::outcome::Outcome;
use crate::{Op, Principal, Service, ServiceError, ServiceResult};

/// The key's record, for `log_keys`.
pub fn log_key_record(key: &VerifierKey, now: Timestamp) -> StoredLogKey {
    StoredLogKey { verifier_key: key.to_string(), key_id: key.id().to_string(), name: key.name().to_owned(), created_at: now }
}

/// The checkpoints of `key_id` of the journal, largest tree first.
fn largest_first(key_id: &str, limit: u32) -> Query {
    let mut query = Query::newest_first(&CHECKPOINTS, limit).equal("log_id", Value::Int(i64::from(LogId::JOURNAL.get()))).equal("key_id", text(key_id));
    query.order = &["size", "seq"];
    query
}

/// The largest checkpoint of the journal signed by `key_id`.
fn largest_checkpoint(conn: &mut dyn ReadConn, key_id: &str) -> StoreResult<Option<StoredCheckpoint>> {
    Ok(list::<StoredCheckpoint>(conn, &largest_first(key_id, 1))?.into_iter().next())
}

/// What a receipt needs, read in one snapshot: the entry's canonical bytes, its leaf index, and its
/// inclusion proof in the tree of `checkpoint`.
fn receipt_text(conn: &mut dyn ReadConn, canonical: Vec<u8>, seq: u64, checkpoint: &StoredCheckpoint) -> StoreResult<String> {
    let proof = inclusion_proof(&mut StoredNodes(conn), LogId::JOURNAL, seq - 1, checkpoint.size).map_err(build_error)?;
    Ok(Receipt::new(canonical, seq - 1, proof, checkpoint.signed_note.clone()).to_text())
}

impl Service {
    /// The key that signs this process's checkpoints.
    pub fn log_signer(&self) -> &SignerKey {
        &self.inner.log_key
    }

    /// The public half of the signing key, which anyone may hold to verify receipts and checkpoints.
    pub fn log_verifier_key(&self) -> VerifierKey {
        self.inner.log_key.verifier()
    }

    /// Every key that signs or signed the log's checkpoints, newest first.
    pub async fn log_keys(&self) -> ServiceResult<Vec<StoredLogKey>> {
        let query = log_keys_newest_first(1_000);
        self.read(move |conn| Ok(list::<StoredLogKey>(conn, &query)?)).await
    }

    /// The operation that stores a checkpoint of the journal's tree as committed now, signed with this
    /// process's key. Refused for an empty journal: there is nothing to sign for.
    pub async fn checkpoint_op(&self) -> ServiceResult<Op> {
        let (size, root) = self
            .read(|conn| {
                let size = conn.tree_size(LogId::JOURNAL)?;
                let root = root_at(&mut StoredNodes(conn), LogId::JOURNAL, size).map_err(build_error)?;
                Ok((size, root))
            })
            .await?;
        if size == 0 {
            return Err(crate::error::Conflict::EmptyJournal.into());
        }
        Ok(Op::Log(LogOp::StoreCheckpoint(self.sign_checkpoint(size, root))))
    }

    fn sign_checkpoint(&self, size: u64, root: Hash) -> StoredCheckpoint {
        let key = &self.inner.log_key;
        let checkpoint = Checkpoint::new(key.name(), size, root).expect("a key's name is a valid origin: one line without control characters");
        StoredCheckpoint {
            seq: 0,
            log: LogId::JOURNAL,
            size,
            root,
            key_id: key.id().to_string(),
            signed_note: checkpoint.sign(key),
            created_at: self.clock().now(),
        }
    }

    /// Makes and stores a checkpoint of the journal as committed now.
    pub async fn make_checkpoint(&self) -> ServiceResult<StoredCheckpoint> {
        match self.execute(self.checkpoint_op().await?).await? {
            Outcome::Checkpoint(checkpoint) => Ok(checkpoint),
            other => Err(ServiceError::Internal(format!("storing a checkpoint gave {other:?}"))),
        }
    }

    /// Who may make a checkpoint on demand: the admin and auditors.
    pub fn require_checkpointer(&self, viewer: &Principal) -> ServiceResult<()> {
        match viewer {
            Principal::Admin => Ok(()),
            Principal::Operator(operator) if operator.role == Role::Auditor => Ok(()),
            Principal::Operator(operator) => Err(crate::error::Denied::Checkpointer { role: operator.role.as_str() }.into()),
            Principal::User(_) => Err(crate::error::Denied::OperatorsOnly.into()),
        }
    }

    /// Makes a checkpoint when the tree grew and the last one of this key is older than the interval
    /// (`Config::checkpoint_interval_seconds`); several processes share the table, so between them
    /// about one checkpoint is made per interval.
    pub async fn checkpoint_if_due(&self) -> ServiceResult<Option<StoredCheckpoint>> {
        let key_id = self.inner.log_key.id().to_string();
        let interval_millis = i64::try_from(self.config().checkpoint_interval_seconds.saturating_mul(1_000)).unwrap_or(i64::MAX);
        let now = self.clock().now();
        let (size, latest) = self.read(move |conn| Ok((conn.tree_size(LogId::JOURNAL)?, largest_checkpoint(conn, &key_id)?))).await?;
        let due = match &latest {
            None => size > 0,
            Some(latest) => size > latest.size && now.millis().saturating_sub(latest.created_at.millis()) >= interval_millis,
        };
        if !due {
            return Ok(None);
        }
        self.make_checkpoint().await.map(Some)
    }

    /// Checkpoints, newest first, before sequence number `before_seq` when given.
    pub async fn checkpoints(&self, before_seq: Option<u64>, limit: u32) -> ServiceResult<Vec<StoredCheckpoint>> {
        let after = before_seq.map(|seq| vec![Value::Int(i64::try_from(seq).unwrap_or(i64::MAX))]);
        let query = Query::newest_first(&CHECKPOINTS, limit).after(after);
        self.read(move |conn| Ok(list::<StoredCheckpoint>(conn, &query)?)).await
    }

    /// The newest checkpoint, of any key.
    pub async fn latest_checkpoint(&self) -> ServiceResult<Option<StoredCheckpoint>> {
        Ok(self.checkpoints(None, 1).await?.into_iter().next())
    }

    /// The receipt of a transaction, for those who may see the transaction (its parties, operators and
    /// the admin; others get "not found"): a C2SP `tlog-proof` carrying the entry, proven in the largest
    /// checkpoint signed by the current key. When no such checkpoint covers the entry yet, one is made
    /// now, so a receipt can be had at once after the payment.
    pub async fn receipt(&self, viewer: &Principal, txn_no: &TxnNo) -> ServiceResult<String> {
        let entry = self.transaction(viewer, txn_no).await?;
        let (seq, canonical) = (entry.seq, entry.txn.canonical_bytes(entry.seq));
        let key_id = self.inner.log_key.id().to_string();
        let covering = {
            let key_id = key_id.clone();
            self.read(move |conn| Ok(largest_checkpoint(conn, &key_id)?)).await?.filter(|checkpoint| checkpoint.size >= seq)
        };
        let checkpoint = match covering {
            Some(checkpoint) => checkpoint,
            None => self.make_checkpoint().await?,
        };
        if checkpoint.size < seq {
            return Err(ServiceError::Internal(format!("a checkpoint made after entry {seq} holds only {} entries", checkpoint.size)));
        }
        self.read(move |conn| Ok(receipt_text(conn, canonical, seq, &checkpoint)?)).await
    }

    /// Receipts of several transactions against one checkpoint (for a dossier): `(txn_no, receipt)` in
    /// the order asked. The caller has checked who may see them.
    pub(crate) async fn receipts_for(&self, txn_nos: Vec<TxnNo>) -> ServiceResult<(StoredCheckpoint, Vec<(TxnNo, String)>)> {
        let checkpoint = self.make_checkpoint().await?;
        let used = checkpoint.clone();
        let receipts = self
            .read(move |conn| {
                let mut receipts = Vec::with_capacity(txn_nos.len());
                for txn_no in txn_nos {
                    let Some(entry) = conn.journal_entry(&txn_no)? else { continue };
                    if entry.seq > used.size {
                        continue;
                    }
                    let text = receipt_text(conn, entry.txn.canonical_bytes(entry.seq), entry.seq, &used)?;
                    receipts.push((txn_no, text));
                }
                Ok(receipts)
            })
            .await?;
        Ok((checkpoint, receipts))
    }

    /// The consistency proof that the journal's tree at `new_size` leaves extends itself at
    /// `old_size` leaves (RFC 9162 §2.1.4.1): any sizes with `1 <= old_size <= new_size <=` the tree's
    /// committed size.
    pub async fn consistency_proof(&self, old_size: u64, new_size: u64) -> ServiceResult<Vec<Hash>> {
        if old_size == 0 || old_size > new_size {
            return Err(crate::error::Invalid::ProofSizes { old_size, new_size }.into());
        }
        self.read(move |conn| {
            let size = conn.tree_size(LogId::JOURNAL)?;
            if new_size > size {
                return Err(crate::error::Invalid::BeyondTree { new_size, size }.into());
            }
            Ok(consistency_proof(&mut StoredNodes(conn), LogId::JOURNAL, old_size, new_size).map_err(build_error)?)
        })
        .await
    }
}
