//! The kernel's side of a network and an attach: the bridge with its
//! addresses, MTU, sysctls and rules; the veth pair and the container's
//! side of it, for IPv4 and, on a dual-stack network, IPv6.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::path::Path;

use crate::NetError;
use crate::firewall::{self, Family, Firewall, NetRules};
use crate::membership::interface_name;
use crate::netlink::{Netlink, VethOptions};
use crate::network::Network;
use crate::setup::{AttachRequest, Attachment, host_veth};

fn write_sysctl(path: &str, value: &str) -> Result<(), NetError> {
    let current = std::fs::read_to_string(path).map_err(|e| NetError::io(path, e))?;
    if current.trim() == value {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|e| NetError::io(path, e))
}

/// Bridge with its gateway addresses, up; forwarding on; the network's
/// rules in each of its families.
pub(crate) fn bring_up(nl: &mut Netlink, net: &Network, stamp_dir: &Path) -> Result<(), NetError> {
    let br = nl.ensure_bridge(&net.bridge)?;
    if let Some(mtu) = net.options.mtu {
        // The bridge takes the smallest MTU of its ports; set before any
        // port joins, it is what an empty bridge reports.
        nl.set_mtu(br, mtu, &net.bridge)?;
    }
    nl.add_address(br, net.gateway, net.subnet.prefix(), &net.bridge)?;
    if let Some(v6) = &net.ipv6 {
        nl.add_address6(br, v6.gateway, v6.subnet.prefix(), &net.bridge)?;
    }
    nl.set_up(br, &net.bridge)?;
    write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    // Lets the host reach published ports on 127.0.0.1: the DNATed packet
    // leaves through the bridge with a loopback source.
    write_sysctl(
        &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
        "1",
    )?;
    if net.ipv6.is_some() {
        // As Docker does for an IPv6 network. A side effect the docs
        // name: with forwarding on, the host ignores router adverts on
        // interfaces whose accept_ra is 1 (not 2).
        write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    // Unchanged since the rules were last seen (one ruleset generation
    // for both families): no `iptables` run at all.
    let stamp = stamp_dir.join(format!(".{}.fwgen", net.bridge));
    let before = crate::fwgen::generation();
    if before.is_some() && before == crate::fwgen::recorded(&stamp) {
        return Ok(());
    }
    for family in [Family::V4, Family::V6] {
        let Some(n) = NetRules::of(net, family) else {
            continue;
        };
        let fw = Firewall::of(family)?;
        let rules = firewall::network_rules(&n);
        // Each check is an `iptables` run: when the network's last rule is
        // there, its chains and jumps (made before it) are too, and one
        // run does instead of eight on every container start.
        if rules.last().map(|r| fw.exists(r)).transpose()? == Some(true) {
            continue;
        }
        fw.ensure_base_and_apply(&rules)?;
    }
    if let Some(now) = crate::fwgen::generation() {
        crate::fwgen::record(&stamp, now);
    }
    Ok(())
}

/// The veth pair, and the container's side of it.
pub(crate) fn plug(
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
    let opts = VethOptions {
        mtu: net.options.mtu,
        peer_mac: req.mac,
    };
    nl.create_veth(&att.host_veth, br, &inside, ns.as_fd(), opts)?;
    if !att.ports.is_empty() || !net.options.icc() {
        let idx = nl
            .index_of(&att.host_veth)?
            .ok_or_else(|| NetError::NoSuchLink(att.host_veth.clone()))?;
        if !att.ports.is_empty() {
            nl.set_hairpin(idx, &att.host_veth)?;
        }
        if !net.options.icc() {
            nl.set_isolated(idx, &att.host_veth)?;
        }
    }
    let mut inner = Netlink::open_in(ns.as_fd(), req.netns)?;
    for (name, addr) in [("lo", None), (inside.as_str(), Some(att.address))] {
        let idx = inner
            .index_of(name)?
            .ok_or_else(|| NetError::NoSuchLink(name.to_owned()))?;
        if let Some(a) = addr {
            inner.add_address(idx, a, net.subnet.prefix(), name)?;
        }
        if let (Some(_), Some(a6), Some(v6)) = (addr, att.address6, &net.ipv6) {
            inner.add_address6(idx, a6, v6.subnet.prefix(), name)?;
        }
        inner.set_up(idx, name)?;
        if let Some(a) = addr {
            check_address(&mut inner, idx, name, a.into())?;
            if let Some(a6) = att.address6 {
                check_address(&mut inner, idx, name, a6.into())?;
            }
        }
    }
    // The first network's gateway is the way out, as in Docker; a later
    // one adds only its subnet's route (the kernel's, with the address).
    // An internal network has no way out, so no default route either.
    if req.interface != 0 || net.internal {
        return Ok(());
    }
    inner.add_default_route(net.gateway)?;
    if let Some(v6) = &net.ipv6 {
        let idx = inner
            .index_of(&inside)?
            .ok_or_else(|| NetError::NoSuchLink(inside.clone()))?;
        inner.add_default_route6(v6.gateway, idx)?;
    }
    Ok(())
}

/// A container that starts without its address looks healthy and reaches
/// nothing; one was seen under load (issue #17), so the address is read
/// back and its absence fails the run.
pub(crate) fn check_address(
    nl: &mut Netlink,
    idx: u32,
    name: &str,
    addr: IpAddr,
) -> Result<(), NetError> {
    let there = match addr {
        IpAddr::V4(a) => nl.addresses(idx, name)?.contains(&a),
        IpAddr::V6(a) => nl.addresses6(idx, name)?.contains(&a),
    };
    if there {
        return Ok(());
    }
    Err(NetError::AddressMissing {
        link: name.to_owned(),
        address: addr,
    })
}

/// Best-effort removal of a container's veth and rules.
pub(crate) fn clean_container(nl: &mut Netlink, id: &str, rules: bool) {
    let _ = nl.delete_link(&host_veth(id));
    if rules && let Ok(fw) = Firewall::new() {
        let _ = fw.remove_owner(&firewall::container_owner(id));
    }
    if rules && let Ok(fw) = Firewall::of(Family::V6) {
        let _ = fw.remove_owner(&firewall::container_owner(id));
    }
}

/// A container's published-port rules on `net` in every family it has
/// an address of.
pub(crate) fn port_rules(
    id: &str,
    net: &Network,
    address: Ipv4Addr,
    address6: Option<std::net::Ipv6Addr>,
    ports: &[crate::PortMapping],
) -> Vec<(Family, Vec<firewall::Rule>)> {
    if ports.is_empty() {
        return Vec::new();
    }
    let mut out = vec![(
        Family::V4,
        firewall::container_rules(id, &net.bridge, address, ports),
    )];
    if let Some(a6) = address6 {
        out.push((
            Family::V6,
            firewall::container_rules(id, &net.bridge, a6, ports),
        ));
    }
    out
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
            let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
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
