//! runc's create/start split. `create` prepares everything and leaves the
//! container's init blocked right before its exec, on `<state>/exec.fifo`;
//! `start` opens the FIFO, which lets it run.
//!
//! ```text
//! create (parent)                      init (child)
//! mkfifo exec.fifo, open it O_PATH
//! spawn_container ───────────────────▶ namespaces, rootfs (before pivot)
//!   prestart/createRuntime hooks        waits (Ready)
//!   createContainer hooks (setns)
//! save state.json; state ──sync──▶
//! thread: Child::start (Go) ─────────▶ pivot, console, user, cwd
//! wait for "ready" ◀───────sync──────  "1"
//! exit 0                               open /proc/self/fd/N O_WRONLY: blocks
//! start: open exec.fifo O_RDONLY ────▶ write "0"; startContainer hooks; exec
//!   read to EOF (the exec closed it), remove the FIFO; poststart hooks
//! ```
//!
//! The sync socket tells the creating process that every step up to the
//! exec worked, without waiting for the exec itself (which is what
//! [`pocky_ns::Child::start`] waits for): that runs on a thread and is
//! abandoned when `create` exits.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::{Hook, Spec};
use pocky_ns::{ChildError, NsError};

use crate::RuntimeError;
use crate::hooks;
use crate::launch::{Launch, LaunchOptions, Stdio, spawn_container};
use crate::process::{is_alive, start_time};
use crate::state::{OciState, Record, StateDir, Status};

/// What the init holds while it waits for `start`.
#[derive(Debug)]
pub struct StartGate {
    /// `exec.fifo`, opened `O_PATH` before the pivot hid it.
    fifo: OwnedFd,
    sync: UnixStream,
    start_hooks: Vec<Hook>,
}

/// What the init writes into exec.fifo once `start` opened it.
const START_OK: &[u8] = b"0";
/// Follows [`START_OK`] with the reason when a startContainer hook failed.
const START_FAILED: char = '!';

impl StartGate {
    /// In the init, after all setup: reports ready, then blocks until
    /// `start` opens the FIFO, then runs the startContainer hooks. Returns
    /// the FIFO's write end, to be kept open until the exec closes it
    /// (close-on-exec): `start` reads until then, so a hook's failure,
    /// written into it, reaches `start`'s caller.
    pub(crate) fn wait(self) -> Result<std::fs::File, ChildError> {
        let fail = |what: &str, e: std::io::Error| {
            ChildError::setup(
                "start gate",
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                format!("{what}: {e}"),
            )
        };
        let mut state = Vec::new();
        (&self.sync)
            .read_to_end(&mut state)
            .map_err(|e| fail("reading the state", e))?;
        (&self.sync)
            .write_all(b"1")
            .map_err(|e| fail("reporting ready", e))?;
        drop(self.sync);
        let path = format!("/proc/self/fd/{}", self.fifo.as_raw_fd());
        let fifo = loop {
            match nix::fcntl::open(
                path.as_str(),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => break fd,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(ChildError::setup(
                        "start gate",
                        e,
                        format!("opening exec.fifo through {path}: {e}"),
                    ));
                }
            }
        };
        drop(self.fifo);
        let mut fifo = std::fs::File::from(fifo);
        fifo.write_all(START_OK)
            .map_err(|e| fail("writing exec.fifo", e))?;
        if let Err(e) = hooks::run_in_child(&self.start_hooks, &state) {
            let _ = fifo.write_all(format!("{}{}", START_FAILED, e.message).as_bytes());
            return Err(e);
        }
        Ok(fifo)
    }
}

/// What `create` needs.
#[derive(Debug)]
pub struct CreateOptions<'a> {
    pub spec: &'a Spec,
    /// Absolute path of the bundle.
    pub bundle: &'a Path,
    pub state: &'a StateDir,
    /// A socket connected to the caller's `--console-socket`.
    pub console_socket: Option<OwnedFd>,
    pub stdio: Stdio,
    /// See [`LaunchOptions::cgroup_base`].
    pub cgroup_base: Option<String>,
    /// See [`LaunchOptions::preserve_fds`].
    pub preserve_fds: u32,
}

/// A created container whose init waits for `start`.
#[derive(Debug)]
pub struct Created {
    pub record: Record,
    /// Finishes when the init execs (after `start`) or fails.
    starter: JoinHandle<(pocky_ns::Child, Result<(), NsError>)>,
}

impl Created {
    pub fn pid(&self) -> i32 {
        self.record.pid
    }

    /// Waits for the init's exec (call after [`start`]) and returns the
    /// handle to wait for its exit.
    pub fn into_child(self) -> Result<pocky_ns::Child, RuntimeError> {
        let (child, result) = self
            .starter
            .join()
            .map_err(|_| RuntimeError::State("the start thread panicked".into()))?;
        result.map_err(RuntimeError::Ns)?;
        Ok(child)
    }
}

fn hooks_of(spec: &Spec, pick: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>) -> Vec<Hook> {
    spec.hooks()
        .as_ref()
        .and_then(|h| pick(h).clone())
        .unwrap_or_default()
}

fn make_fifo(path: &Path) -> Result<OwnedFd, RuntimeError> {
    let io = |op: &'static str| {
        let path = path.to_path_buf();
        move |e: Errno| RuntimeError::Io {
            op,
            path,
            source: std::io::Error::from(e),
        }
    };
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o622)).map_err(io("mkfifo"))?;
    // mkfifo's mode passes through the umask; the container's user, who
    // may not be root, must be able to open it for writing.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        path,
        Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(io("chmod"))?;
    nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).map_err(io("open"))
}

/// Creates the container: on success its init waits on the FIFO and
/// `state.json` is saved. On failure nothing of it is left.
pub fn create(opts: CreateOptions<'_>) -> Result<Created, RuntimeError> {
    let state = opts.state;
    state.create()?;
    let result = state.save_spec(opts.spec).and_then(|()| create_in(opts));
    if result.is_err() {
        let _ = state.remove();
    }
    result
}

fn create_in(opts: CreateOptions<'_>) -> Result<Created, RuntimeError> {
    let CreateOptions {
        spec,
        bundle,
        state: dir,
        console_socket,
        stdio,
        cgroup_base,
        preserve_fds,
    } = opts;
    let fifo = make_fifo(&dir.fifo())?;
    let (sync, child_sync) = UnixStream::pair().map_err(|source| RuntimeError::Io {
        op: "socketpair",
        path: dir.path().to_path_buf(),
        source,
    })?;
    let annotations = spec.annotations().clone().unwrap_or_default();
    let state_of = |pid: i32, status: Status| OciState {
        oci_version: crate::state::OCI_VERSION.to_owned(),
        id: dir.id().to_owned(),
        status,
        pid,
        bundle: bundle.to_path_buf(),
        annotations: annotations.clone(),
    };
    let gate = StartGate {
        fifo,
        sync: child_sync,
        start_hooks: hooks_of(spec, |h| h.start_container()),
    };
    let launched = spawn_container(
        Launch {
            spec,
            bundle,
            overlay: None,
            stdio,
        },
        LaunchOptions {
            console_socket,
            gate: Some(gate),
            cgroup_base: cgroup_base.clone(),
            preserve_fds,
        },
        |pid, _| {
            // The environment is made (lifecycle step 2), which is what
            // the spec calls `created`; runtime-tools' hooks_stdin checks it.
            let state = state_of(pid.as_raw(), Status::Created);
            hooks::run_host(&hooks_of(spec, |h| h.prestart()), &state)?;
            hooks::run_host(&hooks_of(spec, |h| h.create_runtime()), &state)?;
            hooks::run_in_container(
                &hooks_of(spec, |h| h.create_container()),
                pid.as_raw(),
                spec,
                &state,
            )
        },
    )?;
    let pid = launched.pid();
    let cgroup = launched.cgroup.as_ref().map(|c| c.path().to_string());
    let record = Record {
        id: dir.id().to_owned(),
        bundle: bundle.to_path_buf(),
        pid,
        start_time: start_time(pid).unwrap_or(0),
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        cgroup,
        cgroup_base,
        annotations: annotations.clone(),
        hooks: spec.hooks().clone(),
    };
    let discard = |e: RuntimeError| {
        if let Some(cg) = &launched.cgroup {
            use pocky_cgroup::CgroupManager;
            let _ = cg.kill_all();
            let _ = cg.remove();
        }
        e
    };
    dir.save(&record).map_err(discard)?;
    let state_json = serde_json::to_vec(&state_of(pid, Status::Created))
        .map_err(|e| discard(RuntimeError::State(format!("encoding state: {e}"))))?;
    (&sync)
        .write_all(&state_json)
        .and_then(|()| sync.shutdown(std::net::Shutdown::Write))
        .map_err(|source| {
            discard(RuntimeError::Io {
                op: "send state to",
                path: dir.path().to_path_buf(),
                source,
            })
        })?;
    let cgroup_handle = launched.cgroup.clone();
    let mut child = launched.child;
    let starter = std::thread::spawn(move || {
        let r = child.start();
        (child, r)
    });
    let mut byte = [0u8; 1];
    let ready = loop {
        match (&sync).read(&mut byte) {
            Ok(n) => break n == 1,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break false,
        }
    };
    if ready {
        return Ok(Created { record, starter });
    }
    let err = match starter.join() {
        Ok((_, Err(e))) => RuntimeError::Ns(e),
        _ => RuntimeError::State("the container's init exited during create".into()),
    };
    if let Some(cg) = &cgroup_handle {
        use pocky_cgroup::CgroupManager;
        let _ = cg.kill_all();
        let _ = cg.remove();
    }
    Err(err)
}

/// Lets a created container run: opens the FIFO (which releases the
/// init), reads until the init's exec closes it, removes it, then runs the
/// poststart hooks. Warnings (failed poststart hooks) are returned.
pub fn start(dir: &StateDir) -> Result<Vec<String>, RuntimeError> {
    let record = dir.load()?;
    match dir.status(&record) {
        Status::Created => {}
        Status::Stopped => {
            return Err(RuntimeError::State(format!(
                "cannot start container {}: it is stopped",
                record.id
            )));
        }
        s => {
            return Err(RuntimeError::State(format!(
                "cannot start container {}: it is already {s}",
                record.id
            )));
        }
    }
    let fifo_path = dir.fifo();
    // Non-blocking, so an init that died never leaves us waiting.
    let fifo = nix::fcntl::open(
        &fifo_path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RuntimeError::Io {
        op: "open",
        path: fifo_path.clone(),
        source: e.into(),
    })?;
    let got = read_fifo(&fifo, &record)?;
    let _ = std::fs::remove_file(&fifo_path);
    if let Some(i) = got.iter().position(|b| *b == START_FAILED as u8) {
        return Err(RuntimeError::State(format!(
            "cannot start container {}: startContainer {}",
            record.id,
            String::from_utf8_lossy(&got[i + 1..])
        )));
    }
    if got.is_empty() {
        let why = if is_alive(record.pid, record.start_time) {
            "it was started already"
        } else {
            "its init exited"
        };
        return Err(RuntimeError::State(format!(
            "cannot start container {}: {why}",
            record.id
        )));
    }
    let mut warnings = Vec::new();
    let poststart = record
        .hooks
        .as_ref()
        .and_then(|h| h.poststart().clone())
        .unwrap_or_default();
    let state = dir.oci_state(&record, Status::Running);
    if let Err(e) = hooks::run_host(&poststart, &state) {
        warnings.push(format!("poststart hook: {e}"));
    }
    Ok(warnings)
}

/// Reads the FIFO until its writer (the init) closed it by exec'ing.
/// Polls with a period so an init that dies before opening it is noticed.
fn read_fifo(fifo: &OwnedFd, record: &Record) -> Result<Vec<u8>, RuntimeError> {
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    let mut saw_writer = false;
    loop {
        match nix::unistd::read(fifo, &mut buf) {
            Ok(0) if saw_writer => return Ok(got),
            Ok(0) => {}
            Ok(n) => {
                saw_writer = true;
                got.extend_from_slice(&buf[..n]);
                continue;
            }
            Err(Errno::EAGAIN) => saw_writer = true,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(RuntimeError::State(format!(
                    "reading exec.fifo of {}: {e}",
                    record.id
                )));
            }
        }
        let mut pfd = libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, 100) };
        if rc > 0 && pfd.revents & libc::POLLHUP != 0 {
            // A writer came and went: the next read tells what it left.
            saw_writer = true;
        }
        if rc == 0 && !is_alive(record.pid, record.start_time) {
            return Err(RuntimeError::State(format!(
                "container {}: its init exited before it could start",
                record.id
            )));
        }
    }
}
