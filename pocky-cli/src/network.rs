//! `pocky network create|ls|rm|inspect` and `pocky port`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use pocky_engine::store::Store;

use pocky_engine::netsetup;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Create a network: its own bridge and subnet.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Remove networks; refused while a container is attached.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Show networks and their containers as JSON.
    Inspect(InspectArgs),
    /// Connect a container to one more network (as ethN, at once if it runs).
    Connect(ConnectArgs),
    /// Disconnect a container from a network it was connected to.
    Disconnect(DisconnectArgs),
    /// Remove the user networks no container uses.
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// A name the container answers to on this network.
    #[arg(long)]
    pub alias: Vec<String>,
    /// Its IPv4 address on this (user) network.
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Its IPv6 address on this (user, --ipv6) network.
    #[arg(long)]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// Link to another container on this (user) network: NAME[:ALIAS].
    #[arg(long, value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// Refused: the bridge driver takes no endpoint options.
    #[arg(long, value_name = "OPT")]
    pub driver_opt: Vec<String>,
    /// Refused: a container's first network gives its default gateway.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub gw_priority: Option<i64>,
    /// Refused: pocky adds no link-local addresses besides the kernel's.
    #[arg(long, value_name = "ADDR")]
    pub link_local_ip: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Accepted for Docker's command line; disconnecting never waits.
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask (pocky never asks).
    #[arg(short, long)]
    pub force: bool,
    /// Only what matches: until=TIME, label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subnet in CIDR form, one IPv4 and (with --ipv6) one IPv6, e.g.
    /// 10.90.0.0/24 (default: a free one of Docker's pools).
    #[arg(long)]
    pub subnet: Vec<String>,
    /// The bridge's address in a subnet (default: its first host).
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Lease dynamic addresses from this part of a subnet only.
    #[arg(long)]
    pub ip_range: Vec<String>,
    /// An address the network never leases: NAME=IP.
    #[arg(long, value_name = "NAME=IP")]
    pub aux_address: Vec<String>,
    /// Dual-stack: IPv6 addresses, routes and NAT besides IPv4's.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          require_equals = true, action = clap::ArgAction::Set, default_value_t = false)]
    pub ipv6: bool,
    /// IPv4 on the network; pocky refuses false (IPv6-only networks).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ipv4: bool,
    /// No outside access: no NAT, no route out; members reach each other.
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on the network (KEY=VALUE).
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Bridge driver option: com.docker.network.bridge.name,
    /// com.docker.network.driver.mtu, com.docker.network.bridge.enable_icc,
    /// com.docker.network.bridge.enable_ip_masquerade.
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Driver: only `bridge`.
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// IP address management driver: only `default`.
    #[arg(long, default_value = "default")]
    pub ipam_driver: String,
    /// IPAM driver options: refused (the default driver takes none).
    #[arg(long, value_name = "KEY=VALUE")]
    pub ipam_opt: Vec<String>,
    pub name: String,
}

impl CreateArgs {
    fn flags(&self) -> Result<pocky_engine::networks::NetworkFlags> {
        if self.ipam_driver != "default" {
            bail!(
                "IPAM driver {:?} is not supported: only default",
                self.ipam_driver
            );
        }
        if !self.ipam_opt.is_empty() {
            bail!("--ipam-opt is not supported: the default IPAM driver takes no options");
        }
        if !self.ipv4 {
            bail!("--ipv4=false is not supported: pocky's networks always have IPv4");
        }
        let mut labels = std::collections::BTreeMap::new();
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            if k.is_empty() {
                bail!("invalid label {l:?}");
            }
            labels.insert(k.to_owned(), v.to_owned());
        }
        Ok(pocky_engine::networks::NetworkFlags {
            subnets: self.subnet.clone(),
            gateways: self.gateway.clone(),
            ip_ranges: self.ip_range.clone(),
            aux_addresses: self.aux_address.clone(),
            ipv6: self.ipv6,
            internal: self.internal,
            options: pocky_engine::networks::parse_opts(&self.opt)?,
            labels,
        })
    }
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// name=TEXT, id=PREFIX, driver=bridge, type=custom|builtin, label=.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// `table`, `json`, or a Go template (`{{.Name}}`, `table {{.ID}}\t{{.Name}}`).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Show full network ids.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not fail on networks that do not exist.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A Go template for each network (`{{.IPAM.Config}}`).
    #[arg(short, long)]
    pub format: Option<String>,
    /// Not supported: the verbose view shows swarm services, which pocky
    /// has none of.
    #[arg(short, long)]
    pub verbose: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// Only this container port, e.g. 80 or 80/udp.
    pub port: Option<String>,
}

pub fn run(root: &Path, cmd: &NetworkCommand) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let nets = netsetup::networks(&store);
    match cmd {
        NetworkCommand::Create(a) => {
            let id = pocky_engine::networks::create(&store, &a.name, &a.driver, &a.flags()?)?;
            println!("{id}");
        }
        NetworkCommand::Ls(a) => {
            let listed = pocky_engine::networks::list(&store, &a.filter)?;
            let id = |n: &pocky_engine::networks::Network| match a.no_trunc {
                true => n.id.clone(),
                false => n.id.chars().take(12).collect(),
            };
            if a.quiet {
                for n in &listed {
                    println!("{}", id(n));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<serde_json::Value> = listed
                .iter()
                .map(|n| {
                    serde_json::json!({
                        "ID": id(n), "Name": n.name, "Driver": "bridge", "Scope": "local",
                        "IPv6": false, "Internal": false, "Subnet": n.subnet.to_string(),
                        "Bridge": n.bridge,
                        "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                        "CreatedAt": n.created.to_string(),
                    })
                })
                .collect();
            let titles = [
                ("ID", "NETWORK ID"),
                ("Name", "NAME"),
                ("Driver", "DRIVER"),
                ("Scope", "SCOPE"),
                ("Subnet", "SUBNET"),
                ("Bridge", "BRIDGE"),
            ];
            let table = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Subnet}}\t{{.Bridge}}";
            print!(
                "{}",
                crate::template::rows(&a.format, table, &titles, &rows)?
            );
        }
        NetworkCommand::Rm(a) => {
            let mut failed = false;
            for name in &a.names {
                match pocky_engine::networks::remove(&store, name) {
                    Ok(()) => println!("{name}"),
                    Err(e) if a.force && e.kind() == pocky_engine::Kind::NotFound => {}
                    Err(e) => {
                        eprintln!("pocky: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
        NetworkCommand::Inspect(a) => {
            if a.verbose {
                anyhow::bail!(
                    "--verbose is not supported by pocky: it shows swarm services, which pocky has none of"
                );
            }
            let mut out = Vec::new();
            for name in &a.names {
                let n = nets.get(name)?;
                out.push(pocky_engine::networks::document(&store, &nets, &n)?);
            }
            return crate::template::print_inspect(a.format.as_deref(), out);
        }
        NetworkCommand::Connect(a) => {
            if !a.driver_opt.is_empty() {
                bail!("--driver-opt is not supported: the bridge driver takes no endpoint options");
            }
            if a.gw_priority.is_some() {
                bail!(
                    "--gw-priority is not supported: a container's first network gives its default gateway"
                );
            }
            if !a.link_local_ip.is_empty() {
                bail!("--link-local-ip is not supported");
            }
            let wanted = pocky_engine::request::Endpoint {
                network: a.network.clone(),
                aliases: a.alias.clone(),
                ip: a.ip,
                ip6: a.ip6,
                links: a.link.clone(),
            };
            pocky_engine::network_connect::connect(&store, &a.container, &wanted)?;
        }
        NetworkCommand::Disconnect(a) => {
            pocky_engine::network_connect::disconnect(&store, &a.network, &a.container)?;
        }
        NetworkCommand::Prune(a) => {
            let deleted = pocky_engine::networks::prune(&store, &a.filter)?;
            if !deleted.is_empty() {
                println!("Deleted Networks:\n{}", deleted.join("\n"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `pocky port CONTAINER [PORT]`: the published ports, as Docker prints them.
pub fn port(root: &Path, a: &PortArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let rec = pocky_engine::state::find(&store, &a.container)?;
    let ports = netsetup::published_ports(&store, &rec)?;
    let want = a.port.as_deref().map(|p| match p.split_once('/') {
        Some((n, proto)) => (n.to_owned(), proto.to_owned()),
        None => (p.to_owned(), "tcp".to_owned()),
    });
    let mut shown = false;
    for p in &ports {
        let host = format!(
            "{}:{}",
            p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            p.host_port
        );
        match &want {
            Some((n, proto)) => {
                if *n == p.container_port.to_string() && proto == p.proto.as_str() {
                    println!("{host}");
                    shown = true;
                }
            }
            None => {
                println!("{}/{} -> {host}", p.container_port, p.proto.as_str());
                shown = true;
            }
        }
    }
    if !shown && want.is_some() {
        bail!(
            "no public port {} published for {}",
            a.port.as_deref().unwrap_or(""),
            rec.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The PORTS column of `ps`.
pub fn ports_column(store: &Store, rec: &pocky_engine::store::ContainerRecord) -> String {
    netsetup::published_ports(store, rec)
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
