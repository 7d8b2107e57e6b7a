//! Bombs: bytes, entries and path lengths are bounded.

use std::io::Write;

use pocky_fs::{FsError, UnpackLimits, unpack_layer};

use crate::support::{Sandbox, Tar};

#[test]
fn gzip_bomb_hits_the_byte_limit() {
    let zeros = vec![0u8; 8 << 20];
    let mut t = Tar::new();
    t.file("bomb", 0o644, &zeros);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&t.finish()).unwrap();
    let blob = enc.finish().unwrap();
    assert!(blob.len() < 64 << 10, "the bomb should be small");
    let sb = Sandbox::new();
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        ..UnpackLimits::default()
    };
    let err = unpack_layer(&blob[..], &sb.dest, &limits).unwrap_err();
    assert!(
        matches!(err, FsError::TooLarge { limit } if limit == 1 << 20),
        "{err}"
    );
    let written = std::fs::metadata(sb.path("bomb")).map_or(0, |m| m.len());
    assert!(written <= 1 << 20, "wrote {written} bytes past the limit");
}

#[test]
fn trailing_data_counts_against_the_byte_limit() {
    let mut plain = Tar::new().file("f", 0o644, b"x").finish();
    let tar_len = plain.len() as u64;
    plain.extend(vec![0u8; 4096]);
    let sb = Sandbox::new();
    let limits = UnpackLimits {
        max_bytes: tar_len + 100,
        ..UnpackLimits::default()
    };
    let err = unpack_layer(&plain[..], &sb.dest, &limits).unwrap_err();
    assert!(matches!(err, FsError::TooLarge { .. }), "{err}");
}

#[test]
fn entry_count_is_limited() {
    let mut t = Tar::new();
    for i in 0..10 {
        t.file(&format!("f{i}"), 0o644, b"");
    }
    let layer = t.finish();
    let sb = Sandbox::new();
    let limits = UnpackLimits {
        max_entries: 5,
        ..UnpackLimits::default()
    };
    let err = unpack_layer(&layer[..], &sb.dest, &limits).unwrap_err();
    assert!(matches!(err, FsError::TooManyEntries { limit: 5 }), "{err}");
    assert!(!sb.path("f5").exists());

    let ok = UnpackLimits {
        max_entries: 10,
        ..UnpackLimits::default()
    };
    let sb = Sandbox::new();
    assert_eq!(unpack_layer(&layer[..], &sb.dest, &ok).unwrap().entries, 10);
}

#[test]
fn overlong_paths_are_refused() {
    let long = "d/".repeat(2100) + "f";
    let mut t = Tar::new();
    t.pax(&[("path", long.as_bytes())]);
    t.file("placeholder", 0o644, b"");
    let sb = Sandbox::new();
    let err = sb.unpack(&t.finish()).unwrap_err();
    assert!(
        matches!(err, FsError::PathTooLong { len: 4201, .. }),
        "{err}"
    );
}
