//! `push`: an image's blobs and manifest to a registry, as the store holds
//! them, so the registry gets the digests the image was pulled with.
//!
//! Per layer: a HEAD says whether the registry has it; if not, a mount
//! from another repository of the same registry that the image came from
//! costs no upload; otherwise the blob is uploaded (3 at a time). Then the
//! config, then the manifest under the tag, with its own media type.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use pocky_registry::{Client, Digest, Reference};
use pocky_store::{ImageRecord, ImageStore, Store};
use serde_json::Value;

use crate::image_store::{LayerBlob, manifest_layers};
use crate::pool::short;
use crate::progress::PullProgress;

const PARALLEL_LAYERS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: usize,
}

/// Pushes the image named `name` (a tag) to its registry.
pub fn push(
    store: &Store,
    client: &Client,
    name: &str,
    progress: &dyn PullProgress,
) -> crate::Result<Pushed> {
    let reference = Reference::parse(name).map_err(|e| crate::invalid!("{e}"))?;
    if reference.digest.is_some() {
        return Err(crate::invalid!("cannot push a digest reference: {name}"));
    }
    let (image, _) = crate::lookup::find(store, name)?;
    push_inner(store, client, &reference, &image, progress).map_err(crate::Error::from)
}

fn push_inner(
    store: &Store,
    client: &Client,
    reference: &Reference,
    image: &ImageRecord,
    progress: &dyn PullProgress,
) -> Result<Pushed> {
    progress.line(&format!(
        "The push refers to repository [{}/{}]",
        reference.registry, reference.repository
    ));
    let manifest = store.get_blob(&image.manifest_digest)?;
    let layers = manifest_layers(&manifest)?;
    for l in &layers {
        if !store.has_blob(&l.digest)? {
            bail!(
                "image {} has no blob for layer {} (an earlier pocky did not keep compressed layers): pull it again, then push",
                image.short_id(),
                l.digest
            );
        }
    }
    let sources = mount_sources(image, reference);
    push_layers(store, client, reference, &layers, &sources, progress)?;
    let config_digest = parse_digest(&image.id)?;
    if !client.blob_exists(reference, &config_digest)? {
        let size = store.get_blob(&image.id)?.len() as u64;
        client.push_blob(
            reference,
            &config_digest,
            size,
            &|| open(store, &image.id),
            &|_| {},
        )?;
    }
    let media_type = manifest_media_type(&manifest)?;
    let digest = client.put_manifest(reference, &manifest, &media_type)?;
    if digest.as_str() != image.manifest_digest {
        bail!(
            "the registry stored the manifest as {digest}, not {}",
            image.manifest_digest
        );
    }
    let mut rec = image.clone();
    let repo = format!("{}/{}", reference.registry, reference.repository);
    rec.repo_tags.clear();
    rec.repo_digests = vec![format!("{repo}@{digest}")];
    store.put_image(&rec)?;
    let tag = reference.tag_or_latest().to_owned();
    crate::events::object(store, "image", "push", &image.id, &format!("{repo}:{tag}"));
    Ok(Pushed {
        tag,
        digest: digest.to_string(),
        size: manifest.len(),
    })
}

fn open(store: &Store, digest: &str) -> std::io::Result<Box<dyn Read + Send>> {
    store
        .open_blob(digest)
        .map(|f| Box::new(std::io::BufReader::with_capacity(1 << 20, f)) as Box<dyn Read + Send>)
        .map_err(std::io::Error::other)
}

fn parse_digest(d: &str) -> Result<Digest> {
    Digest::parse(d).map_err(|e| anyhow!("{e}"))
}

/// Repositories of the same registry the image is known in: a blob there
/// can be mounted instead of uploaded.
fn mount_sources(image: &ImageRecord, target: &Reference) -> Vec<String> {
    let mut out: Vec<String> = image
        .repo_digests
        .iter()
        .chain(&image.repo_tags)
        .filter_map(|n| Reference::parse(n).ok())
        .filter(|r| r.registry == target.registry && r.repository != target.repository)
        .map(|r| r.repository)
        .collect();
    out.dedup();
    out
}

/// The manifest's own `mediaType`, or what its config's type implies
/// (umoci and others leave the optional field out).
pub(crate) fn manifest_media_type(manifest: &[u8]) -> Result<String> {
    let v: Value = serde_json::from_slice(manifest).context("parsing the stored manifest")?;
    if let Some(t) = v.get("mediaType").and_then(Value::as_str) {
        return Ok(t.to_owned());
    }
    let config_type = v.pointer("/config/mediaType").and_then(Value::as_str);
    Ok(match config_type {
        Some("application/vnd.docker.container.image.v1+json") => {
            "application/vnd.docker.distribution.manifest.v2+json"
        }
        _ => crate::image_store::OCI_MANIFEST,
    }
    .to_owned())
}

fn push_layers(
    store: &Store,
    client: &Client,
    reference: &Reference,
    layers: &[LayerBlob],
    sources: &[String],
    progress: &dyn PullProgress,
) -> Result<()> {
    let bars: Vec<_> = layers
        .iter()
        .map(|l| progress.layer(&short(&l.digest), l.size))
        .collect();
    for b in &bars {
        b.state("Preparing");
    }
    crate::pool::run_each(PARALLEL_LAYERS, layers.len(), |k| {
        let (layer, bar) = (&layers[k], &bars[k]);
        let result = (|| -> Result<&'static str> {
            let digest = parse_digest(&layer.digest)?;
            if client.blob_exists(reference, &digest)? {
                return Ok("Layer already exists");
            }
            for from in sources {
                if client.mount_blob(reference, &digest, from)? {
                    return Ok("Mounted from another repository");
                }
            }
            bar.state("Pushing");
            // The client reports the bytes sent so far (from 0 again on a
            // retry); the bar takes increments.
            let sent = AtomicU64::new(0);
            client.push_blob(
                reference,
                &digest,
                layer.size,
                &|| open(store, &layer.digest),
                &|n| {
                    let before = sent.fetch_max(n, Ordering::Relaxed);
                    if n > before {
                        bar.advance(n - before);
                    }
                },
            )?;
            Ok("Pushed")
        })();
        match result {
            Ok(msg) => {
                bar.finish(msg);
                Ok(())
            }
            Err(e) => {
                bar.finish("Failed");
                Err(e.context(format!("layer {}", layer.digest)))
            }
        }
    })
}

/// `push --all-tags`: every local tag of the repository `name` names.
pub fn tags_of_repository(store: &Store, name: &str) -> crate::Result<Vec<String>> {
    let r = Reference::parse(name).map_err(|e| crate::invalid!("{e}"))?;
    if r.tag.is_some() || r.digest.is_some() {
        return Err(crate::invalid!(
            "tag can't be used with --all-tags/-a: {name}"
        ));
    }
    let prefix = format!("{}/{}:", r.registry, r.repository);
    let mut tags: Vec<String> = store
        .images()?
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .filter(|t| t.starts_with(&prefix))
        .collect();
    tags.sort();
    if tags.is_empty() {
        return Err(crate::Error::NoSuchImage(name.to_owned()));
    }
    Ok(tags)
}
