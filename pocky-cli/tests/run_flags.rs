//! Docker's less common run flags, each seen where it takes effect:
//! inside the container (limits, sysctls, groups, /dev/shm, the init as
//! PID 1, namespaces shared with the host or another container) or in
//! the container's cgroup on the host; and the ones pocky refuses, by
//! name, with nothing left behind.

mod common;

use common::{Ctx, fails, ok, one, pocky, stderr, stdout};

fn lines(s: &str) -> Vec<&str> {
    s.lines().map(str::trim).collect()
}

#[test]
fn limits_and_process_settings_inside() {
    let Some(ctx) = Ctx::new("run_flags_process", &["busybox"]) else {
        return;
    };
    let out = ctx.sh_ok(
        &[
            "--ulimit",
            "nofile=100:200",
            "--ulimit",
            "core=0",
            "--oom-score-adj",
            "500",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.shmmax=123456",
            "--group-add",
            "123",
            "--group-add",
            "nogroup",
            "--shm-size",
            "128m",
            "--domainname",
            "example.org",
            "--cpuset-cpus",
            "0",
        ],
        "ulimit -n; ulimit -Hn; ulimit -c; cat /proc/self/oom_score_adj; \
         cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; id -G; \
         df -k /dev/shm | tail -1 | awk '{print $2}'; cat /proc/sys/kernel/domainname; \
         grep Cpus_allowed_list /proc/self/status | cut -f2",
    );
    let l = lines(&out);
    assert_eq!(
        l,
        [
            "100",
            "200",
            "0",
            "500",
            "1",
            "123456",
            "0 123 65534",
            "131072",
            "example.org",
            "0"
        ],
        "{out}"
    );
    // Docker's defaults: 64m of /dev/shm, the caller's limits.
    let out = ctx.sh_ok(&[], "df -k /dev/shm | tail -1 | awk '{print $2}'");
    assert_eq!(out.trim(), "65536");
}

#[test]
fn bad_values_and_refused_flags_fail_cleanly() {
    let Some(ctx) = Ctx::new("run_flags_refused", &["busybox"]) else {
        return;
    };
    let img = ctx.busybox();
    let root = ctx.root();
    for (flags, words) in [
        (&["--ulimit", "nofile=10:5"][..], "soft limit"),
        (&["--ulimit", "bogus=1"][..], "ulimit type"),
        (&["--sysctl", "kernel.panic=1"][..], "not namespaced"),
        (
            &["--network", "host", "--sysctl", "net.core.somaxconn=1"][..],
            "--network host",
        ),
        (&["--oom-score-adj", "1001"][..], "-1000 to 1000"),
        (&["--memory-swap", "1g"][..], "memory limit"),
        (&["-m", "64m", "--memory-swap", "32m"][..], "memoryswap"),
        (&["--memory-swappiness", "101"][..], "0 to 100"),
        (&["--cpus", "1", "--cpu-quota", "50000"][..], "conflicting"),
        (&["--cpuset-cpus", "3-1"][..], "--cpuset-cpus"),
        (
            &["--device-cgroup-rule", "c 1:3 rwx"][..],
            "device cgroup rule",
        ),
        (&["--kernel-memory", "10m"][..], "--kernel-memory"),
        (&["--gpus", "all"][..], "--gpus"),
        (&["--runtime", "kata"][..], "--runtime"),
        (&["--storage-opt", "size=1g"][..], "--storage-opt"),
        (&["--pid", "container:nosuch"][..], "nosuch"),
        (&["--uts", "host", "-h", "x"][..], "UTS mode"),
        (&["--ipc", "bogus"][..], "--ipc"),
        (&["--annotation", "io.pocky.init=true"][..], "io.pocky."),
        (&["--volumes-from", "nosuch"][..], "nosuch"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&img, "true"]);
        let err = fails(root, &args);
        assert!(err.contains(words), "{flags:?}: {err}");
    }
    assert_eq!(
        ok(root, &["ps", "-aq"]),
        "",
        "a refused run leaves no container"
    );
    // Beyond pocky's own hard limit: only CAP_SYS_RESOURCE raises it.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    if cap_eff & (1 << 24) == 0 {
        let err = fails(
            root,
            &["run", "--rm", "--ulimit", "nproc=1:unlimited", &img, "true"],
        );
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
    }
}

#[test]
fn init_reaps_and_forwards_signals() {
    let Some(ctx) = Ctx::new("run_flags_init", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    let out = ctx.sh_ok(&["--init"], "cat /proc/1/comm; echo $$");
    assert_eq!(lines(&out), ["pocky-init", "2"], "{out}");
    // An orphan's zombie is reaped by the init: none is left behind.
    let out = ctx.sh_ok(
        &["--init"],
        "sh -c 'sleep 0.2 & exit 0'; sleep 1; ps -o stat,comm | grep -c '^Z' || true",
    );
    assert_eq!(out.trim(), "0", "no zombie: {out}");
    // A sleeping PID 1 ignores SIGTERM; under the init, the command gets
    // it and dies of it (128 + 15), where without it `stop` must kill.
    for (init, code) in [(true, "143"), (false, "137")] {
        let mut args = vec!["run", "-d", "--name", "sl"];
        if init {
            args.push("--init");
        }
        args.extend_from_slice(&[&img, "sleep", "1000"]);
        ok(root, &args);
        ok(root, &["stop", "-t", "2", "sl"]);
        assert_eq!(
            one(root, &["inspect", "-f", "{{.State.ExitCode}}", "sl"]),
            code,
            "init {init}"
        );
        ok(root, &["rm", "sl"]);
    }
    // The command's own exit code and a missing command's 127 come back.
    let o = ctx.run(&["--rm", "--init", &img, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let o = ctx.run(&["--rm", "--init", &img, "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
}

fn ns_of(root: &std::path::Path, container: &str, kind: &str) -> String {
    one(
        root,
        &[
            "exec",
            container,
            "readlink",
            &format!("/proc/self/ns/{kind}"),
        ],
    )
}

#[test]
fn namespaces_shared_with_the_host_or_a_container() {
    let Some(ctx) = Ctx::new("run_flags_namespaces", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    let host_ns = |kind: &str| {
        std::fs::read_link(format!("/proc/self/ns/{kind}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    // The host's: the namespace links are the test's own.
    let out = ctx.sh_ok(
        &[
            "--pid",
            "host",
            "--ipc",
            "host",
            "--uts",
            "host",
            "--cgroupns",
            "host",
        ],
        "for k in pid ipc uts cgroup; do readlink /proc/self/ns/$k; done; hostname",
    );
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        lines(&out),
        [
            host_ns("pid").as_str(),
            &host_ns("ipc"),
            &host_ns("uts"),
            &host_ns("cgroup"),
            host_name.trim()
        ],
        "{out}"
    );
    // Another container's: its processes, its /dev/shm, its name, its
    // network, joined at each start.
    ok(
        root,
        &[
            "run",
            "-d",
            "--name",
            "base",
            "-h",
            "basehost",
            &img,
            "sh",
            "-c",
            "touch /dev/mqueue/note; exec sleep 1000",
        ],
    );
    ok(
        root,
        &[
            "run",
            "-d",
            "--name",
            "joiner",
            "--pid",
            "container:base",
            "--ipc",
            "container:base",
            "--uts",
            "container:base",
            "--network",
            "container:base",
            &img,
            "sleep",
            "1000",
        ],
    );
    for kind in ["pid", "ipc", "uts", "net"] {
        assert_eq!(
            ns_of(root, "joiner", kind),
            ns_of(root, "base", kind),
            "{kind}"
        );
    }
    assert_ne!(ns_of(root, "joiner", "mnt"), ns_of(root, "base", "mnt"));
    let out = ok(
        root,
        &[
            "exec",
            "joiner",
            "sh",
            "-c",
            "ls /dev/mqueue; hostname; ps -o args",
        ],
    );
    assert!(out.starts_with("note\nbasehost\n"), "{out}");
    assert_eq!(
        out.matches("sleep 1000").count(),
        2,
        "base's processes are seen: {out}"
    );
    let addr = ok(
        root,
        &["exec", "base", "ip", "-o", "-4", "addr", "show", "eth0"],
    );
    let joined = ok(
        root,
        &["exec", "joiner", "ip", "-o", "-4", "addr", "show", "eth0"],
    );
    assert_eq!(addr, joined);
    // The joined container's flags that would differ are refused.
    fails(
        root,
        &[
            "run",
            "--rm",
            "--network",
            "container:base",
            "-p",
            "80",
            &img,
            "true",
        ],
    );
    fails(
        root,
        &[
            "run",
            "--rm",
            "--network",
            "container:base",
            "--dns",
            "1.1.1.1",
            &img,
            "true",
        ],
    );
    // A stopped target cannot be joined; its start fails, cleanly.
    ok(root, &["stop", "-t", "0", "joiner", "base"]);
    let o = pocky(root, &["start", "joiner"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not running"), "{}", stderr(&o));
    ok(root, &["start", "base"]);
    ok(root, &["start", "joiner"]);
    assert_eq!(ns_of(root, "joiner", "net"), ns_of(root, "base", "net"));
    ok(root, &["rm", "-f", "joiner", "base"]);
}

#[test]
fn volumes_from_another_container() {
    let Some(ctx) = Ctx::new("run_flags_volumes_from", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from-host\n").unwrap();
    let bind = format!("{}:/bound", host.path().display());
    ok(
        root,
        &[
            "create",
            "--name",
            "src",
            "-v",
            "shared:/data",
            "-v",
            &bind,
            "--tmpfs",
            "/scratch",
            &img,
            "true",
        ],
    );
    ok(
        root,
        &[
            "run",
            "--rm",
            "-v",
            "shared:/data",
            &img,
            "sh",
            "-c",
            "echo kept > /data/k",
        ],
    );
    let out = ctx.sh_ok(
        &["--volumes-from", "src"],
        "cat /data/k /bound/f; grep -c ' /scratch ' /proc/mounts || true",
    );
    assert_eq!(lines(&out), ["kept", "from-host", "0"], "{out}");
    let o = ctx.sh(&["--volumes-from", "src:ro"], "echo x > /data/k");
    assert!(!o.status.success(), "read-only: {}", stdout(&o));
    // The volume is in use by the inheritor too: not removable while it is.
    ok(
        root,
        &[
            "create",
            "--name",
            "heir",
            "--volumes-from",
            "src",
            &img,
            "true",
        ],
    );
    ok(root, &["rm", "src"]);
    fails(root, &["volume", "rm", "shared"]);
    ok(root, &["rm", "heir"]);
    ok(root, &["volume", "rm", "shared"]);
}

/// The host's copy of a control file of the container's cgroup: the
/// container's `/proc/self/cgroup` with the host's cgroup namespace names
/// its directories.
fn cgroup_file(root: &std::path::Path, container: &str, v1: &str, v2: &str) -> Option<String> {
    let table = ok(root, &["exec", container, "cat", "/proc/self/cgroup"]);
    for line in table.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (dir, file) = match controllers {
            "" => (format!("/sys/fs/cgroup/unified{path}"), v2),
            c if v1.starts_with(&format!("{}.", c.split(',').next()?))
                || c.split(',').any(|c| v1.starts_with(&format!("{c}."))) =>
            {
                (format!("/sys/fs/cgroup/{c}{path}"), v1)
            }
            _ => continue,
        };
        if let Ok(v) = std::fs::read_to_string(format!("{dir}/{file}")) {
            return Some(v.trim().to_owned());
        }
    }
    None
}

#[test]
fn cgroup_limits_on_the_host() {
    let Some(ctx) = Ctx::new("run_flags_cgroups", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    let dev = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| !n.starts_with("loop") && !n.starts_with("zram") && !n.starts_with("ram"))
        .expect("a block device");
    let read_bps = format!("/dev/{dev}:1mb");
    ok(
        root,
        &[
            "run",
            "-d",
            "--name",
            "lim",
            "--cgroupns",
            "host",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "25000",
            "-m",
            "64m",
            "--memory-reservation",
            "32m",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "--device-read-bps",
            &read_bps,
            "--device-cgroup-rule",
            "c 1:11 rwm",
            &img,
            "sleep",
            "1000",
        ],
    );
    let file = |v1: &str, v2: &str| cgroup_file(root, "lim", v1, v2);
    let quota = file("cpu.cfs_quota_us", "cpu.max").expect("the cpu quota file");
    assert!(quota == "25000" || quota == "25000 50000", "{quota}");
    let reservation = file("memory.soft_limit_in_bytes", "memory.low").unwrap();
    assert_eq!(reservation, (32 << 20).to_string());
    if let Some(s) = file("memory.swappiness", "memory.swappiness") {
        assert_eq!(s, "10");
    }
    if let Some(oom) = file("memory.oom_control", "memory.oom.group") {
        assert!(oom.starts_with("oom_kill_disable 1"), "{oom}");
    }
    let major_minor = std::fs::read_to_string(format!("/sys/block/{dev}/dev")).unwrap();
    let throttle = file("blkio.throttle.read_bps_device", "io.max").unwrap();
    assert!(
        throttle.contains(&format!("{} 1048576", major_minor.trim()))
            || throttle.contains(&format!("{} rbps=1048576", major_minor.trim())),
        "{throttle}"
    );
    if let Some(list) = file("devices.list", "") {
        assert!(list.lines().any(|l| l == "c 1:11 rwm"), "{list}");
    }
    let hc = &common::container(root, "lim")["HostConfig"];
    assert_eq!(hc["CpuQuota"], 25000);
    assert_eq!(hc["CpuPeriod"], 50000);
    assert_eq!(hc["MemoryReservation"], 32 << 20);
    assert_eq!(hc["MemorySwappiness"], 10);
    assert_eq!(hc["OomKillDisable"], true);
    assert_eq!(hc["CgroupnsMode"], "host");
    assert_eq!(hc["DeviceCgroupRules"], serde_json::json!(["c 1:11 rwm"]));
    assert_eq!(hc["ShmSize"], 64 << 20);
    // `update` changes them on the running container and in its spec.
    ok(
        root,
        &[
            "update",
            "--cpu-quota",
            "40000",
            "--memory-reservation",
            "16m",
            "--cpuset-cpus",
            "0",
            "lim",
        ],
    );
    let quota = file("cpu.cfs_quota_us", "cpu.max").unwrap();
    assert!(quota == "40000" || quota == "40000 50000", "{quota}");
    assert_eq!(
        file("memory.soft_limit_in_bytes", "memory.low").unwrap(),
        (16 << 20).to_string()
    );
    let hc = &common::container(root, "lim")["HostConfig"];
    assert_eq!(
        (hc["CpuQuota"].clone(), hc["CpusetCpus"].clone()),
        (40000.into(), "0".into())
    );
    fails(root, &["update", "--memory-swap", "1m", "lim"]);
    ok(root, &["rm", "-f", "lim"]);
    // A setting this host's controller lacks is named, not ignored.
    let weight = std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight");
    if !weight.exists() && std::path::Path::new("/sys/fs/cgroup/blkio").exists() {
        let err = fails(
            root,
            &["run", "--rm", "--blkio-weight", "300", &img, "true"],
        );
        assert!(err.contains("blkio.weight"), "{err}");
    }
}

#[test]
fn start_attaches_to_the_output_and_returns_the_code() {
    let Some(ctx) = Ctx::new("run_flags_start_attach", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    ok(
        root,
        &[
            "create",
            "--name",
            "once",
            &img,
            "sh",
            "-c",
            "echo started-$((6*7)); exit 3",
        ],
    );
    let o = pocky(root, &["start", "-a", "once"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "started-42\n");
    // Again: only this run's output.
    let o = pocky(root, &["start", "-a", "once"]);
    assert_eq!(stdout(&o), "started-42\n");
    fails(root, &["start", "-a", "once", "once"]);
    fails(root, &["start", "--checkpoint", "c1", "once"]);
    ok(root, &["rm", "once"]);
}

#[test]
fn build_gives_its_run_steps_the_limits() {
    let Some(ctx) = Ctx::new("run_flags_build", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM {}\nRUN (ulimit -n; df -k /dev/shm | tail -1 | awk '{{print $2}}'; grep Cpus_allowed_list /proc/self/status | cut -f2) > /seen\n",
        ctx.busybox()
    );
    common::build::write_context(dir.path(), &[("Dockerfile", &dockerfile)]);
    let context = dir.path().to_str().unwrap();
    common::build::build_ok(
        root,
        &[
            "-t",
            "limited",
            "--ulimit",
            "nofile=77:77",
            "--shm-size",
            "32m",
            "--cpuset-cpus",
            "0",
            "-m",
            "64m",
            "--compress",
            context,
        ],
    );
    let out = ok(root, &["run", "--rm", "limited", "cat", "/seen"]);
    assert_eq!(lines(&out), ["77", "32768", "0"], "{out}");
    for flags in [
        &["--squash"][..],
        &["--cache-from", "x"][..],
        &["--isolation", "hyperv"][..],
    ] {
        let mut args = vec!["build"];
        args.extend_from_slice(flags);
        args.push(context);
        let err = fails(root, &args);
        assert!(err.contains(flags[0]), "{err}");
    }
}

#[test]
fn attach_streams_and_signal_proxy_of_a_foreground_run() {
    let Some(ctx) = Ctx::new("run_flags_attach", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    let script = "echo out; echo err >&2";
    let o = pocky(
        root,
        &["run", "--rm", "-a", "stdout", &img, "sh", "-c", script],
    );
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out\n", ""));
    let o = pocky(
        root,
        &["run", "--rm", "-a", "STDERR", &img, "sh", "-c", script],
    );
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", "err\n"));
    // The log has both either way.
    ok(
        root,
        &[
            "run", "--name", "quiet", "-a", "stdin", &img, "sh", "-c", script,
        ],
    );
    assert_eq!(ok(root, &["logs", "quiet"]), "out\n");
    ok(root, &["rm", "quiet"]);
    fails(root, &["run", "-d", "-a", "stdout", &img, "true"]);
    fails(root, &["run", "-a", "stdfoo", &img, "true"]);
    fails(root, &["run", "--detach-keys", "ctrl-x", &img, "true"]);
    fails(root, &["create", "-a", "stdout", &img, "true"]);

    // --sig-proxy=false: a SIGTERM to pocky reaches neither the container
    // nor ends pocky; with the default it reaches the container's trap.
    for (proxy, expect) in [("false", "done\n"), ("true", "got\ndone\n")] {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
            .args(["--root", root.to_str().unwrap(), "run", "--rm"])
            .arg(format!("--sig-proxy={proxy}"))
            .args([
                &img,
                "sh",
                "-c",
                "trap 'echo got' TERM; echo ready; sleep 1; echo done",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(child.wait().unwrap().success(), "sig-proxy={proxy}");
        assert_eq!(rest, expect, "sig-proxy={proxy}");
    }
}
