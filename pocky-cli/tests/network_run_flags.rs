//! The network flags of `run` that issue 16 adds, each seen from inside
//! the container: `--mac-address`, `--dns-search`, `--dns-option`,
//! `--expose`, `--link` and `--ip6`.

mod common;

use common::outside::*;
use common::*;

/// `pocky run` that must fail with 125 and say `why`.
fn refused(c: &Ctx, args: &[&str], why: &str) {
    let img = c.busybox();
    let mut all = vec!["--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[&img, "true"]);
    let o = c.run(&all);
    assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
}

#[test]
fn mac_address_and_dns_settings_inside() {
    let Some((_serial, c, before)) = ctx("mac_address_and_dns_settings_inside") else {
        return;
    };
    let root = c.root();
    ok(
        root,
        &[
            "run",
            "-d",
            "--name",
            "mac",
            "--mac-address",
            "02:42:AC:11:00:99",
            "--dns-search",
            "a.example",
            "--dns-search",
            "b.example",
            "--dns-option",
            "ndots:3",
            "--dns-option",
            "rotate",
            &c.busybox(),
            "sleep",
            "60",
        ],
    );
    let inside = ok(
        root,
        &[
            "exec",
            "mac",
            "sh",
            "-c",
            "cat /sys/class/net/eth0/address /etc/resolv.conf",
        ],
    );
    assert!(inside.starts_with("02:42:ac:11:00:99\n"), "{inside}");
    assert!(
        inside.contains("\nsearch a.example b.example\n"),
        "{inside}"
    );
    assert!(inside.contains("\noptions ndots:3 rotate\n"), "{inside}");
    let info = container(root, "mac");
    assert_eq!(info["NetworkSettings"]["MacAddress"], "02:42:ac:11:00:99");
    assert_eq!(
        info["HostConfig"]["DnsSearch"],
        serde_json::json!(["a.example", "b.example"])
    );
    assert_eq!(
        info["HostConfig"]["DnsOptions"],
        serde_json::json!(["ndots:3", "rotate"])
    );
    // `.` leaves no search list at all.
    let none = c.run_busybox(
        &["--rm", "--dns-search", ".", "--dns", "192.0.2.53"],
        &["cat", "/etc/resolv.conf"],
    );
    assert!(!none.contains("search"), "{none}");
    assert!(none.contains("nameserver 192.0.2.53"), "{none}");
    refused(&c, &["--mac-address", "01:00:5e:00:00:01"], "multicast");
    refused(&c, &["--mac-address", "02:42"], "invalid MAC address");
    refused(
        &c,
        &["--network", "host", "--mac-address", "02:42:ac:11:00:98"],
        "conflicting options",
    );
    refused(
        &c,
        &["--network", "host", "--dns-search", "a.example"],
        "conflicting options",
    );
    refused(&c, &["--dns-search", "bad domain"], "not a valid domain");
    refused(
        &c,
        &["--dns-option", "ndots:1 rotate"],
        "invalid --dns-option",
    );
    ok(root, &["rm", "-f", "mac"]);
    reset_and_compare(&c, &before);
}

#[test]
fn exposed_ports_are_published_by_p_and_shown() {
    let Some((_serial, c, before)) = ctx("exposed_ports_are_published_by_p_and_shown") else {
        return;
    };
    let root = c.root();
    let id = ok(
        root,
        &[
            "run",
            "-d",
            "--expose",
            "8080",
            "--expose",
            "7000-7001/udp",
            "-P",
            &c.busybox(),
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            "/etc",
        ],
    )
    .trim()
    .to_owned();
    let ports = ok(root, &["port", &id]);
    for p in [
        "8080/tcp -> 0.0.0.0:",
        "7000/udp -> 0.0.0.0:",
        "7001/udp -> 0.0.0.0:",
    ] {
        assert!(ports.contains(p), "{p}: {ports}");
    }
    let host_port = one(root, &["port", &id, "8080"]);
    let host_port = host_port.rsplit(':').next().unwrap();
    let got = sh_ok(&format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do r=$(printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | \
         timeout 3 busybox nc 127.0.0.1 {host_port} | tail -n1); [ -n \"$r\" ] && echo $r && exit 0; \
         sleep 0.2; done; exit 1"
    ));
    assert_eq!(got.trim(), &id[..12]);
    let info = container(root, &id);
    let exposed = info["Config"]["ExposedPorts"].as_object().unwrap();
    for p in ["8080/tcp", "7000/udp", "7001/udp"] {
        assert!(exposed.contains_key(p), "{p}: {exposed:?}");
    }
    refused(&c, &["--expose", "80/sctp"], "invalid --expose");
    ok(root, &["rm", "-f", &id]);
    reset_and_compare(&c, &before);
}

#[test]
fn links_on_the_default_and_on_a_user_network() {
    let Some((_serial, c, before)) = ctx("links_on_the_default_and_on_a_user_network") else {
        return;
    };
    let root = c.root();
    let img = c.busybox();
    let db = ok(root, &["run", "-d", "--name", "db", &img, "sleep", "60"])
        .trim()
        .to_owned();
    let db_ip = one(
        root,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"],
    );
    // The default network: a hosts line for the alias and the names.
    ok(
        root,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "--link",
            "db:database",
            &img,
            "sleep",
            "60",
        ],
    );
    let hosts = ok(root, &["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{db_ip}\tdatabase db {}\n", &db[..12])),
        "{hosts}"
    );
    let ping = pocky(root, &["exec", "web", "ping", "-c1", "-W2", "database"]);
    assert!(ping.status.success(), "{}", stderr(&ping));
    assert_eq!(
        container(root, "web")["HostConfig"]["Links"],
        serde_json::json!(["/db:/web/database"])
    );
    // The link follows the linked container to its next address.
    ok(root, &["restart", "-t", "0", "db"]);
    let new_ip = one(
        root,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"],
    );
    assert_ne!(new_ip, db_ip, "a released address is not reused at once");
    let hosts = ok(root, &["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{new_ip}\tdatabase")), "{hosts}");
    ok(root, &["create", "--name", "idle", &img, "true"]);
    refused(
        &c,
        &["--link", "idle"],
        "Cannot link to a non running container: /idle AS",
    );
    refused(
        &c,
        &["--link", "nosuch:x1"],
        "could not get container for nosuch",
    );
    refused(
        &c,
        &["--network", "none", "--link", "db"],
        "conflicting options",
    );

    // A user network: the alias is the linking container's alone.
    ok(
        root,
        &["network", "create", "--subnet", "10.92.0.0/24", "app"],
    );
    ok(
        root,
        &[
            "run",
            "-d",
            "--network",
            "app",
            "--name",
            "srv",
            &img,
            "sleep",
            "60",
        ],
    );
    let linked = c.run_busybox(
        &["--rm", "--network", "app", "--link", "srv:backend"],
        &[
            "sh",
            "-c",
            "ping -c1 -W2 backend >/dev/null && echo linked-ok",
        ],
    );
    assert!(linked.contains("linked-ok"), "{linked}");
    let plain = c.run_busybox(
        &["--rm", "--network", "app"],
        &[
            "sh",
            "-c",
            "ping -c1 -W2 backend >/dev/null 2>&1 && echo found || echo unknown",
        ],
    );
    assert!(plain.contains("unknown"), "{plain}");
    // network connect --link: the same, for a container joining later.
    ok(root, &["run", "-d", "--name", "late", &img, "sleep", "60"]);
    ok(
        root,
        &["network", "connect", "--link", "srv:be", "app", "late"],
    );
    let ping = pocky(root, &["exec", "late", "ping", "-c1", "-W2", "be"]);
    assert!(ping.status.success(), "{}", stderr(&ping));
    let e = fails(
        root,
        &["network", "connect", "--link", "late:x1", "bridge", "srv"],
    );
    assert!(e.contains("user defined networks only"), "{e}");
    let e = fails(
        root,
        &["network", "connect", "--gw-priority", "1", "app", "idle"],
    );
    assert!(e.contains("--gw-priority is not supported"), "{e}");
    ok(root, &["rm", "-f", "db", "web", "idle", "srv", "late"]);
    reset_and_compare(&c, &before);
}

#[test]
fn a_fixed_ipv6_address() {
    let Some((_serial, c, before)) = ctx("a_fixed_ipv6_address") else {
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
            "fd00:93::/64",
            "dual",
        ],
    );
    let out = c.run_busybox(
        &["--rm", "--network", "dual", "--ip6", "fd00:93::50"],
        &["ip", "-6", "-o", "addr", "show", "eth0", "scope", "global"],
    );
    assert!(out.contains("inet6 fd00:93::50/64"), "{out}");
    ok(
        root,
        &["network", "create", "--subnet", "10.93.0.0/24", "v4only"],
    );
    refused(&c, &["--ip6", "fd00:93::51"], "user defined networks only");
    refused(
        &c,
        &["--network", "v4only", "--ip6", "fd00:93::51"],
        "has no IPv6",
    );
    refused(&c, &["--network", "dual", "--ip6", "fd00:94::1"], "outside");
    reset_and_compare(&c, &before);
}
