//! The container log, one JSON object per line as Docker's json-file driver
//! writes it: `{"log":"text\n","stream":"stdout","attrs":{..},"time":"RFC 3339"}`
//! (`attrs` only with `--log-opt labels=/env=/tag=`), rotated as
//! `--log-opt max-size/max-file` say (`logfiles`). With `--log-driver
//! none` the output is read and dropped.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::SystemTime;

use pocky_store::{ContainerRecord, Store};

use crate::log_config::{self, Rotation};
use crate::logfiles::Sink;

/// Partial lines are flushed at this size, as Docker does at 16 KiB.
const MAX_LINE: usize = 16 * 1024;

struct Stream {
    file: std::fs::File,
    name: &'static str,
    pending: Vec<u8>,
    open: bool,
}

/// Where a container's output goes: its json log, or nowhere (`none`).
#[derive(Debug, Clone)]
pub struct Target {
    log: Option<(PathBuf, Rotation)>,
    attrs: BTreeMap<String, String>,
}

impl Target {
    /// The container's log as its record configures it; `env` is its
    /// process's environment (for `--log-opt env=`).
    pub fn of(store: &Store, rec: &ContainerRecord, env: &[String]) -> Target {
        let log = rec
            .host
            .log
            .keeps_output()
            .then(|| crate::state::log_path(store, &rec.id).ok())
            .flatten()
            .map(|p| (p, log_config::rotation(&rec.host.log)));
        Target {
            log,
            attrs: log_config::attributes(rec, env),
        }
    }

    /// The target of a created container, from its bundle's environment.
    pub fn of_created(store: &Store, created: &crate::create::Created) -> Target {
        let env = created
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.env().clone())
            .unwrap_or_default();
        Target::of(store, &created.record, &env)
    }
}

/// Copies the container's output into the log until every stream closes.
pub fn copy_to_log(target: &Target, readers: Vec<(OwnedFd, &'static str)>) {
    copy(target, readers, false);
}

/// The same, and each stream also to this process's stdout or stderr as it
/// comes: a foreground `run` shows its output and logs it, as Docker's does.
pub fn tee_to_log(target: &Target, readers: Vec<(OwnedFd, &'static str)>) {
    copy(target, readers, true);
}

fn copy(target: &Target, readers: Vec<(OwnedFd, &'static str)>, echo: bool) {
    // Without a log (none, or one that cannot be opened) the streams are
    // still drained: a container must never block on a full pipe.
    let mut log = target
        .log
        .as_ref()
        .and_then(|(path, rotation)| Sink::open(path, *rotation).ok());
    let attrs = &target.attrs;
    let mut streams: Vec<Stream> = readers
        .into_iter()
        .map(|(fd, name)| Stream {
            file: std::fs::File::from(fd),
            name,
            pending: Vec::new(),
            open: true,
        })
        .collect();
    let mut buf = [0u8; 16 * 1024];
    while streams.iter().any(|s| s.open) {
        let mut fds: Vec<libc::pollfd> = streams
            .iter()
            .filter(|s| s.open)
            .map(|s| libc::pollfd {
                fd: s.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid pollfd array for the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        for pfd in fds.iter().filter(|p| p.revents != 0) {
            let Some(s) = streams.iter_mut().find(|s| s.file.as_raw_fd() == pfd.fd) else {
                continue;
            };
            match s.file.read(&mut buf) {
                // A pty reports EIO once the container side is closed.
                Ok(0) | Err(_) => {
                    s.open = false;
                    let rest = std::mem::take(&mut s.pending);
                    write_entry(log.as_mut(), attrs, s.name, &rest);
                }
                Ok(n) => {
                    if echo {
                        echo_out(s.name, &buf[..n]);
                    }
                    s.pending.extend_from_slice(&buf[..n]);
                    while let Some(pos) = s.pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = s.pending.drain(..=pos).collect();
                        write_entry(log.as_mut(), attrs, s.name, &line);
                    }
                    if s.pending.len() >= MAX_LINE {
                        let chunk = std::mem::take(&mut s.pending);
                        write_entry(log.as_mut(), attrs, s.name, &chunk);
                    }
                }
            }
        }
        if let Some(l) = log.as_mut() {
            let _ = l.flush();
        }
    }
    if let Some(l) = log.as_mut() {
        let _ = l.flush();
    }
}

/// A closed terminal or pipe on our side is no reason to stop logging.
fn echo_out(stream: &str, bytes: &[u8]) {
    let _ = if stream == "stderr" {
        let mut e = std::io::stderr().lock();
        e.write_all(bytes).and_then(|()| e.flush())
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(bytes).and_then(|()| o.flush())
    };
}

fn write_entry(
    log: Option<&mut Sink>,
    attrs: &BTreeMap<String, String>,
    stream: &str,
    text: &[u8],
) {
    let Some(log) = log else { return };
    if text.is_empty() {
        return;
    }
    let mut entry = serde_json::json!({
        "log": String::from_utf8_lossy(text),
        "stream": stream,
        "time": humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
    });
    if !attrs.is_empty() {
        entry["attrs"] = serde_json::json!(attrs);
    }
    if let Ok(line) = serde_json::to_vec(&entry) {
        let _ = log.write_line(&line);
    }
}
