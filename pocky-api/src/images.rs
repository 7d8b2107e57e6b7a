//! `/images/...`: pull (with Docker's JSON progress), list, inspect,
//! remove and prune.

use pocky_engine::store::{ImageRecord, ImageStore};
use pocky_engine::{inspect, lookup};
use pocky_registry::{Platform, Reference};
use serde_json::{Value, json};

use crate::progress;
use crate::{ApiError, ApiResult, Ctx, Reply};

/// `POST /images/create?fromImage=busybox&tag=latest`: a pull (without a
/// tag, of every tag, as dockerd's `docker pull -a`). Importing
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
    // No tag at all is dockerd's "every tag" (`docker pull -a`).
    if reference.tag.is_none() && reference.digest.is_none() {
        let name = format!("{}/{}", reference.registry, reference.repository);
        return progress::stream(
            ctx,
            |ctx, progress| {
                use pocky_engine::progress::PullProgress;
                pocky_engine::pull::pull_all_tags(
                    ctx.store,
                    &client,
                    &reference,
                    &platform,
                    progress,
                    &mut |_, outcome| {
                        progress.line(&format!("Digest: {}", outcome.manifest_digest))
                    },
                )
            },
            |pulled| {
                let status = match pulled.iter().any(|(_, o)| o.downloaded) {
                    true => "Downloaded newer image for",
                    false => "Image is up to date for",
                };
                vec![json!({"status": format!("Status: {status} {name}")})]
            },
        );
    }
    progress::stream(
        ctx,
        |ctx, progress| {
            pocky_engine::pull::pull(ctx.store, &client, &reference, &platform, progress)
        },
        |outcome| {
            let status = match outcome.downloaded {
                true => "Downloaded newer image for",
                false => "Image is up to date for",
            };
            vec![
                json!({"status": format!("Digest: {}", outcome.manifest_digest)}),
                json!({"status": format!("Status: {status} {reference}")}),
            ]
        },
    )
}

/// `POST /images/{name}/push?tag=`: every tag of the repository when the
/// tag is empty, as dockerd.
pub fn push(ctx: &mut Ctx, name: &str) -> ApiResult {
    let names = match ctx.query("tag").filter(|t| !t.is_empty()) {
        Some(t) => vec![format!("{name}:{t}")],
        None if name.contains(':') && !name.rsplit(':').next().unwrap_or("").contains('/') => {
            vec![name.to_owned()]
        }
        None => pocky_engine::push::tags_of_repository(ctx.store, name)?,
    };
    let registry = Reference::parse(name)
        .map_err(|e| ApiError::bad(format!("invalid reference format: {e}")))?
        .registry;
    let client = crate::registry_auth::client(ctx, &registry)?;
    progress::stream(
        ctx,
        |ctx, progress| {
            let mut done = Vec::new();
            for n in &names {
                done.push(pocky_engine::push::push(ctx.store, &client, n, progress)?);
            }
            Ok(done)
        },
        |done| {
            done.iter()
                .flat_map(|p| {
                    [
                        json!({"status": format!("{}: digest: {} size: {}", p.tag, p.digest, p.size)}),
                        json!({"progressDetail": {}, "aux": {"Tag": p.tag, "Digest": p.digest, "Size": p.size}}),
                    ]
                })
                .collect()
        },
    )
}

fn created_unix(image: &ImageRecord) -> i64 {
    image
        .created
        .as_deref()
        .and_then(pocky_engine::human::parse_time)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(image.pulled as i64, |d| d.as_secs() as i64)
}

pub(crate) fn row(ctx: &Ctx, image: &ImageRecord) -> Value {
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
    let all = ctx.flag("all")?;
    let mut out = Vec::new();
    for mut image in ctx.store.images()? {
        // A build step's image is the build cache's, as dockerd's
        // intermediate images are: listed with `all` only.
        if (image.build_step && !all) || !filter.keeps_image(ctx.store, &image) {
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
