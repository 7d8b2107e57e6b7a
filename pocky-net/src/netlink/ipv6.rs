//! IPv6 through the same socket: addresses (without duplicate address
//! detection), the default route, and the host's routes that a generated
//! subnet must avoid.

use std::net::{IpAddr, Ipv6Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::route::RouteAddress;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::Netlink;
use crate::NetError;
use crate::subnet6::Subnet6;

impl Netlink {
    /// Adds `addr/prefix` to a link, usable at once: duplicate address
    /// detection would hold it tentative for a second or more (pocky
    /// hands out the addresses, so no one else holds it). An address
    /// already there is fine.
    pub fn add_address6(
        &mut self,
        index: u32,
        addr: Ipv6Addr,
        prefix: u8,
        name: &str,
    ) -> Result<(), NetError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V6(addr)));
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        match self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "add address",
            &format!("{addr}/{prefix} to {name}"),
        ) {
            Err(NetError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// The IPv6 addresses on the link with `index`.
    pub fn addresses6(&mut self, index: u32, name: &str) -> Result<Vec<Ipv6Addr>, NetError> {
        let all = self.link_addresses(index, name, AddressFamily::Inet6, |attr| match attr {
            AddressAttribute::Address(a) => Some(*a),
            _ => None,
        })?;
        Ok(all
            .into_iter()
            .filter_map(|a| match a {
                IpAddr::V6(v) => Some(v),
                IpAddr::V4(_) => None,
            })
            .collect())
    }

    /// Adds the IPv6 default route via `gateway` on the link `index`.
    pub fn add_default_route6(&mut self, gateway: Ipv6Addr, index: u32) -> Result<(), NetError> {
        self.add_default_route_via(
            RouteAddress::Inet6(gateway),
            Some(index),
            &gateway.to_string(),
        )
    }

    /// The IPv6 destinations of the main table (default route, link-local
    /// and multicast aside): what a generated subnet must not overlap.
    pub fn routed_subnets6(&mut self) -> Result<Vec<Subnet6>, NetError> {
        let routes = self.main_table_destinations(AddressFamily::Inet6, "IPv6 routes")?;
        Ok(routes
            .into_iter()
            .filter_map(|(d, len)| match d {
                RouteAddress::Inet6(d) if !d.is_unicast_link_local() && !d.is_multicast() => {
                    Subnet6::new(d, len.clamp(16, 124)).ok()
                }
                _ => None,
            })
            .collect())
    }
}
