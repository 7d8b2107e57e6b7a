//! The parts of `HostConfig` and `Config` that come from the flags as the
//! user gave them (the record's `host`), the network settings and the
//! image's config, plus the paths Docker reports.

use std::collections::BTreeMap;

use pocky_store::{ContainerRecord, Store};
use serde_json::{Value, json};

use crate::netsetup;

/// Adds them to `v`, a container inspect document.
pub fn fill(store: &Store, r: &ContainerRecord, dir: &std::path::Path, v: &mut Value) {
    let h = &r.host;
    let net = netsetup::load(store, &r.id)
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &net.ports {
        bindings
            .entry(format!("{}/{}", p.container_port, p.proto.as_str()))
            .or_default()
            .push(json!({
                "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                // 0 is "any free port", which Docker shows as "".
                "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
            }));
    }
    let tmpfs: BTreeMap<&str, &str> = h
        .tmpfs
        .iter()
        .map(|t| t.split_once(':').unwrap_or((t.as_str(), "")))
        .collect();
    let devices: Vec<Value> = h
        .devices
        .iter()
        .map(|d| {
            let mut parts = d.split(':');
            let host = parts.next().unwrap_or_default();
            let inner = parts.next().filter(|p| p.starts_with('/')).unwrap_or(host);
            let perms = d
                .rsplit(':')
                .next()
                .filter(|p| !p.starts_with('/'))
                .unwrap_or("rwm");
            json!({"PathOnHost": host, "PathInContainer": inner, "CgroupPermissions": perms})
        })
        .collect();
    let hc = &mut v["HostConfig"];
    hc["Binds"] = json!(h.binds);
    hc["PortBindings"] = json!(bindings);
    hc["PublishAllPorts"] = json!(false);
    hc["CapAdd"] = json!(h.cap_add);
    hc["CapDrop"] = json!(h.cap_drop);
    hc["Privileged"] = json!(h.privileged);
    hc["SecurityOpt"] = json!(h.security_opt);
    hc["Devices"] = json!(devices);
    hc["Tmpfs"] = json!(tmpfs);
    hc["Dns"] = json!(net.dns.iter().map(ToString::to_string).collect::<Vec<_>>());
    hc["ExtraHosts"] = json!(
        net.add_hosts
            .iter()
            .map(|(n, ip)| format!("{n}:{ip}"))
            .collect::<Vec<_>>()
    );
    hc["DnsSearch"] = json!(net.dns_search);
    hc["DnsOptions"] = json!(net.dns_options);
    // Docker's form: /target:/container/alias.
    let links: Vec<String> = net
        .links
        .iter()
        .map(|l| {
            let target = crate::state::find(store, &l.container)
                .map(|t| t.name)
                .unwrap_or_else(|_| l.container.chars().take(12).collect());
            format!("/{target}:/{}/{}", r.name, l.alias)
        })
        .collect();
    hc["Links"] = if links.is_empty() {
        Value::Null
    } else {
        json!(links)
    };
    hc["LogConfig"] = json!({"Type": h.log.driver, "Config": h.log.options});
    // Docker's /dev/shm default; pocky mounts the same size.
    hc["ShmSize"] = json!(64u64 << 20);

    let image = crate::image_config::read_id(store, &r.image_id).ok();
    let exposed: BTreeMap<String, Value> = image
        .iter()
        .flat_map(|c| c.exposed_ports.iter())
        .chain(&net.expose)
        .map(|p| (p.clone(), json!({})))
        .collect();
    let volumes: BTreeMap<String, Value> = image
        .iter()
        .flat_map(|c| c.volumes.iter())
        .map(|p| (p.clone(), json!({})))
        .collect();
    let c = &mut v["Config"];
    c["Entrypoint"] = if h.entrypoint.is_empty() {
        Value::Null
    } else {
        json!(h.entrypoint)
    };
    c["ExposedPorts"] = json!(exposed);
    if let Some(mac) = &net.mac {
        // Deprecated in Docker's API 1.44, still shown by its inspect.
        c["MacAddress"] = json!(mac);
    }
    c["Volumes"] = json!(volumes);

    v["ResolvConfPath"] = json!(dir.join("resolv.conf"));
    v["HostnamePath"] = json!(dir.join("hostname"));
    v["HostsPath"] = json!(dir.join("hosts"));
    // Docker's empty path for a driver that keeps no file.
    v["LogPath"] = match h.log.keeps_output() {
        true => json!(crate::state::log_path(store, &r.id).ok()),
        false => json!(""),
    };
}
