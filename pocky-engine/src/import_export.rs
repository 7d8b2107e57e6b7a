//! `import` (a tar as a one-layer image) and `export` (a container's
//! filesystem as a tar), as Docker's.
//!
//! An imported tar is hostile input like any layer: it is stored as a gzip
//! blob and unpacked with the layer rules (no `..`, no paths through
//! symlinks, no devices but whiteouts, bounded sizes) before the image
//! appears; a tar that breaks them leaves no image.

use std::io::{self, Read, Write};

use anyhow::Context;
use pocky_fs::{Compression, LayerWriter};
use pocky_store::{ImageRecord, Store};
use serde_json::{Map, Value, json};

use crate::image_store::{LayerBlob, NewImage, store_image};

#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// `[registry/]repository[:tag]`; none leaves the image untagged.
    pub reference: Option<String>,
    pub message: Option<String>,
    pub changes: Vec<String>,
    /// `os/arch[/variant]`; the host's by default.
    pub platform: Option<String>,
    /// What the history says it came from (`-`, a file name).
    pub source: String,
}

/// Imports the tar (plain, gzip or zstd) read from `input`.
pub fn import(
    store: &Store,
    input: &mut dyn Read,
    req: &ImportRequest,
) -> crate::Result<ImageRecord> {
    let tags = match &req.reference {
        Some(r) => vec![crate::tag::canonical_tag(r)?],
        None => vec![],
    };
    let mut inner = Map::new();
    for c in &req.changes {
        crate::config_change::apply(&mut inner, c)?;
    }
    let platform = match &req.platform {
        Some(p) => pocky_registry::Platform::parse(p).map_err(|e| crate::invalid!("{e}"))?,
        None => pocky_registry::Platform::host(),
    };
    let mut blob = store.blob_writer()?;
    let mut writer = LayerWriter::new(&mut blob, Compression::Gzip)?;
    let mut tar = pocky_fs::decompress(io::BufReader::with_capacity(1 << 20, input))
        .context("reading the archive")?;
    io::copy(&mut tar, &mut writer).context("reading the archive")?;
    let digests = writer.finish()?;
    let (digest, size) = blob.commit(store, Some(&digests.digest))?;
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut step = json!({"created": created, "created_by": "", "comment": format!("Imported from {}", req.source)});
    if let Some(m) = &req.message {
        step["comment"] = json!(m);
    }
    let mut config = json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": Value::Object(inner),
        "rootfs": {"type": "layers", "diff_ids": [digests.diff_id]},
        "history": [step],
    });
    if let Some(v) = &platform.variant {
        config["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config).map_err(anyhow::Error::from)?;
    let layer = LayerBlob {
        digest,
        size,
        media_type: Compression::Gzip.media_type().to_owned(),
    };
    let made = store_image(
        store,
        &NewImage {
            config: &config_bytes,
            layers: std::slice::from_ref(&layer),
            manifest: None,
            tags: &tags,
            build_step: false,
        },
    )?;
    crate::events::object(store, "image", "import", &made.id, &made.id);
    Ok(made)
}

/// Writes a tar of the container's filesystem (without its volumes and
/// the other mounts in it) to `out`. Forks when the container does not
/// run: call it before starting threads.
pub fn export(store: &Store, name: &str, out: &mut dyn Write) -> crate::Result<()> {
    let rec = crate::state::find(store, name)?;
    let root = crate::copy::root::open_root(store, &rec, name)?;
    pocky_fs::pack_tree_at(&root.fd, out).with_context(|| format!("exporting container {name}"))?;
    crate::events::object(store, "container", "export", &rec.id, &rec.name);
    Ok(())
}
