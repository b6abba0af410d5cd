//! Which private /24 a run's nodes live on.
//!
//! Every run takes one /24 out of `10.213.0.0/16` (the .0 and .255 /24s excluded): the
//! bridge is `.1` (the controller's address), node number `k` in id order is `.(k + 2)`.
//! The first /24 tried is derived from the run tag, so concurrent runs usually start apart;
//! any /24 that overlaps an address or a route already on the host (any table, the default
//! route excepted) or a /24 another live run recorded is skipped. Choosing happens under a
//! host-wide lock (see `state`) until the bridge holds its address, so two runs can never
//! take the same one.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::{bail, Context};
use serde_json::Value;

use super::names::RunTag;

/// The first two octets of every run's subnet.
pub const POOL: [u8; 2] = [10, 213];
/// Most nodes on one /24 (.2 up to .201).
pub const MAX_NODES: usize = 200;

/// An IPv4 network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// `a.b.c.d/p` or a bare address (a /32).
    pub fn parse(text: &str) -> Option<Ipv4Net> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, p.parse().ok()?),
            None => (text, 32),
        };
        (prefix <= 32).then_some(())?;
        Some(Ipv4Net { addr: addr.parse().ok()?, prefix })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let mask = Self::mask(self.prefix.min(other.prefix));
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }
}

/// One run's /24: `10.213.<third>.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subnet {
    pub third: u8,
}

impl Subnet {
    pub fn net(&self) -> Ipv4Net {
        Ipv4Net { addr: Ipv4Addr::new(POOL[0], POOL[1], self.third, 0), prefix: 24 }
    }

    /// The bridge's (the controller's) address.
    pub fn bridge_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(POOL[0], POOL[1], self.third, 1)
    }

    /// The address of the node at position `index` in id order.
    pub fn node_addr(&self, index: usize) -> Ipv4Addr {
        assert!(index < MAX_NODES, "node index {index} beyond {MAX_NODES}");
        Ipv4Addr::new(POOL[0], POOL[1], self.third, (index + 2) as u8)
    }

    /// `10.213.x.0/24`.
    pub fn parse(text: &str) -> Option<Subnet> {
        let net = Ipv4Net::parse(text)?;
        let o = net.addr.octets();
        (net.prefix == 24 && o[..2] == POOL && o[3] == 0).then_some(Subnet { third: o[2] })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/24", self.net().addr)
    }
}

/// The first free /24 for `tag`, starting at one derived from the tag; `None` when every
/// candidate is taken.
pub fn choose(tag: &RunTag, taken: &[Ipv4Net]) -> Option<Subnet> {
    let start = tag.as_str().bytes().fold(17u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 254;
    (0..254u32)
        .map(|k| Subnet { third: ((start + k) % 254 + 1) as u8 })
        .find(|s| !taken.iter().any(|t| t.prefix > 0 && t.overlaps(&s.net())))
}

/// Every IPv4 network in `ip -j -4 addr` (addresses with their prefix) and
/// `ip -j -4 route show table all` output (destinations; `default` is skipped).
pub fn parse_taken(addr_json: &str, route_json: &str) -> anyhow::Result<BTreeSet<Ipv4Net>> {
    let mut taken = BTreeSet::new();
    let addrs: Value = serde_json::from_str(addr_json).context("reading `ip -j -4 addr` output")?;
    for link in addrs.as_array().into_iter().flatten() {
        for info in link["addr_info"].as_array().into_iter().flatten() {
            let (Some(local), Some(prefix)) = (info["local"].as_str(), info["prefixlen"].as_u64()) else {
                continue;
            };
            match Ipv4Net::parse(&format!("{local}/{prefix}")) {
                Some(net) => taken.insert(net),
                None => bail!("unreadable address {local}/{prefix} in `ip -j -4 addr` output"),
            };
        }
    }
    let routes: Value = serde_json::from_str(route_json).context("reading `ip -j -4 route` output")?;
    for route in routes.as_array().into_iter().flatten() {
        let Some(dst) = route["dst"].as_str() else { continue };
        if dst == "default" {
            continue;
        }
        match Ipv4Net::parse(dst) {
            Some(net) => taken.insert(net),
            None => bail!("unreadable route destination {dst:?} in `ip -j -4 route` output"),
        };
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_by_the_shorter_prefix() {
        let a = Ipv4Net::parse("10.213.5.0/24").unwrap();
        assert!(a.overlaps(&Ipv4Net::parse("10.213.5.77").unwrap()));
        assert!(a.overlaps(&Ipv4Net::parse("10.0.0.0/8").unwrap()));
        assert!(!a.overlaps(&Ipv4Net::parse("10.213.6.0/24").unwrap()));
        assert!(!a.overlaps(&Ipv4Net::parse("192.0.2.0/24").unwrap()));
        assert_eq!(Ipv4Net::parse("10.1.2.3/33"), None);
    }

    #[test]
    fn choose_skips_taken_and_ignores_the_default_route() {
        let tag = RunTag::new("abc").unwrap();
        let first = choose(&tag, &[Ipv4Net::parse("0.0.0.0/0").unwrap()]).unwrap();
        assert_eq!(choose(&tag, &[]), Some(first));
        let second = choose(&tag, &[first.net()]).unwrap();
        assert_ne!(second, first);
        assert!((1..=254).contains(&second.third));
        assert_eq!(choose(&tag, &[Ipv4Net::parse("10.213.0.0/16").unwrap()]), None);
        assert_eq!(Subnet::parse(&first.to_string()), Some(first));
        assert_eq!(first.node_addr(0).octets()[3], 2);
    }

    #[test]
    fn taken_networks_come_from_addresses_and_routes() {
        let addrs = r#"[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
                        {"ifname":"x","addr_info":[{"family":"inet","local":"10.213.9.1","prefixlen":24}]}]"#;
        let routes = r#"[{"dst":"default","gateway":"192.0.2.1"},{"dst":"192.0.2.0/24"},{"dst":"10.213.9.1","type":"local"}]"#;
        let taken = parse_taken(addrs, routes).unwrap();
        assert!(taken.contains(&Ipv4Net::parse("10.213.9.1/24").unwrap()));
        assert!(taken.contains(&Ipv4Net::parse("192.0.2.0/24").unwrap()));
        assert!(!taken.iter().any(|n| n.prefix == 0));
        assert!(parse_taken("not json", "[]").is_err());
    }
}
