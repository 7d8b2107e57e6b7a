//! Healthchecks: `--health-*` flags, the probes run by the container's
//! owner, and what `inspect` and `ps` show of them. Only eventual states
//! are asserted, with generous deadlines: the machine is shared.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(90);

/// Polls `inspect` until `done` holds; the last document on success.
fn wait_for(root: &Path, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let v = container(root, name);
        if done(&v) {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{name} never got {what}: {:#}",
            v["State"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn health_is(v: &Value, status: &str) -> bool {
    v["State"]["Health"]["Status"] == status
}

/// Processes whose argv is exactly `argv`.
fn processes(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    procs_where(|cmdline| cmdline == want.as_slice())
}

/// Processes with `needle` in their command line (NULs included).
fn procs_where(keep: impl Fn(&[u8]) -> bool) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline"))
            && keep(&c)
        {
            out.push(pid);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn ps_names(root: &Path, filter: &str) -> Vec<String> {
    ok(
        root,
        &["ps", "-a", "--filter", filter, "--format", "{{.Names}}"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[test]
fn a_passing_check_becomes_healthy_and_ps_shows_and_filters_it() {
    let Some(c) = Ctx::new("health_ok", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let image = c.busybox();
    let run = |name: &str, flags: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&image, "sleep", "1000"]);
        ok(r, &args);
    };
    run(
        "fine",
        &["--health-cmd", "echo fine", "--health-interval", "1s"],
    );
    // An hour's interval: it stays `starting` for the whole test.
    run("slow", &["--health-cmd", "true", "--health-interval", "1h"]);
    run("plain", &[]);

    let v = wait_for(r, "fine", "healthy", |v| health_is(v, "healthy"));
    assert_eq!(
        v["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "echo fine"], "Interval": 1_000_000_000u64})
    );
    let log = v["State"]["Health"]["Log"].as_array().unwrap();
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    assert_eq!(v["State"]["Health"]["FailingStreak"], 0);
    // Docker's event for the change.
    let events = ok(
        r,
        &[
            "events",
            "--since",
            "1h",
            "--until",
            "0s",
            "-f",
            "container=fine",
            "--format",
            "{{.Action}}",
        ],
    );
    assert!(
        events.lines().any(|l| l == "health_status: healthy"),
        "{events}"
    );

    let slow = container(r, "slow");
    assert!(health_is(&slow, "starting"), "{:#}", slow["State"]);
    assert!(container(r, "plain")["State"].get("Health").is_none());

    let table = ok(r, &["ps", "--format", "{{.Names}} {{.Status}}"]);
    let status = |name: &str| {
        table
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {table}"))
            .to_owned()
    };
    assert!(status("fine").ends_with(" (healthy)"), "{table}");
    assert!(status("slow").ends_with(" (health: starting)"), "{table}");
    assert!(!status("plain").contains('('), "{table}");
    assert!(status("fine").starts_with("Up "), "{table}");

    assert_eq!(ps_names(r, "health=healthy"), ["fine"]);
    assert_eq!(ps_names(r, "health=starting"), ["slow"]);
    assert_eq!(ps_names(r, "health=none"), ["plain"]);
    assert!(ps_names(r, "health=unhealthy").is_empty());
    let mut both = ps_names(r, "health=healthy");
    both.extend(ps_names(r, "health=none"));
    let mut either = ok(
        r,
        &[
            "ps",
            "--filter",
            "health=healthy",
            "--filter",
            "health=none",
            "--format",
            "{{.Names}}",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    either.sort();
    both.sort();
    assert_eq!(either, both, "values of one key are alternatives");
    let err = fails(r, &["ps", "--filter", "health=fine"]);
    assert!(err.contains("health"), "{err}");

    ok(r, &["rm", "-f", "fine", "slow", "plain"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn a_failing_check_becomes_unhealthy_after_its_retries() {
    let Some(c) = Ctx::new("health_fail", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "bad",
            "--health-cmd",
            "echo broken >&2; exit 3",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    let v = wait_for(r, "bad", "unhealthy", |v| health_is(v, "unhealthy"));
    let h = &v["State"]["Health"];
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h:#}");
    for entry in h["Log"].as_array().unwrap() {
        assert_eq!(entry["ExitCode"], 3, "{h:#}");
        assert_eq!(entry["Output"], "broken\n", "stderr is captured: {h:#}");
    }
    assert!(
        ok(r, &["ps", "--format", "{{.Status}}"])
            .trim()
            .ends_with("(unhealthy)")
    );
    assert_eq!(ps_names(r, "health=unhealthy"), ["bad"]);
    // Only the last five results are kept.
    let v = wait_for(r, "bad", "six failures", |v| {
        v["State"]["Health"]["FailingStreak"].as_u64() >= Some(6)
    });
    assert_eq!(v["State"]["Health"]["Log"].as_array().unwrap().len(), 5);
    ok(r, &["rm", "-f", "bad"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn a_probe_past_its_timeout_is_a_failure_and_is_killed() {
    let Some(c) = Ctx::new("health_timeout", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "stuck",
            "--health-cmd",
            "echo started; sleep 31; echo never",
            "--health-timeout",
            "1s",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    let v = wait_for(r, "stuck", "three timeouts", |v| {
        v["State"]["Health"]["FailingStreak"].as_u64() >= Some(3)
    });
    assert!(health_is(&v, "unhealthy"), "{:#}", v["State"]);
    for entry in v["State"]["Health"]["Log"].as_array().unwrap() {
        assert_eq!(entry["ExitCode"], -1, "{entry:#}");
        assert_eq!(entry["Output"], "Health check exceeded timeout (1s)");
    }
    // Each timed-out probe went with what it started: at most the
    // current one's sleep is alive, never one per probe.
    let sleeps = processes(&["sleep", "31"]);
    assert!(sleeps.len() <= 1, "{sleeps:?}");
    ok(r, &["rm", "-f", "stuck"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn no_healthcheck_and_its_conflict_with_health_flags() {
    let Some(c) = Ctx::new("health_none", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let image = c.busybox();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "off",
            "--no-healthcheck",
            &image,
            "sleep",
            "1000",
        ],
    );
    let v = container(r, "off");
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    assert!(v["State"].get("Health").is_none(), "{:#}", v["State"]);
    assert_eq!(ps_names(r, "health=none"), ["off"]);

    let err = fails(
        r,
        &[
            "run",
            "--no-healthcheck",
            "--health-interval",
            "1s",
            &image,
            "true",
        ],
    );
    assert!(
        err.contains("--no-healthcheck conflicts with --health-* options"),
        "{err}"
    );
    for (flag, value, says) in [
        ("--health-interval", "5", "missing unit"),
        ("--health-timeout", "-1s", "cannot be negative"),
        ("--health-start-period", "1 minute", "invalid"),
        ("--health-retries", "-2", "cannot be negative"),
    ] {
        let err = fails(
            r,
            &["run", "--health-cmd", "true", flag, value, &image, "true"],
        );
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
    // Refused before anything was made.
    assert_eq!(ok(r, &["ps", "-a", "-q"]).lines().count(), 1);
    ok(r, &["rm", "-f", "off"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn after_stop_no_probe_or_prober_is_left() {
    let Some(c) = Ctx::new("health_stop", &["busybox"]) else {
        return;
    };
    let r = c.root();
    // The check's text is in the monitor's and the prober's command line
    // (they are forks of `pocky run`); its sleep is the probe itself.
    let check = "sleep 33; true";
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "busy",
            "--health-cmd",
            check,
            "--health-interval",
            "1s",
            "--health-timeout",
            "1m",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    let start = Instant::now();
    while processes(&["sleep", "33"]).is_empty() {
        assert!(start.elapsed() < DEADLINE, "the probe never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(r, &["stop", "-t", "1", "busy"]);
    let start = Instant::now();
    loop {
        let probes = processes(&["sleep", "33"]);
        let owners = procs_where(|c| contains(c, check.as_bytes()));
        if probes.is_empty() && owners.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "left after stop: probes {probes:?}, monitor/prober {owners:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = container(r, "busy");
    assert_eq!(v["State"]["Status"], "exited");
    // Docker's: probes stopped with the container leave it unhealthy.
    assert!(health_is(&v, "unhealthy"), "{:#}", v["State"]);
    ok(r, &["rm", "busy"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn a_foreground_run_is_probed_too() {
    let Some(c) = Ctx::new("health_fg", &["busybox"]) else {
        return;
    };
    let r = c.root().to_owned();
    let mut fg = std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(&r)
        .args(["run", "--name", "fg", "--health-cmd", "true"])
        .args(["--health-interval", "1s", &c.busybox(), "sleep", "1000"])
        .env_remove("POCKY_ROOT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while pocky(&r, &["inspect", "fg"]).status.code() != Some(0) {
        assert!(start.elapsed() < DEADLINE, "fg never created");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(&r, "fg", "healthy", |v| health_is(v, "healthy"));
    ok(&r, &["stop", "-t", "1", "fg"]);
    let status = fg.wait().unwrap();
    assert_eq!(status.code(), Some(137), "sleep ignores SIGTERM as PID 1");
    ok(&r, &["rm", "fg"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn a_paused_container_is_not_probed() {
    let Some(c) = Ctx::new("health_pause", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "frozen",
            "--health-cmd",
            "echo up",
            "--health-interval",
            "1s",
            "--health-timeout",
            "1s",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    wait_for(r, "frozen", "healthy", |v| health_is(v, "healthy"));
    ok(r, &["pause", "frozen"]);
    let before = container(r, "frozen")["State"]["Health"]["Log"].clone();
    // A probe of the frozen container would hang in the freezer and be
    // recorded as a timeout a second later; none may appear.
    std::thread::sleep(Duration::from_secs(4));
    let v = container(r, "frozen");
    assert_eq!(v["State"]["Health"]["Log"], before, "probed while paused");
    assert!(health_is(&v, "healthy"));
    let status = ok(r, &["ps", "--format", "{{.Status}}"]);
    assert!(status.trim().ends_with("(Paused)"), "{status}");
    ok(r, &["unpause", "frozen"]);
    wait_for(r, "frozen", "a probe after unpause", |v| {
        v["State"]["Health"]["Log"] != before
    });
    ok(r, &["rm", "-f", "frozen"]);
    assert!(tree(&r.join("containers")).is_empty());
}
