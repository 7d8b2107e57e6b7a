//! The EROFS sink: checked entries become one image file, written by
//! pocky-erofs in the same pass (file data as it streams, the tree at the
//! end), for the EROFS layer store.

use std::ffi::OsStr;
use std::io::{Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;

use pocky_erofs::{Builder, Error as ErofsError, WalkFailure};

use super::dirfd::WalkError;
use super::entry_path::EntryPath;
use super::metadata::Meta;
use super::sink::{Named, Sink};
use crate::FsError;

pub(crate) struct ErofsSink<W: Write + Seek> {
    builder: Builder<W>,
}

fn components<'a>(path: &'a EntryPath, name: Option<&'a OsStr>) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = path.parents().iter().map(|c| c.as_bytes()).collect();
    out.extend(name.map(OsStr::as_bytes));
    out
}

fn meta_of(meta: &Meta) -> pocky_erofs::Meta {
    pocky_erofs::Meta {
        uid: meta.uid,
        gid: meta.gid,
        mode: meta.mode & 0o7777,
        mtime: meta.mtime.tv_sec(),
        mtime_nsec: u32::try_from(meta.mtime.tv_nsec()).unwrap_or(0),
        xattrs: meta
            .xattrs
            .iter()
            .map(|(k, v)| (k.to_bytes().to_vec(), v.clone()))
            .collect(),
    }
}

/// The walk failure as the directory sink words it.
fn walk_error(path: &EntryPath, f: WalkFailure) -> WalkError {
    match f {
        WalkFailure::Symlink(i) => WalkError::Symlink(path.prefix_display(i + 1)),
        WalkFailure::NotDir(i) => WalkError::NotDir(path.prefix_display(i + 1)),
        WalkFailure::Missing(i) => WalkError::Missing(path.prefix_display(i + 1)),
    }
}

fn error(n: &Named<'_>, e: ErofsError) -> FsError {
    match e {
        ErofsError::Walk(f) => walk_error(&n.path, f).into_entry_error(n.display),
        ErofsError::Read(source) => FsError::Read { source },
        source => FsError::Erofs {
            entry: n.display.to_owned(),
            source,
        },
    }
}

impl<W: Write + Seek> ErofsSink<W> {
    pub(crate) fn new(out: W, build_time: i64) -> Result<Self, FsError> {
        let builder = Builder::new(out, build_time).map_err(|source| FsError::Erofs {
            entry: "/".into(),
            source,
        })?;
        Ok(ErofsSink { builder })
    }

    pub(crate) fn finish(self) -> Result<(W, pocky_erofs::Summary), FsError> {
        self.builder.finish().map_err(|source| FsError::Erofs {
            entry: "/".into(),
            source,
        })
    }
}

impl<W: Write + Seek> Sink for ErofsSink<W> {
    fn file(&mut self, n: &Named<'_>, meta: &Meta, data: &mut dyn Read) -> Result<u64, FsError> {
        let path = components(&n.path, Some(n.name));
        self.builder
            .file(&path, meta_of(meta), data)
            .map_err(|e| error(n, e))
    }

    fn dir(&mut self, n: &Named<'_>, meta: &Meta) -> Result<(), FsError> {
        let path = components(&n.path, Some(n.name));
        self.builder
            .dir(&path, meta_of(meta))
            .map_err(|e| error(n, e))
    }

    fn symlink(&mut self, n: &Named<'_>, meta: &Meta, target: &[u8]) -> Result<(), FsError> {
        let path = components(&n.path, Some(n.name));
        self.builder
            .symlink(&path, meta_of(meta), target)
            .map_err(|e| error(n, e))
    }

    fn hardlink(
        &mut self,
        n: &Named<'_>,
        target: &EntryPath,
        target_display: &str,
    ) -> Result<(), FsError> {
        let bad = |reason: String| FsError::BadHardlink {
            entry: n.display.to_owned(),
            target: target_display.to_owned(),
            reason,
        };
        let path = components(&n.path, Some(n.name));
        let to = components(target, target.name());
        match self.builder.hardlink(&path, &to) {
            Ok(()) => Ok(()),
            Err(ErofsError::LinkToDirectory) => Err(bad("target is a directory".into())),
            Err(ErofsError::LinkTarget(WalkFailure::Missing(i))) if i + 1 == to.len() => {
                Err(bad("target does not exist in the layer".into()))
            }
            Err(ErofsError::LinkTarget(f)) => Err(bad(walk_error(target, f).reason())),
            Err(e) => Err(error(n, e)),
        }
    }

    fn fifo(&mut self, n: &Named<'_>, meta: &Meta) -> Result<(), FsError> {
        let path = components(&n.path, Some(n.name));
        self.builder
            .special(&path, meta_of(meta), pocky_erofs::format::S_IFIFO, 0)
            .map_err(|e| error(n, e))
    }

    fn whiteout_node(&mut self, n: &Named<'_>) -> Result<(), FsError> {
        let path = components(&n.path, Some(n.name));
        self.builder.whiteout(&path).map_err(|e| error(n, e))
    }

    fn whiteout(&mut self, n: &Named<'_>, target: &OsStr) -> Result<(), FsError> {
        let path = components(&n.path, Some(target));
        self.builder.whiteout(&path).map_err(|e| error(n, e))
    }

    fn opaque(&mut self, n: &Named<'_>) -> Result<(), FsError> {
        let dir = components(&n.path, None);
        self.builder.opaque(&dir).map_err(|e| error(n, e))
    }
}
