//! Docker's inspect documents for containers and images, built from the
//! records and the bundle: one builder for the CLI's `inspect` and the API
//! service's `/containers/{id}/json` and `/images/{name}/json`.

mod host;
mod limits;
mod mounts;
mod network;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use pocky_store::{ContainerRecord, ImageRecord, ImageStore, Status, Store};
use serde_json::{Value, json};

use crate::state;

/// Docker's `SizeRw` (the writable layer's bytes) and `SizeRootFs` (that
/// plus the image's), for `inspect -s`.
pub fn sizes(store: &Store, r: &ContainerRecord) -> Result<(u64, u64)> {
    let rw = crate::prune::tree_size(&store.container_dir(&r.id)?.join("upper"));
    let image = store
        .find_image(&pocky_store::ImageQuery::IdPrefix(r.image_id.clone()))
        .map_or(0, |i| i.size);
    Ok((rw, rw + image))
}

/// Docker's container inspect document.
pub fn container(store: &Store, r: &ContainerRecord) -> Result<Value> {
    let dir = store.container_dir(&r.id)?;
    // A bundle that cannot be read leaves its fields empty rather than
    // hiding the record, which is what a user debugging it needs to see.
    let spec: Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or(Value::Null);
    let args: Vec<String> = spec
        .pointer("/process/args")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_else(|| r.command.clone());
    let (path, rest) = args
        .split_first()
        .map_or((String::new(), &[][..]), |(p, a)| (p.clone(), a));
    let running = r.state.status == Some(Status::Running);
    let res = spec
        .pointer("/linux/resources")
        .cloned()
        .unwrap_or(Value::Null);
    let nano_cpus = match (
        res.pointer("/cpu/quota").and_then(Value::as_i64),
        res.pointer("/cpu/period").and_then(Value::as_u64),
    ) {
        (Some(q), Some(p)) if q > 0 => pocky_cgroup::nano_cpus_of(q as u64, p),
        _ => 0,
    };
    let has_netns = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .is_some_and(|ns| ns.iter().any(|n| n["type"] == "network"));
    let (network_mode, network_settings) = network::inspect(store, r, has_netns);
    let user = match (
        spec.pointer("/process/user/uid").and_then(Value::as_u64),
        spec.pointer("/process/user/gid").and_then(Value::as_u64),
    ) {
        (Some(0) | None, Some(0) | None) => String::new(),
        (Some(u), Some(g)) => format!("{u}:{g}"),
        (Some(u), None) => u.to_string(),
        (None, Some(g)) => format!("0:{g}"),
    };
    let mut v = json!({
        "Id": r.id,
        "Name": format!("/{}", r.name),
        "Created": rfc3339(Some(r.created)),
        "Path": path,
        "Args": rest,
        "State": {
            "Status": state_name(r),
            "Running": running,
            "Paused": state::paused(r),
            "Restarting": r.state.restarting,
            "OOMKilled": r.state.oom_killed,
            "Dead": false,
            "Pid": running_pid(r),
            "ExitCode": r.state.exit_code.unwrap_or(0),
            "Error": r.state.error.clone().unwrap_or_default(),
            "StartedAt": rfc3339(r.state.started_at),
            "FinishedAt": rfc3339(r.state.finished_at),
        },
        "Image": r.image_id,
        "RestartCount": r.state.restart_count,
        "Config": {
            "Hostname": r.hostname,
            "Env": spec.pointer("/process/env").cloned().unwrap_or_else(|| json!([])),
            "Cmd": r.command,
            "Image": r.image,
            "WorkingDir": spec.pointer("/process/cwd").cloned().unwrap_or_else(|| json!("")),
            "User": user,
            "Tty": r.tty,
            "OpenStdin": r.interactive,
            "Labels": r.labels,
        },
        "HostConfig": {
            "Memory": res.pointer("/memory/limit").and_then(Value::as_i64).unwrap_or(0),
            "NanoCpus": nano_cpus,
            "CpuShares": res.pointer("/cpu/shares").and_then(Value::as_u64).unwrap_or(0),
            "PidsLimit": res.pointer("/pids/limit").and_then(Value::as_i64),
            "AutoRemove": r.auto_remove,
            "RestartPolicy": restart_policy_json(r.restart_policy.as_deref()),
            "NetworkMode": network_mode,
            "ReadonlyRootfs": spec.pointer("/root/readonly").and_then(Value::as_bool).unwrap_or(false),
        },
        "NetworkSettings": network_settings,
        "Mounts": mounts::mounts(store, &spec),
        "Bundle": dir,
        "Cgroup": r.cgroup,
    });
    // Docker leaves both out when nothing set them.
    if let Some(sig) = &r.stop_signal {
        v["Config"]["StopSignal"] = json!(sig);
    }
    if let Some(t) = r.stop_timeout {
        v["Config"]["StopTimeout"] = json!(t);
    }
    if let Some(hc) = &r.healthcheck {
        v["Config"]["Healthcheck"] = json!(hc);
    }
    if let Some(h) = &r.state.health {
        v["State"]["Health"] = health_json(h);
    }
    host::fill(store, r, &dir, &mut v);
    limits::fill(&spec, &mut v);
    if running {
        v["Stats"] = stats_json(r);
    }
    Ok(v)
}

/// Docker's `State.Health`: Status, FailingStreak, Log (oldest first).
fn health_json(h: &pocky_store::Health) -> Value {
    let log: Vec<Value> = h
        .log
        .iter()
        .map(|l| {
            json!({
                "Start": rfc3339(Some(l.start)),
                "End": rfc3339(Some(l.end)),
                "ExitCode": l.exit_code,
                "Output": l.output,
            })
        })
        .collect();
    json!({"Status": h.status.as_str(), "FailingStreak": h.failing_streak, "Log": log})
}

/// `{"Name": "on-failure", "MaximumRetryCount": 3}`, as Docker shows it.
fn restart_policy_json(policy: Option<&str>) -> Value {
    let policy = policy.unwrap_or("no");
    let (name, max) = policy.split_once(':').unwrap_or((policy, "0"));
    json!({"Name": name, "MaximumRetryCount": max.parse::<u32>().unwrap_or(0)})
}

fn stats_json(rec: &ContainerRecord) -> Value {
    match crate::stats::sample(rec) {
        Some(s) => json!({"memory": s.memory, "pids": s.pids}),
        None => json!({"memory": null, "pids": null}),
    }
}

pub fn time(unix_secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::try_from_secs_f64(unix_secs.max(0.0)).unwrap_or_default()
}

pub fn rfc3339(unix_secs: Option<f64>) -> String {
    match unix_secs {
        Some(t) => humantime::format_rfc3339_nanos(time(t)).to_string(),
        // Go's zero time, which Docker prints for "never".
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

pub fn state_name(r: &ContainerRecord) -> &'static str {
    match r.state.status {
        Some(Status::Running) if state::paused(r) => "paused",
        Some(Status::Exited) if r.state.restarting => "restarting",
        Some(Status::Running) => "running",
        Some(Status::Exited) => "exited",
        Some(Status::Created) | None => "created",
        Some(Status::Dead) => "dead",
    }
}

pub fn running_pid(r: &ContainerRecord) -> i32 {
    if r.state.status == Some(Status::Running) {
        r.state.pid
    } else {
        0
    }
}

/// Docker's image inspect document, plus pocky's `Manifest` and `ChainIDs`.
pub fn image(store: &Store, image: &ImageRecord) -> Result<Value> {
    let config: Value = serde_json::from_slice(&store.get_blob(&image.id)?)
        .with_context(|| format!("parsing config of image {}", image.id))?;
    let manifest: Value = serde_json::from_slice(&store.get_blob(&image.manifest_digest)?)
        .with_context(|| format!("parsing manifest of image {}", image.id))?;
    Ok(json!({
        "Id": image.id,
        "RepoTags": image.repo_tags.iter().map(|t| familiar_tag(t)).collect::<Vec<_>>(),
        "RepoDigests": image.repo_digests.iter().map(|d| crate::lookup::familiar_digest(d)).collect::<Vec<_>>(),
        "Created": image.created,
        "Os": config.get("os"),
        "Architecture": config.get("architecture"),
        "Variant": config.get("variant"),
        "Author": config.get("author"),
        "Config": config.get("config"),
        "Size": image.size,
        "RootFS": {"Type": "layers", "Layers": image.diff_ids},
        "Manifest": {"Digest": image.manifest_digest, "MediaType": manifest.get("mediaType"), "Layers": manifest.get("layers")},
        "ChainIDs": image.chain_ids,
    }))
}

fn familiar_tag(canonical: &str) -> String {
    let (repo, tag) = crate::lookup::familiar(canonical);
    format!("{repo}:{tag}")
}
