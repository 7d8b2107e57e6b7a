//! `network connect` and `network disconnect`: a container on more than
//! its first network. The extra networks are part of its network settings
//! (`network.json`), so every start attaches them after the first (as
//! `eth1`, `eth2`...); a running container joins or leaves at once.
//! compose connects a created container before it starts it.

use pocky_store::{FileLock, Store};

use crate::netsetup::{self, Endpoint, ExtraNetwork};
use crate::{Result, conflict, invalid};

/// Serialises the changes of one container's network settings.
fn lock(store: &Store, id: &str) -> Result<FileLock> {
    let path = store.container_dir(id)?.join("network.lock");
    Ok(FileLock::exclusive(&path).map_err(anyhow::Error::from)?)
}

/// Joins `container` to the network `wanted` names, with its aliases,
/// fixed addresses and links (the last three on a user network only).
pub fn connect(store: &Store, container: &str, wanted: &crate::request::Endpoint) -> Result<()> {
    let rec = crate::state::find(store, container)?;
    let _lock = lock(store, &rec.id)?;
    let mut s = netsetup::load(store, &rec.id)?
        .ok_or_else(|| invalid!("container {} has no network settings to extend", rec.name))?;
    let extra = joinable(store, &s, &rec.name, wanted)?;
    if crate::state::process_alive(&rec) {
        let netns = std::path::PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid));
        let endpoint = Endpoint {
            network: &extra.network,
            aliases: &extra.aliases,
            ip: extra.ip,
            ip6: extra.ip6,
            interface: extra.interface,
            ports: Vec::new(),
            mac: None,
            links: extra.links.clone(),
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
    let net_id = netsetup::networks(store).get(&extra.network)?.id;
    let net_name = extra.network.clone();
    s.extra.push(extra);
    netsetup::save(store, &rec.id, &s)?;
    crate::events::object(store, "network", "connect", &net_id, &net_name);
    Ok(())
}

/// Checks that a container with settings `s` may join `wanted`, and
/// gives it the next free interface there. `who` names it in errors.
pub fn joinable(
    store: &Store,
    s: &netsetup::NetSettings,
    who: &str,
    wanted: &crate::request::Endpoint,
) -> Result<ExtraNetwork> {
    if !s.attaches() {
        return Err(invalid!(
            "container {who} uses the {} network: a container sharing the host's network or none cannot be connected to any other network",
            s.network
        ));
    }
    if matches!(wanted.network.as_str(), "none" | "host") {
        return Err(invalid!(
            "container cannot be disconnected from its network and connected to {}",
            wanted.network
        ));
    }
    let net = netsetup::networks(store).get(&wanted.network)?;
    if s.network == net.name || s.extra.iter().any(|x| x.network == net.name) {
        return Err(conflict!(
            "endpoint with name {who} already exists in network {}",
            net.name
        ));
    }
    if !net.user_defined
        && (!wanted.aliases.is_empty()
            || wanted.ip.is_some()
            || wanted.ip6.is_some()
            || !wanted.links.is_empty())
    {
        return Err(invalid!(
            "network-scoped aliases, addresses and links are supported on user defined networks only"
        ));
    }
    if wanted.ip6.is_some() && net.ipv6.is_none() {
        return Err(invalid!(
            "network {} has no IPv6: --ip6 needs a network made with --ipv6",
            net.name
        ));
    }
    let interface = (1..16)
        .find(|i| !s.extra.iter().any(|x| x.interface == *i))
        .ok_or_else(|| invalid!("container {who} is on 16 networks already"))?;
    Ok(ExtraNetwork {
        network: net.name.clone(),
        aliases: wanted.aliases.clone(),
        ip: wanted.ip,
        ip6: wanted.ip6,
        links: wanted
            .links
            .iter()
            .map(|l| crate::net_flags::resolve_link(store, l).map_err(crate::Error::from))
            .collect::<Result<Vec<_>>>()?,
        interface,
    })
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
