//! Where checked entries go: a directory tree (the overlay store, `cp`)
//! or an EROFS image (the EROFS store). [`super::create::Ctx`] applies
//! every rule about names, links, whiteouts, devices and sizes first, so
//! both sinks see the same entries.

use std::ffi::OsStr;
use std::io::Read;

use super::entry_path::EntryPath;
use super::metadata::Meta;
use crate::FsError;

/// One entry's name, parsed, plus its printable form for errors.
pub(crate) struct Named<'a> {
    pub(crate) path: EntryPath,
    pub(crate) name: &'a OsStr,
    pub(crate) display: &'a str,
}

pub(crate) trait Sink {
    /// A regular file with `data`, read to its end; returns its length.
    fn file(&mut self, n: &Named<'_>, meta: &Meta, data: &mut dyn Read) -> Result<u64, FsError>;
    fn dir(&mut self, n: &Named<'_>, meta: &Meta) -> Result<(), FsError>;
    fn symlink(&mut self, n: &Named<'_>, meta: &Meta, target: &[u8]) -> Result<(), FsError>;
    /// A second name for `target`, which is not `n` itself and not the
    /// root; the sink checks that it exists and is no directory.
    fn hardlink(
        &mut self,
        n: &Named<'_>,
        target: &EntryPath,
        target_display: &str,
    ) -> Result<(), FsError>;
    fn fifo(&mut self, n: &Named<'_>, meta: &Meta) -> Result<(), FsError>;
    /// The overlayfs whiteout (character device 0:0) at `n`.
    fn whiteout_node(&mut self, n: &Named<'_>) -> Result<(), FsError>;
    /// `.wh.<target>` at `n`: `target` in `n`'s directory is deleted.
    fn whiteout(&mut self, n: &Named<'_>, target: &OsStr) -> Result<(), FsError>;
    /// `.wh..wh..opq` at `n`: `n`'s directory is opaque.
    fn opaque(&mut self, n: &Named<'_>) -> Result<(), FsError>;
}
