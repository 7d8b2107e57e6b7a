//! Container networking without shell-outs for links: bridges, veth pairs,
//! addresses and routes through netlink ([`netlink`]), address management
//! ([`ipam`]), the firewall as data ([`firewall`]) and the glue that
//! attaches and detaches containers ([`Networks`]).
//!
//! State lives in one directory given by the caller (pocky uses
//! `<root>/networks`): `<name>.json` per network, `<name>.leases.json` for
//! its leases, `.lock` serialising every change.
//!
//! Name resolution on user networks rewrites each member's bind-mounted
//! `/etc/hosts` in place as members come and go: no DNS server to run, and
//! busybox, musl and glibc all read the file on every lookup.

mod error;
mod files;
pub mod firewall;
mod firewall_lock;
mod fwgen;
pub mod ipam;
mod membership;
pub mod netlink;
mod network;
pub mod options;
mod plumbing;
pub mod pool;
pub mod ports;
pub mod rules;
mod setup;
pub mod subnet;
pub mod subnet6;

pub use error::NetError;
pub use membership::{interface_name, veth_name};
pub use network::{DEFAULT_BRIDGE, DEFAULT_NETWORK, Network, Networks};
pub use options::{BridgeOptions, Ipv6Config, NetworkFlags, NetworkSpec};
pub use ports::{PortMapping, Proto};
pub use setup::{AttachRequest, Attachment, CONTAINER_IF, host_veth};
pub use subnet::Subnet;
pub use subnet6::Subnet6;
