//! Hostile layers: nothing may be created, followed or linked outside dest.
//! Each test checks the sibling `outside` tree is untouched afterwards.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pocky_fs::FsError;
use tar::EntryType;

use crate::support::{Entry, Sandbox, Tar, lstat};

fn refused(sb: &Sandbox, layer: &[u8]) -> FsError {
    let err = sb.unpack(layer).unwrap_err();
    sb.assert_outside_unchanged();
    err
}

#[test]
fn dotdot_entries_are_refused() {
    for name in ["../escape", "a/../../x", "a/..", "/../outside/file"] {
        let sb = Sandbox::new();
        let layer = Tar::new().file(name, 0o644, b"pwned").finish();
        let err = refused(&sb, &layer);
        assert!(matches!(err, FsError::DotDot { .. }), "{name}: {err}");
        assert!(!sb.dest.parent().unwrap().join("escape").exists());
    }
}

#[test]
fn absolute_names_land_inside_dest() {
    let sb = Sandbox::new();
    let name = format!("/etc/pocky-fs-test-{}", std::process::id());
    let layer = Tar::new().file(&name, 0o644, b"inside").finish();
    sb.unpack(&layer).unwrap();
    assert_eq!(fs::read(sb.dest.join(&name[1..])).unwrap(), b"inside");
    assert!(!Path::new(&name).exists());
    sb.assert_outside_unchanged();
}

#[test]
fn writing_through_an_absolute_symlink_is_refused() {
    let sb = Sandbox::new();
    let outside = sb.outside.to_str().unwrap().to_owned();
    let layer = Tar::new()
        .symlink("evil", &outside)
        .file("evil/pwned", 0o644, b"pwned")
        .finish();
    let err = refused(&sb, &layer);
    assert!(matches!(err, FsError::ThroughSymlink { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "entry evil/pwned passes through symlink evil"
    );
    assert!(!sb.outside.join("pwned").exists());
}

#[test]
fn writing_through_a_relative_escaping_symlink_is_refused() {
    for target in ["../../..", "../outside", "..", "/"] {
        let sb = Sandbox::new();
        let layer = Tar::new()
            .dir("a", 0o755)
            .symlink("a/up", target)
            .file("a/up/outside/file", 0o644, b"pwned")
            .finish();
        let err = refused(&sb, &layer);
        assert!(
            err.to_string() == "entry a/up/outside/file passes through symlink a/up",
            "{target}: {err}"
        );
    }
}

#[test]
fn directories_through_symlinks_are_refused() {
    let sb = Sandbox::new();
    let layer = Tar::new()
        .symlink("root", "/")
        .dir("root/outside-created", 0o755)
        .finish();
    let err = refused(&sb, &layer);
    assert!(matches!(err, FsError::ThroughSymlink { .. }), "{err}");
}

#[test]
fn a_symlink_inside_is_still_not_followed() {
    // Even a harmless in-layer symlink is never a path to write through:
    // the kernel check makes no exceptions.
    let sb = Sandbox::new();
    let layer = Tar::new()
        .dir("real", 0o755)
        .symlink("alias", "real")
        .file("alias/f", 0o644, b"")
        .finish();
    assert!(matches!(
        refused(&sb, &layer),
        FsError::ThroughSymlink { .. }
    ));
}

#[test]
fn parent_that_is_a_file_is_an_error() {
    let sb = Sandbox::new();
    let layer = Tar::new()
        .file("f", 0o644, b"")
        .file("f/child", 0o644, b"")
        .finish();
    assert!(matches!(
        refused(&sb, &layer),
        FsError::NotADirectory { .. }
    ));
}

#[test]
fn hardlinks_out_of_the_layer_are_refused() {
    for target in ["/etc/passwd", "../outside/file", "nope", "d", "d/../f"] {
        let sb = Sandbox::new();
        let layer = Tar::new()
            .dir("d", 0o755)
            .file("f", 0o644, b"")
            .hardlink("link", target)
            .finish();
        let err = refused(&sb, &layer);
        assert!(
            matches!(err, FsError::BadHardlink { .. }),
            "{target}: {err}"
        );
        assert!(!sb.path("link").exists());
    }
}

#[test]
fn hardlink_through_a_symlink_is_refused() {
    let sb = Sandbox::new();
    let outside = sb.outside.to_str().unwrap().to_owned();
    let layer = Tar::new()
        .symlink("out", &outside)
        .hardlink("link", "out/file")
        .finish();
    let err = refused(&sb, &layer);
    assert!(
        err.to_string().contains("passes through symlink out"),
        "{err}"
    );
    assert_eq!(lstat(&sb.outside.join("file")).nlink(), 1);
}

#[test]
fn overwriting_a_hardlink_to_an_escaping_symlink_stays_inside() {
    let sb = Sandbox::new();
    let outside_file = sb.outside.join("file");
    let layer = Tar::new()
        .symlink("s", outside_file.to_str().unwrap())
        .hardlink("h", "s")
        .file("h", 0o666, b"pwned")
        .finish();
    sb.unpack(&layer).unwrap();
    sb.assert_outside_unchanged();
    assert_eq!(fs::read(sb.path("h")).unwrap(), b"pwned");
    assert_eq!(fs::read_link(sb.path("s")).unwrap(), outside_file);
}

#[test]
fn chmod_through_a_symlink_replaces_the_link_instead() {
    let sb = Sandbox::new();
    let layer = Tar::new()
        .symlink("l", sb.outside.join("file").to_str().unwrap())
        .symlink("ld", sb.outside.join("sub").to_str().unwrap())
        .file("l", 0o777, b"")
        .entry(Entry {
            kind: EntryType::Directory,
            name: "ld",
            mode: 0o777,
            uid: 1234,
            ..Entry::default()
        })
        .finish();
    sb.unpack(&layer).unwrap();
    sb.assert_outside_unchanged();
    assert!(lstat(&sb.path("l")).is_file());
    assert_eq!(lstat(&sb.path("l")).mode() & 0o7777, 0o777);
    assert!(lstat(&sb.path("ld")).is_dir());
}

#[test]
fn device_nodes_are_left_out() {
    for (kind, major, minor) in [(EntryType::Block, 8, 0), (EntryType::Char, 1, 3)] {
        let sb = Sandbox::new();
        let layer = Tar::new()
            .device("dev/x", kind, major, minor)
            .file("dev/ok", 0o644, b"x")
            .finish();
        let out = sb.unpack(&layer).unwrap();
        assert_eq!(out.skipped_devices, 1);
        assert!(!sb.path("dev/x").exists());
        assert!(sb.path("dev/ok").exists());
    }
}

#[test]
fn symlink_replaced_by_whiteout_does_not_touch_its_target() {
    if !pocky_testkit::privileged("symlink_replaced_by_whiteout_does_not_touch_its_target") {
        return;
    }
    let sb = Sandbox::new();
    let layer = Tar::new()
        .symlink("l", sb.outside.join("sub").to_str().unwrap())
        .file(".wh.l", 0o644, b"")
        .finish();
    sb.unpack(&layer).unwrap();
    sb.assert_outside_unchanged();
}

#[test]
fn opaque_marker_behind_a_symlink_is_refused() {
    let sb = Sandbox::new();
    let layer = Tar::new()
        .symlink("l", sb.outside.to_str().unwrap())
        .file("l/.wh..wh..opq", 0o644, b"")
        .finish();
    assert!(matches!(
        refused(&sb, &layer),
        FsError::ThroughSymlink { .. }
    ));
}
