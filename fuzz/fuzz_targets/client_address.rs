//! The client's address behind trusted proxies: the `X-Forwarded-For` headers a request carries, the
//! connection's peer, and the deployment's trusted proxies (`HONGBAO_TRUSTED_PROXIES`, CIDRs read by
//! `Cidr::parse`), as `client_address` reads them for merchant keys' allowlists and new-client alerts.
//!
//! The input is the peer (a selector byte), then the trusted proxies' CIDRs on the first line
//! (comma-separated), then one `X-Forwarded-For` header per further line.
//!
//! Properties: nothing panics; an untrusted peer is the client, whatever the headers say; an address
//! found behind a trusted peer is untrusted or, when every hop is trusted, the first of them; a CIDR
//! that parses contains its own address (unless that is an IPv4-mapped one, compared as IPv4).
#![no_main]

use std::net::IpAddr;

use hongbao_http::client_address::client_address;
use hongbao_service::merchant::Cidr;
use libfuzzer_sys::fuzz_target;

const PEERS: [&str; 6] = ["10.0.0.5", "203.0.113.9", "::1", "fd00::7", "::ffff:10.1.2.3", "192.168.1.1"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let peer: IpAddr = PEERS[usize::from(selector) % PEERS.len()].parse().expect("a peer address");
    let (proxies, headers) = text.split_once('\n').unwrap_or((text, ""));
    let proxies: Vec<Cidr> = proxies.split(',').filter_map(|cidr| Cidr::parse(cidr.trim())).collect();
    let headers: Vec<&str> = headers.split('\n').filter(|header| !header.is_empty()).collect();
    let is_trusted = |address: IpAddr| proxies.iter().any(|cidr| cidr.contains(address));
    let client = client_address(peer, &headers, &proxies);
    if !is_trusted(peer) {
        assert_eq!(client, Some(peer), "an untrusted peer is the client");
        return;
    }
    if headers.is_empty() {
        assert_eq!(client, Some(peer), "with no header, the trusted peer is the client");
    } else if let Some(client) = client {
        assert_eq!(client, client.to_canonical(), "an IPv4-mapped address is its IPv4 address");
        // The walk stops at the first untrusted hop, so an address found is untrusted unless every hop
        // was trusted, and then it is the first hop.
        let first_hop = headers.first().and_then(|header| header.split(',').next()).unwrap_or_default();
        assert!(!is_trusted(client) || first_hop.contains(&*client.to_string()) || first_hop.contains(':'), "{client} behind {headers:?}");
    }
    for entry in text.split([',', '\n']) {
        if let Some(cidr) = Cidr::parse(entry.trim())
            && let Ok(address) = entry.trim().split('/').next().unwrap_or_default().parse::<IpAddr>()
            // An IPv4-mapped address is compared as IPv4, never against an IPv6 network, so a network
            // written in that form contains none (`Cidr::contains`).
            && address.to_canonical() == address
        {
            assert!(cidr.contains(address), "{entry:?} contains its own address");
        }
    }
});
