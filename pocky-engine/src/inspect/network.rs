//! `NetworkSettings` of `pocky inspect`, in Docker's shape, from the
//! container's `network.json` (see [`crate::netsetup`]).
//!
//! As with Docker, addresses and ports describe the container while it is
//! attached: a stopped container keeps its network names and ids but shows
//! no address, and its `Ports` are empty.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

use serde_json::{Value, json};

use pocky_net::netlink::Netlink;
use pocky_net::{Attachment, DEFAULT_NETWORK, PortMapping};
use pocky_store::{ContainerRecord, Status, Store};

use crate::netsetup::{self, NetSettings};

/// `HostConfig.NetworkMode` and `NetworkSettings` of a container.
/// `has_netns` (from its spec) stands in for the settings of containers
/// made before `network.json` existed.
pub fn inspect(store: &Store, r: &ContainerRecord, has_netns: bool) -> (String, Value) {
    let settings = netsetup::load(store, &r.id).unwrap_or_else(|e| {
        crate::log::debug!("reading the network settings of {}: {e:#}", r.id);
        None
    });
    let s = settings.unwrap_or_else(|| NetSettings {
        network: if has_netns { "none" } else { "host" }.to_owned(),
        ..NetSettings::default()
    });
    // The leases are the live attachments' one owner.
    let leases = match r.state.status == Some(Status::Running) && s.attaches() {
        true => netsetup::networks(store)
            .attachments_of(&r.id)
            .unwrap_or_else(|e| {
                crate::log::debug!("reading the attachments of {}: {e}", r.id);
                Vec::new()
            }),
        false => Vec::new(),
    };
    let on = |network: &str| leases.iter().find(|a| a.network == network);
    let live = on(&s.network);
    let mac = live
        .and_then(|_| live_mac(r.state.pid, pocky_net::CONTAINER_IF))
        .unwrap_or_default();
    let network_id = match &s.attachment {
        Some(a) => a.network_id.clone(),
        None if s.attaches() => netsetup::networks(store)
            .get(&s.network)
            .map(|n| n.id)
            .unwrap_or_default(),
        None => String::new(),
    };
    let exposed = if live.is_some() {
        let mut e = netsetup::exposed_ports(store, &r.image_id).unwrap_or_else(|e| {
            crate::log::debug!("reading the exposed ports of {}: {e:#}", r.image_id);
            Vec::new()
        });
        e.extend(s.expose.iter().cloned());
        e
    } else {
        Vec::new()
    };
    // Names the container answers to on a user network besides its own,
    // as Docker lists them: the aliases and the short id (compose checks
    // for the short id before it re-connects a container).
    let mut shown = s.clone();
    if s.attaches() && s.network != DEFAULT_NETWORK {
        shown.aliases.push(r.id.chars().take(12).collect());
    }
    let mut v = settings_json(&shown, live, &mac, &network_id, &exposed);
    for x in &s.extra {
        let live = on(&x.network);
        let inside = pocky_net::interface_name(x.interface);
        let mac = live
            .and_then(|_| live_mac(r.state.pid, &inside))
            .unwrap_or_default();
        let id = live.map(|a| a.network_id.clone()).unwrap_or_else(|| {
            netsetup::networks(store)
                .get(&x.network)
                .map(|n| n.id)
                .unwrap_or_default()
        });
        let mut aliases = x.aliases.clone();
        aliases.push(r.id.chars().take(12).collect());
        v["Networks"][x.network.as_str()] = endpoint_json((x.ip, x.ip6), &aliases, live, &mac, &id);
    }
    (s.network, v)
}

/// The MAC address of the container's interface, read in its namespace:
/// the kernel chose it when the veth was made and pocky does not record it.
fn live_mac(pid: i32, interface: &str) -> Option<String> {
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let links = File::open(&path).map_err(|e| e.to_string()).and_then(|ns| {
        Netlink::open_in(std::os::fd::AsFd::as_fd(&ns), &path)
            .and_then(|mut nl| nl.links())
            .map_err(|e| e.to_string())
    });
    match links {
        Ok(links) => links
            .into_iter()
            .find(|l| l.name == interface)
            .and_then(|l| l.mac),
        Err(e) => {
            crate::log::debug!("reading the MAC address in {}: {e}", path.display());
            None
        }
    }
}

/// Docker's `NetworkSettings`: one entry of `Networks` for the container's
/// network, and, for the default bridge only, its address also at the top
/// level (Docker's legacy fields, which `{{.NetworkSettings.IPAddress}}`
/// scripts read).
fn settings_json(
    s: &NetSettings,
    live: Option<&Attachment>,
    mac: &str,
    network_id: &str,
    exposed: &[String],
) -> Value {
    let address = live.map(|a| a.address.to_string()).unwrap_or_default();
    let gateway = live.map(|a| a.gateway.to_string()).unwrap_or_default();
    let prefix = live.map_or(0, |a| a.subnet.prefix());
    let endpoint = endpoint_json((s.ip, s.ip6), &s.aliases, live, mac, network_id);
    let bridge = s.network == DEFAULT_NETWORK;
    let top = |v: Value, empty: Value| if bridge { v } else { empty };
    json!({
        "Bridge": "",
        "Ports": live.map_or_else(|| json!({}), |a| ports_json(&a.ports, exposed)),
        "IPAddress": top(json!(address), json!("")),
        "IPPrefixLen": top(json!(prefix), json!(0)),
        "Gateway": top(json!(gateway), json!("")),
        "MacAddress": top(json!(mac), json!("")),
        "GlobalIPv6Address": top(endpoint["GlobalIPv6Address"].clone(), json!("")),
        "GlobalIPv6PrefixLen": top(endpoint["GlobalIPv6PrefixLen"].clone(), json!(0)),
        "IPv6Gateway": top(endpoint["IPv6Gateway"].clone(), json!("")),
        "Networks": { s.network.clone(): endpoint },
    })
}

/// One entry of `NetworkSettings.Networks`; `fixed` are the addresses
/// asked for (`--ip`, `--ip6`).
fn endpoint_json(
    fixed: (Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>),
    aliases: &[String],
    live: Option<&Attachment>,
    mac: &str,
    network_id: &str,
) -> Value {
    let ipam = match fixed {
        (None, None) => Value::Null,
        (ip, ip6) => {
            let mut m = serde_json::Map::new();
            if let Some(a) = ip {
                m.insert("IPv4Address".into(), a.to_string().into());
            }
            if let Some(a) = ip6 {
                m.insert("IPv6Address".into(), a.to_string().into());
            }
            Value::Object(m)
        }
    };
    let v6 = live.and_then(|a| a.address6.zip(a.subnet6).zip(a.gateway6));
    json!({
        "IPAMConfig": ipam,
        "Links": null,
        "Aliases": (!aliases.is_empty()).then_some(aliases),
        "MacAddress": mac,
        "NetworkID": network_id,
        "Gateway": live.map(|a| a.gateway.to_string()).unwrap_or_default(),
        "IPAddress": live.map(|a| a.address.to_string()).unwrap_or_default(),
        "IPPrefixLen": live.map_or(0, |a| a.subnet.prefix()),
        "IPv6Gateway": v6.map(|(_, g)| g.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": v6.map(|((a, _), _)| a.to_string()).unwrap_or_default(),
        "GlobalIPv6PrefixLen": v6.map_or(0, |((_, s), _)| s.prefix()),
    })
}

/// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null}`:
/// published ports with their bindings, exposed but unpublished ones null.
fn ports_json(published: &[PortMapping], exposed: &[String]) -> Value {
    let mut ports: BTreeMap<String, Value> = BTreeMap::new();
    for e in exposed {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        ports.insert(key, Value::Null);
    }
    for p in published {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let binding = json!({
            "HostIp": p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED).to_string(),
            "HostPort": p.host_port.to_string(),
        });
        match ports.entry(key).or_insert(Value::Null) {
            Value::Array(list) => list.push(binding),
            slot => *slot = json!([binding]),
        }
    }
    json!(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(network: &str) -> NetSettings {
        NetSettings {
            network: network.into(),
            ..NetSettings::default()
        }
    }

    fn attachment(network: &str, ports: &[&str]) -> Attachment {
        Attachment {
            network: network.into(),
            network_id: "f".repeat(64),
            bridge: "pocky0".into(),
            subnet: "10.88.0.0/16".parse().unwrap(),
            gateway: "10.88.0.1".parse().unwrap(),
            address: "10.88.0.5".parse().unwrap(),
            host_veth: "vp0123456789a".into(),
            ports: ports
                .iter()
                .map(|p| PortMapping::parse(p).unwrap())
                .collect(),
            subnet6: None,
            gateway6: None,
            address6: None,
        }
    }

    #[test]
    fn default_bridge_has_the_legacy_top_level_fields() {
        let a = attachment("bridge", &["8080:80"]);
        let v = settings_json(
            &settings("bridge"),
            Some(&a),
            "02:42:0a:58:00:05",
            &a.network_id,
            &[],
        );
        for level in [&v, &v["Networks"]["bridge"]] {
            assert_eq!(level["IPAddress"], "10.88.0.5");
            assert_eq!(level["IPPrefixLen"], 16);
            assert_eq!(level["Gateway"], "10.88.0.1");
            assert_eq!(level["MacAddress"], "02:42:0a:58:00:05");
        }
        assert_eq!(v["Networks"]["bridge"]["NetworkID"], "f".repeat(64));
        assert_eq!(v["Networks"]["bridge"]["Aliases"], Value::Null);
        assert_eq!(
            v["Ports"],
            json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]})
        );
    }

    #[test]
    fn user_network_fills_only_its_entry() {
        let mut s = settings("app");
        s.aliases = vec!["web".into()];
        s.ip = Some("10.88.0.5".parse().unwrap());
        let a = attachment("app", &[]);
        let v = settings_json(&s, Some(&a), "02:00:00:00:00:01", "id", &[]);
        assert_eq!(v["IPAddress"], "");
        assert_eq!(v["IPPrefixLen"], 0);
        assert_eq!(v["Gateway"], "");
        assert_eq!(v["MacAddress"], "");
        let app = &v["Networks"]["app"];
        assert_eq!(app["IPAddress"], "10.88.0.5");
        assert_eq!(app["Aliases"], json!(["web"]));
        assert_eq!(app["IPAMConfig"], json!({"IPv4Address": "10.88.0.5"}));
        assert_eq!(app["GlobalIPv6Address"], "");
        assert_eq!(v["Networks"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn ipv6_addresses_show_where_docker_shows_them() {
        let mut s = settings("dual");
        s.ip6 = Some("fd00:9::9".parse().unwrap());
        let mut a = attachment("dual", &[]);
        a.subnet6 = Some("fd00:9::/64".parse().unwrap());
        a.gateway6 = Some("fd00:9::1".parse().unwrap());
        a.address6 = s.ip6;
        let v = settings_json(&s, Some(&a), "", "id", &[]);
        let dual = &v["Networks"]["dual"];
        assert_eq!(dual["GlobalIPv6Address"], "fd00:9::9");
        assert_eq!(dual["GlobalIPv6PrefixLen"], 64);
        assert_eq!(dual["IPv6Gateway"], "fd00:9::1");
        assert_eq!(dual["IPAMConfig"], json!({"IPv6Address": "fd00:9::9"}));
        assert_eq!(v["GlobalIPv6Address"], "", "top level only on the bridge");
    }

    #[test]
    fn ports_group_bindings_and_keep_exposed_ones_null() {
        let a = attachment(
            "bridge",
            &["8080:80", "127.0.0.1:8081:80", "5353:53/udp", "81"],
        );
        let mut ports = a.ports.clone();
        ports[3].host_port = 32768;
        let v = ports_json(&ports, &["80/tcp".into(), "443".into()]);
        assert_eq!(
            v,
            json!({
                "80/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "8080"},
                    {"HostIp": "127.0.0.1", "HostPort": "8081"},
                ],
                "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
                "81/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}],
                "443/tcp": null,
            })
        );
    }

    #[test]
    fn stopped_container_keeps_its_network_but_no_address() {
        let mut s = settings("bridge");
        s.attachment = Some(attachment("bridge", &["8080:80"]));
        let v = settings_json(&s, None, "", "id", &[]);
        assert_eq!(v["IPAddress"], "");
        assert_eq!(v["Ports"], json!({}));
        assert_eq!(v["Networks"]["bridge"]["IPAddress"], "");
        assert_eq!(v["Networks"]["bridge"]["NetworkID"], "id");
    }

    #[test]
    fn none_and_host_have_one_empty_entry() {
        for mode in ["none", "host"] {
            let v = settings_json(&settings(mode), None, "", "", &[]);
            let nets = v["Networks"].as_object().unwrap();
            assert_eq!(nets.keys().collect::<Vec<_>>(), [mode]);
            assert_eq!(nets[mode]["IPAddress"], "");
            assert_eq!(v["IPAddress"], "");
            assert_eq!(v["Ports"], json!({}));
        }
    }
}
