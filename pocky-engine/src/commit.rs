//! `commit`: a container's changes (its overlay upper directory) as a new
//! image layer on top of its image, as Docker's `docker commit`.
//!
//! The layer is the upper directory packed as an OCI layer (overlay
//! whiteouts become `.wh.` entries, opaque directories `.wh..wh..opq`)
//! without the mount points the runtime made there (`/etc/hosts`, volume
//! and tmpfs targets), which are not the container's data. A running
//! container is paused meanwhile (unless `pause` is false) so the layer is
//! one moment of its filesystem.

use anyhow::{Context, Result};
use pocky_fs::{Compression, LayerWriter};
use pocky_store::{ImageQuery, ImageRecord, ImageStore, Store};
use serde_json::{Value, json};

use crate::image_store::{LayerBlob, NewImage, manifest_layers, store_image};
use crate::state;

#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub container: String,
    /// `[registry/]repository[:tag]`; none leaves the image untagged.
    pub reference: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions (`CMD ["sh"]`) applied to the config.
    pub changes: Vec<String>,
    pub pause: bool,
}

pub fn commit(store: &Store, req: &CommitRequest) -> crate::Result<ImageRecord> {
    let tags = match &req.reference {
        Some(r) => vec![crate::tag::canonical_tag(r)?],
        None => vec![],
    };
    let rec = state::find(store, &req.container)?;
    let image = store.find_image(&ImageQuery::IdPrefix(rec.image_id.clone()))?;
    let mut config: Value = serde_json::from_slice(&store.get_blob(&image.id)?)
        .map_err(|e| crate::invalid!("the config of image {}: {e}", image.id))?;
    let mut inner = config
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    // The container's environment (the image's plus its `-e`), as Docker
    // commits it; the hostname is the container's, not the image's.
    let spec = state::bundle_spec(store, &rec.id)?;
    if let Some(env) = spec.process().as_ref().and_then(|p| p.env().clone()) {
        let env: Vec<Value> = env
            .into_iter()
            .filter(|e| !e.starts_with("HOSTNAME="))
            .map(Value::from)
            .collect();
        inner.insert("Env".into(), Value::Array(env));
    }
    // Before anything is packed: a bad change costs nothing.
    for c in &req.changes {
        crate::config_change::apply(&mut inner, c)?;
    }
    let skip = crate::diff::mount_points(&spec);
    let paused_here = req.pause && state::process_alive(&rec) && !state::paused(&rec);
    if paused_here {
        crate::lifecycle::pause(store, &rec.id)?;
    }
    let layer = pack_upper(store, &rec, &image, &skip);
    if paused_here {
        crate::lifecycle::unpause(store, &rec.id)?;
    }
    let (layer, diff_id) = layer?;
    config["config"] = Value::Object(inner);
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    config["created"] = json!(created);
    if let Some(a) = &req.author {
        config["author"] = json!(a);
    }
    push_array(&mut config, "/rootfs", "diff_ids", json!(diff_id));
    let mut step = json!({"created": created, "created_by": rec.command.join(" ")});
    if let Some(a) = &req.author {
        step["author"] = json!(a);
    }
    if let Some(m) = &req.message {
        step["comment"] = json!(m);
    }
    push_array(&mut config, "", "history", step);
    let config_bytes = serde_json::to_vec(&config).map_err(anyhow::Error::from)?;
    let mut layers = manifest_layers(&store.get_blob(&image.manifest_digest)?)?;
    layers.push(layer);
    let made = store_image(
        store,
        &NewImage {
            config: &config_bytes,
            layers: &layers,
            manifest: None,
            tags: &tags,
            build_step: false,
        },
    )?;
    crate::events::object(store, "container", "commit", &rec.id, &rec.name);
    Ok(made)
}

/// The upper directory as a gzip'd layer blob in the store.
pub(crate) fn pack_upper(
    store: &Store,
    rec: &pocky_store::ContainerRecord,
    image: &ImageRecord,
    skip: &[std::path::PathBuf],
) -> Result<(LayerBlob, String)> {
    let dir = store.container_dir(&rec.id)?;
    let overlay = crate::create::overlay_of(store, &dir, image)?;
    pack_changes(store, &overlay.upper, skip)
        .with_context(|| format!("packing the changes of container {}", rec.name))
}

/// An overlay upper directory as a gzip'd layer blob in the store, and
/// the layer's diff id.
pub(crate) fn pack_changes(
    store: &Store,
    upper: &std::path::Path,
    skip: &[std::path::PathBuf],
) -> Result<(LayerBlob, String)> {
    let mut blob = store.blob_writer()?;
    let mut writer = LayerWriter::new(&mut blob, Compression::Gzip)?;
    pocky_fs::pack_layer_skipping(upper, skip, &mut writer)?;
    let digests = writer.finish()?;
    let (digest, size) = blob.commit(store, Some(&digests.digest))?;
    Ok((
        LayerBlob {
            digest,
            size,
            media_type: Compression::Gzip.media_type().to_owned(),
        },
        digests.diff_id,
    ))
}

/// Appends to the array `key` of the object at `pointer`, making both.
fn push_array(v: &mut Value, pointer: &str, key: &str, item: Value) {
    let Some(obj) = v.pointer_mut(pointer).filter(|o| o.is_object()) else {
        if let Some(root) = v.as_object_mut() {
            root.insert(
                pointer.trim_start_matches('/').to_owned(),
                json!({key: [item]}),
            );
        }
        return;
    };
    let slot = &mut obj[key];
    match slot.as_array_mut() {
        Some(a) => a.push(item),
        None => *slot = json!([item]),
    }
}
