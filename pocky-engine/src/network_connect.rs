//! `network connect` and `network disconnect`: a container on more than
//! its first network. The extra networks are part of its network settings
//! (`network.json`), so every start attaches them after the first (as
//! `eth1`, `eth2`...); a running container joins or leaves at once.
//! compose connects a created container before it starts it.

use std::net::{Ipv4Addr, Ipv6Addr};

use pocky_store::{FileLock, Store};

use crate::netsetup::{self, Endpoint, ExtraNetwork};
use crate::{Result, conflict, invalid};

/// Serialises the changes of one container's network settings.
fn lock(store: &Store, id: &str) -> Result<FileLock> {
    let path = store.container_dir(id)?.join("network.lock");
    Ok(FileLock::exclusive(&path).map_err(anyhow::Error::from)?)
}

/// Joins `container` to `network` with `aliases` (and the fixed
/// addresses `ip`, `ip6` on a user network).
pub fn connect(
    store: &Store,
    network: &str,
    container: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
    ip6: Option<Ipv6Addr>,
) -> Result<()> {
    let rec = crate::state::find(store, container)?;
    let _lock = lock(store, &rec.id)?;
    let mut s = netsetup::load(store, &rec.id)?
        .ok_or_else(|| invalid!("container {} has no network settings to extend", rec.name))?;
    if !s.attaches() {
        return Err(invalid!(
            "container {} uses the {} network: a container sharing the host's network or none cannot be connected to any other network",
            rec.name,
            s.network
        ));
    }
    if matches!(network, "none" | "host") {
        return Err(invalid!(
            "container cannot be disconnected from its network and connected to {network}"
        ));
    }
    let net = netsetup::networks(store).get(network)?;
    if s.network == net.name || s.extra.iter().any(|x| x.network == net.name) {
        return Err(conflict!(
            "endpoint with name {} already exists in network {}",
            rec.name,
            net.name
        ));
    }
    if !net.user_defined && (!aliases.is_empty() || ip.is_some() || ip6.is_some()) {
        return Err(invalid!(
            "network-scoped aliases and addresses are supported on user defined networks only"
        ));
    }
    let interface = (1..16)
        .find(|i| !s.extra.iter().any(|x| x.interface == *i))
        .ok_or_else(|| invalid!("container {} is on 16 networks already", rec.name))?;
    if ip6.is_some() && net.ipv6.is_none() {
        return Err(invalid!(
            "network {} has no IPv6: --ip6 needs a network made with --ipv6",
            net.name
        ));
    }
    let extra = ExtraNetwork {
        network: net.name.clone(),
        aliases: aliases.to_vec(),
        ip,
        ip6,
        interface,
    };
    if crate::state::process_alive(&rec) {
        let netns = std::path::PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid));
        let endpoint = Endpoint {
            network: &extra.network,
            aliases: &extra.aliases,
            ip,
            ip6,
            interface,
            ports: Vec::new(),
            mac: None,
            links: Vec::new(),
        };
        let dir = store.container_dir(&rec.id)?;
        netsetup::attach(
            store,
            &dir,
            &rec.id,
            &rec.name,
            &rec.hostname,
            &netns,
            &s,
            endpoint,
        )?;
    }
    s.extra.push(extra);
    netsetup::save(store, &rec.id, &s)?;
    crate::events::object(store, "network", "connect", &net.id, &net.name);
    Ok(())
}

/// Takes `container` off a network it joined with `connect`.
pub fn disconnect(store: &Store, network: &str, container: &str) -> Result<()> {
    let rec = crate::state::find(store, container)?;
    let _lock = lock(store, &rec.id)?;
    let mut s = netsetup::load(store, &rec.id)?.unwrap_or_default();
    let net = netsetup::networks(store).get(network)?;
    if s.network == net.name {
        return Err(invalid!(
            "container {} was created on network {}: pocky disconnects only the networks it joined later",
            rec.name,
            net.name
        ));
    }
    let Some(pos) = s.extra.iter().position(|x| x.network == net.name) else {
        return Err(invalid!(
            "container {} is not connected to network {}",
            rec.name,
            net.name
        ));
    };
    if crate::state::process_alive(&rec) {
        netsetup::networks(store).detach_from(&rec.id, &net.name)?;
    }
    s.extra.remove(pos);
    netsetup::save(store, &rec.id, &s)?;
    crate::events::object(store, "network", "disconnect", &net.id, &net.name);
    Ok(())
}
