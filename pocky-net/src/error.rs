//! The one error type of pocky-net.

use std::path::PathBuf;

/// Errors of network setup, address management and teardown.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("subnet {subnet} has no free address")]
    Exhausted { subnet: String },
    #[error("address {addr} is not free in {subnet}")]
    AddressTaken { addr: String, subnet: String },
    #[error("address {addr} is outside {subnet} or reserved")]
    AddressOutside { addr: String, subnet: String },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "invalid subnet {0:?}: expected a.b.c.d/len with 8 <= len <= 30, or an IPv6 x::/len with 16 <= len <= 124"
    )]
    BadSubnet(String),
    #[error("invalid port mapping {spec:?}: {why}")]
    BadPort { spec: String, why: String },
    #[error("no free subnet for a new network: every candidate overlaps a route or a network")]
    NoFreeSubnet,
    #[error("subnet {0} overlaps an existing network or route")]
    SubnetOverlaps(String),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("network {0} already exists")]
    NetworkExists(String),
    #[error("invalid network name {0:?}")]
    BadName(String),
    #[error("network {name} is in use by {users} container(s)")]
    InUse { name: String, users: usize },
    #[error("Bind for {addr}:{port}/{proto} failed: port is already allocated")]
    PortAllocated {
        addr: String,
        port: u16,
        proto: &'static str,
    },
    #[error("no free host port")]
    NoFreePort,
    #[error(
        "interface {0} is not one a container can have (1-15 for a later network, and no published ports there)"
    )]
    BadInterface(usize),
    #[error("netlink {op} {what}: {source}")]
    Netlink {
        op: &'static str,
        what: String,
        source: std::io::Error,
    },
    #[error("netlink {op} {what}: malformed reply: {why}")]
    NetlinkDecode {
        op: &'static str,
        what: String,
        why: String,
    },
    #[error("link {0} not found")]
    NoSuchLink(String),
    #[error("{link} of the container does not hold its address {address} after set-up")]
    AddressMissing {
        link: String,
        address: std::net::IpAddr,
    },
    #[error("entering the network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{cmd} {table} {chain} {rule:?}: {why}")]
    Iptables {
        cmd: &'static str,
        table: String,
        chain: String,
        rule: String,
        why: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} errors: {}", .0.len(), join(.0))]
    Many(Vec<NetError>),
}

fn join(errors: &[NetError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl NetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Folds the errors a best-effort teardown collected into one result.
    pub fn collect(mut errors: Vec<NetError>) -> Result<(), NetError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(NetError::Many(errors)),
        }
    }
}
