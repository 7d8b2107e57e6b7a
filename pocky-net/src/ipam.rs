//! Address management: the leases of one network, kept as data so the
//! rules (next free after the last one, fixed addresses, reclaim) are
//! tested without a kernel.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::NetError;
use crate::subnet::Subnet;

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
}

impl Leases {
    /// Leases an address to `owner`: `want` if given and free, else the
    /// first free one after the last handed out. An owner that already
    /// holds a lease keeps it.
    pub fn allocate(
        &mut self,
        subnet: &Subnet,
        owner: &str,
        want: Option<Ipv4Addr>,
        lease: Lease,
    ) -> Result<Ipv4Addr, NetError> {
        if let Some(l) = self.leases.get(owner) {
            return Ok(l.address);
        }
        let taken = |a: Ipv4Addr| self.leases.values().any(|l| l.address == a);
        let addr = if let Some(a) = want {
            if !subnet.is_host(a) {
                return Err(NetError::AddressOutside {
                    addr: a.to_string(),
                    subnet: subnet.to_string(),
                });
            }
            if taken(a) {
                return Err(NetError::AddressTaken {
                    addr: a.to_string(),
                    subnet: subnet.to_string(),
                });
            }
            a
        } else {
            let hosts = subnet.size().saturating_sub(3);
            let start = self.last.max(1);
            (1..=hosts)
                .filter_map(|i| {
                    // Offsets 2..size-2 are hosts; cycle through them.
                    let off = 2 + (start - 1 + i - 1) % hosts;
                    subnet.nth(off)
                })
                .find(|a| !taken(*a))
                .ok_or_else(|| NetError::Exhausted {
                    subnet: subnet.to_string(),
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
        }
    }

    fn net() -> Subnet {
        "10.1.2.0/29".parse().unwrap()
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
}
