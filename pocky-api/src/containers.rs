//! `/containers/...`: listing, create, inspect, remove, prune, rename,
//! update, top, changes and stats. Starting, stopping and waiting are in
//! `lifecycle`; attach and logs in `attach`; `archive` in `archive`.

use std::time::SystemTime;

use pocky_engine::store::{ContainerRecord, ContainerStore, Status};
use pocky_engine::{inspect, lookup, state};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, Ctx, Reply};

pub use crate::archive::{archive_get, archive_put, archive_stat};
pub use crate::lifecycle::{kill, pause, restart, start, stop, unpause, wait};

/// The one-line command of a listing.
fn command_line(argv: &[String]) -> String {
    argv.join(" ")
}

/// `NetworkSettings.Ports` (`{"80/tcp": [{"HostIp","HostPort"}]}`) as a
/// listing's `Ports` (`[{"PrivatePort", "PublicPort", "Type", "IP"}]`).
fn port_list(ports: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(map) = ports.as_object() else {
        return out;
    };
    for (key, bindings) in map {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let private: u16 = port.parse().unwrap_or(0);
        match bindings.as_array().filter(|b| !b.is_empty()) {
            None => out.push(json!({"PrivatePort": private, "Type": proto})),
            Some(list) => {
                for b in list {
                    let public: u16 = b["HostPort"]
                        .as_str()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    out.push(json!({
                        "IP": b["HostIp"].as_str().filter(|s| !s.is_empty()).unwrap_or("0.0.0.0"),
                        "PrivatePort": private,
                        "PublicPort": public,
                        "Type": proto,
                    }));
                }
            }
        }
    }
    out
}

/// One row of `GET /containers/json`, from the inspect document.
fn row(ctx: &Ctx, rec: &ContainerRecord, size: bool) -> ApiResult<Value> {
    let doc = inspect::container(ctx.store, rec)?;
    let mut v = json!({
        "Id": rec.id,
        "Names": [format!("/{}", rec.name)],
        "Image": rec.image,
        "ImageID": rec.image_id,
        "Command": command_line(&rec.command),
        "Created": rec.created as i64,
        "Ports": port_list(&doc["NetworkSettings"]["Ports"]),
        "Labels": rec.labels,
        "State": inspect::state_name(rec),
        "Status": pocky_engine::human::status_text(rec, SystemTime::now()),
        "HostConfig": {"NetworkMode": doc["HostConfig"]["NetworkMode"]},
        "NetworkSettings": {"Networks": doc["NetworkSettings"]["Networks"]},
        "Mounts": doc["Mounts"],
    });
    if size {
        let (rw, all) = inspect::sizes(ctx.store, rec).unwrap_or((0, 0));
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(all);
    }
    Ok(v)
}

pub fn list(ctx: &mut Ctx) -> ApiResult {
    let filter = pocky_engine::filters::ContainerFilter::parse(&ctx.filters()?)?;
    let all = ctx.flag("all")?;
    let size = ctx.flag("size")?;
    let limit: Option<i64> = ctx.number("limit")?;
    let mut recs = Vec::new();
    for rec in ctx.store.containers()? {
        let Some(rec) = state::refresh_listed(ctx.store, rec)? else {
            continue;
        };
        let listed =
            all || limit.is_some_and(|l| l > 0) || rec.state.status == Some(Status::Running);
        if listed && filter.matches(ctx.store, &rec, inspect::state_name(&rec)) {
            recs.push(rec);
        }
    }
    if let Some(n) = limit
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0)
    {
        recs.truncate(n);
    }
    let mut rows = Vec::new();
    for rec in &recs {
        match row(ctx, rec, size) {
            Ok(v) => rows.push(v),
            // Removed while the listing ran: not listed.
            Err(e) if e.status == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Reply::Json(200, Value::Array(rows)))
}

pub fn create(ctx: &mut Ctx) -> ApiResult {
    let name = ctx.query("name").map(str::to_owned);
    let platform = ctx.query("platform").map(str::to_owned);
    let body = ctx.json_body()?;
    let parsed = crate::create_body::parse(&body, name.as_deref(), platform.as_deref())?;
    // The API never pulls on create: a 404 makes the client pull first.
    let Some((image, _)) = lookup::find_local(ctx.store, &parsed.image)? else {
        return Err(ApiError::not_found(format!(
            "No such image: {}",
            parsed.image
        )));
    };
    let created = pocky_engine::create::create(
        ctx.store,
        &parsed.request,
        &parsed.image,
        &image,
        &parsed.cmd,
    )?;
    Ok(Reply::Json(
        201,
        json!({"Id": created.record.id, "Warnings": []}),
    ))
}

pub fn inspect(ctx: &mut Ctx, id: &str) -> ApiResult {
    let rec = state::find(ctx.store, id)?;
    let mut doc = inspect::container(ctx.store, &rec)?;
    if ctx.flag("size")? {
        let (rw, all) = inspect::sizes(ctx.store, &rec).unwrap_or((0, 0));
        doc["SizeRw"] = json!(rw);
        doc["SizeRootFs"] = json!(all);
    }
    Ok(Reply::Json(200, doc))
}

pub fn remove(ctx: &mut Ctx, id: &str) -> ApiResult {
    let force = ctx.flag("force")?;
    let volumes = ctx.flag("v")?;
    if ctx.flag("link")? {
        return Err(ApiError::bad("pocky has no links to remove"));
    }
    pocky_engine::lifecycle::remove(ctx.store, id, force, volumes)?;
    Ok(Reply::Empty(204))
}

pub fn prune(ctx: &mut Ctx) -> ApiResult {
    let filters = ctx.filters()?;
    let report = pocky_engine::prune::prune_containers(ctx.store, &filters)?;
    Ok(Reply::Json(
        200,
        json!({"ContainersDeleted": report.containers, "SpaceReclaimed": report.reclaimed}),
    ))
}

pub fn rename(ctx: &mut Ctx, id: &str) -> ApiResult {
    let name = ctx
        .query("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("a new name is required (name=...)"))?
        .to_owned();
    pocky_engine::lifecycle::rename(ctx.store, id, &name)?;
    Ok(Reply::Empty(204))
}

pub fn update(ctx: &mut Ctx, id: &str) -> ApiResult {
    let body = ctx.json_body()?;
    let o = body
        .as_object()
        .ok_or_else(|| ApiError::bad("the update must be a JSON object"))?;
    let int = |k: &str| -> ApiResult<Option<i64>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad(format!("{k} must be an integer"))),
        }
    };
    let mut req = pocky_engine::update::UpdateRequest {
        memory: int("Memory")?.filter(|m| *m > 0).map(|m| m.to_string()),
        cpus: int("NanoCpus")?.filter(|n| *n > 0).map(|n| n as f64 / 1e9),
        cpu_shares: int("CpuShares")?
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0),
        pids_limit: int("PidsLimit")?.filter(|p| *p != 0),
        restart: None,
        more: pocky_engine::RunRequest {
            cpuset_cpus: o
                .get("CpusetCpus")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            cpuset_mems: o
                .get("CpusetMems")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            cpu_period: int("CpuPeriod")?
                .filter(|v| *v > 0)
                .map(|v| v.unsigned_abs()),
            cpu_quota: int("CpuQuota")?.filter(|v| *v != 0),
            cpu_rt_period: int("CpuRealtimePeriod")?
                .filter(|v| *v > 0)
                .map(|v| v.unsigned_abs()),
            cpu_rt_runtime: int("CpuRealtimeRuntime")?.filter(|v| *v != 0),
            memory_swap: int("MemorySwap")?
                .filter(|v| *v != 0)
                .map(|v| v.to_string()),
            memory_reservation: int("MemoryReservation")?
                .filter(|v| *v > 0)
                .map(|v| v.to_string()),
            blkio_weight: int("BlkioWeight")?
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v > 0),
            ..Default::default()
        },
    };
    if let Some(p) = o.get("RestartPolicy").and_then(Value::as_object)
        && let Some(name) = p
            .get("Name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    {
        let n = p
            .get("MaximumRetryCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        req.restart = Some(match name {
            "on-failure" if n > 0 => format!("on-failure:{n}"),
            other => other.to_owned(),
        });
    }
    pocky_engine::update::update(ctx.store, id, &req)?;
    Ok(Reply::Json(200, json!({"Warnings": []})))
}

pub fn top(ctx: &mut Ctx, id: &str) -> ApiResult {
    let args: Vec<String> = ctx
        .query("ps_args")
        .map(|a| a.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let style = pocky_engine::top::Style::parse(&args)?;
    let top = pocky_engine::top::top(ctx.store, id, style)?;
    Ok(Reply::Json(
        200,
        serde_json::to_value(top).unwrap_or_default(),
    ))
}

pub fn changes(ctx: &mut Ctx, id: &str) -> ApiResult {
    let changes = pocky_engine::diff::diff(ctx.store, id)?;
    let list: Vec<Value> = changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                pocky_engine::diff::ChangeKind::Modified => 0,
                pocky_engine::diff::ChangeKind::Added => 1,
                pocky_engine::diff::ChangeKind::Deleted => 2,
            };
            json!({"Path": c.path, "Kind": kind})
        })
        .collect();
    Ok(Reply::Json(200, Value::Array(list)))
}

pub use crate::stats::stats;
