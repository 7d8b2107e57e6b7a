//! oci-archive: an OCI image layout (`oci-layout`, `index.json`, `blobs/`)
//! in a tar.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Deserialize;

use crate::compression::Compression;
use crate::error::{ArchiveError, shown};
use crate::names::check_tag;
use crate::types::{LoadedImage, LoadedLayer, LoadedManifest, Platform};
use crate::verify::{Verifier, config_diff_ids, layer_count, read_json};

const CONTAINERD_NAME: &str = "io.containerd.image.name";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// top index -> image index -> manifest is what multi-platform saves
/// write; a little slack, but no unbounded recursion on hostile input.
const MAX_INDEX_DEPTH: usize = 3;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    image_layout_version: String,
}

enum Kind {
    Manifest,
    Index,
}

fn kind(media_type: &str) -> Option<Kind> {
    match media_type {
        "application/vnd.oci.image.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v2+json" => Some(Kind::Manifest),
        "application/vnd.oci.image.index.v1+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json" => Some(Kind::Index),
        _ => None,
    }
}

pub(crate) fn load(
    layout: &[u8],
    index_json: &[u8],
    platform: &Platform,
    v: &mut Verifier<'_>,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let layout: Layout = read_json(layout, "oci-layout")?;
    if layout.image_layout_version != "1.0.0" {
        return Err(ArchiveError::Unsupported(format!(
            "oci-layout version {} (only 1.0.0 is known)",
            shown(&layout.image_layout_version)
        )));
    }
    let index: ImageIndex = read_json(index_json, "index.json")?;
    let mut images: Vec<LoadedImage> = Vec::new();
    for d in index.manifests() {
        let name = entry_name(d)?;
        let chosen = choose(d, platform, v, 0)?;
        let digest = chosen.digest().to_string();
        // Docker writes one index entry per name of the same image.
        if let Some(img) = images
            .iter_mut()
            .find(|i| i.manifest.as_ref().is_some_and(|m| m.digest == digest))
        {
            if let Some(n) = name
                && !img.names.contains(&n)
            {
                img.names.push(n);
            }
            continue;
        }
        let mut img = load_manifest(&chosen, v)?;
        img.names.extend(name);
        images.push(img);
    }
    if images.is_empty() {
        return Err(ArchiveError::invalid("index.json", "lists no images"));
    }
    for (i, a) in images.iter().enumerate() {
        for n in &a.names {
            if images[i + 1..].iter().any(|b| b.names.contains(n)) {
                return Err(ArchiveError::invalid(
                    "index.json",
                    format!("name {} is given to two different images", shown(n)),
                ));
            }
        }
    }
    Ok(images)
}

/// The name an index entry gives its image. containerd's annotation holds
/// the full reference; the OCI one often holds only a tag (`skopeo copy
/// ... oci-archive:f:latest`), which names no repository, so like
/// containerd's importer we take it only when it is a whole reference.
fn entry_name(d: &Descriptor) -> Result<Option<String>, ArchiveError> {
    let Some(a) = d.annotations() else {
        return Ok(None);
    };
    let name = match (a.get(CONTAINERD_NAME), a.get(REF_NAME)) {
        (Some(full), _) => full.clone(),
        (None, Some(r)) if r.contains(['/', ':']) => r.clone(),
        _ => return Ok(None),
    };
    check_tag(&name)?;
    Ok(Some(name))
}

/// Follows `d` down through nested indexes to one image manifest,
/// choosing by platform at each index.
fn choose(
    d: &Descriptor,
    platform: &Platform,
    v: &Verifier<'_>,
    depth: usize,
) -> Result<Descriptor, ArchiveError> {
    let mt = d.media_type().to_string();
    match kind(&mt) {
        Some(Kind::Manifest) => Ok(d.clone()),
        Some(Kind::Index) if depth < MAX_INDEX_DEPTH => {
            let digest = d.digest().to_string();
            let f = v.descriptor(d, "index", "index.json")?;
            let bytes = v.read(f, v.limits.max_index_bytes, "image index")?;
            let index: ImageIndex = read_json(&bytes, &format!("image index {digest}"))?;
            let mut available = Vec::new();
            for m in index.manifests() {
                let Some(p) = m.platform() else {
                    continue;
                };
                let (os, arch, variant) = (
                    p.os().to_string(),
                    p.architecture().to_string(),
                    p.variant().clone(),
                );
                if os == platform.os
                    && arch == platform.architecture
                    && (platform.variant.is_none() || platform.variant == variant)
                {
                    return choose(m, platform, v, depth + 1);
                }
                available.push(match variant {
                    Some(var) => format!("{os}/{arch}/{var}"),
                    None => format!("{os}/{arch}"),
                });
            }
            Err(ArchiveError::NoPlatform {
                wanted: platform.to_string(),
                index: digest,
                available: if available.is_empty() {
                    "none".into()
                } else {
                    shown(&available.join(", "))
                },
            })
        }
        Some(Kind::Index) => Err(ArchiveError::Unsupported(format!(
            "image indexes nested deeper than {MAX_INDEX_DEPTH}"
        ))),
        None => Err(ArchiveError::Unsupported(format!(
            "index entry {} has media type {}, not an image manifest or index",
            d.digest(),
            shown(&mt)
        ))),
    }
}

fn load_manifest(d: &Descriptor, v: &mut Verifier<'_>) -> Result<LoadedImage, ArchiveError> {
    let digest = d.digest().to_string();
    let media_type = d.media_type().to_string();
    let what = format!("manifest {digest}");
    let f = v.descriptor(d, "manifest", "index.json")?;
    let bytes = v.read(f, v.limits.max_manifest_bytes, "manifest")?;
    let m: ImageManifest = read_json(&bytes, &what)?;
    if let Some(own) = m.media_type()
        && own.to_string() != media_type
    {
        return Err(ArchiveError::invalid(
            &what,
            format!(
                "says it is {} but its descriptor says {}",
                shown(own.as_ref()),
                shown(&media_type)
            ),
        ));
    }

    let cf = v.descriptor(m.config(), "config", &what)?;
    let config_bytes = v.read(cf, v.limits.max_config_bytes, "config")?;
    let config_what = format!("config {}", m.config().digest());
    let diff_ids = config_diff_ids(&config_bytes, &config_what)?;
    layer_count(m.layers().len(), diff_ids.len(), v.limits, &what)?;

    let mut layers = Vec::with_capacity(m.layers().len());
    for (i, (l, diff_id)) in m.layers().iter().zip(&diff_ids).enumerate() {
        let lf = v.descriptor(l, "layer", &what)?;
        let lt = l.media_type().to_string();
        let want = expected_compression(&lt)?;
        let have = v.layer(i, lf, diff_id)?;
        if have != want {
            return Err(ArchiveError::invalid(
                format!("layer {i} ({})", l.digest()),
                format!(
                    "media type {} does not match its content ({have:?})",
                    shown(&lt)
                ),
            ));
        }
        layers.push(LoadedLayer {
            path: lf.path.clone(),
            digest: lf.digest.clone(),
            size: lf.size,
            media_type: lt,
            diff_id: diff_id.clone(),
        });
    }
    Ok(LoadedImage {
        names: Vec::new(),
        config_digest: cf.digest.clone(),
        config_bytes,
        manifest: Some(LoadedManifest {
            digest,
            bytes,
            media_type,
        }),
        layers,
    })
}

/// What a layer media type promises about its bytes (OCI and Docker names).
fn expected_compression(media_type: &str) -> Result<Compression, ArchiveError> {
    let base = media_type
        .strip_prefix("application/vnd.oci.image.layer.")
        .or_else(|| media_type.strip_prefix("application/vnd.docker.image.rootfs."));
    let Some(base) = base else {
        return Err(ArchiveError::Unsupported(format!(
            "layer media type {}",
            shown(media_type)
        )));
    };
    Ok(if base.ends_with("gzip") {
        Compression::Gzip
    } else if base.ends_with("zstd") {
        Compression::Zstd
    } else if base.ends_with("tar") {
        Compression::None
    } else {
        return Err(ArchiveError::Unsupported(format!(
            "layer media type {}",
            shown(media_type)
        )));
    })
}
