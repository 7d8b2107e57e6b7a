//! A small blocking netlink client on `netlink-packet-route`, as netavark
//! has: one request, its replies, typed helpers. pocky runs one short
//! command per container, so an async runtime (rtnetlink's tokio) would
//! cost more to start than the few requests it would carry.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::RouteAddress;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::NetError;
use crate::subnet::Subnet;

mod ipv6;
mod link_opts;
mod routes;

/// Settings of a veth pair beyond its names.
#[derive(Debug, Clone, Copy, Default)]
pub struct VethOptions {
    /// Of both ends (the network's `com.docker.network.driver.mtu`).
    pub mtu: Option<u32>,
    /// The container end's hardware address (`--mac-address`).
    pub peer_mac: Option<[u8; 6]>,
}

/// A route-netlink socket bound to one network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// A link as a dump reports it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    /// Index of the bridge it is a port of.
    pub controller: Option<u32>,
    /// Hardware address as `ip link` prints it (`02:42:0a:58:00:02`).
    pub mac: Option<String>,
}

fn io_err(op: &'static str, what: &str, source: std::io::Error) -> NetError {
    NetError::Netlink {
        op,
        what: what.to_owned(),
        source,
    }
}

impl Netlink {
    /// A socket in the caller's network namespace.
    pub fn open() -> Result<Self, NetError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| io_err("socket", "route", e))?;
        socket.bind_auto().map_err(|e| io_err("bind", "route", e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| io_err("connect", "route", e))?;
        Ok(Self { socket, seq: 0 })
    }

    /// A socket in the network namespace `ns` (e.g. `/proc/<pid>/ns/net`).
    /// A socket keeps the namespace it was made in, so a short-lived thread
    /// enters the namespace, makes it, and ends: the caller's threads never
    /// change namespace.
    pub fn open_in(ns: BorrowedFd<'_>, path: &Path) -> Result<Self, NetError> {
        let fd = ns.as_raw_fd();
        let path = path.to_path_buf();
        let joined = std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: `fd` stays open for the whole scope (borrowed from the
                // caller); the thread that switches namespace ends right after.
                let ns = unsafe { BorrowedFd::borrow_raw(fd) };
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    NetError::Netns {
                        path: path.clone(),
                        source: e.into(),
                    }
                })?;
                Netlink::open()
            })
            .join()
        });
        joined.unwrap_or_else(|_| {
            Err(NetError::Netns {
                path,
                source: std::io::Error::other("netns thread panicked"),
            })
        })
    }

    /// Sends one request and collects the replies until the ack or the end
    /// of a dump.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &'static str,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, NetError> {
        let mut req = NetlinkMessage::from(msg);
        self.seq = self.seq.wrapping_add(1);
        req.header.flags = NLM_F_REQUEST | flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(|e| io_err(op, what, e))?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .map_err(|e| io_err(op, what, e))?;
            let mut offset = 0;
            while offset < data.len() {
                let bytes = &data[offset..];
                let msg =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).map_err(|e| {
                        NetError::NetlinkDecode {
                            op,
                            what: what.to_owned(),
                            why: e.to_string(),
                        }
                    })?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(NetError::NetlinkDecode {
                        op,
                        what: what.to_owned(),
                        why: "zero-length message".into(),
                    });
                }
                offset += len;
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => match e.code {
                        Some(code) => {
                            return Err(io_err(
                                op,
                                what,
                                std::io::Error::from_raw_os_error(-code.get()),
                            ));
                        }
                        None => return Ok(out),
                    },
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        // A plain get has one reply and no ack to wait for.
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn ack(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &'static str,
        what: &str,
    ) -> Result<(), NetError> {
        self.request(msg, NLM_F_ACK | flags, op, what).map(|_| ())
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, NetError> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "dump",
            "links",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
                _ => None,
            })
            .collect())
    }

    /// The index of the link called `name`, if it exists.
    pub fn index_of(&mut self, name: &str) -> Result<Option<u32>, NetError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0, "get link", name) {
            Ok(replies) => Ok(replies.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(NetError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge, unless a link of that name exists; returns its index.
    pub fn ensure_bridge(&mut self, name: &str) -> Result<u32, NetError> {
        if let Some(i) = self.index_of(name)? {
            return Ok(i);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "create bridge",
            name,
        ) {
            Ok(()) => {}
            // Another pocky made it meanwhile.
            Err(NetError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        self.index_of(name)?
            .ok_or_else(|| NetError::NoSuchLink(name.to_owned()))
    }

    /// Creates a veth pair: `host` here, attached to `bridge` and up;
    /// `peer` created directly in the namespace `peer_ns`, so no link ever
    /// moves between namespaces.
    pub fn create_veth(
        &mut self,
        host: &str,
        bridge: u32,
        peer: &str,
        peer_ns: BorrowedFd<'_>,
        opts: VethOptions,
    ) -> Result<(), NetError> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_owned()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        if let Some(mac) = opts.peer_mac {
            peer_msg
                .attributes
                .push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        if let Some(mtu) = opts.mtu {
            peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::IfName(host.to_owned()));
        msg.attributes.push(LinkAttribute::Controller(bridge));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "create veth",
            host,
        )
    }

    /// Lets a bridge port send a frame back where it came from: a
    /// container reaching its own published port through the host.
    pub fn set_hairpin(&mut self, index: u32, name: &str) -> Result<(), NetError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        // RTM_NEWLINK on an existing link (no NLM_F_CREATE): the kernel
        // applies port data there; RTM_SETLINK ignores IFLA_LINKINFO.
        self.ack(RouteNetlinkMessage::NewLink(msg), 0, "set hairpin", name)
    }

    /// Brings a link up.
    pub fn set_up(&mut self, index: u32, name: &str) -> Result<(), NetError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(RouteNetlinkMessage::SetLink(msg), 0, "set up", name)
    }

    /// Deletes a link; a missing one is not an error.
    pub fn delete_link(&mut self, name: &str) -> Result<(), NetError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        match self.ack(RouteNetlinkMessage::DelLink(msg), 0, "delete link", name) {
            Err(NetError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// The IPv4 addresses on the link with `index`.
    pub fn addresses(&mut self, index: u32, name: &str) -> Result<Vec<Ipv4Addr>, NetError> {
        let all = self.link_addresses(index, name, AddressFamily::Inet, |attr| match attr {
            AddressAttribute::Local(a) => Some(*a),
            _ => None,
        })?;
        Ok(all
            .into_iter()
            .filter_map(|a| match a {
                IpAddr::V4(v) => Some(v),
                IpAddr::V6(_) => None,
            })
            .collect())
    }

    /// The addresses of `family` on the link with `index`, each taken from
    /// its message by `pick` (IPv4's is the `Local` attribute, IPv6's the
    /// `Address` one).
    pub(crate) fn link_addresses(
        &mut self,
        index: u32,
        name: &str,
        family: AddressFamily,
        pick: fn(&AddressAttribute) -> Option<IpAddr>,
    ) -> Result<Vec<IpAddr>, NetError> {
        let mut msg = AddressMessage::default();
        msg.header.family = family;
        msg.header.index = index;
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_DUMP,
            "dump addresses of",
            name,
        )?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .flat_map(|a| a.attributes.iter().filter_map(pick))
            .collect())
    }

    /// Adds `addr/prefix` to a link; an address already there is fine.
    pub fn add_address(
        &mut self,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
        name: &str,
    ) -> Result<(), NetError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr)));
        if prefix < 31 {
            let brd = Ipv4Addr::from(u32::from(addr) | (u32::MAX >> u32::from(prefix)));
            msg.attributes.push(AddressAttribute::Broadcast(brd));
        }
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

    /// Adds the default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetError> {
        self.add_default_route_via(RouteAddress::Inet(gateway), None, &gateway.to_string())
    }

    /// The IPv4 destinations of the main table (the default route aside):
    /// what a new network's subnet must not overlap.
    pub fn routed_subnets(&mut self) -> Result<Vec<Subnet>, NetError> {
        let routes = self.main_table_destinations(AddressFamily::Inet, "routes")?;
        Ok(routes
            .into_iter()
            .filter_map(|(d, len)| match d {
                // Host routes and very wide ones still block candidates.
                RouteAddress::Inet(d) => Subnet::new(d, len.clamp(8, 30)).ok(),
                _ => None,
            })
            .collect())
    }
}

impl AsFd for Netlink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the socket's descriptor lives as long as `self`.
        unsafe { BorrowedFd::borrow_raw(self.socket.as_raw_fd()) }
    }
}

fn link_of(l: &LinkMessage) -> Link {
    let mut name = String::new();
    let mut kind = None;
    let mut controller = None;
    let mut mac = None;
    for a in &l.attributes {
        match a {
            LinkAttribute::Controller(c) => controller = Some(*c),
            LinkAttribute::Address(bytes) => {
                mac = Some(
                    bytes
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Link {
        index: l.header.index,
        name,
        kind,
        controller,
        mac,
    }
}
