//! Receipts as people hand them in (`hongbao receipt verify`, C2SP `tlog-proof` text): parsed by
//! `Receipt::parse` and verified by `verify_receipt` against the seed corpus's log key.
//!
//! A receipt that parses is verified twice: as it is, and with its checkpoint's text signed afresh by
//! the log key, so that a mutated entry, index or proof gets past the signature to the proof checks.
//!
//! Properties: nothing panics; a receipt that parses is written back by `Receipt::to_text` as exactly
//! the same text (one text form per receipt); a verified receipt's entry is the journal entry whose
//! leaf it proves (leaf index one less than its sequence number) and balances, and its checkpoint
//! holds that leaf.
#![no_main]

use hongbao_tlog::{Receipt, verify_receipt};
use libfuzzer_sys::fuzz_target;

fn check(text: &str) {
    let Ok(receipt) = Receipt::parse(text) else { return };
    assert_eq!(receipt.to_text(), text, "a receipt has one text form");
    match verify_receipt(text, &hongbao_fuzz::verifier(), Some(hongbao_fuzz::ORIGIN)) {
        Ok(verified) => {
            assert_eq!(verified.leaf_index(), receipt.leaf_index());
            assert_eq!(verified.seq(), receipt.leaf_index() + 1);
            assert!(verified.leaf_index() < verified.checkpoint().checkpoint().size());
            assert!(verified.txn().is_balanced());
            assert_eq!(verified.txn().canonical_bytes(verified.seq()), receipt.entry());
        }
        Err(error) => assert!(!error.code().is_empty() && !error.to_string().is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check(text);
    // The same receipt with its checkpoint signed by the log key.
    let Ok(receipt) = Receipt::parse(text) else { return };
    let Some((note_text, _signatures)) = receipt.signed_checkpoint().split_once("\n\n") else { return };
    let Ok(signed) = hongbao_fuzz::log_key().sign_note(&format!("{note_text}\n")) else { return };
    let resigned = Receipt::new(receipt.entry().to_vec(), receipt.leaf_index(), receipt.proof().to_vec(), signed);
    check(&resigned.to_text());
});
