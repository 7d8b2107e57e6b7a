//! Routes of either family: the default route a container gets, and the
//! main table's destinations that a new network's subnet must avoid.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::Netlink;
use crate::NetError;

impl Netlink {
    /// Adds the default route of `gateway`'s family via `gateway`, out of
    /// the link `oif` when given.
    pub(crate) fn add_default_route_via(
        &mut self,
        gateway: RouteAddress,
        oif: Option<u32>,
        shown: &str,
    ) -> Result<(), NetError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = match gateway {
            RouteAddress::Inet6(_) => AddressFamily::Inet6,
            _ => AddressFamily::Inet,
        };
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Static;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(gateway));
        if let Some(index) = oif {
            msg.attributes.push(RouteAttribute::Oif(index));
        }
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "add route",
            &format!("default via {shown}"),
        )
    }

    /// Each destination of the main table in `family` with its prefix
    /// length, the default route aside.
    pub(crate) fn main_table_destinations(
        &mut self,
        family: AddressFamily,
        what: &str,
    ) -> Result<Vec<(RouteAddress, u8)>, NetError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family;
        let replies = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP, "dump", what)?;
        let mut out = Vec::new();
        for m in replies {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            let len = r.header.destination_prefix_length;
            if r.header.table != RouteHeader::RT_TABLE_MAIN || len == 0 {
                continue;
            }
            for a in r.attributes {
                if let RouteAttribute::Destination(d) = a {
                    out.push((d, len));
                }
            }
        }
        Ok(out)
    }
}
