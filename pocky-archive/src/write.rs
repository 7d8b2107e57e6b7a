//! Writing one tar that is both an OCI image layout and a docker-archive,
//! as `docker save` has since Docker 25.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use crate::digest::{of_bytes, sha256_hex};
use crate::error::{ArchiveError, shown};
use crate::names::{full_repository, split_tag};
use crate::types::{BlobSource, SaveImage};

/// Every entry gets this mtime so that the same images give the same
/// bytes; the epoch is what skopeo's docker-archive writer uses too.
const MTIME: u64 = 0;
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<IndexEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: usize,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem<'a> {
    config: String,
    repo_tags: &'a [String],
    layers: Vec<String>,
}

/// Just enough of a manifest to check the caller's image against it.
#[derive(Deserialize)]
struct ManifestRefs {
    config: Ref,
    #[serde(default)]
    layers: Vec<Ref>,
}

#[derive(Deserialize)]
struct Ref {
    digest: String,
    size: u64,
}

enum Blob<'a> {
    Bytes(&'a [u8]),
    Layer { digest: &'a str, size: u64 },
}

/// Writes `images` to `out` as one tar readable both as an oci-archive and
/// as a docker-archive. Layers are streamed from `blobs` and checked
/// against their descriptors on the way; on error `out` holds a partial
/// archive that the caller discards.
pub fn write_archive(
    out: impl Write,
    images: &[SaveImage],
    blobs: &dyn BlobSource,
) -> Result<(), ArchiveError> {
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (n, img) in images.iter().enumerate() {
        check_image(img)?;
        for name in &img.names {
            split_tag(name)?;
            if owner.insert(name, n).is_some_and(|prev| prev != n) {
                return Err(ArchiveError::invalid(
                    "images to save",
                    format!("name {} is given to two images", shown(name)),
                ));
            }
        }
    }

    let mut index = Index {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPE,
        manifests: Vec::new(),
    };
    let mut items = Vec::new();
    let mut repositories: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    let mut order: Vec<(&str, Blob<'_>)> = Vec::new();
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for img in images {
        let entry = |annotations| IndexEntry {
            media_type: &img.manifest_media_type,
            digest: &img.manifest_digest,
            size: img.manifest_bytes.len(),
            annotations,
        };
        if img.names.is_empty() {
            index.manifests.push(entry(BTreeMap::new()));
        }
        let config_hex = sha256_hex(&img.config_digest)?;
        for name in &img.names {
            let (repo, tag) = split_tag(name)?;
            let annotations = BTreeMap::from([
                (
                    "io.containerd.image.name",
                    format!("{}:{tag}", full_repository(repo)),
                ),
                ("org.opencontainers.image.ref.name", tag.to_string()),
            ]);
            index.manifests.push(entry(annotations));
            repositories
                .entry(repo)
                .or_default()
                .insert(tag, config_hex);
        }
        // Layers go in as pulled, compressed: Docker's loader and
        // containers/image's docker-archive reader both decompress by
        // magic bytes (see the crate docs), so no uncompressed copy.
        items.push(ManifestItem {
            config: format!("blobs/sha256/{config_hex}"),
            repo_tags: &img.names,
            layers: img
                .layers
                .iter()
                .map(|l| sha256_hex(&l.digest).map(|h| format!("blobs/sha256/{h}")))
                .collect::<Result<_, _>>()?,
        });
        for l in &img.layers {
            plan(
                &mut order,
                &mut sizes,
                &l.digest,
                l.size,
                Blob::Layer {
                    digest: &l.digest,
                    size: l.size,
                },
            )?;
        }
        plan(
            &mut order,
            &mut sizes,
            &img.config_digest,
            img.config_bytes.len() as u64,
            Blob::Bytes(&img.config_bytes),
        )?;
        plan(
            &mut order,
            &mut sizes,
            &img.manifest_digest,
            img.manifest_bytes.len() as u64,
            Blob::Bytes(&img.manifest_bytes),
        )?;
    }

    let mut tar = tar::Builder::new(out);
    let w = |e: io::Error| ArchiveError::io("writing the archive", e);
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(w)?;
    append_bytes(&mut tar, "index.json", &json("index.json", &index)?).map_err(w)?;
    append_bytes(&mut tar, "manifest.json", &json("manifest.json", &items)?).map_err(w)?;
    if !repositories.is_empty() {
        append_bytes(
            &mut tar,
            "repositories",
            &json("repositories", &repositories)?,
        )
        .map_err(w)?;
    }
    for dir in ["blobs/", "blobs/sha256/"] {
        let h = header(dir, 0, EntryType::Directory, 0o755).map_err(w)?;
        tar.append(&h, io::empty()).map_err(w)?;
    }
    for (digest, blob) in order {
        let path = format!("blobs/sha256/{}", sha256_hex(digest)?);
        match blob {
            Blob::Bytes(b) => append_bytes(&mut tar, &path, b).map_err(w)?,
            Blob::Layer { digest, size } => {
                let src = blobs
                    .open(digest)
                    .map_err(|source| ArchiveError::BlobSource {
                        digest: digest.to_string(),
                        source,
                    })?;
                let h = header(&path, size, EntryType::Regular, 0o644).map_err(w)?;
                let checked = Checked {
                    inner: src,
                    left: size,
                    size,
                    hash: Sha256::new(),
                    digest,
                };
                tar.append(&h, checked)
                    .map_err(|source| ArchiveError::BlobSource {
                        digest: digest.to_string(),
                        source,
                    })?;
            }
        }
    }
    let mut out = tar.into_inner().map_err(w)?;
    out.flush().map_err(w)
}

fn json(what: &str, v: &impl Serialize) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|source| ArchiveError::Json {
        what: what.into(),
        source,
    })
}

/// Queues a blob once, however many images share it.
fn plan<'a>(
    order: &mut Vec<(&'a str, Blob<'a>)>,
    sizes: &mut HashMap<&'a str, u64>,
    digest: &'a str,
    size: u64,
    blob: Blob<'a>,
) -> Result<(), ArchiveError> {
    sha256_hex(digest)?;
    match sizes.insert(digest, size) {
        None => order.push((digest, blob)),
        Some(prev) if prev == size => {}
        Some(prev) => {
            return Err(ArchiveError::SizeMismatch {
                what: format!("blob {digest} (given twice)"),
                expected: prev,
                actual: size,
            });
        }
    }
    Ok(())
}

/// The caller's image must agree with itself before we write it: digests
/// of the bytes we hold, and the manifest's own config and layer list.
fn check_image(img: &SaveImage) -> Result<(), ArchiveError> {
    for (what, digest, bytes) in [
        ("manifest", &img.manifest_digest, &img.manifest_bytes),
        ("config", &img.config_digest, &img.config_bytes),
    ] {
        sha256_hex(digest)?;
        let actual = of_bytes(bytes);
        if actual != *digest {
            return Err(ArchiveError::DigestMismatch {
                what: what.into(),
                expected: digest.clone(),
                actual,
            });
        }
    }
    let m: ManifestRefs =
        serde_json::from_slice(&img.manifest_bytes).map_err(|source| ArchiveError::Json {
            what: format!("manifest {}", img.manifest_digest),
            source,
        })?;
    let mismatch =
        |reason: &str| ArchiveError::invalid(format!("image {}", img.manifest_digest), reason);
    if m.config.digest != img.config_digest || m.config.size != img.config_bytes.len() as u64 {
        return Err(mismatch("the manifest names another config"));
    }
    let same = m.layers.len() == img.layers.len()
        && m.layers
            .iter()
            .zip(&img.layers)
            .all(|(a, b)| a.digest == b.digest && a.size == b.size);
    if !same {
        return Err(mismatch("the manifest lists other layers"));
    }
    Ok(())
}

fn header(path: &str, size: u64, kind: EntryType, mode: u32) -> io::Result<Header> {
    let mut h = Header::new_ustar();
    h.set_path(path)?;
    h.set_size(size);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_cksum();
    Ok(h)
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> io::Result<()> {
    let h = header(path, bytes.len() as u64, EntryType::Regular, 0o644)?;
    tar.append(&h, bytes)
}

/// Passes exactly `size` bytes of a blob through, and fails instead of
/// ending if the blob is shorter, longer or hashes to something else: the
/// tar header already promised its size and the manifest its digest.
struct Checked<'a, R> {
    inner: R,
    left: u64,
    size: u64,
    hash: Sha256,
    digest: &'a str,
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? != 0 {
                return Err(io::Error::other(format!(
                    "blob is longer than its {} bytes",
                    self.size
                )));
            }
            let actual = format!("sha256:{}", hex::encode(self.hash.clone().finalize()));
            if actual != self.digest {
                return Err(io::Error::other(format!("blob content hashes to {actual}")));
            }
            return Ok(0);
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "blob ends after {} of its {} bytes",
                self.size - self.left,
                self.size
            )));
        }
        self.hash.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}
