//! Checks of what the tar pass stored: blobs against their digests and
//! sizes, layers against the config's diff_ids.

use std::collections::HashMap;
use std::fs::File;
use std::io;

use serde::Deserialize;

use crate::compression::{Compression, decoder, sniff};
use crate::digest::{copy_hashing, sha256_hex};
use crate::error::{ArchiveError, shown};
use crate::limits::{Bounded, Limits};
use crate::links::{Namespace, StoredFile};

pub(crate) struct Verifier<'a> {
    pub(crate) ns: &'a Namespace,
    pub(crate) limits: &'a Limits,
    expanded_left: u64,
    /// Keyed by the stored file's digest: a layer shared by several images
    /// is decompressed once.
    diff_ids: HashMap<String, (Compression, String)>,
}

impl<'a> Verifier<'a> {
    pub(crate) fn new(ns: &'a Namespace, limits: &'a Limits) -> Verifier<'a> {
        Verifier {
            ns,
            limits,
            expanded_left: limits.max_expanded_bytes,
            diff_ids: HashMap::new(),
        }
    }

    /// A stored file read into memory, refused by its size before reading.
    pub(crate) fn read(
        &self,
        f: &StoredFile,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, ArchiveError> {
        if f.size > limit {
            return Err(ArchiveError::TooLarge {
                what: format!("{what} ({})", shown(&f.name)),
                limit,
            });
        }
        std::fs::read(&f.path)
            .map_err(|e| ArchiveError::io(format!("reading {}", f.path.display()), e))
    }

    /// The blob for `digest` under `blobs/sha256/`. The stored file's own
    /// hash is compared again because a link may have led elsewhere.
    pub(crate) fn blob(
        &self,
        digest: &str,
        wanted_by: &str,
    ) -> Result<&'a StoredFile, ArchiveError> {
        let hex = sha256_hex(digest)?;
        let path = format!("blobs/sha256/{hex}");
        let f = self
            .ns
            .resolve(&path)?
            .ok_or_else(|| ArchiveError::Missing {
                path: shown(&path),
                wanted_by: wanted_by.to_string(),
            })?;
        if f.digest != digest {
            return Err(ArchiveError::DigestMismatch {
                what: format!("blob {}", shown(&path)),
                expected: digest.to_string(),
                actual: f.digest.clone(),
            });
        }
        Ok(f)
    }

    /// The blob an OCI descriptor names, checked for digest and size.
    pub(crate) fn descriptor(
        &self,
        d: &oci_spec::image::Descriptor,
        what: &str,
        wanted_by: &str,
    ) -> Result<&'a StoredFile, ArchiveError> {
        let digest = d.digest().to_string();
        let f = self.blob(&digest, wanted_by)?;
        if f.size != d.size() {
            return Err(ArchiveError::SizeMismatch {
                what: format!("{what} {digest}"),
                expected: d.size(),
                actual: f.size,
            });
        }
        Ok(f)
    }

    /// Decompresses layer `index` and checks it hashes to `expected`.
    pub(crate) fn layer(
        &mut self,
        index: usize,
        f: &StoredFile,
        expected: &str,
    ) -> Result<Compression, ArchiveError> {
        let (c, actual) = match self.diff_ids.get(&f.digest) {
            Some(known) => known.clone(),
            None => {
                let known = self.diff_id(f)?;
                self.diff_ids.insert(f.digest.clone(), known.clone());
                known
            }
        };
        if actual != expected {
            return Err(ArchiveError::DiffIdMismatch {
                index,
                path: shown(&f.name),
                expected: expected.to_string(),
                actual,
            });
        }
        Ok(c)
    }

    fn diff_id(&mut self, f: &StoredFile) -> Result<(Compression, String), ArchiveError> {
        let what = || format!("layer {}", shown(&f.name));
        let file = File::open(&f.path)
            .map_err(|e| ArchiveError::io(format!("opening {}", f.path.display()), e))?;
        let (c, r) = sniff(file).map_err(|e| ArchiveError::io(what(), e))?;
        if let Compression::Other(name) = c {
            return Err(ArchiveError::Unsupported(format!(
                "{} is {name}-compressed; layers must be tar, gzip or zstd",
                what()
            )));
        }
        let r = decoder(c, r).map_err(|e| ArchiveError::io(what(), e))?;
        let (mut r, tripped) = Bounded::new(r, self.expanded_left);
        let (n, digest) = match copy_hashing(&mut r, &mut io::sink()) {
            Ok(v) => v,
            Err(_) if tripped.get() => {
                return Err(ArchiveError::TooLarge {
                    what: format!("the archive's layers once decompressed (at {})", what()),
                    limit: self.limits.max_expanded_bytes,
                });
            }
            Err(e) => return Err(ArchiveError::io(format!("decompressing {}", what()), e)),
        };
        self.expanded_left -= n;
        Ok((c, digest))
    }
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The config's `rootfs.diff_ids`, each a valid sha256 digest.
pub(crate) fn config_diff_ids(config: &[u8], what: &str) -> Result<Vec<String>, ArchiveError> {
    let c: ConfigRootfs = serde_json::from_slice(config).map_err(|source| ArchiveError::Json {
        what: what.to_string(),
        source,
    })?;
    if c.rootfs.kind != "layers" {
        return Err(ArchiveError::invalid(
            what,
            format!("rootfs.type is {}, not \"layers\"", shown(&c.rootfs.kind)),
        ));
    }
    for d in &c.rootfs.diff_ids {
        sha256_hex(d)?;
    }
    Ok(c.rootfs.diff_ids)
}

/// Layer count checks both formats share.
pub(crate) fn layer_count(
    have: usize,
    diff_ids: usize,
    limits: &Limits,
    what: &str,
) -> Result<(), ArchiveError> {
    if have > limits.max_layers {
        return Err(ArchiveError::TooMany {
            what: "layers in one image",
            limit: limits.max_layers as u64,
        });
    }
    if have != diff_ids {
        return Err(ArchiveError::invalid(
            what,
            format!("{have} layers but the config lists {diff_ids} diff_ids"),
        ));
    }
    Ok(())
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    what: &str,
) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|source| ArchiveError::Json {
        what: what.to_string(),
        source,
    })
}
