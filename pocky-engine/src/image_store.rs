//! Images made on this machine (commit, import, load, build): their blobs
//! are already in the store; this unpacks the layers that are missing,
//! writes the config and a manifest, and publishes the record. The same
//! rule as pull: nothing is visible before the record, and the store's pin
//! keeps a collection from taking the fresh blobs and layers meanwhile.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use pocky_store::{ImageRecord, ImageStore, LayerRecord, LayerStore, Store, chain_ids};
use serde_json::{Value, json};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A layer blob in the store, as a manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// What [`store_image`] publishes.
#[derive(Debug)]
pub struct NewImage<'a> {
    pub config: &'a [u8],
    pub layers: &'a [LayerBlob],
    /// The manifest the image came with (an OCI archive); otherwise an OCI
    /// manifest is written for it.
    pub manifest: Option<&'a [u8]>,
    /// Canonical `registry/repository:tag`s.
    pub tags: &'a [String],
    /// A build's intermediate image (see `ImageRecord::build_step`).
    pub build_step: bool,
}

/// Publishes an image whose layer blobs are in the store. The config's
/// diff ids are checked against each layer's content as it is unpacked.
pub fn store_image(store: &Store, new: &NewImage<'_>) -> crate::Result<ImageRecord> {
    let _pin = store.pin()?;
    store_inner(store, new).map_err(crate::Error::from)
}

fn store_inner(store: &Store, new: &NewImage<'_>) -> Result<ImageRecord> {
    let config: Value = serde_json::from_slice(new.config).context("parsing the image config")?;
    let diff_ids = diff_ids_of(&config)?;
    if diff_ids.len() != new.layers.len() {
        bail!(
            "the image config lists {} layers but {} were given",
            diff_ids.len(),
            new.layers.len()
        );
    }
    let chains = chain_ids(&diff_ids);
    for ((layer, diff_id), chain) in new.layers.iter().zip(&diff_ids).zip(&chains) {
        if !store.has_layer(chain)? {
            unpack_blob(store, layer, diff_id, chain)?;
        }
    }
    let config_digest = pocky_store::sha256_of(new.config);
    store.put_blob(&config_digest, new.config)?;
    let manifest = match new.manifest {
        Some(m) => m.to_vec(),
        None => manifest_for(&config_digest, new.config.len(), new.layers)?,
    };
    let manifest_digest = pocky_store::sha256_of(&manifest);
    store.put_blob(&manifest_digest, &manifest)?;
    let mut size = 0;
    for c in &chains {
        size += crate::pull::layer_size(store, c)?;
    }
    let record = ImageRecord {
        id: config_digest,
        repo_tags: new.tags.to_vec(),
        repo_digests: vec![],
        manifest_digest,
        diff_ids,
        chain_ids: chains,
        size,
        created: config
            .get("created")
            .and_then(Value::as_str)
            .map(str::to_owned),
        pulled: now(),
        platform: platform_of(&config),
        build_step: new.build_step,
    };
    store.put_image(&record)?;
    Ok(record)
}

fn unpack_blob(store: &Store, layer: &LayerBlob, diff_id: &str, chain: &str) -> Result<()> {
    let blob = std::io::BufReader::with_capacity(1 << 20, store.open_blob(&layer.digest)?);
    let (staging, unpacked) =
        crate::storage::unpack(store, blob).with_context(|| format!("layer {}", layer.digest))?;
    if unpacked.diff_id != diff_id {
        bail!(
            "layer {}: content hashes to {} but the image config says {diff_id}",
            layer.digest,
            unpacked.diff_id
        );
    }
    store.commit_layer(
        staging,
        &LayerRecord {
            chain_id: chain.to_owned(),
            diff_id: diff_id.to_owned(),
            size: unpacked.file_bytes,
        },
    )?;
    Ok(())
}

pub(crate) fn diff_ids_of(config: &Value) -> Result<Vec<String>> {
    let ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .context("the image config has no rootfs.diff_ids")?;
    ids.iter()
        .map(|d| {
            let d = d.as_str().context("a diff id is not a string")?;
            pocky_store::sha256_hex(d)?;
            Ok(d.to_owned())
        })
        .collect()
}

/// An OCI manifest for a config and its layers.
pub fn manifest_for(
    config_digest: &str,
    config_size: usize,
    layers: &[LayerBlob],
) -> Result<Vec<u8>> {
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type, "digest": l.digest, "size": l.size,
        })).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_vec(&m)?)
}

/// The layers a stored manifest lists, in order.
pub fn manifest_layers(manifest: &[u8]) -> Result<Vec<LayerBlob>> {
    let v: Value = serde_json::from_slice(manifest).context("parsing the stored manifest")?;
    let layers = v
        .get("layers")
        .and_then(Value::as_array)
        .context("the stored manifest lists no layers")?;
    layers
        .iter()
        .map(|l| {
            Ok(LayerBlob {
                digest: l
                    .get("digest")
                    .and_then(Value::as_str)
                    .context("a layer without digest")?
                    .to_owned(),
                size: l.get("size").and_then(Value::as_u64).unwrap_or(0),
                media_type: l
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or(OCI_LAYER_GZIP)
                    .to_owned(),
            })
        })
        .collect()
}

fn platform_of(config: &Value) -> String {
    let field = |k: &str| config.get(k).and_then(Value::as_str);
    let mut p = format!(
        "{}/{}",
        field("os").unwrap_or("linux"),
        field("architecture").unwrap_or("amd64")
    );
    if let Some(v) = field("variant") {
        p.push('/');
        p.push_str(v);
    }
    p
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
