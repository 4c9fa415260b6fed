//! Merchant API keys' networks: the address allowlist in CIDR notation (IPv4 and IPv6), matched against
//! the client's address. The keys' operations are in `crate::ops::merchant_keys`; their limits are
//! checked with the policy's in `crate::context::risk`.

use std::net::IpAddr;

use hongbao_core::merchant::MerchantKey;

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
