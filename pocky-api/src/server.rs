//! `pocky system service`: the listening socket and one forked process
//! per connection.
//!
//! The listener stays single-threaded and does nothing but accept and
//! fork, so each connection's process is a single-threaded copy that may
//! fork again (detached starts, exec), as the engine requires. A client
//! that disconnects ends only its process; the kernel reaps it (SIGCHLD
//! is ignored in the listener). Containers never depend on the service:
//! their monitors are not its children.

use std::io::BufReader;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{ForkResult, fork};
use pocky_engine::store::Store;

use crate::http::{self, ReadError, Stream};

/// Where and how long to serve.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub socket: PathBuf,
    /// Also listen on TCP (loopback is the user's choice to make).
    pub listen: Option<std::net::SocketAddr>,
    /// Exit after this long without a new connection (None: never).
    pub timeout: Option<Duration>,
}

/// How long an idle keep-alive connection may wait for its next request.
const IDLE: Duration = Duration::from_secs(120);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn serve(opts: &Options) -> Result<()> {
    // Opened once, here: a bad root fails the command, not each request,
    // and the connections' processes inherit the handle rather than each
    // repeating the open's clean-up of what crashed commands left.
    let store = Store::open(&opts.root)?;
    let unix = bind_unix(&opts.socket)?;
    let tcp = opts
        .listen
        .map(|a| std::net::TcpListener::bind(a).with_context(|| format!("listening on {a}")))
        .transpose()?;
    set_signals()?;
    eprintln!(
        "pocky: serving the Docker API on unix://{}{}",
        opts.socket.display(),
        tcp.as_ref()
            .and_then(|t| t.local_addr().ok())
            .map(|a| format!(" and tcp://{a}"))
            .unwrap_or_default()
    );
    let result = accept_loop(opts, &store, &unix, tcp.as_ref());
    let _ = std::fs::remove_file(&opts.socket);
    result
}

fn set_signals() -> Result<()> {
    let stop = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only stores to an atomic; the listener has no
    // other threads that could be interrupted in a lock.
    unsafe {
        sigaction(Signal::SIGTERM, &stop)?;
        sigaction(Signal::SIGINT, &stop)?;
        sigaction(Signal::SIGCHLD, &ignore)?;
        sigaction(Signal::SIGPIPE, &ignore)?;
    }
    Ok(())
}

/// Binds the socket, replacing a stale one but never one that answers.
fn bind_unix(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{} exists and is not a socket", path.display());
        }
        if UnixStream::connect(path).is_ok() {
            bail!("another service is listening on {}", path.display());
        }
        std::fs::remove_file(path)?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    // Root-equivalent: whoever can connect can run privileged containers.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("pocky") {
        let _ = nix::unistd::chown(path, None, Some(group.gid));
    }
    Ok(listener)
}

fn accept_loop(
    opts: &Options,
    store: &Store,
    unix: &UnixListener,
    tcp: Option<&std::net::TcpListener>,
) -> Result<()> {
    let mut last = Instant::now();
    while !STOP.load(Ordering::SeqCst) {
        let wait = match opts.timeout {
            Some(t) => {
                let left = t.saturating_sub(last.elapsed());
                if left.is_zero() {
                    return Ok(());
                }
                PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = vec![PollFd::new(unix.as_fd(), PollFlags::POLLIN)];
        if let Some(t) = tcp {
            fds.push(PollFd::new(t.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, wait) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
        };
        let (unix_ready, tcp_ready) = (ready(0), ready(1));
        drop(fds);
        if unix_ready && let Ok((s, _)) = unix.accept() {
            last = Instant::now();
            spawn_connection(store, Stream::Unix(s), unix, tcp);
        }
        if tcp_ready
            && let Some(t) = tcp
            && let Ok((s, _)) = t.accept()
        {
            last = Instant::now();
            let _ = s.set_nodelay(true);
            spawn_connection(store, Stream::Tcp(s), unix, tcp);
        }
    }
    Ok(())
}

fn spawn_connection(
    store: &Store,
    stream: Stream,
    unix: &UnixListener,
    tcp: Option<&std::net::TcpListener>,
) {
    // SAFETY: the listener is single-threaded (nothing here starts a
    // thread), so the child is a whole copy of it.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // The connection's process listens to nothing and waits for
            // its own children again.
            let _ = nix::unistd::close(unix.as_raw_fd());
            if let Some(t) = tcp {
                let _ = nix::unistd::close(t.as_raw_fd());
            }
            let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring default dispositions.
            unsafe {
                let _ = sigaction(Signal::SIGCHLD, &dfl);
                let _ = sigaction(Signal::SIGTERM, &dfl);
                let _ = sigaction(Signal::SIGINT, &dfl);
            }
            serve_connection(store, stream);
            // SAFETY: leaves without running the listener's exit path.
            unsafe { libc::_exit(0) };
        }
        Ok(ForkResult::Parent { .. }) => {}
        Err(e) => eprintln!("pocky: cannot serve a connection: {e}"),
    }
}

/// Serves requests on one connection until it closes or is hijacked.
pub fn serve_connection(store: &Store, stream: Stream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    loop {
        let _ = reader.get_ref().set_read_timeout(Some(IDLE));
        let head = match http::read_head(&mut reader) {
            Ok(h) => h,
            Err(ReadError::Closed) | Err(ReadError::Io(_)) => return,
            Err(ReadError::Bad(msg)) => {
                let framing = http::Framing {
                    head_only: false,
                    close: true,
                };
                let _ = respond_error(&mut writer, &crate::ApiError::bad(msg), framing);
                return;
            }
        };
        let _ = reader.get_ref().set_read_timeout(None);
        let close = head.close;
        let keep = crate::router::dispatch(store, head, &mut reader, &mut writer);
        if close || !keep {
            return;
        }
    }
}

pub fn respond_error(
    w: &mut Stream,
    e: &crate::ApiError,
    framing: http::Framing,
) -> std::io::Result<()> {
    let body = serde_json::to_vec(&e.body()).unwrap_or_default();
    http::write_full(w, e.status, "application/json", &body, framing)
}

/// A failure that can no longer be answered (the response has started):
/// on the service's stderr.
pub fn log_error(msg: &str) {
    eprintln!("pocky: {msg}");
}
