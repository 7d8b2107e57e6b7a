//! End-to-end tests of the log drivers and options in the sandbox:
//! `--log-opt max-size/max-file` rotating the json log on disk, `logs` and
//! `logs -f` reading across the rotated files, `--log-driver none`,
//! `logs --details`, and the API's `HostConfig.LogConfig` through the
//! docker CLI.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::service::{Service, client, client_ok, docker_cli};
use common::*;

fn container_dir(root: &Path, name: &str) -> PathBuf {
    let id = one(root, &["inspect", "--format", "{{.Id}}", name]);
    root.join("containers").join(id)
}

/// The log's files in the container's directory, by name.
fn log_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n == "container.log"
                || n.strip_prefix("container.log.")
                    .is_some_and(|d| d.parse::<u32>().is_ok())
        })
        .collect();
    names.sort();
    names
}

fn numbers(out: &str) -> Vec<u32> {
    out.lines()
        .map(|l| l.trim_start_matches("line ").parse().unwrap())
        .collect()
}

#[test]
fn max_size_and_max_file_rotate_and_logs_reads_all_files_in_order() {
    let Some(c) = Ctx::new("log_rotation", &["busybox"]) else {
        return;
    };
    let image = c.busybox();
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "rot",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=3",
            &image,
            "sh",
            "-c",
            "for i in $(seq 1 200); do echo line $i; done",
        ],
    );
    ok(r, &["wait", "rot"]);
    let dir = container_dir(r, "rot");
    assert_eq!(
        log_files(&dir),
        ["container.log", "container.log.1", "container.log.2"]
    );
    for f in log_files(&dir) {
        let size = std::fs::metadata(dir.join(&f)).unwrap().len();
        assert!(size <= 1000, "{f} is {size} bytes");
    }
    // What is kept is the newest lines, all of them, oldest first.
    let lines = numbers(&ok(r, &["logs", "rot"]));
    assert_eq!(lines.last(), Some(&200));
    assert!(lines[0] > 1, "the oldest lines were rotated out");
    assert!(lines.windows(2).all(|w| w[0] + 1 == w[1]), "{lines:?}");
    // The files concatenated, oldest first, are what `logs` printed.
    let mut raw = String::new();
    for f in ["container.log.2", "container.log.1", "container.log"] {
        raw += &std::fs::read_to_string(dir.join(f)).unwrap();
    }
    assert_eq!(raw.lines().count(), lines.len());
    assert_eq!(
        numbers(&ok(r, &["logs", "--tail", "3", "rot"])),
        [198, 199, 200]
    );
    let v = container(r, "rot");
    assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(v["HostConfig"]["LogConfig"]["Config"]["max-size"], "1k");
    assert_eq!(v["HostConfig"]["LogConfig"]["Config"]["max-file"], "3");

    // max-size alone keeps one file, replaced when full.
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "one",
            "--log-opt",
            "max-size=1k",
            &image,
            "sh",
            "-c",
            "for i in $(seq 1 100); do echo line $i; done",
        ],
    );
    ok(r, &["wait", "one"]);
    assert_eq!(log_files(&container_dir(r, "one")), ["container.log"]);
    let lines = numbers(&ok(r, &["logs", "one"]));
    assert_eq!(lines.last(), Some(&100));
    assert!(lines.len() < 100);

    // Bad options fail the run by name and leave no container.
    for (opt, words) in [
        ("max-file=3", "max-size is not set"),
        ("max-size=ten", "invalid max-size"),
        ("compress=true", "compress"),
        ("mode=non-blocking", "unknown log opt 'mode'"),
    ] {
        let err = fails(r, &["run", "--log-opt", opt, &image, "true"]);
        assert!(err.contains(words), "{opt}: {err}");
    }
    assert_eq!(ok(r, &["ps", "-aq"]).lines().count(), 2);
}

#[test]
fn logs_follow_keeps_following_through_rotations() {
    let Some(c) = Ctx::new("log_follow_rotation", &["busybox"]) else {
        return;
    };
    let image = c.busybox();
    let r = c.root();
    // The container writes only once the follower is reading (it waits
    // for /tmp/go), so every rotation happens under the follower.
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "fol",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=50",
            &image,
            "sh",
            "-c",
            "echo ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; \
             for i in $(seq 1 300); do echo line $i; done",
        ],
    );
    let mut follower = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(r)
        .args(["logs", "-f", "fol"])
        .env_remove("POCKY_ROOT")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follower.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "ready\n");
    ok(r, &["exec", "fol", "touch", "/tmp/go"]);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(follower.wait().unwrap().success());
    let lines = numbers(&rest);
    assert_eq!(lines, (1..=300).collect::<Vec<u32>>());
    let files = log_files(&container_dir(r, "fol"));
    assert!(
        files.len() > 5,
        "the log was rotated several times: {files:?}"
    );
}

#[test]
fn the_none_driver_keeps_nothing_and_logs_refuses() {
    let Some(c) = Ctx::new("log_driver_none", &["busybox"]) else {
        return;
    };
    let image = c.busybox();
    let r = c.root();
    // A foreground run still shows its output.
    let out = ok(
        r,
        &[
            "run",
            "--rm",
            "--log-driver",
            "none",
            &image,
            "echo",
            "shown",
        ],
    );
    assert_eq!(out, "shown\n");
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "quiet",
            "--log-driver",
            "none",
            &image,
            "sh",
            "-c",
            "echo nobody keeps this; sleep 1000",
        ],
    );
    let err = fails(r, &["logs", "quiet"]);
    assert!(
        err.contains("configured logging driver does not support reading"),
        "{err}"
    );
    let err = fails(r, &["attach", "quiet"]);
    assert!(err.contains("none log driver"), "{err}");
    let v = container(r, "quiet");
    assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "none");
    assert_eq!(v["LogPath"], "");
    ok(r, &["rm", "-f", "quiet"]);
    ok(
        r,
        &[
            "run",
            "--name",
            "done",
            "--log-driver",
            "none",
            &image,
            "echo",
            "gone",
        ],
    );
    assert!(log_files(&container_dir(r, "done")).is_empty());

    let err = fails(r, &["run", "--log-driver", "syslog", &image, "true"]);
    assert!(err.contains("\"syslog\""), "{err}");
    assert!(
        err.contains("pocky supports the json-file and none log drivers"),
        "{err}"
    );
    let err = fails(
        r,
        &[
            "run",
            "--log-driver",
            "none",
            "--log-opt",
            "max-size=1m",
            &image,
            "true",
        ],
    );
    assert!(err.contains("takes no options"), "{err}");
    assert_eq!(ok(r, &["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn logs_details_prints_the_labels_and_env_asked_for() {
    let Some(c) = Ctx::new("log_details", &["busybox"]) else {
        return;
    };
    let image = c.busybox();
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "--name",
            "det",
            "-l",
            "team=blue green",
            "-l",
            "other=x",
            "-e",
            "STAGE=prod",
            "--log-opt",
            "labels=team,absent",
            "--log-opt",
            "env=STAGE",
            "--log-opt",
            "tag={{.Name}}",
            &image,
            "echo",
            "hello",
        ],
    );
    assert_eq!(ok(r, &["logs", "det"]), "hello\n");
    assert_eq!(
        ok(r, &["logs", "--details", "det"]),
        "STAGE=prod,tag=det,team=blue+green hello\n"
    );
    // The attributes are in every line of the json log, as Docker's.
    let raw = std::fs::read_to_string(container_dir(r, "det").join("container.log")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(entry["attrs"]["team"], "blue green");
    assert_eq!(entry["attrs"]["STAGE"], "prod");
    // Without attributes, Docker's --details still puts the space.
    ok(r, &["run", "--name", "plain", &image, "echo", "hi"]);
    assert_eq!(ok(r, &["logs", "--details", "plain"]), " hi\n");
    let ts = ok(r, &["logs", "--details", "-t", "plain"]);
    assert!(ts.ends_with("Z  hi\n"), "{ts:?}");
}

#[test]
fn the_docker_cli_sets_the_log_config_through_the_api() {
    let Some(c) = Ctx::new("log_config_api", &["busybox"]) else {
        return;
    };
    let Some(docker) = docker_cli() else {
        eprintln!("no docker CLI on this machine");
        return;
    };
    let docker = docker.to_str().unwrap();
    let svc = Service::start(c.root());
    let image = c.busybox();
    let d = |args: &[&str]| client_ok(&svc, &c, docker, args);
    d(&[
        "run",
        "-d",
        "--name",
        "api",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "--log-opt",
        "labels=team",
        "-l",
        "team=red",
        &image,
        "sh",
        "-c",
        "for i in $(seq 1 100); do echo line $i; done",
    ]);
    d(&["wait", "api"]);
    assert_eq!(
        d(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}",
            "api"
        ]),
        "json-file 1k\n"
    );
    assert_eq!(
        log_files(&container_dir(c.root(), "api")),
        ["container.log", "container.log.1"]
    );
    let lines = numbers(&d(&["logs", "api"]));
    assert_eq!(lines.last(), Some(&100));
    assert!(lines.windows(2).all(|w| w[0] + 1 == w[1]), "{lines:?}");
    let details = d(&["logs", "--details", "--tail", "1", "api"]);
    assert_eq!(details, "team=red line 100\n");

    let o = client(
        &svc,
        &c,
        docker,
        &[
            "run",
            "-d",
            "--name",
            "none",
            "--log-driver",
            "none",
            &image,
            "echo",
            "x",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    d(&["wait", "none"]);
    let o = client(&svc, &c, docker, &["logs", "none"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("configured logging driver does not support reading"),
        "{}",
        stderr(&o)
    );
    let o = client(
        &svc,
        &c,
        docker,
        &["run", "--rm", "--log-driver", "journald", &image, "true"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("pocky supports the json-file and none log drivers"),
        "{}",
        stderr(&o)
    );
    d(&["rm", "-f", "api", "none"]);
}
