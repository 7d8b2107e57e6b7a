//! The namespace holder: one long-lived, idle process per user (per
//! runtime directory) that owns the user's user namespace, mapped from
//! `/etc/subuid` and `/etc/subgid` by the setuid helpers, and a network
//! namespace made in it for the user's networks. Every rootless pocky
//! command joins that user namespace (a `setns`, no helper run), so the
//! layers it unpacked, the containers it started and the bridges it made
//! all belong to one namespace, whoever made them and whenever. podman
//! keeps its "pause" process for the same reason.
//!
//! It is made by a short-lived intermediate process so that neither it
//! nor the network helper beside it is a child of a pocky command: the
//! holder runs in its own session, holds no descriptor of its maker's
//! and survives it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork};

use crate::error::{Result, RootlessError};
use crate::subid::Range;

/// The file in the runtime directory that names the holder.
const RECORD: &str = "holder";
/// Serialises finding and making the holder.
const LOCK: &str = "holder.lock";

/// The running holder: its pid and start time, which together name it
/// even after the pid is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub start: u64,
}

/// Who the namespace is made for, and from which ranges.
#[derive(Clone, Debug)]
pub struct IdSetup {
    pub uid: u32,
    pub gid: u32,
    pub uid_ranges: Vec<Range>,
    pub gid_ranges: Vec<Range>,
}

/// The start time (clock ticks after boot) of `pid`, from its stat line.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count
    // from after its last ')'. starttime is field 22, the 20th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn real_uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Holder {
    /// Whether the process is still this holder, and is this user's
    /// (compared as this process sees ids: from inside the namespace the
    /// user and the holder are both 0).
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
            && real_uid_of(self.pid) == Some(nix::unistd::getuid().as_raw())
    }

    /// `/proc/PID/ns/NAME` of the holder.
    pub fn ns_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/{name}", self.pid))
    }

    fn parse(text: &str) -> Option<Self> {
        let mut f = text.split_whitespace();
        Some(Holder {
            pid: f.next()?.parse().ok()?,
            start: f.next()?.parse().ok()?,
        })
    }
}

/// The holder named in `runtime`, if it still runs as this user's.
pub fn find(runtime: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(runtime.join(RECORD)).ok()?;
    Holder::parse(&text).filter(Holder::alive)
}

/// The holder of `runtime`, started if none runs. `extra` runs in the
/// intermediate process once the holder's namespaces exist (the network
/// helper's start); its failure is the start's.
pub fn find_or_start(
    runtime: &Path,
    ids: &dyn Fn() -> Result<IdSetup>,
    extra: &dyn Fn(Pid, OwnedFd) -> Result<()>,
) -> Result<Holder> {
    let lock_path = runtime.join(LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(RootlessError::io("opening", &lock_path))?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| RootlessError::io("locking", &lock_path)(e.into()))?;
    if let Some(h) = find(runtime) {
        return Ok(h);
    }
    let ids = ids()?;
    let pid = start(&ids, extra)?;
    let start = start_time(pid.as_raw())
        .ok_or_else(|| RootlessError::Holder(format!("the holder (pid {pid}) died at once")))?;
    let holder = Holder {
        pid: pid.as_raw(),
        start,
    };
    let record = runtime.join(RECORD);
    let tmp = runtime.join(format!("{RECORD}.tmp"));
    std::fs::write(&tmp, format!("{} {}\n", holder.pid, holder.start))
        .and_then(|()| std::fs::rename(&tmp, &record))
        .map_err(RootlessError::io("writing", &record))?;
    Ok(holder)
}

/// Joins the holder's user namespace: from here on this process is root
/// in it. Must be called while the process is single-threaded.
pub fn join(holder: &Holder) -> Result<()> {
    let path = holder.ns_path("user");
    let ns = File::open(&path).map_err(RootlessError::io("opening", &path))?;
    // Checked after the open: the fd then names the holder's namespace
    // even if the pid is reused later.
    if !holder.alive() {
        return Err(RootlessError::Holder(format!(
            "the holder (pid {}) exited while joining it",
            holder.pid
        )));
    }
    nix::sched::setns(&ns, CloneFlags::CLONE_NEWUSER).map_err(RootlessError::sys(
        "joining the user namespace (setns; is pocky multi-threaded here?)",
    ))
}

/// The inode of a namespace file, which names the namespace.
fn ns_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Stops the holder of `runtime` (the network helper follows it) and
/// forgets it, unless a process other than it and this one is still in
/// its user namespace (a container of another state root): then it stays
/// and `false` says so.
pub fn stop_if_idle(runtime: &Path) -> bool {
    let Some(h) = find(runtime) else {
        return true;
    };
    let Some(ns) = ns_inode(&h.ns_path("user")) else {
        return true;
    };
    // slirp4netns works from inside the namespace too.
    let ours = [
        Some(std::process::id()),
        u32::try_from(h.pid).ok(),
        crate::uplink::pid(runtime),
    ];
    let others = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !ours.contains(&Some(*pid)))
        .any(|pid| ns_inode(Path::new(&format!("/proc/{pid}/ns/user"))) == Some(ns));
    if others {
        return false;
    }
    let _ = nix::sys::signal::kill(Pid::from_raw(h.pid), Signal::SIGKILL);
    let _ = std::fs::remove_file(runtime.join(RECORD));
    true
}

/// Forks the intermediate, which makes the holder, maps it and runs
/// `extra`; returns the holder's pid.
fn start(ids: &IdSetup, extra: &dyn Fn(Pid, OwnedFd) -> Result<()>) -> Result<Pid> {
    let (mut from_child, to_parent) = std::io::pipe().map_err(RootlessError::io("pipe", "-"))?;
    // SAFETY: pocky calls this while single-threaded (before any thread
    // starts); the child runs ordinary code and leaves with _exit.
    match unsafe { fork() }.map_err(RootlessError::sys("fork"))? {
        ForkResult::Child => {
            drop(from_child);
            let mut out = to_parent;
            let code = match intermediate(ids, extra) {
                Ok(pid) => {
                    let _ = writeln!(out, "ok {pid}");
                    0
                }
                Err(e) => {
                    let _ = writeln!(out, "err {e}");
                    1
                }
            };
            drop(out);
            // SAFETY: leaves the forked copy without running the caller's
            // destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(to_parent);
            let mut text = String::new();
            let _ = from_child.read_to_string(&mut text);
            let _ = waitpid(child, None);
            let text = text.trim();
            if let Some(pid) = text.strip_prefix("ok ") {
                let pid = pid
                    .parse()
                    .map_err(|_| RootlessError::Holder(format!("bad report {text:?}")))?;
                return Ok(Pid::from_raw(pid));
            }
            Err(match text.strip_prefix("err ") {
                Some(msg) => RootlessError::Holder(msg.to_owned()),
                None => RootlessError::Holder("its maker died without a word".into()),
            })
        }
    }
}

fn read_line(r: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(RootlessError::io("reading from", "the holder"))?;
    Ok(line.trim_end().to_owned())
}

fn intermediate(ids: &IdSetup, extra: &dyn Fn(Pid, OwnedFd) -> Result<()>) -> Result<Pid> {
    let (ours, theirs) = UnixStream::pair().map_err(RootlessError::io("socketpair", "-"))?;
    // The network helper's exit descriptor: it reads EOF once the holder,
    // the only holder of the write end, is gone.
    let (exit_r, exit_w) = std::io::pipe().map_err(RootlessError::io("pipe", "-"))?;
    // SAFETY: the intermediate is single-threaded (a fork of a
    // single-threaded process); the child never returns.
    match unsafe { fork() }.map_err(RootlessError::sys("fork"))? {
        ForkResult::Child => {
            drop(ours);
            drop(exit_r);
            holder_main(theirs, OwnedFd::from(exit_w))
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            drop(exit_w);
            let result = drive(ids, &ours, child).and_then(|()| extra(child, exit_r.into()));
            if result.is_err() {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            }
            result.map(|()| child)
        }
    }
}

/// The intermediate's side of the holder's start: map it once it has its
/// user namespace, then wait for its network namespace.
fn drive(ids: &IdSetup, sock: &UnixStream, child: Pid) -> Result<()> {
    let mut r = BufReader::new(sock);
    let mut w = sock;
    let failed = |line: &str| {
        RootlessError::Holder(
            line.strip_prefix("e ")
                .map_or_else(|| "the holder died".to_owned(), str::to_owned),
        )
    };
    let line = read_line(&mut r)?;
    if line != "u" {
        return Err(failed(&line));
    }
    crate::idmap::write_maps(child.as_raw(), ids)?;
    w.write_all(b"m\n")
        .map_err(RootlessError::io("writing to", "the holder"))?;
    let line = read_line(&mut r)?;
    if line != "r" {
        return Err(failed(&line));
    }
    Ok(())
}

/// The holder itself: never returns.
fn holder_main(sock: UnixStream, exit_w: OwnedFd) -> ! {
    let code = match holder_setup(sock, exit_w) {
        Ok(()) => loop {
            nix::unistd::pause();
        },
        Err(()) => 1,
    };
    // SAFETY: leaves the forked copy without running the caller's
    // destructors.
    unsafe { libc::_exit(code) }
}

/// Fds the holder keeps: the socket to its maker (until it is set up)
/// and the network helper's exit pipe.
const SOCK_FD: i32 = 3;
const EXIT_FD: i32 = 4;

fn holder_setup(sock: UnixStream, exit_w: OwnedFd) -> std::result::Result<(), ()> {
    let _ = nix::unistd::setsid();
    let _ = nix::unistd::chdir("/");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of up to 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"pocky-holder".as_ptr()) };
    for sig in [
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        // SAFETY: SIG_IGN installs no handler.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|_| ())?;
    let (s0, e0, n0) = (sock.into_raw_fd(), exit_w.into_raw_fd(), null.into_raw_fd());
    // SAFETY: the three descriptors were released above and are ours
    // alone. They move to 3 and 4 through copies above both (so neither
    // move overwrites the other), /dev/null goes on 0-2 and everything
    // past 4 is closed; only the socket is owned again, from fd 3.
    let sock = unsafe {
        let s = libc::fcntl(s0, libc::F_DUPFD_CLOEXEC, 100);
        let e = libc::fcntl(e0, libc::F_DUPFD_CLOEXEC, 100);
        if s < 0 || e < 0 {
            return Err(());
        }
        for fd in 0..3 {
            libc::dup2(n0, fd);
        }
        libc::dup3(s, SOCK_FD, libc::O_CLOEXEC);
        libc::dup3(e, EXIT_FD, libc::O_CLOEXEC);
        libc::syscall(libc::SYS_close_range, 5, libc::c_uint::MAX, 0);
        UnixStream::from_raw_fd(SOCK_FD)
    };
    let mut r = BufReader::new(&sock);
    let fail = |what: &str, e: nix::errno::Errno| {
        let _ = writeln!(&sock, "e {what}: {e}");
        Err(())
    };
    if let Err(e) = nix::sched::unshare(CloneFlags::CLONE_NEWUSER) {
        return fail(
            "creating a user namespace (unshare; are unprivileged user namespaces allowed?)",
            e,
        );
    }
    if writeln!(&sock, "u").is_err() {
        return Err(());
    }
    let mut line = String::new();
    if r.read_line(&mut line).is_err() || line.trim_end() != "m" {
        return Err(());
    }
    let root_gid = Gid::from_raw(0);
    let root_uid = Uid::from_raw(0);
    if let Err(e) = nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .and_then(|()| nix::unistd::setresuid(root_uid, root_uid, root_uid))
    {
        return fail("becoming root of the user namespace", e);
    }
    let _ = nix::unistd::setgroups(&[]);
    if let Err(e) = nix::sched::unshare(CloneFlags::CLONE_NEWNET) {
        return fail("creating the network namespace", e);
    }
    if let Err(e) = crate::netif::loopback_up() {
        return fail("bringing loopback up", e);
    }
    if writeln!(&sock, "r").is_err() {
        return Err(());
    }
    drop(r);
    drop(sock);
    Ok(())
}
