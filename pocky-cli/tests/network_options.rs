//! `network create`'s options end to end: the subnet pool, `--gateway`,
//! `--ip-range`, `--aux-address`, `--label`, `--internal` and the bridge
//! driver's `-o` options, each seen from inside a container or on the
//! host, and nothing of them left once the state root is reset.

mod common;

use common::outside::*;
use common::*;

fn address_of(c: &Ctx, container: &str, net: &str) -> String {
    one(
        c.root(),
        &[
            "inspect",
            "-f",
            &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"),
            container,
        ],
    )
}

#[test]
fn subnets_come_from_dockers_pool_and_stay_recorded() {
    let Some((_serial, c, before)) = ctx("subnets_come_from_dockers_pool_and_stay_recorded") else {
        return;
    };
    // A host route over 172.17.0.0/16 (as a Docker engine's bridge makes):
    // the default network takes the next /16 of the pool.
    sh_ok(&format!("ip route add 172.17.0.0/16 via {OUTSIDE}"));
    let route = c.run_busybox(&["--rm"], &["ip", "route"]);
    assert!(route.contains("default via 172.18.0.1 dev eth0"), "{route}");
    ok(c.root(), &["network", "create", "auto"]);
    assert_eq!(
        network(&c, "auto")["IPAM"]["Config"][0]["Subnet"],
        "172.19.0.0/16"
    );
    assert_eq!(
        network(&c, "bridge")["IPAM"]["Config"][0]["Subnet"],
        "172.18.0.0/16"
    );
    // Once recorded, a network keeps its subnet although 172.17 is free
    // again.
    sh_ok("ip route del 172.17.0.0/16");
    let route = c.run_busybox(&["--rm"], &["ip", "route"]);
    assert!(route.contains("default via 172.18.0.1 dev eth0"), "{route}");
    // A subnet the pool has handed out is refused to another network.
    let e = fails(
        c.root(),
        &["network", "create", "--subnet", "172.19.5.0/24", "clash"],
    );
    assert!(e.contains("overlaps"), "{e}");
    reset_and_compare(&c, &before);
}

#[test]
fn gateway_ip_range_aux_addresses_and_labels() {
    let Some((_serial, c, before)) = ctx("gateway_ip_range_aux_addresses_and_labels") else {
        return;
    };
    ok(
        c.root(),
        &[
            "network",
            "create",
            "--subnet",
            "10.93.0.0/24",
            "--gateway",
            "10.93.0.254",
            "--ip-range",
            "10.93.0.128/28",
            "--aux-address",
            "router=10.93.0.129",
            "--label",
            "team=net",
            "rng",
        ],
    );
    let host = sh_ok("ip -4 -o addr show");
    assert!(host.contains("inet 10.93.0.254/24"), "the bridge: {host}");
    ok(
        c.root(),
        &[
            "run",
            "-d",
            "--network",
            "rng",
            "--name",
            "ra",
            &c.busybox(),
            "sleep",
            "60",
        ],
    );
    let inside = ok(
        c.root(),
        &[
            "exec",
            "ra",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; ip route",
        ],
    );
    assert!(inside.contains("inet 10.93.0.128/24"), "{inside}");
    assert!(inside.contains("default via 10.93.0.254"), "{inside}");
    // .129 is reserved: the next one is .130.
    let b = c.run_busybox(
        &["--rm", "--network", "rng"],
        &["ip", "-4", "-o", "addr", "show", "eth0"],
    );
    assert!(b.contains("inet 10.93.0.130/24"), "{b}");
    // A fixed address may lie outside the range, never on a reserved one.
    let fixed = c.run_busybox(
        &["--rm", "--network", "rng", "--ip", "10.93.0.7"],
        &["ip", "-4", "-o", "addr", "show", "eth0"],
    );
    assert!(fixed.contains("inet 10.93.0.7/24"), "{fixed}");
    let img = c.busybox();
    for taken in ["10.93.0.129", "10.93.0.254"] {
        let o = c.run(&["--rm", "--network", "rng", "--ip", taken, &img, "true"]);
        assert_eq!(o.status.code(), Some(125), "{taken}: {}", stderr(&o));
    }
    let n = network(&c, "rng");
    assert_eq!(
        n["IPAM"]["Config"][0],
        serde_json::json!({"Subnet": "10.93.0.0/24", "Gateway": "10.93.0.254",
            "IPRange": "10.93.0.128/28", "AuxiliaryAddresses": {"router": "10.93.0.129"}})
    );
    assert_eq!(n["Labels"], serde_json::json!({"team": "net"}));
    let listed = ok(
        c.root(),
        &["network", "ls", "-q", "--filter", "label=team=net"],
    );
    assert_eq!(listed.lines().count(), 1, "{listed}");
    // Docker's refusals, with nothing left behind.
    for (args, why) in [
        (
            &["--gateway", "10.9.0.1"][..],
            "no matching subnet for gateway",
        ),
        (
            &["--subnet", "10.9.0.0/24", "--ip-range", "10.8.0.0/28"][..],
            "no matching subnet for range",
        ),
        (
            &["--subnet", "10.9.0.0/24", "--aux-address", "x=10.8.0.1"][..],
            "aux-address",
        ),
        (
            &["--subnet", "10.9.0.0/24", "--gateway", "10.9.0.255"][..],
            "outside",
        ),
        (
            &["-d", "macvlan"][..],
            "network driver \"macvlan\" is not supported",
        ),
        (&["--ipam-driver", "dhcp"][..], "IPAM driver"),
        (&["--ipv4=false"][..], "--ipv4=false"),
    ] {
        let mut all = vec!["network", "create"];
        all.extend_from_slice(args);
        all.push("bad");
        let e = fails(c.root(), &all);
        assert!(e.contains(why), "{args:?}: {e}");
    }
    assert!(
        pocky(c.root(), &["network", "inspect", "bad"])
            .status
            .code()
            != Some(0)
    );
    ok(c.root(), &["rm", "-f", "ra"]);
    ok(c.root(), &["network", "rm", "rng"]);
    reset_and_compare(&c, &before);
}

#[test]
fn an_internal_network_keeps_its_members_in_and_the_world_out() {
    let Some((_serial, c, before)) =
        ctx("an_internal_network_keeps_its_members_in_and_the_world_out")
    else {
        return;
    };
    ok(
        c.root(),
        &[
            "network",
            "create",
            "--internal",
            "--subnet",
            "10.94.0.0/24",
            "int",
        ],
    );
    assert_eq!(network(&c, "int")["Internal"], true);
    ok(
        c.root(),
        &[
            "run",
            "-d",
            "--network",
            "int",
            "--name",
            "peer",
            &c.busybox(),
            "sleep",
            "60",
        ],
    );
    let listener = outside_listener(9100, false);
    // A peer answers; the outside cannot be reached: no route, and with a
    // route added by hand (privileged) the firewall still drops it.
    let out = c.run_busybox(
        &["--rm", "--network", "int", "--privileged"],
        &[
            "sh",
            "-c",
            &format!(
                "ping -c1 -W2 peer >/dev/null && echo peer-ok; ip route; \
                 ip route add default via 10.94.0.1; \
                 echo leak | timeout 3 nc {OUTSIDE} 9100; echo tried"
            ),
        ],
    );
    assert!(out.contains("peer-ok"), "{out}");
    assert!(!out.contains("default"), "no default route at first: {out}");
    assert!(out.contains("tried"), "{out}");
    assert_eq!(
        heard(listener),
        "",
        "the outside heard from an internal network"
    );
    // Nothing is masqueraded, and nothing is published on it.
    assert!(!sh_ok("iptables -t nat -S").contains("-s 10.94.0.0/24 ! -o"));
    let img = c.busybox();
    let o = c.run(&["--rm", "--network", "int", "-p", "8094:80", &img, "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("internal"), "{}", stderr(&o));
    ok(c.root(), &["rm", "-f", "peer"]);
    reset_and_compare(&c, &before);
}

#[test]
fn bridge_options_name_mtu_icc_and_masquerade() {
    let Some((_serial, c, before)) = ctx("bridge_options_name_mtu_icc_and_masquerade") else {
        return;
    };
    let opt = |k: &str, v: &str| format!("com.docker.network.{k}={v}");
    ok(
        c.root(),
        &[
            "network",
            "create",
            "--subnet",
            "10.95.0.0/24",
            "-o",
            &opt("bridge.name", "br-pk"),
            "-o",
            &opt("driver.mtu", "1400"),
            "-o",
            &opt("bridge.enable_icc", "false"),
            "-o",
            &opt("bridge.enable_ip_masquerade", "false"),
            "opts",
        ],
    );
    let link = sh_ok("ip -o link show br-pk");
    assert!(link.contains("mtu 1400"), "{link}");
    let n = network(&c, "opts");
    assert_eq!(n["Options"]["com.docker.network.bridge.name"], "br-pk");
    assert_eq!(n["Options"]["com.docker.network.driver.mtu"], "1400");
    assert_eq!(
        n["Options"]["com.docker.network.bridge.enable_icc"],
        "false"
    );
    ok(
        c.root(),
        &[
            "run",
            "-d",
            "--network",
            "opts",
            "--name",
            "one",
            &c.busybox(),
            "sleep",
            "60",
        ],
    );
    let one_ip = address_of(&c, "one", "opts");
    // The MTU inside; no way to a peer (icc off), the gateway answers.
    let out = c.run_busybox(
        &["--rm", "--network", "opts"],
        &[
            "sh",
            "-c",
            &format!(
                "cat /sys/class/net/eth0/mtu; ping -c1 -W2 10.95.0.1 >/dev/null && echo gw-ok; \
                 ping -c1 -W2 {one_ip} >/dev/null && echo peer-reached || echo peer-blocked"
            ),
        ],
    );
    assert!(out.starts_with("1400\n"), "{out}");
    assert!(
        out.contains("gw-ok") && out.contains("peer-blocked"),
        "{out}"
    );
    // Without masquerading, the outside sees the container's own address
    // (given a route back to it).
    sh_ok(&format!(
        "{}ip route add 10.95.0.0/24 via {HOST}",
        in_outside()
    ));
    let listener = outside_listener(9101, false);
    c.run_busybox(
        &["--rm", "--network", "opts", "--ip", "10.95.0.77"],
        &[
            "sh",
            "-c",
            &format!("echo hi | timeout 3 nc {OUTSIDE} 9101"),
        ],
    );
    sh_ok(&format!("{}ip route del 10.95.0.0/24", in_outside()));
    assert_eq!(heard(listener), "10.95.0.77 hi");
    // A bridge named freely is still kept apart from other networks.
    let out = c.run_busybox(
        &["--rm"],
        &[
            "sh",
            "-c",
            &format!("ping -c1 -W2 {one_ip} >/dev/null && echo crossed || echo apart"),
        ],
    );
    assert!(out.contains("apart"), "{out}");
    // Options pocky cannot honour are refused by name; so is a taken name.
    let e = fails(
        c.root(),
        &[
            "network",
            "create",
            "-o",
            &opt("bridge.host_binding_ipv4", "127.0.0.1"),
            "x",
        ],
    );
    assert!(e.contains("host_binding_ipv4\" is not supported"), "{e}");
    let e = fails(
        c.root(),
        &["network", "create", "-o", &opt("bridge.name", "vout"), "x"],
    );
    assert!(e.contains("exists already"), "{e}");
    ok(c.root(), &["rm", "-f", "one"]);
    ok(c.root(), &["network", "rm", "opts"]);
    assert!(!sh_ok("ip -o link").contains("br-pk"));
    assert!(!sh_ok("iptables-save").contains("pocky:net:br-pk"));
    reset_and_compare(&c, &before);
}
