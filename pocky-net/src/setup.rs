//! Attaching a container to a network and detaching it: the lease, the
//! bridge and its rules, the veth, the container side, published ports and
//! the peers' hosts files. Every step is idempotent so a retry, a teardown
//! after a crash, or a prune can always finish the job.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::NetError;
use crate::files::StateLock;
use crate::firewall::{self, Family, Firewall};
use crate::ipam::{Lease, Leases, Space, Space6};
use crate::membership::veth_name;
use crate::netlink::Netlink;
use crate::network::{DEFAULT_BRIDGE, DEFAULT_NETWORK, Network, Networks};
use crate::options::NetworkSpec;
use crate::plumbing::{bring_up, clean_container, plug, port_rules};
use crate::ports::{self, PortMapping};
use crate::subnet::Subnet;
use crate::subnet6::Subnet6;

/// Name of a container's end of its veth pair, inside its namespace.
pub const CONTAINER_IF: &str = "eth0";

/// The host end of a container's veth: derived from its id, so teardown
/// and prune find it with no record at all.
pub fn host_veth(container_id: &str) -> String {
    let short: String = container_id.chars().take(11).collect();
    format!("vp{short}")
}

/// What a container asks of its network.
pub struct AttachRequest<'a> {
    pub container_id: &'a str,
    /// 0 for the container's first network (`eth0`, the default route,
    /// published ports); N for `ethN` on a network joined later
    /// (`network connect`), at most 15.
    pub interface: usize,
    /// Network name: `bridge` (created on first use) or a user network.
    pub network: &'a str,
    /// `/proc/<pid>/ns/net` of the container's first process.
    pub netns: &'a Path,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
    /// `--ip6`, on a network with IPv6.
    pub ip6: Option<Ipv6Addr>,
    /// `--mac-address` of the container's interface.
    pub mac: Option<[u8; 6]>,
    /// Container name and aliases, for its peers' hosts files.
    pub names: Vec<String>,
    /// `--link`: (container id, alias) pairs listed in its hosts file.
    pub links: Vec<(String, String)>,
    pub ports: Vec<PortMapping>,
    /// The container's hosts file and how to render its own part once the
    /// addresses are known.
    pub hosts: Option<(PathBuf, HostsRender<'a>)>,
}

/// Renders the fixed part of a container's hosts file from its addresses.
pub type HostsRender<'a> = &'a dyn Fn(Ipv4Addr, Option<Ipv6Addr>) -> String;

/// The result of an attach: what inspect, ps and port show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub network_id: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub address: Ipv4Addr,
    pub host_veth: String,
    pub ports: Vec<PortMapping>,
    /// The IPv6 half, on a dual-stack network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Subnet6>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<Ipv6Addr>,
}

impl Networks {
    /// Creates a user network (definition, bridge, rules).
    pub fn create(&self, name: &str, subnet: Option<Subnet>) -> Result<Network, NetError> {
        let spec = NetworkSpec {
            subnet,
            ..NetworkSpec::default()
        };
        self.create_with(name, &spec)
    }

    /// `create`, with the user's labels on the network.
    pub fn create_labelled(
        &self,
        name: &str,
        subnet: Option<Subnet>,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<Network, NetError> {
        let spec = NetworkSpec {
            subnet,
            labels: labels.clone(),
            ..NetworkSpec::default()
        };
        self.create_with(name, &spec)
    }

    /// Creates a user network as `spec` says.
    pub fn create_with(&self, name: &str, spec: &NetworkSpec) -> Result<Network, NetError> {
        let _lock = StateLock::acquire(self.dir())?;
        let mut nl = Netlink::open()?;
        if let Some(b) = &spec.bridge
            && nl.index_of(b)?.is_some()
        {
            // Docker would take an existing bridge over; pocky would then
            // delete it with the network, so it refuses instead.
            return Err(NetError::Invalid(format!(
                "a link named {b} exists already: pick another bridge name"
            )));
        }
        let routed = nl.routed_subnets()?;
        let routed6 = match spec.ipv6 {
            true => nl.routed_subnets6()?,
            false => Vec::new(),
        };
        let net = self.define(name, spec, &routed, &routed6, None)?;
        if let Err(e) = bring_up(&mut nl, &net, self.dir()) {
            let _ = self.teardown_network(&mut nl, &net);
            let _ = self.undefine(name);
            return Err(e);
        }
        Ok(net)
    }

    /// Removes a network with no container left: its rules, bridge and files.
    /// `exists` says whether a lease's owner still exists.
    pub fn remove(&self, name: &str, exists: &dyn Fn(&str) -> bool) -> Result<(), NetError> {
        let _lock = StateLock::acquire(self.dir())?;
        let net = self.get(name)?;
        let mut leases = self.leases(&net.name)?;
        leases.reclaim(exists);
        if !leases.leases.is_empty() {
            return Err(NetError::InUse {
                name: net.name,
                users: leases.leases.len(),
            });
        }
        let mut nl = Netlink::open()?;
        self.teardown_network(&mut nl, &net)?;
        self.undefine(&net.name)
    }

    fn teardown_network(&self, nl: &mut Netlink, net: &Network) -> Result<(), NetError> {
        let mut errors = Vec::new();
        let _ = std::fs::remove_file(self.dir().join(format!(".{}.fwgen", net.bridge)));
        let families: &[Family] = match net.ipv6 {
            Some(_) => &[Family::V4, Family::V6],
            None => &[Family::V4],
        };
        for family in families {
            match Firewall::of(*family) {
                Ok(fw) => {
                    if let Err(e) = fw.remove_owner(&firewall::network_owner(&net.bridge)) {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if let Err(e) = nl.delete_link(&net.bridge) {
            errors.push(e);
        }
        NetError::collect(errors)
    }

    /// The network called `name`; the default one is defined on first use.
    fn resolve(&self, nl: &mut Netlink, name: &str) -> Result<Network, NetError> {
        match self.get(name) {
            Err(NetError::NoSuchNetwork(_)) if name == DEFAULT_NETWORK => {
                let routed = nl.routed_subnets()?;
                // Another state root in this namespace owns `pocky0`: take
                // a bridge of our own rather than share its addresses.
                let wanted = self.default_bridge().unwrap_or(DEFAULT_BRIDGE);
                let bridge = if wanted == DEFAULT_BRIDGE && nl.index_of(DEFAULT_BRIDGE)?.is_some() {
                    format!("{DEFAULT_BRIDGE}-{:06x}", std::process::id() & 0xff_ffff)
                } else {
                    wanted.to_owned()
                };
                self.define(name, &NetworkSpec::default(), &routed, &[], Some(&bridge))
            }
            r => r,
        }
    }

    /// The host ports live containers of this state root publish, on any
    /// network (host ports are the host's); `leases` are `network`'s, as
    /// the caller holds them. Read only for a container that publishes.
    fn published_ports(
        &self,
        network: &str,
        leases: &Leases,
        container_id: &str,
        exists: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<PortMapping>, NetError> {
        let mut taken = Vec::new();
        let mut collect = |l: &Leases| {
            taken.extend(
                l.leases
                    .iter()
                    .filter(|(id, _)| id.as_str() != container_id && exists(id))
                    .flat_map(|(_, lease)| lease.ports.iter().cloned()),
            );
        };
        collect(leases);
        for other in self.list()? {
            if other.name != network {
                collect(&self.leases(&other.name)?);
            }
        }
        Ok(taken)
    }

    /// Attaches a container. `exists` tells which lease owners still exist,
    /// so leases of vanished containers are reclaimed here too.
    pub fn attach(
        &self,
        req: &AttachRequest<'_>,
        exists: &dyn Fn(&str) -> bool,
    ) -> Result<Attachment, NetError> {
        let _lock = StateLock::acquire(self.dir())?;
        let mut nl = Netlink::open()?;
        let net = self.resolve(&mut nl, req.network)?;
        let mut leases = self.leases(&net.name)?;
        let gone = leases.reclaim(exists);
        if req.interface > 15 || (req.interface > 0 && !req.ports.is_empty()) {
            return Err(NetError::BadInterface(req.interface));
        }
        if net.internal && !req.ports.is_empty() {
            return Err(NetError::Invalid(format!(
                "network {} is internal: it has no outside access to publish ports on",
                net.name
            )));
        }
        if req.ip6.is_some() && net.ipv6.is_none() {
            return Err(NetError::Invalid(format!(
                "network {} has no IPv6: --ip6 needs a network made with --ipv6",
                net.name
            )));
        }
        let mut ports = req.ports.clone();
        if !ports.is_empty() {
            let taken = self.published_ports(&net.name, &leases, req.container_id, exists)?;
            ports::check_free(&ports, &taken)?;
            let mut used: Vec<u16> = taken.iter().map(|p| p.host_port).collect();
            used.extend(ports.iter().map(|p| p.host_port).filter(|&p| p != 0));
            for p in &mut ports {
                if p.host_port == 0 {
                    p.host_port = ports::free_port(p.proto, &used)?;
                    used.push(p.host_port);
                }
            }
        }
        let lease = Lease {
            address: Ipv4Addr::UNSPECIFIED,
            names: req.names.clone(),
            hosts_file: req.hosts.as_ref().map(|(p, _)| p.clone()),
            hosts_base: String::new(),
            ports: ports.clone(),
            interface: req.interface,
            address6: None,
            links: req.links.clone(),
        };
        let address = leases.allocate(&Space::of(&net), req.container_id, req.ip, lease)?;
        // Nothing is saved yet: an error here drops both addresses.
        let address6 = match Space6::of(&net) {
            Some(space) => Some(leases.allocate6(&space, req.container_id, req.ip6)?),
            None => None,
        };
        if let (Some((_, render)), Some(l)) = (&req.hosts, leases.leases.get_mut(req.container_id))
        {
            l.hosts_base = render(address, address6);
        }
        // The lease is saved before any link exists: after a crash, the
        // owner is gone and the lease is reclaimed with what it names.
        self.save_leases(&net.name, &leases)?;
        let attachment = Attachment {
            network: net.name.clone(),
            network_id: net.id.clone(),
            bridge: net.bridge.clone(),
            subnet: net.subnet,
            gateway: net.gateway,
            address,
            host_veth: veth_name(req.container_id, req.interface),
            ports,
            subnet6: net.ipv6.as_ref().map(|v| v.subnet),
            gateway6: net.ipv6.as_ref().map(|v| v.gateway),
            address6,
        };
        let result = (|| {
            for id in &gone {
                clean_container(&mut nl, id, true);
            }
            bring_up(&mut nl, &net, self.dir())?;
            plug(&mut nl, &net, &attachment, req)?;
            let rules = port_rules(req.container_id, &net, address, address6, &attachment.ports);
            for (family, rules) in rules {
                Firewall::of(family)?.apply(&rules)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = nl.delete_link(&attachment.host_veth);
            clean_container(&mut nl, req.container_id, !attachment.ports.is_empty());
            leases.release(req.container_id);
            let _ = self.save_leases(&net.name, &leases);
            return Err(e);
        }
        self.refresh_hosts(&net);
        Ok(attachment)
    }

    /// Detaches a container from whatever network holds it: rules, lease,
    /// and its line in the peers' hosts files (its veth goes with its
    /// network namespace). Doing it twice is
    /// fine; errors of the steps are reported together after all ran.
    pub fn detach(&self, container_id: &str) -> Result<(), NetError> {
        let _lock = StateLock::acquire(self.dir())?;
        let mut errors = Vec::new();
        for net in self.list()? {
            let mut leases = self.leases(&net.name)?;
            let Some(l) = leases.release(container_id) else {
                continue;
            };
            // Rules first, the lease after: a crash or an `iptables`
            // failure in between leaves the lease, which names the rules,
            // for the next detach or `prune` to finish with. The other
            // order could lose the rules' owner for good.
            let rules = port_rules(container_id, &net, l.address, l.address6, &l.ports);
            let failed = rules
                .iter()
                .filter_map(|(family, rules)| {
                    Firewall::of(*family).and_then(|fw| fw.remove(rules)).err()
                })
                .collect::<Vec<_>>();
            if !failed.is_empty() {
                errors.extend(failed);
                continue;
            }
            if let Err(e) = self.save_leases(&net.name, &leases) {
                errors.push(e);
            }
            self.refresh_hosts(&net);
        }
        // The host end of the veth is not deleted here: detach runs once
        // the container's processes are gone, and with its network
        // namespace the kernel destroys the pair by itself, in the
        // background. Deleting it here waited for RCU grace periods, about
        // 35 ms of every `run --rm`. A pair whose namespace someone pins
        // is removed by `prune` (it deletes the veths of gone containers).
        NetError::collect(errors)
    }

    /// The attachment a container holds now on its first network, if any
    /// (`pocky port`, `ps`); [`Networks::attachments_of`] gives them all.
    pub fn attachment_of(&self, container_id: &str) -> Result<Option<Attachment>, NetError> {
        let all = self.attachments_of(container_id)?;
        Ok(all.into_iter().next())
    }

    /// Removes what containers not in `live` left behind: leases, host
    /// veths on this state's bridges, and their firewall rules. Another
    /// state root sharing the namespace keeps its own. Reports all failures
    /// together after trying everything.
    pub fn prune(&self, live: &HashSet<String>) -> Result<(), NetError> {
        let _lock = StateLock::acquire(self.dir())?;
        let mut errors = Vec::new();
        let nets = self.list()?;
        // Leases name the rules: they are saved without the gone
        // containers only once those rules are deleted (as in `detach`).
        let mut gone = Vec::new();
        let mut pruned = Vec::new();
        for net in &nets {
            let mut leases = self.leases(&net.name)?;
            let reclaimed = leases.reclaim(&|id| live.contains(id));
            if !reclaimed.is_empty() {
                gone.extend(reclaimed);
                pruned.push((net, leases));
            }
        }
        // Every veth name carries the first 11 characters of its id.
        let live_ids: HashSet<String> = live
            .iter()
            .map(|id| id.chars().take(11).collect())
            .collect();
        let bridges: HashSet<&str> = nets.iter().map(|n| n.bridge.as_str()).collect();
        match Netlink::open().and_then(|mut nl| {
            let links = nl.links()?;
            Ok((nl, links))
        }) {
            Ok((mut nl, links)) => {
                let ours: HashSet<u32> = links
                    .iter()
                    .filter(|l| bridges.contains(l.name.as_str()))
                    .map(|l| l.index)
                    .collect();
                for l in &links {
                    let leaked = (l.name.starts_with("vp") || l.name.starts_with("vx"))
                        && l.controller.is_some_and(|c| ours.contains(&c))
                        && !l.name.get(2..13).is_some_and(|id| live_ids.contains(id));
                    if leaked && let Err(e) = nl.delete_link(&l.name) {
                        errors.push(e);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        if !gone.is_empty() {
            let owners: HashSet<String> = gone
                .iter()
                .map(|id| firewall::container_owner(id))
                .collect();
            let families: &[Family] = match nets.iter().any(|n| n.ipv6.is_some()) {
                true => &[Family::V4, Family::V6],
                false => &[Family::V4],
            };
            let failed: Vec<NetError> = families
                .iter()
                .filter_map(|f| {
                    Firewall::of(*f)
                        .and_then(|fw| fw.remove_where(&|o| owners.contains(o)))
                        .err()
                })
                .collect();
            if !failed.is_empty() {
                errors.extend(failed);
                return NetError::collect(errors);
            }
        }
        for (net, leases) in pruned {
            if let Err(e) = self.save_leases(&net.name, &leases) {
                errors.push(e);
            }
            self.refresh_hosts(net);
        }
        NetError::collect(errors)
    }
}
