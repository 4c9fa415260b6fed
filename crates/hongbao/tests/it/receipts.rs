//! Receipts and checkpoints as a third party checks them: fetched from a real server, verified by the
//! `hongbao` binary offline with nothing but the published public key; forgeries refused by name;
//! consistency between checkpoints; and a history rewritten behind the server's back caught both by
//! `hongbao verify` and by the offline check against a checkpoint kept from before.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hongbao_testkit::TestDatabase;
use hongbao_tlog::{Frontier, Hash, SignerKey, leaf_hash};
use serde_json::Value;

use crate::process::{ADMIN_TOKEN, Client, run, verify};
use crate::story::{Scratch, every_kind, get_text, output_text, path_text, post_ok, public_key, start_server};

const KINDS: [&str; 11] = [
    "top_up",
    "withdrawal",
    "packet_send",
    "packet_claim",
    "packet_refund",
    "transfer_send",
    "transfer_settle",
    "transfer_refund",
    "return",
    "case_refund",
    "reversal",
];

fn verify_receipt_file(path: &std::path::Path, key: &str) -> std::process::Output {
    run(&["receipt", "verify", path_text(path), "--public-key", key])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_every_kind_of_transaction_verify_offline_with_the_public_key_only() {
    let database = TestDatabase::new();
    let scratch = Scratch::new("receipts");
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    let story = every_kind(&client).await;
    assert_eq!(story.by_kind.keys().map(String::as_str).collect::<Vec<_>>().len(), KINDS.len(), "{:?}", story.by_kind);
    let (key, key_file) = public_key(&client, &scratch).await;
    for kind in KINDS {
        let txn_no = &story.by_kind[kind];
        // Each party may have the receipt of their transaction; the admin may have any.
        let token = if kind == "withdrawal" || kind == "top_up" { &story.alice.1 } else { ADMIN_TOKEN };
        let (status, receipt) = get_text(&client, &format!("/v1/transactions/{txn_no}/receipt"), token).await;
        assert_eq!(status, 200, "{kind}: {receipt}");
        let file = scratch.write(&format!("{txn_no}.tlog-proof"), &receipt);
        // The key given as text, and as the file it was saved in.
        for key in [key.as_str(), path_text(&key_file)] {
            let output = verify_receipt_file(&file, key);
            let report = output_text(&output);
            assert_eq!(output.status.code(), Some(0), "{kind}: {report}");
            assert!(report.starts_with("RECEIPT VERIFIED") && report.contains(txn_no.as_str()) && report.contains(&format!("({kind})")), "{report}");
        }
    }
    // Someone who is not a party is told the transaction does not exist.
    let (status, _) = get_text(&client, &format!("/v1/transactions/{}/receipt", story.by_kind["packet_claim"]), &story.carol.1).await;
    assert_eq!(status, 404);
    server.kill();
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
}

/// The receipt's parts: the entry's bytes, the index line, the proof lines and the checkpoint.
struct Parts {
    entry: Vec<u8>,
    index: u64,
    proof: Vec<String>,
    checkpoint: String,
}

fn split(receipt: &str) -> Parts {
    let (head, checkpoint) = receipt.split_once("\n\n").expect("a blank line before the checkpoint");
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("c2sp.org/tlog-proof@v1"));
    let entry = STANDARD.decode(lines.next().and_then(|line| line.strip_prefix("extra ")).expect("extra")).expect("base64");
    let index = lines.next().and_then(|line| line.strip_prefix("index ")).expect("index").parse().expect("a number");
    Parts { entry, index, proof: lines.map(str::to_owned).collect(), checkpoint: checkpoint.to_owned() }
}

fn join(parts: &Parts) -> String {
    let mut text = format!("c2sp.org/tlog-proof@v1\nextra {}\nindex {}\n", STANDARD.encode(&parts.entry), parts.index);
    for line in &parts.proof {
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&parts.checkpoint);
    text
}

/// Replaces the first occurrence of `from` in `bytes` by `to`, of the same length.
fn replace_bytes(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes.windows(from.len()).position(|window| window == from).expect("the bytes to replace");
    bytes[at..at + from.len()].copy_from_slice(to);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_receipts_are_refused_with_what_failed() {
    let database = TestDatabase::new();
    let scratch = Scratch::new("forgeries");
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    let story = every_kind(&client).await;
    let (key, _) = public_key(&client, &scratch).await;
    let other_key = SignerKey::generate(key.split('+').next().expect("a name"), [9; 32]).expect("a key");
    for kind in ["packet_claim", "reversal"] {
        let txn_no = &story.by_kind[kind];
        let (_, receipt) = get_text(&client, &format!("/v1/transactions/{txn_no}/receipt"), ADMIN_TOKEN).await;
        let parts = split(&receipt);
        assert!(!parts.proof.is_empty(), "a tree of many entries gives a proof with hashes");
        let amount = hongbao_core::LedgerTxn::from_canonical_bytes(&parts.entry).expect("an entry").1.amount().minor_units();
        let mut forgeries: Vec<(&str, String, &str)> = Vec::new();
        // A changed amount: the entry no longer leads to the signed root.
        let mut changed = split(&receipt);
        replace_bytes(&mut changed.entry, &amount.to_be_bytes(), &(amount * 100).to_be_bytes());
        forgeries.push(("a changed amount", join(&changed), "not_in_checkpoint"));
        // A changed party: bob's wallet is carol's.
        let mut changed = split(&receipt);
        replace_bytes(&mut changed.entry, story.bob.0.as_bytes(), story.carol.0.as_bytes());
        forgeries.push(("a changed party", join(&changed), "not_in_checkpoint"));
        // A wrong leaf index.
        let mut changed = split(&receipt);
        changed.index += 1;
        forgeries.push(("a wrong leaf index", join(&changed), "wrong_leaf_index"));
        // A truncated and a padded proof.
        let mut changed = split(&receipt);
        changed.proof.pop();
        forgeries.push(("a truncated proof", join(&changed), "proof_truncated"));
        let mut changed = split(&receipt);
        changed.proof.push(changed.proof[0].clone());
        forgeries.push(("a padded proof", join(&changed), "proof_padded"));
        // A proof from another tree: each hash of the proof replaced.
        let mut changed = split(&receipt);
        changed.proof = changed.proof.iter().map(|_| leaf_hash(b"another tree").to_base64()).collect();
        forgeries.push(("a proof from another tree", join(&changed), "not_in_checkpoint"));
        // The checkpoint signed by another key of the same name.
        let mut changed = split(&receipt);
        let text = changed.checkpoint.split("\n\n").next().expect("the checkpoint's text").to_owned() + "\n";
        changed.checkpoint = other_key.sign_note(&text).expect("signs");
        forgeries.push(("a checkpoint signed by another key", join(&changed), "signed_by_another_key"));
        // A signature over a different origin: the checkpoint's origin line rewritten.
        let mut changed = split(&receipt);
        changed.checkpoint = changed.checkpoint.replacen("hongbao/", "hongbao-other/", 1);
        forgeries.push(("a checkpoint with another origin", join(&changed), "bad_signature"));
        for (what, forged, code) in forgeries {
            let file = scratch.write("forged.tlog-proof", forged);
            let output = verify_receipt_file(&file, &key);
            let report = output_text(&output);
            assert_eq!(output.status.code(), Some(1), "{kind}, {what}: {report}");
            assert!(report.starts_with("RECEIPT NOT VERIFIED") && report.contains(&format!("(code: {code})")), "{kind}, {what}: {report}");
        }
    }
}

/// Signed checkpoints, oldest first, with the story's transactions in between.
async fn checkpoints_in_between(client: &Client) -> Vec<Value> {
    let (alice, _) = client.user("dora").await;
    let mut made = Vec::new();
    for round in 0..4 {
        for top_up in 0..(round * 3 + 1) {
            post_ok(
                client,
                "/v1/top-ups",
                ADMIN_TOKEN,
                Some(serde_json::json!({ "user_id": alice, "amount": 1_00, "reference": format!("bank-{round}-{top_up}") })),
            )
            .await;
        }
        made.push(post_ok(client, "/v1/ops/checkpoints", ADMIN_TOKEN, None).await);
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistency_proofs_between_every_pair_of_checkpoints_verify_offline() {
    let database = TestDatabase::new();
    let scratch = Scratch::new("consistency");
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    let made = checkpoints_in_between(&client).await;
    let listed = client.get("/v1/journal/checkpoints?limit=2", ADMIN_TOKEN).await;
    assert_eq!(listed["data"][0]["seq"], made[3]["seq"], "newest first: {listed}");
    assert!(listed["next_cursor"].is_string(), "{listed}");
    assert_eq!(client.get("/v1/journal/checkpoints/latest", ADMIN_TOKEN).await["size"], made[3]["size"]);
    let (key, _) = public_key(&client, &scratch).await;
    for (older, old) in made.iter().enumerate() {
        for new in &made[older + 1..] {
            let (status, proof) = get_text(&client, &format!("/v1/journal/consistency?from={}&to={}", old["size"], new["size"]), ADMIN_TOKEN).await;
            assert_eq!(status, 200, "{proof}");
            let (old_file, new_file, proof_file) = (
                scratch.write("old.checkpoint", old["checkpoint"].as_str().expect("text")),
                scratch.write("new.checkpoint", new["checkpoint"].as_str().expect("text")),
                scratch.write("proof", &proof),
            );
            let output = run(&["journal", "verify-consistency", path_text(&old_file), path_text(&new_file), path_text(&proof_file), "--public-key", &key]);
            assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
            assert!(output_text(&output).starts_with("CONSISTENCY VERIFIED"), "{}", output_text(&output));
            // The same files the other way round: an old checkpoint presented as newer.
            let output = run(&["journal", "verify-consistency", path_text(&new_file), path_text(&old_file), path_text(&proof_file), "--public-key", &key]);
            assert_eq!(output.status.code(), Some(1), "{}", output_text(&output));
            assert!(output_text(&output).contains("(code: newer_is_smaller)"), "{}", output_text(&output));
        }
    }
    // Sizes the tree does not have are refused.
    let size = made[3]["size"].as_u64().expect("a size");
    for query in ["from=0&to=1".to_owned(), "from=3&to=2".to_owned(), format!("from=1&to={}", size + 1), "from=x&to=2".to_owned()] {
        let (status, body) = get_text(&client, &format!("/v1/journal/consistency?{query}"), ADMIN_TOKEN).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains("validation_failed"), "{body}");
    }
}

/// Runs SQL behind the server's back.
fn tamper(database: &TestDatabase, sqlite_sql: &str, postgres_sql: &str) {
    match database.sqlite_path() {
        Some(path) => rusqlite::Connection::open(path).expect("open the database file").execute_batch(sqlite_sql).expect("tamper"),
        None => database.postgres_execute(postgres_sql),
    }
}

/// The tree the journal's current rows give, as `(level, index, hash)` of every node.
fn recomputed_tree(database: &TestDatabase) -> Vec<(u8, u64, Hash)> {
    let store = database.store();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let mut conn = store.open_reader().expect("reader");
                let entries = conn.journal_range(1, 10_000).expect("journal");
                let leaves: Vec<Hash> = entries.iter().map(|entry| leaf_hash(&entry.txn.canonical_bytes(entry.seq))).collect();
                let nodes = Frontier::empty().append(&leaves).nodes.into_iter().map(|node| (node.id.level, node.id.index, node.hash)).collect();
                drop(conn);
                nodes
            })
            .join()
            .expect("read the journal")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_history_is_caught_by_verify_and_offline_against_a_kept_checkpoint() {
    let database = TestDatabase::new();
    let scratch = Scratch::new("rewritten");
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    let story = every_kind(&client).await;
    let (key, _) = public_key(&client, &scratch).await;
    // A court keeps the receipt of the claim and the checkpoint it was proven in.
    let claim = story.by_kind["packet_claim"].clone();
    let (_, kept_receipt) = get_text(&client, &format!("/v1/transactions/{claim}/receipt"), ADMIN_TOKEN).await;
    let kept = post_ok(&client, "/v1/ops/checkpoints", ADMIN_TOKEN, None).await;
    let kept_file = scratch.write("kept.checkpoint", kept["checkpoint"].as_str().expect("text"));
    server.kill();

    // Someone with the database's keys doubles the claim's amount, in the journal and its postings,
    // and recomputes the Merkle tree to match, so that new receipts of it would verify.
    let seq = split(&kept_receipt).index + 1;
    tamper(
        &database,
        &format!(
            "DROP TRIGGER journal_is_append_only_update; DROP TRIGGER postings_are_append_only_update; DROP TRIGGER merkle_nodes_are_append_only_update;
             UPDATE journal SET amount = amount * 2 WHERE seq = {seq}; UPDATE postings SET amount = amount * 2 WHERE seq = {seq};"
        ),
        &format!(
            "DROP TRIGGER journal_is_append_only ON journal; DROP TRIGGER postings_are_append_only ON postings; DROP TRIGGER merkle_nodes_are_append_only ON merkle_nodes;
             UPDATE journal SET amount = amount * 2 WHERE seq = {seq}; UPDATE postings SET amount = amount * 2 WHERE seq = {seq};"
        ),
    );
    let mut rewrite = String::new();
    for (level, index, hash) in recomputed_tree(&database) {
        let hex = hash.to_hex();
        match database.sqlite_path() {
            Some(_) => rewrite.push_str(&format!("UPDATE merkle_nodes SET hash = X'{hex}' WHERE log_id = 0 AND level = {level} AND idx = {index};\n")),
            None => rewrite.push_str(&format!("UPDATE merkle_nodes SET hash = '\\x{hex}'::bytea WHERE log_id = 0 AND level = {level} AND idx = {index};\n")),
        }
    }
    tamper(&database, &rewrite, &rewrite);

    // `hongbao verify` names the edited entry and the checkpoint whose signed root no longer fits.
    let output = verify(&database.url);
    let report = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("journal entry {seq} ")), "{report}");
    assert!(report.contains("history was rewritten since it was signed"), "{report}");

    // The server, started again on the rewritten database, signs a new checkpoint of the rewritten tree
    // and gives a receipt of the doubled claim that verifies against it...
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    post_ok(&client, "/v1/top-ups", ADMIN_TOKEN, Some(serde_json::json!({ "user_id": story.bob.0, "amount": 1_00, "reference": "after" }))).await;
    let newer = post_ok(&client, "/v1/ops/checkpoints", ADMIN_TOKEN, None).await;
    let (_, new_receipt) = get_text(&client, &format!("/v1/transactions/{claim}/receipt"), ADMIN_TOKEN).await;
    let output = verify_receipt_file(&scratch.write("new.tlog-proof", &new_receipt), &key);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    // ...but against the kept checkpoint the rewrite shows: the consistency proof fails, and the new
    // receipt's entry, put in the kept receipt, does not lead to the kept checkpoint's root.
    let (_, proof) = get_text(&client, &format!("/v1/journal/consistency?from={}&to={}", kept["size"], newer["size"]), ADMIN_TOKEN).await;
    let new_file = scratch.write("newer.checkpoint", newer["checkpoint"].as_str().expect("text"));
    let proof_file = scratch.write("proof", &proof);
    let output = run(&["journal", "verify-consistency", path_text(&kept_file), path_text(&new_file), path_text(&proof_file), "--public-key", &key]);
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output));
    assert!(output_text(&output).contains("(code: history_rewritten)"), "{}", output_text(&output));
    let mut mixed = split(&kept_receipt);
    mixed.entry = split(&new_receipt).entry;
    let output = verify_receipt_file(&scratch.write("mixed.tlog-proof", join(&mixed)), &key);
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output));
    assert!(output_text(&output).contains("(code: not_in_checkpoint)"), "{}", output_text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_kept_owner_only_printed_by_the_cli_and_a_rotation_keeps_old_checkpoints_verifiable() {
    let database = TestDatabase::new();
    let scratch = Scratch::new("rotation");
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    let (alice, _) = client.user("alice").await;
    post_ok(&client, "/v1/top-ups", ADMIN_TOKEN, Some(serde_json::json!({ "user_id": alice, "amount": 1_00, "reference": "one" }))).await;
    let old = post_ok(&client, "/v1/ops/checkpoints", ADMIN_TOKEN, None).await;
    let (old_key, _) = public_key(&client, &scratch).await;
    server.kill();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(scratch.file("log.key")).expect("the key file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is readable by its owner only");
    }
    let printed = run(&["log-key", "--database", &database.url]);
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), old_key, "{}", output_text(&printed));

    // A new key file of the same log: new checkpoints are signed with it, the old key stays listed.
    let origin = old_key.split('+').next().expect("a name");
    let generated = run(&["log-key", "--generate", path_text(&scratch.file("new.key")), "--origin", origin]);
    assert_eq!(generated.status.code(), Some(0), "{}", output_text(&generated));
    let refused = run(&["log-key", "--generate", path_text(&scratch.file("new.key")), "--origin", origin]);
    assert_eq!(refused.status.code(), Some(2), "a key file is never overwritten");
    let rotated = SignerKey::parse(std::fs::read_to_string(scratch.file("new.key")).expect("the new key").trim()).expect("a signer key");
    assert_eq!(String::from_utf8_lossy(&generated.stdout).trim(), rotated.verifier().to_string());
    std::fs::rename(scratch.file("new.key"), scratch.file("log.key")).expect("put the new key in place");
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    post_ok(&client, "/v1/top-ups", ADMIN_TOKEN, Some(serde_json::json!({ "user_id": alice, "amount": 1_00, "reference": "two" }))).await;
    let new = post_ok(&client, "/v1/ops/checkpoints", ADMIN_TOKEN, None).await;
    let (new_key, _) = public_key(&client, &scratch).await;
    assert_eq!(new_key, rotated.verifier().to_string());
    let keys = client.get("/v1/journal/keys", ADMIN_TOKEN).await;
    let listed: Vec<(&str, bool)> = keys["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|key| (key["verifier_key"].as_str().expect("text"), key["current"].as_bool().expect("a flag")))
        .collect();
    assert_eq!(listed, [(new_key.as_str(), true), (old_key.as_str(), false)]);
    let printed = run(&["log-key", "--database", &database.url, "--all"]);
    assert_eq!(String::from_utf8_lossy(&printed.stdout), format!("{new_key}\n{old_key}\n"));
    // Each checkpoint verifies with the key that signed it, and only with that one.
    let check = |checkpoint: &Value, key: &str| {
        hongbao_tlog::open_checkpoint(checkpoint["checkpoint"].as_str().expect("text"), &hongbao_tlog::VerifierKey::parse(key).expect("a key"), None).is_ok()
    };
    assert!(check(&old, &old_key) && !check(&old, &new_key));
    assert!(check(&new, &new_key) && !check(&new, &old_key));
    server.kill();
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    assert!(output_text(&output).contains("signed checkpoints verify"), "{}", output_text(&output));
}
