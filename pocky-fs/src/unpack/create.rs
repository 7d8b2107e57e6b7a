//! Creating one tar entry beneath the layer root.

use std::ffi::{CString, OsStr};
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
use tar::EntryType;

use super::dirfd::{self, Existing, WalkError};
use super::entry_path::{EntryPath, MAX_PATH};
use super::metadata::{self, Meta, Policy};
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
pub(crate) struct Ctx {
    root: OwnedFd,
    flavour: Flavour,
    policy: Policy,
    /// Directory times, applied last: creating children bumps them.
    dir_times: Vec<(PathBuf, TimeSpec)>,
    /// Device nodes left out (see [`Ctx::device`]).
    pub(crate) skipped_devices: u64,
}

/// One entry's name, parsed, plus its printable form for errors.
struct Named<'a> {
    path: EntryPath,
    name: &'a OsStr,
    display: &'a str,
}

impl Ctx {
    pub(crate) fn new(root: OwnedFd, flavour: Flavour) -> Self {
        Self {
            root,
            flavour,
            policy: Policy::detect(),
            dir_times: Vec::new(),
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
            Whiteout::Opaque => return self.opaque(&named).map(|()| 0),
            Whiteout::Remove(target) => return self.whiteout(&named, target).map(|()| 0),
        }
        let mut meta = read_meta(entry, &display)?;
        meta.xattrs.retain(|(n, _)| !whiteout::is_overlay_xattr(n));
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
                let written = self.file(&named, &meta, entry)?;
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
            EntryType::Directory => self.dir(&named, &meta).map(|()| 0),
            EntryType::Symlink => self.symlink(&named, &meta, entry).map(|()| 0),
            EntryType::Link => self.hardlink(&named, entry).map(|()| 0),
            EntryType::Fifo => self.fifo(&named, &meta).map(|()| 0),
            EntryType::Char | EntryType::Block => self.device(&named, kind, entry).map(|()| 0),
            other => Err(FsError::UnsupportedType {
                entry: display.clone(),
                kind: char::from(other.as_byte()),
            }),
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

    fn file<R: Read>(&mut self, n: &Named<'_>, meta: &Meta, data: &mut R) -> Result<u64, FsError> {
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

    fn symlink<R: Read>(
        &mut self,
        n: &Named<'_>,
        meta: &Meta,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), FsError> {
        let target = link_target(entry, n.display)?;
        let (parent, _) = self.prepare(n, false)?;
        // The target is stored, never followed: later entries resolve
        // without following symlinks.
        symlinkat(OsStr::from_bytes(&target), parent.as_fd(), n.name)
            .map_err(|e| io_err("symlink", n.display, e))?;
        metadata::apply_symlink(&parent, n.name, meta, self.policy, n.display)
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
        let Some(target_name) = target.name() else {
            return Err(bad("target is the layer root".into()));
        };
        if target == n.path {
            return Ok(());
        }
        let target_parent = dirfd::resolve_parent(&self.root, &target, false)
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
            let (parent, _) = self.prepare(n, false)?;
            return whiteout::make_whiteout(&parent, n.name)
                .map_err(|e| io_err("mknod", n.display, e));
        }
        self.skipped_devices += 1;
        Ok(())
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

fn io_err(op: &'static str, entry: &str, e: Errno) -> FsError {
    FsError::Io {
        op,
        entry: entry.to_owned(),
        source: e.into(),
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

/// Copies an entry's data, keeping read errors (the stream: corrupt or over
/// budget) apart from write errors (the disk).
fn copy_data<R: Read>(data: &mut R, file: &mut File, display: &str) -> Result<u64, FsError> {
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
