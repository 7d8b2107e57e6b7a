//! The host side of `run -t`: the terminal in raw mode, bytes both ways
//! between it and the container's pty, and window size changes passed on.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::Result;
use pocky_ns::pty::{RawMode, Winch, copy_winsize};

/// Copies until the container side of the pty is closed by every process.
pub fn relay(master: OwnedFd, interactive: bool) -> Result<()> {
    let stdin = std::io::stdin();
    let _raw = if interactive && stdin.is_terminal() {
        Some(RawMode::enter(stdin.as_fd())?)
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
            return Err(std::io::Error::last_os_error().into());
        }
        if fds[0].revents != 0 {
            match master_file.read(&mut buf) {
                Ok(0) | Err(_) => return Ok(()),
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
                } else {
                    master_file.write_all(&buf[..n])?;
                }
            }
            i += 1;
        }
        if let Some(w) = &winch {
            if fds[i].revents != 0 && w.drain() {
                let _ = copy_winsize(stdin.as_fd(), master_file.as_fd());
            }
        }
    }
}
