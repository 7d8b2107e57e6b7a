//! The overlay mounted at the container's root.
//!
//! A mount's option string is copied into one page, so tens of layers with
//! long store paths overflow it. Past [`SOFT_LIMIT`] bytes, pocky chdirs to
//! the lowers' common parent and names them relative to it: overlayfs
//! resolves relative layer paths against the mounting process's cwd. Where
//! even that does not fit (over ~50 layers of 64-hex names), it makes
//! numbered symlinks to the layers in [`Overlay::links`] and mounts from
//! there, as Docker's `l/` directory does: a few bytes per layer, up to
//! overlayfs's own limit of 500 layers.

use std::io;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, fchdir};

use crate::FsError;

/// Option length past which paths go relative (a page, less headroom for
/// the options the kernel or an LSM may append).
pub(crate) const SOFT_LIMIT: usize = 3500;
/// The kernel copies at most a page, NUL included.
pub(crate) const HARD_LIMIT: usize = 4095;

/// One image layer as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lower {
    /// An unpacked directory (the overlay driver).
    Dir(PathBuf),
    /// An EROFS image file (the EROFS driver), mounted on the way.
    Erofs(PathBuf),
}

impl Lower {
    pub fn path(&self) -> &Path {
        match self {
            Lower::Dir(p) | Lower::Erofs(p) => p,
        }
    }
}

/// An overlay to mount at the spec's `root.path` before anything else
/// (pocky's own containers; an OCI bundle from podman brings its rootfs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Layers, top-most first, as overlayfs wants them.
    pub lowers: Vec<Lower>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs's work directory, on the same filesystem as `upper`.
    pub work: PathBuf,
    /// A directory of the container's own for short links to the lowers,
    /// made only when the option string would not fit otherwise.
    pub links: Option<PathBuf>,
    /// Mount with overlayfs's `volatile`: the container's writes are never
    /// synced to disk (no `syncfs` at unmount, `fsync` a no-op), for a
    /// container that is not to outlive its run (`--rm`, a build step), as
    /// podman and buildah do. After a crash such an upper layer is not to
    /// be trusted; pocky throws those containers away in any case.
    pub volatile: bool,
}

/// The overlay's mount data and the directory it must be mounted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverlayOptions {
    pub data: String,
    /// When set, `data` holds paths relative to this directory.
    pub cwd: Option<PathBuf>,
    /// Symlinks to make in `cwd` first: (name, layer directory).
    pub links: Vec<(String, PathBuf)>,
}

fn check_path(path: &Path) -> Result<&str, FsError> {
    let bad = |reason| FsError::OverlayPath {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_absolute() {
        return Err(bad("is not absolute"));
    }
    let s = path.to_str().ok_or_else(|| bad("is not UTF-8"))?;
    // `:` separates lowers and `,` options; escaping them is fragile across
    // kernel versions, and pocky's store never makes such names.
    if s.contains([':', ',', '\\', '\0']) {
        return Err(bad(
            "contains `:`, `,`, `\\` or NUL, which overlayfs options cannot carry",
        ));
    }
    Ok(s)
}

fn render(lowers: &[String], upper: &str, work: &str, volatile: bool) -> String {
    // In a user namespace overlayfs may not use trusted.* xattrs; the
    // layers were unpacked there with user.overlay.opaque (whiteout.rs).
    let userxattr = if crate::in_initial_userns() {
        ""
    } else {
        ",userxattr"
    };
    let volatile = if volatile { ",volatile" } else { "" };
    format!(
        "lowerdir={},upperdir={upper},workdir={work}{userxattr}{volatile}",
        lowers.join(":")
    )
}

/// The deepest directory that holds every path in `paths`.
fn common_parent(paths: &[PathBuf]) -> PathBuf {
    let mut common: Vec<Component<'_>> = match paths.first().and_then(|p| p.parent()) {
        Some(parent) => parent.components().collect(),
        None => return PathBuf::from("/"),
    };
    for path in paths.iter().skip(1) {
        let parent: Vec<Component<'_>> = path
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        let same = common
            .iter()
            .zip(&parent)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(same);
    }
    common.iter().collect()
}

fn relative_to(path: &Path, base: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// Builds the overlay's options, falling back to relative lower paths when
/// the absolute ones would not fit.
pub(crate) fn overlay_options(overlay: &Overlay) -> Result<OverlayOptions, FsError> {
    if overlay.lowers.is_empty() {
        return Err(FsError::OverlayPath {
            path: overlay.upper.clone(),
            reason: "has an overlay with no lower layers",
        });
    }
    let mut lowers = Vec::with_capacity(overlay.lowers.len());
    for lower in &overlay.lowers {
        lowers.push(check_path(lower.path())?.to_owned());
    }
    let upper = check_path(&overlay.upper)?;
    let work = check_path(&overlay.work)?;
    let data = render(&lowers, upper, work, overlay.volatile);
    if data.len() <= SOFT_LIMIT {
        return Ok(OverlayOptions {
            data,
            cwd: None,
            links: Vec::new(),
        });
    }

    let paths: Vec<PathBuf> = overlay.lowers.iter().map(|l| l.path().to_owned()).collect();
    let base = common_parent(&paths);
    let lowers: Vec<String> = paths.iter().map(|l| relative_to(l, &base)).collect();
    // upper and work stay absolute: they are usually elsewhere, and two
    // paths never break the page.
    let data = render(&lowers, upper, work, overlay.volatile);
    if data.len() <= SOFT_LIMIT {
        return Ok(OverlayOptions {
            data,
            cwd: Some(base),
            links: Vec::new(),
        });
    }
    if let Some(dir) = &overlay.links {
        check_path(dir)?;
        let links: Vec<(String, PathBuf)> = paths
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("{i:x}"), l.clone()))
            .collect();
        let names: Vec<String> = links.iter().map(|(n, _)| n.clone()).collect();
        let data = render(&names, upper, work, overlay.volatile);
        if data.len() <= HARD_LIMIT {
            return Ok(OverlayOptions {
                data,
                cwd: Some(dir.clone()),
                links,
            });
        }
    }
    if data.len() > HARD_LIMIT {
        return Err(FsError::OverlayOptionsTooLong {
            len: data.len(),
            limit: HARD_LIMIT,
        });
    }
    Ok(OverlayOptions {
        data,
        cwd: Some(base),
        links: Vec::new(),
    })
}

/// Makes `dir` hold exactly the symlinks `links` (a restart finds the
/// previous start's).
fn make_links(dir: &Path, links: &[(String, PathBuf)]) -> Result<(), FsError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(FsError::Rootfs {
                op: "remove",
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| FsError::Rootfs { op, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("mkdir", dir))?;
    for (name, target) in links {
        let link = dir.join(name);
        std::os::unix::fs::symlink(target, &link).map_err(io("symlink", &link))?;
    }
    Ok(())
}

fn rootfs_error(op: &'static str, path: &Path, errno: nix::errno::Errno) -> FsError {
    FsError::Rootfs {
        op,
        path: path.to_path_buf(),
        source: io::Error::from(errno),
    }
}

/// Mounts `overlay` on `target`. When the options need relative paths this
/// changes the cwd for the duration of the call, so it is only for a
/// single-threaded process (the container's child before exec).
pub fn mount_overlay(overlay: &Overlay, target: &Path) -> Result<(), FsError> {
    mount_with(overlay, target, false)
}

/// Mounts the EROFS image `image` read-only on the directory `mnt` beside
/// it (made when missing) and returns that directory; an image already
/// mounted there (by [`share_layer_images`], in the namespace this one was
/// copied from) is used as it is.
///
/// An attached mount, in the caller's mount namespace, which is always a
/// private one (the container's, or a helper's): it goes with that
/// namespace, together with the rest of it. A detached mount (fsmount)
/// would need no directory, but dropping its descriptor waits for an
/// expedited RCU grace period per layer (measured: 1 ms a layer at the
/// median, 10-20 ms at p90 on a busy machine), where this costs ~70 µs.
fn mount_layer_image(image: &Path) -> Result<PathBuf, FsError> {
    let mnt = image.with_file_name(LAYER_MOUNT_DIR);
    match std::fs::create_dir(&mnt) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if is_erofs_mount(&mnt) {
                return Ok(mnt);
            }
        }
        Err(source) => {
            return Err(FsError::Rootfs {
                op: "mkdir",
                path: mnt,
                source,
            });
        }
    }
    mount(
        Some(image),
        &mnt,
        Some("erofs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| FsError::Mount {
        fstype: "erofs".to_owned(),
        from: image.display().to_string(),
        destination: mnt.clone(),
        source: io::Error::from(e),
    })?;
    Ok(mnt)
}

/// The directory beside a layer image that it is mounted on.
pub const LAYER_MOUNT_DIR: &str = "mnt";

/// `EROFS_SUPER_MAGIC_V1` from `linux/magic.h`.
const EROFS_SUPER_MAGIC: u32 = 0xE0F5_E1E2;

/// Whether an EROFS filesystem is mounted on `dir` (only layer images are
/// ever mounted on a layer's `mnt`).
fn is_erofs_mount(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| u32::try_from(s.filesystem_type().0) == Ok(EROFS_SUPER_MAGIC))
}

/// Mounts the EROFS layer images of `overlay` in the caller's mount
/// namespace, each on its `mnt` and left there, unless one is already.
///
/// Every mount of an image file is a superblock of its own with its own
/// page cache, so with a mount per container each container copied what it
/// read (its binaries, its libraries) out of the image file's page cache
/// into its own, and held that copy while it ran: 2 ms of a `run` of
/// busybox, and N copies of an image's working set for N containers. The
/// containers' mount namespaces are copies of the caller's, so a layer
/// mounted here once serves them all, with one page cache, until the layer
/// is deleted (`pocky-store` unmounts it first). The directory store's
/// layers are plain directories and need nothing. A lock on the layer's
/// directory keeps two starts from mounting it twice.
pub fn share_layer_images(overlay: &Overlay) -> Result<(), FsError> {
    for lower in &overlay.lowers {
        let Lower::Erofs(image) = lower else {
            continue;
        };
        let mnt = image.with_file_name(LAYER_MOUNT_DIR);
        if is_erofs_mount(&mnt) {
            continue;
        }
        let dir = image.parent().unwrap_or(Path::new("/"));
        let lock = std::fs::File::open(dir).map_err(|source| FsError::Rootfs {
            op: "open",
            path: dir.to_path_buf(),
            source,
        })?;
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(
            |(_, e)| FsError::Rootfs {
                op: "lock",
                path: dir.to_path_buf(),
                source: io::Error::from(e),
            },
        )?;
        mount_layer_image(image)?;
    }
    Ok(())
}

/// [`mount_overlay`], read-only, without setuid or devices: for reading
/// an image's files (volume seeding).
pub fn mount_overlay_ro(overlay: &Overlay, target: &Path) -> Result<(), FsError> {
    mount_with(overlay, target, true)
}

fn mount_with(overlay: &Overlay, target: &Path, read_only: bool) -> Result<(), FsError> {
    let mut dirs = Vec::with_capacity(overlay.lowers.len());
    for lower in &overlay.lowers {
        dirs.push(match lower {
            Lower::Dir(p) => Lower::Dir(p.clone()),
            Lower::Erofs(image) => Lower::Dir(mount_layer_image(image)?),
        });
    }
    let overlay = &Overlay {
        lowers: dirs,
        ..overlay.clone()
    };
    let opts = overlay_options(overlay)?;
    if let (Some(dir), false) = (&opts.cwd, opts.links.is_empty()) {
        make_links(dir, &opts.links)?;
    }
    let saved_cwd = match &opts.cwd {
        Some(dir) => {
            let saved = open(
                ".",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| rootfs_error("open cwd", Path::new("."), e))?;
            chdir(dir).map_err(|e| rootfs_error("chdir", dir, e))?;
            Some(saved)
        }
        None => None,
    };
    let flags = match read_only {
        true => MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        false => MsFlags::empty(),
    };
    if overlay.volatile {
        // overlayfs leaves this mark (a directory holding `dirty`) behind
        // a volatile mount, even a cleanly unmounted one, and refuses the
        // next mount while it is there. Only a container that does not
        // outlive its run is mounted volatile, so a second mount is a
        // start again of the same run; containers/storage removes it too.
        let _ = std::fs::remove_dir_all(overlay.work.join("work/incompat/volatile"));
    }
    let mut result = mount(
        Some("overlay"),
        target,
        Some("overlay"),
        flags,
        Some(opts.data.as_str()),
    );
    if overlay.volatile && result == Err(nix::errno::Errno::EINVAL) {
        // Kernels before 5.10 know no `volatile`: the mount is only slower.
        let data = opts.data.replace(",volatile", "");
        result = mount(
            Some("overlay"),
            target,
            Some("overlay"),
            flags,
            Some(data.as_str()),
        );
    }
    if let Some(saved) = saved_cwd {
        fchdir(saved.as_fd()).map_err(|e| rootfs_error("restore cwd", Path::new("."), e))?;
    }
    result.map_err(|e| FsError::Mount {
        fstype: "overlay".to_owned(),
        from: opts.data,
        destination: target.to_path_buf(),
        source: io::Error::from(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(lowers: Vec<PathBuf>) -> Overlay {
        Overlay {
            lowers: lowers.into_iter().map(Lower::Dir).collect(),
            upper: PathBuf::from("/var/lib/pocky/c/1/upper"),
            work: PathBuf::from("/var/lib/pocky/c/1/work"),
            links: None,
            volatile: false,
        }
    }

    #[test]
    fn few_layers_use_absolute_paths_top_first() {
        let o = overlay(vec!["/l/b".into(), "/l/a".into()]);
        let opts = overlay_options(&o).unwrap();
        assert_eq!(
            opts.data,
            "lowerdir=/l/b:/l/a,upperdir=/var/lib/pocky/c/1/upper,workdir=/var/lib/pocky/c/1/work"
        );
        assert_eq!(opts.cwd, None);
    }

    #[test]
    fn many_layers_fall_back_to_paths_relative_to_their_common_parent() {
        // Long store path, short per-layer names (as Docker's `l/` links).
        let base = format!("/var/lib/pocky/{}/layers", "x".repeat(40));
        let lowers: Vec<PathBuf> = (0..60)
            .map(|i| PathBuf::from(format!("{base}/{i:026}/diff")))
            .collect();
        let absolute_len = lowers
            .iter()
            .map(|l| l.as_os_str().len() + 1)
            .sum::<usize>();
        assert!(absolute_len > SOFT_LIMIT);
        let opts = overlay_options(&overlay(lowers)).unwrap();
        assert_eq!(opts.cwd, Some(PathBuf::from(&base)));
        assert!(opts.data.starts_with(&format!("lowerdir={:026}/diff:", 0)));
        assert!(
            opts.data
                .contains(&format!(":{:026}/diff,upperdir=/var/lib", 59))
        );
        assert!(opts.data.len() <= HARD_LIMIT);
    }

    #[test]
    fn too_many_layers_even_relative_are_refused() {
        let lowers: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/l/{i:064}")))
            .collect();
        let err = overlay_options(&overlay(lowers)).unwrap_err();
        assert!(
            matches!(err, FsError::OverlayOptionsTooLong { .. }),
            "{err}"
        );
    }

    #[test]
    fn past_relative_paths_short_links_name_the_layers() {
        let lowers: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/l/{i:064}/diff")))
            .collect();
        let mut o = overlay(lowers.clone());
        o.links = Some(PathBuf::from("/var/lib/pocky/c/1/l"));
        let opts = overlay_options(&o).unwrap();
        assert_eq!(opts.cwd, o.links);
        assert!(opts.data.starts_with("lowerdir=0:1:2:"), "{}", opts.data);
        assert!(opts.data.contains(":c7,upperdir="), "{}", opts.data);
        assert_eq!(opts.links.len(), 200);
        assert_eq!(opts.links[199], ("c7".to_string(), lowers[199].clone()));
    }

    #[test]
    fn separators_in_paths_are_refused() {
        for bad in ["/l/a:b", "/l/a,b", "relative"] {
            let err = overlay_options(&overlay(vec![bad.into()])).unwrap_err();
            assert!(matches!(err, FsError::OverlayPath { .. }), "{bad}: {err}");
        }
        assert!(overlay_options(&overlay(vec![])).is_err());
    }

    #[test]
    fn common_parent_of_siblings_and_of_mixed_depths() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(common_parent(&[p("/a/b/c"), p("/a/b/d")]), p("/a/b"));
        assert_eq!(common_parent(&[p("/a/b/c"), p("/a/x/y/z")]), p("/a"));
        assert_eq!(common_parent(&[p("/a")]), p("/"));
    }
}
