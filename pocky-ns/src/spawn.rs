//! The parent side: configuration, namespace files and the clone.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::channel::{self, ChildChannel};
use crate::child;
use crate::error::NsError;
use crate::handle::Child;
use crate::namespace::Namespace;
use crate::userns::IdMaps;

/// Exit code of a child that failed in the runtime's own setup (namespaces,
/// rootfs), before its command could be tried; Docker reports runtime
/// failures as 125.
pub const SETUP_FAILED_EXIT_CODE: i32 = 125;

/// Which namespaces a new process gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NsConfig {
    /// Namespaces to create.
    pub new: Vec<Namespace>,
    /// Namespaces to enter before the new ones are created: a
    /// `/proc/<pid>/ns/<x>` path or a bind-mounted namespace file (OCI
    /// "path" namespaces).
    pub join: Vec<(Namespace, PathBuf)>,
    /// The id maps of a new user namespace (required with one).
    pub id_maps: Option<IdMaps>,
}

impl NsConfig {
    fn validate(&self) -> Result<(), NsError> {
        let mut seen = Vec::new();
        for ns in self.new.iter().chain(self.join.iter().map(|(ns, _)| ns)) {
            if seen.contains(ns) {
                return Err(NsError::Config(format!(
                    "{ns} namespace given twice (new and/or joined)"
                )));
            }
            seen.push(*ns);
        }
        match (&self.id_maps, self.new.contains(&Namespace::User)) {
            (Some(maps), true) => maps.validate()?,
            (None, true) => {
                return Err(NsError::Config(
                    "a new user namespace needs uid and gid mappings".into(),
                ));
            }
            (Some(_), false) => {
                return Err(NsError::Config(
                    "id mappings are given but no new user namespace".into(),
                ));
            }
            (None, false) => {}
        }
        let joins_user = self.join.iter().any(|(ns, _)| *ns == Namespace::User);
        if joins_user && self.new.contains(&Namespace::Pid) {
            // The new pid namespace is made at clone time, before the child
            // can enter the user namespace, so the joined user namespace
            // would not own it and the container could not mount its /proc.
            return Err(NsError::Config(
                "joining a user namespace with a new pid namespace is not supported".into(),
            ));
        }
        Ok(())
    }
}

/// What a child reports when it fails before (or at) `exec`; it then exits
/// with `exit_code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildError {
    /// The step that failed ("setns", "rootfs", "exec", ...).
    pub stage: &'static str,
    /// The errno behind the failure, 0 when there is none.
    pub errno: i32,
    pub message: String,
    pub exit_code: i32,
}

impl ChildError {
    /// A setup failure, with [`SETUP_FAILED_EXIT_CODE`].
    pub fn setup(stage: &'static str, errno: Errno, message: impl Into<String>) -> Self {
        ChildError {
            stage,
            errno: errno as i32,
            message: message.into(),
            exit_code: SETUP_FAILED_EXIT_CODE,
        }
    }
}

/// A namespace file opened before any namespace is joined.
#[derive(Debug)]
pub(crate) struct JoinFd {
    pub(crate) ns: Namespace,
    pub(crate) path: PathBuf,
    pub(crate) fd: OwnedFd,
}

/// Opens every namespace file up front (so no path is resolved after a
/// join changed what `/proc` or `/` mean) in [`Namespace::JOIN_ORDER`].
/// Namespaces the caller is already in are dropped: entering one's own user
/// namespace is an error (EINVAL), and the others would be no-ops.
fn open_joins(join: &[(Namespace, PathBuf)]) -> Result<Vec<JoinFd>, NsError> {
    let mut out = Vec::new();
    for ns in Namespace::JOIN_ORDER {
        for (_, path) in join.iter().filter(|(n, _)| *n == ns) {
            let file = File::open(path).map_err(|source| NsError::OpenNs {
                ns,
                path: path.clone(),
                source,
            })?;
            let meta = file.metadata().map_err(|source| NsError::OpenNs {
                ns,
                path: path.clone(),
                source,
            })?;
            let own = std::fs::metadata(format!("/proc/self/ns/{}", ns.proc_name()));
            if own.is_ok_and(|o| o.dev() == meta.dev() && o.ino() == meta.ino()) {
                continue;
            }
            out.push(JoinFd {
                ns,
                path: path.clone(),
                fd: file.into(),
            });
        }
    }
    Ok(out)
}

fn thread_count() -> Result<usize, NsError> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(NsError::ThreadCount)?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| {
            NsError::ThreadCount(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no Threads: line",
            ))
        })
}

fn ensure_single_threaded() -> Result<(), NsError> {
    match thread_count()? {
        1 => Ok(()),
        threads => Err(NsError::NotSingleThreaded { threads }),
    }
}

/// `fork` through the raw clone syscall so namespace flags apply to the
/// child itself: with `CLONE_NEWPID` it is PID 1 of the new namespace.
///
/// Why not `nix::sched::clone`: it runs a callback on a separately allocated
/// stack whose size must be guessed; a fork-mode clone (stack pointer 0)
/// gives the child a copy-on-write copy of the caller's stack, so the
/// closure runs as ordinary code, as after `fork`.
///
/// The raw argument order differs per architecture: x86_64 is
/// `(flags, stack, parent_tid, child_tid, tls)`, aarch64 (and the generic
/// syscall table) `(flags, stack, parent_tid, tls, child_tid)`. Every
/// argument after `flags` is 0 here, so one call serves both.
///
/// Returns `None` in the child.
fn clone_fork(flags: CloneFlags) -> Result<Option<Pid>, Errno> {
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    compile_error!("pocky-ns: check the clone argument order for this architecture");
    // The flag bits are all non-negative, so widening through `as` keeps them.
    let flags = (flags.bits() | libc::SIGCHLD) as libc::c_ulong;
    let zero: libc::c_ulong = 0;
    // SAFETY: without CLONE_VM and with a null stack this is fork(): the
    // child gets copies of our memory. The caller is single-threaded
    // (checked), so no lock held by another thread is copied in a locked
    // state. glibc's fork handlers do not run, which is fine because the
    // child only uses the allocator and syscalls until it execs or _exits.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, zero, zero, zero, zero) };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => i32::try_from(pid)
            .map(|p| Some(Pid::from_raw(p)))
            .map_err(|_| Errno::EOVERFLOW),
    }
}

/// Whether this process is in the initial user namespace.
fn in_initial_userns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// [`clone_fork`] into the pid namespace `join` without changing this
/// process's: a fork enters it and clones with `CLONE_PARENT`, so the new
/// process is still this one's child (to wait for and to be told of by
/// SIGCHLD), then reports its pid and exits. Returns `None` in the new
/// process, as `clone_fork` does.
fn clone_in_pid_ns(join: &JoinFd, flags: CloneFlags) -> Result<Option<Pid>, NsError> {
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(NsError::Clone)?;
    let (mut report_r, mut report_w) = (File::from(report_r), File::from(report_w));
    match clone_fork(CloneFlags::empty()).map_err(NsError::Clone)? {
        None => {
            drop(report_r);
            let reply = nix::sched::setns(&join.fd, CloneFlags::CLONE_NEWPID)
                .and_then(|()| clone_fork(flags | CloneFlags::CLONE_PARENT));
            match reply {
                // The new process: it goes on as the caller's child.
                Ok(None) => return Ok(None),
                Ok(Some(pid)) => {
                    let _ = std::io::Write::write_all(&mut report_w, &pid.as_raw().to_ne_bytes());
                }
                Err(e) => {
                    let _ = std::io::Write::write_all(&mut report_w, &(-(e as i32)).to_ne_bytes());
                }
            }
            // SAFETY: the fork leaves without running the caller's
            // destructors (the joined fds, the channel ends).
            unsafe { libc::_exit(0) }
        }
        Some(forked) => {
            drop(report_w);
            let mut buf = [0u8; 4];
            let read = std::io::Read::read_exact(&mut report_r, &mut buf);
            let _ = nix::sys::wait::waitpid(forked, None);
            read.map_err(|_| NsError::Clone(Errno::ECHILD))?;
            match i32::from_ne_bytes(buf) {
                pid if pid > 0 => Ok(Some(Pid::from_raw(pid))),
                errno => Err(NsError::Join {
                    ns: Namespace::Pid,
                    path: join.path.clone(),
                    source: Errno::from_raw(-errno),
                }),
            }
        }
    }
}

/// Creates a process in new namespaces.
///
/// The order: clone (with `CLONE_NEWPID` and `CLONE_NEWUSER` when asked, the
/// only two that must exist at creation) → the child enters `cfg.join`
/// (user first), unshares the other new namespaces except cgroup, resets
/// its signal mask and dispositions, sends [`ToParent::Ready`](crate::ToParent::Ready) and blocks →
/// the parent ([`Child::wait_ready`]) sets up cgroups and network, then
/// [`Child::start`] sends Go → the child unshares `CLONE_NEWCGROUP` if asked
/// (so the namespace's root is the cgroup the parent just moved it into),
/// then runs `child_fn` (rootfs, then [`exec`](crate::exec)).
///
/// `child_fn` returns only on failure; its error goes to the parent as
/// [`ToParent::Failed`](crate::ToParent::Failed) and the child exits with its `exit_code`. A panic in
/// the child is reported the same way and never unwinds into the caller's
/// frames.
///
/// Must be called from a single-threaded process (see the crate docs).
pub fn spawn(
    cfg: &NsConfig,
    child_fn: impl FnOnce(&mut ChildChannel) -> ChildError,
) -> Result<Child, NsError> {
    spawn_prepared(cfg, |_| Ok(()), child_fn)
}

/// Work a child does in its new namespaces before it reports Ready.
pub(crate) type Prepare<'a> =
    Option<Box<dyn FnOnce(&mut ChildChannel) -> Result<(), ChildError> + 'a>>;

/// Like [`spawn`], with `prepare` run in the child before it reports Ready:
/// work that needs neither the cgroup nor the network (building the rootfs)
/// then overlaps with the parent's setup of those, which on cgroup v1 spends
/// milliseconds waiting for an RCU grace period when it moves the child.
/// An error of `prepare` comes back from [`Child::wait_ready`].
pub fn spawn_prepared(
    cfg: &NsConfig,
    prepare: impl FnOnce(&mut ChildChannel) -> Result<(), ChildError>,
    child_fn: impl FnOnce(&mut ChildChannel) -> ChildError,
) -> Result<Child, NsError> {
    cfg.validate()?;
    let joins = open_joins(&cfg.join)?;
    spawn_with(
        joins,
        &cfg.new,
        cfg.id_maps.as_ref(),
        Some(Box::new(prepare)),
        child_fn,
    )
}

/// For `pocky exec`: enters `namespaces` of the running process `target`
/// and starts a process there, with the same Ready/Go/exec protocol as
/// [`spawn`]. The pid namespace is entered by the parent just around the
/// clone (it applies to children only), so the new process is a member of
/// the target's pid namespace. After entering the mount namespace the
/// child's root and working directory are the container's `/`: `child_fn`
/// should `chdir` to the process's working directory.
///
/// Must be called from a single-threaded process (see the crate docs).
pub fn join_and_spawn(
    target: Pid,
    namespaces: &[Namespace],
    child_fn: impl FnOnce(&mut ChildChannel) -> ChildError,
) -> Result<Child, NsError> {
    let join: Vec<(Namespace, PathBuf)> = namespaces
        .iter()
        .map(|ns| {
            let path = PathBuf::from(format!("/proc/{target}/ns/{}", ns.proc_name()));
            (*ns, path)
        })
        .collect();
    let cfg = NsConfig {
        new: Vec::new(),
        join,
        id_maps: None,
    };
    cfg.validate()?;
    let joins = open_joins(&cfg.join)?;
    spawn_with(joins, &[], None, None, child_fn)
}

fn spawn_with(
    joins: Vec<JoinFd>,
    new: &[Namespace],
    id_maps: Option<&IdMaps>,
    prepare: Prepare<'_>,
    child_fn: impl FnOnce(&mut ChildChannel) -> ChildError,
) -> Result<Child, NsError> {
    ensure_single_threaded()?;
    let (parent_end, child_end) = channel::pair()?;

    let mut at_clone = CloneFlags::empty();
    let mut unshare = CloneFlags::empty();
    for ns in new {
        match ns {
            Namespace::Pid | Namespace::User => at_clone |= ns.clone_flag(),
            Namespace::Cgroup => {}
            _ => unshare |= ns.clone_flag(),
        }
    }
    let new_cgroup = new.contains(&Namespace::Cgroup);

    // A pid namespace can only be entered for children: the parent switches
    // its pid_for_children around the clone and switches back. In a user
    // namespace the way back is closed (our own pid namespace belongs to
    // the initial one, where we hold no capability): a short-lived fork
    // switches and clones there instead (`clone_in_pid_ns`).
    let pid_join = joins.iter().find(|j| j.ns == Namespace::Pid);
    let via_fork = pid_join.is_some() && !in_initial_userns();
    let restore = match pid_join {
        Some(_) if via_fork => None,
        Some(j) => {
            let own = File::open("/proc/self/ns/pid").map_err(|source| NsError::OpenNs {
                ns: Namespace::Pid,
                path: "/proc/self/ns/pid".into(),
                source,
            })?;
            nix::sched::setns(&j.fd, CloneFlags::CLONE_NEWPID).map_err(|source| NsError::Join {
                ns: Namespace::Pid,
                path: j.path.clone(),
                source,
            })?;
            Some(own)
        }
        None => None,
    };

    let cloned = match pid_join {
        Some(j) if via_fork => clone_in_pid_ns(j, at_clone),
        _ => clone_fork(at_clone).map_err(NsError::Clone),
    };
    if let Ok(None) = cloned {
        drop(parent_end);
        let others: Vec<&JoinFd> = joins.iter().filter(|j| j.ns != Namespace::Pid).collect();
        let steps = child::Steps {
            await_maps: id_maps.is_some(),
            unshare,
            new_cgroup,
        };
        child::run(child_end, &others, steps, prepare, child_fn);
    }
    drop(child_end);
    let restored = match restore {
        Some(own) => {
            nix::sched::setns(&own, CloneFlags::CLONE_NEWPID).map_err(|source| NsError::Join {
                ns: Namespace::Pid,
                path: "/proc/self/ns/pid".into(),
                source,
            })
        }
        None => Ok(()),
    };
    let pid = match cloned {
        Ok(Some(pid)) => pid,
        Ok(None) => unreachable!("child::run never returns"),
        Err(e) => return Err(e),
    };
    let child = Child::new(pid, parent_end);
    // Dropping the handle aborts and reaps the child.
    restored?;
    if let Some(maps) = id_maps {
        maps.write(pid)?;
        child.send_mapped()?;
    }
    Ok(child)
}
