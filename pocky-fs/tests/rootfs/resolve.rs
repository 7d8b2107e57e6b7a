//! `open_in_root` / `create_in_root` on hostile symlinks (no root needed).

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::fstat;
use pocky_fs::{CreateKind, FsError, create_in_root, open_in_root};

fn ino(path: &Path) -> u64 {
    fs::metadata(path).unwrap().ino()
}

fn fd_ino(fd: &impl AsFd) -> u64 {
    fstat(fd.as_fd()).unwrap().st_ino
}

fn open_root(root: &Path) -> fs::File {
    fs::File::open(root).unwrap()
}

#[test]
fn symlinks_out_of_the_root_resolve_inside_it() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("a/b/rootfs");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(t.path().join("etc")).unwrap();
    symlink("/", root.join("abs")).unwrap();
    symlink("../../../..", root.join("dots")).unwrap();
    symlink(t.path(), root.join("hostpath")).unwrap();
    let rootfd = open_root(&root);

    for path in ["/abs", "dots", "/dots/../..", "/abs/abs/dots"] {
        let fd = open_in_root(&rootfd, Path::new(path), OFlag::O_DIRECTORY).unwrap();
        assert_eq!(fd_ino(&fd), ino(&root), "{path}");
    }
    let fd = open_in_root(&rootfd, Path::new("/dots/etc"), OFlag::empty()).unwrap();
    assert_eq!(fd_ino(&fd), ino(&root.join("etc")));
    // The host path named by an absolute link does not exist in the root.
    let err = open_in_root(&rootfd, Path::new("/hostpath/etc"), OFlag::empty()).unwrap_err();
    assert!(matches!(err, FsError::Resolve { .. }), "{err}");
    // O_NOFOLLOW hands back the link itself.
    let fd = open_in_root(&rootfd, Path::new("/abs"), OFlag::O_NOFOLLOW).unwrap();
    assert_eq!(
        fd_ino(&fd),
        fs::symlink_metadata(root.join("abs")).unwrap().ino()
    );
}

#[test]
fn creation_through_escaping_links_happens_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("a/b/rootfs");
    fs::create_dir_all(&root).unwrap();
    symlink("../../../..", root.join("dots")).unwrap();
    symlink(t.path(), root.join("hostpath")).unwrap();
    let rootfd = open_root(&root);

    create_in_root(&rootfd, Path::new("/dots/victim/dir"), CreateKind::Dir).unwrap();
    assert!(root.join("victim/dir").is_dir());
    assert!(!t.path().join("victim").exists());

    create_in_root(&rootfd, Path::new("/hostpath/file"), CreateKind::File).unwrap();
    let inside = root.join(t.path().strip_prefix("/").unwrap()).join("file");
    assert!(inside.is_file(), "{}", inside.display());
    assert!(!t.path().join("file").exists());

    // An existing target is returned as is.
    let fd = create_in_root(&rootfd, Path::new("victim"), CreateKind::File).unwrap();
    assert_eq!(fd_ino(&fd), ino(&root.join("victim")));
}

#[test]
fn a_dangling_link_is_followed_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    fs::create_dir_all(root.join("etc")).unwrap();
    symlink("/nowhere/deep", root.join("dangling")).unwrap();
    symlink("../../run", root.join("etc/run")).unwrap();
    let rootfd = open_root(&root);
    create_in_root(&rootfd, Path::new("/dangling"), CreateKind::Dir).unwrap();
    assert!(root.join("nowhere/deep").is_dir());
    assert!(!Path::new("/nowhere").exists());
    create_in_root(&rootfd, Path::new("/etc/run/lock/file"), CreateKind::File).unwrap();
    assert!(root.join("run/lock/file").is_file());
}

#[test]
fn a_link_loop_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    fs::create_dir_all(&root).unwrap();
    symlink("b", root.join("a")).unwrap();
    symlink("a", root.join("b")).unwrap();
    let rootfd = open_root(&root);
    let err = create_in_root(&rootfd, Path::new("/a/x"), CreateKind::Dir).unwrap_err();
    assert!(matches!(err, FsError::Resolve { .. }), "{err}");
    assert!(err.to_string().contains("/a/x"), "{err}");
}
