//! Per-link settings the bridge driver's options ask for: the MTU and a
//! bridge port's isolation (`enable_icc=false`).

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoBridgePort, InfoPortData, InfoPortKind, LinkAttribute, LinkInfo, LinkMessage,
};

use super::Netlink;
use crate::NetError;

impl Netlink {
    /// Sets a link's MTU.
    pub fn set_mtu(&mut self, index: u32, mtu: u32, name: &str) -> Result<(), NetError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        self.ack(RouteNetlinkMessage::SetLink(msg), 0, "set mtu of", name)
    }

    /// Makes a bridge port isolated: it exchanges frames with the bridge
    /// itself (the gateway, the host) and with ports that are not
    /// isolated, never with another isolated port. That is Docker's
    /// `enable_icc=false` without br_netfilter and iptables DROP rules.
    pub fn set_isolated(&mut self, index: u32, name: &str) -> Result<(), NetError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::Isolated(
                true,
            )])),
        ]));
        // As for hairpin: RTM_NEWLINK on the existing link carries port data.
        self.ack(RouteNetlinkMessage::NewLink(msg), 0, "isolate port", name)
    }
}
