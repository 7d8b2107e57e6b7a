//! `pack` and `unpack_archive`, the pair behind `pocky cp`: a tree comes
//! back as it was, and an archive is plain files, not a layer.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use pocky_fs::{ArchiveOptions, FsError, pack, unpack_archive};
use tar::EntryType;

use crate::support::{Entry, Sandbox, Tar, lstat};

fn dest_fd(sb: &Sandbox) -> std::os::fd::OwnedFd {
    open(
        &sb.dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
    .unwrap()
}

#[test]
fn a_packed_tree_unpacks_as_it_was_under_the_chosen_name() {
    let src = tempfile::tempdir().unwrap();
    let top = src.path().join("top");
    fs::create_dir_all(top.join("sub")).unwrap();
    fs::write(top.join("sub/f"), b"data").unwrap();
    fs::set_permissions(top.join("sub/f"), fs::Permissions::from_mode(0o4751)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", top.join("link")).unwrap();
    nix::unistd::mkfifo(&top.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    let fd = open(&top, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
    let mut tar = Vec::new();
    let packed = pack(&fd, Path::new("renamed"), &mut tar).unwrap();
    assert_eq!(packed.entries, 5);
    assert_eq!(packed.file_bytes, 4);

    let sb = Sandbox::new();
    unpack_archive(&tar[..], &dest_fd(&sb), &ArchiveOptions::default()).unwrap();
    assert_eq!(fs::read(sb.path("renamed/sub/f")).unwrap(), b"data");
    assert_eq!(lstat(&sb.path("renamed/sub/f")).mode() & 0o7777, 0o4751);
    assert_eq!(
        fs::read_link(sb.path("renamed/link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert!(lstat(&sb.path("renamed/fifo")).file_type().is_fifo());
    sb.assert_outside_unchanged();

    // `.` packs the contents.
    let mut tar = Vec::new();
    pack(&fd, Path::new("."), &mut tar).unwrap();
    let sb = Sandbox::new();
    unpack_archive(&tar[..], &dest_fd(&sb), &ArchiveOptions::default()).unwrap();
    assert!(sb.path("sub/f").is_file());
}

#[test]
fn whiteout_names_are_files_devices_are_left_out_and_owners_forced() {
    let layer = Tar::new()
        .entry(Entry {
            name: ".wh.gone",
            data: b"plain",
            uid: 1234,
            gid: 4321,
            ..Entry::default()
        })
        .entry(Entry {
            name: "wh",
            kind: EntryType::Char,
            dev: (0, 0),
            ..Entry::default()
        })
        .entry(Entry {
            name: "sda",
            kind: EntryType::Block,
            dev: (8, 0),
            ..Entry::default()
        })
        .finish();
    let sb = Sandbox::new();
    let opts = ArchiveOptions {
        owner: Some((0, 0)),
        ..ArchiveOptions::default()
    };
    unpack_archive(&layer[..], &dest_fd(&sb), &opts).unwrap();
    assert_eq!(fs::read(sb.path(".wh.gone")).unwrap(), b"plain");
    if nix::unistd::geteuid().is_root() {
        assert_eq!(lstat(&sb.path(".wh.gone")).uid(), 0);
    }
    assert!(!sb.path("wh").exists() && fs::symlink_metadata(sb.path("wh")).is_err());
    assert!(fs::symlink_metadata(sb.path("sda")).is_err());
    sb.assert_outside_unchanged();
}

#[test]
fn an_archive_gets_the_layer_rules_against_escapes() {
    for layer in [
        Tar::new().file("../outside/file", 0o644, b"x").finish(),
        Tar::new()
            .symlink("l", "../outside")
            .file("l/file", 0o644, b"x")
            .finish(),
    ] {
        let sb = Sandbox::new();
        let err = unpack_archive(&layer[..], &dest_fd(&sb), &ArchiveOptions::default());
        assert!(
            matches!(
                err,
                Err(FsError::DotDot { .. } | FsError::ThroughSymlink { .. })
            ),
            "{err:?}"
        );
        sb.assert_outside_unchanged();
    }
}
