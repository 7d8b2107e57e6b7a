//! `pocky network create|ls|rm|inspect` and `pocky port`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use pocky_engine::store::Store;

use pocky_engine::netsetup;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network: its own bridge and subnet.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Remove networks; refused while a container is attached.
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Show networks and their containers as JSON.
    Inspect(NamesArgs),
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
    /// Subnet in CIDR form, e.g. 10.90.0.0/24 (default: a free /16).
    #[arg(long)]
    pub subnet: Option<String>,
    /// Driver: only `bridge`.
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// name=TEXT, id=PREFIX, driver=bridge, type=custom|builtin, label=.
    #[arg(short, long)]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
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
            let id = pocky_engine::networks::create(
                &store,
                &a.name,
                &a.driver,
                a.subnet.as_deref(),
                &Default::default(),
            )?;
            println!("{id}");
        }
        NetworkCommand::Ls(a) => {
            let listed = pocky_engine::networks::list(&store, &a.filter)?;
            if a.quiet {
                for n in &listed {
                    println!("{}", &n.id[..12]);
                }
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<14}{:<20}{:<10}{:<18}BRIDGE",
                "NETWORK ID", "NAME", "DRIVER", "SUBNET"
            );
            for n in &listed {
                println!(
                    "{:<14}{:<20}{:<10}{:<18}{}",
                    &n.id[..12],
                    n.name,
                    "bridge",
                    n.subnet.to_string(),
                    n.bridge
                );
            }
        }
        NetworkCommand::Rm(a) => {
            let mut failed = false;
            for name in &a.names {
                match pocky_engine::networks::remove(&store, name) {
                    Ok(()) => println!("{name}"),
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
            let mut out = Vec::new();
            for name in &a.names {
                let n = nets.get(name)?;
                out.push(pocky_engine::networks::document(&store, &nets, &n)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCommand::Connect(a) => {
            pocky_engine::network_connect::connect(
                &store,
                &a.network,
                &a.container,
                &a.alias,
                a.ip,
            )?;
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
