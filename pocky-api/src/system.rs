//! `/_ping`, `/version`, `/info`, `/events` and `/system/df`.

use std::io::Write;
use std::time::SystemTime;

use pocky_engine::events::{self, EventFilter};
use pocky_engine::store::{ContainerStore, ImageStore, Status};
use serde_json::{Value, json};

use crate::{ApiResult, Ctx, Reply, http};

pub fn ping() -> ApiResult {
    Ok(Reply::Raw(200, "text/plain; charset=utf-8", b"OK".to_vec()))
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

pub fn version() -> ApiResult {
    let v = env!("CARGO_PKG_VERSION");
    Ok(Reply::Json(
        200,
        json!({
            "Platform": {"Name": "pocky"},
            "Components": [{
                "Name": "Engine",
                "Version": v,
                "Details": {
                    "ApiVersion": crate::API_VERSION,
                    "MinAPIVersion": crate::MIN_API_VERSION,
                    "Os": "linux",
                    "Arch": arch(),
                    "KernelVersion": kernel(),
                },
            }],
            "Version": v,
            "ApiVersion": crate::API_VERSION,
            "MinAPIVersion": crate::MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel(),
            "BuildTime": "",
        }),
    ))
}

pub fn info(ctx: &mut Ctx) -> ApiResult {
    let store = ctx.store;
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for rec in store.containers()? {
        let Some(rec) = pocky_engine::state::refresh_listed(store, rec)? else {
            continue;
        };
        match rec.state.status {
            Some(Status::Running) if pocky_engine::state::paused(&rec) => paused += 1,
            Some(Status::Running) => running += 1,
            _ => stopped += 1,
        }
    }
    let images = store.images()?.len();
    let storage = pocky_engine::storage::info(store)?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cgroup_version = match std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        true => "2",
        false => "1",
    };
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_total = nix::sys::sysinfo::sysinfo()
        .map(|s| s.ram_total())
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".into());
    Ok(Reply::Json(
        200,
        json!({
            "ID": "pocky",
            "Containers": running + paused + stopped,
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": stopped,
            "Images": images,
            "Driver": storage.driver.as_str(),
            "DriverStatus": [["Reason", storage.reason]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Log": ["json-file"],
            },
            "MemoryLimit": true,
            "SwapLimit": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "PidsLimit": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "KernelVersion": kernel(),
            "OperatingSystem": os,
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "NCPU": ncpu,
            "MemTotal": mem_total,
            "DockerRootDir": store.layout().root(),
            "Name": hostname,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"pocky-runtime": {"path": "pocky-runtime"}},
            "DefaultRuntime": "pocky-runtime",
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": false},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Labels": [],
            "ExperimentalBuild": false,
            "Warnings": [],
        }),
    ))
}

/// Recorded events from `since`, then (without `until`) what comes, one
/// JSON object per line until the client goes.
pub fn events(ctx: &mut Ctx) -> ApiResult {
    let filter = EventFilter::parse(&ctx.filters()?)?;
    let since = ctx.time("since")?;
    let until = ctx.time("until")?;
    let recorded = match since {
        Some(s) => events::read(ctx.store, s, until, &filter)?,
        None => Vec::new(),
    };
    let mut out = http::Chunked::start(&mut *ctx.writer, 200, "application/json", Vec::new())?;
    let mut send = |e: &events::Event| {
        serde_json::to_vec(e)
            .map(|mut line| {
                line.push(b'\n');
                out.write_all(&line).is_ok()
            })
            .unwrap_or(false)
    };
    for e in &recorded {
        if !send(e) {
            return Ok(Reply::Written { keep: false });
        }
    }
    if until.is_none_or(|u| u > SystemTime::now()) {
        events::follow(ctx.store, until, &filter, &mut send)?;
    }
    let _ = out.finish();
    Ok(Reply::Written { keep: true })
}

pub fn df(ctx: &mut Ctx) -> ApiResult {
    let store = ctx.store;
    let mut containers = Vec::new();
    for rec in store.containers()? {
        let Some(rec) = pocky_engine::state::refresh_listed(store, rec)? else {
            continue;
        };
        let (rw, all) = pocky_engine::inspect::sizes(store, &rec).unwrap_or((0, 0));
        containers.push(json!({
            "Id": rec.id,
            "Names": [format!("/{}", rec.name)],
            "Image": rec.image,
            "ImageID": rec.image_id,
            "Created": rec.created as i64,
            "State": pocky_engine::inspect::state_name(&rec),
            "SizeRw": rw,
            "SizeRootFs": all,
        }));
    }
    let images: Vec<Value> = crate::images::rows(ctx)?;
    let layers: i64 = images
        .iter()
        .filter_map(|i| i["Size"].as_i64())
        .sum::<i64>();
    let volumes: Vec<Value> = crate::volumes::documents(ctx, &[])?;
    Ok(Reply::Json(
        200,
        json!({
            "LayersSize": layers,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        }),
    ))
}
