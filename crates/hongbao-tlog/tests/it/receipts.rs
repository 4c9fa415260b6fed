//! Receipts and consistency between checkpoints, end to end over a journal with a transaction of every
//! kind: honest ones verify offline with only the public key, and each forgery is refused by name.

use hongbao_core::{Account, Amount, LedgerTxn, PacketId, Posting, Related, ReturnRequestId, Timestamp, TransferId, TxnKind, TxnNo, TxnParts, UserId};
use hongbao_tlog::{
    Checkpoint, CheckpointError, ConsistencyError, Frontier, Hash, LogId, MemoryNodes, NoteError, RECEIPT_HEADER, Receipt, ReceiptError, SignerKey,
    VerifierKey, consistency_proof, format_proof, inclusion_proof, leaf_hash, parse_proof, root_at, verify_consistency, verify_receipt,
};

const ORIGIN: &str = "hongbao.example/journal";

fn user(name: &str) -> Account {
    Account::Wallet(UserId::parse(&format!("usr_{name}")).expect("valid"))
}

fn packet() -> PacketId {
    PacketId::parse("pkt_newyear").expect("valid")
}

fn transfer() -> TransferId {
    TransferId::parse("trf_rent").expect("valid")
}

/// A transaction of `kind` moving `amount` fen from one account to another, at a fixed time.
fn txn(number: u64, kind: TxnKind, amount: i64, from: Account, to: Account) -> LedgerTxn {
    let mut related = Related::default();
    match &from {
        Account::PacketEscrow(id) => related.packet_id = Some(id.clone()),
        Account::TransferHold(id) => related.transfer_id = Some(id.clone()),
        _ => {}
    }
    match &to {
        Account::PacketEscrow(id) => related.packet_id = Some(id.clone()),
        Account::TransferHold(id) => related.transfer_id = Some(id.clone()),
        _ => {}
    }
    if matches!(kind, TxnKind::Return | TxnKind::CaseRefund | TxnKind::Reversal) {
        related.corrects_txn_no = Some(TxnNo::parse("txn_0002").expect("valid"));
    }
    if kind == TxnKind::Return {
        related.return_request_id = Some(ReturnRequestId::parse("rrq_mistake").expect("valid"));
    }
    LedgerTxn::new(TxnParts {
        txn_no: TxnNo::parse(&format!("txn_{number:04}")).expect("valid"),
        kind,
        created_at: Timestamp::from_millis(1_767_225_600_000 + number as i64 * 60_000),
        amount: Amount::new(amount).expect("valid"),
        memo: (kind == TxnKind::PacketSend).then(|| "恭喜发财".to_owned()),
        reference: None,
        related,
        postings: vec![Posting { account: from, amount: -amount }, Posting { account: to, amount }],
    })
    .expect("balanced")
}

/// A journal with one transaction of every kind, then top-ups up to 40 entries.
fn journal() -> Vec<LedgerTxn> {
    let (alice, bob) = (user("alice"), user("bob"));
    let escrow = Account::PacketEscrow(packet());
    let hold = Account::TransferHold(transfer());
    let mut txns = vec![
        txn(1, TxnKind::TopUp, 500_00, Account::Funding, alice.clone()),
        txn(2, TxnKind::Withdrawal, 20_00, alice.clone(), Account::Payout),
        txn(3, TxnKind::PacketSend, 88_88, alice.clone(), escrow.clone()),
        txn(4, TxnKind::PacketClaim, 12_34, escrow.clone(), bob.clone()),
        txn(5, TxnKind::PacketRefund, 76_54, escrow, alice.clone()),
        txn(6, TxnKind::TransferSend, 100_00, alice.clone(), hold.clone()),
        txn(7, TxnKind::TransferSettle, 60_00, hold.clone(), bob.clone()),
        txn(8, TxnKind::TransferRefund, 40_00, hold, alice.clone()),
        txn(9, TxnKind::Return, 5_00, bob.clone(), alice.clone()),
        txn(10, TxnKind::CaseRefund, 3_00, bob.clone(), alice.clone()),
        txn(11, TxnKind::Reversal, 1_00, bob, alice),
    ];
    for number in 12..=40 {
        txns.push(txn(number, TxnKind::TopUp, number as i64 * 100, Account::Funding, user(&format!("user{number}"))));
    }
    txns
}

/// The log of `txns`: entry `seq` (from 1) is the canonical bytes of `txns[seq - 1]`.
struct Log {
    entries: Vec<Vec<u8>>,
    store: MemoryNodes,
}

impl Log {
    fn of(txns: &[LedgerTxn]) -> Log {
        let entries: Vec<Vec<u8>> = txns.iter().enumerate().map(|(position, txn)| txn.canonical_bytes(position as u64 + 1)).collect();
        let leaves: Vec<Hash> = entries.iter().map(|entry| leaf_hash(entry)).collect();
        let mut store = MemoryNodes::new();
        // Appended in batches, as the writer would.
        let mut frontier = Frontier::empty();
        for batch in leaves.chunks(6) {
            let appended = frontier.append(batch);
            store.insert(LogId::JOURNAL, &appended.nodes);
            frontier = appended.frontier;
        }
        Log { entries, store }
    }

    fn checkpoint(&mut self, size: u64, key: &SignerKey) -> String {
        let root = root_at(&mut self.store, LogId::JOURNAL, size).expect("stored");
        Checkpoint::new(ORIGIN, size, root).expect("valid").sign(key)
    }

    fn receipt(&mut self, seq: u64, signed_checkpoint: &str, size: u64) -> Receipt {
        let proof = inclusion_proof(&mut self.store, LogId::JOURNAL, seq - 1, size).expect("stored");
        Receipt::new(self.entries[seq as usize - 1].clone(), seq - 1, proof, signed_checkpoint.to_owned())
    }
}

fn operator() -> SignerKey {
    SignerKey::generate(ORIGIN, [1; 32]).expect("valid name")
}

fn public_key() -> VerifierKey {
    // What a verifier is given: the published text form, not the signer.
    VerifierKey::parse(&operator().verifier().to_string()).expect("published key")
}

#[test]
fn receipts_of_every_kind_verify_offline_with_only_the_public_key() {
    let txns = journal();
    let mut log = Log::of(&txns);
    let key = operator();
    for size in [11, 17, 32, 40] {
        let checkpoint = log.checkpoint(size, &key);
        for seq in 1..=size {
            let text = log.receipt(seq, &checkpoint, size).to_text();
            let verified = verify_receipt(&text, &public_key(), Some(ORIGIN)).unwrap_or_else(|error| panic!("entry {seq} of {size}: {error}"));
            assert_eq!((verified.seq(), verified.leaf_index()), (seq, seq - 1));
            assert_eq!(verified.txn(), &txns[seq as usize - 1]);
            assert_eq!(verified.checkpoint().checkpoint().size(), size);
            assert_eq!(Receipt::parse(&text).expect("parses").to_text(), text, "the text form reads back exactly");
        }
    }
}

#[test]
fn the_report_says_what_was_checked_in_words() {
    let mut log = Log::of(&journal());
    let checkpoint = log.checkpoint(40, &operator());
    let text = log.receipt(4, &checkpoint, 40).to_text();
    let report = verify_receipt(&text, &public_key(), None).expect("verifies").report("CNY");
    let key = operator().verifier();
    let root = root_at(&mut log.store, LogId::JOURNAL, 40).expect("stored");
    let expected = format!(
        "RECEIPT VERIFIED

Transaction txn_0004
  What:       red packet claimed (packet_claim)
  Amount:     12.34 CNY
  Time:       2026-01-01T00:04:00.000Z (UTC)
  Parties:    the escrow of red packet pkt_newyear paid 12.34 CNY
              the wallet of user usr_bob received 12.34 CNY
  Red packet: pkt_newyear

Where it is recorded
  Position:   entry 4 of 40 in the log
  Log:        hongbao.example/journal
  Checkpoint: 40 entries, root hash {root}
  Signed by:  key hongbao.example/journal, key id {id}

What was checked
  1. The checkpoint carries a valid Ed25519 signature by the key hongbao.example/journal+{id}, the operator's public key given for this check, and it is for the log hongbao.example/journal.
  2. The entry is entry 4 of the log, the position the receipt states.
  3. From the entry's SHA-256 leaf hash {leaf}, the 6 hashes of the inclusion proof lead to the checkpoint's root hash (RFC 9162, section 2.1.3.2). Had any byte of the entry been changed since it was logged (the amount, a party, the time), they would not.
  4. The entry's postings sum to zero: every amount paid was received.
",
        root = root.to_base64(),
        id = key.id(),
        leaf = leaf_hash(&log.entries[3]).to_hex(),
    );
    assert_eq!(report, expected);
}

/// The receipt of entry 4 in the checkpoint of 40 entries, as text.
fn honest_receipt() -> (Log, String) {
    let mut log = Log::of(&journal());
    let checkpoint = log.checkpoint(40, &operator());
    let text = log.receipt(4, &checkpoint, 40).to_text();
    (log, text)
}

fn with_entry(text: &str, entry: &[u8]) -> String {
    let receipt = Receipt::parse(text).expect("parses");
    Receipt::new(entry.to_vec(), receipt.leaf_index(), receipt.proof().to_vec(), receipt.signed_checkpoint().to_owned()).to_text()
}

fn refusal(text: &str) -> ReceiptError {
    verify_receipt(text, &public_key(), Some(ORIGIN)).expect_err("a forged receipt is refused")
}

#[test]
fn a_changed_amount_or_party_is_refused() {
    let (_, text) = honest_receipt();
    let claim = &journal()[3];
    let mut parts = TxnParts {
        txn_no: claim.txn_no().clone(),
        kind: claim.kind(),
        created_at: claim.created_at(),
        amount: Amount::new(1234_00).expect("valid"),
        memo: None,
        reference: None,
        related: claim.related().clone(),
        postings: vec![Posting { account: Account::PacketEscrow(packet()), amount: -1234_00 }, Posting { account: user("bob"), amount: 1234_00 }],
    };
    let bigger = LedgerTxn::new(parts.clone()).expect("balanced");
    let error = refusal(&with_entry(&text, &bigger.canonical_bytes(4)));
    assert_eq!(error, ReceiptError::NotInCheckpoint { index: 3, size: 40 });
    assert_eq!(error.code(), "not_in_checkpoint");
    assert!(error.to_string().contains("the entry was changed after it was logged"), "{error}");

    parts.amount = claim.amount();
    parts.postings = vec![Posting { account: Account::PacketEscrow(packet()), amount: -12_34 }, Posting { account: user("mallory"), amount: 12_34 }];
    let other_party = LedgerTxn::new(parts).expect("balanced");
    assert_eq!(refusal(&with_entry(&text, &other_party.canonical_bytes(4))), ReceiptError::NotInCheckpoint { index: 3, size: 40 });

    // An entry changed so that it no longer balances is still refused as not in the checkpoint.
    let mut bytes = claim.canonical_bytes(4);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(refusal(&with_entry(&text, &bytes)), ReceiptError::NotInCheckpoint { index: 3, size: 40 });
    // And bytes that are no journal entry at all are named as such.
    assert!(matches!(refusal(&with_entry(&text, b"not an entry")), ReceiptError::EntryMalformed(_)));
}

#[test]
fn a_wrong_leaf_index_is_refused() {
    let (_, text) = honest_receipt();
    let moved = text.replacen("\nindex 3\n", "\nindex 4\n", 1);
    assert_eq!(refusal(&moved), ReceiptError::WrongLeafIndex { index: 4, seq: 4 });
    assert_eq!(refusal(&text.replacen("\nindex 3\n", "\nindex 0\n", 1)).code(), "wrong_leaf_index");
    // The entry and index of another entry with this entry's proof: the entry is not where the proof leads.
    let (log, _) = honest_receipt();
    let receipt = Receipt::parse(&text).expect("parses");
    let swapped = Receipt::new(log.entries[4].clone(), 4, receipt.proof().to_vec(), receipt.signed_checkpoint().to_owned()).to_text();
    assert_eq!(refusal(&swapped), ReceiptError::NotInCheckpoint { index: 4, size: 40 });
}

#[test]
fn a_proof_from_another_tree_is_refused() {
    let (_, text) = honest_receipt();
    // Another journal, of the same size, where entry 4 is the same but the rest differs.
    let mut other = journal();
    other[0] = txn(1, TxnKind::TopUp, 999_00, Account::Funding, user("alice"));
    let mut other_log = Log::of(&other);
    let foreign_proof = inclusion_proof(&mut other_log.store, LogId::JOURNAL, 3, 40).expect("stored");
    let receipt = Receipt::parse(&text).expect("parses");
    let forged = Receipt::new(receipt.entry().to_vec(), 3, foreign_proof, receipt.signed_checkpoint().to_owned()).to_text();
    assert_eq!(refusal(&forged), ReceiptError::NotInCheckpoint { index: 3, size: 40 });
    // A proof from a tree of another size has another length.
    let shorter_tree_proof = inclusion_proof(&mut other_log.store, LogId::JOURNAL, 3, 8).expect("stored");
    let forged = Receipt::new(receipt.entry().to_vec(), 3, shorter_tree_proof, receipt.signed_checkpoint().to_owned()).to_text();
    assert_eq!(refusal(&forged), ReceiptError::ProofTruncated { expected: 6, actual: 3 });
}

#[test]
fn a_truncated_or_padded_proof_is_refused() {
    let (_, text) = honest_receipt();
    let receipt = Receipt::parse(&text).expect("parses");
    let rebuilt = |proof: Vec<Hash>| Receipt::new(receipt.entry().to_vec(), 3, proof, receipt.signed_checkpoint().to_owned()).to_text();
    let proof = receipt.proof().to_vec();
    assert_eq!(proof.len(), 6);
    assert_eq!(refusal(&rebuilt(proof[..5].to_vec())), ReceiptError::ProofTruncated { expected: 6, actual: 5 });
    assert_eq!(refusal(&rebuilt(proof[1..].to_vec())), ReceiptError::ProofTruncated { expected: 6, actual: 5 });
    assert_eq!(refusal(&rebuilt(Vec::new())), ReceiptError::ProofTruncated { expected: 6, actual: 0 });
    let mut padded = proof.clone();
    padded.push(proof[0]);
    let error = refusal(&rebuilt(padded));
    assert_eq!(error, ReceiptError::ProofPadded { expected: 6, actual: 7 });
    assert_eq!(error.code(), "proof_padded");
    // Any single changed byte of any proof hash.
    for position in 0..proof.len() {
        let mut changed = proof.clone();
        let mut bytes = *changed[position].as_bytes();
        bytes[17] ^= 0x40;
        changed[position] = Hash::new(bytes);
        assert_eq!(refusal(&rebuilt(changed)), ReceiptError::NotInCheckpoint { index: 3, size: 40 });
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let (mut log, text) = honest_receipt();
    // Someone else's key, even under the operator's name.
    let mallory = SignerKey::generate(ORIGIN, [66; 32]).expect("valid name");
    let forged_checkpoint = log.checkpoint(40, &mallory);
    let forged = log.receipt(4, &forged_checkpoint, 40).to_text();
    let error = refusal(&forged);
    assert!(matches!(&error, ReceiptError::Checkpoint(CheckpointError::Note(NoteError::NotSignedByKey { others, .. })) if others.len() == 1), "{error}");
    assert_eq!(error.code(), "signed_by_another_key");
    assert!(error.to_string().contains(&format!("it is signed only by {ORIGIN}+{}", mallory.id())), "{error}");

    // The operator's signature line swapped for one by another key over the same text.
    let receipt = Receipt::parse(&text).expect("parses");
    let checkpoint_text = receipt.signed_checkpoint().split("\n\n").next().expect("text").to_owned() + "\n";
    let resigned = mallory.sign_note(&checkpoint_text).expect("signs");
    let forged = Receipt::new(receipt.entry().to_vec(), 3, receipt.proof().to_vec(), resigned).to_text();
    assert_eq!(refusal(&forged).code(), "signed_by_another_key");

    // A checkpoint whose text was changed after the operator signed it.
    let root = receipt.signed_checkpoint().lines().nth(2).expect("root line");
    let other_root = leaf_hash(b"another root").to_base64();
    let edited = Receipt::new(receipt.entry().to_vec(), 3, receipt.proof().to_vec(), receipt.signed_checkpoint().replacen(root, &other_root, 1)).to_text();
    assert_eq!(refusal(&edited).code(), "bad_signature");
}

#[test]
fn a_signature_over_a_different_origin_is_refused() {
    let (mut log, text) = honest_receipt();
    // The operator's own key, over a checkpoint of another log (its test log, say) with the same tree.
    let root = root_at(&mut log.store, LogId::JOURNAL, 40).expect("stored");
    let staging = Checkpoint::new("hongbao.example/staging", 40, root).expect("valid").sign(&operator());
    let forged = log.receipt(4, &staging, 40).to_text();
    let error = refusal(&forged);
    assert_eq!(error, ReceiptError::Checkpoint(CheckpointError::OriginMismatch { expected: ORIGIN.into(), found: "hongbao.example/staging".into() }));
    assert_eq!(error.code(), "origin_mismatch");
    // With no expected origin, the key's name is expected.
    assert_eq!(verify_receipt(&forged, &public_key(), None).map(|_| ()), Err(error));
    // An honest receipt presented for another log.
    assert_eq!(verify_receipt(&text, &public_key(), Some("hongbao.example/staging")).map_err(|error| error.code()), Err("origin_mismatch"));
}

#[test]
fn an_index_beyond_the_checkpoint_is_refused() {
    let mut log = Log::of(&journal());
    let small = log.checkpoint(20, &operator());
    let proof = inclusion_proof(&mut log.store, LogId::JOURNAL, 29, 40).expect("stored");
    let forged = Receipt::new(log.entries[29].clone(), 29, proof, small).to_text();
    assert_eq!(refusal(&forged), ReceiptError::IndexBeyondCheckpoint { index: 29, size: 20 });
}

#[test]
fn malformed_receipts_are_refused_with_the_line() {
    let (_, text) = honest_receipt();
    let malformed_line = |text: &str| match refusal(text) {
        ReceiptError::Malformed { line, .. } => line,
        other => panic!("{other:?} for {text:?}"),
    };
    assert_eq!(malformed_line(""), 1);
    assert_eq!(malformed_line("c2sp.org/tlog-proof@v2\n"), 1);
    assert_eq!(malformed_line(&text.replacen(RECEIPT_HEADER, "c2sp.org/tlog-proof@v1 ", 1)), 1);
    assert_eq!(malformed_line(&text.replacen("\nextra ", "\nextra: ", 1)), 2);
    assert_eq!(malformed_line(&text.replacen("\nindex 3\n", "\nindex 03\n", 1)), 3);
    assert_eq!(malformed_line(&text.replacen("\nindex 3\n", "\nindex 3\nnot a hash\n", 1)), 4);
    assert_eq!(malformed_line(&text.replace('\n', "\r\n")), 1);
    let without_checkpoint = &text[..text.find("\n\n").expect("blank line") + 2];
    assert_eq!(malformed_line(without_checkpoint), 11);
    assert_eq!(malformed_line(&text[..text.find("\n\n").expect("blank line") + 1]), 10);
    // A checkpoint cut short is the checkpoint's error.
    assert_eq!(refusal(&text[..text.len() - 1]).code(), "checkpoint_malformed");
}

#[test]
fn consistency_between_every_pair_of_a_series_of_checkpoints_verifies() {
    let mut log = Log::of(&journal());
    let key = operator();
    let sizes = [1, 2, 3, 4, 7, 8, 11, 16, 17, 31, 40];
    let checkpoints: Vec<String> = sizes.iter().map(|&size| log.checkpoint(size, &key)).collect();
    for (old_position, &old_size) in sizes.iter().enumerate() {
        for (new_position, &new_size) in sizes.iter().enumerate().skip(old_position) {
            let proof = consistency_proof(&mut log.store, LogId::JOURNAL, old_size, new_size).expect("stored");
            let proof = parse_proof(&format_proof(&proof)).expect("reads back");
            let verified = verify_consistency(&checkpoints[old_position], &checkpoints[new_position], &proof, &public_key())
                .unwrap_or_else(|error| panic!("{old_size} to {new_size}: {error}"));
            assert_eq!((verified.old().checkpoint().size(), verified.new_checkpoint().checkpoint().size()), (old_size, new_size));
            if new_size > old_size {
                // Presented the other way round: the older checkpoint as the newer one.
                let error = verify_consistency(&checkpoints[new_position], &checkpoints[old_position], &proof, &public_key()).expect_err("refused");
                assert_eq!(error, ConsistencyError::NewerIsSmaller { old_size: new_size, new_size: old_size });
            }
        }
    }
    let proof = consistency_proof(&mut log.store, LogId::JOURNAL, 11, 40).expect("stored");
    let report = verify_consistency(&checkpoints[6], &checkpoints[10], &proof, &public_key()).expect("verifies").report();
    assert!(report.contains("Kept checkpoint:  11 entries") && report.contains("the first 11 entries are unchanged"), "{report}");
}

#[test]
fn a_rewritten_history_is_caught_against_a_kept_checkpoint() {
    let mut honest = Log::of(&journal());
    let key = operator();
    let kept = honest.checkpoint(17, &key);

    // The operator edits entry 4 (the claim) under the kept checkpoint, rebuilds the tree and signs it.
    let mut edited_journal = journal();
    edited_journal[3] = txn(4, TxnKind::PacketClaim, 1_00, Account::PacketEscrow(packet()), user("bob"));
    let mut edited = Log::of(&edited_journal);
    let newer = edited.checkpoint(40, &key);
    let proof = consistency_proof(&mut edited.store, LogId::JOURNAL, 17, 40).expect("stored");
    let error = verify_consistency(&kept, &newer, &proof, &public_key()).expect_err("refused");
    assert_eq!(error, ConsistencyError::HistoryRewritten { old_size: 17 });
    assert_eq!(error.code(), "history_rewritten");
    // The honest proof does not help: it leads to the honest root, not the edited one.
    let honest_proof = consistency_proof(&mut honest.store, LogId::JOURNAL, 17, 40).expect("stored");
    assert_eq!(verify_consistency(&kept, &newer, &honest_proof, &public_key()), Err(ConsistencyError::NewRootMismatch));
    // A checkpoint of the kept size over the edited history: same size, another root.
    let same_size = edited.checkpoint(17, &key);
    assert_eq!(verify_consistency(&kept, &same_size, &[], &public_key()), Err(ConsistencyError::SameSizeDifferentRoot { size: 17 }));
    // And the old receipt, checked against the edited tree's checkpoint, no longer verifies.
    let receipt = honest.receipt(4, &newer, 40).to_text();
    assert_eq!(refusal(&receipt), ReceiptError::NotInCheckpoint { index: 3, size: 40 });
}

#[test]
fn consistency_refuses_other_keys_truncation_and_padding() {
    let mut log = Log::of(&journal());
    let key = operator();
    let (old, new) = (log.checkpoint(11, &key), log.checkpoint(40, &key));
    let proof = consistency_proof(&mut log.store, LogId::JOURNAL, 11, 40).expect("stored");
    let mut padded = proof.clone();
    padded.push(proof[0]);
    assert_eq!(verify_consistency(&old, &new, &padded, &public_key()), Err(ConsistencyError::ProofPadded { expected: proof.len(), actual: proof.len() + 1 }));
    assert_eq!(
        verify_consistency(&old, &new, &proof[1..], &public_key()),
        Err(ConsistencyError::ProofTruncated { expected: proof.len(), actual: proof.len() - 1 })
    );
    let mallory = SignerKey::generate(ORIGIN, [66; 32]).expect("valid name");
    let forged_new = log.checkpoint(40, &mallory);
    assert_eq!(verify_consistency(&old, &forged_new, &proof, &public_key()).map_err(|error| error.code()), Err("signed_by_another_key"));
    assert!(matches!(verify_consistency(&forged_new, &new, &proof, &public_key()), Err(ConsistencyError::OldCheckpoint(_))));
    let empty = Checkpoint::new(ORIGIN, 0, hongbao_tlog::empty_root()).expect("valid").sign(&key);
    assert_eq!(verify_consistency(&empty, &new, &[], &public_key()), Err(ConsistencyError::EmptyOldTree));
    assert_eq!(parse_proof("not a hash\n"), Err(ConsistencyError::MalformedProof { line: 1 }));
}
