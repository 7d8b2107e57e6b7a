//! `/images/...`: pull (with Docker's JSON progress), list, inspect,
//! remove and prune.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pocky_engine::progress::{LayerProgress, PullProgress};
use pocky_engine::store::{ImageRecord, ImageStore};
use pocky_engine::{inspect, lookup};
use pocky_registry::{Platform, Reference};
use serde_json::{Value, json};

use crate::http::{self, Stream};
use crate::{ApiError, ApiResult, Ctx, Reply};

/// The response of a pull: started by the first message, so that a pull
/// that fails before it reports anything gets a plain error status.
struct Sink {
    /// The connection until the first message, then the response on it.
    idle: Option<Stream>,
    out: Option<http::Chunked<Stream>>,
    broken: bool,
}

impl Sink {
    fn started(&self) -> bool {
        self.idle.is_none()
    }

    fn send(&mut self, v: &Value) {
        if self.broken {
            return;
        }
        if let Some(w) = self.idle.take() {
            match http::Chunked::start(w, 200, "application/json", Vec::new()) {
                Ok(c) => self.out = Some(c),
                Err(_) => self.broken = true,
            }
        }
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        if let Some(out) = self.out.as_mut() {
            self.broken = out.write_all(&line).is_err();
        }
    }

    /// Ends the response; false when the connection is no good after it.
    fn finish(&mut self) -> bool {
        match self.out.take() {
            Some(out) if !self.broken => out.finish().is_ok(),
            _ => false,
        }
    }
}

#[derive(Clone)]
struct JsonProgress(Arc<Mutex<Sink>>);

impl JsonProgress {
    fn send(&self, v: Value) {
        if let Ok(mut s) = self.0.lock() {
            s.send(&v);
        }
    }
}

impl PullProgress for JsonProgress {
    fn line(&self, msg: &str) {
        // "latest: Pulling from library/busybox": the id is before the colon.
        match msg.split_once(": ") {
            Some((id, status)) if !id.contains(' ') => {
                self.send(json!({"status": status, "id": id}));
            }
            _ => self.send(json!({"status": msg})),
        }
    }
    fn layer(&self, short_id: &str, size: u64) -> Box<dyn LayerProgress> {
        Box::new(Layer {
            out: self.clone(),
            id: short_id.to_owned(),
            total: size,
            done: Mutex::new((0, 0)),
        })
    }
}

struct Layer {
    out: JsonProgress,
    id: String,
    total: u64,
    /// Bytes read, and at how many the last message was sent.
    done: Mutex<(u64, u64)>,
}

/// A message per this many bytes: progress without flooding the client.
const STEP: u64 = 512 * 1024;

impl LayerProgress for Layer {
    fn state(&self, msg: &'static str) {
        self.out.send(json!({"status": msg, "id": self.id}));
    }
    fn finish(&self, msg: &'static str) {
        self.out
            .send(json!({"status": msg, "id": self.id, "progressDetail": {}}));
    }
    fn advance(&self, n: u64) {
        let Ok(mut d) = self.done.lock() else { return };
        d.0 += n;
        if d.0 - d.1 < STEP && d.0 < self.total {
            return;
        }
        d.1 = d.0;
        let current = d.0;
        drop(d);
        self.out.send(json!({
            "status": "Downloading",
            "id": self.id,
            "progressDetail": {"current": current, "total": self.total},
        }));
    }
}

/// `POST /images/create?fromImage=busybox&tag=latest`: a pull. Importing
/// (`fromSrc`) is the image issue's.
pub fn pull(ctx: &mut Ctx) -> ApiResult {
    if ctx.query("fromSrc").is_some_and(|s| !s.is_empty()) {
        return crate::image_io::import(ctx);
    }
    let image = ctx
        .query("fromImage")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("fromImage is required"))?
        .to_owned();
    let tag = ctx
        .query("tag")
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let reference = match &tag {
        // A digest comes as the tag too (`tag=sha256:...`).
        Some(t) if t.starts_with("sha256:") => Reference::parse(&format!("{image}@{t}")),
        Some(t) if !image.contains('@') => Reference::with_tag(&image, t),
        _ => Reference::parse(&image),
    }
    .map_err(|e| ApiError::bad(format!("invalid reference format: {e}")))?;
    let platform = match ctx.query("platform").filter(|p| !p.is_empty()) {
        Some(p) => Platform::parse(p).map_err(|e| ApiError::bad(e.to_string()))?,
        None => Platform::host(),
    };
    let client = crate::registry_auth::client(ctx, &reference.registry)?;
    let sink = Arc::new(Mutex::new(Sink {
        idle: Some(ctx.writer.try_clone()?),
        out: None,
        broken: false,
    }));
    let progress = JsonProgress(sink.clone());
    let result = pocky_engine::pull::pull(ctx.store, &client, &reference, &platform, &progress);
    let Ok(mut s) = sink.lock() else {
        return Ok(Reply::Written { keep: false });
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) if !s.started() => return Err(e.into()),
        Err(e) => {
            let msg = pocky_engine::one_line(&e);
            s.send(&json!({"errorDetail": {"message": msg}, "error": msg}));
            return Ok(Reply::Written { keep: s.finish() });
        }
    };
    s.send(&json!({"status": format!("Digest: {}", outcome.manifest_digest)}));
    let status = match outcome.downloaded {
        true => "Downloaded newer image for",
        false => "Image is up to date for",
    };
    s.send(&json!({"status": format!("Status: {status} {reference}")}));
    Ok(Reply::Written { keep: s.finish() })
}

fn created_unix(image: &ImageRecord) -> i64 {
    image
        .created
        .as_deref()
        .and_then(pocky_engine::human::parse_time)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(image.pulled as i64, |d| d.as_secs() as i64)
}

fn row(ctx: &Ctx, image: &ImageRecord) -> Value {
    let config: Value = ctx
        .store
        .get_blob(&image.id)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let tags: Vec<String> = image
        .repo_tags
        .iter()
        .map(|t| {
            let (repo, tag) = lookup::familiar(t);
            format!("{repo}:{tag}")
        })
        .collect();
    let digests: Vec<String> = image
        .repo_digests
        .iter()
        .map(|d| lookup::familiar_digest(d))
        .collect();
    json!({
        "Id": image.id,
        "ParentId": "",
        "RepoTags": tags,
        "RepoDigests": digests,
        "Created": created_unix(image),
        "Size": image.size,
        "VirtualSize": image.size,
        "SharedSize": -1,
        "Labels": config["config"]["Labels"].as_object().cloned().unwrap_or_default(),
        "Containers": -1,
    })
}

/// The image rows of `GET /images/json` (also `system/df`'s).
pub fn rows(ctx: &Ctx) -> ApiResult<Vec<Value>> {
    let filter = pocky_engine::image_filter::ImageFilter::parse(ctx.store, &ctx.filters()?)?;
    let mut out = Vec::new();
    for mut image in ctx.store.images()? {
        if !filter.keeps_image(ctx.store, &image) {
            continue;
        }
        // As dockerd: with `reference`, an image is listed with the tags
        // that match, and not at all without one.
        if filter.has_references() {
            image.repo_tags.retain(|t| {
                let (repo, tag) = lookup::familiar(t);
                filter.keeps_row(&repo, Some(&tag))
            });
            if image.repo_tags.is_empty() {
                continue;
            }
        }
        out.push(row(ctx, &image));
    }
    Ok(out)
}

pub fn list(ctx: &mut Ctx) -> ApiResult {
    Ok(Reply::Json(200, Value::Array(rows(ctx)?)))
}

pub fn inspect(ctx: &mut Ctx, name: &str) -> ApiResult {
    let (image, _) = lookup::find(ctx.store, name)?;
    let mut doc = inspect::image(ctx.store, &image)?;
    doc["Parent"] = json!("");
    doc["Comment"] = json!("");
    doc["DockerVersion"] = json!("");
    doc["VirtualSize"] = json!(image.size);
    doc["GraphDriver"] = json!({"Name": "overlay", "Data": {}});
    doc["Metadata"] = json!({"LastTagTime": "0001-01-01T00:00:00Z"});
    Ok(Reply::Json(200, doc))
}

pub fn remove(ctx: &mut Ctx, name: &str) -> ApiResult {
    let force = ctx.flag("force")?;
    let removals = pocky_engine::images::remove(ctx.store, name, force)?;
    Ok(Reply::Json(
        200,
        Value::Array(removals.iter().map(removal).collect()),
    ))
}

fn removal(r: &pocky_engine::images::Removal) -> Value {
    match r {
        pocky_engine::images::Removal::Untagged(t) => json!({"Untagged": t}),
        pocky_engine::images::Removal::Deleted(id) => json!({"Deleted": id}),
    }
}

/// Untagged images no container uses (with `dangling=false`, every image
/// no container uses); `label` and `until` as `image prune --filter`.
pub fn prune(ctx: &mut Ctx) -> ApiResult {
    let mut all = false;
    let mut rest = Vec::new();
    for f in ctx.filters()? {
        match f.as_str() {
            "dangling=true" | "dangling=1" => {}
            "dangling=false" | "dangling=0" => all = true,
            _ => rest.push(f),
        }
    }
    let keep = pocky_engine::image_filter::PruneFilter::parse(ctx.store, &rest)?;
    let store = ctx.store;
    let done = pocky_engine::tag::prune_images(store, all, &|i| keep.keeps_image(store, i))?;
    Ok(Reply::Json(
        200,
        json!({
            "ImagesDeleted": done.removed.iter().map(removal).collect::<Vec<_>>(),
            "SpaceReclaimed": done.reclaimed,
        }),
    ))
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub fn tag(ctx: &mut Ctx, name: &str) -> ApiResult {
    let repo = ctx
        .query("repo")
        .ok_or_else(|| ApiError::bad("repo is required"))?
        .to_owned();
    let target = match ctx.query("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_owned(),
    };
    pocky_engine::tag::tag(ctx.store, name, &target)?;
    Ok(Reply::Empty(201))
}

/// `GET /images/{name}/history`.
pub fn history(ctx: &mut Ctx, name: &str) -> ApiResult {
    let steps = pocky_engine::tag::history(ctx.store, name)?;
    let rows: Vec<Value> = steps
        .iter()
        .map(|s| {
            let created = s
                .created
                .as_deref()
                .and_then(pocky_engine::human::parse_time)
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let tags: Vec<String> = s
                .tags
                .iter()
                .map(|t| {
                    let (repo, tag) = lookup::familiar(t);
                    format!("{repo}:{tag}")
                })
                .collect();
            json!({
                "Id": s.id, "Created": created, "CreatedBy": s.created_by,
                "Tags": if tags.is_empty() { Value::Null } else { json!(tags) },
                "Size": s.size, "Comment": s.comment,
            })
        })
        .collect();
    Ok(Reply::Json(200, Value::Array(rows)))
}
