//! Push to and pull from the real registry of `ci/sandbox`
//! (`POCKY_TEST_REGISTRY`, plain http on loopback).

mod support;

use std::io::{Cursor, Read};

use pocky_registry::{Client, ClientOptions, Digest, Platform, Reference};
use support::{Image, OCI_MANIFEST};

#[test]
fn push_then_pull_back_from_the_sandbox_registry() {
    let Some(sandbox) = pocky_testkit::sandbox("push_then_pull_back_from_the_sandbox_registry")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(ClientOptions {
        docker_config: Some(dir.path().join("none.json")),
        // Small chunks, so the real registry sees PATCH sessions too.
        upload_chunk_size: 1000,
        ..ClientOptions::default()
    })
    .unwrap();
    let layer: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let img = Image::new("amd64", &[&layer], false);
    let r = Reference::parse(&format!("{}/pocky-test/push:v1", sandbox.registry)).unwrap();
    for blob in [&img.config, &img.layers[0].1] {
        let d = Digest::sha256_of(blob);
        let owned = blob.clone();
        let open = move || -> std::io::Result<Box<dyn Read + Send>> {
            Ok(Box::new(Cursor::new(owned.clone())))
        };
        client
            .push_blob(&r, &d, blob.len() as u64, &open, &|_| {})
            .unwrap();
        assert!(client.blob_exists(&r, &d).unwrap());
    }
    let other = Reference::parse(&format!("{}/pocky-test/mounted:v1", sandbox.registry)).unwrap();
    assert!(
        client
            .mount_blob(&other, &img.layers[0].0, "pocky-test/push")
            .unwrap()
    );
    let pushed = client
        .put_manifest(&r, &img.manifest, OCI_MANIFEST)
        .unwrap();
    assert_eq!(pushed, img.manifest_digest);
    let got = client
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(got.manifest_digest, img.manifest_digest);
    assert_eq!(got.config_digest, img.config_digest);
    let mut back = Vec::new();
    client
        .open_blob(&r, &got.layers[0].digest, got.layers[0].size)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, layer);
}
