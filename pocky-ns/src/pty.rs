//! Pseudo-terminal helpers.
//!
//! A container's pty should be opened inside the container (after its
//! `/dev/pts` is mounted), so the slave's name resolves there and `tty`
//! works: the child calls [`open`], hands the master to the parent with
//! [`ChildChannel::send_pty_master`](crate::ChildChannel::send_pty_master),
//! makes the slave its terminal with [`make_controlling`], then execs. The
//! parent gets the master from
//! [`Child::take_pty_master`](crate::Child::take_pty_master), puts the
//! user's terminal in raw mode with [`RawMode`], and keeps the window size
//! in step with [`copy_winsize`] whenever [`Winch`] reports a SIGWINCH.
//!
//! SIGWINCH uses a self-pipe: the handler writes one byte to a non-blocking
//! pipe whose read end the caller polls next to its stdin and the master.
//! That needs no extra crate and fits a poll loop.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::termios::{self, SetArg, Termios};

use crate::error::NsError;

fn pty_err(op: &'static str) -> impl FnOnce(Errno) -> NsError {
    move |source| NsError::Pty { op, source }
}

/// Both ends of a pseudo-terminal, close-on-exec.
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a pty pair through the `/dev/ptmx` of the current mount namespace.
/// The slave is obtained from the master with `TIOCGPTPEER`, which needs no
/// path lookup of `/dev/pts/N` (a container could have replaced it).
pub fn open() -> Result<Pty, NsError> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: posix_openpt only takes flags and returns a new fd or -1.
    let raw = unsafe { libc::posix_openpt(flags) };
    if raw < 0 {
        return Err(NsError::Pty {
            op: "posix_openpt",
            source: Errno::last(),
        });
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: unlockpt only reads the fd.
    if unsafe { libc::unlockpt(master.as_raw_fd()) } != 0 {
        return Err(NsError::Pty {
            op: "unlockpt",
            source: Errno::last(),
        });
    }
    // SAFETY: TIOCGPTPEER takes open flags as its integer argument and
    // returns a new fd.
    let raw = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if raw < 0 {
        return Err(NsError::Pty {
            op: "TIOCGPTPEER",
            source: Errno::last(),
        });
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(raw) };
    Ok(Pty { master, slave })
}

/// In the child: starts a new session, makes `slave` its controlling
/// terminal and its stdin, stdout and stderr.
pub fn make_controlling(slave: OwnedFd) -> Result<(), NsError> {
    nix::unistd::setsid().map_err(pty_err("setsid"))?;
    // SAFETY: TIOCSCTTY takes an integer (0: do not steal from another
    // session).
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(NsError::Pty {
            op: "TIOCSCTTY",
            source: Errno::last(),
        });
    }
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard fds; the previous ones are closed
        // by the kernel, and they are owned by no Rust object.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(NsError::Pty {
                op: "dup2",
                source: Errno::last(),
            });
        }
    }
    if slave.as_raw_fd() <= 2 {
        // The slave now is one of 0..=2 and must stay open.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(slave);
    }
    Ok(())
}

/// Copies the window size of the terminal `from` to the terminal `to`.
pub fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), NsError> {
    // SAFETY: winsize is plain integers, for which all-zero is valid.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: `ws` is a valid, writable winsize.
    if unsafe { libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } != 0 {
        return Err(NsError::Pty {
            op: "TIOCGWINSZ",
            source: Errno::last(),
        });
    }
    set_winsize_to(to, &ws)
}

/// Sets the window size of the terminal `fd` (master or slave side).
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), NsError> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    set_winsize_to(fd, &ws)
}

fn set_winsize_to(fd: BorrowedFd<'_>, ws: &libc::winsize) -> Result<(), NsError> {
    // SAFETY: `ws` is a valid winsize that TIOCSWINSZ only reads.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) } != 0 {
        return Err(NsError::Pty {
            op: "TIOCSWINSZ",
            source: Errno::last(),
        });
    }
    Ok(())
}

/// Puts a terminal in raw mode and restores its settings on drop.
#[derive(Debug)]
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    /// Makes the terminal `fd` raw (a dup of it is kept for the restore).
    pub fn enter(fd: BorrowedFd<'_>) -> Result<Self, NsError> {
        let fd = fd.try_clone_to_owned().map_err(|e| NsError::Pty {
            op: "dup terminal fd",
            source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        let saved = termios::tcgetattr(&fd).map_err(pty_err("tcgetattr"))?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&fd, SetArg::TCSANOW, &raw).map_err(pty_err("tcsetattr"))?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // Nothing to do if the terminal went away meanwhile.
        let _ = termios::tcsetattr(&self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// The write end of the installed [`Winch`] pipe, -1 when none.
static WINCH_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_WRITE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: errno access and write(2) are async-signal-safe; errno is
    // saved and restored so the interrupted code does not see ours.
    unsafe {
        let errno = *libc::__errno_location();
        let byte = 1u8;
        // A full pipe already signals a pending resize.
        let _ = libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// A SIGWINCH self-pipe: while it lives, each SIGWINCH makes
/// [`fd`](Winch::fd) readable. Only one may exist at a time.
#[derive(Debug)]
pub struct Winch {
    read: OwnedFd,
    /// Kept open for the handler, which knows it by number only.
    _write: OwnedFd,
}

impl Winch {
    /// Installs the SIGWINCH handler.
    pub fn install() -> Result<Self, NsError> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(|source| NsError::Signal {
                    op: "pipe2",
                    source,
                })?;
        if WINCH_WRITE_FD
            .compare_exchange(-1, write.as_raw_fd(), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(NsError::Signal {
                op: "install SIGWINCH handler (one is already installed)",
                source: Errno::EBUSY,
            });
        }
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_winch),
            nix::sys::signal::SaFlags::SA_RESTART,
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: the handler only performs async-signal-safe operations.
        let installed =
            unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGWINCH, &action) };
        if let Err(source) = installed {
            WINCH_WRITE_FD.store(-1, Ordering::SeqCst);
            return Err(NsError::Signal {
                op: "sigaction(SIGWINCH)",
                source,
            });
        }
        Ok(Winch {
            read,
            _write: write,
        })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Empties the pipe; true if a SIGWINCH arrived since the last call.
    pub fn drain(&self) -> bool {
        let mut buf = [0u8; 64];
        let mut any = false;
        while let Ok(n @ 1..) = nix::unistd::read(&self.read, &mut buf) {
            any |= n > 0;
        }
        any
    }
}

impl Drop for Winch {
    fn drop(&mut self) {
        // SAFETY: restoring the default disposition installs no code.
        unsafe { libc::signal(libc::SIGWINCH, libc::SIG_DFL) };
        // Only now may the write end (closed after this) stop being used.
        WINCH_WRITE_FD.store(-1, Ordering::SeqCst);
    }
}

/// The host side of a container's terminal (`pocky run -t`, `pocky-runtime
/// run` of a terminal process): the caller's terminal in raw mode, bytes
/// both ways between it and the pty's `master`, window size changes passed
/// on. Copies until every process has closed the container side; with
/// `interactive` false, stdin is left alone.
pub fn relay(master: OwnedFd, interactive: bool) -> std::io::Result<()> {
    relay_detachable(master, interactive, None).map(|_| ())
}

/// How a [`relay_detachable`] ended.
#[derive(Debug)]
pub enum Relayed {
    /// Every process closed the terminal.
    Ended,
    /// The detach keys were typed: the master, still open, is the
    /// caller's to keep (see [`hold_detached`]).
    Detached(OwnedFd),
}

/// A typed-input filter for the detach keys: the bytes to pass on, and
/// whether the sequence was typed.
pub type DetachFilter<'a> = &'a mut dyn FnMut(&[u8]) -> (Vec<u8>, bool);

/// [`relay`], with the caller's input passed through `detach` first: when
/// it reports the detach keys, the relay stops and hands back the master.
pub fn relay_detachable(
    master: OwnedFd,
    interactive: bool,
    mut detach: Option<DetachFilter<'_>>,
) -> std::io::Result<Relayed> {
    let stdin = std::io::stdin();
    let _raw = if interactive && stdin.is_terminal() {
        Some(RawMode::enter(stdin.as_fd()).map_err(std::io::Error::other)?)
    } else {
        None
    };
    let winch = Winch::install().ok();
    let mut master_file = std::fs::File::from(master);
    let mut stdin_open = interactive;
    let mut buf = [0u8; 8192];
    let mut out = std::io::stdout();
    loop {
        let mut fds = vec![libc::pollfd {
            fd: master_file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if stdin_open {
            fds.push(libc::pollfd {
                fd: stdin.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if let Some(w) = &winch {
            fds.push(libc::pollfd {
                fd: w.fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of pollfd for the whole call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(std::io::Error::last_os_error());
        }
        if fds[0].revents != 0 {
            match master_file.read(&mut buf) {
                Ok(0) | Err(_) => return Ok(Relayed::Ended),
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
            }
        }
        let mut i = 1;
        if stdin_open {
            if fds[i].revents != 0 {
                let n = stdin.lock().read(&mut buf).unwrap_or(0);
                if n == 0 {
                    stdin_open = false;
                    // End of input: an EOT tells the shell on the pty.
                    let _ = master_file.write_all(&[4]);
                } else if let Some(filter) = detach.as_mut() {
                    let (pass, detached) = filter(&buf[..n]);
                    master_file.write_all(&pass)?;
                    if detached {
                        return Ok(Relayed::Detached(master_file.into()));
                    }
                } else {
                    master_file.write_all(&buf[..n])?;
                }
            }
            i += 1;
        }
        if let Some(w) = &winch
            && fds[i].revents != 0
            && w.drain()
        {
            let _ = copy_winsize(stdin.as_fd(), master_file.as_fd());
        }
    }
}

/// After a detach: a small process in a session of its own keeps the
/// terminal's `master` open, reading and dropping what is written to it,
/// so that the processes on the terminal run on (no hangup) after the
/// caller exits. It ends when the last of them closes the terminal.
pub fn hold_detached(master: OwnedFd) -> std::io::Result<()> {
    let fd = master.as_raw_fd();
    let keep = libc::c_uint::try_from(fd).map_err(std::io::Error::other)?;
    // SAFETY: the caller may have threads, so the child makes only
    // async-signal-safe calls (setsid, open, dup2, close_range, read,
    // _exit) on a stack buffer and never returns.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        // SAFETY: in the child: raw syscalls on descriptors it owns and a
        // stack buffer, ending in _exit (see above).
        0 => unsafe {
            libc::setsid();
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                for std_fd in 0..3 {
                    libc::dup2(null, std_fd);
                }
            }
            // Nothing of the caller's (its pipes, its locks) stays held.
            if keep > 3 {
                libc::syscall(libc::SYS_close_range, 3, keep - 1, 0);
            }
            libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0);
            let mut buf = [0u8; 4096];
            loop {
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 && !(n < 0 && *libc::__errno_location() == libc::EINTR) {
                    libc::_exit(0);
                }
            }
        },
        _ => Ok(()),
    }
}
