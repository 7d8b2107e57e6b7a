//! `stats`: what a running container uses, read from its cgroup (CPU time,
//! memory and its limit, tasks) and from its network namespace's
//! `/proc/<pid>/net/dev`. One sample is a point in time; rates (CPU %) are
//! the front end's, from two samples.

use std::time::Instant;

use anyhow::Result;
use pocky_cgroup::{Cgroup, CgroupManager};
use pocky_store::{ContainerRecord, Store};

use crate::state;

/// One container at one moment.
#[derive(Debug, Clone)]
pub struct Sample {
    pub id: String,
    pub name: String,
    pub at: Instant,
    pub cpu_nanos: u64,
    pub memory: u64,
    /// The cgroup's limit, or the host's memory when it has none.
    pub memory_limit: u64,
    pub pids: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

/// A sample of `rec`, or None when it does not run.
pub fn sample(rec: &ContainerRecord) -> Option<Sample> {
    if !state::process_alive(rec) {
        return None;
    }
    let stats = Cgroup::detect(&rec.cgroup).and_then(|c| c.stats()).ok()?;
    let (net_rx, net_tx) = net_bytes(rec.state.pid);
    Some(Sample {
        id: rec.id.clone(),
        name: rec.name.clone(),
        at: Instant::now(),
        cpu_nanos: stats.cpu_usage_nanos.unwrap_or(0),
        memory: stats.memory_bytes.unwrap_or(0),
        memory_limit: stats.memory_limit_bytes.unwrap_or_else(host_memory),
        pids: stats.pids.unwrap_or(0),
        net_rx,
        net_tx,
    })
}

/// The running containers named, or all running ones for no names.
pub fn running(store: &Store, names: &[String]) -> crate::Result<Vec<ContainerRecord>> {
    listed(store, names, false)
}

/// As [`running`], and with `all` (`stats -a`) the stopped ones too when
/// none is named.
pub fn listed(store: &Store, names: &[String], all: bool) -> crate::Result<Vec<ContainerRecord>> {
    running_inner(store, names, all).map_err(crate::Error::from)
}

fn running_inner(store: &Store, names: &[String], all: bool) -> Result<Vec<ContainerRecord>> {
    if names.is_empty() {
        use pocky_store::ContainerStore;
        let mut out = Vec::new();
        for rec in store.containers()? {
            if let Some(rec) = state::refresh_listed(store, rec)?
                && (all || state::process_alive(&rec))
            {
                out.push(rec);
            }
        }
        return Ok(out);
    }
    Ok(names
        .iter()
        .map(|n| state::find(store, n))
        .collect::<crate::Result<_>>()?)
}

/// CPU use between two samples of one container, in percent of one CPU
/// (Docker's CPU % on a machine of that many CPUs).
pub fn cpu_percent(before: &Sample, after: &Sample) -> f64 {
    let wall = after.at.duration_since(before.at).as_nanos() as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    after.cpu_nanos.saturating_sub(before.cpu_nanos) as f64 / wall * 100.0
}

/// Bytes received and sent on every interface but `lo`, as the
/// container's network namespace counts them.
fn net_bytes(pid: i32) -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) else {
        return (0, 0);
    };
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .fold((0, 0), |(rx, tx), (_, fields)| {
            let f: Vec<u64> = fields
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            (
                rx + f.first().copied().unwrap_or(0),
                tx + f.get(8).copied().unwrap_or(0),
            )
        })
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}
