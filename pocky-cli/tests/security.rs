//! End-to-end tests of the container boundary in the sandbox: each is an
//! attempt that must fail, or a value that must match Docker's.

mod common;

use std::path::Path;

use common::*;

/// Every run here is `--network none`: these tests are about the boundary,
/// not the bridge.
fn ctx(test: &str) -> Option<Ctx> {
    Some(Ctx::new(test, &["busybox"])?.with_run_flags(&["--network", "none"]))
}

/// The `Cap*` lines of /proc/self/status, as numbers.
fn caps_of(status: &str) -> std::collections::HashMap<String, u64> {
    status
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.starts_with("Cap")
                .then(|| (k.to_owned(), u64::from_str_radix(v.trim(), 16).ok()))
                .and_then(|(k, v)| Some((k, v?)))
        })
        .collect()
}

const DOCKER_DEFAULT_CAPS: u64 = 0xa804_25fb;
const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_CHOWN: u64 = 1;

#[test]
fn capability_sets_match_docker() {
    let Some(c) = ctx("capability_sets_match_docker") else {
        return;
    };
    let read = |flags: &[&str]| caps_of(&c.sh_ok(flags, "cat /proc/self/status"));
    let d = read(&[]);
    assert_eq!(d["CapEff"], DOCKER_DEFAULT_CAPS);
    assert_eq!(d["CapPrm"], DOCKER_DEFAULT_CAPS);
    assert_eq!(d["CapBnd"], DOCKER_DEFAULT_CAPS);
    assert_eq!(d["CapInh"], 0);
    assert_eq!(d["CapAmb"], 0);

    let added = read(&["--cap-add", "NET_ADMIN", "--cap-drop", "chown"]);
    let want = (DOCKER_DEFAULT_CAPS | CAP_NET_ADMIN) & !CAP_CHOWN;
    assert_eq!((added["CapEff"], added["CapBnd"]), (want, want));

    let only = read(&["--cap-drop", "ALL", "--cap-add", "CAP_NET_ADMIN"]);
    assert_eq!(
        (only["CapEff"], only["CapBnd"]),
        (CAP_NET_ADMIN, CAP_NET_ADMIN)
    );

    // Privileged: everything pocky itself holds.
    let host = caps_of(&std::fs::read_to_string("/proc/self/status").unwrap());
    let p = read(&["--privileged"]);
    assert_eq!(p["CapBnd"], host["CapBnd"]);
    assert_eq!(p["CapEff"], host["CapEff"]);
    assert_eq!(p["CapInh"], 0);

    // A non-root user keeps the bounding set but no effective capability.
    let user = read(&["-u", "nobody"]);
    assert_eq!((user["CapEff"], user["CapPrm"]), (0, 0));
    assert_eq!(user["CapBnd"], DOCKER_DEFAULT_CAPS);

    assert!(!c.sh(&["--cap-add", "NOT_A_CAP"], "true").status.success());
}

/// Each line is `name=exit status` of one attempt.
const ATTEMPTS: &str = r#"
try() { name=$1; shift; "$@" >/dev/null 2>&1; echo "$name=$?"; }
try mount mount -t tmpfs none /mnt
try unshare_net unshare -n true
try unshare_user unshare -U true
printf 'not a module' > /tmp/m.ko
try insmod insmod /tmp/m.ko
try reboot reboot -f
mknod /tmp/sda b 8 0 && try blockdev head -c1 /tmp/sda
mknod /tmp/fuse c 10 229 && try chardev head -c1 /tmp/fuse
try procsys sh -c 'echo 1 > /proc/sys/kernel/panic'
try sysrq sh -c 'echo h > /proc/sysrq-trigger'
try kcore sh -c 'head -c1 /proc/kcore | wc -c | grep -qx 1'
"#;

fn attempts(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn default_container_refuses_the_dangerous_things() {
    let Some(c) = ctx("default_container_refuses_the_dangerous_things") else {
        return;
    };
    let r = attempts(&c.sh_ok(&[], ATTEMPTS));
    for name in [
        "mount",
        "unshare_net",
        "unshare_user",
        "insmod",
        "reboot",
        "blockdev",
        "chardev",
        "procsys",
        "sysrq",
        "kcore",
    ] {
        assert_ne!(
            r.get(name).map(String::as_str),
            Some("0"),
            "{name} allowed: {r:?}"
        );
        assert!(r.contains_key(name), "{name} not tried: {r:?}");
    }
    // The errors are refusals, not absent files: EPERM from seccomp or caps.
    let o = c.sh(
        &[],
        "unshare -U true; insmod /tmp/none.ko; printf x >/tmp/m.ko; insmod /tmp/m.ko",
    );
    assert!(stderr(&o).contains("not permitted") || stderr(&o).contains("short read"));
}

#[test]
fn seccomp_is_what_refuses_user_namespaces() {
    let Some(c) = ctx("seccomp_is_what_refuses_user_namespaces") else {
        return;
    };
    // unshare(CLONE_NEWUSER) needs no capability: only the filter stops it.
    let o = c.sh(&[], "unshare -U true");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    c.sh_ok(&["--security-opt", "seccomp=unconfined"], "unshare -U true");
    // The default profile gives mount and unshare back with CAP_SYS_ADMIN.
    c.sh_ok(&["--cap-add", "SYS_ADMIN"], "unshare -n true");
    let status = c.sh_ok(&[], "grep Seccomp: /proc/self/status");
    assert!(status.contains('2'), "{status}");
    let status = c.sh_ok(
        &["--security-opt", "seccomp=unconfined"],
        "grep Seccomp: /proc/self/status",
    );
    assert!(status.contains('0'), "{status}");
    let p = c.sh_ok(&["--privileged"], "grep Seccomp: /proc/self/status");
    assert!(p.contains('0'), "{p}");
}

#[test]
fn seccomp_profile_json_is_docker_s_format() {
    let Some(c) = ctx("seccomp_profile_json_is_docker_s_format") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                         {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO",
                          "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let o = c.sh(&["--security-opt", &opt], "mkdir /x");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    // The chmod rule needs CAP_SYS_ADMIN, which the container lacks.
    c.sh_ok(&["--security-opt", &opt], "chmod 700 /tmp");
    std::fs::write(&profile, "{not json").unwrap();
    let o = c.sh(&["--security-opt", &opt], "true");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("seccomp profile"), "{}", stderr(&o));
}

#[test]
fn no_new_privileges_is_set_on_request() {
    let Some(c) = ctx("no_new_privileges_is_set_on_request") else {
        return;
    };
    let out = c.sh_ok(&[], "grep NoNewPrivs /proc/self/status");
    assert!(out.contains('0'), "{out}");
    let flags = ["--security-opt", "no-new-privileges", "-u", "nobody"];
    let out = c.sh_ok(&flags, "grep -E 'NoNewPrivs|Seccomp:' /proc/self/status");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
}

#[test]
fn workdir_through_proc_fd_is_refused() {
    let Some(c) = ctx("workdir_through_proc_fd_is_refused") else {
        return;
    };
    for n in 3..64 {
        let w = format!("/proc/self/fd/{n}");
        let o = c.sh(&["-w", &w], "pwd; ls");
        assert_eq!(o.status.code(), Some(126), "-w {w}: {}", stdout(&o));
        assert!(stderr(&o).contains("cwd"), "{}", stderr(&o));
    }
    let w = "/proc/1/cwd/..";
    assert_eq!(c.sh(&["-w", w], "pwd").status.code(), Some(126));
    // Ordinary and missing directories still work, the latter created.
    assert_eq!(c.sh_ok(&["-w", "/new/dir"], "pwd"), "/new/dir\n");
}

#[test]
fn only_stdio_reaches_the_container() {
    let Some(c) = ctx("only_stdio_reaches_the_container") else {
        return;
    };
    // ls's own directory fd is the 3.
    assert_eq!(c.sh_ok(&[], "ls /proc/self/fd"), "0\n1\n2\n3\n");
    let id = c.run_busybox(&["-d"], &["sleep", "1000"]);
    let id = id.trim();
    let out = ok(c.root(), &["exec", id, "ls", "/proc/self/fd"]);
    assert_eq!(out, "0\n1\n2\n3\n");
    // The first process is the image's program, not pocky.
    let exe = ok(c.root(), &["exec", id, "readlink", "/proc/1/exe"]);
    assert_eq!(exe.trim(), "/bin/busybox");
    ok(c.root(), &["rm", "-f", id]);
}

#[test]
fn passwd_linked_to_a_fifo_fails_fast() {
    let Some(c) = ctx("passwd_linked_to_a_fifo_fails_fast") else {
        return;
    };
    let id = c.run_busybox(&["-d"], &["sleep", "1000"]);
    let id = id.trim();
    ok(
        c.root(),
        &[
            "exec",
            id,
            "sh",
            "-c",
            "mkfifo /tmp/fifo && rm /etc/passwd && ln -s /tmp/fifo /etc/passwd",
        ],
    );
    let msg = fails(c.root(), &["exec", "-u", "nobody", id, "true"]);
    assert!(
        msg.contains("/etc/passwd") && msg.contains("not a regular file"),
        "{msg}"
    );
    ok(c.root(), &["rm", "-f", id]);
}

#[test]
fn devices_follow_the_allow_list() {
    let Some(c) = ctx("devices_follow_the_allow_list") else {
        return;
    };
    if !Path::new("/dev/fuse").exists() {
        return;
    }
    assert!(!c.sh(&[], "test -e /dev/fuse").status.success());
    c.sh_ok(
        &["--device", "/dev/fuse"],
        "test -c /dev/fuse && exec 3</dev/fuse",
    );
    // Read-only access: opening for writing is refused by the cgroup.
    let o = c.sh(&["--device", "/dev/fuse:/dev/f:r"], "exec 3<>/dev/f");
    assert!(!o.status.success());
    c.sh_ok(
        &["--privileged"],
        "mknod /tmp/fuse c 10 229 && exec 3<>/tmp/fuse",
    );
    assert!(!c.sh(&["--device", "/etc/passwd"], "true").status.success());
}
