//! `update` (new limits for a live container) and `events` (its cgroup
//! statistics), as runc has them: containerd's CRI calls `update
//! --resources -` when Kubernetes resizes a container.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use oci_spec::runtime::LinuxResources;
use pocky_runtime::state::{StateDir, Status};
use serde_json::{Value, json};

use crate::cli::UpdateArgs;

/// `64m`, `1g`, `1024`, `512KiB`, as runc's (docker's) RAMInBytes reads
/// them: binary units, case-insensitive; `-1` is "unlimited".
pub fn parse_bytes(s: &str) -> anyhow::Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => bail!("invalid size {s:?}: use bytes or a k/m/g/t/p suffix"),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("invalid size {s:?}: use bytes or a k/m/g/t/p suffix"))?;
    n.checked_mul(1 << shift)
        .with_context(|| format!("size {s:?} is too large"))
}

/// A JSON document from a file, or from stdin for `-` (how containerd
/// and conmon hand over a process or resources).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
        b
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// The resources to apply: the `--resources` document with the flags on
/// top, as runc merges them.
pub fn resources_of(args: &UpdateArgs) -> anyhow::Result<LinuxResources> {
    let mut v = match &args.resources {
        Some(p) => read_json(p)?,
        None => json!({}),
    };
    if !v.is_object() {
        bail!("--resources must hold a JSON object (the spec's linux.resources)");
    }
    let mut set = |section: &str, key: &str, value: Value| {
        if !v[section].is_object() {
            v[section] = json!({});
        }
        v[section][key] = value;
    };
    for (key, flag) in [
        ("limit", &args.memory),
        ("reservation", &args.memory_reservation),
        ("swap", &args.memory_swap),
    ] {
        if let Some(s) = flag {
            set("memory", key, parse_bytes(s)?.into());
        }
    }
    if let Some(x) = args.cpu_share {
        set("cpu", "shares", x.into());
    }
    if let Some(x) = args.cpu_period {
        set("cpu", "period", x.into());
    }
    if let Some(x) = args.cpu_quota {
        set("cpu", "quota", x.into());
    }
    if let Some(x) = args.cpu_rt_period {
        set("cpu", "realtimePeriod", x.into());
    }
    if let Some(x) = args.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", x.into());
    }
    if let Some(x) = &args.cpuset_cpus {
        set("cpu", "cpus", x.clone().into());
    }
    if let Some(x) = &args.cpuset_mems {
        set("cpu", "mems", x.clone().into());
    }
    if let Some(x) = args.pids_limit {
        set("pids", "limit", x.into());
    }
    if let Some(x) = args.blkio_weight {
        set("blockIO", "weight", x.into());
    }
    serde_json::from_value(v).context("the resources do not fit the spec's linux.resources")
}

pub fn update(root: &Path, args: &UpdateArgs) -> anyhow::Result<()> {
    let resources = resources_of(args)?;
    if resources.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        // runc ignores them too: device rules are fixed at create.
        bail!("update cannot change device rules (linux.resources.devices)");
    }
    let limits = pocky_runtime::resources::limits_of(&resources)?;
    pocky_runtime::control::update(&StateDir::new(root, &args.id)?, &limits)?;
    Ok(())
}

fn stats_event(id: &str, s: &pocky_cgroup::Stats) -> Value {
    json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {"usage": {"total": s.cpu_usage_nanos.unwrap_or(0)}},
            "memory": {"usage": {
                "usage": s.memory_bytes.unwrap_or(0),
                "limit": s.memory_limit_bytes.unwrap_or(u64::MAX),
            }},
            "pids": {"current": s.pids.unwrap_or(0)},
        },
    })
}

/// `events --stats`: one statistics event. Without it, one every
/// `interval` until the container stops.
pub fn events(root: &Path, id: &str, once: bool, interval: Duration) -> anyhow::Result<()> {
    let dir = StateDir::new(root, id)?;
    loop {
        let s = pocky_runtime::control::stats(&dir)?;
        println!("{}", stats_event(id, &s));
        if once {
            return Ok(());
        }
        std::thread::sleep(interval);
        let record = dir.load()?;
        if dir.status(&record) == Status::Stopped {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn sizes_read_as_runc_reads_them() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        for bad in ["", "m", "12x", "1.5g", "99999999999p"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_go_on_top_of_the_document() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("r.json");
        std::fs::write(
            &doc,
            r#"{"memory":{"limit":1048576},"cpu":{"shares":100,"quota":1000}}"#,
        )
        .unwrap();
        let cli = crate::cli::Cli::try_parse_from([
            "pocky-runtime",
            "update",
            "--resources",
            doc.to_str().unwrap(),
            "--memory",
            "64m",
            "--cpu-quota",
            "50000",
            "--pids-limit",
            "10",
            "c1",
        ])
        .unwrap();
        let Some(crate::cli::Command::Update(args)) = cli.command else {
            panic!()
        };
        let r = resources_of(&args).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!((c.shares(), c.quota()), (Some(100), Some(50000)));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
    }
}
