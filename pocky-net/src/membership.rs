//! A container on several networks: its attachments, leaving one network
//! while running (`network disconnect`), and the hosts files, which list
//! the peers of every user network a container is on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::NetError;
use crate::files::{StateLock, rewrite_in_place};
use crate::firewall::{self, Firewall};
use crate::netlink::Netlink;
use crate::network::{Network, Networks};
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
        let rules = firewall::container_rules(container_id, &net.bridge, l.address, &l.ports);
        if !rules.is_empty() {
            Firewall::new()?.remove(&rules)?;
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
                            peers.push_str(&format!(
                                "{}\t{}\n",
                                peer.address,
                                peer.names.join(" ")
                            ));
                        }
                    }
                }
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
