//! Rootless networking end to end, as a throwaway user in the sandbox:
//! the user's bridges live in the network namespace of the user's own
//! namespace holder, slirp4netns links that namespace to the host, and a
//! relay per container publishes its ports on the host. A second
//! namespace, `outside` (198.51.100.0/24, TEST-NET-2, on a veth of its
//! own), plays the world that reaches published ports and that containers
//! reach. No packet leaves the sandbox.

mod common;

use std::process::{Child, Command};

use common::user::User;

const HOST: &str = "198.51.100.1";
const OUTSIDE: &str = "198.51.100.2";

fn sh_ok(script: &str) -> String {
    let o = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The outside namespace, held by a `sleep`; it and its veth go when the
/// test ends.
struct Outside {
    holder: Child,
}

impl Outside {
    fn new() -> Outside {
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "3600"])
            .spawn()
            .unwrap();
        let pid = holder.id();
        let me = std::fs::read_link("/proc/self/ns/net").unwrap();
        common::eventually("the outside namespace", || {
            std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n != me)
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
        });
        sh_ok(&format!(
            "ip link add vrlout type veth peer name eth0 netns /proc/{pid}/ns/net && \
             ip addr add {HOST}/24 dev vrlout && ip link set vrlout up && \
             nsenter -t {pid} -n sh -c 'ip addr add {OUTSIDE}/24 dev eth0 && \
             ip link set eth0 up && ip link set lo up'"
        ));
        Outside { holder }
    }

    /// A command prefix that runs in the outside namespace.
    fn prefix(&self) -> String {
        format!("nsenter -t {} -n ", self.holder.id())
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        // Usually gone already, with the namespace of its peer.
        let _ = Command::new("ip")
            .args(["link", "del", "vrlout"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `GET /hostname` from `addr:port` (busybox httpd serving /etc), retried
/// while the server starts.
fn fetch(prefix: &str, addr: &str, port: &str) -> String {
    sh_ok(&format!(
        "for i in $(seq 30); do r=$(printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | \
         {prefix}timeout 3 busybox nc {addr} {port} | tail -n1); [ -n \"$r\" ] && echo $r && exit 0; \
         sleep 0.2; done; exit 1"
    ))
    .trim()
    .to_owned()
}

#[test]
fn a_users_containers_publish_ports_reach_out_and_find_each_other() {
    let Some(sb) =
        pocky_testkit::sandbox("a_users_containers_publish_ports_reach_out_and_find_each_other")
    else {
        return;
    };
    let u = User::create(true);
    let outside = Outside::new();
    let image = format!("{}/busybox", sb.registry);
    u.ok(&["pull", "-q", &image]);

    // -p: the outside host and the host itself reach the container.
    let id = u.ok(&[
        "run", "-d", "--name", "web", "-p", "8080:80", "-p", "81", &image, "httpd", "-f", "-p",
        "80", "-h", "/etc",
    ]);
    let hostname = &id.trim()[..12];
    assert_eq!(fetch(&outside.prefix(), HOST, "8080"), hostname);
    assert_eq!(fetch("", "127.0.0.1", "8080"), hostname);
    assert_eq!(u.ok(&["port", "web", "80"]).trim(), "0.0.0.0:8080");
    let random = u.ok(&["port", "web", "81"]);
    let random: u16 = random.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(random >= 1024, "{random}");
    assert!(u.ok(&["ps"]).contains("0.0.0.0:8080->80/tcp"));
    // A port in use on the host fails the start, by name.
    let e = u.fails(&["run", "--rm", "-p", "8080:80", &image, "true"]);
    assert!(e.contains("8080"), "{e}");

    // Out: through slirp4netns to a server of the outside host.
    let mut server = Command::new("nsenter")
        .args(["-t", &outside.holder.id().to_string(), "-n"])
        .args([
            "busybox",
            "nc",
            "-l",
            "-p",
            "7000",
            "-e",
            "echo",
            "hello-from-outside",
        ])
        .spawn()
        .unwrap();
    let reached = u.ok(&[
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        &format!("for i in $(seq 30); do nc {OUTSIDE} 7000 && exit 0; sleep 0.2; done; exit 1"),
    ]);
    assert_eq!(reached.trim(), "hello-from-outside");
    let _ = server.kill();
    let _ = server.wait();

    // A user network: names resolve, as rootful.
    u.ok(&["network", "create", "app"]);
    u.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "app",
        &image,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let db_id = u.ok(&["inspect", "--format", "{{.Id}}", "db"]);
    let seen = u.ok(&[
        "run", "--rm", "--network", "app", &image, "sh", "-c",
        "for i in $(seq 30); do r=$(printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc db 80 | tail -n1); \
         [ -n \"$r\" ] && echo $r && exit 0; sleep 0.2; done; exit 1",
    ]);
    assert_eq!(seen.trim(), &db_id.trim()[..12]);

    u.ok(&["rm", "-f", "web", "db"]);
    u.ok(&["network", "rm", "app"]);
    // The relay went with its container; only the user's namespace
    // holder and its slirp4netns stay, until `system reset`.
    common::eventually("the port relay to end", || {
        !u.process_names().iter().any(|n| n == "pocky-ports")
    });
    let names = u.process_names();
    assert_eq!(names, ["pocky-holder", "slirp4netns"]);
    // The host's port is free again.
    assert!(std::net::TcpListener::bind(("0.0.0.0", 8080)).is_ok());
}
