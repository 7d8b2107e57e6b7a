//! The typed parent/child channel: a `SOCK_SEQPACKET` socketpair carrying
//! one JSON message per packet, and optionally one fd (`SCM_RIGHTS`).
//!
//! Seqpacket keeps message boundaries and reports the peer's close as a
//! zero-length read, which is how the parent learns that `execve` succeeded.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};

use crate::error::NsError;

/// The largest packet either side reads; senders keep below it.
const MAX_PACKET: usize = 16 * 1024;
/// Child messages are cut to this many bytes so a packet always fits.
const MAX_MESSAGE_TEXT: usize = 4 * 1024;

/// What the child sends the parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToParent {
    /// The child is in its namespaces and waits for [`ToChild::Go`]; its
    /// network namespace's fd travels with the message (see
    /// [`Child::net_ns_path`](crate::Child::net_ns_path)).
    Ready,
    /// The child hands over the master side of a pty it opened inside the
    /// container; the fd travels with the message.
    PtyMaster,
    /// The child failed before `exec`; it exits with `exit_code`.
    Failed {
        stage: String,
        errno: i32,
        message: String,
        exit_code: i32,
    },
}

/// What the parent sends the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToChild {
    /// Cgroups and network are set up: continue to `exec`.
    Go,
    /// The new user namespace's id maps are written: the child may become
    /// its root and go on.
    Mapped,
    /// The parent gave up: exit without running the command.
    Abort,
}

pub(crate) fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, NsError> {
    serde_json::to_vec(msg).map_err(|e| NsError::Protocol(e.to_string()))
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, NsError> {
    serde_json::from_slice(bytes)
        .map_err(|e| NsError::Protocol(format!("{e}: {:?}", String::from_utf8_lossy(bytes))))
}

/// Creates the two ends, both close-on-exec.
pub(crate) fn pair() -> Result<(ParentChannel, ChildChannel), NsError> {
    let (p, c) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|source| NsError::Channel {
        op: "socketpair",
        source,
    })?;
    Ok((ParentChannel { fd: p }, ChildChannel { fd: c }))
}

fn send_packet(
    fd: RawFd,
    bytes: &[u8],
    pass: Option<BorrowedFd<'_>>,
    op: &'static str,
) -> Result<(), NsError> {
    let iov = [IoSlice::new(bytes)];
    let raw;
    let cmsgs: &[ControlMessage] = match pass {
        Some(f) => {
            raw = [f.as_raw_fd()];
            &[ControlMessage::ScmRights(&raw)]
        }
        None => &[],
    };
    loop {
        // MSG_NOSIGNAL: a parent that went away must yield EPIPE, not SIGPIPE.
        match sendmsg::<()>(fd, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(source) => return Err(NsError::Channel { op, source }),
        }
    }
}

/// A packet's bytes and the fd passed with it.
type Packet = (Vec<u8>, Option<OwnedFd>);

/// One received packet: `None` when the peer closed its end.
fn recv_packet(fd: RawFd, op: &'static str) -> Result<Option<Packet>, NsError> {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(m) => m,
            Err(Errno::EINTR) => continue,
            Err(source) => return Err(NsError::Channel { op, source }),
        };
        let len = msg.bytes;
        let mut passed = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for raw in fds {
                        // SAFETY: the kernel just installed `raw` in our fd
                        // table for this message; nothing else owns it.
                        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                        // Keep the first, close any extra a peer might send.
                        passed.get_or_insert(owned);
                    }
                }
            }
        }
        if len == 0 && passed.is_none() {
            return Ok(None);
        }
        buf.truncate(len);
        return Ok(Some((buf, passed)));
    }
}

/// The parent's end of the channel.
#[derive(Debug)]
pub struct ParentChannel {
    fd: OwnedFd,
}

impl ParentChannel {
    pub(crate) fn send(&self, msg: ToChild) -> Result<(), NsError> {
        send_packet(self.fd.as_raw_fd(), &encode(&msg)?, None, "send to child")
    }

    /// The child's next message and the fd passed with it, or `None` once the
    /// child's end is closed (exec or exit).
    pub(crate) fn recv(&self) -> Result<Option<(ToParent, Option<OwnedFd>)>, NsError> {
        match recv_packet(self.fd.as_raw_fd(), "receive from child")? {
            None => Ok(None),
            Some((bytes, fd)) => Ok(Some((decode(&bytes)?, fd))),
        }
    }
}

/// The child's end of the channel, handed to the `child_fn` of
/// [`spawn`](crate::spawn).
#[derive(Debug)]
pub struct ChildChannel {
    fd: OwnedFd,
}

impl ChildChannel {
    /// Sends a message to the parent. Long failure texts are shortened so the
    /// packet always fits the parent's buffer.
    pub fn send(&mut self, msg: &ToParent) -> Result<(), NsError> {
        let msg = shorten(msg);
        send_packet(self.fd.as_raw_fd(), &encode(&msg)?, None, "send to parent")
    }

    /// Hands the master side of a pty opened in the container to the parent;
    /// [`Child::take_pty_master`](crate::Child::take_pty_master) returns it.
    pub fn send_pty_master(&mut self, master: BorrowedFd<'_>) -> Result<(), NsError> {
        let bytes = encode(&ToParent::PtyMaster)?;
        send_packet(self.fd.as_raw_fd(), &bytes, Some(master), "send pty master")
    }

    /// Reports Ready with `net_ns`, the child's network namespace.
    pub(crate) fn send_ready(&mut self, net_ns: Option<BorrowedFd<'_>>) -> Result<(), NsError> {
        let bytes = encode(&ToParent::Ready)?;
        send_packet(self.fd.as_raw_fd(), &bytes, net_ns, "send ready")
    }

    pub(crate) fn recv(&mut self) -> Result<Option<ToChild>, NsError> {
        match recv_packet(self.fd.as_raw_fd(), "receive from parent")? {
            None => Ok(None),
            Some((bytes, _)) => Ok(Some(decode(&bytes)?)),
        }
    }
}

fn shorten(msg: &ToParent) -> ToParent {
    match msg {
        ToParent::Failed {
            stage,
            errno,
            message,
            exit_code,
        } if message.len() > MAX_MESSAGE_TEXT || stage.len() > MAX_MESSAGE_TEXT => {
            ToParent::Failed {
                stage: cut(stage),
                errno: *errno,
                message: cut(message),
                exit_code: *exit_code,
            }
        }
        other => other.clone(),
    }
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_MESSAGE_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let msgs = [
            ToParent::Ready,
            ToParent::PtyMaster,
            ToParent::Failed {
                stage: "exec".into(),
                errno: 2,
                message: "exec: \"foo\": executable file not found in $PATH".into(),
                exit_code: 127,
            },
        ];
        for m in msgs {
            assert_eq!(decode::<ToParent>(&encode(&m).unwrap()).unwrap(), m);
        }
        for m in [ToChild::Go, ToChild::Abort] {
            assert_eq!(decode::<ToChild>(&encode(&m).unwrap()).unwrap(), m);
        }
        assert!(matches!(
            decode::<ToChild>(b"\"Launch\""),
            Err(NsError::Protocol(_))
        ));
    }

    #[test]
    fn channel_carries_messages_fds_and_eof() {
        let (parent, mut child) = pair().unwrap();
        child
            .send(&ToParent::Failed {
                stage: "rootfs".into(),
                errno: 0,
                message: "é".repeat(MAX_MESSAGE_TEXT),
                exit_code: 125,
            })
            .unwrap();
        let (msg, fd) = parent.recv().unwrap().unwrap();
        assert!(fd.is_none());
        let ToParent::Failed { message, .. } = msg else {
            panic!("unexpected {msg:?}")
        };
        assert!(message.len() <= MAX_MESSAGE_TEXT);

        let file = tempfile::tempfile().unwrap();
        child
            .send_pty_master(std::os::fd::AsFd::as_fd(&file))
            .unwrap();
        let (msg, fd) = parent.recv().unwrap().unwrap();
        assert_eq!(msg, ToParent::PtyMaster);
        assert!(fd.is_some());

        parent.send(ToChild::Go).unwrap();
        assert_eq!(child.recv().unwrap(), Some(ToChild::Go));
        drop(child);
        assert!(parent.recv().unwrap().is_none());
    }
}
