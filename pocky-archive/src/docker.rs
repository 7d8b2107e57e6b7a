//! docker-archive: images described by `manifest.json`.

use std::collections::HashMap;

use serde::Deserialize;

use crate::digest::is_hex64;
use crate::error::{ArchiveError, shown};
use crate::names::{check_tag, manifest_path};
use crate::types::{LoadedImage, LoadedLayer};
use crate::verify::{Verifier, config_diff_ids, layer_count, read_json};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

pub(crate) fn load(
    manifest_json: &[u8],
    v: &mut Verifier<'_>,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let items: Vec<Item> = read_json(manifest_json, "manifest.json")?;
    if items.is_empty() {
        return Err(ArchiveError::invalid("manifest.json", "lists no images"));
    }
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut images = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let names = item.repo_tags.clone().unwrap_or_default();
        for tag in &names {
            check_tag(tag)?;
            // Docker would let the last image win; an archive that
            // disagrees with itself is more likely hostile than useful.
            if let Some(prev) = owner.insert(tag.clone(), n)
                && prev != n
            {
                return Err(ArchiveError::invalid(
                    "manifest.json",
                    format!("tag {} names two different images", shown(tag)),
                ));
            }
        }
        images.push(load_item(item, names, v)?);
    }
    Ok(images)
}

/// The tags `manifest.json` gives each config digest, for an archive that
/// is also an OCI layout (Docker 25's `save`, pocky's) whose index names
/// no image.
pub(crate) fn names_by_config(
    manifest_json: &[u8],
    v: &Verifier<'_>,
) -> Result<HashMap<String, Vec<String>>, ArchiveError> {
    let items: Vec<Item> = read_json(manifest_json, "manifest.json")?;
    let mut out = HashMap::new();
    for item in items {
        let names = item.repo_tags.unwrap_or_default();
        for tag in &names {
            check_tag(tag)?;
        }
        let path = manifest_path(&item.config)?;
        if let Some(f) = v.ns.resolve(&path)? {
            out.entry(f.digest.clone())
                .or_insert_with(Vec::new)
                .extend(names);
        }
    }
    Ok(out)
}

fn load_item(
    item: &Item,
    names: Vec<String>,
    v: &mut Verifier<'_>,
) -> Result<LoadedImage, ArchiveError> {
    let config_path = manifest_path(&item.config)?;
    let what = format!("config {}", shown(&config_path));
    let config =
        v.ns.resolve(&config_path)?
            .ok_or_else(|| ArchiveError::Missing {
                path: shown(&config_path),
                wanted_by: "manifest.json".into(),
            })?;
    // The legacy layout names a config `<id>.json` where the id is its
    // digest; the OCI-style `blobs/sha256/<hex>` was checked when stored.
    if let Some(hex) = config_path.strip_suffix(".json")
        && is_hex64(hex)
        && config.digest[7..] != *hex
    {
        return Err(ArchiveError::DigestMismatch {
            what,
            expected: format!("sha256:{hex}"),
            actual: config.digest.clone(),
        });
    }
    let config_bytes = v.read(config, v.limits.max_config_bytes, "config")?;
    let diff_ids = config_diff_ids(&config_bytes, &what)?;
    layer_count(item.layers.len(), diff_ids.len(), v.limits, &what)?;

    let mut layers = Vec::with_capacity(item.layers.len());
    for (i, (layer, diff_id)) in item.layers.iter().zip(&diff_ids).enumerate() {
        let path = manifest_path(layer)?;
        let f = v.ns.resolve(&path)?.ok_or_else(|| ArchiveError::Missing {
            path: shown(&path),
            wanted_by: "manifest.json".into(),
        })?;
        let c = v.layer(i, f, diff_id)?;
        layers.push(LoadedLayer {
            path: f.path.clone(),
            digest: f.digest.clone(),
            size: f.size,
            media_type: c.layer_media_type().to_string(),
            diff_id: diff_id.clone(),
        });
    }
    Ok(LoadedImage {
        names,
        config_digest: config.digest.clone(),
        config_bytes,
        manifest: None,
        layers,
    })
}
