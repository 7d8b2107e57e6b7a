//! The run flags that refine a built spec: CPU sets and CFS numbers,
//! memory swap and reservation, block IO weights and throttles, device
//! cgroup rules, ulimits, sysctls, the OOM score, supplementary groups,
//! `/dev/shm`'s size, annotations and the NIS domain name. Each is
//! checked with Docker's rules and written where the OCI spec has it, so
//! any OCI runtime given the bundle applies it the same way.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpu, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemory,
    LinuxResources, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder, PosixRlimitBuilder,
    PosixRlimitType, Spec,
};

use crate::flags;
use crate::invalid;
use crate::request::RunRequest;

/// Applies the flags to `spec` (built from the other flags and the
/// image). `network_host` and `ipc_host` decide which sysctls are the
/// container's own.
pub fn apply(spec: &mut Spec, args: &RunRequest, network_host: bool) -> Result<()> {
    if let Some((flag, _)) = args.refused.first() {
        bail!(invalid!(
            "{flag} is not supported by pocky: {}",
            refusal(flag)
        ));
    }
    if args.kernel_memory.is_some() {
        bail!(invalid!(
            "--kernel-memory is not supported: Linux 6.x has no kernel memory limit (Docker 25 dropped it too)"
        ));
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut res = linux.resources().clone().unwrap_or_default();
    cpu(&mut res, args)?;
    memory(&mut res, args)?;
    block_io(&mut res, args)?;
    device_rules(&mut res, &args.device_cgroup_rule)?;
    linux.set_resources(Some(res));
    let ipc_host = args.ipc.as_deref() == Some("host");
    let sysctls = sysctls(&args.sysctl, network_host, ipc_host)?;
    if !sysctls.is_empty() {
        let mut all = linux.sysctl().clone().unwrap_or_default();
        all.extend(sysctls);
        linux.set_sysctl(Some(all));
    }
    spec.set_linux(Some(linux));

    let mut process = spec.process().clone().unwrap_or_default();
    if !args.ulimit.is_empty() {
        let mut limits = process.rlimits().clone().unwrap_or_default();
        for u in &args.ulimit {
            let r = ulimit(u)?;
            limits.retain(|l| l.typ() != r.typ());
            limits.push(r);
        }
        process.set_rlimits(Some(limits));
    }
    if let Some(adj) = args.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            bail!(invalid!(
                "invalid value {adj} for --oom-score-adj: the range is -1000 to 1000"
            ));
        }
        process.set_oom_score_adj(Some(adj));
    }
    let (gids, names) = group_add(&args.group_add)?;
    if !gids.is_empty() {
        let mut user = process.user().clone();
        let mut all = user.additional_gids().clone().unwrap_or_default();
        all.extend(gids);
        user.set_additional_gids(Some(all));
        process.set_user(user);
    }
    spec.set_process(Some(process));

    let mut annotations = spec.annotations().clone().unwrap_or_default();
    annotations.extend(annotation_flags(&args.annotation)?);
    if args.init {
        annotations.insert(
            pocky_runtime::init::INIT_ANNOTATION.to_owned(),
            "true".to_owned(),
        );
    }
    if !names.is_empty() {
        annotations.insert(
            pocky_runtime::user::GROUP_ADD_ANNOTATION.to_owned(),
            names.join(","),
        );
    }
    spec.set_annotations(Some(annotations));
    if let Some(d) = &args.domainname {
        spec.set_domainname(Some(d.clone()));
    }
    if let Some(size) = &args.shm_size {
        shm_size(spec, size)?;
    }
    Ok(())
}

/// The limits `update` may change on a container's resources: CPU,
/// memory swap and reservation, block IO.
pub(crate) fn update_resources(res: &mut LinuxResources, args: &RunRequest) -> Result<()> {
    cpu(res, args)?;
    memory(res, args)?;
    block_io(res, args)
}

/// Why pocky refuses a flag it knows: the machine or the kernel cannot
/// do it, or it belongs to Docker's other platforms.
pub fn refusal(flag: &str) -> &'static str {
    match flag {
        "--gpus" => "no GPU runtime (the NVIDIA container toolkit's hook) is installed",
        "--runtime" => "pocky runs containers with its own runtime only",
        "--storage-opt" => "the overlay store has no per-container size quota",
        "--isolation" => "isolation technologies are Windows's; Linux has only the default",
        "--cpu-count" | "--cpu-percent" | "--io-maxbandwidth" | "--io-maxiops" => {
            "it is a Windows-only flag"
        }
        "--volume-driver" => "pocky has the local volume driver only",
        "--link-local-ip" => "link-local addresses are not managed by pocky's IPAM",
        "--use-api-socket" => {
            "there is no API socket to share by default (see `pocky system service`)"
        }
        _ => "not implemented",
    }
}

fn cpu(res: &mut LinuxResources, args: &RunRequest) -> Result<()> {
    let any = args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some()
        || args.cpu_period.is_some()
        || args.cpu_quota.is_some()
        || args.cpu_rt_period.is_some()
        || args.cpu_rt_runtime.is_some();
    if !any {
        return Ok(());
    }
    if args.cpus.is_some() && (args.cpu_period.is_some() || args.cpu_quota.is_some()) {
        bail!(invalid!(
            "conflicting options: --cpus and --cpu-period/--cpu-quota cannot both be set"
        ));
    }
    let mut cpu: LinuxCpu = res.cpu().clone().unwrap_or_default();
    for (what, set) in [
        ("--cpuset-cpus", &args.cpuset_cpus),
        ("--cpuset-mems", &args.cpuset_mems),
    ] {
        if let Some(s) = set {
            check_cpu_list(what, s)?;
        }
    }
    if let Some(s) = &args.cpuset_cpus {
        cpu.set_cpus(Some(s.clone()));
    }
    if let Some(s) = &args.cpuset_mems {
        cpu.set_mems(Some(s.clone()));
    }
    if let Some(p) = args.cpu_period {
        if p != 0 && !(1_000..=1_000_000).contains(&p) {
            bail!(invalid!(
                "--cpu-period {p}: CPU cfs period must be between 1ms and 1s (1000-1000000)"
            ));
        }
        cpu.set_period(Some(p).filter(|p| *p > 0));
    }
    if let Some(q) = args.cpu_quota {
        if q != 0 && q != -1 && q < 1_000 {
            bail!(invalid!(
                "--cpu-quota {q}: CPU cfs quota must be at least 1ms (1000) or -1"
            ));
        }
        cpu.set_quota(Some(q).filter(|q| *q != 0));
    }
    cpu.set_realtime_period(args.cpu_rt_period.filter(|p| *p > 0));
    cpu.set_realtime_runtime(args.cpu_rt_runtime.filter(|r| *r != 0));
    res.set_cpu(Some(cpu));
    Ok(())
}

/// `0-3`, `0,2`, `1,3-5`: what the cpuset files take.
fn check_cpu_list(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-').map(|n| n.parse::<u32>());
            match (ends.next(), ends.next()) {
                (Some(Ok(_)), None) => true,
                (Some(Ok(a)), Some(Ok(b))) => a <= b,
                _ => false,
            }
        });
    if !ok {
        bail!(invalid!(
            "invalid value {s:?} for {what}: expected a list like 0-3 or 0,1"
        ));
    }
    Ok(())
}

fn memory(res: &mut LinuxResources, args: &RunRequest) -> Result<()> {
    let limit = args.memory.as_deref().map(flags::memory).transpose()?;
    let swap = args.memory_swap.as_deref().map(|s| match s.trim() {
        "-1" => Ok(-1),
        s => flags::size(s),
    });
    let swap = swap.transpose()?;
    let reservation = args
        .memory_reservation
        .as_deref()
        .map(flags::memory)
        .transpose()?;
    let swappiness = match args.memory_swappiness {
        None | Some(-1) => None,
        Some(v @ 0..=100) => Some(v as u64),
        Some(v) => bail!(invalid!(
            "invalid value {v} for --memory-swappiness: the range is 0 to 100 (or -1)"
        )),
    };
    if swap.is_none() && reservation.is_none() && swappiness.is_none() && !args.oom_kill_disable {
        return Ok(());
    }
    let mut m: LinuxMemory = (*res.memory()).unwrap_or_default();
    if let Some(s) = swap.filter(|s| *s != 0) {
        let Some(limit) = limit else {
            bail!(invalid!(
                "you should always set the memory limit (-m) when using --memory-swap"
            ));
        };
        if s != -1 && s < limit {
            bail!(invalid!(
                "minimum memoryswap limit should be larger than memory limit, see usage"
            ));
        }
        m.set_swap(Some(s));
    }
    if let Some(r) = reservation {
        if limit.is_some_and(|l| r > l) {
            bail!(invalid!(
                "minimum memory limit can not be less than memory reservation limit, see usage"
            ));
        }
        m.set_reservation(Some(r));
    }
    m.set_swappiness(swappiness);
    if args.oom_kill_disable {
        m.set_disable_oom_killer(Some(true));
    }
    res.set_memory(Some(m));
    Ok(())
}

/// The major and minor numbers of block device `path` on the host.
fn block_device(flag: &str, path: &str) -> Result<(i64, i64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(path).map_err(|e| invalid!("{flag}: the device {path}: {e}"))?;
    if !meta.file_type().is_block_device() {
        bail!(invalid!("{flag}: {path} is not a block device"));
    }
    let rdev = meta.rdev();
    Ok((
        i64::from(nix::sys::stat::major(rdev) as u32),
        i64::from(nix::sys::stat::minor(rdev) as u32),
    ))
}

fn device_value(flag: &str, v: &str) -> Result<(String, String)> {
    let (path, value) = v
        .rsplit_once(':')
        .filter(|(p, _)| p.starts_with("/dev/"))
        .ok_or_else(|| invalid!("{flag} {v:?}: expected /dev/DEVICE:VALUE"))?;
    Ok((path.to_owned(), value.to_owned()))
}

fn block_io(res: &mut LinuxResources, args: &RunRequest) -> Result<()> {
    let throttled = [
        &args.device_read_bps,
        &args.device_write_bps,
        &args.device_read_iops,
        &args.device_write_iops,
    ];
    let weight = args.blkio_weight.filter(|w| *w != 0);
    if weight.is_none()
        && args.blkio_weight_device.is_empty()
        && throttled.iter().all(|t| t.is_empty())
    {
        return Ok(());
    }
    let mut b = LinuxBlockIoBuilder::default();
    if let Some(w) = weight {
        if !(10..=1000).contains(&w) {
            bail!(invalid!(
                "invalid value {w} for --blkio-weight: the range is 10 to 1000 (or 0)"
            ));
        }
        b = b.weight(w);
    }
    let mut weights = Vec::new();
    for v in &args.blkio_weight_device {
        let (path, w) = device_value("--blkio-weight-device", v)?;
        let w: u16 = w
            .parse()
            .ok()
            .filter(|w| (10..=1000).contains(w))
            .with_context(|| invalid!("--blkio-weight-device {v:?}: the weight is 10 to 1000"))?;
        let (major, minor) = block_device("--blkio-weight-device", &path)?;
        weights.push(
            LinuxWeightDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .weight(w)
                .build()?,
        );
    }
    if !weights.is_empty() {
        b = b.weight_device(weights);
    }
    let mut lists = Vec::new();
    for (flag, values, bytes) in [
        ("--device-read-bps", &args.device_read_bps, true),
        ("--device-write-bps", &args.device_write_bps, true),
        ("--device-read-iops", &args.device_read_iops, false),
        ("--device-write-iops", &args.device_write_iops, false),
    ] {
        let mut list = Vec::new();
        for v in values {
            let (path, rate) = device_value(flag, v)?;
            let rate = match bytes {
                true => flags::size(&rate).ok().and_then(|r| u64::try_from(r).ok()),
                false => rate.parse().ok(),
            }
            .with_context(|| invalid!("{flag} {v:?}: bad rate {rate:?}"))?;
            let (major, minor) = block_device(flag, &path)?;
            list.push(
                LinuxThrottleDeviceBuilder::default()
                    .major(major)
                    .minor(minor)
                    .rate(rate)
                    .build()?,
            );
        }
        lists.push(list);
    }
    let [read_bps, write_bps, read_iops, write_iops]: [Vec<_>; 4] = lists
        .try_into()
        .map_err(|_| anyhow::anyhow!("four throttle lists"))?;
    b = b
        .throttle_read_bps_device(read_bps)
        .throttle_write_bps_device(write_bps)
        .throttle_read_iops_device(read_iops)
        .throttle_write_iops_device(write_iops);
    res.set_block_io(Some(b.build()?));
    Ok(())
}

/// `c 1:3 rwm`, `b 8:* r`, `a *:* m`: Docker's `--device-cgroup-rule`.
fn device_rules(res: &mut LinuxResources, rules: &[String]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let mut devices = res.devices().clone().unwrap_or_default();
    for rule in rules {
        let bad = || invalid!("invalid device cgroup rule {rule:?}: expected like 'c 1:3 rwm'");
        let parts: Vec<&str> = rule.split_whitespace().collect();
        let [kind, numbers, access] = parts[..] else {
            bail!(bad());
        };
        let typ = match kind {
            "a" => LinuxDeviceType::A,
            "b" => LinuxDeviceType::B,
            "c" => LinuxDeviceType::C,
            _ => bail!(bad()),
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
        let number = |n: &str| -> Result<Option<i64>> {
            match n {
                "*" => Ok(None),
                n => n.parse().map(Some).map_err(|_| bad().into()),
            }
        };
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            bail!(bad());
        }
        let mut d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access(access);
        if let Some(m) = number(major)? {
            d = d.major(m);
        }
        if let Some(m) = number(minor)? {
            d = d.minor(m);
        }
        devices.push(d.build()?);
    }
    res.set_devices(Some(devices));
    Ok(())
}

/// The sysctls a container may set: those of its own IPC and network
/// namespaces (Docker's list), and not those it shares with the host.
fn sysctls(
    values: &[String],
    network_host: bool,
    ipc_host: bool,
) -> Result<HashMap<String, String>> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let mut out = HashMap::new();
    for v in values {
        let (key, value) = v
            .split_once('=')
            .with_context(|| invalid!("--sysctl {v:?}: expected KEY=VALUE"))?;
        let key = key.replace('/', ".");
        let ipc = IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.");
        let net = key.starts_with("net.");
        if ipc && ipc_host {
            bail!(invalid!("sysctl {key} is not allowed with --ipc host"));
        }
        if net && network_host {
            bail!(invalid!("sysctl {key} is not allowed with --network host"));
        }
        if !ipc && !net {
            bail!(invalid!(
                "sysctl {key} is not namespaced: a container may set the IPC ones (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*) and the network ones (net.*)"
            ));
        }
        out.insert(key, value.to_owned());
    }
    Ok(out)
}

/// `nofile=1024[:2048]`: soft and hard limits, `-1` for unlimited, and
/// within what this process may give (no CAP_SYS_RESOURCE here raises a
/// hard limit).
fn ulimit(v: &str) -> Result<oci_spec::runtime::PosixRlimit> {
    let bad = || invalid!("invalid ulimit {v:?}: expected NAME=SOFT[:HARD]");
    let (name, values) = v.split_once('=').ok_or_else(bad)?;
    let (typ, resource) = rlimit_type(name)
        .ok_or_else(|| invalid!("invalid ulimit type {name:?} in --ulimit {v:?}"))?;
    let number = |s: &str| -> Result<u64> {
        match s {
            "-1" | "unlimited" => Ok(u64::MAX),
            s => s.parse().map_err(|_| bad().into()),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (number(s)?, number(h)?),
        None => (number(values)?, number(values)?),
    };
    if soft > hard {
        bail!(invalid!(
            "ulimit {name}: the soft limit {soft} is above the hard limit {hard}"
        ));
    }
    let (_, allowed) = nix::sys::resource::getrlimit(resource).context("getrlimit")?;
    if hard > allowed && !pocky_runtime::security::caps::has_effective("CAP_SYS_RESOURCE") {
        bail!(invalid!(
            "ulimit {name}: the hard limit {} is above pocky's own ({}), which only CAP_SYS_RESOURCE may raise",
            show(hard),
            show(allowed)
        ));
    }
    Ok(PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()?)
}

fn show(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

fn rlimit_type(name: &str) -> Option<(PosixRlimitType, nix::sys::resource::Resource)> {
    use PosixRlimitType as T;
    use nix::sys::resource::Resource as R;
    Some(match name {
        "as" => (T::RlimitAs, R::RLIMIT_AS),
        "core" => (T::RlimitCore, R::RLIMIT_CORE),
        "cpu" => (T::RlimitCpu, R::RLIMIT_CPU),
        "data" => (T::RlimitData, R::RLIMIT_DATA),
        "fsize" => (T::RlimitFsize, R::RLIMIT_FSIZE),
        "locks" => (T::RlimitLocks, R::RLIMIT_LOCKS),
        "memlock" => (T::RlimitMemlock, R::RLIMIT_MEMLOCK),
        "msgqueue" => (T::RlimitMsgqueue, R::RLIMIT_MSGQUEUE),
        "nice" => (T::RlimitNice, R::RLIMIT_NICE),
        "nofile" => (T::RlimitNofile, R::RLIMIT_NOFILE),
        "nproc" => (T::RlimitNproc, R::RLIMIT_NPROC),
        "rss" => (T::RlimitRss, R::RLIMIT_RSS),
        "rtprio" => (T::RlimitRtprio, R::RLIMIT_RTPRIO),
        "rttime" => (T::RlimitRttime, R::RLIMIT_RTTIME),
        "sigpending" => (T::RlimitSigpending, R::RLIMIT_SIGPENDING),
        "stack" => (T::RlimitStack, R::RLIMIT_STACK),
        _ => return None,
    })
}

/// `--group-add`: numbers for the spec, names for the runtime to look up
/// in the container's /etc/group.
fn group_add(values: &[String]) -> Result<(Vec<u32>, Vec<String>)> {
    let (mut gids, mut names) = (Vec::new(), Vec::new());
    for g in values {
        match g.parse::<u32>() {
            Ok(n) => gids.push(n),
            Err(_) if !g.is_empty() && !g.contains([',', ':', '\n']) => names.push(g.clone()),
            Err(_) => bail!(invalid!("invalid group {g:?} for --group-add")),
        }
    }
    Ok((gids, names))
}

fn annotation_flags(values: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for v in values {
        let (k, val) = v
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .with_context(|| invalid!("invalid annotation {v:?}: expected KEY=VALUE"))?;
        if k.starts_with("io.pocky.") {
            bail!(invalid!(
                "annotation {k}: the io.pocky. prefix is pocky's own"
            ));
        }
        out.insert(k.to_owned(), val.to_owned());
    }
    Ok(out)
}

/// `--shm-size`: the size of the `/dev/shm` tmpfs (Docker's 64m unless
/// told).
fn shm_size(spec: &mut Spec, size: &str) -> Result<()> {
    let bytes = flags::size(size)?;
    if bytes <= 0 {
        bail!(invalid!(
            "invalid --shm-size {size:?}: it must be greater than 0"
        ));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for m in mounts.iter_mut() {
        if m.destination().as_os_str() == "/dev/shm" && m.typ().as_deref() == Some("tmpfs") {
            let mut opts: Vec<String> = m.options().clone().unwrap_or_default();
            opts.retain(|o| !o.starts_with("size="));
            opts.push(format!("size={}k", (bytes + 1023) / 1024));
            m.set_options(Some(opts));
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

#[cfg(test)]
#[path = "run_flags_tests.rs"]
mod tests;
