//! A container on several networks: its attachments, leaving one network
//! while running (`network disconnect`), and the hosts files, which list
//! the peers of every user network a container is on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::NetError;
use crate::files::{StateLock, rewrite_in_place};
use crate::firewall::Firewall;
use crate::ipam::Lease;
use crate::netlink::Netlink;
use crate::network::{Network, Networks};
use crate::plumbing::port_rules;
use crate::setup::{Attachment, host_veth};

/// The host end of a container's veth on its `interface`-th network: the
/// first keeps [`host_veth`]'s name, a later one is `vx<id><N>`; both
/// fit the kernel's 15 bytes and carry the id for prune.
pub fn veth_name(container_id: &str, interface: usize) -> String {
    match interface {
        0 => host_veth(container_id),
        n => {
            let short: String = container_id.chars().take(11).collect();
            format!("vx{short}{n:x}")
        }
    }
}

/// A peer's hosts lines: its IPv4 address, and its IPv6 one if it has
/// one, each followed by `names`.
fn peer_lines(peer: &Lease, names: &str) -> String {
    let mut out = format!("{}\t{names}\n", peer.address);
    if let Some(a6) = peer.address6 {
        out.push_str(&format!("{a6}\t{names}\n"));
    }
    out
}

/// The lines of a container's `--link`s to members of the same network:
/// the alias first, then the linked container's own names. On the default
/// bridge these are the only names there are; on a user network the alias
/// is this container's alone.
fn link_lines(mine: &Lease, members: &BTreeMap<String, Lease>) -> String {
    let mut out = String::new();
    for (target, alias) in &mine.links {
        let Some(peer) = members.get(target) else {
            continue;
        };
        let mut names = vec![alias.as_str()];
        for n in &peer.names {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        out.push_str(&peer_lines(peer, &names.join(" ")));
    }
    out
}

/// The container's side of its `interface`-th veth: `eth0`, `eth1`...
pub fn interface_name(interface: usize) -> String {
    format!("eth{interface}")
}

impl Networks {
    /// Every attachment the container holds now, its first network's first.
    pub fn attachments_of(&self, container_id: &str) -> Result<Vec<Attachment>, NetError> {
        let mut out = Vec::new();
        for net in self.list()? {
            if let Some(l) = self.leases(&net.name)?.leases.get(container_id) {
                out.push((
                    l.interface,
                    Attachment {
                        network: net.name.clone(),
                        network_id: net.id.clone(),
                        bridge: net.bridge.clone(),
                        subnet: net.subnet,
                        gateway: net.gateway,
                        address: l.address,
                        host_veth: veth_name(container_id, l.interface),
                        ports: l.ports.clone(),
                        subnet6: net.ipv6.as_ref().map(|v| v.subnet),
                        gateway6: net.ipv6.as_ref().map(|v| v.gateway),
                        address6: l.address6,
                    },
                ));
            }
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, a)| a).collect())
    }

    /// Takes a running container off one network: its rules, its lease,
    /// its veth (the namespace lives on, so the pair would too) and its
    /// line in the peers' hosts files. False if it was not on `network`.
    pub fn detach_from(&self, container_id: &str, network: &str) -> Result<bool, NetError> {
        let _lock = StateLock::acquire(self.dir())?;
        let net = self.get(network)?;
        let mut leases = self.leases(&net.name)?;
        let Some(l) = leases.release(container_id) else {
            return Ok(false);
        };
        // Rules before the lease, as in `detach`: the lease names them.
        for (family, rules) in port_rules(container_id, &net, l.address, l.address6, &l.ports) {
            Firewall::of(family)?.remove(&rules)?;
        }
        self.save_leases(&net.name, &leases)?;
        Netlink::open()?.delete_link(&veth_name(container_id, l.interface))?;
        self.refresh_hosts(&net);
        // Its own file loses that network's peers: rewrite it from a
        // network it is still on.
        for other in self.list()? {
            if self.leases(&other.name)?.leases.contains_key(container_id) {
                self.refresh_hosts(&other);
                break;
            }
        }
        Ok(true)
    }

    /// Rewrites the hosts file of every member of `changed`: its fixed
    /// part (from its lowest interface's lease), then one line per peer on
    /// each user network it is on (the default network, as Docker's, has
    /// no name resolution). A file that is gone is skipped.
    pub(crate) fn refresh_hosts(&self, changed: &Network) {
        let Ok(nets) = self.list() else {
            return;
        };
        let all: Vec<_> = nets
            .iter()
            .filter_map(|n| self.leases(&n.name).ok().map(|l| (n, l)))
            .collect();
        let Some((_, members)) = all.iter().find(|(n, _)| n.name == changed.name) else {
            return;
        };
        for (id, lease) in &members.leases {
            let Some(path) = &lease.hosts_file else {
                continue;
            };
            // Per network the container is on: (interface, base, peers).
            let mut parts: BTreeMap<usize, (String, String)> = BTreeMap::new();
            for (net, leases) in &all {
                let Some(mine) = leases.leases.get(id) else {
                    continue;
                };
                let mut peers = String::new();
                if net.user_defined {
                    for (peer_id, peer) in &leases.leases {
                        if peer_id != id && !peer.names.is_empty() {
                            peers.push_str(&peer_lines(peer, &peer.names.join(" ")));
                        }
                    }
                }
                peers.push_str(&link_lines(mine, &leases.leases));
                parts.insert(mine.interface, (mine.hosts_base.clone(), peers));
            }
            let mut text = parts
                .values()
                .next()
                .map(|(b, _)| b.clone())
                .unwrap_or_default();
            for (_, peers) in parts.values() {
                text.push_str(peers);
            }
            let _ = rewrite_in_place(&PathBuf::from(path), text.as_bytes());
        }
    }
}
