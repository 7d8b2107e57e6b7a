//! Scratch directories for work that must appear in the store all at once
//! (an unpacked layer) or not at all.
//!
//! Each staging directory `tmp/<name>` has a lock file `tmp/<name>.lock` held
//! by its creator for as long as it lives. Whoever can take that lock knows the
//! creator is gone (flock dies with the process) and may delete both.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::lock::FileLock;
use crate::unique_name;

/// A private directory under the store's `tmp/`, removed on drop unless
/// [`Staging::into_committed`] moved it into place.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
    lock: Option<FileLock>,
}

impl Staging {
    pub(crate) fn new(tmp: &Path) -> Result<Staging> {
        let name = unique_name();
        let lock_path = tmp.join(format!("{name}.lock"));
        let lock = locked_file_at(tmp, &lock_path)?;
        let dir = tmp.join(&name);
        fs::create_dir(&dir).map_err(StoreError::io("creating", &dir))?;
        Ok(Staging {
            dir,
            lock_path,
            lock: Some(lock),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Renames the staging directory to `dest`. Returns false (and discards
    /// this copy) when `dest` already exists: another process finished the
    /// same work first, and its result is as good as ours.
    pub(crate) fn commit_to(mut self, dest: &Path) -> Result<bool> {
        match fs::rename(&self.dir, dest) {
            Ok(()) => {
                self.release();
                Ok(true)
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(false),
            Err(e) => Err(StoreError::io("moving into place", dest)(e)),
        }
    }

    fn release(&mut self) {
        if self.lock.take().is_some() {
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.lock.is_some() {
            let _ = fs::remove_dir_all(&self.dir);
            self.release();
        }
    }
}

/// Creates `path` already locked: an unnamed file is locked first and then
/// linked into place, so the cleaner can never see it unlocked while its
/// creator lives.
fn locked_file_at(dir: &Path, path: &Path) -> Result<FileLock> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;

    let file = OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .map_err(StoreError::io("creating lock file in", dir))?;
    let fd = file.as_raw_fd();
    let lock = FileLock::from_file(file, path)?;
    let src = CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default();
    let dst = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| StoreError::io("naming", path)(std::io::Error::other(e)))?;
    // SAFETY: both arguments are valid NUL-terminated strings that outlive
    // the call; linkat does not retain them.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            src.as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc != 0 {
        return Err(StoreError::io("linking", path)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(lock)
}

/// Removes staging directories whose creators died, and trash left by an
/// interrupted delete.
pub(crate) fn clean(tmp: &Path) -> Result<()> {
    let entries = fs::read_dir(tmp).map_err(StoreError::io("listing", tmp))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(base) = name.strip_suffix(".lock") {
            if let Some(_lock) = FileLock::try_exclusive(&path)? {
                let _ = fs::remove_dir_all(tmp.join(base));
                let _ = fs::remove_file(&path);
            }
        } else if name.ends_with(".trash") && !remover_alive(&name) {
            unmount_layer_image(&path);
            let _ = fs::remove_dir_all(&path);
        } else if let Some(pid) = name.strip_prefix(".erofs-probe-") {
            // pocky-fs's one-time check of the kernel's EROFS support,
            // whose prober was killed before it removed its image.
            if !pid_alive(pid) {
                let _ = fs::remove_file(&path);
            }
        }
    }
    Ok(())
}

/// Where a layer's EROFS image is mounted, once containers have used it
/// (pocky-fs's `share_layer_images`, which names it the same).
pub(crate) const LAYER_MOUNT_DIR: &str = "mnt";

/// Detaches the image mounted on a layer directory's `mnt`, so its files can
/// go; a layer with nothing mounted (or no `mnt`) is left as it is.
pub(crate) fn unmount_layer_image(layer_dir: &Path) {
    let _ = nix::mount::umount2(
        &layer_dir.join(LAYER_MOUNT_DIR),
        nix::mount::MntFlags::MNT_DETACH,
    );
}

/// Deletes a directory tree so that it vanishes from its name at once: it is
/// first renamed into `tmp/` and then removed, so a crash midway leaves only
/// trash that [`clean`] finishes.
pub(crate) fn remove_tree(tmp: &Path, path: &Path) -> Result<()> {
    let trash = tmp.join(format!("{}.trash", unique_name()));
    match fs::rename(path, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("removing", path)(e)),
    }
    match fs::remove_dir_all(&trash) {
        Ok(()) => Ok(()),
        // Another process's `clean` finished it (its remover looked dead
        // to it: a reused pid check is only a heuristic).
        Err(_) if !trash.exists() => Ok(()),
        Err(e) => Err(StoreError::io("removing", &trash)(e)),
    }
}

/// Whether the process that named this trash (`<pid>-...`) still runs and
/// so is removing it itself: a second remover racing it would make its
/// `remove_dir_all` fail on entries that vanish under it.
fn remover_alive(name: &str) -> bool {
    name.split('-').next().is_some_and(pid_alive)
}

/// Whether `pid` names another process that still runs (a pid that does
/// not parse names none).
fn pid_alive(pid: &str) -> bool {
    pid.parse::<u32>()
        .is_ok_and(|pid| pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_removers_keep_their_trash() {
        assert!(remover_alive("1-18edbf89bf219583-0.trash"));
        assert!(!remover_alive(&format!("{}-1-0.trash", std::process::id())));
        assert!(!remover_alive("4194305-1-0.trash"));
        assert!(!remover_alive("leftover.trash"));

        let tmp = tempfile::tempdir().unwrap();
        let busy = tmp.path().join("1-a-0.trash");
        let dead = tmp.path().join("4194305-a-0.trash");
        fs::create_dir_all(busy.join("x")).unwrap();
        fs::create_dir_all(dead.join("x")).unwrap();
        clean(tmp.path()).unwrap();
        assert!(busy.exists());
        assert!(!dead.exists());
    }

    #[test]
    fn a_killed_probers_image_goes_and_a_live_ones_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join(".erofs-probe-1");
        let dead = tmp.path().join(".erofs-probe-4194305");
        fs::write(&live, b"").unwrap();
        fs::write(&dead, b"").unwrap();
        clean(tmp.path()).unwrap();
        assert!(live.exists());
        assert!(!dead.exists());
    }
}
