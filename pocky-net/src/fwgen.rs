//! Skipping the per-start check of a network's firewall rules while the
//! ruleset is unchanged.
//!
//! Checking that a network's rules are in place runs `iptables -C`: a
//! process that loads the whole table, 10-20 ms on a busy machine and
//! most of what the bridge adds to a start. With iptables's nf_tables
//! backend the kernel numbers every change of the ruleset (the
//! generation id, `NFT_MSG_GETGEN`, one netlink round trip); a network
//! records the generation its rules were last seen in, and while it is
//! the same, nothing can have removed them. With the legacy backend (no
//! generation) the check runs every time, as before.

use std::path::Path;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETGEN: u16 = 16;
const NFT_MSG_NEWGEN: u16 = 15;
const NFTA_GEN_ID: u16 = 1;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

/// Whether `iptables` on the PATH is the nf_tables one.
fn nft_backend() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .map(|d| d.join("iptables"))
        .find(|p| p.exists())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().contains("nft")))
        .unwrap_or(false)
}

/// The ruleset's generation id in this network namespace, when iptables
/// writes through nf_tables and the kernel answers.
pub(crate) fn generation() -> Option<u32> {
    if !nft_backend() {
        return None;
    }
    let mut socket = Socket::new(NETLINK_NETFILTER).ok()?;
    socket.bind_auto().ok()?;
    socket.connect(&SocketAddr::new(0, 0)).ok()?;
    let mut req = [0u8; NLMSG_HDRLEN + NFGENMSG_LEN];
    let len = u32::try_from(req.len()).ok()?;
    req[0..4].copy_from_slice(&len.to_ne_bytes());
    req[4..6].copy_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN).to_ne_bytes());
    req[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // nfgenmsg: family AF_UNSPEC, version 0, resource id 0.
    socket.send(&req, 0).ok()?;
    let (reply, _) = socket.recv_from_full().ok()?;
    parse_generation(&reply)
}

/// The `NFTA_GEN_ID` of a `NFT_MSG_NEWGEN` reply.
fn parse_generation(reply: &[u8]) -> Option<u32> {
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN {
        return None;
    }
    let total = usize::try_from(u32::from_ne_bytes(reply.get(0..4)?.try_into().ok()?)).ok()?;
    let mut at = NLMSG_HDRLEN + NFGENMSG_LEN;
    while at + 4 <= total.min(reply.len()) {
        let alen = usize::from(u16::from_ne_bytes(reply.get(at..at + 2)?.try_into().ok()?));
        let atype = u16::from_ne_bytes(reply.get(at + 2..at + 4)?.try_into().ok()?) & 0x3fff;
        if alen < 4 {
            return None;
        }
        if atype == NFTA_GEN_ID && alen >= 8 {
            return Some(u32::from_be_bytes(
                reply.get(at + 4..at + 8)?.try_into().ok()?,
            ));
        }
        at += alen.next_multiple_of(4);
    }
    None
}

/// The generation recorded in `stamp`, if any.
pub(crate) fn recorded(stamp: &Path) -> Option<u32> {
    std::fs::read_to_string(stamp).ok()?.trim().parse().ok()
}

/// Records `generation` in `stamp` (best effort: without it the next
/// start checks the rules again).
pub(crate) fn record(stamp: &Path, generation: u32) {
    let tmp = stamp.with_extension("tmp");
    if std::fs::write(&tmp, generation.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, stamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newgen_reply_gives_its_id() {
        let mut r = vec![0u8; 16 + 4 + 8 + 8];
        r[0..4].copy_from_slice(&36u32.to_ne_bytes());
        r[4..6].copy_from_slice(&((10u16 << 8) | 15).to_ne_bytes());
        r[20..22].copy_from_slice(&8u16.to_ne_bytes());
        r[22..24].copy_from_slice(&1u16.to_ne_bytes());
        r[24..28].copy_from_slice(&77u32.to_be_bytes());
        assert_eq!(parse_generation(&r), Some(77));
        r[4] = 2; // an error reply
        assert_eq!(parse_generation(&r), None);
        assert_eq!(parse_generation(&[1, 2]), None);
    }
}
