//! The simulated outside world of the network tests: a network namespace
//! wired to the sandbox (the "host") by a veth, `vout` on the host side,
//! with 192.0.2.0/24 (TEST-NET-1) and 2001:db8::/64 (the documentation
//! prefix), and made the host's default route in both families. It has
//! no route back to container subnets, so a container's connection to it
//! completes only through NAT. No packet goes anywhere else.
//!
//! Made once per sandbox: a test binary that finds `vout` already there
//! (an earlier binary made it) joins that namespace, found by the name its
//! holder process carries.

use std::process::Command;

pub const HOST: &str = "192.0.2.1";
pub const OUTSIDE: &str = "192.0.2.2";
pub const HOST6: &str = "2001:db8::1";
pub const OUTSIDE6: &str = "2001:db8::2";

/// The holder's argv[0], which /proc shows.
const HOLDER: &str = "pocky-test-outside";

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A test of a binary whose tests share the sandbox's links, firewall and
/// outside namespace, and compare the host before and after: one at a
/// time. Returns the turn's guard, the test's context and the host's
/// state before it. The guard comes first: bindings drop in reverse
/// order, so the state root's reset (the Ctx's drop) ends before the next
/// test may start.
pub fn ctx(test: &str) -> Option<(std::sync::MutexGuard<'static, ()>, super::Ctx, String)> {
    let c = super::Ctx::new(test, &["busybox"])?;
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    outside();
    let before = host_state();
    Some((serial, c, before))
}

pub fn sh(script: &str) -> std::process::Output {
    Command::new("sh").args(["-c", script]).output().unwrap()
}

pub fn sh_ok(script: &str) -> String {
    let o = sh(script);
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

static OUTSIDE_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

fn holder() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        cmd.starts_with(HOLDER.as_bytes()).then_some(pid)
    })
}

/// The pid of the process holding the outside namespace; commands enter
/// it with `nsenter -t PID -n`.
pub fn outside() -> u32 {
    *OUTSIDE_PID.get_or_init(|| {
        if let Some(pid) = holder() {
            return pid;
        }
        // Left running on purpose: the sandbox's pid namespace ends it.
        // Without our stdio, so no pipe reading a test's output waits
        // for it.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("unshare")
            .args(["--net", "bash", "-c", &format!("exec -a {HOLDER} sleep 86400")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let me = std::fs::read_link("/proc/self/ns/net").unwrap();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n == me)
            || std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() != "sleep")
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        sh_ok(&format!(
            "ip link add vout type veth peer name eth0 netns /proc/{pid}/ns/net && \
             ip addr add {HOST}/24 dev vout && ip -6 addr add {HOST6}/64 dev vout nodad && \
             ip link set vout up && \
             nsenter -t {pid} -n sh -c 'ip addr add {OUTSIDE}/24 dev eth0 && \
               ip -6 addr add {OUTSIDE6}/64 dev eth0 nodad && ip link set eth0 up && ip link set lo up' && \
             ip route replace default via {OUTSIDE} && \
             ip -6 route replace default via {OUTSIDE6} dev vout"
        ));
        pid
    })
}

/// `nsenter ... ` prefix of a command run in the outside namespace.
pub fn in_outside() -> String {
    format!("nsenter -t {} -n ", outside())
}

/// What a test must leave as it found: the links and addresses of the
/// host, and the rules of every table of both families. Taken before a
/// test and after its state root is reset, the two must be equal.
pub fn host_state() -> String {
    let mut out =
        sh_ok("ip -o addr | awk '{print $2, $3, $4}' | sort; ip -o link | awk '{print $2}' | sort");
    for cmd in ["iptables", "ip6tables"] {
        for table in ["filter", "nat", "raw"] {
            out.push_str(&sh_ok(&format!("{cmd} -t {table} -S")));
        }
    }
    out
}

/// Resets the test's state root and checks the host is as it was.
pub fn reset_and_compare(c: &super::Ctx, before: &str) {
    super::ok(c.root(), &["system", "reset", "--force"]);
    // Veths go with their namespaces, in the background.
    super::eventually("the host as it was", || host_state() == before);
}

/// A listener in the outside namespace on TCP `port`: waiting for it gives
/// `PEER-ADDRESS LINE` for the first connection (or nothing, after a few
/// seconds).
pub fn outside_listener(port: u16, v6: bool) -> std::process::Child {
    let (family, any) = if v6 {
        ("AF_INET6", "::")
    } else {
        ("AF_INET", "0.0.0.0")
    };
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.{family}); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{any}', {port})); s.listen(1); s.settimeout(6)\n\
         print('listening', flush=True)\n\
         try:\n    c, a = s.accept(); print(a[0], c.recv(64).decode().strip())\n\
         except socket.timeout:\n    pass\n"
    );
    let mut child = Command::new("nsenter")
        .args(["-t", &outside().to_string(), "-n", "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let out = child.stdout.as_mut().unwrap();
    let mut byte = [0u8; 1];
    while std::io::Read::read(out, &mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    assert_eq!(line, "listening");
    child
}

pub fn heard(listener: std::process::Child) -> String {
    let got = listener.wait_with_output().unwrap();
    String::from_utf8_lossy(&got.stdout).trim().to_owned()
}
