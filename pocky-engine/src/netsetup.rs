//! The glue between `pocky run` and pocky-net: the network settings a
//! container asked for (kept as `network.json` in its directory, with the
//! attachment once it has one), setup from the owner before the process
//! starts, teardown when it ends or is removed, and prune.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::spec::NetworkMode;
use anyhow::{Context, Result, bail};
use pocky_net::{AttachRequest, Attachment, Networks, PortMapping};
use pocky_store::Store;
use serde::{Deserialize, Serialize};

use crate::request::RunRequest;

const FILE: &str = "network.json";

/// A container's network settings and, once attached, its attachment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetSettings {
    /// `bridge`, `none`, `host` or a user network.
    pub network: String,
    pub ip: Option<Ipv4Addr>,
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
    pub dns: Vec<IpAddr>,
    pub add_hosts: Vec<(String, IpAddr)>,
    pub attachment: Option<Attachment>,
    /// Networks joined after create (`network connect`), attached at
    /// every start after the first network.
    #[serde(default)]
    pub extra: Vec<ExtraNetwork>,
}

/// A network a container joined besides its first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraNetwork {
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
    /// Its interface number: `ethN`.
    pub interface: usize,
}

impl NetSettings {
    /// Whether the container gets a veth on a bridge.
    pub fn attaches(&self) -> bool {
        !matches!(self.network.as_str(), "none" | "host") && !self.network.starts_with("container:")
    }

    /// The namespace the spec asks for: any network but `host` is a new one.
    pub fn mode(&self) -> NetworkMode {
        if self.network == "host" {
            NetworkMode::Host
        } else {
            NetworkMode::None
        }
    }
}

/// The state directory of the networks under the store root.
pub fn networks(store: &Store) -> Networks {
    Networks::new(store.layout().root().join("networks"))
}

/// Parses the network flags of `run`; checks the network exists.
pub fn settings(store: &Store, args: &RunRequest, exposed: &[String]) -> Result<NetSettings> {
    let mut ports = args
        .publish
        .iter()
        .map(|p| PortMapping::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    if args.publish_all {
        for e in exposed {
            let m = PortMapping::parse(e).with_context(|| format!("exposed port {e}"))?;
            if !ports
                .iter()
                .any(|p| p.container_port == m.container_port && p.proto == m.proto)
            {
                ports.push(m);
            }
        }
    }
    let add_hosts = args
        .add_host
        .iter()
        .map(|h| {
            let (name, ip) = h
                .split_once(':')
                .or_else(|| h.split_once('='))
                .with_context(|| format!("--add-host {h:?}: expected NAME:IP"))?;
            let ip: IpAddr = ip
                .trim_matches(['[', ']'])
                .parse()
                .with_context(|| format!("--add-host {h:?}: bad address"))?;
            Ok((name.to_owned(), ip))
        })
        .collect::<Result<Vec<_>>>()?;
    let s = NetSettings {
        network: args.network.clone(),
        ip: args.ip,
        aliases: args.network_alias.clone(),
        ports,
        dns: args.dns.clone(),
        add_hosts,
        attachment: None,
        extra: Vec::new(),
    };
    let mut s = s;
    if let Some(target) = s.network.strip_prefix("container:") {
        // The joined container's network, and so its addresses, names
        // and resolver: nothing of this container's own may differ.
        let target = crate::state::find(store, target)?;
        if !s.dns.is_empty() || !s.add_hosts.is_empty() || args.hostname.is_some() {
            bail!(crate::invalid!(
                "conflicting options: --dns, --add-host and --hostname cannot be used with the container network mode"
            ));
        }
        s.network = format!("container:{}", target.id);
    }
    for e in &args.more_networks {
        let extra = crate::network_connect::joinable(store, &s, "the container", e)?;
        s.extra.push(extra);
    }
    if !s.attaches() && (!s.ports.is_empty() || s.ip.is_some() || !s.aliases.is_empty()) {
        bail!(crate::invalid!(
            "--publish, --ip and --network-alias need a bridge or user network, not {}",
            s.network
        ));
    }
    if s.attaches() && s.network != pocky_net::DEFAULT_NETWORK {
        networks(store).get(&s.network)?;
    }
    if s.network == pocky_net::DEFAULT_NETWORK && !s.aliases.is_empty() {
        bail!(crate::invalid!(
            "--network-alias needs a user network (the default bridge has no name resolution)"
        ));
    }
    if s.network == "host" && !s.dns.is_empty() {
        // Docker's refusal: the host's resolver is the container's.
        bail!(crate::invalid!(
            "conflicting options: dns and the network mode"
        ));
    }
    if s.network == pocky_net::DEFAULT_NETWORK && s.ip.is_some() {
        // Docker's rule: the default network's addresses are the engine's
        // to hand out; a fixed one belongs on a network made for it.
        bail!(crate::invalid!(
            "user specified IP address is supported on user defined networks only"
        ));
    }
    Ok(s)
}

/// `/etc/hosts` of a container with `address` (None without a network).
pub fn hosts(hostname: &str, address: Option<IpAddr>, s: &NetSettings) -> String {
    pocky_fs::rootfs::hosts_file(hostname, address, &s.add_hosts)
}

/// `/etc/resolv.conf`: `--dns` servers, else the host's.
pub fn resolv(s: &NetSettings) -> String {
    let host = pocky_fs::rootfs::host_resolv_conf();
    if s.dns.is_empty() {
        return pocky_fs::rootfs::resolv_conf(&host);
    }
    let mut out: String = s.dns.iter().map(|d| format!("nameserver {d}\n")).collect();
    for l in host.lines() {
        if l.starts_with("search ") || l.starts_with("options ") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Writes the network settings and the container's `/etc/hosts` and
/// `/etc/resolv.conf`: with `--network host` the host's own (its namespace,
/// its resolver stub included) plus `--add-host`; otherwise its own (its
/// address joins the hosts file once attached).
pub fn write_files(
    store: &Store,
    id: &str,
    dir: &Path,
    hostname: &str,
    s: &NetSettings,
) -> Result<()> {
    let joined = s
        .network
        .strip_prefix("container:")
        .map(|target| store.container_dir(target))
        .transpose()?;
    let (hosts, resolv) = if let Some(target) = joined {
        // Copied at create: the joined container's names, as Docker
        // shares them.
        let read = |f: &str| std::fs::read_to_string(target.join(f)).unwrap_or_default();
        (read("hosts"), read("resolv.conf"))
    } else if s.network == "host" {
        let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        for (name, ip) in &s.add_hosts {
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        (hosts, resolv)
    } else {
        (hosts(hostname, None, s), resolv(s))
    };
    pocky_store::write_derived(&dir.join("hosts"), hosts.as_bytes())?;
    pocky_store::write_derived(&dir.join("resolv.conf"), resolv.as_bytes())?;
    save(store, id, s)
}

fn path(store: &Store, id: &str) -> Result<PathBuf> {
    Ok(store.container_dir(id)?.join(FILE))
}

pub fn save(store: &Store, id: &str, s: &NetSettings) -> Result<()> {
    let json = serde_json::to_vec_pretty(s)?;
    pocky_store::write_derived(&path(store, id)?, &json)?;
    Ok(())
}

pub fn load(store: &Store, id: &str) -> Result<Option<NetSettings>> {
    match std::fs::read(path(store, id)?) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Attaches the container whose first process is `pid`, before it runs.
pub fn setup(
    store: &Store,
    dir: &Path,
    id: &str,
    name: &str,
    hostname: &str,
    pid: i32,
) -> Result<()> {
    let Some(mut s) = load(store, id)? else {
        return Ok(());
    };
    if !s.attaches() {
        return Ok(());
    }
    let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let first = Endpoint {
        network: &s.network,
        aliases: &s.aliases,
        ip: s.ip,
        interface: 0,
        ports: s.ports.clone(),
    };
    let att = attach(store, dir, id, name, hostname, &netns, &s, first)?;
    for x in &s.extra {
        let endpoint = Endpoint {
            network: &x.network,
            aliases: &x.aliases,
            ip: x.ip,
            interface: x.interface,
            ports: Vec::new(),
        };
        attach(store, dir, id, name, hostname, &netns, &s, endpoint)?;
    }
    s.attachment = Some(att);
    save(store, id, &s)
}

/// One network of a container, as attach wants it.
pub struct Endpoint<'a> {
    pub network: &'a str,
    pub aliases: &'a [String],
    pub ip: Option<Ipv4Addr>,
    pub interface: usize,
    pub ports: Vec<PortMapping>,
}

/// Attaches the namespace `netns` of container `id` to one network.
#[allow(clippy::too_many_arguments)]
pub fn attach(
    store: &Store,
    dir: &Path,
    id: &str,
    name: &str,
    hostname: &str,
    netns: &Path,
    s: &NetSettings,
    e: Endpoint<'_>,
) -> Result<Attachment> {
    let mut names = vec![name.to_owned(), id[..12].to_owned()];
    names.extend(e.aliases.iter().cloned());
    let render = |a: Ipv4Addr| hosts(hostname, Some(IpAddr::V4(a)), s);
    let req = AttachRequest {
        container_id: id,
        interface: e.interface,
        network: e.network,
        netns,
        ip: e.ip,
        names,
        ports: e.ports,
        hosts: Some((dir.join("hosts"), &render)),
    };
    let exists = |owner: &str| store.container_dir(owner).is_ok_and(|d| d.exists());
    networks(store)
        .attach(&req, &exists)
        .with_context(|| format!("attaching to network {}", e.network))
}

/// Detaches a container; safe to repeat, errors only logged (prune retries).
pub fn teardown(store: &Store, id: &str) {
    if let Err(e) = networks(store).detach(id) {
        crate::log::debug!("network teardown of {id}: {e}");
    }
}

/// Removes the leases, veths and rules of containers not in `live`.
pub fn prune(store: &Store, live: &HashSet<String>) -> Result<()> {
    networks(store).prune(live)?;
    Ok(())
}

/// The ports a container publishes now, for `port`, `ps` and inspect: its
/// lease's, which the network setup wrote when it made the rules. A
/// stopped container holds none (its rules and lease are gone), whatever
/// its settings asked for: Docker shows nothing then.
pub fn published_ports(
    store: &Store,
    rec: &pocky_store::ContainerRecord,
) -> Result<Vec<PortMapping>> {
    if rec.state.status != Some(pocky_store::Status::Running) {
        return Ok(Vec::new());
    }
    // pocky-net's lease is the one owner of a live attachment (the
    // settings' copy is what the last start wrote).
    Ok(networks(store)
        .attachment_of(&rec.id)?
        .map(|att| att.ports)
        .unwrap_or_default())
}

/// The `ExposedPorts` (`80/tcp`...) of the image with config `image_id`,
/// for `-P` and inspect.
pub fn exposed_ports(store: &Store, image_id: &str) -> Result<Vec<String>> {
    Ok(crate::image_config::read_id(store, image_id)?.exposed_ports)
}

/// The `before_start` hook of `launch`: attach the container's namespace.
pub fn before_start(
    store: &Store,
    created: &crate::create::Created,
    pid: pocky_ns::Pid,
) -> Result<(), pocky_runtime::RuntimeError> {
    let r = &created.record;
    setup(
        store,
        &created.dir,
        &r.id,
        &r.name,
        &r.hostname,
        pid.as_raw(),
    )
    .map_err(|e| {
        // The lease and links of a half-done attach go with the container.
        teardown(store, &r.id);
        pocky_runtime::RuntimeError::Config(format!("{e:#}"))
    })
}
