//! The glue between `pocky run` and pocky-net: the network settings a
//! container asked for (kept as `network.json` in its directory, with the
//! attachment once it has one), setup from the owner before the process
//! starts, teardown when it ends or is removed, and prune.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::spec::NetworkMode;
use anyhow::{Context, Result, bail};
use pocky_net::{AttachRequest, Attachment, Networks, PortMapping};
use pocky_store::Store;
use serde::{Deserialize, Serialize};

use crate::net_flags::{self, Link};
use crate::request::RunRequest;

const FILE: &str = "network.json";

/// A container's network settings and, once attached, its attachment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetSettings {
    /// `bridge`, `none`, `host` or a user network.
    pub network: String,
    pub ip: Option<Ipv4Addr>,
    /// `--ip6`, on a network with IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
    pub dns: Vec<IpAddr>,
    pub add_hosts: Vec<(String, IpAddr)>,
    pub attachment: Option<Attachment>,
    /// Networks joined after create (`network connect`), attached at
    /// every start after the first network.
    #[serde(default)]
    pub extra: Vec<ExtraNetwork>,
    /// `--mac-address` of the first interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// `--dns-search` and `--dns-option`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// `--expose`d ports (`80/tcp`), besides the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// `--link`s, on the first network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

/// A network a container joined besides its first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraNetwork {
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    /// `--link`s on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
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
    let root = store.layout().root();
    let bridge = match root == std::path::Path::new(crate::DEFAULT_ROOT) {
        true => pocky_net::DEFAULT_BRIDGE.to_owned(),
        false => {
            use sha2::Digest;
            let hash = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
            format!(
                "{}-{:02x}{:02x}{:02x}",
                pocky_net::DEFAULT_BRIDGE,
                hash[0],
                hash[1],
                hash[2]
            )
        }
    };
    Networks::new(root.join("networks")).with_default_bridge(bridge)
}

/// Parses the network flags of `run`; checks the network exists.
pub fn settings(store: &Store, args: &RunRequest, exposed: &[String]) -> Result<NetSettings> {
    let mut expose = Vec::new();
    for e in &args.expose {
        for p in net_flags::expand_expose(e)? {
            if !expose.contains(&p) {
                expose.push(p);
            }
        }
    }
    let exposed: Vec<String> = exposed.iter().chain(&expose).cloned().collect();
    let mut ports = args
        .publish
        .iter()
        .map(|p| PortMapping::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    if args.publish_all {
        for e in &exposed {
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
    for d in &args.dns_search {
        net_flags::check_dns_search(d)?;
    }
    for o in &args.dns_option {
        net_flags::check_dns_option(o)?;
    }
    let mac = args
        .mac_address
        .as_deref()
        .map(net_flags::parse_mac)
        .transpose()?;
    let links = args
        .link
        .iter()
        .map(|l| net_flags::resolve_link(store, l))
        .collect::<Result<Vec<_>>>()?;
    let s = NetSettings {
        network: args.network.clone(),
        ip: args.ip,
        ip6: args.ip6,
        aliases: args.network_alias.clone(),
        ports,
        dns: args.dns.clone(),
        add_hosts,
        attachment: None,
        extra: Vec::new(),
        mac: mac.as_ref().map(net_flags::format_mac),
        dns_search: args.dns_search.clone(),
        dns_options: args.dns_option.clone(),
        expose,
        links,
    };
    let mut s = s;
    if let Some(target) = s.network.strip_prefix("container:") {
        // The joined container's network, and so its addresses, names
        // and resolver: nothing of this container's own may differ.
        let target = crate::state::find(store, target)?;
        if !s.dns.is_empty()
            || !s.add_hosts.is_empty()
            || args.hostname.is_some()
            || !s.dns_search.is_empty()
            || !s.dns_options.is_empty()
        {
            bail!(crate::invalid!(
                "conflicting options: --dns, --dns-search, --dns-option, --add-host and --hostname cannot be used with the container network mode"
            ));
        }
        s.network = format!("container:{}", target.id);
    }
    for e in &args.more_networks {
        let extra = crate::network_connect::joinable(store, &s, "the container", e)?;
        s.extra.push(extra);
    }
    if !s.attaches() && (s.mac.is_some() || !s.links.is_empty()) {
        // Docker's refusals for these with the host's network or none.
        bail!(crate::invalid!(
            "conflicting options: --mac-address and --link need a bridge or user network, not {}",
            s.network
        ));
    }
    if !s.attaches() && s.ip6.is_some() {
        bail!(crate::invalid!(
            "--ip6 needs a user network made with --ipv6, not {}",
            s.network
        ));
    }
    if !s.attaches() && (!s.ports.is_empty() || s.ip.is_some() || !s.aliases.is_empty()) {
        bail!(crate::invalid!(
            "--publish, --ip and --network-alias need a bridge or user network, not {}",
            s.network
        ));
    }
    if s.attaches() && s.network != pocky_net::DEFAULT_NETWORK {
        let net = networks(store).get(&s.network)?;
        if s.ip6.is_some() && net.ipv6.is_none() {
            bail!(crate::invalid!(
                "network {} has no IPv6: --ip6 needs a network made with --ipv6",
                net.name
            ));
        }
        if net.internal && !s.ports.is_empty() {
            bail!(crate::invalid!(
                "network {} is internal: it has no outside access to publish ports on",
                net.name
            ));
        }
    }
    if s.network == pocky_net::DEFAULT_NETWORK && !s.aliases.is_empty() {
        bail!(crate::invalid!(
            "--network-alias needs a user network (the default bridge has no name resolution)"
        ));
    }
    if s.network == "host"
        && !(s.dns.is_empty() && s.dns_search.is_empty() && s.dns_options.is_empty())
    {
        // Docker's refusal: the host's resolver is the container's.
        bail!(crate::invalid!(
            "conflicting options: dns and the network mode"
        ));
    }
    if s.network == pocky_net::DEFAULT_NETWORK && (s.ip.is_some() || s.ip6.is_some()) {
        // Docker's rule: the default network's addresses are the engine's
        // to hand out; a fixed one belongs on a network made for it.
        bail!(crate::invalid!(
            "user specified IP address is supported on user defined networks only"
        ));
    }
    crate::rootless::check_network(s.attaches(), &s.ports)?;
    Ok(s)
}

/// `/etc/hosts` of a container with `address` (None without a network).
pub fn hosts(hostname: &str, address: Option<IpAddr>, s: &NetSettings) -> String {
    pocky_fs::rootfs::hosts_file(hostname, address, &s.add_hosts)
}

/// `/etc/resolv.conf`: `--dns` servers, else the host's; the host's
/// search list and options unless `--dns-search` or `--dns-option` give
/// others, as Docker writes it.
pub fn resolv(s: &NetSettings) -> String {
    let host = pocky_fs::rootfs::host_resolv_conf();
    let base = if s.dns.is_empty() {
        pocky_fs::rootfs::resolv_conf(&host)
    } else {
        let mut out: String = s.dns.iter().map(|d| format!("nameserver {d}\n")).collect();
        for l in host.lines() {
            if l.starts_with("search ") || l.starts_with("options ") {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    };
    resolv_with(&base, &s.dns_search, &s.dns_options)
}

/// `base` with its search list (`search`, `domain`) and its `options`
/// replaced by the flags' when given; `--dns-search .` leaves none.
fn resolv_with(base: &str, search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    for l in base.lines() {
        let word = l.split_whitespace().next().unwrap_or_default();
        let replaced = match word {
            "search" | "domain" => !search.is_empty(),
            "options" => !options.is_empty(),
            _ => false,
        };
        if !replaced {
            out.push_str(l);
            out.push('\n');
        }
    }
    let search: Vec<&str> = search
        .iter()
        .map(String::as_str)
        .filter(|d| *d != ".")
        .collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
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

/// Attaches the container whose network namespace is `netns`, before it
/// runs. `ports`, when given, replace the settings' published ports
/// (rootless: the ones bound on the host already).
pub fn setup(
    store: &Store,
    dir: &Path,
    id: &str,
    name: &str,
    hostname: &str,
    netns: &Path,
    ports: Option<Vec<PortMapping>>,
) -> Result<()> {
    let Some(mut s) = load(store, id)? else {
        return Ok(());
    };
    if !s.attaches() {
        return Ok(());
    }
    if s.network == pocky_net::DEFAULT_NETWORK {
        check_legacy_links(store, name, &s.links)?;
    }
    let first = Endpoint {
        network: &s.network,
        aliases: &s.aliases,
        ip: s.ip,
        ip6: s.ip6,
        interface: 0,
        ports: ports.unwrap_or_else(|| s.ports.clone()),
        mac: s.mac.as_deref().map(net_flags::parse_mac).transpose()?,
        links: s.links.clone(),
    };
    let att = attach(store, dir, id, name, hostname, netns, &s, first)?;
    for x in &s.extra {
        let endpoint = Endpoint {
            network: &x.network,
            aliases: &x.aliases,
            ip: x.ip,
            ip6: x.ip6,
            interface: x.interface,
            ports: Vec::new(),
            mac: None,
            links: x.links.clone(),
        };
        attach(store, dir, id, name, hostname, netns, &s, endpoint)?;
    }
    s.attachment = Some(att);
    save(store, id, &s)
}

/// Docker's rule for links on the default network: the linked container
/// runs there, so its address can go in this one's hosts file.
fn check_legacy_links(store: &Store, name: &str, links: &[Link]) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let leases = networks(store).leases(pocky_net::DEFAULT_NETWORK)?;
    for l in links {
        if !leases.leases.contains_key(&l.container) {
            let target = crate::state::find(store, &l.container)
                .map(|r| r.name)
                .unwrap_or_else(|_| l.container.chars().take(12).collect());
            bail!(crate::invalid!(
                "Cannot link to a non running container: /{target} AS /{name}/{}",
                l.alias
            ));
        }
    }
    Ok(())
}

/// One network of a container, as attach wants it.
pub struct Endpoint<'a> {
    pub network: &'a str,
    pub aliases: &'a [String],
    pub ip: Option<Ipv4Addr>,
    pub ip6: Option<Ipv6Addr>,
    pub interface: usize,
    pub ports: Vec<PortMapping>,
    pub mac: Option<[u8; 6]>,
    pub links: Vec<Link>,
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
    let render = |a: Ipv4Addr, a6: Option<Ipv6Addr>| {
        let mut text = hosts(hostname, Some(IpAddr::V4(a)), s);
        if let Some(a6) = a6 {
            // The file's last line names the container at its address.
            let own = hosts(hostname, Some(IpAddr::V6(a6)), &NetSettings::default());
            text.push_str(own.lines().last().unwrap_or_default());
            text.push('\n');
        }
        text
    };
    let req = AttachRequest {
        container_id: id,
        interface: e.interface,
        network: e.network,
        netns,
        ip: e.ip,
        ip6: e.ip6,
        mac: e.mac,
        names,
        links: e
            .links
            .iter()
            .map(|l| (l.container.clone(), l.alias.clone()))
            .collect(),
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
    if let Err(e) = crate::rootless::in_netns(|| Ok(networks(store).detach(id)?)) {
        crate::log::debug!("network teardown of {id}: {e}");
    }
}

/// Removes the leases, veths and rules of containers not in `live`.
pub fn prune(store: &Store, live: &HashSet<String>) -> Result<()> {
    crate::rootless::in_netns(|| Ok(networks(store).prune(live)?))
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

/// [`setup`] for a rootless container: its published ports are bound
/// here, on the host, the attach runs in the user's network namespace,
/// and a relay carries the ports' traffic to the container.
fn setup_rootless(
    store: &Store,
    created: &crate::create::Created,
    pid: i32,
    netns: &Path,
    session: &crate::rootless::Session,
) -> Result<()> {
    let r = &created.record;
    let Some(s) = load(store, &r.id)?.filter(NetSettings::attaches) else {
        return Ok(());
    };
    let (ports, listeners) = crate::rootless::bind_ports(&s.ports)?;
    crate::rootless::in_netns(|| {
        setup(
            store,
            &created.dir,
            &r.id,
            &r.name,
            &r.hostname,
            netns,
            Some(ports),
        )
    })?;
    if listeners.is_empty() {
        return Ok(());
    }
    let att = load(store, &r.id)?
        .and_then(|s| s.attachment)
        .context("the container's attachment after the network setup")?;
    let forwards = listeners
        .into_iter()
        .zip(&att.ports)
        .map(|(l, p)| {
            (
                l,
                std::net::SocketAddrV4::new(att.address, p.container_port),
            )
        })
        .collect();
    pocky_rootless::relay::spawn(pid, &session.netns_path(), forwards)?;
    Ok(())
}

/// The `before_start` hook of `launch`: attach the container's namespace.
pub fn before_start(
    store: &Store,
    created: &crate::create::Created,
    pid: pocky_ns::Pid,
    netns: &Path,
) -> Result<(), pocky_runtime::RuntimeError> {
    let r = &created.record;
    let result = match crate::rootless::session() {
        None => setup(
            store,
            &created.dir,
            &r.id,
            &r.name,
            &r.hostname,
            netns,
            None,
        ),
        Some(session) => setup_rootless(store, created, pid.as_raw(), netns, session),
    };
    result.map_err(|e| {
        // The lease and links of a half-done attach go with the container.
        teardown(store, &r.id);
        pocky_runtime::RuntimeError::Config(format!("{e:#}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_search_and_options_replace_the_hosts() {
        let base =
            "nameserver 192.0.2.53\nsearch corp.example\ndomain corp.example\noptions ndots:1\n";
        assert_eq!(resolv_with(base, &[], &[]), base);
        assert_eq!(
            resolv_with(
                base,
                &["a.example".into(), "b.example".into()],
                &["ndots:3".into(), "rotate".into()]
            ),
            "nameserver 192.0.2.53\nsearch a.example b.example\noptions ndots:3 rotate\n"
        );
        assert_eq!(
            resolv_with(base, &[".".into()], &[]),
            "nameserver 192.0.2.53\noptions ndots:1\n",
            "`.` clears the search list"
        );
    }
}
