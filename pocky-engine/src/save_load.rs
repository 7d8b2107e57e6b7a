//! `save` and `load`: images to and from one tar that is both a
//! docker-archive and an OCI layout (as Docker 25's `docker save` writes),
//! with the blobs exactly as the store holds them, so an image keeps its
//! manifest and config digests through a save and load. The archive format
//! and its hostile-input rules are pocky-archive's; this is the store side.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::anyhow;
use pocky_archive::{BlobSource, Descriptor, Limits, Platform, SaveImage};
use pocky_store::{ImageRecord, Store};

use crate::image_store::{LayerBlob, NewImage, manifest_layers, store_image};
use crate::lookup::{self, Named};

struct StoreBlobs<'a>(&'a Store);

impl BlobSource for StoreBlobs<'_> {
    fn open(&self, digest: &str) -> std::io::Result<Box<dyn Read + '_>> {
        let f = self.0.open_blob(digest).map_err(std::io::Error::other)?;
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
    }
}

/// Writes the images `names` (tags, digests or ids) to `out`. A tag is
/// saved with its name; an image named by id or digest without one.
pub fn save(store: &Store, names: &[String], out: &mut dyn Write) -> crate::Result<()> {
    let mut chosen: BTreeMap<String, (ImageRecord, Vec<String>)> = BTreeMap::new();
    for name in names {
        let (image, named) = lookup::find(store, name)?;
        let entry = chosen
            .entry(image.id.clone())
            .or_insert_with(|| (image.clone(), Vec::new()));
        if let Named::Tag(tag) = named {
            let (repo, tag) = lookup::familiar(&tag);
            let familiar = format!("{repo}:{tag}");
            if !entry.1.contains(&familiar) {
                entry.1.push(familiar);
            }
        }
    }
    let mut images = Vec::new();
    for (image, tags) in chosen.into_values() {
        images.push(save_image(store, &image, tags)?);
    }
    pocky_archive::write_archive(out, &images, &StoreBlobs(store))
        .map_err(|e| crate::Error::Internal(anyhow!("writing the archive: {e}")))
}

fn save_image(store: &Store, image: &ImageRecord, names: Vec<String>) -> crate::Result<SaveImage> {
    let manifest = store.get_blob(&image.manifest_digest)?;
    let layers = manifest_layers(&manifest)?;
    for l in &layers {
        if !store.has_blob(&l.digest)? {
            return Err(crate::Error::Internal(anyhow!(
                "image {} has no blob for layer {} (an earlier pocky did not keep compressed layers): pull it again, then save",
                image.short_id(),
                l.digest
            )));
        }
    }
    Ok(SaveImage {
        names,
        manifest_media_type: crate::push::manifest_media_type(&manifest)?,
        manifest_digest: image.manifest_digest.clone(),
        manifest_bytes: manifest,
        config_digest: image.id.clone(),
        config_bytes: store.get_blob(&image.id)?,
        layers: layers
            .into_iter()
            .map(|l| Descriptor {
                digest: l.digest,
                size: l.size,
                media_type: l.media_type,
            })
            .collect(),
    })
}

/// What `load` stored: an image and the names it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: String,
    /// Familiar names (`busybox:latest`).
    pub names: Vec<String>,
}

/// Reads an archive (plain, gzip or zstd) and stores every image in it.
/// Nothing is stored unless the whole archive verifies.
pub fn load(
    store: &Store,
    input: &mut dyn Read,
    wanted: Option<&str>,
) -> crate::Result<Vec<Loaded>> {
    // Held from the first adopted blob until the records are written.
    let _pin = store.pin()?;
    let scratch = store.scratch()?;
    let host = match wanted {
        Some(p) => pocky_registry::Platform::parse(p).map_err(|e| crate::invalid!("{e}"))?,
        None => pocky_registry::Platform::host(),
    };
    let platform = Platform {
        os: host.os.clone(),
        architecture: host.architecture.clone(),
        variant: host.variant.clone(),
    };
    let archive =
        pocky_archive::read_archive_for(input, scratch.path(), &Limits::default(), &platform)
            .map_err(|e| crate::invalid!("{e}"))?;
    if wanted.is_some() {
        // An archive of one platform's image has no index to choose from:
        // its config says what it is, checked before anything is stored.
        for image in &archive.images {
            let config: serde_json::Value =
                serde_json::from_slice(&image.config_bytes).unwrap_or_default();
            let have = pocky_registry::Platform::new(
                config["os"].as_str().unwrap_or_default(),
                config["architecture"].as_str().unwrap_or_default(),
                config["variant"].as_str(),
            );
            if !host.matches(&have) {
                return Err(crate::invalid!(
                    "the archive's image is for {have}, not for the requested platform {host}"
                ));
            }
        }
    }
    let mut out = Vec::new();
    for image in &archive.images {
        let mut tags = Vec::new();
        for n in &image.names {
            tags.push(crate::tag::canonical_tag(n)?);
        }
        let mut layers = Vec::new();
        for l in &image.layers {
            store.adopt_blob(&l.path, &l.digest)?;
            layers.push(LayerBlob {
                digest: l.digest.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
            });
        }
        let made = store_image(
            store,
            &NewImage {
                config: &image.config_bytes,
                layers: &layers,
                manifest: image.manifest.as_ref().map(|m| m.bytes.as_slice()),
                tags: &tags,
                build_step: false,
            },
        )?;
        let names: Vec<String> = tags
            .iter()
            .map(|t| {
                let (repo, tag) = lookup::familiar(t);
                format!("{repo}:{tag}")
            })
            .collect();
        crate::events::object(store, "image", "load", &made.id, &made.id);
        out.push(Loaded { id: made.id, names });
    }
    if out.is_empty() {
        return Err(crate::invalid!("the archive holds no image"));
    }
    Ok(out)
}
