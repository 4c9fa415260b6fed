//! Opaque identifiers with a type prefix (`usr_`, `grp_`, `pkt_`, `trf_`) and transaction numbers.
//! They are parsed at the edge, so an ill-formed one cannot exist inside the service.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {kind}")]
pub struct IdError {
    pub kind: &'static str,
    pub text: String,
}

/// The random part of an id: 20 characters of lowercase base32 (100 bits).
const RANDOM_CHARS: usize = 20;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn random_suffix(rng: &mut dyn rand_core::RngCore) -> String {
    let mut bits = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
    let mut text = String::with_capacity(RANDOM_CHARS);
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

            /// A fresh random id.
            pub fn generate(rng: &mut dyn rand_core::RngCore) -> $name {
                $name(format!("{}{}", $prefix, random_suffix(rng)))
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
    fn generated_ids_parse_and_differ() {
        let mut rng = Counter(7);
        let first = UserId::generate(&mut rng);
        let second = UserId::generate(&mut rng);
        assert_ne!(first, second);
        assert_eq!(UserId::parse(first.as_str()), Ok(first.clone()));
        assert_eq!(first.as_str().len(), 4 + RANDOM_CHARS);
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
