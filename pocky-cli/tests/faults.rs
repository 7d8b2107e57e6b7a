//! The store under faults: records cut short or scribbled over, and
//! records that vanish while a listing reads them. None may take the
//! other containers and images down with it.

mod common;

use std::path::Path;

use common::records::*;
use common::*;
use pocky_engine::store::Store;

fn truncate(path: &Path) {
    let data = std::fs::read(path).unwrap();
    std::fs::write(path, &data[..data.len() / 2]).unwrap();
}

#[test]
fn a_truncated_container_record_does_not_brick_the_store() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    add(r, &exited("good", 0));
    let bad = exited("bad", 1);
    let dir = add(r, &bad);
    truncate(&dir.join("container.json"));
    let short = &bad.id[..12];

    let out = pocky(r, &["ps", "-a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("good"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with(short))
        .unwrap_or_default();
    assert!(row.contains("Dead"), "{table}");
    assert!(
        stderr(&out).contains(&format!("pocky rm -f {short}")),
        "{}",
        stderr(&out)
    );
    // Commands on other containers, and new containers, are unaffected.
    assert!(ok(r, &["inspect", "good"]).contains("\"exited\""));
    let err = fails(r, &["inspect", short]);
    assert!(err.contains("unreadable record"), "{err}");
    // Without a record pocky cannot tell it runs; -f removes it, and by id.
    ok(r, &["rm", "-f", short]);
    assert!(!dir.exists());
    let out = pocky(r, &["ps", "-a"]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    // system prune clears one too.
    let dir = add(r, &exited("again", 1));
    truncate(&dir.join("container.json"));
    let pruned = ok(r, &["system", "prune", "-f"]);
    assert!(pruned.contains(&id_for("again")), "{pruned}");
    assert!(!dir.exists());
}

#[test]
fn a_garbage_image_record_does_not_brick_the_store() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    add(r, &exited("user", 0));
    let store = Store::open(r).unwrap();
    let garbage = store
        .layout()
        .images()
        .join(format!("{}.json", "ab".repeat(32)));
    std::fs::write(&garbage, b"\x00\x01 not json").unwrap();

    let out = pocky(r, &["images"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pocky rmi abababababab"),
        "{}",
        stderr(&out)
    );
    assert!(ok(r, &["ps", "-a"]).contains("user"));
    ok(r, &["rmi", "abababababab"]);
    assert!(!garbage.exists());

    std::fs::write(&garbage, b"{").unwrap();
    let pruned = ok(r, &["system", "prune", "-f"]);
    assert!(
        pruned.contains(&format!("sha256:{}", "ab".repeat(32))),
        "{pruned}"
    );
    assert!(!garbage.exists());
    let out = pocky(r, &["images"]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// `run` of an intact image next to a broken record runs it from the
/// store: only a real miss may send it to the registry.
#[test]
fn a_broken_image_record_does_not_make_run_pull() {
    let Some(c) = Ctx::new("broken_image_run", &["busybox"]) else {
        return;
    };
    let store = Store::open(c.root()).unwrap();
    let garbage = store
        .layout()
        .images()
        .join(format!("{}.json", "cd".repeat(32)));
    std::fs::write(&garbage, b"garbage").unwrap();
    // No network: `system_reset_leaves_nothing` tears down the firewall
    // chains of this sandbox while the tests of this file run.
    let out = c.run(&["--rm", "--network", "none", &c.busybox(), "echo", "ran"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ran\n");
    assert!(!stderr(&out).contains("Unable to find"), "{}", stderr(&out));
}

/// Listings while containers come and go: every `ps -a` succeeds while
/// records and directories vanish under it. The records say running with
/// a process that is gone and no owner, so each listing also settles them
/// (an update of a record that may be removed meanwhile).
#[test]
fn listings_skip_records_that_vanish_while_they_read() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_owned();
    let churn = {
        let r = r.clone();
        std::thread::spawn(move || {
            for i in 0..150 {
                let rec = record(
                    &format!("c{i}"),
                    pocky_engine::store::ContainerState {
                        status: Some(pocky_engine::store::Status::Running),
                        pid: i32::MAX,
                        pid_start: 1,
                        ..Default::default()
                    },
                );
                add(&r, &rec);
                let store = Store::open(&r).unwrap();
                use pocky_engine::store::ContainerStore;
                store.remove_container(&rec.id).unwrap();
            }
        })
    };
    let mut listings = 0;
    while !churn.is_finished() {
        let out = pocky(&r, &["ps", "-a"]);
        assert!(out.status.success(), "{}", stderr(&out));
        listings += 1;
    }
    churn.join().unwrap();
    assert!(listings > 0);
}

/// A value execve would refuse (1 MiB, over the kernel's 128 KiB per
/// string) fails the run with 125 before any container exists, instead of
/// 126 from a container that was created and could not exec.
#[test]
fn an_environment_the_kernel_refuses_fails_before_anything_is_made() {
    let Some(c) = Ctx::new("huge_env", &["busybox"]) else {
        return;
    };
    let file = c.root().join("big.env");
    std::fs::write(&file, format!("BIG={}\n", "x".repeat(1 << 20))).unwrap();
    let out = c.run(&["--env-file", file.to_str().unwrap(), &c.busybox(), "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("variable BIG is"), "{}", stderr(&out));
    assert!(tree(&c.root().join("containers")).is_empty());
    assert!(ok(c.root(), &["ps", "-aq"]).is_empty());
}

/// `system reset` undoes everything of its state root: a running
/// container on a user network with a published port and a volume leaves
/// no process, cgroup, veth, bridge, firewall rule, mount or file, and no
/// firewall chain unless another state root still has rules there.
#[test]
fn system_reset_leaves_nothing() {
    let Some(c) = Ctx::new("system_reset", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(r, &["network", "create", "resetnet"]);
    let bridge = inspect_network(r, "resetnet");
    let id = ok(
        r,
        &[
            "run",
            "-d",
            "--network",
            "resetnet",
            "-p",
            "18080:80",
            "-v",
            "keep:/data",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    let id = id.trim().to_owned();
    let pid: i32 = ok(r, &["inspect", "-f", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .unwrap();
    // Without a terminal it will not guess: nothing goes.
    let out = pocky(r, &["system", "reset"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert!(ok(r, &["ps", "-q"]).contains(&id[..12]));

    ok(r, &["system", "reset", "--force"]);
    assert!(!r.exists(), "the state root is gone");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the container still runs"
    );
    let links = String::from_utf8(
        std::process::Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!links.contains(&format!(" {bridge}:")), "{links}");
    assert!(
        !links.contains(&pocky_engine::networks::host_veth(&id)),
        "{links}"
    );
    for table in ["nat", "filter", "raw"] {
        let rules = String::from_utf8(
            std::process::Command::new("iptables")
                .args(["-t", table, "-S"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        // The chains stay while other state roots of this sandbox (the
        // tests before this one) have rules in them; this root's are gone.
        assert!(
            !rules.contains(&format!("pocky:net:{bridge}")),
            "{table}: {rules}"
        );
        assert!(
            !rules.contains(&format!("pocky:ctr:{id}")),
            "{table}: {rules}"
        );
        let others = rules.lines().any(|l| l.starts_with("-A POCKY-"));
        assert!(others || !rules.contains("-N POCKY-"), "{table}: {rules}");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "a mount of the container remains");
}

fn inspect_network(root: &Path, name: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&ok(root, &["network", "inspect", name])).unwrap();
    v[0]["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap_or_else(|| panic!("no bridge name in {v}"))
        .to_owned()
}
