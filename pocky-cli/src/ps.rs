//! `pocky ps` and the top-level `pocky inspect` (containers, then images).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use pocky_store::{ContainerRecord, ContainerStore, HealthStatus, Status, Store};

use crate::cli::{InspectArgs, PsArgs};
use crate::{format, images, netinspect};
use pocky_engine::{lookup, state};

pub fn ps(root: &Path, args: &PsArgs) -> Result<ExitCode> {
    let filter = pocky_engine::filters::ContainerFilter::parse(&args.filter)?;
    let store = Store::open(root)?;
    // As Docker: -n and -l look at every state.
    let all = args.all || args.last.is_some() || args.latest;
    let mut recs = Vec::new();
    for rec in store.containers()? {
        let Some(rec) = state::refresh_listed(&store, rec)? else {
            continue;
        };
        if all || rec.state.status == Some(Status::Running) {
            recs.push(rec);
        }
    }
    let broken = store.broken_containers()?;
    pocky_engine::broken::warn_containers(&broken);
    if all {
        recs.extend(broken.iter().map(pocky_engine::broken::placeholder));
    }
    recs.retain(|r| filter.matches(r, state_name(r)));
    // Newest first already: the last N are the first N.
    if let Some(n) = args.last.or(args.latest.then_some(1)) {
        recs.truncate(n);
    }
    let now = SystemTime::now();
    let id = |r: &ContainerRecord| {
        if args.no_trunc {
            r.id.clone()
        } else {
            r.short_id().to_owned()
        }
    };
    if args.quiet {
        for r in &recs {
            println!("{}", id(r));
        }
        return Ok(ExitCode::SUCCESS);
    }
    match args.format.as_str() {
        "json" => {
            let items: Vec<Value> = recs
                .iter()
                .map(|r| {
                    json!({
                        "Id": r.id,
                        "Names": [r.name],
                        "Image": r.image,
                        "Command": command_line(&r.command),
                        "Created": r.created as i64,
                        "State": state_name(r),
                        "Status": status_text(r, now),
                        "ExitCode": r.state.exit_code,
                        "Pid": running_pid(r),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        "table" => {
            let rows: Vec<[String; 7]> = recs
                .iter()
                .map(|r| {
                    [
                        id(r),
                        r.image.clone(),
                        quoted_command(&r.command, !args.no_trunc),
                        format::ago(time(r.created), now),
                        status_text(r, now),
                        crate::network::ports_column(&store, r),
                        r.name.clone(),
                    ]
                })
                .collect();
            images::print_table(
                &[
                    "CONTAINER ID",
                    "IMAGE",
                    "COMMAND",
                    "CREATED",
                    "STATUS",
                    "PORTS",
                    "NAMES",
                ],
                &rows,
            );
        }
        template => {
            let rows: Vec<Value> = recs
                .iter()
                .map(|r| {
                    let ports = crate::network::ports_column(&store, r);
                    json!({
                        "ID": id(r),
                        "Image": r.image,
                        "Command": quoted_command(&r.command, !args.no_trunc),
                        "CreatedAt": r.created as i64,
                        "RunningFor": format::ago(time(r.created), now),
                        "Ports": ports,
                        "Status": status_text(r, now),
                        "State": state_name(r),
                        "Names": r.name,
                    })
                })
                .collect();
            let titles = [
                ("ID", "CONTAINER ID"),
                ("Image", "IMAGE"),
                ("Command", "COMMAND"),
                ("CreatedAt", "CREATED AT"),
                ("RunningFor", "CREATED"),
                ("Ports", "PORTS"),
                ("Status", "STATUS"),
                ("State", "STATE"),
                ("Names", "NAMES"),
            ];
            print!("{}", crate::template::listing(template, &titles, &rows)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn time(unix_secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::try_from_secs_f64(unix_secs.max(0.0)).unwrap_or_default()
}

fn rfc3339(unix_secs: Option<f64>) -> String {
    match unix_secs {
        Some(t) => humantime::format_rfc3339_nanos(time(t)).to_string(),
        // Go's zero time, which Docker prints for "never".
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

fn state_name(r: &ContainerRecord) -> &'static str {
    match r.state.status {
        Some(Status::Running) if state::paused(r) => "paused",
        Some(Status::Exited) if r.state.restarting => "restarting",
        Some(Status::Running) => "running",
        Some(Status::Exited) => "exited",
        Some(Status::Created) | None => "created",
        Some(Status::Dead) => "dead",
    }
}

fn running_pid(r: &ContainerRecord) -> i32 {
    if r.state.status == Some(Status::Running) {
        r.state.pid
    } else {
        0
    }
}

/// `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
pub fn status_text(r: &ContainerRecord, now: SystemTime) -> String {
    match r.state.status {
        Some(Status::Running) => {
            let since = time(r.state.started_at.unwrap_or(r.created));
            // As Docker: a paused container shows no health.
            let note = match &r.state.health {
                _ if state::paused(r) => " (Paused)".to_owned(),
                Some(h) if h.status == HealthStatus::Starting => " (health: starting)".to_owned(),
                Some(h) => format!(" ({})", h.status.as_str()),
                None => String::new(),
            };
            format!(
                "Up {}{note}",
                format::duration(now.duration_since(since).unwrap_or_default())
            )
        }
        Some(Status::Exited) if r.state.restarting => format!(
            "Restarting ({}) {}",
            r.state.exit_code.unwrap_or(0),
            format::ago(time(r.state.finished_at.unwrap_or(r.created)), now)
        ),
        Some(Status::Exited) => format!(
            "Exited ({}) {}",
            r.state.exit_code.unwrap_or(0),
            format::ago(time(r.state.finished_at.unwrap_or(r.created)), now)
        ),
        Some(Status::Created) | None => "Created".to_owned(),
        Some(Status::Dead) => "Dead".to_owned(),
    }
}

/// The command as one line, with arguments that hold blanks or quotes in
/// single quotes so the words stay visible.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && !a.contains(|c: char| c.is_whitespace() || "'\"".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// As Docker's table shows it: cut to 20 characters with an ellipsis, then
/// quoted (`"/bin/sh -c 'echo…"`).
pub fn quoted_command(argv: &[String], truncate: bool) -> String {
    let mut line = command_line(argv);
    if truncate && line.chars().count() > 20 {
        line = line.chars().take(19).collect::<String>() + "…";
    }
    serde_json::to_string(&line).unwrap_or(line)
}

pub fn inspect(root: &Path, args: &InspectArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let mut out = Vec::new();
    for name in &args.names {
        match state::find(&store, name) {
            Ok(rec) => {
                out.push(container_json(&store, &rec)?);
                continue;
            }
            Err(pocky_engine::Error::NoSuchContainer(_)) => {}
            Err(pocky_engine::Error::BrokenContainer { id, reason }) => {
                let short = &id[..id.len().min(12)];
                bail!(
                    "container {id} has an unreadable record ({reason}): `pocky rm -f {short}` removes it"
                );
            }
            Err(e) => return Err(e.into()),
        }
        match lookup::find(&store, name) {
            Ok((image, _)) => out.push(images::inspect_json(&store, &image)?),
            Err(_) => bail!("no such object: {name}"),
        }
    }
    crate::template::print_inspect(args.format.as_deref(), out)
}

fn container_json(store: &Store, r: &ContainerRecord) -> Result<Value> {
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
        (Some(q), Some(p)) if q > 0 && p > 0 => (q as u64).saturating_mul(1_000_000_000) / p,
        _ => 0,
    };
    let has_netns = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .is_some_and(|ns| ns.iter().any(|n| n["type"] == "network"));
    let (network_mode, network_settings) = netinspect::inspect(store, r, has_netns);
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
        "Mounts": [],
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
    match pocky_engine::stats::sample(rec) {
        Some(s) => json!({"memory": s.memory, "pids": s.pids}),
        None => json!({"memory": null, "pids": null}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_and_truncate_like_docker() {
        let argv: Vec<String> = ["/bin/sh", "-c", "echo hello; sleep 5"]
            .map(String::from)
            .into();
        assert_eq!(command_line(&argv), "/bin/sh -c 'echo hello; sleep 5'");
        assert_eq!(quoted_command(&argv, true), "\"/bin/sh -c 'echo he…\"");
        assert_eq!(
            quoted_command(&argv, false),
            "\"/bin/sh -c 'echo hello; sleep 5'\""
        );
        assert_eq!(quoted_command(&["top".into()], true), "\"top\"");
    }
}
