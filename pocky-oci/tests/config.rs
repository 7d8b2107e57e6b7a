//! config.json honoured as written, checked from inside the container as
//! the OCI runtime-tools suite's `runtimetest` checks it (that suite cannot
//! be fetched here; see docs/OCI-RUNTIME.md): one container with every
//! process and Linux setting pocky supports prints what it sees, and the
//! test compares it with the spec. Then namespaces joined by path, and the
//! settings pocky refuses.

use std::collections::HashMap;
use std::process::Stdio;

use serde_json::json;

mod common;
use common::{Env, text};

/// `key=value` lines the container prints.
const PROBE: &str = r#"
echo "hostname=$(hostname)"
echo "domainname=$(cat /proc/sys/kernel/domainname)"
echo "env=$CONF_VAR"
echo "cwd=$(pwd)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "umask=$(umask)"
echo "capeff=$(grep CapEff /proc/self/status | cut -f2)"
echo "capbnd=$(grep CapBnd /proc/self/status | cut -f2)"
echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"
echo "oom=$(cat /proc/self/oom_score_adj)"
echo "nofile=$(ulimit -Sn):$(ulimit -Hn)"
echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
echo "personality=$(cat /proc/self/personality)"
echo "ionice=$(ionice)"
echo "masked=$(cat /etc/conf-masked | wc -c)"
touch /conf-ro-dir/x 2>/dev/null && echo "ro_path=writable" || echo "ro_path=readonly"
touch /conf-root-file 2>/dev/null && echo "root=writable" || echo "root=readonly"
echo "tmp=$(grep ' /tmp ' /proc/mounts | cut -d' ' -f3,4)"
echo "root_propagation=$(awk '$5 == "/"' /proc/self/mountinfo | grep -o 'shared:[0-9]*' | cut -d: -f1)"
echo x > /dev/conf-null && echo "device=$(stat -c '%F %t:%T %a' /dev/conf-null)"
echo "pid1=$$"
"#;

fn parse(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_supported_setting_is_seen_inside_the_container() {
    let Some(env) = Env::new("oci_config", &["sh", "-c", PROBE]) else {
        return;
    };
    env.set_cgroup("conf");
    let rootfs = env.bundle().join("rootfs");
    std::fs::create_dir_all(rootfs.join("conf-ro-dir")).unwrap();
    std::fs::write(rootfs.join("etc/conf-masked"), "secret").unwrap();
    let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
    env.edit(|s| {
        s["hostname"] = "conf-host".into();
        s["domainname"] = "conf.example".into();
        s["root"]["readonly"] = true.into();
        let p = &mut s["process"];
        p["env"] = json!(["PATH=/bin:/usr/bin", "CONF_VAR=from-spec"]);
        p["cwd"] = "/tmp/work".into();
        p["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 23});
        // Ambient (and so inheritable) too: a non-root user keeps no
        // effective capability across exec otherwise.
        p["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps,
                                   "inheritable": caps, "ambient": caps});
        p["noNewPrivileges"] = true.into();
        p["oomScoreAdj"] = 123.into();
        p["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
        p["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
        let l = &mut s["linux"];
        l["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        l["maskedPaths"] = json!(["/etc/conf-masked"]);
        l["readonlyPaths"] = json!(["/conf-ro-dir"]);
        l["rootfsPropagation"] = "shared".into();
        l["personality"] = json!({"domain": "LINUX32"});
        l["devices"] = json!([{"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3,
                               "fileMode": 438, "uid": 0, "gid": 0}]);
        s["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                         "options": ["nosuid", "nodev", "size=1m", "mode=1777"]}),
        );
        s["annotations"] = json!({"org.pocky.test": "conf"});
    });
    // An allow rule for the node, after umoci's deny-all.
    env.edit(|s| {
        let devs = s["linux"]["resources"]["devices"].as_array_mut().unwrap();
        devs.push(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}));
    });
    let bundle = env.bundle();
    env.create("conf", &[]);
    assert_eq!(env.state("conf")["annotations"]["org.pocky.test"], "conf");
    let out = env
        .cmd(&["start", "conf"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait_status("conf", "stopped");
    let seen = parse(&std::fs::read_to_string(env.dir.path().join("conf.out")).unwrap());
    let want = [
        ("hostname", "conf-host"),
        ("domainname", "conf.example"),
        ("env", "from-spec"),
        ("cwd", "/tmp/work"),
        ("uid", "1000"),
        ("gid", "1000"),
        ("groups", "1000 10 20"),
        ("umask", "0027"),
        ("capeff", "0000000000000021"),
        ("capbnd", "0000000000000021"),
        ("nnp", "1"),
        ("oom", "123"),
        ("nofile", "512:1024"),
        ("ip_forward", "1"),
        ("personality", "00000008"),
        ("ionice", "best-effort: prio 6"),
        ("masked", "0"),
        ("ro_path", "readonly"),
        ("root", "readonly"),
        ("root_propagation", "shared"),
        ("device", "character special file 1:3 666"),
        ("pid1", "1"),
    ];
    for (k, v) in want {
        assert_eq!(
            seen.get(k).map(String::as_str),
            Some(v),
            "{k}; everything seen: {seen:?}"
        );
    }
    let tmp = &seen["tmp"];
    assert!(
        tmp.starts_with("tmpfs ") && tmp.contains("nosuid") && tmp.contains("size=1024k"),
        "{tmp}"
    );
    env.ok(&["delete", "conf"]);
    assert!(bundle.exists());
}

#[test]
fn namespaces_given_by_path_are_joined() {
    let Some(env) = Env::new("oci_ns_path", &["sleep", "300"]) else {
        return;
    };
    env.set_cgroup("holder");
    env.edit(|s| s["hostname"] = "ns-holder".into());
    env.create("holder", &[]);
    env.ok(&["start", "holder"]);
    let pid = env.state("holder")["pid"].to_string();
    // The second container joins the first's uts, ipc and network
    // namespaces, and makes its own pid and mount namespaces.
    env.edit(|s| {
        s["hostname"] = serde_json::Value::Null;
        s["process"]["args"] = json!(["sh", "-c",
            "echo uts=$(hostname) net=$(readlink /proc/self/ns/net) ipc=$(readlink /proc/self/ns/ipc)"]);
        let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            let t = n["type"].as_str().unwrap().to_string();
            let file = match t.as_str() {
                "uts" => "uts",
                "ipc" => "ipc",
                "network" => "net",
                _ => continue,
            };
            n["path"] = format!("/proc/{pid}/ns/{file}").into();
        }
    });
    env.set_cgroup("joiner");
    let out = env.on_bundle("run", "joiner");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = |ns: &str| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "uts=ns-holder net={} ipc={}",
            link("net").display(),
            link("ipc").display()
        )
    );
    env.ok(&["delete", "--force", "holder"]);
}

#[test]
fn unsupported_settings_fail_create_by_name() {
    let Some(env) = Env::new("oci_unsupported", &["true"]) else {
        return;
    };
    env.set_cgroup("nope");
    let cases = [
        (
            json!({"linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}}),
            "no new user namespace",
        ),
        (
            json!({"process": {"selinuxLabel": "system_u:system_r:container_t:s0"}}),
            "selinuxLabel",
        ),
        (
            json!({"process": {"apparmorProfile": "docker-default"}}),
            "AppArmor",
        ),
        (
            json!({"linux": {"rootfsPropagation": "sideways"}}),
            "rootfsPropagation",
        ),
        (
            json!({"linux": {"personality": {"domain": "LINUX", "flags": ["x"]}}}),
            "personality",
        ),
    ];
    for (patch, needle) in cases {
        env.edit(|s| {
            for (section, fields) in patch.as_object().unwrap() {
                for (k, v) in fields.as_object().unwrap() {
                    s[section.as_str()][k.as_str()] = v.clone();
                }
            }
        });
        let out = env.on_bundle("create", "nope");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{patch}: {err}");
        assert!(err.contains(needle), "{patch}: {err}");
        assert!(!env.root().join("nope").exists(), "{patch}: state left");
        // Undo the patch for the next case.
        env.edit(|s| {
            for (section, fields) in patch.as_object().unwrap() {
                for k in fields.as_object().unwrap().keys() {
                    s[section.as_str()].as_object_mut().unwrap().remove(k);
                }
            }
        });
    }
}

#[test]
fn a_user_namespace_maps_the_containers_root() {
    // umoci writes the bundle: rootfs owned by the mapped ids, a config
    // with a user namespace and its uid/gid mappings.
    let map = ["--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536"];
    let probe = "echo uid_map=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'); \
                 echo gid_map=$(cat /proc/self/gid_map | tr -s ' ' | sed 's/^ //'); \
                 echo id=$(id -u):$(id -g); echo owner=$(stat -c %u:%g /bin/busybox); \
                 touch /written-as-root && echo rootfs=writable; \
                 echo hostname=$(hostname); echo mounted=$(grep -c . /proc/mounts)";
    let Some(env) = Env::unpacked_with("oci_userns", &["sh", "-c", probe], &map) else {
        return;
    };
    // The mapped root must reach the bundle: a root-only temp dir is
    // closed to it, as it would be to runc's container.
    for d in [env.dir.path().to_path_buf(), env.bundle()] {
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&d).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    env.set_cgroup("userns");
    env.edit(|s| s["hostname"] = "in-userns".into());
    let out = env.on_bundle("run", "userns");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = parse(&text(&out.stdout));
    let want = [
        ("uid_map", "0 100000 65536"),
        ("gid_map", "0 100000 65536"),
        ("id", "0:0"),
        ("owner", "0:0"),
        ("rootfs", "writable"),
        ("hostname", "in-userns"),
    ];
    for (k, v) in want {
        assert_eq!(seen.get(k).map(String::as_str), Some(v), "{k}: {seen:?}");
    }
    // exec joins the user namespace too: root inside, the same maps; the
    // container's own cgroup is bound read-only where v1 may not mount.
    env.edit(|s| {
        s["process"]["args"] = json!(["sleep", "300"]);
        s["linux"]["resources"]["pids"] = json!({"limit": 42});
    });
    env.create("userns", &[]);
    env.ok(&["start", "userns"]);
    let out = env.ok(&[
        "exec",
        "userns",
        "sh",
        "-c",
        "echo $(id -u) $(tr -s ' ' < /proc/self/uid_map); cat /sys/fs/cgroup/pids/pids.max; \
         echo 1 > /sys/fs/cgroup/pids/pids.max || echo cgroup-readonly",
    ]);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        ["0 0 100000 65536", "42", "cgroup-readonly"],
        "{}",
        text(&out.stderr)
    );
    env.ok(&["delete", "--force", "userns"]);
    // On the host the file belongs to the mapped root.
    let meta = std::fs::metadata(env.bundle().join("rootfs/written-as-root")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            std::os::unix::fs::MetadataExt::gid(&meta)
        ),
        (100000, 100000)
    );
}

#[test]
fn root_propagation_is_what_the_spec_says() {
    let probe = "awk '$5 == \"/\"' /proc/self/mountinfo | grep -o -e 'shared:' -e 'unbindable' \
                 || echo private";
    let Some(env) = Env::new("oci_propagation", &["sh", "-c", probe]) else {
        return;
    };
    env.set_cgroup("prop");
    for (asked, seen) in [
        ("rshared", "shared:"),
        ("unbindable", "unbindable"),
        ("rprivate", "private"),
        // runc's default: slave of a private copy, which is private here.
        ("", "private"),
    ] {
        env.edit(|s| s["linux"]["rootfsPropagation"] = asked.into());
        let out = env.on_bundle("run", "prop");
        assert!(out.status.success(), "{asked}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), seen, "{asked}");
    }
}

/// runtime-tools' `linux_ns_itype` removes every namespace from the config.
/// Run that way, in a throwaway mount namespace so a regression cannot move
/// the harness's root, pocky-runtime refuses by name, leaves no state, and
/// the namespace's `/` is what it was.
#[test]
fn a_config_without_a_mount_namespace_leaves_the_callers_root_alone() {
    let Some(env) = Env::new("oci_no_mountns", &["true"]) else {
        return;
    };
    env.set_cgroup("nomnt");
    env.edit(|s| s["linux"]["namespaces"] = json!([]));
    let bundle = env.bundle();
    let script = format!(
        "before=$(awk '$5 == \"/\"' /proc/self/mountinfo; ls -id /)
         {bin} --root {root} run --bundle {bundle} nomnt </dev/null 2>&1; echo rc=$?
         after=$(awk '$5 == \"/\"' /proc/self/mountinfo; ls -id /)
         [ \"$before\" = \"$after\" ] && echo root=same || echo root=moved",
        bin = common::BIN,
        root = env.root().display(),
        bundle = bundle.display(),
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("own mount namespace"), "{said}");
    assert!(said.contains("rc=1"), "{said}");
    assert!(said.contains("root=same"), "{said}");
    assert!(!env.root().join("nomnt").exists(), "state left");
}

/// runtime-tools' `misc_props`: unknown properties and annotation keys are
/// ignored, an invalid `ociVersion` is an error that leaves nothing behind.
#[test]
fn unknown_properties_pass_and_an_invalid_version_fails() {
    let Some(env) = Env::new("oci_misc_props", &["true"]) else {
        return;
    };
    env.set_cgroup("misc");
    env.edit(|s| {
        s["unknownProperty"] = json!("unknown");
        s["annotations"] = json!({"org.unknown.key": ""});
    });
    let out = env.on_bundle("run", "misc");
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.edit(|s| s["ociVersion"] = json!("invalid"));
    let out = env.on_bundle("create", "misc");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ociVersion \"invalid\""), "{err}");
    assert!(!env.root().join("misc").exists(), "state left");
}
