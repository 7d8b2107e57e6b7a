//! Seeding a new, empty volume from the image's content at its mount
//! point, as Docker does.
//!
//! The image's merged view is read through the kernel's own overlayfs, so
//! whiteouts and opaque directories mean exactly what they mean in the
//! container: a forked helper process unshares its mount namespace, mounts
//! the image's layers read-only (with pocky-fs's overlay mount, so both
//! layer forms work) on a scratch directory, copies, and
//! exits; with it go the namespace and the mount, even if pocky is killed
//! midway. (A thread would do, but its exit is not synchronous with join,
//! and the container's spawn right after refuses a process with threads.) The source path is resolved inside the merged view with
//! `openat2(RESOLVE_IN_ROOT)`, and the copy uses only fd-relative calls that
//! never follow a symlink (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`): symlinks
//! are copied as symlinks, on either side.
//!
//! Copied: directories, regular files, symlinks and FIFOs, with owner, mode
//! (setuid/setgid/sticky included) and modification time. Not copied:
//! device nodes and sockets (skipped), extended attributes (file
//! capabilities among them), and hard links (each name gets its own copy).

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat, readlinkat};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::{
    FileStat, Mode, SFlag, UtimensatFlags, fchmod, fstatat, futimens, mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, symlinkat};
use pocky_fs::rootfs::Overlay;
use pocky_store::{FileLock, ImageRecord, Store};

/// Directory depth past which the copy stops: two fds per level stay well
/// under the default limit of 1024 open files.
const MAX_DEPTH: usize = 256;

/// Copies the image's content at `path` into volume `name` when the volume
/// is empty; a volume with anything in it is left alone (Docker's rule).
pub fn seed(store: &Store, image: &ImageRecord, name: &str, path: &str) -> Result<()> {
    // Two containers starting on one new volume: one copies, the other
    // then finds it not empty.
    let _lock = FileLock::exclusive(&store.volume_dir(name)?.join("seed.lock"))?;
    let data = crate::volume_opts::data_path(store, name)?;
    let dst = open(
        &data,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening volume {name}"))?;
    if !is_empty(&dst)? || image.chain_ids.is_empty() {
        return Ok(());
    }
    let scratch = store.scratch()?;
    let dir = scratch.path();
    for d in ["merged", "upper", "work", "l"] {
        let d = dir.join(d);
        std::fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    // Mounted read-only: the upper directory only completes the overlay
    // (so a one-layer image needs no empty bottom layer) and stays empty.
    let overlay = Overlay {
        lowers: crate::storage::lowers(store, image)?,
        upper: dir.join("upper"),
        work: dir.join("work"),
        links: Some(dir.join("l")),
        volatile: false,
    };
    let merged = dir.join("merged");
    in_child(|| copy_in_private_namespace(&overlay, &merged, path, dst))
        .with_context(|| format!("seeding volume {name} from the image's {path}"))
}

/// Runs `f` in a forked child and returns its outcome (an error comes back
/// as its one-line text through a pipe).
fn in_child(f: impl FnOnce() -> Result<()>) -> Result<()> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2")?;
    // SAFETY: pocky is single-threaded here (the container's spawn that
    // follows requires it too), so the child may do anything the parent
    // could; it leaves with _exit, running no destructors of the parent's.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            drop(read);
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    let _ = (&File::from(write)).write_all(crate::one_line(&e).as_bytes());
                    1
                }
                Err(_) => 2,
            };
            // SAFETY: _exit ends the child at once, as a forked child must.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            let mut msg = String::new();
            let _ = File::from(read).read_to_string(&mut msg);
            match nix::sys::wait::waitpid(child, None).context("waiting for the seeding process")? {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                _ if !msg.is_empty() => Err(anyhow::anyhow!(msg)),
                status => bail!("the seeding process failed: {status:?}"),
            }
        }
    }
}

fn is_empty(dir: &OwnedFd) -> Result<bool> {
    let fd = dir.try_clone().context("duplicating a directory fd")?;
    let mut d = Dir::from_fd(fd).context("reading the volume")?;
    for entry in d.iter() {
        let entry = entry.context("reading the volume")?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs in the forked child: the namespace it unshares is the child's alone.
fn copy_in_private_namespace(
    overlay: &Overlay,
    merged: &Path,
    path: &str,
    dst: OwnedFd,
) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).context("unsharing the mount namespace")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making mounts private")?;
    pocky_fs::mount_overlay_ro(overlay, merged).context("mounting the image read-only")?;
    let root = open(
        merged,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening the image's root")?;
    let src = match pocky_fs::open_in_root(&root, Path::new(path), OFlag::O_DIRECTORY) {
        Ok(fd) => fd,
        // Nothing (or no directory) there in the image: nothing to copy.
        Err(pocky_fs::FsError::Resolve { source, .. })
            if matches!(source.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let src = openat(
        &src,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening the image's directory")?;
    let top = nix::sys::stat::fstat(&src).context("stat of the image's directory")?;
    copy_dir(&src, &dst, Path::new(path), 0)?;
    // The volume's root takes the owner and mode of the image's directory.
    set_owner_mode_time(&dst, &top)
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

fn mode_of(st: &FileStat) -> Mode {
    Mode::from_bits_truncate(st.st_mode & 0o7777)
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Owner first: chown clears setuid and setgid, which the mode then sets.
fn set_owner_mode_time(fd: &OwnedFd, st: &FileStat) -> Result<()> {
    fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .context("chown")?;
    fchmod(fd, mode_of(st)).context("chmod")?;
    let (a, m) = times(st);
    futimens(fd, &a, &m).context("setting times")?;
    Ok(())
}

fn entry_names(dir: &OwnedFd) -> Result<Vec<CString>> {
    let mut d = Dir::from_fd(dir.try_clone()?)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

fn copy_dir(src: &OwnedFd, dst: &OwnedFd, at: &Path, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        bail!(
            "{} is nested deeper than {MAX_DEPTH} directories",
            at.display()
        );
    }
    let names = entry_names(src).with_context(|| format!("listing {}", at.display()))?;
    for name in names {
        let here = at.join(OsStr::from_bytes(name.to_bytes()));
        copy_entry(src, dst, &name, &here, depth)
            .with_context(|| format!("copying {}", here.display()))?;
    }
    Ok(())
}

fn copy_entry(src: &OwnedFd, dst: &OwnedFd, name: &CStr, here: &Path, depth: usize) -> Result<()> {
    let st = fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match kind(&st) {
        SFlag::S_IFDIR => {
            mkdirat(dst, name, Mode::from_bits_truncate(0o700))?;
            let s = openat(
                src,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            let d = openat(
                dst,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            copy_dir(&s, &d, here, depth + 1)?;
            set_owner_mode_time(&d, &st)
        }
        SFlag::S_IFREG => {
            let s = openat(src, name, OFlag::O_RDONLY | nofollow, Mode::empty())?;
            let d = openat(
                dst,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
                Mode::from_bits_truncate(0o600),
            )?;
            let mut from = File::from(s);
            let mut to = File::from(d);
            std::io::copy(&mut from, &mut to)?;
            set_owner_mode_time(&OwnedFd::from(to), &st)
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(src, name)?;
            symlinkat(target.as_os_str(), dst, name)?;
            link_owner_time(dst, name, &st)
        }
        SFlag::S_IFIFO => {
            mknodat(dst, name, SFlag::S_IFIFO, mode_of(&st), 0)?;
            let d = openat(dst, name, OFlag::O_PATH | nofollow, Mode::empty())?;
            // fchown/fchmod refuse O_PATH fds; the fd's own path is the
            // inode just made, not a lookup.
            let p = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&d));
            nix::unistd::chown(
                p.as_str(),
                Some(Uid::from_raw(st.st_uid)),
                Some(Gid::from_raw(st.st_gid)),
            )?;
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                p.as_str(),
                mode_of(&st),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )?;
            Ok(())
        }
        // Devices and sockets: a volume is data, not a /dev.
        _ => Ok(()),
    }
}

fn link_owner_time(dst: &OwnedFd, name: &CStr, st: &FileStat) -> Result<()> {
    fchownat(
        dst.as_fd(),
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    let (a, m) = times(st);
    match utimensat(dst, name, &a, &m, UtimensatFlags::NoFollowSymlink) {
        Ok(()) | Err(Errno::EOPNOTSUPP) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
