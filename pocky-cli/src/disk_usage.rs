//! `pocky system df [-v] [--format]`: the engine's disk usage
//! (`pocky_engine::disk_usage`) as Docker's summary table, or with `-v`
//! its four sections.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use pocky_engine::disk_usage::{DiskUsage, disk_usage};
use pocky_engine::store::Store;
use serde_json::{Value, json};

use crate::format;
use crate::images::print_table;

#[derive(Debug, clap::Args)]
pub struct DfArgs {
    /// Every image, container, volume and cache entry.
    #[arg(short, long)]
    pub verbose: bool,
    /// `table`, `json`, or a Go template over each summary row (Type,
    /// TotalCount, Active, Size, Reclaimable).
    #[arg(long)]
    pub format: Option<String>,
}

/// `SIZE (N%)` as Docker shows a reclaimable part of a total.
fn part(reclaimable: u64, total: u64) -> String {
    match total {
        0 => format::size_precise(reclaimable),
        t => format!(
            "{} ({}%)",
            format::size_precise(reclaimable),
            reclaimable * 100 / t
        ),
    }
}

/// Docker's four summary rows.
fn summary(u: &DiskUsage) -> Vec<Value> {
    let images_active = u.images.iter().filter(|i| i.containers > 0).count();
    let ctr_total: u64 = u.containers.iter().map(|c| c.size_rw).sum();
    let ctr_idle: u64 = u
        .containers
        .iter()
        .filter(|c| !c.running())
        .map(|c| c.size_rw)
        .sum();
    let vol_total: u64 = u.volumes.iter().map(|v| v.size).sum();
    let vol_idle: u64 = u
        .volumes
        .iter()
        .filter(|v| v.links == 0)
        .map(|v| v.size)
        .sum();
    let cache_total: u64 = u.build_cache.iter().map(|b| b.size).sum();
    let row = |t: &str, total: usize, active: usize, size: u64, reclaimable: String| {
        json!({
            "Type": t,
            "TotalCount": total.to_string(),
            "Active": active.to_string(),
            "Size": format::size_precise(size),
            "Reclaimable": reclaimable,
        })
    };
    vec![
        row(
            "Images",
            u.images.len(),
            images_active,
            u.layers_size,
            part(u.images_reclaimable(), u.layers_size),
        ),
        row(
            "Containers",
            u.containers.len(),
            u.containers.iter().filter(|c| c.running()).count(),
            ctr_total,
            part(ctr_idle, ctr_total),
        ),
        row(
            "Local Volumes",
            u.volumes.len(),
            u.volumes.iter().filter(|v| v.links > 0).count(),
            vol_total,
            part(vol_idle, vol_total),
        ),
        row(
            "Build Cache",
            u.build_cache.len(),
            0,
            cache_total,
            format::size_precise(cache_total),
        ),
    ]
}

pub fn df(root: &Path, args: &DfArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let usage = disk_usage(&store)?;
    let rows = summary(&usage);
    match (args.format.as_deref(), args.verbose) {
        (Some(f), true) if f != "table" => bail!("--format cannot be used with --verbose"),
        (_, true) => verbose(&usage),
        (Some("json"), false) => {
            for r in &rows {
                println!("{r}");
            }
        }
        (f, false) => {
            let titles = [
                ("Type", "TYPE"),
                ("TotalCount", "TOTAL"),
                ("Active", "ACTIVE"),
                ("Size", "SIZE"),
                ("Reclaimable", "RECLAIMABLE"),
            ];
            let f = f.unwrap_or(
                "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
            );
            print!("{}", crate::template::listing(f, &titles, &rows)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verbose(u: &DiskUsage) {
    let now = SystemTime::now();
    let since = |secs: f64| format::ago(UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0)), now);
    println!("Images space usage:\n");
    let mut images = Vec::new();
    for i in &u.images {
        let created = i
            .image
            .created
            .as_deref()
            .and_then(format::parse_time)
            .map_or_else(|| "N/A".to_owned(), |t| format::ago(t, now));
        let names: Vec<(String, String)> = match i.image.repo_tags.is_empty() {
            true => vec![("<none>".into(), "<none>".into())],
            false => i
                .image
                .repo_tags
                .iter()
                .map(|t| pocky_engine::lookup::familiar(t))
                .collect(),
        };
        for (repo, tag) in names {
            images.push([
                repo,
                tag,
                i.image.short_id().to_owned(),
                created.clone(),
                format::size(i.image.size),
                format::size(i.shared_size),
                format::size(i.unique_size()),
                i.containers.to_string(),
            ]);
        }
    }
    print_table(
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
        &images,
    );
    println!("\nContainers space usage:\n");
    let containers: Vec<[String; 8]> = u
        .containers
        .iter()
        .map(|c| {
            let r = &c.record;
            [
                r.short_id().to_owned(),
                pocky_engine::lookup::familiar(&r.image).0,
                crate::ps::quoted_command(&r.command, true),
                c.volumes.to_string(),
                format::size(c.size_rw),
                since(r.created),
                pocky_engine::human::status_text(r, now),
                r.name.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "LOCAL VOLUMES",
            "SIZE",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        &containers,
    );
    println!("\nLocal Volumes space usage:\n");
    let volumes: Vec<[String; 3]> = u
        .volumes
        .iter()
        .map(|v| {
            [
                v.volume.name.clone(),
                v.links.to_string(),
                format::size_precise(v.size),
            ]
        })
        .collect();
    print_table(&["VOLUME NAME", "LINKS", "SIZE"], &volumes);
    let cache_total: u64 = u.build_cache.iter().map(|b| b.size).sum();
    println!(
        "\nBuild cache usage: {}\n",
        format::size_precise(cache_total)
    );
    let cache: Vec<[String; 7]> = u
        .build_cache
        .iter()
        .map(|b| {
            let at = since(b.image.pulled as f64);
            [
                b.image.short_id().to_owned(),
                "regular".to_owned(),
                format::size(b.size),
                at.clone(),
                at,
                "0".to_owned(),
                b.shared.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "CACHE ID",
            "CACHE TYPE",
            "SIZE",
            "CREATED",
            "LAST USED",
            "USAGE",
            "SHARED",
        ],
        &cache,
    );
}
