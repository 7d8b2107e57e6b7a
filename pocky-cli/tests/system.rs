//! End-to-end tests of `info` (`system info`), `version`, `system df` and
//! `system events` in the sandbox, and of the docker CLI reading the same
//! documents through the API service.

mod common;

use common::service::{Service, client_ok, docker_cli};
use common::*;

fn host_cgroup_version() -> &'static str {
    // Only a unified hierarchy has its controllers file at the root (a
    // hybrid host mounts cgroup2 beside the v1 controllers, below it).
    match std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        true => "2",
        false => "1",
    }
}

#[test]
fn info_counts_containers_and_images_and_describes_the_host() {
    let Some(c) = Ctx::new("system_info", &["busybox"]) else {
        return;
    };
    let r = c.root();
    c.run_busybox(&["-d", "--name", "up"], &["sleep", "1000"]);
    c.run_busybox(&["-d", "--name", "frozen"], &["sleep", "1000"]);
    ok(r, &["pause", "frozen"]);
    c.run_busybox(&["--name", "done"], &["true"]);

    let json: serde_json::Value =
        serde_json::from_str(&ok(r, &["info", "--format", "{{json .}}"])).unwrap();
    assert_eq!(json["Containers"], 3);
    assert_eq!(json["ContainersRunning"], 1);
    assert_eq!(json["ContainersPaused"], 1);
    assert_eq!(json["ContainersStopped"], 1);
    assert_eq!(json["Images"], 1);
    // EROFS where this kernel mounts EROFS image files, else overlay.
    let driver = json["Driver"].as_str().unwrap().to_owned();
    assert!(driver == "erofs" || driver == "overlay", "{driver}");
    let status = json["DriverStatus"].to_string();
    assert!(status.contains("Reason"), "{status}");
    assert_eq!(json["LoggingDriver"], "json-file");
    assert_eq!(json["CgroupDriver"], "cgroupfs");
    assert_eq!(json["CgroupVersion"], host_cgroup_version());
    assert_eq!(json["OSType"], "linux");
    assert_eq!(json["DockerRootDir"], r.to_str().unwrap());
    assert_eq!(json["ServerVersion"], env!("CARGO_PKG_VERSION"));
    let ncpu = std::thread::available_parallelism().unwrap().get();
    assert_eq!(json["NCPU"], ncpu);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(json["KernelVersion"], release.trim());
    assert!(json["MemTotal"].as_u64().unwrap() > 0);
    let security = json["SecurityOptions"].to_string();
    assert!(
        security.contains("name=seccomp,profile=builtin"),
        "{security}"
    );
    // As root, not rootless.
    assert!(!security.contains("rootless"), "{security}");
    assert_eq!(json["ClientInfo"]["Context"], "default");

    let text = ok(r, &["info"]);
    for line in [
        "Client:",
        "Server:",
        " Containers: 3",
        "  Running: 1",
        "  Paused: 1",
        "  Stopped: 1",
        " Images: 1",
        " Logging Driver: json-file",
        " Cgroup Driver: cgroupfs",
        "  seccomp",
        "   Profile: builtin",
        " Insecure Registries:",
        "  127.0.0.0/8",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    assert!(
        text.contains(&format!(
            "\n Storage Driver: {driver}\n  Backing Filesystem: "
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(" Docker Root Dir: {}\n", r.display())),
        "{text}"
    );
    assert!(text.contains(&format!(" CPUs: {ncpu}\n")), "{text}");
    assert_eq!(ok(r, &["system", "info"]), text);
    assert_eq!(
        ok(
            r,
            &["system", "info", "--format", "{{.Images}} {{.Driver}}"]
        ),
        format!("1 {driver}\n")
    );
    let err = fails(r, &["info", "--format", "{{.Nope"]);
    assert!(err.contains("format") || err.contains("template"), "{err}");

    if let Some(docker) = docker_cli() {
        let svc = Service::start(r);
        let out = client_ok(
            &svc,
            &c,
            docker.to_str().unwrap(),
            &[
                "info",
                "--format",
                "{{.ContainersRunning}} {{.ContainersPaused}} {{.Driver}} {{.LoggingDriver}}",
            ],
        );
        assert_eq!(out, format!("1 1 {driver} json-file\n"));
    }
    ok(r, &["rm", "-f", "up", "frozen", "done"]);
}

#[test]
fn version_prints_the_client_and_the_engine() {
    let Some(c) = Ctx::new("system_version", &[]) else {
        return;
    };
    let r = c.root();
    let v = env!("CARGO_PKG_VERSION");
    let text = ok(r, &["version"]);
    assert!(text.starts_with("Client:\n"), "{text}");
    assert!(
        text.contains(&format!(" Version:           {v}\n")),
        "{text}"
    );
    assert!(text.contains("\nServer: pocky\n Engine:\n"), "{text}");
    assert!(
        text.contains("  API version:      1.43 (minimum version 1.24)\n"),
        "{text}"
    );
    assert_eq!(
        ok(
            r,
            &[
                "version",
                "--format",
                "{{.Server.Version}} {{.Client.Version}} {{.Server.Os}}"
            ]
        ),
        format!("{v} {v} linux\n")
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(r, &["version", "--format", "json"])).unwrap();
    assert_eq!(json["Server"]["ApiVersion"], "1.43");
    assert_eq!(json["Client"]["ApiVersion"], "1.43");
    assert_eq!(json["Server"]["Components"][0]["Name"], "Engine");
    if let Some(docker) = docker_cli() {
        let svc = Service::start(r);
        let out = client_ok(
            &svc,
            &c,
            docker.to_str().unwrap(),
            &[
                "version",
                "--format",
                "{{.Server.Version}} {{.Server.Arch}}",
            ],
        );
        assert_eq!(
            out,
            format!("{v} {}\n", json["Server"]["Arch"].as_str().unwrap())
        );
    }
}

#[test]
fn system_df_counts_what_is_used_and_what_can_go() {
    let Some(c) = Ctx::new("system_df", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let busybox = c.busybox();
    // 100 kB in a stopped container's layer, 200 kB in a volume it uses,
    // and a volume nobody uses.
    c.run_busybox(
        &["--name", "writer", "-v", "data:/data"],
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/big bs=1000 count=100 && dd if=/dev/zero of=/data/v bs=1000 count=200",
        ],
    );
    ok(r, &["volume", "create", "idle"]);
    // A build leaves step images: the build cache.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM {busybox}\nRUN dd if=/dev/zero of=/step bs=1000 count=50\nRUN echo two > /two\n"
        ),
    )
    .unwrap();
    ok(
        r,
        &["build", "-q", "-t", "built:1", ctx.path().to_str().unwrap()],
    );

    let rows: Vec<serde_json::Value> = ok(r, &["system", "df", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |t: &str| rows.iter().find(|x| x["Type"] == t).unwrap().clone();
    assert_eq!(row("Images")["TotalCount"], "2");
    assert_eq!(row("Images")["Active"], "1");
    assert_eq!(row("Containers")["TotalCount"], "1");
    assert_eq!(row("Containers")["Active"], "0");
    assert_eq!(row("Containers")["Size"], "100kB");
    assert_eq!(row("Containers")["Reclaimable"], "100kB (100%)");
    assert_eq!(row("Local Volumes")["TotalCount"], "2");
    assert_eq!(row("Local Volumes")["Active"], "1");
    assert_eq!(row("Local Volumes")["Size"], "200kB");
    assert_eq!(row("Local Volumes")["Reclaimable"], "0B (0%)");
    let cache = row("Build Cache");
    assert!(
        cache["TotalCount"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1,
        "{cache}"
    );

    let table = ok(r, &["system", "df"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    assert!(
        table.lines().any(|l| l.starts_with("Local Volumes ")),
        "{table}"
    );

    let verbose = ok(r, &["system", "df", "-v"]);
    for section in [
        "Images space usage:",
        "Containers space usage:",
        "Local Volumes space usage:",
        "Build cache usage: ",
    ] {
        assert!(verbose.contains(section), "{section} in\n{verbose}");
    }
    let line = |start: &str| {
        verbose
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("{start} in\n{verbose}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // The built image shares busybox's layer: SHARED SIZE is busybox's.
    let bb = line(&busybox);
    let built = line("built ");
    assert_eq!(bb.last(), Some(&"1"), "one container: {bb:?}");
    assert_eq!(built.last(), Some(&"0"), "{built:?}");
    let data = line("data ");
    assert_eq!(data, ["data", "1", "200kB"]);
    assert_eq!(line("idle "), ["idle", "0", "0B"]);
    let ctr = verbose
        .lines()
        .find(|l| l.ends_with(" writer"))
        .unwrap_or_else(|| panic!("the container in\n{verbose}"));
    assert!(ctr.contains(" 100kB "), "{ctr}");
    let err = fails(r, &["system", "df", "-v", "--format", "json"]);
    assert!(err.contains("--verbose"), "{err}");

    if let Some(docker) = docker_cli() {
        let svc = Service::start(r);
        let out = client_ok(
            &svc,
            &c,
            docker.to_str().unwrap(),
            &[
                "system",
                "df",
                "--format",
                "{{.Type}}={{.TotalCount}}/{{.Active}}",
            ],
        );
        assert!(out.contains("Images=2/1\n"), "{out}");
        assert!(out.contains("Local Volumes=2/1\n"), "{out}");
        let out = client_ok(&svc, &c, docker.to_str().unwrap(), &["system", "df", "-v"]);
        assert!(out.contains("writer"), "{out}");
    }
}

#[test]
fn system_events_is_events_with_its_flags() {
    let Some(c) = Ctx::new("system_events", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    c.run_busybox(&["--name", "evt", "-l", "k=v"], &["true"]);
    ok(r, &["volume", "create", "evol"]);
    // A past --until ends the stream at once (a future one would follow).
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let args = |cmd: &[&'static str]| -> Vec<String> {
        cmd.iter()
            .map(|s| (*s).to_owned())
            .chain([
                "--since".to_owned(),
                start.clone(),
                "--until".to_owned(),
                until.clone(),
            ])
            .collect()
    };
    let run = |cmd: &[&'static str], more: &[&str]| {
        let mut a = args(cmd);
        a.extend(more.iter().map(|s| (*s).to_owned()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ok(r, &a)
    };
    let filtered = [
        "--filter",
        "type=container",
        "--filter",
        "label=k=v",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ];
    let out = run(&["system", "events"], &filtered);
    let actions: Vec<&str> = out.lines().collect();
    assert!(actions.contains(&"create evt"), "{out}");
    assert!(actions.contains(&"die evt"), "{out}");
    assert!(!out.contains("evol"), "{out}");
    assert_eq!(run(&["events"], &filtered), out);
    let vols = run(
        &["system", "events"],
        &["--filter", "type=volume", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(vols.lines().next().unwrap()).unwrap();
    assert_eq!(v["Type"], "volume");
    assert_eq!(v["Actor"]["ID"], "evol");
}
