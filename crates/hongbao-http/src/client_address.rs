//! The client's address behind the deployment's trusted proxies, from `X-Forwarded-For`, in every
//! form proxies write an entry: `203.0.113.9`, `203.0.113.9:4711`, `2001:db8::1`, `[2001:db8::1]`,
//! `[2001:db8::1]:443`, with spaces or double quotes around.
//!
//! The entries are walked from the right, the one the nearest proxy wrote, and the first that is not a
//! trusted proxy is the client; entries to its left are the client's own words and are not read. An
//! entry on that walk that cannot be parsed (`unknown`, an obfuscated name, garbage) makes the client's
//! address unknown rather than skipped: skipping it would take the hop before it, one the client
//! wrote, for the client. Merchant keys with an allowlist then refuse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hongbao_service::merchant::Cidr;

/// The client's address: the connection's peer when that is not a trusted proxy; otherwise from
/// `X-Forwarded-For` (all its headers, in order), or `None` when it cannot be known.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted_proxies: &[Cidr]) -> Option<IpAddr> {
    let is_trusted = |address: IpAddr| trusted_proxies.iter().any(|cidr| cidr.contains(address));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut leftmost = None;
    for entry in forwarded_for.iter().rev().flat_map(|header| header.split(',').rev()) {
        let hop = parse_entry(entry)?;
        if !is_trusted(hop) {
            return Some(hop);
        }
        leftmost = Some(hop);
    }
    // Every hop is a trusted proxy: the request began inside the deployment, at the first of them.
    Some(leftmost.unwrap_or(peer))
}

/// One entry of `X-Forwarded-For`, in any of the forms proxies write; an IPv4-mapped IPv6 address is
/// its IPv4 address.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let entry = entry.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(entry).trim();
    let address = if let Some(bracketed) = entry.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']')?;
        if !after.is_empty() && !is_port_suffix(after) {
            return None;
        }
        IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(address) = entry.parse::<IpAddr>() {
        address
    } else {
        let (host, _) = entry.rsplit_once(':')?;
        if !is_port_suffix(&entry[host.len()..]) {
            return None;
        }
        IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
    };
    Some(address.to_canonical())
}

/// `:` and a port number.
fn is_port_suffix(text: &str) -> bool {
    text.strip_prefix(':').is_some_and(|port| port.bytes().all(|byte| byte.is_ascii_digit()) && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn proxies() -> Vec<Cidr> {
        vec![Cidr::parse("10.0.0.0/8").expect("a network"), Cidr::parse("fd00::/8").expect("a network")]
    }

    #[test]
    fn every_form_of_an_entry_is_read() {
        let forms = [
            ("203.0.113.9", "203.0.113.9"),
            ("203.0.113.9:4711", "203.0.113.9"),
            ("  203.0.113.9  ", "203.0.113.9"),
            ("\"203.0.113.9:4711\"", "203.0.113.9"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            (" \"[2001:db8::1]:443\" ", "2001:db8::1"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
            ("[::ffff:203.0.113.9]:80", "203.0.113.9"),
        ];
        for (entry, expected) in forms {
            assert_eq!(parse_entry(entry), Some(ip(expected)), "{entry:?}");
        }
        let unreadable = [
            "",
            "unknown",
            "_hidden",
            "203.0.113.9:",
            "203.0.113.9:99999",
            "203.0.113.9:80:80",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[203.0.113.9]",
            "fe80::1%eth0",
            "\"203.0.113.9",
        ];
        for entry in unreadable {
            assert_eq!(parse_entry(entry), None, "{entry:?}");
        }
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let proxies = proxies();
        let peer = ip("10.0.0.5");
        assert_eq!(client_address(peer, &["203.0.113.9:5555"], &proxies), Some(ip("203.0.113.9")), "a port does not hide the client");
        assert_eq!(client_address(peer, &["198.51.100.1, 203.0.113.9:1, 10.0.0.7:80"], &proxies), Some(ip("203.0.113.9")));
        assert_eq!(client_address(peer, &["198.51.100.1", "[2001:db8::7]:9, [fd00::1]"], &proxies), Some(ip("2001:db8::7")), "headers are one list");
        assert_eq!(client_address(peer, &["garbage, 203.0.113.9"], &proxies), Some(ip("203.0.113.9")), "what the client wrote before its hop is not read");
        assert_eq!(client_address(peer, &["10.0.0.9, 10.0.0.8"], &proxies), Some(ip("10.0.0.9")), "all trusted: the first of them");
        assert_eq!(client_address(peer, &[], &proxies), Some(peer), "no header: the proxy itself");
        assert_eq!(client_address(ip("192.0.2.1"), &["203.0.113.9"], &proxies), Some(ip("192.0.2.1")), "an untrusted peer's header is ignored");
        assert_eq!(client_address(peer, &["203.0.113.9"], &[]), Some(peer), "no proxies trusted by default");
    }

    #[test]
    fn an_unreadable_hop_makes_the_client_unknown() {
        let proxies = proxies();
        let peer = ip("10.0.0.5");
        for header in ["unknown", "203.0.113.9, garbage", "203.0.113.9, _proxy1, 10.0.0.7", "203.0.113.9,", "203.0.113.9 10.0.0.7"] {
            assert_eq!(client_address(peer, &[header], &proxies), None, "{header:?}");
        }
    }
}
