//! runc's `--console-socket`: the pty master goes to a caller's unix
//! socket with SCM_RIGHTS (containerd's shim and conmon listen there).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use pocky_ns::ChildError;

/// Sends `fd` over the connected socket `sock`. runc sends the pty's name
/// as the payload; callers read only the descriptor, but some log it.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &str) -> Result<(), Errno> {
    let payload = if name.is_empty() { "pty" } else { name };
    let iov = [IoSlice::new(payload.as_bytes())];
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Receives the one descriptor [`send_fd`] sent over `sock`.
pub fn recv_fd(sock: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    loop {
        let msg = match nix::sys::socket::recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => m,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        for c in msg.cmsgs().map_err(|_| Errno::EBADMSG)? {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c
                && let Some(fd) = fds.first()
            {
                // SAFETY: the kernel just installed this descriptor
                // for us; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
        return Err(Errno::ENOMSG);
    }
}

/// In the container's child after its rootfs is entered: a pty from the
/// container's devpts, its master sent to the console socket, the slave
/// made the controlling terminal and 0, 1, 2.
pub(crate) fn console_to_socket(sock: BorrowedFd<'_>) -> Result<(), ChildError> {
    let fail = |e: pocky_ns::NsError| ChildError::setup("console", Errno::EIO, e.to_string());
    let pty = pocky_ns::pty::open().map_err(fail)?;
    let name = nix::unistd::ttyname(pty.slave.as_fd())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    send_fd(sock, pty.master.as_fd(), &name).map_err(|e| {
        ChildError::setup(
            "console",
            e,
            format!("sending the pty master to the console socket: {e}"),
        )
    })?;
    drop(pty.master);
    pocky_ns::pty::make_controlling(pty.slave).map_err(fail)
}
