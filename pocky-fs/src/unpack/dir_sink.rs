//! The directory sink: entries created beneath a directory fd with
//! fd-relative syscalls that never follow a symlink.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{linkat, symlinkat};

use super::dirfd::{self, Existing, WalkError};
use super::entry_path::EntryPath;
use super::metadata::{self, Meta, Policy};
use super::sink::{Named, Sink};
use super::whiteout;
use crate::FsError;

pub(crate) struct DirSink {
    root: OwnedFd,
    policy: Policy,
    /// Directory times, applied last: creating children bumps them.
    dir_times: Vec<(PathBuf, TimeSpec)>,
}

impl DirSink {
    pub(crate) fn new(root: OwnedFd) -> DirSink {
        DirSink {
            root,
            policy: Policy::detect(),
            dir_times: Vec::new(),
        }
    }

    /// Applies the deferred directory times. A directory replaced by a later
    /// entry is skipped.
    pub(crate) fn finish(self) -> Result<(), FsError> {
        for (rel, ts) in &self.dir_times {
            let fd = match dirfd::open_dir_beneath(self.root.as_fd(), rel) {
                Ok(fd) => fd,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(io_err("open", &rel.to_string_lossy(), e)),
            };
            nix::sys::stat::futimens(fd.as_fd(), ts, ts)
                .map_err(|e| io_err("set times of", &rel.to_string_lossy(), e))?;
        }
        Ok(())
    }

    fn parent(&self, n: &Named<'_>) -> Result<OwnedFd, FsError> {
        dirfd::resolve_parent(&self.root, &n.path, true).map_err(|w| w.into_entry_error(n.display))
    }

    /// Parent resolved and final name cleared for a new entry.
    fn prepare(&self, n: &Named<'_>, is_dir: bool) -> Result<(OwnedFd, Existing), FsError> {
        let parent = self.parent(n)?;
        let existing = dirfd::clear_name(&parent, n.name, is_dir)
            .map_err(|(op, e)| io_err(op, n.display, e))?;
        Ok((parent, existing))
    }
}

impl Sink for DirSink {
    fn file(&mut self, n: &Named<'_>, meta: &Meta, data: &mut dyn Read) -> Result<u64, FsError> {
        let (parent, _) = self.prepare(n, false)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(
            parent.as_fd(),
            n.name,
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| io_err("create", n.display, e))?;
        let mut file = File::from(fd);
        let written = copy_data(data, &mut file, n.display)?;
        let fd = OwnedFd::from(file);
        metadata::apply_fd(&fd, meta, self.policy, true, n.display)?;
        metadata::set_times_fd(&fd, meta, n.display)?;
        Ok(written)
    }

    fn dir(&mut self, n: &Named<'_>, meta: &Meta) -> Result<(), FsError> {
        let (parent, existing) = self.prepare(n, true)?;
        if existing == Existing::Nothing {
            mkdirat(parent.as_fd(), n.name, Mode::from_bits_truncate(0o700))
                .map_err(|e| io_err("mkdir", n.display, e))?;
        }
        let fd = dirfd::open_dir_beneath(parent.as_fd(), n.name)
            .map_err(|e| io_err("open", n.display, e))?;
        metadata::apply_fd(&fd, meta, self.policy, true, n.display)?;
        self.dir_times.push((n.path.relative(), meta.mtime));
        Ok(())
    }

    fn symlink(&mut self, n: &Named<'_>, meta: &Meta, target: &[u8]) -> Result<(), FsError> {
        let (parent, _) = self.prepare(n, false)?;
        // The target is stored, never followed: later entries resolve
        // without following symlinks.
        symlinkat(OsStr::from_bytes(target), parent.as_fd(), n.name)
            .map_err(|e| io_err("symlink", n.display, e))?;
        metadata::apply_symlink(&parent, n.name, meta, self.policy, n.display)
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
        let Some(target_name) = target.name() else {
            return Err(bad("target is the layer root".into()));
        };
        let target_parent = dirfd::resolve_parent(&self.root, target, false)
            .map_err(|w: WalkError| bad(w.reason()))?;
        match fstatat(
            target_parent.as_fd(),
            target_name,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if dirfd::is_dir(st.st_mode) => return Err(bad("target is a directory".into())),
            Ok(_) => {}
            Err(Errno::ENOENT) => return Err(bad("target does not exist in the layer".into())),
            Err(e) => return Err(bad(format!("stat target: {e}"))),
        }
        let (parent, _) = self.prepare(n, false)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        linkat(
            target_parent.as_fd(),
            target_name,
            parent.as_fd(),
            n.name,
            AtFlags::empty(),
        )
        .map_err(|e| io_err("link", n.display, e))
    }

    fn fifo(&mut self, n: &Named<'_>, meta: &Meta) -> Result<(), FsError> {
        let (parent, _) = self.prepare(n, false)?;
        mknodat(
            parent.as_fd(),
            n.name,
            SFlag::S_IFIFO,
            Mode::from_bits_truncate(0o600),
            0,
        )
        .map_err(|e| io_err("mkfifo", n.display, e))?;
        // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(parent.as_fd(), n.name, flags, Mode::empty())
            .map_err(|e| io_err("open", n.display, e))?;
        metadata::apply_fd(&fd, meta, self.policy, false, n.display)?;
        metadata::set_times_fd(&fd, meta, n.display)
    }

    fn whiteout_node(&mut self, n: &Named<'_>) -> Result<(), FsError> {
        let (parent, _) = self.prepare(n, false)?;
        whiteout::make_whiteout(&parent, n.name).map_err(|e| io_err("mknod", n.display, e))
    }

    fn whiteout(&mut self, n: &Named<'_>, target: &OsStr) -> Result<(), FsError> {
        let parent = self.parent(n)?;
        dirfd::clear_name(&parent, target, false).map_err(|(op, e)| io_err(op, n.display, e))?;
        whiteout::make_whiteout(&parent, target).map_err(|e| io_err("mknod whiteout", n.display, e))
    }

    fn opaque(&mut self, n: &Named<'_>) -> Result<(), FsError> {
        let dir = self.parent(n)?;
        self.policy
            .tolerate(whiteout::make_opaque(&dir))
            .map_err(|e| io_err("mark opaque", n.display, e))
    }
}

pub(crate) fn io_err(op: &'static str, entry: &str, e: Errno) -> FsError {
    FsError::Io {
        op,
        entry: entry.to_owned(),
        source: e.into(),
    }
}

/// Copies an entry's data, keeping read errors (the stream: corrupt or over
/// budget) apart from write errors (the disk).
fn copy_data(data: &mut dyn Read, file: &mut File, display: &str) -> Result<u64, FsError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(FsError::Read { source }),
        };
        file.write_all(&buf[..n]).map_err(|source| FsError::Io {
            op: "write",
            entry: display.to_owned(),
            source,
        })?;
        total += n as u64;
    }
}
