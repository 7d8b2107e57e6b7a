//! Archives made by hand in every shape the reader accepts, and the
//! writer's output read back.

mod common;

use common::*;
use pocky_archive::{Format, Limits, Platform, read_archive, read_archive_for, write_archive};

#[test]
fn oci_archive_is_read_and_verified() {
    let img = Img::sample();
    let data = oci_archive(
        &img,
        &["docker.io/library/busybox:latest", "localhost:5000/a/b:1"],
    )
    .finish();
    let sb = Sandbox::new();
    let a = read_archive(&data[..], &sb.scratch(), &Limits::default()).unwrap();
    assert_eq!(a.format, Format::OciArchive);
    assert_eq!(a.images.len(), 1, "two names of one manifest are one image");
    let i = &a.images[0];
    assert_eq!(
        i.names,
        ["docker.io/library/busybox:latest", "localhost:5000/a/b:1"]
    );
    assert_eq!(i.config_digest, img.config_digest());
    assert_eq!(i.config_bytes, img.config);
    let m = i.manifest.as_ref().unwrap();
    assert_eq!(m.digest, img.manifest_digest());
    assert_eq!(m.bytes, img.manifest);
    let got: Vec<_> = i.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(got, img.layer_digests());
    assert_eq!(
        i.layers[1].media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    for (l, bytes) in i.layers.iter().zip(&img.layers) {
        assert!(l.path.starts_with(sb.scratch()));
        assert_eq!(&std::fs::read(&l.path).unwrap(), bytes);
        assert_eq!(l.size, bytes.len() as u64);
    }
    sb.assert_only_scratch();
}

#[test]
fn docker_archive_detects_layer_compression() {
    let plain = layer_tar(&[("a", b"1")]);
    let img = Img::new(
        &[plain.clone(), plain.clone(), plain],
        &["none", "gzip", "zstd"],
    );
    let data = docker_archive(&img, &["busybox:latest"]).finish();
    let sb = Sandbox::new();
    let a = read_archive(&data[..], &sb.scratch(), &Limits::default()).unwrap();
    assert_eq!(a.format, Format::DockerArchive);
    let i = &a.images[0];
    assert_eq!(i.names, ["busybox:latest"]);
    assert!(i.manifest.is_none());
    let types: Vec<_> = i.layers.iter().map(|l| l.media_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ]
    );
    assert!(i.layers.iter().all(|l| l.diff_id == img.diff_ids[0]));
}

/// The layout old `docker save` wrote: `<id>/layer.tar` with symlinks for
/// layers another image already holds, `<config hex>.json` configs.
#[test]
fn legacy_docker_archive_with_linked_layers() {
    let layer = layer_tar(&[("etc/x", b"x")]);
    let second = layer_tar(&[("etc/y", b"y")]);
    let img = Img::new(
        &[layer.clone(), second.clone(), layer.clone()],
        &["none"; 3],
    );
    let cfg = format!("{}.json", hex_of(&img.config_digest()));
    let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    let mut t = Tb::default();
    t.file(&format!("{a}/layer.tar"), &layer)
        .file(&format!("{a}/VERSION"), b"1.0")
        .file(&format!("{a}/json"), b"{}")
        .file(&format!("{b}/layer.tar"), &second)
        .symlink(&format!("{c}/layer.tar"), &format!("../{a}/layer.tar"))
        .file(&cfg, &img.config)
        .hardlink("alias.json", &cfg);
    let m = serde_json::json!([{
        "Config": "alias.json",
        "RepoTags": ["legacy:1", "localhost:5000/legacy:2"],
        "Layers": [format!("{a}/layer.tar"), format!("./{b}/layer.tar"), format!("{c}/layer.tar")],
    }]);
    t.file("manifest.json", &serde_json::to_vec(&m).unwrap())
        .file("repositories", b"{}");
    let sb = Sandbox::new();
    let got = read_archive(&t.finish()[..], &sb.scratch(), &Limits::default()).unwrap();
    let i = &got.images[0];
    assert_eq!(i.names, ["legacy:1", "localhost:5000/legacy:2"]);
    assert_eq!(i.config_digest, img.config_digest());
    assert_eq!(i.layers.len(), 3);
    assert_eq!(
        i.layers[0].path, i.layers[2].path,
        "the symlink leads to the same stored file"
    );
    sb.assert_only_scratch();
}

#[test]
fn compressed_archives_are_detected() {
    let img = Img::sample();
    let data = oci_archive(&img, &[]).finish();
    for wrapped in [gzip(&data), zstd(&data)] {
        let sb = Sandbox::new();
        let a = read_archive(&wrapped[..], &sb.scratch(), &Limits::default()).unwrap();
        assert_eq!(
            a.images[0].manifest.as_ref().unwrap().digest,
            img.manifest_digest()
        );
        assert!(a.images[0].names.is_empty());
    }
}

#[test]
fn a_bare_tag_in_ref_name_names_nothing_but_a_full_reference_does() {
    let img = Img::sample();
    for (ann, want) in [
        ("t", vec![]),
        ("localhost/a/b:1", vec!["localhost/a/b:1".to_string()]),
    ] {
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest(), "size": img.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": ann},
        }]});
        let mut t = Tb::default();
        t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .file("index.json", &serde_json::to_vec(&index).unwrap());
        for b in img.layers.iter().chain([&img.config, &img.manifest]) {
            t.blob(b);
        }
        let sb = Sandbox::new();
        let a = read_archive(&t.finish()[..], &sb.scratch(), &Limits::default()).unwrap();
        assert_eq!(a.images[0].names, want);
    }
}

fn multi_platform() -> (Vec<u8>, Img, Img) {
    let amd = Img::sample();
    let arm = Img::new(&[layer_tar(&[("arm", b"arm")])], &["gzip"]);
    let entry = |i: &Img, arch: &str, variant: Option<&str>| {
        let mut p = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": i.manifest_digest(), "size": i.manifest.len(), "platform": p})
    };
    let inner = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&arm, "arm64", Some("v8")), entry(&amd, "amd64", None)]}))
    .unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": sha(&inner), "size": inner.len(),
        "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"}}]});
    let mut t = Tb::default();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file("index.json", &serde_json::to_vec(&top).unwrap())
        .blob(&inner);
    for i in [&amd, &arm] {
        for b in i.layers.iter().chain([&i.config, &i.manifest]) {
            t.blob(b);
        }
    }
    (t.finish(), amd, arm)
}

#[test]
fn nested_index_is_resolved_by_platform() {
    let (data, amd, arm) = multi_platform();
    let sb = Sandbox::new();
    let a = read_archive(&data[..], &sb.scratch(), &Limits::default()).unwrap();
    assert_eq!(a.images[0].config_digest, amd.config_digest());
    assert_eq!(a.images[0].names, ["docker.io/library/multi:1"]);

    let sb = Sandbox::new();
    let p = Platform {
        os: "linux".into(),
        architecture: "arm64".into(),
        variant: None,
    };
    let a = read_archive_for(&data[..], &sb.scratch(), &Limits::default(), &p).unwrap();
    assert_eq!(a.images[0].config_digest, arm.config_digest());

    let sb = Sandbox::new();
    let p = Platform {
        os: "linux".into(),
        architecture: "s390x".into(),
        variant: None,
    };
    let e = read_archive_for(&data[..], &sb.scratch(), &Limits::default(), &p).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("linux/s390x") && msg.contains("linux/arm64/v8, linux/amd64"),
        "{msg}"
    );
}

#[test]
fn written_archive_reads_back_as_both_formats() {
    let img = Img::sample();
    let other = Img::new(
        &[layer_tar(&[("o", b"o")]), img_first_plain()],
        &["gzip", "gzip"],
    );
    let save = [
        img.save(&["busybox:latest", "localhost:5000/a/b:1"]),
        other.save(&[]),
    ];
    let blobs = MemBlobs(img.blobs().0.into_iter().chain(other.blobs().0).collect());
    let mut out = Vec::new();
    write_archive(&mut out, &save, &blobs).unwrap();

    let mut again = Vec::new();
    write_archive(&mut again, &save, &blobs).unwrap();
    assert_eq!(out, again, "the same images must give the same bytes");

    // Both layouts: the OCI side wins, so the manifests survive.
    let sb = Sandbox::new();
    let a = read_archive(&out[..], &sb.scratch(), &Limits::default()).unwrap();
    assert_eq!(a.format, Format::OciArchive);
    assert_eq!(
        a.images[0].manifest.as_ref().unwrap().digest,
        img.manifest_digest()
    );

    // The same tar without index.json is read through manifest.json.
    let docker = without(&out, "index.json");
    let sb = Sandbox::new();
    let a = read_archive(&docker[..], &sb.scratch(), &Limits::default()).unwrap();
    assert_eq!(a.format, Format::DockerArchive);
    assert_eq!(
        a.images[0].names,
        ["busybox:latest", "localhost:5000/a/b:1"]
    );
    assert_eq!(a.images[0].config_digest, img.config_digest());
    assert!(a.images[1].names.is_empty());
    assert_eq!(a.images[1].layers[1].digest, sha(&gzip(&img_first_plain())));

    // The same tar without manifest.json is read through index.json.
    let oci = without(&out, "manifest.json");
    let sb = Sandbox::new();
    let a = read_archive(&oci[..], &sb.scratch(), &Limits::default()).unwrap();
    assert_eq!(a.format, Format::OciArchive);
    assert_eq!(a.images.len(), 2);
    assert_eq!(
        a.images[0].names,
        ["docker.io/library/busybox:latest", "localhost:5000/a/b:1"]
    );
    assert_eq!(
        a.images[0].manifest.as_ref().unwrap().digest,
        img.manifest_digest()
    );
    assert_eq!(
        a.images[1].manifest.as_ref().unwrap().digest,
        other.manifest_digest()
    );

    let index: serde_json::Value = serde_json::from_slice(&entry(&out, "index.json")).unwrap();
    assert_eq!(
        index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    let repos: serde_json::Value = serde_json::from_slice(&entry(&out, "repositories")).unwrap();
    assert_eq!(repos["busybox"]["latest"], hex_of(&img.config_digest()));
}

fn img_first_plain() -> Vec<u8> {
    layer_tar(&[("etc/hello", b"hello\n")])
}

#[test]
fn writing_refuses_blobs_that_disagree_with_their_descriptors() {
    let img = Img::sample();
    let save = [img.save(&["x:1"])];
    for bad in [
        b"short".to_vec(),
        [img.layers[0].clone(), b"x".to_vec()].concat(),
        {
            let mut v = img.layers[0].clone();
            v[20] ^= 1;
            v
        },
    ] {
        let mut blobs = img.blobs();
        blobs.0.insert(sha(&img.layers[0]), bad);
        let e = write_archive(std::io::sink(), &save, &blobs).unwrap_err();
        assert!(e.to_string().contains(&sha(&img.layers[0])), "{e}");
    }
    let mut wrong = img.save(&["x:1"]);
    wrong.config_bytes.push(b' ');
    assert!(write_archive(std::io::sink(), &[wrong], &img.blobs()).is_err());
    let bad_name = img.save(&["x\n:1"]);
    assert!(write_archive(std::io::sink(), &[bad_name], &img.blobs()).is_err());
}

fn entries(data: &[u8]) -> Vec<(tar::Header, Vec<u8>)> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            (e.header().clone(), v)
        })
        .collect()
}

fn entry(data: &[u8], name: &str) -> Vec<u8> {
    entries(data)
        .into_iter()
        .find(|(h, _)| h.path().unwrap().to_str() == Some(name))
        .unwrap()
        .1
}

fn without(data: &[u8], name: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (h, v) in entries(data) {
        if h.path().unwrap().to_str() != Some(name) {
            b.append(&h, &v[..]).unwrap();
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn written_entries_are_deterministic_and_root_owned() {
    let img = Img::sample();
    let mut out = Vec::new();
    write_archive(&mut out, &[img.save(&["a:1"])], &img.blobs()).unwrap();
    let names: Vec<_> = entries(&out)
        .iter()
        .map(|(h, _)| {
            assert_eq!(
                (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
                (0, 0, 0)
            );
            let mode = h.mode().unwrap();
            assert!(mode == 0o644 || (mode == 0o755 && h.entry_type().is_dir()));
            h.path().unwrap().to_str().unwrap().to_string()
        })
        .collect();
    let mut want = vec![
        "oci-layout".to_string(),
        "index.json".into(),
        "manifest.json".into(),
        "repositories".into(),
        "blobs/".into(),
        "blobs/sha256/".into(),
    ];
    for b in img.layers.iter().chain([&img.config, &img.manifest]) {
        want.push(format!("blobs/sha256/{}", hex_of(&sha(b))));
    }
    assert_eq!(names, want);
}
