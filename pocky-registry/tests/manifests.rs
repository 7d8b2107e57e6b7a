//! Manifest resolution against a stub registry: platform choice, media-type
//! and digest checks, size caps, schema1 and Docker schema2.

mod support;

use std::collections::HashMap;

use pocky_registry::{Client, Digest, Platform, Reference, RegistryError};
use support::*;

fn client(dir: &tempfile::TempDir) -> Client {
    Client::new(options(dir.path())).unwrap()
}

fn reference(stub: &Stub, rest: &str) -> Reference {
    Reference::parse(&format!("{}/{rest}", stub.host())).unwrap()
}

fn multiarch(index_type: &str) -> (Stub, Image, Image) {
    let arm = Image::new("arm64", &[b"arm layer"], false);
    let amd = Image::new("amd64", &[b"amd layer", b"second"], false);
    let idx = index(
        index_type,
        &[
            (&arm, "linux", "arm64", Some("v8")),
            (&amd, "linux", "amd64", None),
        ],
    );
    let mut content = HashMap::new();
    arm.add_to("lib/app", &mut content);
    amd.add_to("lib/app", &mut content);
    let idx_digest = Digest::sha256_of(&idx);
    content.insert(
        "/v2/lib/app/manifests/latest".into(),
        Resp::ok(index_type, idx.clone()).header("Docker-Content-Digest", idx_digest.as_str()),
    );
    content.insert(
        format!("/v2/lib/app/manifests/{idx_digest}"),
        Resp::ok(index_type, idx),
    );
    (Stub::start(|_| serve_map(content)), arm, amd)
}

#[test]
fn index_entry_chosen_by_platform_not_order() {
    let dir = tempfile::tempdir().unwrap();
    let (stub, arm, amd) = multiarch(OCI_INDEX);
    let c = client(&dir);
    let r = reference(&stub, "lib/app");
    let got = c
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(got.manifest_digest, amd.manifest_digest);
    assert_eq!(got.config_digest, amd.config_digest);
    assert_eq!(got.config_bytes, amd.config);
    assert_eq!(got.layers.len(), 2);
    assert_eq!(got.layers[0].digest, amd.layers[0].0);
    assert_eq!(got.layers[0].size, 9);
    assert!(got.index_digest.is_some());
    assert_eq!(got.manifest_media_type, OCI_MANIFEST);

    let got = c
        .resolve(&r, &Platform::parse("linux/arm64").unwrap())
        .unwrap();
    assert_eq!(got.manifest_digest, arm.manifest_digest);
    assert_eq!(got.config.architecture().to_string(), "arm64");

    // Every manifest request announces all four manifest types.
    let accept = stub.requests()[0].header("Accept").unwrap().to_string();
    for mt in [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST] {
        assert!(accept.contains(mt), "{accept}");
    }
}

#[test]
fn no_matching_platform_lists_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let (stub, _, _) = multiarch(DOCKER_LIST);
    let err = client(&dir)
        .resolve(
            &reference(&stub, "lib/app"),
            &Platform::parse("linux/s390x").unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::NoMatchingPlatform { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("linux/s390x"), "{msg}");
    assert!(
        msg.contains("linux/arm64/v8") && msg.contains("linux/amd64"),
        "{msg}"
    );
}

#[test]
fn docker_schema2_manifest_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new("amd64", &[b"layer"], true);
    let mut content = HashMap::new();
    img.add_to("a", &mut content);
    content.insert(
        "/v2/a/manifests/v1".into(),
        Resp::ok(DOCKER_MANIFEST, img.manifest.clone()),
    );
    let stub = Stub::start(|_| serve_map(content));
    let got = client(&dir)
        .resolve(
            &reference(&stub, "a:v1"),
            &Platform::parse("linux/amd64").unwrap(),
        )
        .unwrap();
    assert_eq!(got.manifest_media_type, DOCKER_MANIFEST);
    assert_eq!(got.manifest_digest, img.manifest_digest);
    assert_eq!(got.index_digest, None);
    assert_eq!(
        got.layers[0].media_type,
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
}

fn serve_one(path: &str, resp: Resp) -> Stub {
    let mut content = HashMap::new();
    content.insert(path.to_string(), resp);
    Stub::start(|_| serve_map(content))
}

fn resolve_err(
    stub: &Stub,
    rest: &str,
    opts: Option<pocky_registry::ClientOptions>,
) -> RegistryError {
    let dir = tempfile::tempdir().unwrap();
    let c = Client::new(opts.unwrap_or_else(|| options(dir.path()))).unwrap();
    c.resolve(
        &reference(stub, rest),
        &Platform::parse("linux/amd64").unwrap(),
    )
    .unwrap_err()
}

#[test]
fn body_media_type_must_agree_with_content_type() {
    let (stub_idx, _, amd) = multiarch(OCI_INDEX);
    drop(stub_idx);
    // An index body served as an image manifest.
    let idx = index(OCI_INDEX, &[(&amd, "linux", "amd64", None)]);
    let stub = serve_one("/v2/a/manifests/latest", Resp::ok(OCI_MANIFEST, idx));
    let err = resolve_err(&stub, "a", None);
    assert!(
        matches!(err, RegistryError::MediaTypeMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(OCI_INDEX), "{err}");
}

#[test]
fn manifest_by_digest_must_hash_to_it() {
    let img = Image::new("amd64", &[b"l"], false);
    let wrong = Digest::sha256_of(b"something else");
    let stub = serve_one(
        &format!("/v2/a/manifests/{wrong}"),
        Resp::ok(OCI_MANIFEST, img.manifest.clone()),
    );
    let err = resolve_err(&stub, &format!("a@{wrong}"), None);
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(wrong.as_str()) && msg.contains(img.manifest_digest.as_str()),
        "{msg}"
    );
}

#[test]
fn docker_content_digest_header_is_checked_for_tags() {
    let img = Image::new("amd64", &[b"l"], false);
    let stub = serve_one(
        "/v2/a/manifests/latest",
        Resp::ok(OCI_MANIFEST, img.manifest.clone())
            .header("Docker-Content-Digest", Digest::sha256_of(b"x").as_str()),
    );
    let err = resolve_err(&stub, "a", None);
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
}

#[test]
fn oversize_manifest_is_refused() {
    let mut big = b"{\"schemaVersion\":2,\"x\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 5000));
    big.extend(b"\"}");
    let stub = serve_one("/v2/a/manifests/latest", Resp::ok(OCI_MANIFEST, big));
    let dir = tempfile::tempdir().unwrap();
    let opts = pocky_registry::ClientOptions {
        max_manifest_bytes: 4096,
        ..options(dir.path())
    };
    let err = resolve_err(&stub, "a", Some(opts));
    assert!(
        matches!(err, RegistryError::ManifestTooLarge { max: 4096, .. }),
        "{err}"
    );
}

#[test]
fn schema1_is_refused() {
    let body = r#"{"schemaVersion":1,"name":"a","tag":"latest","fsLayers":[]}"#;
    let stub = serve_one(
        "/v2/a/manifests/latest",
        Resp::ok(
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            body,
        ),
    );
    let err = resolve_err(&stub, "a", None);
    assert!(matches!(err, RegistryError::Schema1 { .. }), "{err}");
    assert!(err.to_string().contains("schema1"), "{err}");
    // Even when served under a generic Content-Type.
    let stub = serve_one("/v2/a/manifests/latest", Resp::ok("application/json", body));
    assert!(matches!(
        resolve_err(&stub, "a", None),
        RegistryError::Schema1 { .. }
    ));
}

#[test]
fn malformed_json_is_a_clear_error() {
    let stub = serve_one(
        "/v2/a/manifests/latest",
        Resp::ok(OCI_MANIFEST, "{\"schemaVersion\":2,"),
    );
    let err = resolve_err(&stub, "a", None);
    assert!(err.to_string().contains("malformed JSON"), "{err}");
}

#[test]
fn malformed_layer_descriptor_is_refused() {
    let img = Image::new("amd64", &[b"l"], false);
    let text = String::from_utf8(img.manifest.clone()).unwrap();
    let bad = text.replace(img.layers[0].0.as_str(), "sha256:../../etc/passwd");
    let stub = serve_one("/v2/a/manifests/latest", Resp::ok(OCI_MANIFEST, bad));
    let err = resolve_err(&stub, "a", None);
    assert!(
        matches!(err, RegistryError::InvalidManifest { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("invalid digest"), "{err}");
}

#[test]
fn foreign_layers_are_refused() {
    let img = Image::new("amd64", &[b"l"], true);
    let text = String::from_utf8(img.manifest.clone()).unwrap().replace(
        "image.rootfs.diff.tar.gzip",
        "image.rootfs.foreign.diff.tar.gzip",
    );
    let mut content = HashMap::new();
    img.add_to("a", &mut content);
    content.insert(
        "/v2/a/manifests/latest".into(),
        Resp::ok(DOCKER_MANIFEST, text),
    );
    let stub = Stub::start(|_| serve_map(content));
    let err = resolve_err(&stub, "a", None);
    assert!(matches!(err, RegistryError::ForeignLayer { .. }), "{err}");
}

#[test]
fn more_layers_than_overlayfs_stacks_are_refused_before_any_blob() {
    let layers: Vec<Vec<u8>> = (0..4).map(|i| vec![b'a' + i]).collect();
    let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
    let img = Image::new("amd64", &refs, false);
    let stub = serve_one(
        "/v2/a/manifests/latest",
        Resp::ok(OCI_MANIFEST, img.manifest.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = pocky_registry::ClientOptions {
        max_layers: 3,
        ..options(dir.path())
    };
    // Only the manifest is served: the refusal comes before the config.
    let err = resolve_err(&stub, "a", Some(opts));
    assert!(
        matches!(err, RegistryError::InvalidManifest { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("4 layers"), "{err}");
}

#[test]
fn config_is_verified_by_digest() {
    let img = Image::new("amd64", &[b"l"], false);
    let mut content = HashMap::new();
    img.add_to("a", &mut content);
    let mut tampered = img.config.clone();
    tampered[2] = b'A';
    content.insert(
        format!("/v2/a/blobs/{}", img.config_digest),
        Resp::ok("application/octet-stream", tampered),
    );
    content.insert(
        "/v2/a/manifests/latest".into(),
        Resp::ok(OCI_MANIFEST, img.manifest.clone()),
    );
    let stub = Stub::start(|_| serve_map(content));
    let err = resolve_err(&stub, "a", None).to_string();
    assert!(err.contains("hashes to"), "{err}");
}

#[test]
fn registry_error_message_is_reported_without_retry() {
    let stub = Stub::start(|_| |_: &Req| Resp::not_found());
    let err = resolve_err(&stub, "a", None);
    assert!(
        matches!(err, RegistryError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("MANIFEST_UNKNOWN: manifest unknown"),
        "{err}"
    );
    assert_eq!(stub.requests().len(), 1);
}
