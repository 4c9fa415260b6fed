//! A journal entry's canonical bytes, as a receipt's `extra` line carries them to a verifier:
//! `LedgerTxn::from_canonical_bytes`.
//!
//! Properties: nothing panics; bytes that decode are exactly the encoding of what they decode to (one
//! encoding per transaction); every text in it parses as its type; the amount is within range.
#![no_main]

use hongbao_core::money::MAX_AMOUNT;
use hongbao_core::{Account, LedgerTxn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((seq, txn)) = LedgerTxn::from_canonical_bytes(data) else { return };
    assert_eq!(txn.canonical_bytes(seq), data, "one encoding per transaction");
    assert!((0..=MAX_AMOUNT).contains(&txn.amount().minor_units()));
    for posting in txn.postings() {
        assert_eq!(Account::parse(&posting.account.to_string()).as_ref(), Some(&posting.account));
    }
    let _ = txn.is_balanced();
    let _ = hongbao_tlog::describe_kind(txn.kind());
});
