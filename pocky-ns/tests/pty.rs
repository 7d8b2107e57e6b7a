//! Pty helpers: raw mode, window size, SIGWINCH, and a pty opened inside a
//! container's own devpts.

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::termios::{LocalFlags, tcgetattr};
use pocky_ns::subprocess::run_forked;
use pocky_ns::{ChildError, Namespace, NsConfig, exec, pty, spawn};

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_owned()) }
}

#[test]
fn raw_mode_is_restored_on_drop() {
    let p = pty::open().unwrap();
    let before = tcgetattr(&p.slave).unwrap();
    assert!(before.local_flags.contains(LocalFlags::ICANON));
    {
        let _raw = pty::RawMode::enter(p.slave.as_fd()).unwrap();
        let during = tcgetattr(&p.slave).unwrap();
        assert!(!during.local_flags.contains(LocalFlags::ICANON));
        assert!(!during.local_flags.contains(LocalFlags::ECHO));
    }
    let after = tcgetattr(&p.slave).unwrap();
    assert_eq!(after.local_flags, before.local_flags);
}

#[test]
fn window_size_is_copied() {
    let a = pty::open().unwrap();
    let b = pty::open().unwrap();
    let ws = libc::winsize {
        ws_row: 33,
        ws_col: 111,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let (a_master, b_slave) = (a.master.as_raw_fd(), b.slave.as_raw_fd());
    // SAFETY: `ws` is a valid winsize that TIOCSWINSZ only reads.
    let set = unsafe { libc::ioctl(a_master, libc::TIOCSWINSZ, &ws) };
    assert_eq!(set, 0);
    pty::copy_winsize(a.slave.as_fd(), b.master.as_fd()).unwrap();
    // SAFETY: winsize is plain integers, for which all-zero is valid.
    let mut got: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: `got` is a valid, writable winsize.
    let get = unsafe { libc::ioctl(b_slave, libc::TIOCGWINSZ, &mut got) };
    assert_eq!(get, 0);
    assert_eq!((got.ws_row, got.ws_col), (33, 111));
}

#[test]
fn sigwinch_makes_the_self_pipe_readable() {
    // The handler is process-wide: keep it out of the harness process.
    run_forked(|| {
        let winch = pty::Winch::install().map_err(|e| e.to_string())?;
        check(!winch.drain(), "pipe readable before any SIGWINCH")?;
        check(
            pty::Winch::install().is_err(),
            "second Winch installed while the first lives",
        )?;
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGWINCH).map_err(|e| e.to_string())?;
        check(winch.drain(), "no byte after SIGWINCH")?;
        check(!winch.drain(), "byte left after drain")
    })
    .unwrap();
}

/// In the child: a private mount namespace with its own devpts, as the
/// rootfs code sets up for a container.
fn own_devpts() -> Result<(), Errno> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    mount(
        Some("devpts"),
        "/dev/pts",
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    mount(
        Some("/dev/pts/ptmx"),
        "/dev/ptmx",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}

#[test]
fn pty_opened_in_the_containers_devpts_is_its_tty() {
    if !pocky_testkit::privileged("pty_opened_in_the_containers_devpts_is_its_tty") {
        return;
    }
    run_forked(|| {
        let cfg = NsConfig {
            new: vec![Namespace::Mount, Namespace::Pid],
            join: vec![],
            id_maps: None,
        };
        let mut child = spawn(&cfg, |ch| {
            if let Err(e) = own_devpts() {
                return ChildError::setup("devpts", e, format!("mounting devpts: {e}"));
            }
            let opened = pty::open().and_then(|p| {
                ch.send_pty_master(p.master.as_fd())?;
                drop(p.master);
                pty::make_controlling(p.slave)
            });
            if let Err(e) = opened {
                return ChildError::setup("pty", Errno::EIO, e.to_string());
            }
            // A fresh devpts instance numbers from 0.
            exec(
                &[
                    "/bin/busybox".into(),
                    "sh".into(),
                    "-c".into(),
                    "test \"$(tty)\" = /dev/pts/0 && echo PTY-OK".into(),
                ],
                &["PATH=/bin:/usr/bin".into()],
            )
        })
        .map_err(|e| e.to_string())?;
        child.start().map_err(|e| e.to_string())?;
        let master = child.take_pty_master().ok_or("no pty master received")?;
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = nix::unistd::read(&master, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out);
        check(
            status.code == 0 && text.contains("PTY-OK"),
            &format!("{status}: {text:?}"),
        )
    })
    .unwrap();
}
