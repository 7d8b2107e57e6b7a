//! Executes a spec: the parent half (cgroup, the hook for the network, the
//! start) and the child half (stdio, hostname, rootfs, user, exec).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use pocky_cgroup::{Cgroup, CgroupManager, Hierarchy, OpenedJoin};
use pocky_fs::rootfs::Overlay;
use pocky_ns::{ChildChannel, ChildError, IdMap, IdMaps, Namespace, NsConfig, Pid};

use crate::RuntimeError;
use crate::user::{self, ExecUser};

/// Where the container's stdin, stdout and stderr come from. `None` keeps
/// the caller's descriptor.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Give the process a new pty, made inside the container (so its
    /// /dev/pts knows it) and its master sent back to the parent.
    pub terminal: bool,
}

/// One container to start.
pub struct Launch<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub overlay: Option<&'a Overlay>,
    pub stdio: Stdio,
}

/// What the runtime binary adds to a launch; `pocky run` uses the default.
#[derive(Debug, Default)]
pub struct LaunchOptions {
    /// runc's `--console-socket`: with `process.terminal`, the child sends
    /// the pty master there itself, so it arrives even while the init
    /// waits for `start` after the creating process is gone.
    pub console_socket: Option<OwnedFd>,
    /// The create/start split: the child waits at this gate, after all its
    /// setup and right before its exec.
    pub gate: Option<crate::create::StartGate>,
    /// Take the spec's cgroup path below the cgroups listed in this text
    /// (a `/proc/<pid>/cgroup`), not below the hierarchy root: see
    /// [`open_cgroup`].
    pub cgroup_base: Option<String>,
    /// fds 3 to 3+n-1 of the caller stay open into the container's process
    /// (runc's `--preserve-fds`).
    pub preserve_fds: u32,
}

/// A started container: its first process and its cgroup. Opaque: its
/// owner waits for it, takes its terminal and reads its cgroup, nothing
/// more.
#[derive(Debug)]
pub struct Launched {
    pub(crate) child: pocky_ns::Child,
    pub(crate) cgroup: Option<Cgroup>,
}

impl Launched {
    pub fn pid(&self) -> i32 {
        self.child.pid.as_raw()
    }

    /// The pid as nix's type, for waiting and signalling.
    pub fn process(&self) -> nix::unistd::Pid {
        self.child.pid
    }

    /// The pty's master end, once, when the process has a terminal.
    pub fn take_pty_master(&mut self) -> Option<std::os::fd::OwnedFd> {
        self.child.take_pty_master()
    }

    /// Blocks until the first process exits.
    pub fn wait(&self) -> Result<pocky_ns::ExitStatus, pocky_ns::NsError> {
        self.child.wait()
    }

    /// The container's cgroup, when it has one of its own.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }
}

pub(crate) fn namespace_of(t: LinuxNamespaceType) -> Option<Namespace> {
    Some(match t {
        LinuxNamespaceType::Pid => Namespace::Pid,
        LinuxNamespaceType::Mount => Namespace::Mount,
        LinuxNamespaceType::Uts => Namespace::Uts,
        LinuxNamespaceType::Ipc => Namespace::Ipc,
        LinuxNamespaceType::Network => Namespace::Net,
        LinuxNamespaceType::Cgroup => Namespace::Cgroup,
        LinuxNamespaceType::User => Namespace::User,
        LinuxNamespaceType::Time => return None,
    })
}

fn ns_config(spec: &Spec) -> Result<NsConfig, RuntimeError> {
    let mut cfg = NsConfig::default();
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in list {
        let kind = namespace_of(ns.typ()).ok_or_else(|| {
            RuntimeError::Config(format!("namespace {:?} is not supported", ns.typ()))
        })?;
        match ns.path() {
            Some(p) => cfg.join.push((kind, p.clone())),
            None => cfg.new.push(kind),
        }
    }
    if let Some(l) = spec.linux() {
        let maps = |list: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdMap> {
            list.iter()
                .flatten()
                .map(|m| IdMap {
                    inside: m.container_id(),
                    outside: m.host_id(),
                    count: m.size(),
                })
                .collect()
        };
        let (uid, gid) = (maps(l.uid_mappings()), maps(l.gid_mappings()));
        if !uid.is_empty() || !gid.is_empty() {
            // pocky-ns checks the pairing with a new user namespace.
            cfg.id_maps = Some(IdMaps { uid, gid });
        }
    }
    Ok(cfg)
}

/// The handle on cgroup `path`: below the hierarchy root (pocky's own
/// containers, absolute OCI paths), or with `base`, the text of a
/// `/proc/<pid>/cgroup`, below the cgroups it lists (runc's reading of a
/// relative OCI `cgroupsPath`: below the runtime's own cgroup).
pub fn open_cgroup(path: impl AsRef<Path>, base: Option<&str>) -> Result<Cgroup, RuntimeError> {
    let mut h = Hierarchy::detect().map_err(RuntimeError::Cgroup)?;
    if let Some(text) = base {
        h = h.below(&pocky_cgroup::ProcCgroups::parse(text));
    }
    Cgroup::new(&h, path).map_err(RuntimeError::Cgroup)
}

/// Creates the spec's cgroup (when it names one) with its limits.
pub fn create_cgroup(spec: &Spec, base: Option<&str>) -> Result<Option<Cgroup>, RuntimeError> {
    let Some(path) = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) else {
        return Ok(None);
    };
    let limits = crate::resources::limits_of_spec(spec)?;
    let cg = open_cgroup(&path, base)?;
    cg.create().map_err(RuntimeError::Cgroup)?;
    if let Err(e) = cg
        .apply(&limits)
        .and_then(|()| crate::security::devices::apply_cgroup(&cg, spec))
    {
        let _ = cg.remove();
        return Err(RuntimeError::Cgroup(e));
    }
    Ok(Some(cg))
}

/// Starts the container. `before_start` runs once the child exists in its
/// namespaces and cgroup and before it may continue: the place for network
/// setup. It gets the child's pid and a path to its network namespace
/// ([`pocky_ns::Child::net_ns_path`]). On any error nothing of the
/// container keeps running.
pub fn launch(
    launch: Launch<'_>,
    before_start: impl FnOnce(Pid, &Path) -> Result<(), RuntimeError>,
) -> Result<Launched, RuntimeError> {
    let mut launched = spawn_container(launch, LaunchOptions::default(), before_start)?;
    if let Err(e) = launched.child.start() {
        discard(launched.cgroup.as_ref());
        return Err(RuntimeError::Ns(e));
    }
    Ok(launched)
}

/// The cgroup's files for the child to join it by itself
/// ([`Cgroup::self_join`], v1), opened here: through descriptors the
/// parent opened, the child's writes work from whatever mount and cgroup
/// namespaces it has entered. `None` (the parent moves the child) on v2,
/// and for a child in a user namespace, which is left to the parent's move
/// as before.
pub(crate) fn open_self_join(
    cgroup: Option<&Cgroup>,
    user_namespace: bool,
) -> Result<Option<OpenedJoin>, RuntimeError> {
    if user_namespace {
        return Ok(None);
    }
    cgroup
        .and_then(Cgroup::self_join)
        .map(|j| j.open())
        .transpose()
        .map_err(RuntimeError::Cgroup)
}

/// In the child: joins the cgroup through `join`, if there is one.
pub(crate) fn join_cgroup(join: Option<&OpenedJoin>) -> Result<(), ChildError> {
    join.map_or(Ok(()), |j| {
        j.join()
            .map_err(|e| ChildError::setup("cgroup", nix::errno::Errno::EIO, e.to_string()))
    })
}

fn discard(cgroup: Option<&Cgroup>) {
    if let Some(cg) = cgroup {
        let _ = cg.kill_all();
        let _ = cg.remove();
    }
}

/// [`launch`] up to, not including, [`pocky_ns::Child::start`]: the child
/// is Ready in its namespaces and cgroup and `before_start` has run. The
/// caller starts it (the runtime binary does so on a thread, since with a
/// [`LaunchOptions::gate`] the start returns only at `start`'s exec).
pub fn spawn_container(
    launch: Launch<'_>,
    opts: LaunchOptions,
    before_start: impl FnOnce(Pid, &Path) -> Result<(), RuntimeError>,
) -> Result<Launched, RuntimeError> {
    let spec = launch.spec;
    crate::unsupported::check_spec(spec)?;
    let cfg = ns_config(spec)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::Config("the spec has no process".into()))?;
    let security = crate::security::ChildSecurity::from_spec(spec, process)?;
    let cgroup = create_cgroup(spec, opts.cgroup_base.as_deref())?;
    let bundle = launch.bundle.to_path_buf();
    let overlay = launch.overlay.cloned();
    let stdio = launch.stdio;
    // Own or joined (a pod's): runc sets the names in either.
    let new_uts =
        cfg.new.contains(&Namespace::Uts) || cfg.join.iter().any(|(k, _)| *k == Namespace::Uts);
    let terminal = stdio.terminal;
    // The rootfs is built before Ready, but for its cgroup mounts, which
    // wait for the cgroup namespace the child unshares after Go. The two
    // halves of the child hand the prepared rootfs over through this cell.
    let prepared: std::cell::RefCell<Option<pocky_fs::Prepared>> = std::cell::RefCell::new(None);
    let cgroup_dirs = cgroup.as_ref().map(Cgroup::dirs).unwrap_or_default();
    let user_namespace =
        cfg.new.contains(&Namespace::User) || cfg.join.iter().any(|(ns, _)| *ns == Namespace::User);
    let self_join = open_self_join(cgroup.as_ref(), user_namespace)?;
    let result = (|| {
        let mut child = pocky_ns::spawn_prepared(
            &cfg,
            |_chan| {
                let mut p = prepare_child(spec, &bundle, overlay.as_ref(), stdio, new_uts)?;
                p.set_cgroup_dirs(cgroup_dirs.clone());
                // After the rootfs is built: the inodes and dentries made for
                // it are not charged to the container's memory cgroup, which
                // they would keep alive (a "dying" memcg, slowing every later
                // one) long after the container is gone.
                join_cgroup(self_join.as_ref())?;
                *prepared.borrow_mut() = Some(p);
                Ok(())
            },
            |chan| {
                let p = prepared.borrow_mut().take();
                let extras = ChildExtras { terminal, opts };
                child_main(chan, spec, process, &bundle, p, extras, &security)
            },
        )
        .map_err(RuntimeError::Ns)?;
        // Where the child cannot join by itself, moving it overlaps with it
        // building its rootfs.
        if let Some(cg) = cgroup.as_ref().filter(|_| self_join.is_none()) {
            cg.add_task(child.pid.as_raw())
                .map_err(RuntimeError::Cgroup)?;
        }
        child.wait_ready().map_err(RuntimeError::Ns)?;
        before_start(child.pid, &child.net_ns_path())?;
        Ok(child)
    })();
    match result {
        Ok(child) => Ok(Launched { child, cgroup }),
        Err(e) => {
            discard(cgroup.as_ref());
            Err(e)
        }
    }
}

fn errno_of(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

fn dup_onto(fd: &OwnedFd, target: RawFd) -> Result<(), ChildError> {
    // SAFETY: both are valid descriptor numbers; dup2 replaces `target`.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        let e = std::io::Error::last_os_error();
        return Err(ChildError::setup(
            "stdio",
            errno_of(&e),
            format!("dup2: {e}"),
        ));
    }
    Ok(())
}

/// Puts the given descriptors (or the console) in place of 0, 1 and 2.
pub(crate) fn apply_stdio(stdio: Stdio) -> Result<(), ChildError> {
    for (fd, target) in [(stdio.stdin, 0), (stdio.stdout, 1), (stdio.stderr, 2)] {
        if let Some(fd) = fd {
            dup_onto(&fd, target)?;
        }
    }
    Ok(())
}

/// Makes a pty in the current mount namespace, sends its master to the
/// parent, and makes the slave the controlling terminal and 0, 1, 2.
pub(crate) fn make_console(chan: &mut ChildChannel) -> Result<(), ChildError> {
    let fail =
        |e: pocky_ns::NsError| ChildError::setup("console", nix::errno::Errno::EIO, e.to_string());
    let pty = pocky_ns::pty::open().map_err(fail)?;
    chan.send_pty_master(std::os::fd::AsFd::as_fd(&pty.master))
        .map_err(fail)?;
    drop(pty.master);
    pocky_ns::pty::make_controlling(pty.slave).map_err(fail)
}

/// The child's side before Ready: stdio, hostname and the rootfs but for
/// its cgroup mounts and the pivot.
fn prepare_child(
    spec: &Spec,
    bundle: &Path,
    overlay: Option<&Overlay>,
    stdio: Stdio,
    new_uts: bool,
) -> Result<pocky_fs::Prepared, ChildError> {
    crate::security::nnp::set_not_dumpable()?;
    apply_stdio(stdio)?;
    crate::settings::apply_sysctls(spec)?;
    if let Some(process) = spec.process() {
        crate::settings::apply_process_limits(process)?;
    }
    crate::settings::apply_uts_names(spec, new_uts)?;
    crate::settings::apply_personality(spec)?;
    pocky_fs::prepare_rootfs_early(spec, bundle, overlay).map_err(rootfs_error)
}

fn rootfs_error(e: pocky_fs::FsError) -> ChildError {
    ChildError::setup("rootfs", nix::errno::Errno::EIO, e.to_string())
}

/// How the child's terminal is made and whether it waits for `start`.
struct ChildExtras {
    terminal: bool,
    opts: LaunchOptions,
}

/// The child's side after Go: everything up to exec. Returns only errors.
fn child_main(
    chan: &mut ChildChannel,
    spec: &Spec,
    process: &oci_spec::runtime::Process,
    bundle: &Path,
    prepared: Option<pocky_fs::Prepared>,
    extras: ChildExtras,
    security: &crate::security::ChildSecurity,
) -> ChildError {
    let ChildExtras { terminal, opts } = extras;
    // The exec.fifo's write end comes back from the gate and must stay
    // open until the exec closes it.
    let setup = || -> Result<(Vec<String>, Option<std::fs::File>), ChildError> {
        let prepared = prepared.ok_or_else(|| {
            ChildError::setup(
                "rootfs",
                nix::errno::Errno::EINVAL,
                "rootfs was not prepared",
            )
        })?;
        pocky_fs::finish_rootfs(prepared, spec, bundle).map_err(rootfs_error)?;
        match &opts.console_socket {
            Some(sock) => crate::console::console_to_socket(std::os::fd::AsFd::as_fd(sock))?,
            None if terminal => make_console(chan)?,
            None => {}
        }
        if terminal || opts.console_socket.is_some() {
            crate::settings::apply_console_size(process)?;
        }
        let env = process_setup(process, security)?;
        let fifo = opts.gate.map(crate::create::StartGate::wait).transpose()?;
        security.before_exec()?;
        Ok((env, fifo))
    };
    match setup() {
        Ok((env, _fifo)) => {
            if crate::init::wanted(spec)
                && let Err(e) = crate::init::fork_into_init()
            {
                return e;
            }
            let args = process.args().clone().unwrap_or_default();
            pocky_ns::exec_preserving(&args, &env, opts.preserve_fds)
        }
        Err(e) => e,
    }
}

/// The last steps of every container process, first or exec'd: the user
/// from the container's files, `HOME`, the working directory, then the
/// switch to the user with its capabilities around it (and the seccomp
/// filter, unless `no_new_privs` lets it wait for exec: the caller then
/// calls `before_exec`). Returns the environment to exec with.
pub(crate) fn process_setup(
    process: &oci_spec::runtime::Process,
    security: &crate::security::ChildSecurity,
) -> Result<Vec<String>, ChildError> {
    crate::settings::apply_process_settings(process)?;
    let who = resolve_user(process, &security.group_names)?;
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", who.home));
    }
    enter_cwd(process.cwd())?;
    security.before_user()?;
    switch_user(&who)?;
    security.after_user()?;
    Ok(env)
}

/// The process's user, with `group_names` (`--group-add NAME`) among its
/// supplementary groups.
pub(crate) fn resolve_user(
    process: &oci_spec::runtime::Process,
    group_names: &[String],
) -> Result<ExecUser, ChildError> {
    let u = process.user();
    let failed =
        |e: user::UserError| ChildError::setup("user", nix::errno::Errno::ENOENT, e.to_string());
    let group = match u.username().is_some() || !group_names.is_empty() {
        true => user::read_etc_file("/etc/group").map_err(failed)?,
        false => None,
    };
    let mut who = match u.username().as_deref() {
        None => ExecUser {
            uid: u.uid(),
            gid: u.gid(),
            additional_gids: Vec::new(),
            home: "/".into(),
        },
        Some(name) => {
            let passwd = user::read_etc_file("/etc/passwd").map_err(failed)?;
            user::resolve(name, passwd.as_deref(), group.as_deref()).map_err(failed)?
        }
    };
    who.additional_gids
        .extend(u.additional_gids().clone().unwrap_or_default());
    for name in group_names {
        let gid = user::group_id(name, group.as_deref()).map_err(failed)?;
        if !who.additional_gids.contains(&gid) {
            who.additional_gids.push(gid);
        }
    }
    Ok(who)
}

/// Docker creates a missing working directory. This runs after pivot_root
/// and resolves inside `/` without magic links, so neither a link in the
/// image nor `/proc/self/fd/N` can lead the mkdir or chdir out of the rootfs.
pub(crate) fn enter_cwd(cwd: &Path) -> Result<(), ChildError> {
    let cwd: PathBuf = if cwd.as_os_str().is_empty() {
        "/".into()
    } else {
        cwd.to_path_buf()
    };
    crate::security::cwd::enter(&cwd)
}

pub(crate) fn switch_user(who: &ExecUser) -> Result<(), ChildError> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    let fail = |what: &'static str| {
        move |e: nix::errno::Errno| ChildError::setup("user", e, format!("{what}: {e}"))
    };
    let groups: Vec<Gid> = who
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&groups).map_err(fail("setgroups"))?;
    setgid(Gid::from_raw(who.gid)).map_err(fail("setgid"))?;
    setuid(Uid::from_raw(who.uid)).map_err(fail("setuid"))?;
    Ok(())
}
