//! Checking one tar entry and handing it to the sink: every rule about
//! names, whiteouts, links, devices and metadata lives here, once, for
//! both the directory and the EROFS layer store.

use std::ffi::CString;
use std::io::Read;

use nix::sys::time::TimeSpec;
use tar::EntryType;

use super::entry_path::{EntryPath, MAX_PATH};
use super::metadata::{self, Meta};
use super::sink::{Named, Sink};
use super::whiteout::{self, Whiteout};
use crate::FsError;

/// What the entries are: a layer's (whiteouts, xattrs and owners as
/// written) or plain files' (`pocky cp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Layer,
    Archive { owner: Option<(u32, u32)> },
}

/// State that lives across the entries of one layer.
pub(crate) struct Ctx<S> {
    pub(crate) sink: S,
    flavour: Flavour,
    /// Device nodes left out (see [`Ctx::device`]).
    pub(crate) skipped_devices: u64,
}

impl<S: Sink> Ctx<S> {
    pub(crate) fn new(sink: S, flavour: Flavour) -> Self {
        Self {
            sink,
            flavour,
            skipped_devices: 0,
        }
    }

    /// Unpacks one entry; returns the regular-file bytes it wrote.
    pub(crate) fn unpack_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<u64, FsError> {
        let raw = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw).into_owned();
        let mut kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            // Global PAX defaults (usually just a comment); nothing to create.
            return Ok(0);
        }
        let path = EntryPath::parse(&raw, &display)?;
        // Pre-POSIX tars mark directories with a trailing slash only (type
        // NUL, which the tar crate folds into Regular).
        if entry.header().as_old().linkflag[0] == 0 && raw.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        let Some(name) = path.name() else {
            // The root itself (`./`): its metadata is the caller's choice
            // (it made `dest`), so a layer cannot chmod or chown it.
            return if kind == EntryType::Directory {
                Ok(0)
            } else {
                Err(FsError::RootNotDirectory { entry: display })
            };
        };
        let layer = self.flavour == Flavour::Layer;
        if layer && path.parents().iter().any(|p| whiteout::is_aufs_meta(p)) {
            // Contents of aufs bookkeeping directories (`.wh..wh.plnk/...`).
            return Ok(0);
        }
        let name = name.to_owned();
        let named = Named {
            path: path.clone(),
            name: &name,
            display: &display,
        };
        let class = if layer {
            whiteout::classify(&name, &display)?
        } else {
            Whiteout::None
        };
        match class {
            Whiteout::None => {}
            Whiteout::Skip => return Ok(0),
            Whiteout::Opaque => return self.sink.opaque(&named).map(|()| 0),
            Whiteout::Remove(target) => return self.sink.whiteout(&named, target).map(|()| 0),
        }
        let mut meta = read_meta(entry, &display)?;
        if let Flavour::Archive { owner } = self.flavour {
            meta.xattrs.clear();
            if let Some((uid, gid)) = owner {
                meta.uid = uid;
                meta.gid = gid;
            }
        }
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.size();
                let written = self.sink.file(&named, &meta, entry)?;
                // The tar crate ends an entry's data quietly at EOF; a
                // truncated layer must not pass as a shorter file.
                if written != size {
                    return Err(FsError::Read {
                        source: std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("layer ends inside {display} ({written} of {size} bytes)"),
                        ),
                    });
                }
                Ok(written)
            }
            EntryType::Directory => self.sink.dir(&named, &meta).map(|()| 0),
            EntryType::Symlink => {
                let target = link_target(entry, &display)?;
                self.sink.symlink(&named, &meta, &target).map(|()| 0)
            }
            EntryType::Link => self.hardlink(&named, entry).map(|()| 0),
            EntryType::Fifo => self.sink.fifo(&named, &meta).map(|()| 0),
            EntryType::Char | EntryType::Block => self.device(&named, kind, entry).map(|()| 0),
            other => Err(FsError::UnsupportedType {
                entry: display.clone(),
                kind: char::from(other.as_byte()),
            }),
        }
    }

    fn hardlink<R: Read>(
        &mut self,
        n: &Named<'_>,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), FsError> {
        let raw = link_target(entry, n.display)?;
        let target_display = String::from_utf8_lossy(&raw).into_owned();
        let bad = |reason: String| FsError::BadHardlink {
            entry: n.display.to_owned(),
            target: target_display.clone(),
            reason,
        };
        let target = EntryPath::parse(&raw, &target_display).map_err(|e| match e {
            FsError::DotDot { .. } => bad("target has a `..` component".into()),
            other => other,
        })?;
        if target.name().is_none() {
            return Err(bad("target is the layer root".into()));
        }
        if target == n.path {
            return Ok(());
        }
        self.sink.hardlink(n, &target, &target_display)
    }

    /// Device nodes are left out, counted, and not an error: images made
    /// from a debootstrap or `docker export` tree carry `/dev/console`,
    /// `/dev/null` and friends, which Docker recreates. pocky's containers
    /// get a fresh tmpfs `/dev` with exactly the devices the runtime makes,
    /// and a node planted elsewhere (`/opt/sda`) is never created, so an
    /// image cannot bring a way to a host device. The one node kept is a
    /// character device 0:0: it is an overlayfs whiteout and reaches no
    /// device.
    fn device<R: Read>(
        &mut self,
        n: &Named<'_>,
        kind: EntryType,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), FsError> {
        let header = entry.header();
        let bad_header = |source| FsError::BadHeader {
            entry: n.display.to_owned(),
            source,
        };
        let major = header.device_major().map_err(bad_header)?.unwrap_or(0);
        let minor = header.device_minor().map_err(bad_header)?.unwrap_or(0);
        if kind == EntryType::Char && major == 0 && minor == 0 && self.flavour == Flavour::Layer {
            return self.sink.whiteout_node(n);
        }
        self.skipped_devices += 1;
        Ok(())
    }
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, display: &str) -> Result<Vec<u8>, FsError> {
    let target = entry
        .link_name_bytes()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FsError::MissingLinkTarget {
            entry: display.to_owned(),
        })?;
    if target.len() > MAX_PATH {
        return Err(FsError::PathTooLong {
            entry: format!("{display} (link target)"),
            len: target.len(),
        });
    }
    Ok(target.into_owned())
}

/// The entry's metadata with PAX `mtime` and `SCHILY.xattr.*` applied (the
/// tar crate applies PAX `uid`, `gid` and `size` itself).
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, display: &str) -> Result<Meta, FsError> {
    let bad_header = |source| FsError::BadHeader {
        entry: display.to_owned(),
        source,
    };
    let bad_pax = |reason: String| FsError::BadPax {
        entry: display.to_owned(),
        reason,
    };
    let h = entry.header();
    let uid = h.uid().map_err(bad_header)?;
    let gid = h.gid().map_err(bad_header)?;
    let mode = h.mode().map_err(bad_header)?;
    let mtime = h.mtime().map_err(bad_header)?;
    let mut meta = Meta {
        uid: u32::try_from(uid).map_err(|_| bad_pax(format!("uid {uid} out of range")))?,
        gid: u32::try_from(gid).map_err(|_| bad_pax(format!("gid {gid} out of range")))?,
        mode,
        mtime: TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0),
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions().map_err(bad_header)? {
        for ext in exts {
            let ext = ext.map_err(bad_header)?;
            let key = ext.key_bytes();
            if key == b"mtime" {
                meta.mtime = metadata::parse_pax_time(ext.value_bytes())
                    .ok_or_else(|| bad_pax("unparsable mtime".into()))?;
            } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                let name =
                    CString::new(name).map_err(|_| bad_pax("xattr name holds NUL".into()))?;
                meta.xattrs.push((name, ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(meta)
}
