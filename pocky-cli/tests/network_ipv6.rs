//! IPv6 end to end: a dual-stack network's addresses and routes inside
//! its containers, a ping to a peer and to the outside host through NAT,
//! a port published over IPv6, fixed addresses, a generated prefix, and
//! the ip6tables rules made and removed.

mod common;

use common::outside::*;
use common::*;

/// `/hostname` of busybox httpd at `[addr]:port`, fetched from the outside
/// namespace over IPv6.
fn fetch6_from_outside(addr: &str, port: u16) -> String {
    sh_ok(&format!(
        "{}python3 -c \"import socket, time\n\
         for i in range(20):\n  \
           try:\n    s = socket.create_connection(('{addr}', {port}), timeout=2)\n    \
             s.sendall(b'GET /hostname HTTP/1.0\\r\\n\\r\\n')\n    \
             d = b''.join(iter(lambda: s.recv(4096), b''))\n    \
             print(d.decode().splitlines()[-1]); break\n  \
           except OSError:\n    time.sleep(0.2)\"",
        in_outside()
    ))
    .trim()
    .to_owned()
}

#[test]
fn a_dual_stack_network_end_to_end() {
    let Some((_serial, c, before)) = ctx("a_dual_stack_network_end_to_end") else {
        return;
    };
    let root = c.root();
    ok(
        root,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.90.0.0/24",
            "--subnet",
            "fd00:90::/64",
            "dual",
        ],
    );
    let n = network(&c, "dual");
    assert_eq!(n["EnableIPv6"], true);
    assert_eq!(
        n["IPAM"]["Config"][1],
        serde_json::json!({"Subnet": "fd00:90::/64", "Gateway": "fd00:90::1"})
    );
    assert!(sh_ok("ip -6 -o addr show").contains("inet6 fd00:90::1/64"));
    let srv = ok(
        root,
        &[
            "run",
            "-d",
            "--network",
            "dual",
            "--name",
            "srv",
            "-p",
            "8090:80",
            &c.busybox(),
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    )
    .trim()
    .to_owned();
    let listener = outside_listener(9102, true);
    let out = c.run_busybox(
        &["--rm", "--network", "dual"],
        &[
            "sh",
            "-c",
            &format!(
                "ip -6 -o addr show eth0 scope global; ip -6 route; \
                 ping -c1 -W2 fd00:90::2 >/dev/null && echo peer6-ok; \
                 ping -c1 -W2 {OUTSIDE6} >/dev/null && echo outside6-ok; \
                 echo hi6 | timeout 3 nc {OUTSIDE6} 9102; grep srv /etc/hosts"
            ),
        ],
    );
    assert!(out.contains("inet6 fd00:90::3/64"), "{out}");
    assert!(out.contains("default via fd00:90::1 dev eth0"), "{out}");
    assert!(
        out.contains("peer6-ok") && out.contains("outside6-ok"),
        "{out}"
    );
    assert!(
        out.contains("fd00:90::2\tsrv"),
        "the peer's IPv6 name: {out}"
    );
    // Through NAT: the outside saw the host's address, and has no route
    // back to fd00:90::/64 that would have done without it.
    assert_eq!(heard(listener), format!("{HOST6} hi6"));
    // A published port answers over IPv6 at the host's address.
    assert_eq!(fetch6_from_outside(HOST6, 8090), srv[..12]);
    let rules = sh_ok("ip6tables-save");
    assert!(rules.contains(&format!("pocky:ctr:{srv}")), "{rules}");
    assert!(
        rules.contains("--to-destination [fd00:90::2]:80"),
        "{rules}"
    );

    let info = container(root, "srv");
    let dual = &info["NetworkSettings"]["Networks"]["dual"];
    assert_eq!(dual["GlobalIPv6Address"], "fd00:90::2");
    assert_eq!(dual["GlobalIPv6PrefixLen"], 64);
    assert_eq!(dual["IPv6Gateway"], "fd00:90::1");
    assert_eq!(
        network(&c, "dual")["Containers"][&srv]["IPv6Address"],
        "fd00:90::2/64"
    );

    // A container of the default network joins with a fixed address.
    ok(
        root,
        &["run", "-d", "--name", "other", &c.busybox(), "sleep", "60"],
    );
    ok(
        root,
        &[
            "network",
            "connect",
            "--ip6",
            "fd00:90::99",
            "dual",
            "other",
        ],
    );
    let eth1 = ok(
        root,
        &[
            "exec",
            "other",
            "sh",
            "-c",
            "ip -6 -o addr show eth1 scope global && ping -c1 -W2 fd00:90::2 >/dev/null && echo ok",
        ],
    );
    assert!(
        eth1.contains("fd00:90::99/64") && eth1.contains("ok"),
        "{eth1}"
    );
    ok(
        root,
        &["network", "create", "--subnet", "10.91.0.0/24", "v4only"],
    );
    let e = fails(
        root,
        &[
            "network",
            "connect",
            "--ip6",
            "fd00:90::98",
            "v4only",
            "other",
        ],
    );
    assert!(e.contains("has no IPv6"), "{e}");
    let e = fails(
        root,
        &["network", "connect", "--ip6", "fd00:90::99", "dual", "srv"],
    );
    assert!(e.contains("already exists"), "{e}");

    ok(root, &["rm", "-f", "srv", "other"]);
    eventually("no container rule left in ip6tables", || {
        !sh_ok("ip6tables-save").contains("pocky:ctr:")
    });
    ok(root, &["network", "rm", "dual", "v4only"]);
    assert!(!sh_ok("ip6tables-save").contains("pocky:net:"));

    // Without an IPv6 subnet: a unique local /64 of its own.
    ok(root, &["network", "create", "--ipv6", "auto6"]);
    let subnet = network(&c, "auto6")["IPAM"]["Config"][1]["Subnet"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        subnet.starts_with("fd") && subnet.ends_with("::/64"),
        "{subnet}"
    );
    let prefix = subnet.trim_end_matches(":/64");
    let addr = c.run_busybox(
        &["--rm", "--network", "auto6"],
        &["ip", "-6", "-o", "addr", "show", "eth0", "scope", "global"],
    );
    assert!(addr.contains(&format!("{prefix}:2/64")), "{subnet}: {addr}");
    reset_and_compare(&c, &before);
}
