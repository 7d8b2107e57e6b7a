//! The one streaming pass over the tar: regular files into scratch under
//! names of our own, small JSON files into memory, links and directories
//! into the namespace.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use tar::EntryType;

use crate::compression::{Compression, decoder, sniff};
use crate::digest::{copy_hashing, is_hex64};
use crate::error::{ArchiveError, shown};
use crate::limits::{Bounded, Limits};
use crate::links::{Added, Namespace, StoredFile};
use crate::names::entry_path;

/// Top-level files both formats read as JSON metadata.
pub(crate) const SMALL_FILES: [&str; 4] =
    ["manifest.json", "index.json", "oci-layout", "repositories"];

#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) ns: Namespace,
    pub(crate) small: HashMap<&'static str, Vec<u8>>,
}

pub(crate) fn collect(
    input: impl Read,
    scratch: &Path,
    limits: &Limits,
) -> Result<Collected, ArchiveError> {
    let (compression, input) =
        sniff(input).map_err(|e| ArchiveError::io("reading the archive", e))?;
    if let Compression::Other(name) = compression {
        return Err(ArchiveError::Unsupported(format!(
            "the archive is {name}-compressed; only plain, gzip or zstd tar is read"
        )));
    }
    let input =
        decoder(compression, input).map_err(|e| ArchiveError::io("starting decompression", e))?;
    let (input, tripped) = Bounded::new(input, limits.max_total_bytes);
    let fail = |e: io::Error| stream_error(e, &tripped, limits);

    let mut archive = tar::Archive::new(input);
    let mut out = Collected::default();
    let mut count = 0u64;
    for entry in archive.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::TooMany {
                what: "tar entries",
                limit: limits.max_entries,
            });
        }
        let name = entry_path(&entry.path_bytes())?;
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Directory => {
                if !name.is_empty() {
                    out.ns.add_dir(name)?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                if name.is_empty() {
                    return Err(ArchiveError::UnsafePath {
                        path: shown(""),
                        reason: "a file with no name",
                    });
                }
                if let Some(key) = SMALL_FILES.iter().find(|k| **k == name) {
                    let size = entry.size();
                    let bytes = read_small(&mut entry, &name, size, limits.max_index_bytes, &fail)?;
                    match out.small.get(key) {
                        Some(prev) if *prev != bytes => {
                            return Err(ArchiveError::Duplicate { path: shown(&name) });
                        }
                        _ => {
                            out.small.insert(key, bytes);
                        }
                    }
                } else {
                    let file_no = count;
                    store(&mut entry, name, scratch, file_no, &mut out.ns, &fail)?;
                }
            }
            EntryType::Symlink | EntryType::Link if SMALL_FILES.contains(&name.as_str()) => {
                // The metadata is read from the stream as it passes; a link
                // would have to be followed to a file that may come later.
                return Err(ArchiveError::UnsafePath {
                    path: shown(&name),
                    reason: "metadata file must be a regular file, not a link",
                });
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                out.ns.add_symlink(name, &target)?;
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                out.ns.add_hardlink(name, &target)?;
            }
            // pax global headers carry only metadata we do not use.
            EntryType::XGlobalHeader => {}
            other => {
                return Err(ArchiveError::Unsupported(format!(
                    "archive entry {} has type {other:?}, which an image archive never holds",
                    shown(&name)
                )));
            }
        }
    }
    out.ns.check()?;
    Ok(out)
}

/// Reads a metadata file into memory, refusing it by its header before
/// reading when it is too large, and never reading past the limit anyway.
fn read_small(
    entry: &mut impl Read,
    name: &str,
    size: u64,
    limit: u64,
    fail: &dyn Fn(io::Error) -> ArchiveError,
) -> Result<Vec<u8>, ArchiveError> {
    let too_large = || ArchiveError::TooLarge {
        what: shown(name),
        limit,
    };
    if size > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    entry
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    if bytes.len() as u64 != size {
        return Err(ArchiveError::Truncated {
            path: shown(name),
            expected: size,
            got: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

fn store<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: String,
    scratch: &Path,
    file_no: u64,
    ns: &mut Namespace,
    fail: &dyn Fn(io::Error) -> ArchiveError,
) -> Result<(), ArchiveError> {
    let expected = entry.size();
    // Our own name, never the archive's; create_new refuses anything
    // already there, a planted symlink included.
    let path = scratch.join(format!("entry-{file_no:06}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| ArchiveError::io(format!("creating {}", path.display()), e))?;
    let (got, digest) = copy_hashing(entry, &mut file).map_err(fail)?;
    drop(file);
    if got != expected {
        return Err(ArchiveError::Truncated {
            path: shown(&name),
            expected,
            got,
        });
    }
    if let Some(rest) = name.strip_prefix("blobs/sha256/") {
        if !is_hex64(rest) {
            return Err(ArchiveError::UnsafePath {
                path: shown(&name),
                reason: "a file under blobs/sha256/ must be named by its 64-hex digest",
            });
        }
        if digest[7..] != *rest {
            return Err(ArchiveError::DigestMismatch {
                what: format!("blob {}", shown(&name)),
                expected: format!("sha256:{rest}"),
                actual: digest,
            });
        }
    }
    let f = StoredFile {
        path: path.clone(),
        digest,
        size: got,
        name: name.clone(),
    };
    if let Added::Duplicate = ns.add_file(name, f)? {
        // Same name, same bytes: the first copy serves both.
        fs::remove_file(&path)
            .map_err(|e| ArchiveError::io(format!("removing {}", path.display()), e))?;
    }
    Ok(())
}

fn stream_error(e: io::Error, tripped: &Cell<bool>, limits: &Limits) -> ArchiveError {
    if tripped.get() {
        ArchiveError::TooLarge {
            what: "the archive's tar stream".into(),
            limit: limits.max_total_bytes,
        }
    } else {
        ArchiveError::Tar(e.to_string())
    }
}
