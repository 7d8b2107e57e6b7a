//! User networks as objects of their own: create and remove. A
//! container's attachment to one is `netsetup`'s.

pub use pocky_net::options::parse_opts;
pub use pocky_net::{Network, NetworkFlags, Networks, PortMapping, host_veth};
use pocky_store::Store;

use crate::{Error, Result, invalid};

/// The networks every engine has, which users neither make nor remove.
pub const PREDEFINED: [&str; 3] = ["bridge", "none", "host"];

/// Creates a bridge network as Docker's `network create` flags say;
/// returns its id.
pub fn create(store: &Store, name: &str, driver: &str, flags: &NetworkFlags) -> Result<String> {
    if driver != "bridge" {
        return Err(invalid!(
            "network driver {driver:?} is not supported: pocky has only bridge"
        ));
    }
    if PREDEFINED.contains(&name) {
        return Err(crate::conflict!("{name} is a predefined network name"));
    }
    let spec = flags.check()?;
    let n = crate::netsetup::networks(store).create_with(name, &spec)?;
    crate::events::object(store, "network", "create", &n.id, name);
    Ok(n.id)
}

/// Removes a network no container is attached to.
pub fn remove(store: &Store, name: &str) -> Result<()> {
    if PREDEFINED.contains(&name) {
        // As Docker: the default networks are not the user's to remove
        // (`system prune` keeps them too).
        return Err(Error::Conflict(format!(
            "{name} is a pre-defined network and cannot be removed"
        )));
    }
    let nets = crate::netsetup::networks(store);
    let id = nets.get(name).map(|n| n.id)?;
    let exists = |id: &str| store.container_dir(id).is_ok_and(|d| d.exists());
    nets.remove(name, &exists)?;
    crate::events::object(store, "network", "destroy", &id, name);
    Ok(())
}

/// `network prune`: the user networks no container (running or not) is
/// on and `filters` (`until=`, `label=`, `label!=`) keep; their names.
pub fn prune(store: &Store, filters: &[String]) -> Result<Vec<String>> {
    use pocky_store::ContainerStore;
    let f = crate::image_filter::PruneFilter::parse(store, filters)?;
    let mut used = std::collections::HashSet::new();
    for c in store.containers()? {
        if let Ok(Some(s)) = crate::netsetup::load(store, &c.id) {
            used.insert(s.network.clone());
            used.extend(s.extra.iter().map(|x| x.network.clone()));
        }
    }
    let mut deleted = Vec::new();
    for n in crate::netsetup::networks(store).list()? {
        if !n.user_defined || used.contains(&n.name) || !f.keeps(n.created as f64, &n.labels) {
            continue;
        }
        // One in use after all (a container attached meanwhile) stays.
        if remove(store, &n.name).is_ok() {
            deleted.push(n.name);
        }
    }
    Ok(deleted)
}

/// `network ls --filter`: `name` (substring), `id` (prefix), `driver`
/// (pocky's are all `bridge`), `type` (`custom` or `builtin`), `label`.
pub fn list(store: &Store, filters: &[String]) -> Result<Vec<pocky_net::Network>> {
    use crate::filter_args;
    let map = filter_args::parse_pairs(filters, &["name", "id", "driver", "type", "label"])?;
    for t in map.get("type").into_iter().flatten() {
        if t != "custom" && t != "builtin" {
            return Err(invalid!("invalid filter 'type={t}': use custom or builtin"));
        }
    }
    let mut out = crate::netsetup::networks(store).list()?;
    out.retain(|n| {
        filter_args::all_keys(&map, |k, v| match k {
            "name" => n.name.contains(v),
            "id" => n.id.starts_with(v),
            "driver" => v == "bridge",
            "type" => (v == "custom") == n.user_defined,
            "label" => filter_args::label_matches(&n.labels, v),
            _ => false,
        })
    });
    Ok(out)
}

/// Docker's network inspect document (also the API's network object),
/// with the containers attached now.
pub fn document(store: &Store, nets: &Networks, n: &Network) -> Result<serde_json::Value> {
    use pocky_store::ContainerStore;
    let mut containers = serde_json::Map::new();
    for (id, l) in nets.leases(&n.name)?.leases {
        let name = store
            .find_container(&id)
            .map(|r| r.name)
            .unwrap_or_default();
        let v6 = match (l.address6, &n.ipv6) {
            (Some(a), Some(v)) => format!("{a}/{}", v.subnet.prefix()),
            _ => String::new(),
        };
        containers.insert(
            id,
            serde_json::json!({
                "Name": name,
                "IPv4Address": format!("{}/{}", l.address, n.subnet.prefix()),
                "IPv6Address": v6,
                "Aliases": l.names,
            }),
        );
    }
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(n.created);
    let aux = |v6: bool| -> serde_json::Map<String, serde_json::Value> {
        n.aux_addresses
            .iter()
            .filter(|(_, a)| a.is_ipv6() == v6)
            .map(|(k, a)| (k.clone(), a.to_string().into()))
            .collect()
    };
    let mut v4 =
        serde_json::json!({"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()});
    if let Some(r) = n.ip_range {
        v4["IPRange"] = r.to_string().into();
    }
    if !aux(false).is_empty() {
        v4["AuxiliaryAddresses"] = aux(false).into();
    }
    let mut config = vec![v4];
    if let Some(v) = &n.ipv6 {
        let mut v6 =
            serde_json::json!({"Subnet": v.subnet.to_string(), "Gateway": v.gateway.to_string()});
        if let Some(r) = v.ip_range {
            v6["IPRange"] = r.to_string().into();
        }
        if !aux(true).is_empty() {
            v6["AuxiliaryAddresses"] = aux(true).into();
        }
        config.push(v6);
    }
    let mut options = n.options.to_map();
    options.insert(
        pocky_net::options::OPT_BRIDGE_NAME.to_owned(),
        n.bridge.clone(),
    );
    Ok(serde_json::json!({
        "Name": n.name,
        "Id": n.id,
        // Docker's form: an RFC 3339 time, not epoch seconds.
        "Created": humantime::format_rfc3339_seconds(created).to_string(),
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv4": true,
        "EnableIPv6": n.ipv6.is_some(),
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": config,
        },
        "Options": options,
        "Labels": n.labels,
        "Containers": containers,
    }))
}
