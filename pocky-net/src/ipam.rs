//! Address management: the leases of one network, kept as data so the
//! rules (next free after the last one, fixed addresses, an `--ip-range`,
//! reserved addresses, reclaim) are tested without a kernel. Both families
//! share one search, on offsets from the subnet's base.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::NetError;
use crate::network::Network;
use crate::subnet::Subnet;
use crate::subnet6::Subnet6;

/// Where a network's IPv4 addresses come from, and which are never leased.
#[derive(Debug, Clone)]
pub struct Space {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// Dynamic addresses come from here (the whole subnet when None).
    pub range: Option<Subnet>,
    pub reserved: Vec<Ipv4Addr>,
}

/// [`Space`] for IPv6.
#[derive(Debug, Clone)]
pub struct Space6 {
    pub subnet: Subnet6,
    pub gateway: Ipv6Addr,
    pub range: Option<Subnet6>,
    pub reserved: Vec<Ipv6Addr>,
}

impl Space {
    /// A subnet with its first host as gateway, nothing else reserved.
    pub fn plain(subnet: Subnet) -> Self {
        Self {
            subnet,
            gateway: subnet.gateway(),
            range: None,
            reserved: Vec::new(),
        }
    }

    pub fn of(net: &Network) -> Self {
        Self {
            subnet: net.subnet,
            gateway: net.gateway,
            range: net.ip_range,
            reserved: net.reserved(),
        }
    }

    /// Whether `a` may be leased at all.
    fn leasable(&self, a: Ipv4Addr) -> bool {
        let size = u128::from(self.subnet.size());
        self.subnet
            .offset(a)
            .is_some_and(|o| o >= 1 && u128::from(o) < size - 1)
            && a != self.gateway
            && !self.reserved.contains(&a)
    }
}

impl Space6 {
    pub fn of(net: &Network) -> Option<Self> {
        net.ipv6.as_ref().map(|v| Self {
            subnet: v.subnet,
            gateway: v.gateway,
            range: v.ip_range,
            reserved: net.reserved6(),
        })
    }

    fn leasable(&self, a: Ipv6Addr) -> bool {
        self.subnet
            .offset(a)
            .is_some_and(|o| o >= 1 && o < self.subnet.size() - 1)
            && a != self.gateway
            && !self.reserved.contains(&a)
    }
}

/// The first offset in `[lo, lo + count)` after `last` (wrapping) that is
/// `free`, trying at most `bound` of them.
fn pick(
    lo: u128,
    count: u128,
    last: u128,
    bound: u128,
    free: impl Fn(u128) -> bool,
) -> Option<u128> {
    if count == 0 {
        return None;
    }
    let rel = if last >= lo && last - lo < count {
        last - lo
    } else {
        count - 1
    };
    (1..=count.min(bound))
        .map(|i| lo + (rel + i) % count)
        .find(|&o| free(o))
}

/// One container's lease, with what its peers need to find it by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub address: Ipv4Addr,
    /// Container name and `--network-alias`es.
    #[serde(default)]
    pub names: Vec<String>,
    /// The container's `/etc/hosts` (bind-mounted), kept current on user
    /// networks.
    #[serde(default)]
    pub hosts_file: Option<PathBuf>,
    /// The hosts file's fixed part: everything but the peers' lines.
    #[serde(default)]
    pub hosts_base: String,
    /// Published ports, host ports resolved.
    #[serde(default)]
    pub ports: Vec<crate::ports::PortMapping>,
    /// Which of the container's interfaces this is: 0 for `eth0` on its
    /// first network, N for `ethN` on a network joined later.
    #[serde(default)]
    pub interface: usize,
    /// Its IPv6 address, on a network with IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<Ipv6Addr>,
    /// `--link NAME:ALIAS`: (container id, alias) pairs whose addresses
    /// this container's hosts file lists under the alias.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<(String, String)>,
}

/// The leases of one network, by container id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Leases {
    #[serde(default)]
    pub leases: BTreeMap<String, Lease>,
    /// Offset of the last address handed out: the next search starts after
    /// it, so a released address is not reused at once.
    #[serde(default)]
    pub last: u32,
    /// The IPv6 address handed out last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last6: Option<Ipv6Addr>,
}

impl Leases {
    /// Leases an address to `owner`: `want` if given and free, else the
    /// first free one of the range after the last handed out. An owner
    /// that already holds a lease keeps it.
    pub fn allocate(
        &mut self,
        space: &Space,
        owner: &str,
        want: Option<Ipv4Addr>,
        lease: Lease,
    ) -> Result<Ipv4Addr, NetError> {
        if let Some(l) = self.leases.get(owner) {
            return Ok(l.address);
        }
        let subnet = &space.subnet;
        let taken = |a: Ipv4Addr| self.leases.values().any(|l| l.address == a);
        let addr = if let Some(a) = want {
            wanted(a, space.leasable(a), taken(a), subnet)?
        } else {
            let range = space.range.unwrap_or(*subnet);
            let lo = subnet.offset(range.base()).map_or(0, u128::from);
            let count = u128::from(range.size());
            let free = |o: u128| {
                u32::try_from(o)
                    .ok()
                    .and_then(|o| subnet.nth(o))
                    .is_some_and(|a| space.leasable(a) && !taken(a))
            };
            pick(lo, count, u128::from(self.last), count, free)
                .and_then(|o| u32::try_from(o).ok())
                .and_then(|o| subnet.nth(o))
                .ok_or_else(|| NetError::Exhausted {
                    subnet: range.to_string(),
                })?
        };
        if let Some(off) = subnet.offset(addr) {
            self.last = off;
        }
        self.leases.insert(
            owner.to_owned(),
            Lease {
                address: addr,
                ..lease
            },
        );
        Ok(addr)
    }

    /// Gives `owner`, which holds an IPv4 lease here, an IPv6 address too:
    /// `want` if free, else the next free one of the range.
    pub fn allocate6(
        &mut self,
        space: &Space6,
        owner: &str,
        want: Option<Ipv6Addr>,
    ) -> Result<Ipv6Addr, NetError> {
        let subnet = &space.subnet;
        let held = match self.leases.get(owner) {
            Some(l) => l.address6,
            None => {
                return Err(NetError::Invalid(format!(
                    "no IPv4 lease of {owner} to add an IPv6 address to"
                )));
            }
        };
        if let Some(a) = held {
            return Ok(a);
        }
        let taken = |a: Ipv6Addr| self.leases.values().any(|l| l.address6 == Some(a));
        let addr = if let Some(a) = want {
            wanted(a, space.leasable(a), taken(a), subnet)?
        } else {
            let range = space.range.unwrap_or(*subnet);
            let lo = subnet.offset(range.base()).unwrap_or(0);
            let last = self.last6.and_then(|a| subnet.offset(a)).unwrap_or(0);
            // Among this many consecutive offsets one is free if any is:
            // every lease, reserved address, the gateway and the two
            // unusable ends could sit in a row.
            let bound = (self.leases.len() + space.reserved.len() + 4) as u128;
            let free = |o: u128| {
                subnet
                    .nth(o)
                    .is_some_and(|a| space.leasable(a) && !taken(a))
            };
            pick(lo, range.size(), last, bound, free)
                .and_then(|o| subnet.nth(o))
                .ok_or_else(|| NetError::Exhausted {
                    subnet: range.to_string(),
                })?
        };
        self.last6 = Some(addr);
        if let Some(l) = self.leases.get_mut(owner) {
            l.address6 = Some(addr);
        }
        Ok(addr)
    }

    /// Returns `owner`'s lease; absent is fine.
    pub fn release(&mut self, owner: &str) -> Option<Lease> {
        self.leases.remove(owner)
    }

    /// Drops the leases whose owner no longer exists; returns their owners.
    pub fn reclaim(&mut self, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
        let gone: Vec<String> = self
            .leases
            .keys()
            .filter(|id| !exists(id))
            .cloned()
            .collect();
        for id in &gone {
            self.leases.remove(id);
        }
        gone
    }
}

/// A fixed address asked for (`--ip`, `--ip6`): `a` itself when it may
/// be leased and is free.
fn wanted<A: std::fmt::Display>(
    a: A,
    leasable: bool,
    taken: bool,
    subnet: &impl std::fmt::Display,
) -> Result<A, NetError> {
    if !leasable {
        return Err(NetError::AddressOutside {
            addr: a.to_string(),
            subnet: subnet.to_string(),
        });
    }
    if taken {
        return Err(NetError::AddressTaken {
            addr: a.to_string(),
            subnet: subnet.to_string(),
        });
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease {
            address: Ipv4Addr::UNSPECIFIED,
            names: vec![],
            hosts_file: None,
            hosts_base: String::new(),
            ports: vec![],
            interface: 0,
            address6: None,
            links: vec![],
        }
    }

    fn net() -> Space {
        Space::plain("10.1.2.0/29".parse().unwrap())
    }

    #[test]
    fn allocates_distinct_hosts_then_exhausts() {
        let mut l = Leases::default();
        let mut got = Vec::new();
        for i in 0..5 {
            got.push(l.allocate(&net(), &format!("c{i}"), None, lease()).unwrap());
        }
        let want: Vec<Ipv4Addr> = (2..=6).map(|h| Ipv4Addr::new(10, 1, 2, h)).collect();
        assert_eq!(got, want, "gateway .1 and broadcast .7 are never leased");
        let err = l.allocate(&net(), "c5", None, lease()).unwrap_err();
        assert!(matches!(err, NetError::Exhausted { .. }), "{err}");
    }

    #[test]
    fn same_owner_keeps_its_address() {
        let mut l = Leases::default();
        let a = l.allocate(&net(), "c", None, lease()).unwrap();
        assert_eq!(l.allocate(&net(), "c", None, lease()).unwrap(), a);
        assert_eq!(l.leases.len(), 1);
    }

    #[test]
    fn release_frees_but_next_search_moves_on() {
        let mut l = Leases::default();
        let a = l.allocate(&net(), "a", None, lease()).unwrap();
        assert!(l.release("a").is_some());
        assert!(l.release("a").is_none());
        let b = l.allocate(&net(), "b", None, lease()).unwrap();
        assert_ne!(a, b, "a released address is not handed out again at once");
        for i in 0..4 {
            l.allocate(&net(), &format!("x{i}"), None, lease()).unwrap();
        }
        assert!(
            l.leases.values().any(|x| x.address == a),
            "but it is reused when needed"
        );
    }

    #[test]
    fn fixed_address_must_be_free_and_a_host() {
        let mut l = Leases::default();
        let want = Ipv4Addr::new(10, 1, 2, 5);
        assert_eq!(l.allocate(&net(), "a", Some(want), lease()).unwrap(), want);
        let taken = l.allocate(&net(), "b", Some(want), lease()).unwrap_err();
        assert!(matches!(taken, NetError::AddressTaken { .. }));
        for bad in [
            Ipv4Addr::new(10, 1, 2, 1),
            Ipv4Addr::new(10, 1, 2, 7),
            Ipv4Addr::new(10, 9, 9, 9),
        ] {
            let e = l.allocate(&net(), "c", Some(bad), lease()).unwrap_err();
            assert!(matches!(e, NetError::AddressOutside { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn reclaim_drops_dead_owners_only() {
        let mut l = Leases::default();
        for id in ["live", "dead1", "dead2"] {
            l.allocate(&net(), id, None, lease()).unwrap();
        }
        let mut gone = l.reclaim(&|id| id == "live");
        gone.sort();
        assert_eq!(gone, ["dead1", "dead2"]);
        assert_eq!(l.leases.keys().collect::<Vec<_>>(), ["live"]);
    }

    #[test]
    fn a_range_a_moved_gateway_and_reserved_addresses() {
        let space = Space {
            subnet: "10.1.0.0/16".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 1, 0, 254),
            range: Some("10.1.5.0/30".parse().unwrap()),
            reserved: vec![Ipv4Addr::new(10, 1, 5, 1)],
        };
        let mut l = Leases::default();
        let a = l.allocate(&space, "a", None, lease()).unwrap();
        let b = l.allocate(&space, "b", None, lease()).unwrap();
        // .0 is a host address of the /16 (only the range is a /30);
        // .1 is reserved, then .2 and .3, then the range is full.
        assert_eq!(a, Ipv4Addr::new(10, 1, 5, 0));
        assert_eq!(b, Ipv4Addr::new(10, 1, 5, 2));
        l.allocate(&space, "c", None, lease()).unwrap();
        let full = l.allocate(&space, "d", None, lease()).unwrap_err();
        assert!(matches!(full, NetError::Exhausted { .. }), "{full}");
        // A fixed address may lie outside the range, not on the gateway or
        // a reserved one; .1, no longer the gateway, may be leased.
        let out = Ipv4Addr::new(10, 1, 9, 9);
        assert_eq!(l.allocate(&space, "d", Some(out), lease()).unwrap(), out);
        for bad in [Ipv4Addr::new(10, 1, 0, 254), Ipv4Addr::new(10, 1, 5, 1)] {
            let e = l.allocate(&space, "e", Some(bad), lease()).unwrap_err();
            assert!(matches!(e, NetError::AddressOutside { .. }), "{bad}");
        }
        let one = Ipv4Addr::new(10, 1, 0, 1);
        assert_eq!(l.allocate(&space, "e", Some(one), lease()).unwrap(), one);
    }

    #[test]
    fn ipv6_addresses_follow_the_same_rules() {
        let space = Space6 {
            subnet: "fd00:1::/64".parse().unwrap(),
            gateway: "fd00:1::1".parse().unwrap(),
            range: Some("fd00:1::/124".parse().unwrap()),
            reserved: vec!["fd00:1::2".parse().unwrap()],
        };
        let big = Space::plain("10.1.0.0/16".parse().unwrap());
        let mut l = Leases::default();
        let e = l.allocate6(&space, "a", None).unwrap_err();
        assert!(e.to_string().contains("no IPv4 lease"), "{e}");
        let ids: Vec<String> = (0..15).map(|i| format!("c{i}")).collect();
        for id in &ids {
            l.allocate(&big, id, None, lease()).unwrap();
        }
        // ::0 is the subnet-router anycast, ::1 the gateway, ::2 reserved.
        let a = l.allocate6(&space, "c0", None).unwrap();
        assert_eq!(a, "fd00:1::3".parse::<Ipv6Addr>().unwrap());
        assert_eq!(l.allocate6(&space, "c0", None).unwrap(), a, "kept");
        assert_eq!(l.leases["c0"].address6, Some(a));
        for id in &ids[1..13] {
            l.allocate6(&space, id, None).unwrap();
        }
        assert_eq!(
            l.leases["c12"].address6,
            Some("fd00:1::f".parse().unwrap()),
            "the range's last address is a host of the /64"
        );
        let full = l.allocate6(&space, "c13", None).unwrap_err();
        assert!(matches!(full, NetError::Exhausted { .. }), "{full}");
        let fixed: Ipv6Addr = "fd00:1::77".parse().unwrap();
        assert_eq!(l.allocate6(&space, "c13", Some(fixed)).unwrap(), fixed);
        let taken = l.allocate6(&space, "c14", Some(fixed)).unwrap_err();
        assert!(matches!(taken, NetError::AddressTaken { .. }));
        let outside = l.allocate6(&space, "c14", Some("fd00:2::5".parse().unwrap()));
        assert!(matches!(outside, Err(NetError::AddressOutside { .. })));
        // A /64 without a range: the next after the last, not a scan.
        let wide = Space6 {
            range: None,
            ..space
        };
        assert_eq!(
            l.allocate6(&wide, "c14", None).unwrap(),
            "fd00:1::78".parse::<Ipv6Addr>().unwrap()
        );
    }
}
