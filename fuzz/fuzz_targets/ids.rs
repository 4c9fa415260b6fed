//! Ids and transaction numbers as clients send them (in paths and bodies), the ledger's account names,
//! and the names of enumerations (kinds, statuses, roles, labels, scopes).
//!
//! Properties: an id parses exactly when it is its prefix and 1 to 64 of `a-z`, `0-9` and `_`, and then
//! reads back as the same text; an account's name and every enumeration's name read back to the same
//! value; a generated id parses, whatever the time and the random bits.
#![no_main]

use hongbao_core::{
    Account, CaseRefundId, ComplaintId, DisclosureId, EvidenceId, FreezeId, GroupId, MerchantKeyId, OperatorId, PacketId, PacketKind, ReturnRequestId,
    ReversalId, Timestamp, TransferId, TxnKind, TxnNo, UserId, WebhookId, cases, legal, merchant, staff, transfer,
};
use libfuzzer_sys::fuzz_target;

/// A random source that gives back the fuzzer's bytes.
struct Bytes(u64);

impl rand_core::RngCore for Bytes {
    fn next_u32(&mut self) -> u32 {
        self.0 as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

macro_rules! check_ids {
    ($text:expr, $now:expr, $bits:expr, $($id:ty),+) => {$({
        let text: &str = $text;
        let suffix = text.strip_prefix(<$id>::PREFIX);
        let valid = suffix.is_some_and(|suffix| {
            (1..=64).contains(&suffix.len()) && suffix.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        });
        match <$id>::parse(text) {
            Ok(id) => {
                assert!(valid, "{text:?} parsed as {}", stringify!($id));
                assert_eq!(id.as_str(), text);
                assert_eq!(id.to_string(), text);
            }
            Err(error) => {
                assert!(!valid, "{text:?} refused as {}", stringify!($id));
                assert_eq!(error.text, text);
            }
        }
        let generated = <$id>::generate($now, &mut Bytes($bits));
        assert_eq!(<$id>::parse(generated.as_str()).as_ref(), Ok(&generated), "generated at {:?}", $now);
    })+};
}

macro_rules! check_names {
    ($text:expr, $($enumeration:ty),+) => {$({
        let text: &str = $text;
        if let Some(value) = <$enumeration>::parse(text) {
            assert_eq!(value.as_str(), text);
        }
        for value in <$enumeration>::ALL {
            assert_eq!(<$enumeration>::parse(value.as_str()), Some(*value));
        }
    })+};
}

fuzz_target!(|data: &[u8]| {
    let (now, bits, text) = match data.split_first_chunk::<16>() {
        Some((numbers, rest)) if data.first() == Some(&0xff) => {
            let (millis, bits) = numbers.split_at(8);
            (i64::from_le_bytes(millis.try_into().expect("8 bytes")), u64::from_le_bytes(bits.try_into().expect("8 bytes")), rest)
        }
        _ => (1_795_736_552_123, 0x0123_4567_89ab_cdef, data),
    };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let now = Timestamp::from_millis(now);
    check_ids!(
        text,
        now,
        bits,
        UserId,
        GroupId,
        PacketId,
        TransferId,
        ReturnRequestId,
        TxnNo,
        OperatorId,
        EvidenceId,
        ComplaintId,
        FreezeId,
        ReversalId,
        CaseRefundId,
        MerchantKeyId,
        WebhookId,
        DisclosureId
    );
    if let Some(account) = Account::parse(text) {
        assert_eq!(account.to_string(), text);
    }
    if let Some(kind) = TxnKind::parse(text) {
        assert_eq!(kind.as_str(), text);
    }
    check_names!(text, cases::ComplaintKind, cases::EvidenceLabel, cases::CaseOutcome, staff::Role, merchant::Scope, legal::ApprovalStatus);
    if let Some(kind) = PacketKind::parse(text) {
        assert_eq!(kind.as_str(), text);
    }
    if let Some(arrival) = transfer::Arrival::parse(text) {
        assert_eq!(arrival.as_str(), text);
    }
});
