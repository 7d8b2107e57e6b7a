//! `GET /containers/{id}/stats`: Docker's stats document from the
//! engine's samples, once (`stream=false`) or each second.

use std::io::Write;
use std::time::{Duration, SystemTime};

use pocky_engine::state;
use pocky_engine::stats::Sample;
use serde_json::{Value, json};

use crate::{ApiResult, Ctx, Reply, http};

/// The whole machine's CPU time in nanoseconds (`/proc/stat`'s first line),
/// which clients divide a container's CPU time by.
fn system_cpu_nanos() -> u64 {
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .unwrap_or(100) as u64;
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
        })
        .map_or(0, |ticks| ticks.saturating_mul(1_000_000_000 / tick))
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_json(s: Option<&Sample>, system: u64) -> Value {
    json!({
        "cpu_usage": {
            "total_usage": s.map_or(0, |s| s.cpu_nanos),
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 0,
        },
        "system_cpu_usage": system,
        "online_cpus": cpus(),
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

fn document(
    id: &str,
    name: &str,
    now: Option<&Sample>,
    pre: Option<(&Sample, u64, SystemTime)>,
    system: u64,
) -> Value {
    let rfc = |t: SystemTime| humantime::format_rfc3339_nanos(t).to_string();
    json!({
        "id": id,
        "name": format!("/{name}"),
        "read": rfc(SystemTime::now()),
        "preread": pre.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), |p| rfc(p.2)),
        "pids_stats": {"current": now.map_or(0, |s| s.pids)},
        "num_procs": 0,
        "cpu_stats": cpu_json(now, system),
        "precpu_stats": pre.map_or_else(|| cpu_json(None, 0), |p| cpu_json(Some(p.0), p.1)),
        "memory_stats": {
            "usage": now.map_or(0, |s| s.memory),
            "limit": now.map_or(0, |s| s.memory_limit),
            "stats": {},
        },
        "networks": {
            "eth0": {
                "rx_bytes": now.map_or(0, |s| s.net_rx),
                "tx_bytes": now.map_or(0, |s| s.net_tx),
                "rx_packets": 0, "tx_packets": 0, "rx_errors": 0, "tx_errors": 0,
                "rx_dropped": 0, "tx_dropped": 0,
            }
        },
        "blkio_stats": {},
        "storage_stats": {},
    })
}

pub fn stats(ctx: &mut Ctx, id: &str) -> ApiResult {
    let rec = state::find(ctx.store, id)?;
    let stream = ctx.query("stream").is_none() || ctx.flag("stream")?;
    let one_shot = ctx.flag("one-shot")?;
    let first = pocky_engine::stats::sample(&rec);
    let first_system = system_cpu_nanos();
    if !stream {
        // Without one-shot Docker waits a second for a CPU rate.
        let pre = match (one_shot, &first) {
            (false, Some(f)) => {
                std::thread::sleep(Duration::from_secs(1));
                Some((
                    f.clone(),
                    first_system,
                    SystemTime::now() - Duration::from_secs(1),
                ))
            }
            _ => None,
        };
        let now = match pre {
            Some(_) => state::find(ctx.store, id)
                .ok()
                .and_then(|r| pocky_engine::stats::sample(&r)),
            None => first.clone(),
        };
        let doc = document(
            &rec.id,
            &rec.name,
            now.as_ref(),
            pre.as_ref().map(|p| (&p.0, p.1, p.2)),
            system_cpu_nanos(),
        );
        return Ok(Reply::Json(200, doc));
    }
    let peer = ctx.writer.try_clone()?;
    let mut out = http::Chunked::start(&mut *ctx.writer, 200, "application/json", Vec::new())?;
    let mut pre: Option<(Sample, u64, SystemTime)> = None;
    let mut now = first;
    let mut system = first_system;
    loop {
        let doc = document(
            &rec.id,
            &rec.name,
            now.as_ref(),
            pre.as_ref().map(|p| (&p.0, p.1, p.2)),
            system,
        );
        let mut line = serde_json::to_vec(&doc).unwrap_or_default();
        line.push(b'\n');
        if out.write_all(&line).is_err() {
            return Ok(Reply::Written { keep: false });
        }
        // A stopped container's stream ends after its last (empty) sample.
        let Some(current) = now else { break };
        pre = Some((current, system, SystemTime::now()));
        std::thread::sleep(Duration::from_secs(1));
        if http::peer_gone(&peer) {
            return Ok(Reply::Written { keep: false });
        }
        now = state::find(ctx.store, id)
            .ok()
            .and_then(|r| pocky_engine::stats::sample(&r));
        system = system_cpu_nanos();
    }
    Ok(Reply::Written {
        keep: out.finish().is_ok(),
    })
}
