//! Merchant API keys' networks: the address allowlist in CIDR notation (IPv4 and IPv6), matched against
//! the client's address. The keys' operations are in `crate::ops::merchant_keys`; their limits are
//! checked with the policy's in `crate::context::risk`.

use std::net::IpAddr;

use ipnet::IpNet;

use hongbao_core::merchant::MerchantKey;

/// A network in CIDR notation, matched through `ipnet`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Parses `203.0.113.0/24`, `2001:db8::/32`, or a single address (a /32 or /128).
    pub fn parse(text: &str) -> Option<Cidr> {
        // The address goes through the standard library's parser, which refuses octets with leading
        // zeros (`010.0.0.1`, octal to some tools); `ipnet`'s own parser reads them as decimal.
        let network = match text.split_once('/') {
            Some((address, prefix)) => IpNet::new(address.parse().ok()?, prefix.parse().ok()?).ok()?,
            None => IpNet::from(text.parse::<IpAddr>().ok()?),
        };
        Some(Cidr(network))
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 client reaching an IPv6 socket shows as ::ffff:a.b.c.d; compare it as IPv4.
        self.0.contains(&address.to_canonical())
    }
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

    #[test]
    fn networks_at_the_edges_of_their_prefixes() {
        let everything_v4 = Cidr::parse("0.0.0.0/0").expect("valid");
        assert!(everything_v4.contains(ip("0.0.0.0")) && everything_v4.contains(ip("255.255.255.255")));
        assert!(everything_v4.contains(ip("::ffff:192.0.2.1")), "an IPv4-mapped address is in every IPv4 network");
        assert!(!everything_v4.contains(ip("2001:db8::1")), "an IPv6 address is in no IPv4 network");
        let everything_v6 = Cidr::parse("::/0").expect("valid");
        assert!(everything_v6.contains(ip("2001:db8::1")) && everything_v6.contains(ip("::")));
        assert!(!everything_v6.contains(ip("192.0.2.1")), "an IPv4 address is in no IPv6 network");
        assert!(!everything_v6.contains(ip("::ffff:192.0.2.1")), "nor is an IPv4-mapped one, which is compared as IPv4");
        let one_v4 = Cidr::parse("192.0.2.7/32").expect("valid");
        assert_eq!(Some(one_v4), Cidr::parse("192.0.2.7"), "a single address is a /32");
        assert!(one_v4.contains(ip("192.0.2.7")) && !one_v4.contains(ip("192.0.2.6")) && !one_v4.contains(ip("192.0.2.8")));
        let one_v6 = Cidr::parse("2001:db8::7/128").expect("valid");
        assert_eq!(Some(one_v6), Cidr::parse("2001:db8::7"), "a single address is a /128");
        assert!(one_v6.contains(ip("2001:db8::7")) && !one_v6.contains(ip("2001:db8::6")) && !one_v6.contains(ip("2001:db8::8")));
        let slash_31 = Cidr::parse("192.0.2.0/31").expect("valid");
        assert!(slash_31.contains(ip("192.0.2.1")) && !slash_31.contains(ip("192.0.2.2")));
        let with_host_bits = Cidr::parse("10.1.2.3/8").expect("host bits are ignored, as before");
        assert!(with_host_bits.contains(ip("10.200.0.1")) && !with_host_bits.contains(ip("11.0.0.1")));
        let mapped_network = Cidr::parse("::ffff:192.0.2.0/120").expect("valid");
        assert!(!mapped_network.contains(ip("192.0.2.1")), "an IPv4 client is compared as IPv4, never against IPv6 networks");
        for bad in ["", "/8", "10.0.0.0/", "010.0.0.0/8", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/256", "[::1]/128", " 10.0.0.0/8", "fe80::1%eth0/64"] {
            assert_eq!(Cidr::parse(bad), None, "{bad:?}");
        }
    }
}
