//! Container networking without shell-outs: bridge, veth, addresses and
//! routes through netlink, address management, and the firewall.
//!
//! Each concern sits behind its own narrow trait so it can be tested and
//! replaced alone. The implementation arrives with the networking issue.

use std::net::Ipv4Addr;

/// Errors of network setup and teardown.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("subnet {subnet} has no free address")]
    Exhausted { subnet: String },
}

/// Links, addresses and routes.
pub trait Netlink {
    /// Creates the bridge if it does not exist, with `gateway/prefix` on it, up.
    fn ensure_bridge(&self, name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<(), NetError>;
    /// Deletes a link by name; absent links are not an error.
    fn delete_link(&self, name: &str) -> Result<(), NetError>;
}

/// Address management for one network.
pub trait Ipam {
    /// Leases a free address to `owner`.
    fn allocate(&self, owner: &str) -> Result<Ipv4Addr, NetError>;
    /// Returns `owner`'s lease, if any.
    fn release(&self, owner: &str) -> Result<(), NetError>;
}

/// NAT and filtering rules, applied idempotently in pocky's own chains.
pub trait Firewall {
    /// Installs the rules of a network.
    fn setup_network(&self, bridge: &str, subnet: &str) -> Result<(), NetError>;
    /// Removes exactly the rules `setup_network` installed.
    fn teardown_network(&self, bridge: &str, subnet: &str) -> Result<(), NetError>;
}
