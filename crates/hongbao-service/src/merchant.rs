//! Merchant API keys: created by the admin, shown once and kept hashed; the address allowlist in
//! CIDR notation (IPv4 and IPv6); and the key's own limits, checked inside the writer next to the
//! policy's so that a key's daily total cannot be raced past.

use std::net::IpAddr;

use hongbao_core::merchant::{MerchantKey, Scope};
use hongbao_core::staff::Permission;
use hongbao_core::{Amount, MerchantKeyId, UserId};
use hongbao_store::records::StoredMerchantKey;

use crate::cases::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::ops::{OpContext, Outcome, new_token, token_hash};

/// A network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `203.0.113.0/24`, `2001:db8::/32`, or a single address (a /32 or /128).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(Cidr { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 client reaching an IPv6 socket shows as ::ffff:a.b.c.d; compare it as IPv4.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// The client's address: the connection's peer, or, when the peer is a trusted proxy, the address in
/// `X-Forwarded-For` just before the trusted proxies (walking from the right, so that a client cannot
/// put an address of its choosing in front).
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted_proxies: &[Cidr]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted_proxies.iter().any(|cidr| cidr.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded_for.iter().flat_map(|header| header.split(',')).filter_map(|hop| hop.trim().parse().ok()).collect();
    hops.iter().rev().copied().find(|hop| !is_trusted(*hop)).or_else(|| hops.first().copied()).unwrap_or(peer)
}

/// Whether a key may be used from `address`.
pub fn address_allowed(key: &MerchantKey, address: IpAddr) -> bool {
    key.allowed_cidrs.iter().filter_map(|cidr| Cidr::parse(cidr)).any(|cidr| cidr.contains(address))
}

#[derive(Clone, Debug)]
pub enum MerchantOp {
    Create {
        actor: Actor,
        user_id: UserId,
        name: String,
        scopes: Vec<Scope>,
        allowed_cidrs: Vec<String>,
        max_transaction: Option<Amount>,
        daily_max: Option<Amount>,
    },
    Revoke {
        actor: Actor,
        key_id: MerchantKeyId,
        reason: String,
    },
}

impl OpContext<'_, '_> {
    pub(crate) fn run_merchant(&mut self, op: MerchantOp) -> ServiceResult<Outcome> {
        match op {
            MerchantOp::Create { actor, user_id, name, scopes, allowed_cidrs, max_transaction, daily_max } => {
                actor.require(Permission::ManagePlatform)?;
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 64 {
                    return Err(ServiceError::Validation("name must be 1 to 64 characters".into()));
                }
                if scopes.is_empty() {
                    return Err(ServiceError::Validation("a key needs at least one scope".into()));
                }
                if allowed_cidrs.is_empty() {
                    return Err(ServiceError::Validation("a key needs at least one allowed network (CIDR)".into()));
                }
                if let Some(bad) = allowed_cidrs.iter().find(|cidr| Cidr::parse(cidr).is_none()) {
                    return Err(ServiceError::Validation(format!("{bad:?} is not a network in CIDR notation, such as 203.0.113.0/24 or 2001:db8::/32")));
                }
                self.require_user(&user_id)?;
                let secret = new_token(self.rng).replacen("hbt_", "hbk_", 1);
                let key = MerchantKey {
                    id: MerchantKeyId::generate(self.now, self.rng),
                    user_id,
                    name,
                    scopes,
                    allowed_cidrs,
                    max_transaction,
                    daily_max,
                    created_at: self.now,
                    revoked_at: None,
                };
                self.batch.put_record(&StoredMerchantKey { key: key.clone(), secret_hash: token_hash(&secret) });
                let scopes: Vec<&str> = key.scopes.iter().map(|scope| scope.as_str()).collect();
                let detail = [("user", key.user_id.to_string()), ("scopes", scopes.join(",")), ("networks", key.allowed_cidrs.join(","))];
                self.audit(&actor, "merchant_key.create", key.id.as_str(), "new API key", &detail)?;
                Ok(Outcome::MerchantKeyCreated { key, secret })
            }
            MerchantOp::Revoke { actor, key_id, reason } => {
                actor.require(Permission::ManagePlatform)?;
                let mut stored: StoredMerchantKey = self.batch.record(hongbao_store::records::text(&key_id))?.ok_or(ServiceError::NotFound("merchant key"))?;
                if stored.key.revoked_at.is_some() {
                    return Err(ServiceError::InvalidState("the key is already revoked".into()));
                }
                stored.key.revoked_at = Some(self.now);
                self.batch.put_record(&stored);
                self.audit(&actor, "merchant_key.revoke", key_id.as_str(), &reason, &[])?;
                Ok(Outcome::MerchantKey(stored.key))
            }
        }
    }

    /// Refuses a payment past the calling key's own limits.
    pub(crate) fn check_key_limits(&mut self, amount: Amount) -> ServiceResult<()> {
        let Some(key) = self.key.clone() else { return Ok(()) };
        let used = self.usage_of(key.id.as_str())?.usage.outgoing;
        key.check_amount(amount, used).map_err(|error| ServiceError::LimitExceeded(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_client_behind_trusted_proxies_is_found_in_x_forwarded_for() {
        let proxies = vec![Cidr::parse("10.0.0.0/8").expect("a network")];
        assert_eq!(client_address(ip("10.0.0.5"), &["203.0.113.9"], &proxies), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.5"), &["198.51.100.1, 203.0.113.9, 10.0.0.7"], &proxies), ip("203.0.113.9"), "the last untrusted hop");
        assert_eq!(client_address(ip("192.0.2.1"), &["203.0.113.9"], &proxies), ip("192.0.2.1"), "an untrusted peer's header is ignored");
        assert_eq!(client_address(ip("10.0.0.5"), &[], &proxies), ip("10.0.0.5"), "no header: the proxy itself");
        assert_eq!(client_address(ip("10.0.0.5"), &["not an address"], &proxies), ip("10.0.0.5"));
        assert_eq!(client_address(ip("10.0.0.5"), &["203.0.113.9"], &[]), ip("10.0.0.5"), "no proxies trusted by default");
    }

    #[test]
    fn networks_contain_their_addresses_in_both_families() {
        let office = Cidr::parse("203.0.113.0/24").expect("valid");
        assert!(office.contains(ip("203.0.113.7")) && !office.contains(ip("203.0.114.7")));
        assert!(office.contains(ip("::ffff:203.0.113.9")), "an IPv4-mapped address is its IPv4 address");
        let v6 = Cidr::parse("2001:db8::/32").expect("valid");
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::5")) && !v6.contains(ip("203.0.113.7")));
        assert!(Cidr::parse("127.0.0.1").expect("a single address").contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").expect("a single address").contains(ip("127.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").expect("everything").contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "example.com", "10.0.0.0/x"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
