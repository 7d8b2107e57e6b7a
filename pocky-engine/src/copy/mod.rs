//! `cp`: files between a container and the host (or a tar stream), as
//! Docker's `docker cp`.
//!
//! Every container path is resolved by the kernel inside the container's
//! root ([`root`]) with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`,
//! so a symlink in the container (`/evil -> /../../etc`) resolves to the
//! container's `/etc`, never the host's. The copy itself is a tar stream:
//! `pocky_fs::pack` archives the source with fd-relative, non-following
//! reads, and `pocky_fs::unpack_archive` unpacks it beneath a descriptor of
//! the destination directory with the rules pocky applies to image layers
//! (no `..`, no absolute names, no path through a symlink, bounded sizes).
//! A tar from stdin gets exactly the same treatment.

pub mod paths;
pub mod root;
pub mod stat;

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{Mode, SFlag, fstat};
use pocky_fs::{ArchiveOptions, FsError};
use pocky_store::{ContainerRecord, Store};

use crate::state;
use paths::{DestState, Endpoint, SrcKind};
use root::ContainerRoot;

/// Docker's `cp` flags and arguments.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    pub src: String,
    pub dst: String,
    /// `-a`: keep the source's owners (else: the destination side's user,
    /// root in a container, the caller on the host).
    pub archive: bool,
    /// `-L`: copy what a symlink SRC points at, not the link.
    pub follow_link: bool,
}

/// What a copy moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Bytes of the tar stream.
    pub bytes: u64,
    /// The destination as the user named it.
    pub to: String,
}

/// Runs one `cp`. `input` is read for SRC `-`, `output` written for DEST
/// `-`. Forks when the container does not run, so call it before starting
/// threads.
pub fn copy(
    store: &Store,
    req: &CopyRequest,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> crate::Result<CopyReport> {
    copy_inner(store, req, input, output).map_err(crate::Error::from)
}

fn copy_inner(
    store: &Store,
    req: &CopyRequest,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<CopyReport> {
    if req.src.is_empty() {
        bail!(crate::invalid!("source can not be empty"));
    }
    if req.dst.is_empty() {
        bail!(crate::invalid!("destination can not be empty"));
    }
    let report = |bytes| CopyReport {
        bytes,
        to: req.dst.clone(),
    };
    match (paths::endpoint(&req.src), paths::endpoint(&req.dst)) {
        (Endpoint::Container { .. }, Endpoint::Container { .. }) => {
            bail!(crate::invalid!(
                "copying between containers is not supported"
            ))
        }
        (Endpoint::Container { container, path }, dst) => {
            copy_out(store, &container, &path, &dst, req, output).map(report)
        }
        (src, Endpoint::Container { container, path }) => {
            copy_in(store, &src, &container, &path, req, input).map(report)
        }
        _ => bail!(crate::invalid!(
            "must specify at least one container source"
        )),
    }
}

fn open_container(
    store: &Store,
    name: &str,
    path: &str,
) -> Result<(ContainerRecord, ContainerRoot)> {
    let rec = state::find(store, name)?;
    let root = root::open_root(store, &rec, name)?;
    if !root.running {
        check_not_on_mount(store, &rec, name, path)?;
    }
    Ok((rec, root))
}

/// A stopped container has no volumes, binds or tmpfs mounted: what lies
/// at their destinations in its overlay is hidden once it runs, so a copy
/// there would read stale data or write where nobody will see it.
fn check_not_on_mount(store: &Store, rec: &ContainerRecord, name: &str, path: &str) -> Result<()> {
    let spec = state::bundle_spec(store, &rec.id)?;
    let want = paths::lexical(path);
    for m in spec.mounts().iter().flatten() {
        let dest = paths::lexical(&m.destination().to_string_lossy());
        if want.starts_with(&dest) {
            bail!(
                "{path} is on the mount {} of container {name}, which exists only while it runs: start the container to copy there",
                dest.display()
            );
        }
    }
    Ok(())
}

/// `path` in the container's root; `None` when it does not exist.
fn resolve(root: &ContainerRoot, path: &str, flags: OFlag) -> Result<Option<OwnedFd>, FsError> {
    let mut tries = 0;
    loop {
        match pocky_fs::open_in_root(&root.fd, Path::new(path), flags) {
            Ok(fd) => return Ok(Some(fd)),
            Err(FsError::Resolve { source, .. }) if errno(&source) == Some(Errno::ENOENT) => {
                return Ok(None);
            }
            // The kernel asks for a retry when a rename or mount raced the
            // resolution of `..`.
            Err(FsError::Resolve { source, .. })
                if errno(&source) == Some(Errno::EAGAIN) && tries < 16 =>
            {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn errno(e: &std::io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno::from_raw)
}

fn not_found(path: &str, name: &str) -> anyhow::Error {
    anyhow::Error::new(crate::Error::NotFound(format!(
        "Could not find the file {path} in container {name}"
    )))
}

fn kind_of(fd: &impl AsFd) -> Result<SFlag> {
    let st = fstat(fd.as_fd()).context("stat")?;
    Ok(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
}

fn src_kind(fd: &impl AsFd) -> Result<SrcKind> {
    Ok(if kind_of(fd)? == SFlag::S_IFDIR {
        SrcKind::Dir
    } else {
        SrcKind::Other
    })
}

/// A real directory descriptor from an `O_PATH` one, for unpacking into.
fn reopen_dir(fd: &OwnedFd, shown: &str) -> Result<OwnedFd> {
    openat(
        fd.as_fd(),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {shown}"))
}

fn copy_out(
    store: &Store,
    name: &str,
    path: &str,
    dst: &Endpoint,
    req: &CopyRequest,
    output: &mut dyn Write,
) -> Result<u64> {
    if path.is_empty() {
        bail!(crate::invalid!(
            "the path in container {name} can not be empty"
        ));
    }
    let path = paths::container_path(path);
    let (_rec, root) = open_container(store, name, &path)?;
    let flags = if paths::asserts_dir(&path) {
        OFlag::O_DIRECTORY
    } else if req.follow_link {
        OFlag::empty()
    } else {
        OFlag::O_NOFOLLOW
    };
    let src = match resolve(&root, &path, flags) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Err(not_found(&path, name)),
        Err(FsError::Resolve { source, .. }) if errno(&source) == Some(Errno::ENOTDIR) => {
            return Err(
                match resolve(&root, path.trim_end_matches(['/', '.']), OFlag::O_NOFOLLOW) {
                    Ok(Some(_)) if paths::asserts_dir(&path) => {
                        anyhow::anyhow!("{path} is not a directory")
                    }
                    _ => not_found(&path, name),
                },
            );
        }
        Err(e) => return Err(e.into()),
    };
    let kind = src_kind(&src)?;
    let local = match dst {
        Endpoint::Stream => {
            let mut counted = Counted::new(output);
            pocky_fs::pack(&src, &paths::archive_name(&path), &mut counted)?;
            return Ok(counted.bytes);
        }
        Endpoint::Local(p) => p,
        Endpoint::Container { .. } => bail!(crate::invalid!(
            "copying between containers is not supported"
        )),
    };
    let shown = local.to_string_lossy();
    let state = match std::fs::metadata(local) {
        Ok(m) if m.is_dir() => DestState::Dir,
        Ok(_) => DestState::Other,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DestState::Missing,
        Err(e) => return Err(e).with_context(|| format!("stat {shown}")),
    };
    let plan = paths::plan(&path, kind, &shown, state)?;
    let dir = match open(
        &plan.dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => {
            bail!(
                "destination directory {} does not exist",
                plan.dir.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", plan.dir.display())),
    };
    let owner = (!req.archive).then(|| {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    });
    through_pipe(&src, &plan.name, &dir, owner)
}

fn copy_in(
    store: &Store,
    src: &Endpoint,
    name: &str,
    path: &str,
    req: &CopyRequest,
    input: &mut dyn Read,
) -> Result<u64> {
    if path.is_empty() {
        bail!(crate::invalid!(
            "the path in container {name} can not be empty"
        ));
    }
    let path = paths::container_path(path);
    let (_rec, root) = open_container(store, name, &path)?;
    let dst = match resolve(&root, &path, OFlag::empty()) {
        Ok(fd) => fd,
        Err(FsError::Resolve { source, .. }) if errno(&source) == Some(Errno::ENOTDIR) => {
            return Err(not_found(&path, name));
        }
        Err(e) => return Err(e.into()),
    };
    let state = match &dst {
        None => DestState::Missing,
        Some(fd) if kind_of(fd)? == SFlag::S_IFDIR => DestState::Dir,
        Some(_) => DestState::Other,
    };
    // Docker's owner of what it copies in: root unless -a.
    let owner = (!req.archive).then_some((0, 0));
    let local = match src {
        Endpoint::Stream => {
            let dir = match (&dst, state) {
                (Some(fd), DestState::Dir) => reopen_dir(fd, &path)?,
                (None, _) => return Err(not_found(&path, name)),
                _ => bail!("destination \"{name}:{path}\" must be a directory"),
            };
            let opts = ArchiveOptions {
                owner,
                ..ArchiveOptions::default()
            };
            let unpacked = pocky_fs::unpack_archive(input, &dir, &opts)?;
            return Ok(unpacked.tar_bytes);
        }
        Endpoint::Local(p) => p,
        Endpoint::Container { .. } => bail!(crate::invalid!(
            "copying between containers is not supported"
        )),
    };
    let shown = local.to_string_lossy();
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if !req.follow_link {
        flags |= OFlag::O_NOFOLLOW;
    }
    if paths::asserts_dir(&shown) {
        flags |= OFlag::O_DIRECTORY;
    }
    let top = match open(local.as_path(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => bail!("lstat {shown}: no such file or directory"),
        Err(Errno::ENOTDIR) => bail!("{shown} is not a directory"),
        Err(e) => return Err(e).with_context(|| format!("opening {shown}")),
    };
    let plan = paths::plan(&shown, src_kind(&top)?, &path, state)?;
    let plan_dir = plan.dir.to_string_lossy();
    let dir = match resolve(&root, &plan_dir, OFlag::O_DIRECTORY) {
        Ok(Some(fd)) => reopen_dir(&fd, &plan_dir)?,
        Ok(None) => return Err(not_found(&plan_dir, name)),
        Err(FsError::Resolve { source, .. }) if errno(&source) == Some(Errno::ENOTDIR) => {
            return Err(not_found(&plan_dir, name));
        }
        Err(e) => return Err(e.into()),
    };
    through_pipe(&top, &plan.name, &dir, owner)
}

/// Archives `top` as `name` on one thread and unpacks the stream beneath
/// `dir` on this one: no temporary copy, and the unpacking side applies the
/// same checks whoever wrote the archive.
fn through_pipe(
    top: &OwnedFd,
    name: &Path,
    dir: &OwnedFd,
    owner: Option<(u32, u32)>,
) -> Result<u64> {
    let (reader, writer) = std::io::pipe().context("pipe")?;
    let opts = ArchiveOptions {
        owner,
        ..ArchiveOptions::default()
    };
    std::thread::scope(|s| {
        let packer = s.spawn(move || pocky_fs::pack(top, name, writer));
        // `reader` is dropped when unpacking stops, which ends a packer
        // still writing with EPIPE.
        let unpacked = pocky_fs::unpack_archive(reader, dir, &opts);
        let packed = packer
            .join()
            .map_err(|_| anyhow::anyhow!("the archiving thread panicked"))?;
        match (packed, unpacked) {
            (Ok(_), Ok(u)) => Ok(u.tar_bytes),
            // The reading side's own failure explains a broken pipe.
            (Err(FsError::Write { .. }), Err(e)) => Err(e.into()),
            (Err(e), _) => Err(e.into()),
            (Ok(_), Err(e)) => Err(e.into()),
        }
    })
}

/// Counts what goes through to `out`.
struct Counted<'a> {
    out: &'a mut dyn Write,
    bytes: u64,
}

impl<'a> Counted<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        Self { out, bytes: 0 }
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
