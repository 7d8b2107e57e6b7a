//! The Docker Engine API service driven by real clients: the docker CLI
//! (where the machine has one), Debian's python3-docker SDK and
//! docker-compose, plus raw requests a hostile client would send. Each
//! test has its own state root and socket; the service runs inside the
//! sandbox like every other test.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::service::{Service, client, client_ok, docker_cli};
use common::{Ctx, eventually, ok, stderr, stdout};

/// Debian's python3, which has python3-docker (a pyenv python on PATH may not).
const PYTHON: &str = "/usr/bin/python3";

fn script(name: &str) -> String {
    format!("{}/tests/api/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// What the service left: containers, volumes and user networks.
fn leftovers(root: &Path) -> String {
    let mut out = ok(root, &["ps", "-aq"]);
    out += &ok(root, &["volume", "ls", "-q"]);
    out += &ok(root, &["network", "ls", "--filter", "type=custom", "-q"]);
    out.trim().to_owned()
}

#[test]
fn the_docker_cli_runs_containers_through_the_service() {
    let Some(ctx) = Ctx::new("api_docker_cli", &["busybox"]) else {
        return;
    };
    let Some(docker) = docker_cli() else {
        eprintln!("no docker CLI on this machine: the SDK tests cover the API");
        return;
    };
    let docker = docker.to_str().unwrap();
    let svc = Service::start(ctx.root());
    let image = ctx.busybox();
    let d = |args: &[&str]| client_ok(&svc, &ctx, docker, args);

    let v = d(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(v.trim(), "1.43");
    assert_eq!(d(&["run", "--rm", &image, "echo", "hi"]), "hi\n");
    let o = client(
        &svc,
        &ctx,
        docker,
        &["run", "--rm", &image, "sh", "-c", "exit 3"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = client(&svc, &ctx, docker, &["run", "--rm", &image, "no-such-cmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));

    // Detached, with its log followed to the end, exec and stop.
    d(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "-l",
        "app=clock",
        &image,
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done; exec sleep 1000",
    ]);
    eventually("the ticker's output", || {
        d(&["logs", "ticker"]) == "line1\nline2\nline3\n"
    });
    assert_eq!(d(&["exec", "ticker", "cat", "/etc/hostname"]).len(), 13);
    let o = client(
        &svc,
        &ctx,
        docker,
        &["exec", "ticker", "sh", "-c", "exit 5"],
    );
    assert_eq!(o.status.code(), Some(5));
    let names = d(&[
        "ps",
        "--filter",
        "label=app=clock",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(names, "ticker\n");
    assert_eq!(
        d(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Config.Labels.app}}",
            "ticker"
        ]),
        "running clock\n"
    );

    // cp in both directions.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "copied in\n").unwrap();
    d(&["cp", file.to_str().unwrap(), "ticker:/tmp/"]);
    assert_eq!(d(&["exec", "ticker", "cat", "/tmp/in.txt"]), "copied in\n");
    let back = dir.path().join("back.txt");
    d(&["cp", "ticker:/tmp/in.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "copied in\n");

    // logs -f ends with the container.
    d(&[
        "run",
        "-d",
        "--name",
        "short",
        &image,
        "sh",
        "-c",
        "echo a; sleep 0.5; echo b",
    ]);
    assert_eq!(d(&["logs", "-f", "short"]), "a\nb\n");
    assert_eq!(d(&["wait", "short"]), "0\n");

    // A network and a volume, used by name.
    d(&["network", "create", "apinet"]);
    d(&["volume", "create", "apivol"]);
    d(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "apinet",
        "-v",
        "apivol:/data",
        &image,
        "sh",
        "-c",
        "echo stored > /data/x; exec httpd -f -p 80 -h /data",
    ]);
    eventually("the server answers by name", || {
        client(
            &svc,
            &ctx,
            docker,
            &[
                "run",
                "--rm",
                "--network",
                "apinet",
                &image,
                "wget",
                "-qO-",
                "http://srv/x",
            ],
        )
        .stdout
            == b"stored\n"
    });
    // Images of containers: commit, export, import, tag, history.
    d(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/tmp/in.txt\"]",
        "-m",
        "cli",
        "ticker",
        "cli/committed:1",
    ]);
    assert_eq!(d(&["run", "--rm", "cli/committed:1"]), "copied in\n");
    assert!(d(&["history", "cli/committed:1"]).contains("cli"));
    let exported = dir.path().join("ticker.tar");
    d(&["export", "-o", exported.to_str().unwrap(), "ticker"]);
    d(&["import", exported.to_str().unwrap(), "cli/imported:1"]);
    assert_eq!(
        d(&["run", "--rm", "cli/imported:1", "cat", "/tmp/in.txt"]),
        "copied in\n"
    );
    d(&["tag", "cli/imported:1", "cli/renamed"]);
    assert_eq!(
        d(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "cli/renamed"
        ]),
        "cli/renamed:latest\n"
    );
    let pushed = format!("{}/cli/pushed:1", ctx.image("").trim_end_matches('/'));
    d(&["tag", "cli/committed:1", &pushed]);
    let out = d(&["push", &pushed]);
    assert!(out.contains("1: digest: sha256:"), "{out}");
    let archive = dir.path().join("saved.tar");
    d(&["save", "-o", archive.to_str().unwrap(), "cli/committed:1"]);
    d(&[
        "rmi",
        "cli/committed:1",
        "cli/imported:1",
        "cli/renamed",
        &pushed,
    ]);
    let out = d(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: cli/committed:1"), "{out}");
    d(&["rmi", "cli/committed:1"]);
    d(&["pull", "-q", &pushed]);
    d(&["rmi", &pushed]);

    d(&["stop", "-t", "1", "ticker"]);
    assert!(
        d(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ])
        .contains("ticker")
    );
    d(&["rm", "-f", "ticker", "short", "srv"]);
    d(&["volume", "rm", "apivol"]);
    d(&["network", "rm", "apinet"]);
    assert_eq!(leftovers(ctx.root()), "");
    let o = client(&svc, &ctx, docker, &["inspect", "ticker"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("No such") || stderr(&o).contains("no such"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_docker_cli_builds_through_the_service() {
    let Some(ctx) = Ctx::new("api_docker_build", &["busybox"]) else {
        return;
    };
    let Some(docker) = docker_cli() else {
        return;
    };
    let svc = Service::start(ctx.root());
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM {}\nARG WHO\nCOPY . /ctx/\nRUN echo hi $WHO > /greeting\nCMD cat /greeting\n",
        ctx.busybox()
    );
    common::build::write_context(
        dir.path(),
        &[
            ("Dockerfile", &dockerfile),
            ("a", "a\n"),
            (".dockerignore", "secret\n"),
            ("secret", "s\n"),
        ],
    );
    let build = |args: &[&str]| {
        Command::new(docker.to_str().unwrap())
            .arg("build")
            .args(args)
            .arg(dir.path())
            .env("DOCKER_HOST", svc.host())
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = build(&["-t", "cli/built", "--build-arg", "WHO=docker"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Successfully tagged cli/built:latest"),
        "{}",
        stdout(&out)
    );
    let run = |args: &[&str]| client_ok(&svc, &ctx, docker.to_str().unwrap(), args);
    assert_eq!(run(&["run", "--rm", "cli/built"]), "hi docker\n");
    assert_eq!(
        run(&["run", "--rm", "cli/built", "ls", "/ctx"]),
        "Dockerfile\na\n"
    );
    let again = build(&["-t", "cli/built", "--build-arg", "WHO=docker"]);
    assert!(stdout(&again).contains("Using cache"), "{}", stdout(&again));
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {}\nRUN exit 4\n", ctx.busybox()),
    )
    .unwrap();
    let out = build(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("non-zero code: 4"),
        "{}",
        stderr(&out)
    );
    assert_eq!(leftovers(ctx.root()), "");
}

#[test]
fn a_terminal_through_the_docker_cli() {
    let Some(ctx) = Ctx::new("api_docker_tty", &["busybox"]) else {
        return;
    };
    let Some(docker) = docker_cli() else {
        return;
    };
    let svc = Service::start(ctx.root());
    let image = ctx.busybox();
    let under_script = |cmd: String, input: &str| {
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("DOCKER_HOST", svc.host())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_owned();
        // Typed after the shell is up; the terminal keeps what comes early.
        std::thread::spawn(move || {
            use std::io::Write;
            std::thread::sleep(std::time::Duration::from_millis(500));
            let _ = stdin.write_all(input.as_bytes());
        });
        child.wait_with_output().unwrap()
    };
    let o = under_script(
        format!("{} run -it --rm {image} sh", docker.display()),
        "echo tty-$((6*7))\nexit 6\n",
    );
    assert_eq!(o.status.code(), Some(6), "{}", stdout(&o));
    assert!(stdout(&o).contains("tty-42"), "{}", stdout(&o));
    client_ok(
        &svc,
        &ctx,
        docker.to_str().unwrap(),
        &["run", "-d", "--name", "box", &image, "sleep", "1000"],
    );
    let o = under_script(
        format!("{} exec -it box sh", docker.display()),
        "echo exec-$((6*7))\nexit 4\n",
    );
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert!(stdout(&o).contains("exec-42"), "{}", stdout(&o));
    client_ok(&svc, &ctx, docker.to_str().unwrap(), &["rm", "-f", "box"]);

    // ctrl-p ctrl-q leaves the container running, its shell still there.
    let o = under_script(
        format!("{} run -it --name kept {image} sh", docker.display()),
        "echo kept-$((6*7))\n\x10\x11",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let state = client_ok(
        &svc,
        &ctx,
        docker.to_str().unwrap(),
        &["inspect", "-f", "{{.State.Running}}", "kept"],
    );
    assert_eq!(state.trim(), "true");
    let o = client_ok(
        &svc,
        &ctx,
        docker.to_str().unwrap(),
        &["exec", "kept", "sh", "-c", "pidof sh"],
    );
    assert!(!o.trim().is_empty(), "the shell runs on: {o}");
    client_ok(&svc, &ctx, docker.to_str().unwrap(), &["rm", "-f", "kept"]);
}

fn python(svc: &Service, ctx: &Ctx, name: &str) -> String {
    let have_sdk = Command::new(PYTHON)
        .args(["-c", "import docker"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have_sdk,
        "{PYTHON} has no docker module: ci/install installs python3-docker"
    );
    client_ok(svc, ctx, PYTHON, &[&script(name)])
}

#[test]
fn the_python_sdk_drives_the_api() {
    let Some(ctx) = Ctx::new("api_python_sdk", &["busybox"]) else {
        return;
    };
    let svc = Service::start(ctx.root());
    let out = python(&svc, &ctx, "sdk.py");
    assert!(out.ends_with("sdk: ok\n"), "{out}");
    assert_eq!(leftovers(ctx.root()), "");
}

#[test]
fn hostile_and_concurrent_clients() {
    let Some(ctx) = Ctx::new("api_hostile", &["busybox"]) else {
        return;
    };
    let svc = Service::start(ctx.root());
    let out = python(&svc, &ctx, "hostile.py");
    assert!(out.ends_with("hostile: ok\n"), "{out}");
    // Every connection's process is gone once its client is.
    eventually("no connection process is left", || {
        connection_processes(svc.pid()) == 0
    });
    assert_eq!(leftovers(ctx.root()), "");
}

/// Children of the service: one per open connection.
fn connection_processes(service: i32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned))
                .is_some_and(|ppid| ppid == service.to_string())
        })
        .count()
}

#[test]
fn docker_compose_runs_a_project_and_takes_it_down() {
    let Some(ctx) = Ctx::new("api_compose", &["busybox"]) else {
        return;
    };
    let compose = Path::new("/usr/bin/docker-compose");
    if !pocky_testkit::needs(
        "api_compose",
        compose.exists(),
        "no docker-compose: ci/install installs Debian's",
    ) {
        return;
    }
    let svc = Service::start(ctx.root());
    let file = script("compose/docker-compose.yml");
    let c = |args: &[&str]| {
        let mut all = vec!["-f", file.as_str(), "-p", "apitest"];
        all.extend_from_slice(args);
        client_ok(&svc, &ctx, "/usr/bin/docker-compose", &all)
    };
    c(&["up", "-d"]);
    let ps = c(&["ps"]);
    for service in ["apitest_web_1", "apitest_api_1", "apitest_seeder_1"] {
        assert!(ps.contains(service), "{ps}");
    }
    // The seeder reached the api by name and filled the shared volume,
    // which the web server publishes on the host.
    eventually("the seeder ran", || {
        c(&["logs", "seeder"]).contains("seeded")
    });
    eventually("the web server answers on the published port", || {
        Command::new("busybox")
            .args(["wget", "-qO-", "http://127.0.0.1:18081/"])
            .output()
            .is_ok_and(|o| o.stdout == b"from-api\n")
    });
    assert_eq!(
        c(&["exec", "-T", "web", "sh", "-c", "echo $GREETING"]),
        "hello\n"
    );
    // The seeder is on both networks, the web server on the front only.
    c(&["exec", "-T", "seeder", "ping", "-c1", "-W2", "web"]);
    let o = client(
        &svc,
        &ctx,
        "/usr/bin/docker-compose",
        &[
            "-f",
            file.as_str(),
            "-p",
            "apitest",
            "exec",
            "-T",
            "web",
            "ping",
            "-c1",
            "-W1",
            "api",
        ],
    );
    assert!(!o.status.success(), "web must not reach the back network");
    let labelled = ok(
        ctx.root(),
        &[
            "ps",
            "--filter",
            "label=role=frontend",
            "--format",
            "{{.Names}}",
        ],
    );
    assert_eq!(labelled, "apitest_web_1\n");
    c(&["down", "-v"]);
    assert_eq!(leftovers(ctx.root()), "");
}
