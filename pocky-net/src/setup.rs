//! Attaching a container to a network and detaching it: the lease, the
//! bridge and its rules, the veth, the container side, published ports and
//! the peers' hosts files. Every step is idempotent so a retry, a teardown
//! after a crash, or a prune can always finish the job.

use std::collections::HashSet;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::NetError;
use crate::files::StateLock;
use crate::firewall::{self, Firewall};
use crate::ipam::{Lease, Leases};
use crate::membership::{interface_name, veth_name};
use crate::netlink::Netlink;
use crate::network::{DEFAULT_BRIDGE, DEFAULT_NETWORK, Network, Networks};
use crate::ports::{self, PortMapping};
use crate::subnet::Subnet;

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
    /// Container name and aliases, for its peers' hosts files.
    pub names: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// The container's hosts file and how to render its own part once the
    /// address is known.
    pub hosts: Option<(PathBuf, &'a dyn Fn(Ipv4Addr) -> String)>,
}

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
}

fn write_sysctl(path: &str, value: &str) -> Result<(), NetError> {
    let current = std::fs::read_to_string(path).map_err(|e| NetError::io(path, e))?;
    if current.trim() == value {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|e| NetError::io(path, e))
}

impl Networks {
    /// Creates a user network (definition, bridge, rules).
    pub fn create(&self, name: &str, subnet: Option<Subnet>) -> Result<Network, NetError> {
        self.create_labelled(name, subnet, &Default::default())
    }

    /// `create`, with the user's labels on the network.
    pub fn create_labelled(
        &self,
        name: &str,
        subnet: Option<Subnet>,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<Network, NetError> {
        let _lock = StateLock::acquire(self.dir())?;
        let mut nl = Netlink::open()?;
        let routed = nl.routed_subnets()?;
        let net = self.define(name, subnet, &routed, None, labels)?;
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
        match Firewall::new() {
            Ok(fw) => {
                if let Err(e) = fw.remove_owner(&firewall::network_owner(&net.bridge)) {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
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
                let bridge = if nl.index_of(DEFAULT_BRIDGE)?.is_some() {
                    format!("{DEFAULT_BRIDGE}-{:06x}", std::process::id() & 0xff_ffff)
                } else {
                    DEFAULT_BRIDGE.to_owned()
                };
                self.define(name, None, &routed, Some(&bridge), &Default::default())
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
        };
        let address = leases.allocate(&net.subnet, req.container_id, req.ip, lease)?;
        if let (Some((_, render)), Some(l)) = (&req.hosts, leases.leases.get_mut(req.container_id))
        {
            l.hosts_base = render(address);
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
        };
        let result = (|| {
            for id in &gone {
                clean_container(&mut nl, id, true);
            }
            bring_up(&mut nl, &net, self.dir())?;
            plug(&mut nl, &net, &attachment, req)?;
            if !attachment.ports.is_empty() {
                Firewall::new()?.apply(&firewall::container_rules(
                    req.container_id,
                    &net.bridge,
                    address,
                    &attachment.ports,
                ))?;
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
            let rules = firewall::container_rules(container_id, &net.bridge, l.address, &l.ports);
            if !rules.is_empty()
                && let Err(e) = Firewall::new().and_then(|fw| fw.remove(&rules))
            {
                errors.push(e);
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
            if let Err(e) = Firewall::new().and_then(|fw| fw.remove_where(&|o| owners.contains(o)))
            {
                errors.push(e);
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

/// Bridge with its gateway address, up; forwarding on; the network's rules.
fn bring_up(nl: &mut Netlink, net: &Network, stamp_dir: &Path) -> Result<(), NetError> {
    let br = nl.ensure_bridge(&net.bridge)?;
    nl.add_address(br, net.gateway, net.subnet.prefix(), &net.bridge)?;
    nl.set_up(br, &net.bridge)?;
    write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    // Lets the host reach published ports on 127.0.0.1: the DNATed packet
    // leaves through the bridge with a loopback source.
    write_sysctl(
        &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
        "1",
    )?;
    // Unchanged since the rules were last seen: no `iptables` run at all.
    let stamp = stamp_dir.join(format!(".{}.fwgen", net.bridge));
    let before = crate::fwgen::generation();
    if before.is_some() && before == crate::fwgen::recorded(&stamp) {
        return Ok(());
    }
    let fw = Firewall::new()?;
    let rules = firewall::network_rules(&net.bridge, &net.subnet);
    // Each check is an `iptables` run: when the network's last rule is
    // there, its chains and jumps (made before it) are too, and one run
    // does instead of eight on every container start.
    if rules.last().map(|r| fw.exists(r)).transpose()? != Some(true) {
        fw.ensure_base_and_apply(&rules)?;
    }
    if let Some(now) = crate::fwgen::generation() {
        crate::fwgen::record(&stamp, now);
    }
    Ok(())
}

/// The veth pair, and the container's side of it.
fn plug(
    nl: &mut Netlink,
    net: &Network,
    att: &Attachment,
    req: &AttachRequest<'_>,
) -> Result<(), NetError> {
    let ns = File::open(req.netns).map_err(|e| NetError::Netns {
        path: req.netns.to_path_buf(),
        source: e,
    })?;
    let br = nl
        .index_of(&net.bridge)?
        .ok_or_else(|| NetError::NoSuchLink(net.bridge.clone()))?;
    // A leftover of a crashed attempt with the same id would make the
    // create fail with EEXIST.
    nl.delete_link(&att.host_veth)?;
    let inside = interface_name(req.interface);
    nl.create_veth(&att.host_veth, br, &inside, ns.as_fd())?;
    if !att.ports.is_empty() {
        let idx = nl
            .index_of(&att.host_veth)?
            .ok_or_else(|| NetError::NoSuchLink(att.host_veth.clone()))?;
        nl.set_hairpin(idx, &att.host_veth)?;
    }
    let mut inner = Netlink::open_in(ns.as_fd(), req.netns)?;
    for (name, addr) in [("lo", None), (inside.as_str(), Some(att.address))] {
        let idx = inner
            .index_of(name)?
            .ok_or_else(|| NetError::NoSuchLink(name.to_owned()))?;
        if let Some(a) = addr {
            inner.add_address(idx, a, net.subnet.prefix(), name)?;
        }
        inner.set_up(idx, name)?;
        if let Some(a) = addr {
            check_address(&mut inner, idx, name, a)?;
        }
    }
    // The first network's gateway is the way out, as in Docker; a later
    // one adds only its subnet's route (the kernel's, with the address).
    match req.interface {
        0 => inner.add_default_route(net.gateway),
        _ => Ok(()),
    }
}

/// A container that starts without its address looks healthy and reaches
/// nothing; one was seen under load (issue #17), so the address is read
/// back and its absence fails the run.
fn check_address(nl: &mut Netlink, idx: u32, name: &str, addr: Ipv4Addr) -> Result<(), NetError> {
    if nl.addresses(idx, name)?.contains(&addr) {
        return Ok(());
    }
    Err(NetError::AddressMissing {
        link: name.to_owned(),
        address: addr,
    })
}

/// Best-effort removal of a container's veth and rules.
fn clean_container(nl: &mut Netlink, id: &str, rules: bool) {
    let _ = nl.delete_link(&host_veth(id));
    if rules && let Ok(fw) = Firewall::new() {
        let _ = fw.remove_owner(&firewall::container_owner(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a new network namespace `lo` holds no address until it is up:
    /// the check fails, then passes.
    #[test]
    fn a_link_without_its_address_fails_the_check() {
        if !pocky_testkit::privileged("net_check_address") {
            return;
        }
        let r = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut nl = Netlink::open().unwrap();
            let lo = nl.index_of("lo").unwrap().unwrap();
            let local = Ipv4Addr::LOCALHOST;
            let e = check_address(&mut nl, lo, "lo", local).unwrap_err();
            assert!(
                e.to_string()
                    .contains("does not hold its address 127.0.0.1"),
                "{e}"
            );
            nl.set_up(lo, "lo").unwrap();
            check_address(&mut nl, lo, "lo", local).unwrap();
        })
        .join();
        assert!(r.is_ok());
    }
}
