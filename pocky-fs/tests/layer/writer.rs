//! LayerWriter: its digests are those of what it wrote and of what it was
//! given, the blob decompresses to the tar, and one tar gives one blob.

use std::io::{Read, Write};

use pocky_fs::{Compression, LayerWriter, UnpackLimits, pack_layer};

use crate::support::*;

fn tree() -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    for i in 0..50 {
        let data = format!("file {i} ").repeat(200 + i);
        write(root, &format!("d{}/f{i}", i % 5), data.as_bytes(), 0o644);
    }
    std::fs::hard_link(root.join("d0/f0"), root.join("d1/link")).unwrap();
    symlink(root, "d2/s", "/nowhere");
    settle_times(root);
    src
}

fn decompress(c: Compression, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match c {
        Compression::None => out.extend_from_slice(blob),
        Compression::Gzip => {
            flate2::read::GzDecoder::new(blob)
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Zstd => out = zstd::decode_all(blob).unwrap(),
    }
    out
}

#[test]
fn digests_are_of_the_blob_and_of_the_tar() {
    let src = tree();
    let mut tar = Vec::new();
    pack_layer(src.path(), &mut tar).unwrap();
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let mut blob = Vec::new();
        let mut w = LayerWriter::new(&mut blob, c).unwrap();
        let packed = pack_layer(src.path(), &mut w).unwrap();
        let d = w.finish().unwrap();
        assert!(packed.file_bytes > 0);
        assert_eq!(d.digest, sha256(&blob), "{c:?}");
        assert_eq!(d.size, blob.len() as u64, "{c:?}");
        assert_eq!(d.diff_id, sha256(&tar), "{c:?}");
        assert_eq!(d.uncompressed_size, tar.len() as u64, "{c:?}");
        assert!(decompress(c, &blob) == tar, "{c:?}");
        if c != Compression::None {
            assert!(d.size < d.uncompressed_size / 4, "{c:?}: {d:?}");
        }
        // The unpacker agrees on the diff_id from the blob.
        let dest = tempfile::tempdir().unwrap();
        let un = pocky_fs::unpack_layer(&blob[..], dest.path(), &UnpackLimits::default()).unwrap();
        assert_eq!(un.diff_id, d.diff_id, "{c:?}");
    }
}

#[test]
fn one_tar_gives_one_blob() {
    let src = tree();
    for c in [Compression::Gzip, Compression::Zstd] {
        let blobs: Vec<(Vec<u8>, String)> = (0..2)
            .map(|_| {
                let mut blob = Vec::new();
                let mut w = LayerWriter::new(&mut blob, c).unwrap();
                pack_layer(src.path(), &mut w).unwrap();
                let d = w.finish().unwrap();
                (blob, d.digest)
            })
            .collect();
        assert!(blobs[0] == blobs[1], "{c:?}");
        if c == Compression::Gzip {
            let b = &blobs[0].0;
            // No FNAME/FCOMMENT/FEXTRA flags, mtime 0.
            assert_eq!(&b[..4], &[0x1f, 0x8b, 8, 0]);
            assert_eq!(&b[4..8], &[0, 0, 0, 0]);
        }
    }
}

#[test]
fn small_writes_and_an_empty_stream_hash_right() {
    let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut blob = Vec::new();
    let mut w = LayerWriter::new(&mut blob, Compression::Gzip).unwrap();
    for chunk in data.chunks(7) {
        w.write_all(chunk).unwrap();
    }
    let d = w.finish().unwrap();
    assert_eq!(d.diff_id, sha256(&data));
    assert_eq!(d.digest, sha256(&blob));
    assert!(decompress(Compression::Gzip, &blob) == data);

    let mut blob = Vec::new();
    let d = LayerWriter::new(&mut blob, Compression::Zstd)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(d.diff_id, sha256(b""));
    assert_eq!((d.uncompressed_size, d.size), (0, blob.len() as u64));
}

#[test]
fn media_types() {
    assert_eq!(
        Compression::Gzip.media_type(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        Compression::Zstd.media_type(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(
        Compression::None.media_type(),
        "application/vnd.oci.image.layer.v1.tar"
    );
}
