//! Fixtures for the integration tests: images made by hand (tar crate,
//! flate2, zstd) and, where a test needs an independent producer, by
//! umoci and skopeo.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use pocky_archive::{BlobSource, Descriptor, SaveImage};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

pub fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

/// Whether `tool` is on PATH. Missing in CI is a failure, not a skip: a
/// CI that lost its tools must not pass green.
pub fn tool(test: &str, tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: {tool} is required when CI=true but is not installed");
        }
        eprintln!("{test}: skipped, {tool} is not installed");
    }
    found
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 3).unwrap()
}

/// An image made by hand: every byte known to the test.
#[derive(Clone)]
pub struct Img {
    pub layers: Vec<Vec<u8>>,
    pub layer_types: Vec<String>,
    pub diff_ids: Vec<String>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Img {
    pub fn config_digest(&self) -> String {
        sha(&self.config)
    }
    pub fn manifest_digest(&self) -> String {
        sha(&self.manifest)
    }
    pub fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(|l| sha(l)).collect()
    }

    /// Builds config and manifest for `plain` layers, compressed as asked.
    pub fn new(plain: &[Vec<u8>], compress: &[&str]) -> Img {
        Img::with_diff_ids(plain, compress, plain.iter().map(|p| sha(p)).collect())
    }

    pub fn with_diff_ids(plain: &[Vec<u8>], compress: &[&str], diff_ids: Vec<String>) -> Img {
        let mut layers = Vec::new();
        let mut layer_types = Vec::new();
        for (p, c) in plain.iter().zip(compress) {
            let (bytes, t) = match *c {
                "gzip" => (gzip(p), "application/vnd.oci.image.layer.v1.tar+gzip"),
                "zstd" => (zstd(p), "application/vnd.oci.image.layer.v1.tar+zstd"),
                _ => (p.clone(), "application/vnd.oci.image.layer.v1.tar"),
            };
            layers.push(bytes);
            layer_types.push(t.to_string());
        }
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let mut img = Img {
            layers,
            layer_types,
            diff_ids,
            config,
            manifest: Vec::new(),
        };
        img.manifest = img.make_manifest();
        img
    }

    pub fn make_manifest(&self) -> Vec<u8> {
        let layers: Vec<_> = self
            .layers
            .iter()
            .zip(&self.layer_types)
            .map(|(l, t)| serde_json::json!({"mediaType": t, "digest": sha(l), "size": l.len()}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(&self.config),
                "size": self.config.len(),
            },
            "layers": layers,
        }))
        .unwrap()
    }

    /// A small image of two layers, gzip and zstd.
    pub fn sample() -> Img {
        let a = layer_tar(&[("etc/hello", b"hello\n")]);
        let b = layer_tar(&[("etc/two", b"two\n")]);
        Img::new(&[a, b], &["gzip", "zstd"])
    }

    pub fn save(&self, names: &[&str]) -> SaveImage {
        SaveImage {
            names: names.iter().map(|s| s.to_string()).collect(),
            manifest_digest: self.manifest_digest(),
            manifest_bytes: self.manifest.clone(),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            config_digest: self.config_digest(),
            config_bytes: self.config.clone(),
            layers: self
                .layers
                .iter()
                .zip(&self.layer_types)
                .map(|(l, t)| Descriptor {
                    digest: sha(l),
                    size: l.len() as u64,
                    media_type: t.clone(),
                })
                .collect(),
        }
    }

    pub fn blobs(&self) -> MemBlobs {
        MemBlobs(self.layers.iter().map(|l| (sha(l), l.clone())).collect())
    }
}

pub struct MemBlobs(pub HashMap<String, Vec<u8>>);

impl BlobSource for MemBlobs {
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
        match self.0.get(digest) {
            Some(b) => Ok(Box::new(&b[..])),
            None => Err(io::Error::new(io::ErrorKind::NotFound, digest.to_string())),
        }
    }
}

/// Blobs from an OCI layout directory (made by umoci or skopeo).
pub struct LayoutBlobs(pub PathBuf);

impl BlobSource for LayoutBlobs {
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        Ok(Box::new(std::fs::File::open(
            self.0.join("blobs/sha256").join(hex),
        )?))
    }
}

/// A tar written entry by entry, names as raw bytes so that a test can
/// write what the tar crate's safe setters refuse.
pub struct Tb(tar::Builder<Vec<u8>>);

impl Default for Tb {
    fn default() -> Tb {
        Tb(tar::Builder::new(Vec::new()))
    }
}

impl Tb {
    pub fn raw(&mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> &mut Tb {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_size(data.len() as u64);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Tb {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data)
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Tb {
        self.raw(name.as_bytes(), EntryType::Symlink, target.as_bytes(), b"")
    }
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Tb {
        self.raw(name.as_bytes(), EntryType::Link, target.as_bytes(), b"")
    }
    pub fn blob(&mut self, data: &[u8]) -> &mut Tb {
        let name = format!("blobs/sha256/{}", hex_of(&sha(data)));
        self.file(&name, data)
    }
    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// An oci-archive of `img` with one index entry per name.
pub fn oci_archive(img: &Img, names: &[&str]) -> Tb {
    let mut t = Tb::default();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    t.file("index.json", &index_json(img, names));
    for l in &img.layers {
        t.blob(l);
    }
    t.blob(&img.config);
    t.blob(&img.manifest);
    t
}

pub fn index_json(img: &Img, names: &[&str]) -> Vec<u8> {
    let entry = |ann: serde_json::Value| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest(),
            "size": img.manifest.len(),
            "annotations": ann,
        })
    };
    let manifests: Vec<_> = if names.is_empty() {
        vec![entry(serde_json::json!({}))]
    } else {
        names
            .iter()
            .map(|n| entry(serde_json::json!({"io.containerd.image.name": n})))
            .collect()
    };
    serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": manifests})).unwrap()
}

/// A Docker 25-style docker-archive: manifest.json over blobs/sha256.
pub fn docker_archive(img: &Img, tags: &[&str]) -> Tb {
    let mut t = Tb::default();
    t.file(
        "manifest.json",
        &manifest_json(img, tags, &blob_paths(&img.layers)),
    );
    for l in &img.layers {
        t.blob(l);
    }
    t.blob(&img.config);
    t
}

pub fn blob_paths(layers: &[Vec<u8>]) -> Vec<String> {
    layers
        .iter()
        .map(|l| format!("blobs/sha256/{}", hex_of(&sha(l))))
        .collect()
}

pub fn manifest_json(img: &Img, tags: &[&str], layers: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([{
        "Config": format!("blobs/sha256/{}", hex_of(&img.config_digest())),
        "RepoTags": tags,
        "Layers": layers,
    }]))
    .unwrap()
}

/// A scratch directory inside a parent the test can inspect afterwards:
/// nothing but `scratch` may appear in the parent.
pub struct Sandbox {
    pub root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("scratch")).unwrap();
        Sandbox { root }
    }
    pub fn scratch(&self) -> PathBuf {
        self.root.path().join("scratch")
    }
    pub fn assert_only_scratch(&self) {
        let names: Vec<_> = std::fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec!["scratch"],
            "something was created beside scratch"
        );
        for e in std::fs::read_dir(self.scratch()).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            assert!(t.is_file(), "{:?} in scratch is not a plain file", e.path());
            assert!(e.file_name().to_string_lossy().starts_with("entry-"));
        }
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
