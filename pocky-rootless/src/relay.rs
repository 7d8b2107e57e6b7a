//! Published ports of rootless containers (`-p`): a relay process per
//! container listens on the host's ports, in the host's network namespace
//! and as the user, and carries each connection (or UDP conversation) to
//! the container's address and port from inside the user's network
//! namespace, where the container's bridge is. rootlesskit's "builtin"
//! port driver works the same way. The listeners are bound by the caller
//! before the container starts, so a port in use fails the start.
//!
//! The relay ends with the container: it watches the container's first
//! process through a pidfd, and is not anyone's child (it forks twice).

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};

use crate::error::{Result, RootlessError};

/// A UDP conversation without a datagram for this long is forgotten.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// A listener bound on the host for one published port.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Listener {
    /// Binds `host_ip:host_port` (all addresses without an ip; a free
    /// port for 0) in this process's network namespace. Ports below
    /// `net.ipv4.ip_unprivileged_port_start` are refused by name first.
    pub fn bind(host_ip: Option<Ipv4Addr>, host_port: u16, udp: bool) -> Result<(Self, u16)> {
        check_unprivileged(host_port)?;
        let addr = SocketAddrV4::new(host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), host_port);
        let proto = if udp { "udp" } else { "tcp" };
        let failed = |e: std::io::Error| RootlessError::Io {
            op: "binding the published port",
            path: format!("{addr}/{proto}").into(),
            source: e,
        };
        let l = if udp {
            Listener::Udp(UdpSocket::bind(addr).map_err(failed)?)
        } else {
            Listener::Tcp(TcpListener::bind(addr).map_err(failed)?)
        };
        let port = match &l {
            Listener::Tcp(t) => t.local_addr(),
            Listener::Udp(u) => u.local_addr(),
        }
        .map_err(failed)?
        .port();
        Ok((l, port))
    }

    fn fd(&self) -> RawFd {
        match self {
            Listener::Tcp(t) => t.as_raw_fd(),
            Listener::Udp(u) => u.as_raw_fd(),
        }
    }
}

/// The lowest port a user may bind (`net.ipv4.ip_unprivileged_port_start`).
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// Refuses a host port a rootless container cannot publish.
pub fn check_unprivileged(host_port: u16) -> Result<()> {
    let start = unprivileged_port_start();
    if host_port != 0 && host_port < start {
        return Err(RootlessError::Unsafe {
            path: format!("host port {host_port}").into(),
            reason: format!(
                "rootless pocky cannot publish ports below {start} \
                 (net.ipv4.ip_unprivileged_port_start): use a higher host port"
            ),
        });
    }
    Ok(())
}

/// Starts the relay of container `pid` (its first process) for
/// `forwards`: each listener's traffic goes to its address, reached from
/// the network namespace `netns`. Returns once the relay runs.
pub fn spawn(pid: i32, netns: &Path, forwards: Vec<(Listener, SocketAddrV4)>) -> Result<()> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return Err(RootlessError::Sys {
            op: "pidfd_open of the container",
            source: nix::errno::Errno::last(),
        });
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(RawFd::try_from(raw).unwrap_or(-1)) };
    let ns = File::open(netns).map_err(RootlessError::io("opening", netns))?;
    // SAFETY: the caller is single-threaded (a container's owner); the
    // intermediate forks once more and leaves with _exit, the relay runs
    // its own code to the end and leaves with _exit too.
    match unsafe { fork() }.map_err(RootlessError::sys("fork"))? {
        ForkResult::Child => {
            // SAFETY: as above.
            if let Ok(ForkResult::Child) = unsafe { fork() } {
                let code = relay_main(pidfd, ns, forwards);
                // SAFETY: leaves without the owner's destructors.
                unsafe { libc::_exit(code) }
            }
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            let _ = waitpid(child, None);
            Ok(())
        }
    }
}

fn relay_main(pidfd: OwnedFd, ns: File, forwards: Vec<(Listener, SocketAddrV4)>) -> i32 {
    let _ = nix::unistd::setsid();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of up to 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"pocky-ports".as_ptr()) };
    let mut keep: Vec<RawFd> = forwards.iter().map(|(l, _)| l.fd()).collect();
    keep.extend([pidfd.as_raw_fd(), ns.as_raw_fd()]);
    close_all_but(&keep);
    if nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).is_err() {
        return 1;
    }
    drop(ns);
    for (l, target) in forwards {
        match l {
            Listener::Tcp(t) => {
                std::thread::spawn(move || serve_tcp(&t, target));
            }
            Listener::Udp(u) => {
                std::thread::spawn(move || serve_udp(u, target));
            }
        }
    }
    // The container's end is the relay's.
    let mut fds = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    loop {
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => {}
            _ => return 0,
        }
    }
}

/// Closes every descriptor but `keep`; 0-2 go to /dev/null.
fn close_all_but(keep: &[RawFd]) {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which no Rust
            // object of this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closes descriptors inherited from the owner that no
            // object of the relay owns (the listed directory's own fd is
            // closed already or fails harmlessly).
            unsafe { libc::close(fd) };
        }
    }
}

fn serve_tcp(listener: &TcpListener, target: SocketAddrV4) {
    loop {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        std::thread::spawn(move || {
            let Ok(upstream) = TcpStream::connect(target) else {
                return;
            };
            pipe_both(client, upstream);
        });
    }
}

/// Copies both ways until each side has said all; a half-close passes on.
fn pipe_both(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || copy_then_close(b2, a2));
    copy_then_close(a, b);
    let _ = back.join();
}

fn copy_then_close(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

fn serve_udp(listener: UdpSocket, target: SocketAddrV4) {
    let listener = Arc::new(listener);
    let sessions: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, client) = match listener.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let existing = sessions.lock().ok().and_then(|s| s.get(&client).cloned());
        let upstream = match existing {
            Some(u) => u,
            None => {
                let Ok(u) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                    .and_then(|u| u.connect(target).map(|()| u))
                else {
                    continue;
                };
                let _ = u.set_read_timeout(Some(UDP_IDLE));
                let u = Arc::new(u);
                if let Ok(mut s) = sessions.lock() {
                    s.insert(client, Arc::clone(&u));
                }
                let (l, s, up) = (Arc::clone(&listener), Arc::clone(&sessions), Arc::clone(&u));
                std::thread::spawn(move || udp_replies(&up, &l, client, &s));
                u
            }
        };
        let _ = upstream.send(&buf[..n]);
    }
}

/// Carries a UDP conversation's replies back until it goes quiet.
fn udp_replies(
    upstream: &UdpSocket,
    listener: &UdpSocket,
    client: SocketAddr,
    sessions: &Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match upstream.recv(&mut buf) {
            Ok(n) => {
                let _ = listener.send_to(&buf[..n], client);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Quiet for UDP_IDLE, or the container refused it.
            Err(_) => break,
        }
    }
    if let Ok(mut s) = sessions.lock() {
        s.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn local(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    }

    #[test]
    fn tcp_is_carried_both_ways_with_half_closes() {
        // The "container": echoes what it reads, in upper case, then closes.
        let target = TcpListener::bind(local(0)).unwrap();
        let target_port = target.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in target.incoming() {
                let mut c = conn.unwrap();
                let mut buf = Vec::new();
                c.read_to_end(&mut buf).unwrap();
                c.write_all(&buf.to_ascii_uppercase()).unwrap();
            }
        });
        let (l, port) = Listener::bind(Some(Ipv4Addr::LOCALHOST), 0, false).unwrap();
        let Listener::Tcp(l) = l else { unreachable!() };
        std::thread::spawn(move || serve_tcp(&l, local(target_port)));
        for _ in 0..3 {
            let mut c = TcpStream::connect(local(port)).unwrap();
            c.write_all(b"through the relay").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut back = String::new();
            c.read_to_string(&mut back).unwrap();
            assert_eq!(back, "THROUGH THE RELAY");
        }
    }

    #[test]
    fn udp_conversations_keep_their_clients_apart() {
        let target = UdpSocket::bind(local(0)).unwrap();
        let target_port = target.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 100];
            loop {
                let (n, from) = target.recv_from(&mut buf).unwrap();
                let mut reply = b"pong:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                target.send_to(&reply, from).unwrap();
            }
        });
        let (l, port) = Listener::bind(Some(Ipv4Addr::LOCALHOST), 0, true).unwrap();
        let Listener::Udp(l) = l else { unreachable!() };
        std::thread::spawn(move || serve_udp(l, local(target_port)));
        let clients: Vec<UdpSocket> = (0..2).map(|_| UdpSocket::bind(local(0)).unwrap()).collect();
        for (i, c) in clients.iter().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let msg = format!("ping{i}");
            c.send_to(msg.as_bytes(), local(port)).unwrap();
            let mut buf = [0u8; 100];
            let n = c.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], format!("pong:{msg}").as_bytes());
        }
    }

    #[test]
    fn ports_below_the_unprivileged_start_are_refused_by_name() {
        let start = unprivileged_port_start();
        if start == 0 {
            return;
        }
        let err = check_unprivileged(start - 1).unwrap_err().to_string();
        assert!(err.contains("ip_unprivileged_port_start"), "{err}");
        check_unprivileged(start).unwrap();
        check_unprivileged(0).unwrap();
    }
}
