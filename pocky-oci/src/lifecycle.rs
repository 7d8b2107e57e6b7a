//! create, start, run, kill, delete, pause, resume.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use oci_spec::runtime::Spec;
use pocky_runtime::create::{self, CreateOptions, Created};
use pocky_runtime::launch::Stdio;
use pocky_runtime::state::StateDir;
use pocky_runtime::{control, process::parse_signal};

use crate::cli::CreateArgs;
use crate::log::Logger;

/// Reads `<bundle>/config.json` and fills in what the runtime decides
/// when the spec does not: the cgroup path, which is relative (below the
/// runtime's own cgroup, see [`cgroup_base`]) and named for the id when
/// the spec has none, as in runc.
pub fn load_spec(bundle: &Path, id: &str) -> anyhow::Result<Spec> {
    let path = bundle.join("config.json");
    let mut spec = Spec::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    match linux.cgroups_path() {
        Some(p) if p.to_string_lossy().contains(':') => bail!(
            "cgroupsPath {:?} is in systemd's slice:prefix:name form, which needs \
             --systemd-cgroup: not supported, give a path",
            p.display()
        ),
        Some(_) => {}
        None => {
            linux.set_cgroups_path(Some(PathBuf::from(id)));
            spec.set_linux(Some(linux));
        }
    }
    crate::defaults::add_allowed_devices(&mut spec)?;
    Ok(spec)
}

/// The text of this process's `/proc/self/cgroup` when the spec's
/// `cgroupsPath` is relative: runc makes such a path below its own cgroup
/// (per controller on v1), and so does pocky-runtime. The text is kept in
/// the state so later commands, run from any cgroup, find the same place.
pub fn cgroup_base(spec: &Spec) -> anyhow::Result<Option<String>> {
    let relative = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .is_some_and(|p| p.is_relative());
    if !relative {
        return Ok(None);
    }
    std::fs::read_to_string("/proc/self/cgroup")
        .map(Some)
        .context("reading /proc/self/cgroup for a relative cgroupsPath")
}

/// `--console-socket` rules, as runc has them: a terminal needs one, and
/// one without a terminal is a mistake.
pub fn console_socket(terminal: bool, path: Option<&Path>) -> anyhow::Result<Option<OwnedFd>> {
    match (terminal, path) {
        (true, None) => bail!(
            "the process has a terminal (process.terminal): pass --console-socket to \
             receive it, or give the process no terminal"
        ),
        (false, Some(_)) => {
            bail!("--console-socket was given but the process has no terminal")
        }
        (true, Some(p)) => {
            let s = UnixStream::connect(p)
                .with_context(|| format!("connecting to console socket {}", p.display()))?;
            Ok(Some(s.into()))
        }
        (false, None) => Ok(None),
    }
}

/// Writes the pid through a temp file and a rename: callers poll for it.
pub fn write_pid_file(path: &Path, pid: i32) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let name = path.file_name().context("pid file path has no file name")?;
    let tmp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".{}.tmp", name.to_string_lossy()));
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("{}", tmp.display()))?;
    write!(f, "{pid}").with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing pid file {}", path.display()))
}

/// A created container; `console` is the pty master when `run` in the
/// foreground made the terminal itself (no `--console-socket`).
struct Made {
    created: Created,
    dir: StateDir,
    console: Option<OwnedFd>,
}

fn create_container(root: &Path, args: &CreateArgs, foreground: bool) -> anyhow::Result<Made> {
    let bundle = std::fs::canonicalize(&args.bundle)
        .with_context(|| format!("bundle {}", args.bundle.display()))?;
    let spec = load_spec(&bundle, &args.id)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    // As runc: `run` in the foreground with a terminal and no console
    // socket relays the pty to its own stdio, through a socket of its own.
    let own_console = if terminal && foreground && args.console_socket.is_none() {
        Some(UnixStream::pair().context("socketpair for the console")?)
    } else {
        None
    };
    let console = match own_console {
        Some((_, ref theirs)) => Some(theirs.try_clone()?.into()),
        None => console_socket(terminal, args.console_socket.as_deref())?,
    };
    let dir = StateDir::new(root, &args.id)?;
    let created = create::create(CreateOptions {
        spec: &spec,
        bundle: &bundle,
        state: &dir,
        console_socket: console,
        stdio: Stdio::default(),
        cgroup_base: cgroup_base(&spec)?,
        preserve_fds: args.preserve_fds,
    })?;
    let fail = |e: anyhow::Error| {
        let _ = control::delete(&dir, true);
        e
    };
    if let Some(pf) = &args.pid_file {
        write_pid_file(pf, created.pid()).map_err(fail)?;
    }
    let console = match own_console {
        Some((ours, _)) => Some(
            pocky_runtime::console::recv_fd(ours.as_fd())
                .context("receiving the container's terminal")
                .map_err(fail)?,
        ),
        None => None,
    };
    Ok(Made {
        created,
        dir,
        console,
    })
}

pub fn create(root: &Path, args: &CreateArgs) -> anyhow::Result<()> {
    create_container(root, args, false).map(|_| ())
}

pub fn start(root: &Path, id: &str, log: &mut Logger) -> anyhow::Result<()> {
    let dir = StateDir::new(root, id)?;
    for w in create::start(&dir)? {
        log.warn(&w);
    }
    Ok(())
}

/// create + start; without `detach`, waits for the container (passing on
/// signals), deletes it and exits with its status.
pub fn run(
    root: &Path,
    args: &CreateArgs,
    detach: bool,
    log: &mut Logger,
) -> anyhow::Result<ExitCode> {
    // Blocked before the spawn, so a signal during the start waits for
    // the container instead of killing us.
    let forwarder = if detach {
        None
    } else {
        Some(pocky_ns::SignalForwarder::new()?)
    };
    let Made {
        created,
        dir,
        console,
    } = create_container(root, args, !detach)?;
    let started = create::start(&dir);
    let warnings = match started {
        Ok(w) => w,
        Err(e) => {
            let _ = control::delete(&dir, true);
            return Err(e.into());
        }
    };
    for w in warnings {
        log.warn(&w);
    }
    if detach {
        std::process::exit(0);
    }
    let child = created.into_child()?;
    // The relay ends when the container's last process closes the pty.
    let relay =
        console.map(|master| std::thread::spawn(move || pocky_ns::pty::relay(master, true)));
    let status = match &forwarder {
        Some(f) => f.run(child.pid)?,
        None => child.wait()?,
    };
    if let Some(r) = relay {
        let _ = r.join();
    }
    for w in control::delete(&dir, true)? {
        log.warn(&w);
    }
    Ok(ExitCode::from(u8::try_from(status.code).unwrap_or(255)))
}

pub fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> anyhow::Result<()> {
    let sig = parse_signal(signal.unwrap_or("SIGTERM"))?;
    control::kill(&StateDir::new(root, id)?, sig, all)?;
    Ok(())
}

pub fn delete(root: &Path, id: &str, force: bool, log: &mut Logger) -> anyhow::Result<()> {
    for w in control::delete(&StateDir::new(root, id)?, force)? {
        log.warn(&w);
    }
    Ok(())
}

pub fn pause(root: &Path, id: &str) -> anyhow::Result<()> {
    Ok(control::pause(&StateDir::new(root, id)?)?)
}

pub fn resume(root: &Path, id: &str) -> anyhow::Result<()> {
    Ok(control::resume(&StateDir::new(root, id)?)?)
}
