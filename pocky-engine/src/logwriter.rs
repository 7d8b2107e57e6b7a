//! The container log, one JSON object per line as Docker's json-file driver
//! writes it: `{"log":"text\n","stream":"stdout","time":"RFC 3339"}`.

use std::fs::OpenOptions;
use std::io::{BufWriter, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::SystemTime;

/// Partial lines are flushed at this size, as Docker does at 16 KiB.
const MAX_LINE: usize = 16 * 1024;

struct Stream {
    file: std::fs::File,
    name: &'static str,
    pending: Vec<u8>,
    open: bool,
}

/// Copies the container's output into the log until every stream closes.
pub fn copy_to_log(path: &Path, readers: Vec<(OwnedFd, &'static str)>) {
    copy(path, readers, false);
}

/// The same, and each stream also to this process's stdout or stderr as it
/// comes: a foreground `run` shows its output and logs it, as Docker's does.
pub fn tee_to_log(path: &Path, readers: Vec<(OwnedFd, &'static str)>) {
    copy(path, readers, true);
}

fn copy(path: &Path, readers: Vec<(OwnedFd, &'static str)>, echo: bool) {
    let Ok(log) = OpenOptions::new().create(true).append(true).open(path) else {
        return;
    };
    let mut log = BufWriter::new(log);
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
                    write_entry(&mut log, s.name, &rest);
                }
                Ok(n) => {
                    if echo {
                        echo_out(s.name, &buf[..n]);
                    }
                    s.pending.extend_from_slice(&buf[..n]);
                    while let Some(pos) = s.pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = s.pending.drain(..=pos).collect();
                        write_entry(&mut log, s.name, &line);
                    }
                    if s.pending.len() >= MAX_LINE {
                        let chunk = std::mem::take(&mut s.pending);
                        write_entry(&mut log, s.name, &chunk);
                    }
                }
            }
        }
        let _ = log.flush();
    }
    let _ = log.flush();
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

fn write_entry(log: &mut impl Write, stream: &str, text: &[u8]) {
    if text.is_empty() {
        return;
    }
    let entry = serde_json::json!({
        "log": String::from_utf8_lossy(text),
        "stream": stream,
        "time": humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
    });
    let _ = writeln!(log, "{entry}");
}
