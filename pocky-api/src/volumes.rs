//! `/volumes/...`: local named volumes.

use pocky_engine::store::VolumeRecord;
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, Ctx, Reply};

/// The volume objects `filters` keeps (also `system/df`'s).
pub fn documents(ctx: &Ctx, filters: &[String]) -> ApiResult<Vec<Value>> {
    let vols: Vec<VolumeRecord> = pocky_engine::volumes::list(ctx.store, filters)?;
    vols.iter()
        .map(|v| pocky_engine::volumes::document(ctx.store, v).map_err(ApiError::from))
        .collect()
}

pub fn list(ctx: &mut Ctx) -> ApiResult {
    let docs = documents(ctx, &ctx.filters()?)?;
    Ok(Reply::Json(200, json!({"Volumes": docs, "Warnings": []})))
}

pub fn create(ctx: &mut Ctx) -> ApiResult {
    let body = ctx.json_body()?;
    let name = body["Name"].as_str().filter(|n| !n.is_empty());
    let driver = body["Driver"]
        .as_str()
        .filter(|d| !d.is_empty())
        .unwrap_or(pocky_engine::store::LOCAL_DRIVER);
    let mut opts = std::collections::BTreeMap::new();
    if let Some(m) = body["DriverOpts"].as_object() {
        for (k, v) in m {
            let v = v
                .as_str()
                .ok_or_else(|| ApiError::bad("DriverOpts values must be strings"))?;
            opts.insert(k.clone(), v.to_owned());
        }
    }
    let labels: Vec<String> = body["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let name = pocky_engine::volumes::create(ctx.store, name, driver, &labels, &opts)?;
    let v = ctx.store.volume(&name)?;
    Ok(Reply::Json(
        201,
        pocky_engine::volumes::document(ctx.store, &v)?,
    ))
}

pub fn inspect(ctx: &mut Ctx, name: &str) -> ApiResult {
    let v = ctx.store.volume(name)?;
    Ok(Reply::Json(
        200,
        pocky_engine::volumes::document(ctx.store, &v)?,
    ))
}

pub fn remove(ctx: &mut Ctx, name: &str) -> ApiResult {
    pocky_engine::volumes::remove(ctx.store, name)?;
    Ok(Reply::Empty(204))
}

/// Unused anonymous volumes; with `all=true` (API 1.42), named ones too.
pub fn prune(ctx: &mut Ctx) -> ApiResult {
    let mut all = false;
    let mut labels = Vec::new();
    for f in ctx.filters()? {
        match f.as_str() {
            "all=true" | "all=1" => all = true,
            "all=false" | "all=0" => {}
            // label=, label!=: checked by the engine.
            _ => labels.push(f),
        }
    }
    // Before 1.42, prune removed every unused volume.
    let all = all || !ctx.at_least(1, 42);
    let removed = pocky_engine::volumes::prune_filtered(ctx.store, all, &labels)?;
    Ok(Reply::Json(
        200,
        json!({"VolumesDeleted": removed, "SpaceReclaimed": 0}),
    ))
}
