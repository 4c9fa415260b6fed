//! Where outbound requests (webhooks) may go. A URL an admin registers is fetched by the server, from
//! inside the deployment's network, so by default only public addresses are reached: never loopback,
//! private, link-local (where cloud metadata answers), shared (carrier-grade NAT), multicast, reserved
//! or unspecified ones, nor the IPv6 forms that carry such an IPv4 address.
//!
//! The check is made on the addresses a request actually connects to, at send time: a literal address
//! in the URL before sending, a name inside the client's DNS resolver, which hands the client only the
//! addresses it checked, so a name that resolves to a public address for the check and a private one
//! for the connection (DNS rebinding) cannot slip through. Registration refuses a literal bad address
//! early, for a clearer answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// IPv4 networks that are not the public internet, and what each is.
const NON_PUBLIC_V4: [(Ipv4Net, &str); 11] = [
    (Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8), "an unspecified address"),
    (Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8), "a private address"),
    (Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10), "a shared (carrier-grade NAT) address"),
    (Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8), "a loopback address"),
    (Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16), "a link-local address (cloud metadata answers there)"),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12), "a private address"),
    (Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24), "an address reserved for protocol assignments"),
    (Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16), "a private address"),
    (Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15), "an address reserved for network testing"),
    (Ipv4Net::new_assert(Ipv4Addr::new(224, 0, 0, 0), 4), "a multicast address"),
    (Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4), "a reserved or broadcast address"),
];

/// IPv6 networks that are not the public internet, and what each is.
const NON_PUBLIC_V6: [(Ipv6Net, &str); 7] = [
    (Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 128), "an unspecified address"),
    (Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128), "a loopback address"),
    (Ipv6Net::new_assert(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), "a private (unique local) address"),
    (Ipv6Net::new_assert(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), "a link-local address"),
    (Ipv6Net::new_assert(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), "a private (site-local) address"),
    (Ipv6Net::new_assert(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), "a multicast address"),
    (Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), "a local-use NAT64 address"),
];

/// IPv6 networks whose last 32 bits are an IPv4 address that the packet reaches: IPv4-mapped,
/// IPv4-compatible (deprecated) and the well-known NAT64 prefix.
const CARRIES_V4: [Ipv6Net; 3] = [
    Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
    Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),
    Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96),
];

/// What makes `address` no place for an outbound request, or `None` for a public address.
pub fn non_public(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => NON_PUBLIC_V4.iter().find(|(network, _)| network.contains(&v4)).map(|(_, what)| *what),
        IpAddr::V6(v6) => {
            if let Some((_, what)) = NON_PUBLIC_V6.iter().find(|(network, _)| network.contains(&v6)) {
                return Some(what);
            }
            if CARRIES_V4.iter().any(|network| network.contains(&v6)) {
                let [.., a, b, c, d] = v6.octets();
                return non_public(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
            }
            None
        }
    }
}

/// The literal address a URL names, if it names one rather than a host name. The URL parser has
/// already turned the other spellings of IPv4 (`2130706433`, `0x7f.1`) into the dotted form.
pub fn literal_address(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.strip_prefix('[').and_then(|inside| inside.strip_suffix(']')).unwrap_or(host).parse().ok()
}

/// Why a request was not sent: the target's address is not public.
#[derive(Debug)]
pub struct TargetRefused {
    pub host: String,
    pub address: IpAddr,
    pub what: &'static str,
}

impl std::fmt::Display for TargetRefused {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "refused: {} is {} ({}); set HONGBAO_WEBHOOK_ALLOW_PRIVATE=true to allow it", self.host, self.what, self.address)
    }
}

impl std::error::Error for TargetRefused {}

/// Refuses `url` when it names a literal address that is not public.
pub fn check_literal(url: &Url) -> Result<(), TargetRefused> {
    let Some(address) = literal_address(url) else { return Ok(()) };
    match non_public(address) {
        Some(what) => Err(TargetRefused { host: url.host_str().unwrap_or_default().to_owned(), address, what }),
        None => Ok(()),
    }
}

/// The webhook client's DNS resolver: resolves with the system's resolver, refuses a name when any of
/// its addresses is not public, and otherwise gives the client exactly the addresses it checked.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some((address, what)) = addresses.iter().find_map(|address| non_public(address.ip()).map(|what| (address.ip(), what))) {
                return Err(Box::new(TargetRefused { host, address, what }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_places_to_send_to() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
        ];
        for address in refused {
            assert!(non_public(address.parse().expect("an address")).is_some(), "{address} is refused");
        }
        let allowed =
            ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.32.0.1", "203.0.113.9", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"];
        for address in allowed {
            assert_eq!(non_public(address.parse().expect("an address")), None, "{address} is public");
        }
    }

    #[test]
    fn every_spelling_of_a_literal_address_is_seen() {
        for url in
            ["http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://[::1]:8080/", "http://[::ffff:7f00:1]/", "https://169.254.169.254/latest"]
        {
            let url = Url::parse(url).expect("a URL");
            assert!(check_literal(&url).is_err(), "{url}");
        }
        for url in ["https://example.com/hooks", "http://203.0.113.9/hooks"] {
            assert!(check_literal(&Url::parse(url).expect("a URL")).is_ok(), "{url}");
        }
    }
}
