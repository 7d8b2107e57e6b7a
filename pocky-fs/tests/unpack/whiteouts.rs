//! OCI whiteouts become overlayfs whiteouts.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use pocky_fs::FsError;
use tar::EntryType;

use crate::support::{Sandbox, Tar, get_xattr, lstat};

fn assert_whiteout(sb: &Sandbox, rel: &str) {
    let md = lstat(&sb.path(rel));
    assert!(
        md.file_type().is_char_device(),
        "{rel} is not a char device"
    );
    assert_eq!(md.rdev(), 0, "{rel} is not 0:0");
}

#[test]
fn whiteout_becomes_a_0_0_char_device_replacing_what_was_there() {
    if !pocky_testkit::privileged("whiteout_becomes_a_0_0_char_device") {
        return;
    }
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.file("a/file", 0o644, b"x");
    t.file("a/dir/inner", 0o644, b"y");
    t.file("a/.wh.file", 0o644, b"");
    t.file("a/.wh.dir", 0o644, b"");
    t.file("a/.wh.gone", 0o644, b"");
    t.file("implied/.wh..hidden", 0o644, b"");
    sb.unpack(&t.finish()).unwrap();
    assert_whiteout(&sb, "a/file");
    assert_whiteout(&sb, "a/dir");
    assert_whiteout(&sb, "a/gone");
    assert_whiteout(&sb, "implied/.hidden");
    assert!(!sb.path("a/.wh.file").exists());
}

#[test]
fn overlay_style_0_0_char_device_is_a_whiteout() {
    if !pocky_testkit::privileged("overlay_style_0_0_char_device_is_a_whiteout") {
        return;
    }
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.device("gone", EntryType::Char, 0, 0);
    sb.unpack(&t.finish()).unwrap();
    assert_whiteout(&sb, "gone");
}

#[test]
fn opaque_marker_sets_the_overlay_xattr() {
    if !pocky_testkit::privileged("opaque_marker_sets_the_overlay_xattr") {
        return;
    }
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.dir("d", 0o755);
    t.file("d/.wh..wh..opq", 0o644, b"");
    t.file("d/kept", 0o644, b"k");
    t.file("implied/.wh..wh..opq", 0o644, b"");
    sb.unpack(&t.finish()).unwrap();
    assert_eq!(
        get_xattr(&sb.path("d"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        get_xattr(&sb.path("implied"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!sb.path("d/.wh..wh..opq").exists());
    assert!(sb.path("d/kept").exists());
}

#[test]
fn aufs_metadata_is_skipped() {
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.dir(".wh..wh.plnk", 0o700);
    t.file(".wh..wh.plnk/123.456", 0o644, b"");
    t.file(".wh..wh.aufs", 0o644, b"");
    let out = sb.unpack(&t.finish()).unwrap();
    assert_eq!(out.entries, 3);
    assert_eq!(std::fs::read_dir(&sb.dest).unwrap().count(), 0);
}

#[test]
fn malformed_whiteouts_are_errors() {
    for name in [".wh.", "d/.wh..", "d/.wh...", ".wh...."] {
        let sb = Sandbox::new();
        let mut t = Tar::new();
        t.file(name, 0o644, b"");
        let err = sb.unpack(&t.finish()).unwrap_err();
        assert!(
            matches!(err, FsError::MalformedWhiteout { .. }),
            "{name}: {err}"
        );
        sb.assert_outside_unchanged();
    }
}
