//! HMAC-SHA256 (RFC 2104), for signing webhook payloads so the platform can tell they came from us.

use sha2::{Digest, Sha256};

const BLOCK: usize = 64;

/// The HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|byte| byte ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|byte| byte ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The signature header value of a webhook: `t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">`.
pub fn webhook_signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut message = format!("{unix_seconds}.").into_bytes();
    message.extend_from_slice(body);
    let mac = hmac_sha256(secret.as_bytes(), &message);
    format!("t={unix_seconds},v1={}", hex::encode(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        hex::encode(bytes)
    }

    #[test]
    fn matches_the_rfc_4231_test_vectors() {
        assert_eq!(hex(&hmac_sha256(&[0x0b; 20], b"Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        assert_eq!(hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(
            hex(&hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_signature_covers_the_time_and_the_body() {
        let signed = webhook_signature("secret", 1_800_000_000, b"{}");
        assert!(signed.starts_with("t=1800000000,v1="));
        assert_ne!(signed, webhook_signature("secret", 1_800_000_001, b"{}"));
        assert_ne!(signed, webhook_signature("secret", 1_800_000_000, b"{ }"));
        assert_ne!(signed, webhook_signature("other", 1_800_000_000, b"{}"));
    }
}
