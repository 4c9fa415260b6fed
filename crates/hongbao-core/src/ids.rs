//! Opaque identifiers with a type prefix (`usr_`, `grp_`, `pkt_`, `trf_`, `cmp_`, ...) and transaction numbers.
//! They are parsed at the edge, so an ill-formed one cannot exist inside the service.

use std::fmt;

use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {kind}")]
pub struct IdError {
    pub kind: &'static str,
    pub text: String,
}

/// The part of an id after its prefix: 10 base32 characters of the creation time in milliseconds, then
/// 10 of randomness (50 bits). The alphabet is in ASCII order, so ids sort by creation time: new rows
/// land at the end of every index keyed by them instead of on random pages, which keeps each durable
/// commit small.
const TIME_CHARS: usize = 10;
const RANDOM_CHARS: usize = 10;
const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

fn suffix(now: Timestamp, rng: &mut dyn rand_core::RngCore) -> String {
    let mut text = String::with_capacity(TIME_CHARS + RANDOM_CHARS);
    let millis = now.millis().max(0) as u64;
    for position in (0..TIME_CHARS).rev() {
        text.push(char::from(ALPHABET[((millis >> (5 * position)) & 31) as usize]));
    }
    let mut bits = rng.next_u64();
    for _ in 0..RANDOM_CHARS {
        text.push(char::from(ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    text
}

fn valid_suffix(suffix: &str) -> bool {
    (1..=64).contains(&suffix.len()) && suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id, ordered by its creation time `now`, unique by its random part.
            pub fn generate(now: Timestamp, rng: &mut dyn rand_core::RngCore) -> $name {
                $name(format!("{}{}", $prefix, suffix(now, rng)))
            }

            pub fn parse(text: &str) -> Result<$name, IdError> {
                match text.strip_prefix($prefix) {
                    Some(suffix) if valid_suffix(suffix) => Ok($name(text.to_owned())),
                    _ => Err(IdError { kind: $kind, text: text.to_owned() }),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// A user of the platform, who has a wallet.
    UserId, "usr_", "user id"
);
prefixed_id!(
    /// A group of users, the audience of group packets.
    GroupId, "grp_", "group id"
);
prefixed_id!(
    /// A red packet.
    PacketId, "pkt_", "packet id"
);
prefixed_id!(
    /// A person-to-person transfer.
    TransferId, "trf_", "transfer id"
);
prefixed_id!(
    /// A return request (协商退还).
    ReturnRequestId, "rrq_", "return request id"
);
prefixed_id!(
    /// A ledger transaction's number (交易单号), unique and stable.
    TxnNo, "txn_", "transaction number"
);
prefixed_id!(
    /// A member of the platform's staff: support, reviewer, legal officer or auditor.
    OperatorId, "op_", "operator id"
);
prefixed_id!(
    /// A file of evidence, stored by its SHA-256.
    EvidenceId, "evd_", "evidence id"
);
prefixed_id!(
    /// A complaint, handled as a case.
    ComplaintId, "cmp_", "complaint id"
);
prefixed_id!(
    /// A freeze of a wallet's outgoing money, whole or of an amount.
    FreezeId, "frz_", "freeze id"
);
prefixed_id!(
    /// A reversal of a settled transaction, carried out once a second legal officer approves it.
    ReversalId, "rev_", "reversal id"
);
prefixed_id!(
    /// A case refund above the policy's four-eyes amount, carried out once a second reviewer approves it.
    CaseRefundId, "crf_", "case refund id"
);
prefixed_id!(
    /// A merchant's or enterprise's API key, which acts for one wallet within limits.
    MerchantKeyId, "mk_", "merchant key id"
);
prefixed_id!(
    /// An endpoint of the platform's that receives every event as a signed webhook.
    WebhookId, "whk_", "webhook id"
);
prefixed_id!(
    /// A disclosure of a user's identity to an authorised requester, made once a second legal officer approves it.
    DisclosureId, "dsc_", "disclosure id"
);

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u64);
    impl rand_core::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
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

    #[test]
    fn generated_ids_parse_differ_and_sort_by_time() {
        let mut rng = Counter(7);
        let now = Timestamp::from_millis(1_800_000_000_000);
        let first = UserId::generate(now, &mut rng);
        let second = UserId::generate(now, &mut rng);
        assert_ne!(first, second);
        assert_eq!(UserId::parse(first.as_str()), Ok(first.clone()));
        assert_eq!(first.as_str().len(), 4 + TIME_CHARS + RANDOM_CHARS);
        let later = UserId::generate(Timestamp::from_millis(1_800_000_000_001), &mut rng);
        assert!(later > first && later > second, "{later} sorts after {first} and {second}");
        let much_later = UserId::generate(Timestamp::from_millis(1_900_000_000_000), &mut rng);
        assert!(much_later > later);
    }

    #[test]
    fn rejects_wrong_prefix_and_characters() {
        assert!(UserId::parse("grp_abc").is_err());
        assert!(UserId::parse("usr_").is_err());
        assert!(UserId::parse("usr_ABC").is_err());
        assert!(UserId::parse("usr_a b").is_err());
        assert!(PacketId::parse("pkt_abc234").is_ok());
    }
}
