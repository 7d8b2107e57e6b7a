//! Hostile archives: each must be refused with a clear error, and nothing
//! may appear outside the scratch directory.

mod common;

use std::io::Read;

use common::*;
use pocky_archive::{ArchiveError, Limits, read_archive};
use tar::EntryType;

/// Reads `data` in a fresh sandbox, expects an error and returns its
/// message after checking that nothing escaped scratch.
fn refused(data: &[u8], limits: &Limits) -> String {
    let sb = Sandbox::new();
    let e = read_archive(data, &sb.scratch(), limits).expect_err("hostile archive was accepted");
    sb.assert_only_scratch();
    let msg = e.to_string();
    eprintln!("refused: {msg}");
    assert!(!msg.contains('\n'), "one-line message: {msg:?}");
    msg
}

fn refused_default(data: &[u8]) -> String {
    refused(data, &Limits::default())
}

fn valid_docker() -> (Img, Tb) {
    let img = Img::sample();
    let t = docker_archive(&img, &["x:1"]);
    (img, t)
}

#[test]
fn dotdot_entry_names_are_refused() {
    let (_, mut t) = valid_docker();
    t.raw(b"../evil", EntryType::Regular, b"", b"boom");
    let msg = refused_default(&t.finish());
    assert!(msg.contains("..") && msg.contains("evil"), "{msg}");

    let (_, mut t) = valid_docker();
    t.raw(b"blobs/../../evil", EntryType::Regular, b"", b"boom");
    refused_default(&t.finish());
}

#[test]
fn manifest_json_paths_are_held_to_the_same_rules() {
    let img = Img::sample();
    for bad in ["../x/layer.tar", "/etc/passwd", "a/../../b"] {
        let paths = vec![bad.to_string(), blob_paths(&img.layers)[1].clone()];
        let mut t = Tb::default();
        t.file("manifest.json", &manifest_json(&img, &["x:1"], &paths));
        for b in img.layers.iter().chain([&img.config]) {
            t.blob(b);
        }
        let msg = refused_default(&t.finish());
        assert!(msg.contains("refused"), "{bad}: {msg}");
    }
    let mut t = Tb::default();
    t.symlink("manifest.json", "blobs/x");
    assert!(refused_default(&t.finish()).contains("regular file"));
}

#[test]
fn absolute_entry_names_are_refused() {
    let target = std::env::temp_dir().join(format!("pocky-archive-abs-{}", std::process::id()));
    let (_, mut t) = valid_docker();
    t.raw(
        path_str(&target).as_bytes(),
        EntryType::Regular,
        b"",
        b"boom",
    );
    let msg = refused_default(&t.finish());
    assert!(msg.contains("absolute"), "{msg}");
    assert!(!target.exists());
}

#[test]
fn symlinked_manifest_paths_that_escape_are_refused() {
    let img = Img::sample();
    for target in ["/etc/passwd", "../../../etc/passwd", "../../.."] {
        let mut t = Tb::default();
        let paths = blob_paths(&img.layers);
        t.file("manifest.json", &manifest_json(&img, &["x:1"], &paths));
        t.blob(&img.layers[1]).blob(&img.config);
        t.symlink(&paths[0], target);
        let msg = refused_default(&t.finish());
        assert!(msg.contains("link"), "{target}: {msg}");
    }
    // A hardlink gets the same treatment.
    let mut t = Tb::default();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .hardlink("index.json", "../../etc/passwd");
    refused_default(&t.finish());
}

#[test]
fn a_symlink_to_another_blob_does_not_pass_for_it() {
    let img = Img::sample();
    let paths = blob_paths(&img.layers);
    let mut t = Tb::default();
    t.file("manifest.json", &manifest_json(&img, &["x:1"], &paths));
    t.blob(&img.layers[1]).blob(&img.config);
    t.symlink(&paths[0], hex_of(&sha(&img.layers[1])));
    let msg = refused_default(&t.finish());
    assert!(msg.contains("does not match"), "{msg}");
}

#[test]
fn a_symlink_loop_is_refused() {
    let img = Img::sample();
    let mut t = Tb::default();
    let layers = vec!["a/layer.tar".to_string(), "b/layer.tar".to_string()];
    t.file("manifest.json", &manifest_json(&img, &["x:1"], &layers))
        .blob(&img.config)
        .symlink("a/layer.tar", "../b/layer.tar")
        .symlink("b/layer.tar", "../a/layer.tar");
    let msg = refused_default(&t.finish());
    assert!(msg.contains("loop"), "{msg}");
}

#[test]
fn a_blob_whose_content_does_not_match_its_name_is_refused() {
    let img = Img::sample();
    let mut t = Tb::default();
    t.file(
        "manifest.json",
        &manifest_json(&img, &["x:1"], &blob_paths(&img.layers)),
    )
    .blob(&img.layers[0])
    .file(
        &format!("blobs/sha256/{}", hex_of(&sha(&img.layers[1]))),
        b"not the layer",
    )
    .blob(&img.config);
    let msg = refused_default(&t.finish());
    assert!(msg.contains("does not match its digest"), "{msg}");

    let mut t = Tb::default();
    t.file("blobs/sha256/x", b"x");
    assert!(refused_default(&t.finish()).contains("64-hex"));
}

#[test]
fn a_diff_id_mismatch_names_the_layer() {
    let a = layer_tar(&[("a", b"a")]);
    let b = layer_tar(&[("b", b"b")]);
    let lie = vec![sha(&a), sha(b"something else")];
    let img = Img::with_diff_ids(&[a, b], &["gzip", "gzip"], lie);
    let msg = refused_default(&docker_archive(&img, &["x:1"]).finish());
    assert!(msg.contains("layer 1") && msg.contains("diff_id"), "{msg}");
    // The same lie through an OCI manifest whose digests are all honest.
    let msg = refused_default(&oci_archive(&img, &[]).finish());
    assert!(msg.contains("layer 1") && msg.contains("diff_id"), "{msg}");
}

/// Counts what the reader pulled from its input.
struct Counting<'a> {
    data: &'a [u8],
    read: std::rc::Rc<std::cell::Cell<usize>>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.read(buf)?;
        self.read.set(self.read.get() + n);
        Ok(n)
    }
}

#[test]
fn an_oversize_manifest_json_is_refused_without_reading_it() {
    let big = vec![b' '; 64 * 1024 * 1024];
    let mut t = Tb::default();
    t.file("manifest.json", &big);
    let data = t.finish();
    let sb = Sandbox::new();
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let input = Counting {
        data: &data,
        read: read.clone(),
    };
    let e = read_archive(input, &sb.scratch(), &Limits::default()).unwrap_err();
    assert!(matches!(e, ArchiveError::TooLarge { .. }), "{e}");
    assert!(
        read.get() < 1024 * 1024,
        "read {} bytes of a refused entry",
        read.get()
    );
    sb.assert_only_scratch();
}

#[test]
fn a_truncated_archive_is_refused() {
    let (img, t) = valid_docker();
    let data = t.finish();
    // Cut in the middle of the first layer blob's data.
    let pos = data
        .windows(img.layers[0].len())
        .position(|w| w == img.layers[0].as_slice())
        .unwrap();
    let msg = refused_default(&data[..pos + img.layers[0].len() / 2]);
    assert!(
        msg.contains("truncated") || msg.contains("malformed"),
        "{msg}"
    );
    // And in a header, and with no end-of-archive blocks at all.
    refused_default(&data[..pos - 100]);
}

#[test]
fn a_manifest_naming_a_missing_layer_is_refused() {
    let img = Img::sample();
    let mut t = Tb::default();
    t.file(
        "manifest.json",
        &manifest_json(&img, &["x:1"], &blob_paths(&img.layers)),
    )
    .blob(&img.layers[0])
    .blob(&img.config);
    let msg = refused_default(&t.finish());
    assert!(msg.contains("not in the archive"), "{msg}");

    let data = without_blob(&img, &img.layers[1]);
    let msg = refused_default(&data);
    assert!(msg.contains("not in the archive"), "{msg}");
}

fn without_blob(img: &Img, skip: &[u8]) -> Vec<u8> {
    let mut t = Tb::default();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file("index.json", &index_json(img, &[]));
    for b in img.layers.iter().chain([&img.config, &img.manifest]) {
        if b.as_slice() != skip {
            t.blob(b);
        }
    }
    t.finish()
}

#[test]
fn hostile_archives_are_refused_through_gzip_and_zstd_too() {
    let (_, mut t) = valid_docker();
    t.raw(b"../evil", EntryType::Regular, b"", b"boom");
    let data = t.finish();
    for wrapped in [gzip(&data), zstd(&data)] {
        let msg = refused_default(&wrapped);
        assert!(msg.contains(".."), "{msg}");
    }
    // A gzip stream cut short.
    let (_, t) = valid_docker();
    let g = gzip(&t.finish());
    refused_default(&g[..g.len() / 2]);
}

#[test]
fn duplicate_names_with_different_content_are_refused() {
    let (img, mut t) = valid_docker();
    t.blob(&img.config); // the same bytes again: fine
    let sb = Sandbox::new();
    let data = t.finish();
    read_archive(&data[..], &sb.scratch(), &Limits::default()).unwrap();

    let (_, mut t) = valid_docker();
    t.file("manifest.json", b"[]");
    assert!(refused_default(&t.finish()).contains("twice"));
    let (_, mut t) = valid_docker();
    t.symlink("manifest.json2", "x").file("manifest.json2", b"");
    assert!(refused_default(&t.finish()).contains("twice"));
}

#[test]
fn an_entry_under_a_symlink_is_refused() {
    let (_, mut t) = valid_docker();
    t.symlink("dir", "blobs").file("dir/sha256/zz", b"");
    refused_default(&t.finish());
}

#[test]
fn devices_and_fifos_are_refused() {
    for kind in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
        let (_, mut t) = valid_docker();
        t.raw(b"dev", kind, b"", b"");
        assert!(refused_default(&t.finish()).contains("never holds"));
    }
}

#[test]
fn limits_are_enforced() {
    let (img, t) = valid_docker();
    let data = t.finish();
    let small = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        l
    };
    assert!(refused(&data, &small(|l| l.max_entries = 2)).contains("tar entries"));
    assert!(refused(&data, &small(|l| l.max_layers = 1)).contains("layers"));
    assert!(refused(&data, &small(|l| l.max_config_bytes = 10)).contains("config"));
    assert!(refused(&data, &small(|l| l.max_total_bytes = 2048)).contains("tar stream"));
    assert!(refused(&data, &small(|l| l.max_expanded_bytes = 1000)).contains("decompressed"));
    let oci = oci_archive(&img, &[]).finish();
    assert!(refused(&oci, &small(|l| l.max_manifest_bytes = 10)).contains("manifest"));
    assert!(refused(&oci, &small(|l| l.max_index_bytes = 40)).contains("index.json"));
}

#[test]
fn hostile_tags_are_refused() {
    let img = Img::sample();
    let long = format!("{}:1", "a".repeat(300));
    for tag in ["a\u{1b}[2J:1", "a b:1", "", long.as_str()] {
        let msg = refused_default(&docker_archive(&img, &[tag]).finish());
        assert!(msg.contains("image name"), "{msg}");
    }
}

#[test]
fn oci_descriptors_must_match_what_they_name() {
    let img = Img::sample();
    // The index says the manifest is one byte longer than it is.
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": img.manifest_digest(), "size": img.manifest.len() + 1}]});
    let mut t2 = Tb::default();
    t2.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file("index.json", &serde_json::to_vec(&index).unwrap());
    for b in img.layers.iter().chain([&img.config, &img.manifest]) {
        t2.blob(b);
    }
    assert!(refused_default(&t2.finish()).contains("wrong size"));

    // A manifest with one layer fewer than the config's diff_ids.
    let mut short = img.clone();
    short.layers.pop();
    short.layer_types.pop();
    short.manifest = short.make_manifest();
    let msg = refused_default(&oci_archive(&short, &[]).finish());
    assert!(msg.contains("diff_ids"), "{msg}");

    // A layer whose media type lies about its compression.
    let mut lying = img.clone();
    lying.layer_types[1] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    lying.manifest = lying.make_manifest();
    assert!(refused_default(&oci_archive(&lying, &[]).finish()).contains("media type"));
}

#[test]
fn neither_format_is_refused() {
    let mut t = Tb::default();
    t.file("hello", b"world");
    assert!(refused_default(&t.finish()).contains("not an image archive"));
    assert!(refused_default(b"").contains("not an image archive"));
    assert!(refused_default(&[0xfd, b'7', b'z', b'X', b'Z', 0]).contains("xz"));
}
