//! Images in and out through the API: `POST /commit`, import
//! (`POST /images/create?fromSrc=-`) and `GET /containers/{id}/export`.

use pocky_engine::commit::CommitRequest;
use pocky_engine::import_export::ImportRequest;
use serde_json::json;

use crate::archive::stream_tar;
use crate::{ApiError, ApiResult, Ctx, Reply};

/// `repo` and `tag` query parameters as one reference, if any.
fn reference(ctx: &Ctx) -> Option<String> {
    let repo = ctx.query("repo").filter(|r| !r.is_empty())?;
    Some(match ctx.query("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_owned(),
    })
}

/// Docker sends each `--change` as its own `changes` parameter (older
/// clients one parameter with newlines).
fn changes(ctx: &Ctx) -> Vec<String> {
    ctx.query_all("changes")
        .iter()
        .flat_map(|c| c.lines())
        .filter(|c| !c.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn commit(ctx: &mut Ctx) -> ApiResult {
    let container = ctx
        .query("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad("container is required"))?
        .to_owned();
    // The body may carry a container config to apply; pocky takes the
    // container's own and the `changes`, as the docker CLI sends them.
    ctx.json_body().ok();
    let pause = match ctx.query("pause") {
        None | Some("") => true,
        Some(_) => ctx.flag("pause")?,
    };
    let req = CommitRequest {
        container,
        reference: reference(ctx),
        author: ctx
            .query("author")
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        message: ctx
            .query("comment")
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        changes: changes(ctx),
        pause,
    };
    let image = pocky_engine::commit::commit(ctx.store, &req)?;
    Ok(Reply::Json(201, json!({"Id": image.id})))
}

/// `fromSrc=-`: the body is the tar. A URL source is refused: the service
/// fetches nothing on a client's behalf.
pub fn import(ctx: &mut Ctx) -> ApiResult {
    let src = ctx.query("fromSrc").unwrap_or_default().to_owned();
    if src != "-" {
        return Err(ApiError::bad(format!(
            "pocky imports only from the request body (fromSrc=-), not from {src:?}"
        )));
    }
    let req = ImportRequest {
        reference: reference(ctx),
        message: ctx
            .query("message")
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        changes: changes(ctx),
        platform: ctx
            .query("platform")
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        source: "-".to_owned(),
    };
    let store = ctx.store;
    let mut body = ctx.body()?;
    let result = pocky_engine::import_export::import(store, &mut body, &req);
    ctx.body_read = body.drain(64 * 1024 * 1024);
    let image = result?;
    let line = format!("{}\r\n", json!({"status": image.id}));
    Ok(Reply::Raw(200, "application/json", line.into_bytes()))
}

pub fn export(ctx: &mut Ctx, id: &str) -> ApiResult {
    // A missing container is a 404 before anything is sent.
    pocky_engine::state::find(ctx.store, id)?;
    let store = ctx.store;
    stream_tar(ctx, Vec::new(), &format!("export of {id}"), |out| {
        pocky_engine::import_export::export(store, id, out)
    })
}

/// `GET /images/{name}/get` and `GET /images/get?names=a&names=b`.
pub fn save(ctx: &mut Ctx, name: Option<&str>) -> ApiResult {
    let names: Vec<String> = match name {
        Some(n) => vec![n.to_owned()],
        None => ctx
            .query_all("names")
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    if names.is_empty() {
        return Err(ApiError::bad("names is required"));
    }
    // Every image is looked up first, so a missing one is a 404, not a
    // broken archive.
    for n in &names {
        pocky_engine::lookup::find(ctx.store, n)?;
    }
    let store = ctx.store;
    stream_tar(ctx, Vec::new(), &format!("save of {names:?}"), |out| {
        pocky_engine::save_load::save(store, &names, out)
    })
}

/// `POST /images/load`: the body is the archive; Docker's answer is a
/// stream of `{"stream": "Loaded image: ...\n"}` lines.
pub fn load(ctx: &mut Ctx) -> ApiResult {
    // `quiet` only silences progress, which pocky's load has none of.
    ctx.flag("quiet")?;
    let platform = ctx
        .query("platform")
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    let store = ctx.store;
    let mut body = ctx.body()?;
    let result = pocky_engine::save_load::load(store, &mut body, platform.as_deref());
    ctx.body_read = body.drain(64 * 1024 * 1024);
    let loaded = result?;
    let mut text = Vec::new();
    for l in loaded {
        let lines = match l.names.is_empty() {
            true => vec![format!("Loaded image ID: {}\n", l.id)],
            false => l
                .names
                .iter()
                .map(|n| format!("Loaded image: {n}\n"))
                .collect(),
        };
        for line in lines {
            text.extend_from_slice(json!({"stream": line}).to_string().as_bytes());
            text.extend_from_slice(b"\r\n");
        }
    }
    Ok(Reply::Raw(200, "application/json", text))
}
