//! `network connect` and `disconnect`: a second interface in a running
//! container, names on both networks, a created container that joins
//! before its start (what compose does), and nothing left after.

mod common;

use std::process::Command;

use common::{Ctx, fails, ok, one, pocky};

fn host_links() -> String {
    let o = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn containers_join_and_leave_networks() {
    let Some(ctx) = Ctx::new("network_connect", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    ok(
        root,
        &["network", "create", "--subnet", "10.91.0.0/24", "neta"],
    );
    ok(
        root,
        &["network", "create", "--subnet", "10.92.0.0/24", "netb"],
    );
    let run = |net: &str, name: &str| {
        ok(
            root,
            &[
                "run",
                "-d",
                "--network",
                net,
                "--name",
                name,
                &img,
                "sleep",
                "1000",
            ],
        );
    };
    run("neta", "c1");
    run("netb", "c2");
    let exec = |name: &str, script: &str| pocky(root, &["exec", name, "sh", "-c", script]);
    assert!(
        !exec("c1", "ping -c1 -W1 c2").status.success(),
        "not on the same network yet"
    );

    ok(
        root,
        &["network", "connect", "--alias", "second", "netb", "c1"],
    );
    let addr = ok(
        root,
        &["exec", "c1", "ip", "-o", "-4", "addr", "show", "eth1"],
    );
    assert!(addr.contains("10.92.0."), "{addr}");
    assert!(
        exec("c1", "ping -c1 -W2 c2").status.success(),
        "c1 reaches c2 by name"
    );
    assert!(
        exec("c2", "ping -c1 -W2 second && ping -c1 -W2 c1")
            .status
            .success()
    );
    // Its first network and its default route stay as they were.
    let route = ok(root, &["exec", "c1", "ip", "route"]);
    assert!(route.contains("default via 10.91.0.1 dev eth0"), "{route}");

    let nets = one(
        root,
        &[
            "inspect",
            "--format",
            "{{json .NetworkSettings.Networks}}",
            "c1",
        ],
    );
    let nets: serde_json::Value = serde_json::from_str(&nets).unwrap();
    assert!(
        nets["neta"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.91.0."),
        "{nets}"
    );
    assert!(
        nets["netb"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.92.0."),
        "{nets}"
    );
    assert!(
        nets["netb"]["Aliases"].to_string().contains("second"),
        "{nets}"
    );
    let on_b = ok(
        root,
        &["ps", "--filter", "network=netb", "--format", "{{.Names}}"],
    );
    assert_eq!(on_b.lines().count(), 2, "{on_b}");

    // Refusals: twice, to none, from the first network, not connected.
    fails(root, &["network", "connect", "netb", "c1"]);
    fails(root, &["network", "disconnect", "neta", "c1"]);
    fails(root, &["network", "disconnect", "netb", "c2"]);
    ok(
        root,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "lonely",
            &img,
            "sleep",
            "1000",
        ],
    );
    fails(root, &["network", "connect", "netb", "lonely"]);
    fails(root, &["network", "connect", "nosuch", "c1"]);

    let id = one(root, &["inspect", "--format", "{{.Id}}", "c1"]);
    let veth = pocky_net_veth(&id, 1);
    assert!(host_links().contains(&veth), "{veth} on the host");
    ok(root, &["network", "disconnect", "netb", "c1"]);
    assert!(
        !exec("c1", "ip link show eth1").status.success(),
        "eth1 is gone"
    );
    assert!(
        !exec("c2", "ping -c1 -W1 c1").status.success(),
        "c2 no longer finds c1"
    );
    assert!(!host_links().contains(&veth));

    // Connected while created, attached at start, and again after a stop.
    ok(
        root,
        &[
            "create",
            "--network",
            "neta",
            "--name",
            "c3",
            &img,
            "sleep",
            "1000",
        ],
    );
    ok(root, &["network", "connect", "netb", "c3"]);
    ok(root, &["start", "c3"]);
    assert!(
        exec("c3", "ip link show eth1 && ping -c1 -W2 c2")
            .status
            .success()
    );
    ok(root, &["stop", "-t", "0", "c3"]);
    ok(root, &["start", "c3"]);
    assert!(
        exec("c3", "ping -c1 -W2 c2 && ping -c1 -W2 c1")
            .status
            .success()
    );

    // Two networks at create, the second in the long form.
    ok(
        root,
        &[
            "run",
            "-d",
            "--network",
            "neta",
            "--network",
            "name=netb,alias=fourth",
            "--name",
            "c4",
            &img,
            "sleep",
            "1000",
        ],
    );
    assert!(
        exec("c2", "ping -c1 -W2 fourth && ping -c1 -W2 c4")
            .status
            .success()
    );
    assert!(exec("c4", "ping -c1 -W2 c3").status.success());
    fails(
        root,
        &["create", "--network", "neta", "--network", "neta", &img],
    );
    fails(
        root,
        &["create", "--network", "none", "--network", "neta", &img],
    );
    fails(root, &["create", "--network", "name=neta,mtu=9", &img]);

    ok(root, &["rm", "-f", "c1", "c2", "c3", "c4", "lonely"]);
    ok(root, &["network", "rm", "neta", "netb"]);
    let links = host_links();
    assert!(!links.contains(&id[..11]), "no veth of c1 left: {links}");
}

/// The host end of a container's N-th extra veth, as pocky-net names it.
fn pocky_net_veth(id: &str, n: usize) -> String {
    format!("vx{}{n:x}", &id[..11])
}
