use super::*;
use crate::spec::{self, ImageDefaults, NetworkMode, RunOptions};

fn base() -> Spec {
    let opts = RunOptions {
        hostname: "abc".into(),
        entrypoint: None,
        args: vec!["true".into()],
        env: vec![],
        user: None,
        workdir: None,
        tty: false,
        read_only: false,
        resources: Default::default(),
        network: NetworkMode::None,
        cgroups_path: "pocky/abc".into(),
        mounts: vec![],
        security: Default::default(),
    };
    spec::build(&ImageDefaults::default(), &opts).unwrap()
}

fn applied(f: impl FnOnce(&mut RunRequest)) -> Result<Spec> {
    let mut req = RunRequest::default();
    f(&mut req);
    let mut s = base();
    apply(&mut s, &req, false)?;
    Ok(s)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn cpu_and_memory_flags_reach_the_spec() {
    let spec = applied(|r| {
        r.cpuset_cpus = Some("0".into());
        r.cpuset_mems = Some("0".into());
        r.cpu_period = Some(50_000);
        r.cpu_quota = Some(25_000);
        r.memory = Some("64m".into());
        r.memory_swap = Some("128m".into());
        r.memory_reservation = Some("32m".into());
        r.memory_swappiness = Some(10);
        r.oom_kill_disable = true;
    })
    .unwrap();
    let res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
    let cpu = res.cpu().clone().unwrap();
    assert_eq!(cpu.cpus().as_deref(), Some("0"));
    assert_eq!((cpu.period(), cpu.quota()), (Some(50_000), Some(25_000)));
    let m = res.memory().unwrap();
    assert_eq!(m.swap(), Some(128 << 20));
    assert_eq!(m.reservation(), Some(32 << 20));
    assert_eq!(m.swappiness(), Some(10));
    assert_eq!(m.disable_oom_killer(), Some(true));
}

#[test]
fn docker_refusals() {
    type Case = Box<dyn Fn(&mut RunRequest)>;
    let cases: Vec<Case> = vec![
        Box::new(|r| r.kernel_memory = Some("10m".into())),
        Box::new(|r| r.refused = vec![("--gpus".into(), "all".into())]),
        Box::new(|r| {
            r.cpus = Some(1.0);
            r.cpu_quota = Some(50_000);
        }),
        Box::new(|r| r.cpuset_cpus = Some("3-1".into())),
        Box::new(|r| r.cpu_period = Some(10)),
        Box::new(|r| r.memory_swap = Some("1g".into())),
        Box::new(|r| {
            r.memory = Some("64m".into());
            r.memory_swap = Some("32m".into());
        }),
        Box::new(|r| {
            r.memory = Some("64m".into());
            r.memory_reservation = Some("128m".into());
        }),
        Box::new(|r| r.memory_swappiness = Some(101)),
        Box::new(|r| r.oom_score_adj = Some(1001)),
        Box::new(|r| r.blkio_weight = Some(5)),
        Box::new(|r| r.blkio_weight_device = s(&["/etc/passwd:100"])),
        Box::new(|r| r.device_read_bps = s(&["sda:1mb"])),
        Box::new(|r| r.device_cgroup_rule = s(&["x 1:3 rwm"])),
        Box::new(|r| r.device_cgroup_rule = s(&["c 1:3 rwx"])),
        Box::new(|r| r.ulimit = s(&["nofile=10:5"])),
        Box::new(|r| r.ulimit = s(&["bogus=1"])),
        Box::new(|r| r.sysctl = s(&["kernel.panic=1"])),
        Box::new(|r| r.sysctl = s(&["vm.swappiness=1"])),
        Box::new(|r| {
            r.ipc = Some("host".into());
            r.sysctl = s(&["kernel.shmmax=1"]);
        }),
        Box::new(|r| r.group_add = s(&["a,b"])),
        Box::new(|r| r.annotation = s(&["io.pocky.group-add=root"])),
        Box::new(|r| r.annotation = s(&["novalue"])),
        Box::new(|r| r.shm_size = Some("0".into())),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let e = applied(case).expect_err(&format!("case {i} must fail"));
        assert_eq!(
            crate::Error::from(e).kind(),
            crate::Kind::Invalid,
            "case {i} is the caller's mistake"
        );
    }
}

#[test]
fn process_settings_ulimits_sysctls_groups_annotations() {
    let spec = applied(|r| {
        r.ulimit = s(&["nofile=100:200", "core=0"]);
        r.sysctl = s(&["net.ipv4.ip_forward=1", "kernel/shmmax=1000"]);
        r.oom_score_adj = Some(-500);
        r.group_add = s(&["10", "audio"]);
        r.annotation = s(&["com.example=1"]);
        r.domainname = Some("example.org".into());
        r.shm_size = Some("128m".into());
        r.device_cgroup_rule = s(&["c 1:* rwm", "a *:* m"]);
    })
    .unwrap();
    let p = spec.process().clone().unwrap();
    let limits = p.rlimits().clone().unwrap();
    let nofile = limits
        .iter()
        .find(|l| l.typ() == PosixRlimitType::RlimitNofile)
        .unwrap();
    assert_eq!((nofile.soft(), nofile.hard()), (100, 200));
    assert_eq!(p.oom_score_adj(), Some(-500));
    assert_eq!(p.user().additional_gids().clone(), Some(vec![10]));
    let ann = spec.annotations().clone().unwrap();
    assert_eq!(ann["com.example"], "1");
    assert_eq!(ann[pocky_runtime::user::GROUP_ADD_ANNOTATION], "audio");
    let linux = spec.linux().clone().unwrap();
    let sysctl = linux.sysctl().clone().unwrap();
    assert_eq!(sysctl["kernel.shmmax"], "1000");
    assert_eq!(sysctl["net.ipv4.ip_forward"], "1");
    let devices = linux
        .resources()
        .clone()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    let added = &devices[devices.len() - 2..];
    assert_eq!(added[0].major(), Some(1));
    assert_eq!(added[0].minor(), None);
    assert_eq!(added[1].typ(), Some(LinuxDeviceType::A));
    assert_eq!(spec.domainname().as_deref(), Some("example.org"));
    let shm = spec
        .mounts()
        .clone()
        .unwrap()
        .into_iter()
        .find(|m| m.destination().as_os_str() == "/dev/shm")
        .unwrap();
    assert!(
        shm.options()
            .clone()
            .unwrap()
            .contains(&"size=131072k".to_owned())
    );
}

#[test]
fn net_sysctls_are_refused_with_the_hosts_network() {
    let mut req = RunRequest {
        sysctl: s(&["net.ipv4.ip_forward=1"]),
        ..RunRequest::default()
    };
    let mut spec = base();
    assert!(apply(&mut spec, &req, true).is_err());
    req.sysctl.clear();
    assert!(apply(&mut spec, &req, true).is_ok());
}
