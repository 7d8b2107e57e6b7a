//! gzip, zstd and plain layers: same content, same diff_id.

use std::io::{Read, Write};

use pocky_fs::{UnpackLimits, unpack_layer};

use crate::support::{Sandbox, Tar, sha256};

fn plain_layer() -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("d", 0o755);
    t.file("d/f", 0o644, &[7u8; 5000]);
    t.finish()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Counts the compressed bytes the unpacker consumed.
struct Counting<'a> {
    inner: &'a [u8],
    read: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

#[test]
fn all_compressions_give_the_plain_tar_digest_and_reach_eof() {
    let plain = plain_layer();
    let expected = sha256(&plain);
    let blobs = [
        ("plain", plain.clone()),
        ("gzip", gzip(&plain)),
        ("zstd", zstd::encode_all(&plain[..], 3).unwrap()),
    ];
    for (kind, blob) in blobs {
        let sb = Sandbox::new();
        let mut reader = Counting {
            inner: &blob,
            read: 0,
        };
        let out = unpack_layer(&mut reader, &sb.dest, &UnpackLimits::default()).unwrap();
        assert_eq!(out.diff_id, expected, "{kind}");
        assert_eq!(out.tar_bytes, plain.len() as u64, "{kind}");
        assert_eq!(reader.read, blob.len(), "{kind}: blob not read to EOF");
        assert_eq!(
            std::fs::read(sb.path("d/f")).unwrap(),
            [7u8; 5000],
            "{kind}"
        );
    }
}

#[test]
fn concatenated_gzip_members_unpack() {
    let plain = plain_layer();
    let (a, b) = plain.split_at(700);
    let mut blob = gzip(a);
    blob.extend(gzip(b));
    let sb = Sandbox::new();
    let out = sb.unpack(&blob).unwrap();
    assert_eq!(out.diff_id, sha256(&plain));
    assert!(sb.path("d/f").exists());
}

#[test]
fn diff_id_covers_trailing_zero_blocks() {
    let mut plain = plain_layer();
    plain.extend(std::iter::repeat_n(0u8, 10 * 512));
    let sb = Sandbox::new();
    let out = sb.unpack(&gzip(&plain)).unwrap();
    assert_eq!(out.diff_id, sha256(&plain));
    assert_eq!(out.tar_bytes, plain.len() as u64);
}

#[test]
fn corrupt_gzip_is_an_error() {
    let mut blob = gzip(&plain_layer());
    let mid = blob.len() / 2;
    blob[mid] ^= 0xff;
    blob.truncate(blob.len() - 4);
    let sb = Sandbox::new();
    assert!(sb.unpack(&blob).is_err());
}

#[test]
fn truncated_plain_tar_is_an_error() {
    let plain = plain_layer();
    // Cut inside d/f's data: header blocks for d and d/f, then 1000 bytes.
    let sb = Sandbox::new();
    let err = sb.unpack(&plain[..3 * 512 + 1000]).unwrap_err();
    assert!(err.to_string().contains("layer ends inside d/f"), "{err}");
}
