//! Attach and detach against the kernel, inside the sandbox's private
//! network namespace (`ci/sandbox cargo test -p pocky-net`). "Containers"
//! are `unshare --net sleep` processes.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use pocky_net::{AttachRequest, Networks, PortMapping};

struct Ns(Child);

impl Ns {
    fn new() -> Self {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "60"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // unshare execs sleep once the namespace exists.
        let me = std::fs::read_link("/proc/self/ns/net").unwrap();
        for _ in 0..1000 {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/net", child.id()));
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id()));
            if theirs.is_ok_and(|t| t != me) && comm.is_ok_and(|c| c.trim() == "sleep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ns(child)
    }
    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.0.id()))
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("nsenter")
            .arg("-t")
            .arg(self.0.id().to_string())
            .arg("-n")
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tests share the sandbox's iptables and links, and prune removes
/// whatever its own state does not know: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sandboxed(name: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    pocky_testkit::sandbox(name)?;
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

fn host(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn id(n: u32) -> String {
    format!("{n:08x}{}", "ab".repeat(28))
}

#[test]
fn attach_pings_gateway_and_detach_leaves_nothing() {
    let Some(_serial) = sandboxed("attach_pings_gateway_and_detach_leaves_nothing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nets = Networks::new(dir.path());
    let ns = Ns::new();
    let cid = id(1);
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "").unwrap();
    let render = |a: Ipv4Addr, _: Option<std::net::Ipv6Addr>| format!("{a}\tme\n");
    let req = AttachRequest {
        container_id: &cid,
        interface: 0,
        network: "bridge",
        netns: &ns.path(),
        ip: None,
        ip6: None,
        mac: None,
        links: vec![],
        names: vec!["one".into()],
        ports: vec![PortMapping::parse("8080:80").unwrap()],
        hosts: Some((hosts.clone(), &render)),
    };
    let att = nets.attach(&req, &|_| true).unwrap();
    // pocky0, or a bridge of its own when a concurrent test took pocky0.
    assert!(att.bridge.starts_with("pocky0"), "{}", att.bridge);
    assert!(att.subnet.contains(att.address));
    assert_eq!(
        std::fs::read_to_string(&hosts).unwrap(),
        format!("{}\tme\n", att.address)
    );
    let addr = String::from_utf8_lossy(&ns.run(&["ip", "-4", "-o", "addr", "show", "eth0"]).stdout)
        .into_owned();
    assert!(
        addr.contains(&format!("{}/{}", att.address, att.subnet.prefix())),
        "{addr}"
    );
    let ping = ns.run(&["busybox", "ping", "-c1", "-W2", &att.gateway.to_string()]);
    assert!(ping.status.success(), "{ping:?}");
    let ping = Command::new("busybox")
        .args(["ping", "-c1", "-W2", &att.address.to_string()])
        .output()
        .unwrap();
    assert!(ping.status.success(), "host -> container: {ping:?}");
    let rules = host(&["iptables-save"]);
    assert!(rules.contains(&format!("pocky:ctr:{cid}")), "{rules}");
    assert!(host(&["ip", "link"]).contains(&att.host_veth));

    nets.detach(&cid).unwrap();
    nets.detach(&cid).unwrap();
    // The test's namespace outlives the "container", so its veth stays
    // until prune, which deletes the veths of containers that are gone.
    nets.prune(&std::collections::HashSet::new()).unwrap();
    assert!(!host(&["ip", "link"]).contains(&att.host_veth));
    let rules = host(&["iptables-save"]);
    assert!(!rules.contains(&cid), "{rules}");
    let tag = format!("pocky:net:{}", att.bridge);
    assert!(rules.contains(&tag), "the network's rules stay");
    assert!(nets.leases("bridge").unwrap().leases.is_empty());
    nets.remove("bridge", &|_| false).unwrap();
    let rules = host(&["iptables-save"]);
    assert!(!rules.contains(&format!("{tag} ")), "{rules}");
    let links = host(&["ip", "-o", "link"]);
    assert!(!links.contains(&format!(" {}:", att.bridge)), "{links}");
}

#[test]
fn fifty_concurrent_allocations_are_distinct_and_prune_reclaims() {
    let Some(_serial) = sandboxed("fifty_concurrent_allocations_are_distinct_and_prune_reclaims")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nets = Networks::new(dir.path());
    let net = nets
        .create("fifty", Some("10.77.0.0/24".parse().unwrap()))
        .unwrap();
    let spaces: Vec<Ns> = (0..50).map(|_| Ns::new()).collect();
    let addrs: Vec<Ipv4Addr> = std::thread::scope(|s| {
        let handles: Vec<_> = spaces
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                let nets = &nets;
                s.spawn(move || {
                    let cid = id(100 + i as u32);
                    let req = AttachRequest {
                        container_id: &cid,
                        interface: 0,
                        network: "fifty",
                        netns: &ns.path(),
                        ip: None,
                        ip6: None,
                        mac: None,
                        links: vec![],
                        names: vec![],
                        ports: vec![],
                        hosts: None,
                    };
                    nets.attach(&req, &|_| true).unwrap().address
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: HashSet<Ipv4Addr> = addrs.iter().copied().collect();
    assert_eq!(distinct.len(), 50);
    assert!(addrs.iter().all(|a| net.subnet.is_host(*a)));
    assert_eq!(nets.leases("fifty").unwrap().leases.len(), 50);
    assert!(matches!(
        nets.remove("fifty", &|_| true),
        Err(pocky_net::NetError::InUse { users: 50, .. })
    ));

    // Everything but one container is gone: prune cleans up after them.
    let live: HashSet<String> = [id(100)].into();
    nets.prune(&live).unwrap();
    let leases = nets.leases("fifty").unwrap();
    assert_eq!(leases.leases.keys().collect::<Vec<_>>(), [&id(100)]);
    let links = host(&["ip", "-o", "link"]);
    assert_eq!(links.matches(" vp").count(), 1, "{links}");
    nets.prune(&HashSet::new()).unwrap();
    nets.remove("fifty", &|_| false).unwrap();
    assert!(!host(&["ip", "-o", "link"]).contains(&net.bridge));
}
