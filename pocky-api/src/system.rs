//! `/_ping`, `/version`, `/info`, `/events` and `/system/df`.

use std::io::Write;
use std::time::SystemTime;

use pocky_engine::events::{self, EventFilter};
use serde_json::{Value, json};

use crate::{ApiResult, Ctx, Reply, http};

pub fn ping() -> ApiResult {
    Ok(Reply::Raw(200, "text/plain; charset=utf-8", b"OK".to_vec()))
}

pub fn version() -> ApiResult {
    Ok(Reply::Json(
        200,
        pocky_engine::system_info::version(crate::API_VERSION, crate::MIN_API_VERSION),
    ))
}

pub fn info(ctx: &mut Ctx) -> ApiResult {
    Ok(Reply::Json(
        200,
        pocky_engine::system_info::info(ctx.store)?,
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

/// `GET /system/df`: the engine's disk usage in Docker's shapes.
pub fn df(ctx: &mut Ctx) -> ApiResult {
    let usage = pocky_engine::disk_usage::disk_usage(ctx.store)?;
    let images: Vec<Value> = usage
        .images
        .iter()
        .map(|i| {
            let mut row = crate::images::row(ctx, &i.image);
            row["SharedSize"] = json!(i.shared_size);
            row["Containers"] = json!(i.containers);
            row
        })
        .collect();
    let containers: Vec<Value> = usage
        .containers
        .iter()
        .map(|c| {
            let rec = &c.record;
            json!({
                "Id": rec.id,
                "Names": [format!("/{}", rec.name)],
                "Image": rec.image,
                "ImageID": rec.image_id,
                "Command": rec.command.join(" "),
                "Created": rec.created as i64,
                "State": pocky_engine::inspect::state_name(rec),
                "SizeRw": c.size_rw,
                "SizeRootFs": c.size_root_fs,
            })
        })
        .collect();
    let mut volumes = Vec::new();
    for v in &usage.volumes {
        let mut doc = pocky_engine::volumes::document(ctx.store, &v.volume)?;
        doc["UsageData"] = json!({"Size": v.size, "RefCount": v.links});
        volumes.push(doc);
    }
    let cache: Vec<Value> = usage
        .build_cache
        .iter()
        .map(|b| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(b.image.pulled);
            let at = humantime::format_rfc3339_seconds(at).to_string();
            json!({
                "ID": b.image.short_id(),
                "Parent": "",
                "Type": "regular",
                "Description": "pocky build step",
                "InUse": false,
                "Shared": b.shared,
                "Size": b.size,
                "CreatedAt": at,
                "LastUsedAt": at,
                "UsageCount": 0,
            })
        })
        .collect();
    Ok(Reply::Json(
        200,
        json!({
            "LayersSize": usage.layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": cache,
        }),
    ))
}
