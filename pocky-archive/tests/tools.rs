//! Against independent tools: images built by umoci, archives written and
//! read by skopeo and listed by GNU tar. Skipped with a note where a tool
//! is missing, failed instead when CI=true.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use pocky_archive::{Format, Limits, SaveImage, read_archive, write_archive};
use serde_json::Value;

const NAME: &str = "localhost/pocky/fixture:t";

fn tools(test: &str) -> bool {
    // Both checked, so CI reports each missing tool.
    let umoci = tool(test, "umoci");
    let skopeo = tool(test, "skopeo");
    umoci && skopeo && tool(test, "tar")
}

fn skopeo(tmp: &Path) -> Command {
    let mut c = Command::new("skopeo");
    // No policy file needed, and skopeo's temporary copies stay in the
    // test's own directory.
    c.arg("--insecure-policy").env("TMPDIR", tmp);
    c
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A two-layer image made by umoci in `dir/L`, tag `t`.
fn umoci_layout(dir: &Path) -> PathBuf {
    let l = dir.join("L");
    let ls = path_str(&l);
    run(Command::new("umoci").args(["init", "--layout", ls]));
    run(Command::new("umoci").args(["new", "--image", &format!("{ls}:t")]));
    for (i, (file, text)) in [("hello", "hello\n"), ("two", "two\n")].iter().enumerate() {
        let b = dir.join(format!("bundle{i}"));
        run(Command::new("umoci").args(["unpack", "--image", &format!("{ls}:t"), path_str(&b)]));
        std::fs::create_dir_all(b.join("rootfs/etc")).unwrap();
        std::fs::write(b.join("rootfs/etc").join(file), text).unwrap();
        run(Command::new("umoci").args(["repack", "--image", &format!("{ls}:t"), path_str(&b)]));
    }
    run(Command::new("umoci").args([
        "config",
        "--image",
        &format!("{ls}:t"),
        "--config.cmd=/bin/sh",
        "--os=linux",
        "--architecture=amd64",
    ]));
    l
}

/// The image tagged `t` in an OCI layout, as the store would hand it over.
fn save_image(layout: &Path, names: &[&str]) -> SaveImage {
    let index = json(&layout.join("index.json"));
    let d = &index["manifests"][0];
    let blob =
        |digest: &str| std::fs::read(layout.join("blobs/sha256").join(hex_of(digest))).unwrap();
    let manifest_digest = d["digest"].as_str().unwrap().to_string();
    let manifest_bytes = blob(&manifest_digest);
    let m: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let config_digest = m["config"]["digest"].as_str().unwrap().to_string();
    SaveImage {
        names: names.iter().map(|s| s.to_string()).collect(),
        manifest_media_type: d["mediaType"].as_str().unwrap().to_string(),
        config_bytes: blob(&config_digest),
        config_digest,
        manifest_digest,
        manifest_bytes,
        layers: m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| pocky_archive::Descriptor {
                digest: l["digest"].as_str().unwrap().to_string(),
                size: l["size"].as_u64().unwrap(),
                media_type: l["mediaType"].as_str().unwrap().to_string(),
            })
            .collect(),
    }
}

#[test]
fn reads_the_archives_skopeo_writes() {
    if !tools("reads_the_archives_skopeo_writes") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let l = umoci_layout(d.path());
    let want = save_image(&l, &[]);
    let src = format!("oci:{}:t", path_str(&l));
    let x = d.path().join("x.tar");
    let y = d.path().join("y.tar");
    run(skopeo(d.path()).args([
        "copy",
        &src,
        &format!("docker-archive:{}:{NAME}", path_str(&x)),
    ]));
    run(skopeo(d.path()).args([
        "copy",
        &src,
        &format!("oci-archive:{}:{NAME}", path_str(&y)),
    ]));

    // skopeo's docker-archive is the legacy layout, symlinked layers and all.
    let sb = Sandbox::new();
    let a = read_archive(
        std::fs::File::open(&x).unwrap(),
        &sb.scratch(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(a.format, Format::DockerArchive);
    assert_eq!(a.images.len(), 1);
    let i = &a.images[0];
    assert_eq!(i.names, [NAME]);
    assert_eq!(i.config_digest, want.config_digest);
    assert_eq!(i.layers.len(), 2);
    sb.assert_only_scratch();

    let sb = Sandbox::new();
    let a = read_archive(
        std::fs::File::open(&y).unwrap(),
        &sb.scratch(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(a.format, Format::OciArchive);
    let i = &a.images[0];
    assert_eq!(i.names, [NAME]);
    assert_eq!(i.config_digest, want.config_digest);
    assert_eq!(i.manifest.as_ref().unwrap().digest, want.manifest_digest);
    let layers: Vec<_> = i.layers.iter().map(|l| l.digest.clone()).collect();
    let want_layers: Vec<_> = want.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(layers, want_layers);
    sb.assert_only_scratch();
}

/// Writes the layout's image, then has skopeo read it both ways. Layers
/// stay compressed in `manifest.json`: this is the test that skopeo's
/// docker-archive reader takes them.
fn skopeo_reads_what_we_write(dir: &Path, layout: &Path) {
    let img = save_image(layout, &[NAME, "busybox:latest"]);
    let blobs = LayoutBlobs(layout.to_path_buf());
    let file = dir.join("out.tar");
    write_archive(
        std::fs::File::create(&file).unwrap(),
        std::slice::from_ref(&img),
        &blobs,
    )
    .unwrap();
    let f = path_str(&file);

    let mut again = Vec::new();
    write_archive(&mut again, std::slice::from_ref(&img), &blobs).unwrap();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        again,
        "writing twice gives the same bytes"
    );

    let raw = run(skopeo(dir).args(["inspect", "--raw", &format!("oci-archive:{f}:t")]));
    assert_eq!(
        raw.as_bytes(),
        img.manifest_bytes,
        "oci-archive serves our manifest as is"
    );

    let raw = run(skopeo(dir).args([
        "inspect",
        "--raw",
        &format!("docker-archive:{f}:busybox:latest"),
    ]));
    let m: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(m["config"]["digest"], img.config_digest.as_str());
    assert_eq!(m["layers"].as_array().unwrap().len(), img.layers.len());

    let out = dir.join("OUT");
    run(skopeo(dir).args([
        "copy",
        &format!("oci-archive:{f}:t"),
        &format!("oci:{}:t", path_str(&out)),
    ]));
    let index = json(&out.join("index.json"));
    assert_eq!(
        index["manifests"][0]["digest"],
        img.manifest_digest.as_str()
    );

    let out2 = dir.join("OUT2");
    run(skopeo(dir).args([
        "copy",
        &format!("docker-archive:{f}:{NAME}"),
        &format!("oci:{}:t", path_str(&out2)),
    ]));
    let copied = save_image(&out2, &[]);
    let theirs: Value = serde_json::from_slice(&copied.config_bytes).unwrap();
    let ours: Value = serde_json::from_slice(&img.config_bytes).unwrap();
    assert_eq!(
        theirs["rootfs"], ours["rootfs"],
        "skopeo decompressed to the same diff_ids"
    );

    let listed = run(Command::new("tar").args(["-tf", f]));
    let mut want = vec![
        "oci-layout".to_string(),
        "index.json".into(),
        "manifest.json".into(),
        "repositories".into(),
        "blobs/".into(),
        "blobs/sha256/".into(),
    ];
    for d in img
        .layers
        .iter()
        .map(|l| &l.digest)
        .chain([&img.config_digest, &img.manifest_digest])
    {
        want.push(format!("blobs/sha256/{}", hex_of(d)));
    }
    assert_eq!(listed.lines().collect::<Vec<_>>(), want);

    let sb = Sandbox::new();
    let a = read_archive(
        std::fs::File::open(&file).unwrap(),
        &sb.scratch(),
        &Limits::default(),
    )
    .unwrap();
    // The OCI side is read, with the index's full names.
    assert_eq!(
        a.images[0].names,
        [NAME, "docker.io/library/busybox:latest"]
    );
    assert_eq!(a.images[0].config_digest, img.config_digest);
    let layers: Vec<_> = a.images[0]
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect();
    let want_layers: Vec<_> = img.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(layers, want_layers);
}

#[test]
fn skopeo_reads_our_archive_with_gzip_layers() {
    if !tools("skopeo_reads_our_archive_with_gzip_layers") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let l = umoci_layout(d.path());
    skopeo_reads_what_we_write(d.path(), &l);
}

#[test]
fn skopeo_reads_our_archive_with_zstd_layers() {
    if !tools("skopeo_reads_our_archive_with_zstd_layers") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let l = umoci_layout(d.path());
    let lz = d.path().join("LZ");
    run(skopeo(d.path()).args([
        "copy",
        "--dest-compress",
        "--dest-compress-format=zstd",
        &format!("oci:{}:t", path_str(&l)),
        &format!("oci:{}:t", path_str(&lz)),
    ]));
    let img = save_image(&lz, &[]);
    assert!(
        img.layers.iter().all(|l| l.media_type.ends_with("+zstd")),
        "skopeo made zstd layers"
    );
    skopeo_reads_what_we_write(d.path(), &lz);
}
