//! `pocky stats`: Docker's live table of what containers use. The numbers
//! come from the engine's samples; a rate (CPU %) needs two of them, so
//! even `--no-stream` waits one interval.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use pocky_engine::stats::{self, Sample};
use pocky_engine::store::{ContainerRecord, Store};
use serde_json::{Value, json};

use crate::format;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Containers to show; all running ones when none is named.
    pub containers: Vec<String>,
    /// Print one table and exit instead of redrawing every second.
    #[arg(long)]
    pub no_stream: bool,
    /// Output format: `table`, `json`, or a Go template
    /// (`table {{.Name}}\t{{.CPUPerc}}`).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Accepted for Docker compatibility; names are never truncated.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show every container, stopped ones too (with zeros), not only
    /// running ones.
    #[arg(short, long)]
    pub all: bool,
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const TITLES: [(&str, &str); 9] = [
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

pub fn stats(root: &Path, args: &StatsArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    // Named containers are checked up front, as Docker does: a typo is an
    // error, not an empty table.
    let named = stats::listed(&store, &args.containers, args.all)?;
    let interval = if args.no_stream {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(1)
    };
    let tty = std::io::stdout().is_terminal();
    let mut before = sample_all(&named);
    loop {
        std::thread::sleep(interval);
        // With no names the set follows what runs now.
        let recs = if args.containers.is_empty() {
            stats::listed(&store, &[], args.all)?
        } else {
            named.clone()
        };
        let after = sample_all(&recs);
        let rows: Vec<Value> = recs
            .iter()
            .zip(&after)
            .map(|(rec, now)| {
                let prev = before.iter().flatten().find(|s| s.id == rec.id);
                row(rec, prev, now.as_ref())
            })
            .collect();
        let text = render(&args.format, &rows)?;
        let mut out = std::io::stdout().lock();
        if tty && !args.no_stream {
            // Docker redraws in place on a terminal.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        before = after;
    }
}

fn sample_all(recs: &[ContainerRecord]) -> Vec<Option<Sample>> {
    recs.iter().map(stats::sample).collect()
}

fn render(format: &str, rows: &[Value]) -> Result<String> {
    crate::template::rows(format, DEFAULT_TABLE, &TITLES, rows)
}

/// One container's row in Docker's `stats --format '{{json .}}'` shape; a
/// container that does not run shows zeros, as in Docker.
fn row(rec: &ContainerRecord, before: Option<&Sample>, now: Option<&Sample>) -> Value {
    let cpu = match (before, now) {
        (Some(b), Some(n)) => stats::cpu_percent(b, n),
        _ => 0.0,
    };
    let (mem, limit, pids, rx, tx) = now.map_or((0, 0, 0, 0, 0), |n| {
        (n.memory, n.memory_limit, n.pids, n.net_rx, n.net_tx)
    });
    let mem_perc = if limit == 0 {
        0.0
    } else {
        mem as f64 / limit as f64 * 100.0
    };
    json!({
        "ID": rec.id.chars().take(12).collect::<String>(),
        "Container": rec.name,
        "Name": rec.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(mem), binary_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", format::size(rx), format::size(tx)),
        "BlockIO": "--",
        "PIDs": pids.to_string(),
    })
}

/// Memory in Docker's binary units (`1.5MiB`, `7.7GiB`).
fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::binary_size;

    #[test]
    fn memory_is_shown_in_binary_units() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1023), "1023B");
        assert_eq!(binary_size(1536 * 1024), "1.50MiB");
        assert_eq!(binary_size(64 << 20), "64.00MiB");
    }
}
