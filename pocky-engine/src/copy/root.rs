//! The container's `/` as a directory descriptor, for `cp` to resolve
//! paths in with `openat2(RESOLVE_IN_ROOT)`.
//!
//! A running container: `/proc/<pid>/root`, its process's own root, with
//! every mount of its namespace (volumes, binds, tmpfs) as the container
//! sees them. A container that does not run: its overlay (the image's
//! layers and its `upper/`), mounted by a forked child in a mount namespace
//! of its own. The child hands the root's descriptor back over a socket
//! (SCM_RIGHTS) and exits; its namespace goes with it and the overlay,
//! detached from every mount tree, lives on only through that descriptor
//! until the copy closes it. So the caller's mount table never changes,
//! and a killed `pocky cp` leaves no mount behind. Writes land in `upper/`,
//! as the container's own would.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::stat::Mode;
use pocky_fs::rootfs::Overlay;
use pocky_runtime::process;
use pocky_store::{
    ContainerRecord, ContainerStore, FileLock, ImageQuery, ImageStore, Staging, Store,
};

use crate::state;

/// A container's root, open.
pub struct ContainerRoot {
    /// `O_PATH` descriptor of the container's `/`.
    pub fd: OwnedFd,
    /// Whether it is a running container's view (mounts included).
    pub running: bool,
    /// Held while a stopped container's overlay is in use, so its monitor
    /// cannot mount the same upper directory meanwhile.
    _lock: Option<FileLock>,
    _scratch: Option<Staging>,
}

/// Opens the root of `rec`. Forks when the container does not run: call it
/// before any thread is started.
pub fn open_root(store: &Store, rec: &ContainerRecord, name: &str) -> Result<ContainerRoot> {
    if let Some(fd) = running_root(rec)? {
        return Ok(ContainerRoot {
            fd,
            running: true,
            _lock: None,
            _scratch: None,
        });
    }
    let lock_path = state::monitor_lock_path(store, &rec.id)?;
    let Some(lock) = FileLock::try_exclusive(&lock_path)? else {
        // An owner holds the container: it is starting, or has just
        // started since the record was read.
        let rec = state::find(store, &rec.id)?;
        if let Some(fd) = running_root(&rec)? {
            return Ok(ContainerRoot {
                fd,
                running: true,
                _lock: None,
                _scratch: None,
            });
        }
        bail!(crate::conflict!(
            "container {name} is starting or stopping; try again"
        ));
    };
    // Under the lock: a start that finished just before it took the lock.
    let rec = store.find_container(&rec.id)?;
    if state::process_alive(&rec) {
        drop(lock);
        return open_root(store, &rec, name);
    }
    let overlay = overlay_of(store, &rec)?;
    let scratch = store.scratch()?;
    let merged = scratch.path().join("merged");
    std::fs::create_dir(&merged).with_context(|| format!("creating {}", merged.display()))?;
    let fd = mount_in_child(&overlay, &merged)
        .with_context(|| format!("mounting the filesystem of container {name}"))?;
    Ok(ContainerRoot {
        fd,
        running: false,
        _lock: Some(lock),
        _scratch: Some(scratch),
    })
}

/// `/proc/<pid>/root` of a running container, checked after the open to be
/// still the container's process (not a reused pid).
fn running_root(rec: &ContainerRecord) -> Result<Option<OwnedFd>> {
    if !state::process_alive(rec) {
        return Ok(None);
    }
    let path = format!("/proc/{}/root", rec.state.pid);
    let fd = match open(
        path.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ESRCH) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {path}")),
    };
    Ok(process::is_alive(rec.state.pid, rec.state.pid_start).then_some(fd))
}

fn overlay_of(store: &Store, rec: &ContainerRecord) -> Result<Overlay> {
    let image = store
        .find_image(&ImageQuery::IdPrefix(rec.image_id.clone()))
        .with_context(|| format!("the image of container {}", rec.name))?;
    crate::create::overlay_of(store, &store.container_dir(&rec.id)?, &image)
}

/// Forks a child that mounts `overlay` on `target` in a private mount
/// namespace and sends back a descriptor of it.
pub(crate) fn mount_in_child(overlay: &Overlay, target: &Path) -> Result<OwnedFd> {
    let (parent_end, child_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    // SAFETY: the caller is single-threaded (see `open_root`), so the child
    // may do anything the parent could; it leaves with _exit, running no
    // destructors of the parent's.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            drop(parent_end);
            let sent = std::panic::catch_unwind(|| child(overlay, target, &child_end));
            let code = match sent {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    let msg = crate::one_line(&e);
                    let _ = sendmsg::<()>(
                        child_end.as_raw_fd(),
                        &[IoSlice::new(msg.as_bytes())],
                        &[],
                        MsgFlags::empty(),
                        None,
                    );
                    1
                }
                Err(_) => 2,
            };
            // SAFETY: _exit ends the child at once, as a forked child must.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(child_end);
            let received = receive(&parent_end);
            let status = nix::sys::wait::waitpid(child, None).context("waiting for the child")?;
            match (received?, status) {
                ((Some(fd), _), nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(fd),
                ((_, msg), _) if !msg.is_empty() => Err(anyhow::anyhow!(msg)),
                (_, status) => bail!("the mounting process failed: {status:?}"),
            }
        }
    }
}

/// Runs in the forked child: the namespace it unshares is its alone.
fn child(overlay: &Overlay, target: &Path, sock: &OwnedFd) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).context("unsharing the mount namespace")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making mounts private")?;
    pocky_fs::mount_overlay(overlay, target)?;
    let root = open(
        target,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening the container's root")?;
    let fds = [root.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(b"ok")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("sending the root's descriptor")?;
    Ok(())
}

/// The descriptor the child sent, or its error text.
fn receive(sock: &OwnedFd) -> Result<(Option<OwnedFd>, String)> {
    let mut buf = [0u8; 4096];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut fd = None;
    let len = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .context("receiving the root's descriptor")?;
        for c in msg.cmsgs().context("reading the control message")? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // SAFETY: the kernel just installed `raw` in this
                    // process for this message; nothing else owns it.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    fd.get_or_insert(owned);
                }
            }
        }
        msg.bytes
    };
    let text = if fd.is_some() {
        String::new()
    } else {
        String::from_utf8_lossy(&buf[..len]).into_owned()
    };
    Ok((fd, text))
}
