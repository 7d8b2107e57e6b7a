//! The stdin of a detached `-i` container, for `pocky attach`. With no
//! daemon, the container's monitor forks this small server after each
//! start: it listens on `attach.sock` in the container's directory (mode
//! 0600, so only its owner can type into the container) and copies what
//! attached clients send to the container's stdin (a pipe, or the pty's
//! master with `-t`). Output needs no server: `attach` follows the log.
//!
//! A [`crate::helper`] process, as the health prober is: the monitor forks
//! again, and a killed monitor must leave no lock held.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// The socket's name in the container's directory.
pub const SOCKET: &str = "attach.sock";

use crate::helper::STOP_FD;
const INPUT_FD: RawFd = STOP_FD + 1;
const LISTEN_FD: RawFd = STOP_FD + 2;

/// The running server; dropping it stops it and reaps it.
pub type Server = crate::helper::Helper;

/// The socket's path through an open descriptor of `dir`: a unix socket's
/// path is limited to 107 bytes, which a long state root would pass.
pub fn socket_path(dir_fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}/{SOCKET}", dir_fd.as_raw_fd())
}

/// Opens `dir` for [`socket_path`].
pub fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Ok(f.into())
}

/// Forks the server for the container in `dir`, writing to `input`. Call
/// it from a single-threaded process (the monitor). None when it cannot
/// start: the container runs on, only `attach` gets no stdin.
/// With `once`, the input closes when the first client's ends.
pub fn start(dir: &Path, input: OwnedFd, once: bool) -> Option<Server> {
    let listener = listen(dir)
        .map_err(|e| crate::log::debug!("attach socket in {}: {e}", dir.display()))
        .ok()?;
    let keep = vec![input, OwnedFd::from(listener)];
    crate::helper::spawn("attach server", keep, Duration::from_secs(2), move |_| {
        serve(once)
    })
}

fn listen(dir: &Path) -> std::io::Result<UnixListener> {
    let dir_fd = open_dir(dir)?;
    let path = socket_path(&dir_fd);
    let _ = std::fs::remove_file(&path);
    // 0600 from the start: the umask covers the window before a chmod.
    // SAFETY: umask only changes this process's file mode mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(&path);
    // SAFETY: as above, restoring it.
    unsafe { libc::umask(old) };
    bound
}

/// Copies every client's bytes to the input until the stop pipe closes.
fn serve(once: bool) -> i32 {
    // A client gone mid-write is an EPIPE to handle, not a death.
    // SAFETY: ignoring a signal installs no handler code.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    // SAFETY: fds 4 and 5 are this process's input and listener, owned by
    // nothing else since the helper moved them there.
    let mut input = unsafe { std::fs::File::from_raw_fd(INPUT_FD) };
    // SAFETY: as above.
    let listener = unsafe { UnixListener::from_raw_fd(LISTEN_FD) };
    let mut clients: Vec<UnixStream> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: STOP_FD,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: LISTEN_FD,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        fds.extend(clients.iter().map(|c| libc::pollfd {
            fd: c.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: `fds` is a valid pollfd array for the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return 1;
        }
        if fds[0].revents != 0 {
            return 0;
        }
        if fds[1].revents & libc::POLLIN != 0
            && let Ok((c, _)) = listener.accept()
        {
            clients.push(c);
        }
        let mut gone = Vec::new();
        for (i, pfd) in fds.iter().enumerate().skip(2) {
            if pfd.revents == 0 {
                continue;
            }
            let c = &mut clients[i - 2];
            match c.read(&mut buf) {
                // Leaving closes the input: the container reads its end.
                Ok(0) | Err(_) if once => return 0,
                Ok(0) | Err(_) => gone.push(i - 2),
                Ok(n) => {
                    // The container closed its stdin: nothing more to do.
                    if input.write_all(&buf[..n]).is_err() {
                        return 0;
                    }
                }
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
    }
}

/// Connects to the attach server of the container in `dir`; None when
/// the container takes no input (`-i` was not given, or it does not run).
pub fn connect(dir: &Path) -> Option<UnixStream> {
    let dir_fd = open_dir(dir).ok()?;
    UnixStream::connect(socket_path(&dir_fd)).ok()
}

/// Docker's `--detach-keys`: `ctrl-p,ctrl-q` (the default), letters,
/// `ctrl-@` to `ctrl-_`; a sequence of keys separated by commas.
pub fn parse_detach_keys(spec: &str) -> crate::Result<Vec<u8>> {
    spec.split(',')
        .map(|k| match k.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let b = c.as_bytes()[0].to_ascii_uppercase();
                match b {
                    b'@'..=b'_' => Ok(b - b'@'),
                    _ => Err(crate::invalid!("invalid detach key {k:?}")),
                }
            }
            None if k.len() == 1 => Ok(k.as_bytes()[0]),
            _ => Err(crate::invalid!("invalid detach key {k:?}")),
        })
        .collect()
}

/// Copies this process's stdin to the server until it ends; with a
/// terminal on stdin, in raw mode, and `keys` typed in a row set
/// `detached` and end it without passing them on.
pub fn send_stdin(
    mut conn: UnixStream,
    keys: Vec<u8>,
    detached: std::sync::Arc<std::sync::atomic::AtomicBool>,
    start: std::sync::mpsc::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    use std::io::IsTerminal;
    let raw = std::io::stdin()
        .is_terminal()
        .then(|| pocky_ns::pty::RawMode::enter(std::os::fd::AsFd::as_fd(&std::io::stdin())).ok())
        .flatten();
    std::thread::spawn(move || {
        let _raw = raw;
        // Input waits until the output that answers it can be seen.
        let _ = start.recv();
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        let mut escape = Escape::new(if _raw.is_some() { keys } else { Vec::new() });
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let (out, detach) = escape.feed(&buf[..n]);
            if detach {
                let _ = conn.write_all(&out);
                detached.store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            if conn.write_all(&out).is_err() {
                return;
            }
        }
    })
}

/// Watches typed input for the detach keys. Bytes that begin the
/// sequence are held back until it is clear they do not end it: a user
/// who detaches must not have sent half the sequence to the container.
#[derive(Debug)]
pub struct Escape {
    keys: Vec<u8>,
    matched: usize,
}

impl Escape {
    /// No keys: nothing is ever held back.
    pub fn new(keys: Vec<u8>) -> Escape {
        Escape { keys, matched: 0 }
    }

    /// The bytes of `input` to pass on, and whether the sequence was
    /// typed (then what follows it in `input` is dropped, as Docker does).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b != self.keys[self.matched] {
                // A partial match that broke off is typed after all; the
                // byte may start a new one.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b != self.keys[0] {
                    out.push(b);
                    continue;
                }
            }
            self.matched += 1;
            if self.matched == self.keys.len() {
                self.matched = 0;
                return (out, true);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_holds_back_a_partial_sequence() {
        let mut e = Escape::new(vec![0x10, 0x11]);
        assert_eq!(e.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(e.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(e.feed(b"\x10\x10\x11zz"), (b"\x10".to_vec(), true));
        let mut none = Escape::new(Vec::new());
        assert_eq!(none.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }

    #[test]
    fn detach_keys_parse_as_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [0x10, 0x11]);
        assert_eq!(parse_detach_keys("ctrl-@,x").unwrap(), [0, b'x']);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("meta-x").is_err());
    }
}
