//! Records cut short or scribbled over: one of them must not take the
//! store down. Listings skip and report it, lookups by id name it, it can
//! be removed, and what it owned is not collected from under it.

use std::fs;

use pocky_store::{
    ContainerRecord, ContainerState, ContainerStore, ImageQuery, ImageRecord, ImageStore,
    LayerRecord, LayerStore, StorageDriver, Store, StoreError, chain_ids, sha256_of,
    staging_diff_dir,
};

fn image(config: &[u8], tag: &str, layer: &[u8]) -> ImageRecord {
    let diff_ids = vec![sha256_of(layer)];
    ImageRecord {
        id: sha256_of(config),
        repo_tags: vec![tag.into()],
        repo_digests: vec![],
        manifest_digest: sha256_of(b"manifest"),
        chain_ids: chain_ids(&diff_ids),
        diff_ids,
        size: 1,
        created: None,
        pulled: 1,
        platform: "linux/amd64".into(),
        build_step: false,
    }
}

fn container(id: char, name: &str, image_id: &str) -> ContainerRecord {
    ContainerRecord {
        id: id.to_string().repeat(64),
        name: name.into(),
        image: "r/img:1".into(),
        image_id: image_id.into(),
        command: vec![],
        created: 0.0,
        hostname: "h".into(),
        auto_remove: false,
        tty: false,
        interactive: false,
        stdin_once: false,
        detached: false,
        cgroup: "pocky/x".into(),
        stop_signal: None,
        stop_timeout: None,
        restart_policy: None,
        labels: Default::default(),
        healthcheck: None,
        host: Default::default(),
        state: ContainerState::default(),
    }
}

/// Cuts a file in half, as a full disk or a crash of another tool would.
fn truncate(path: &std::path::Path) {
    let data = fs::read(path).unwrap();
    fs::write(path, &data[..data.len() / 2]).unwrap();
}

#[test]
fn a_truncated_container_record_is_listed_as_broken_and_removable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(b"cfg", "r/img:1", b"l");
    store.put_image(&img).unwrap();
    store
        .create_container(&container('a', "good", &img.id))
        .unwrap();
    store
        .create_container(&container('b', "bad", &img.id))
        .unwrap();
    let bad = "b".repeat(64);
    truncate(&store.container_dir(&bad).unwrap().join("container.json"));

    let names: Vec<String> = store
        .containers()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["good"]);
    let broken = store.broken_containers().unwrap();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].id, bad);
    assert!(broken[0].reason.contains("EOF"), "{}", broken[0].reason);
    // By id or prefix it is named as broken; by the good one's name the
    // good one is found; a new container can take the broken one's name
    // (the name is what cannot be read).
    for q in [bad.as_str(), "bbbb"] {
        assert!(matches!(
            store.find_container(q),
            Err(StoreError::BrokenContainer { .. })
        ));
    }
    assert_eq!(store.find_container("good").unwrap().id, "a".repeat(64));
    store
        .create_container(&container('c', "bad", &img.id))
        .unwrap();
    store
        .update_container(&"a".repeat(64), &mut |r| r.hostname = "new".into())
        .unwrap();

    assert!(store.remove_broken_container(&bad).unwrap());
    assert!(store.broken_containers().unwrap().is_empty());
    assert!(!store.container_dir(&bad).unwrap().exists());
    // A readable record is never removed as broken.
    assert!(!store.remove_broken_container(&"a".repeat(64)).unwrap());
    assert!(store.container_dir(&"a".repeat(64)).unwrap().exists());
}

#[test]
fn a_garbage_image_record_is_skipped_repaired_by_a_pull_and_keeps_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]}}"#;
    let mut bad = image(config, "r/bad:1", b"unused");
    bad.diff_ids = vec![format!("sha256:{}", "1".repeat(64))];
    bad.chain_ids = chain_ids(&bad.diff_ids);
    store.put_blob(&bad.id, config).unwrap();
    store.put_image(&bad).unwrap();
    let good = image(b"good", "r/good:1", b"g");
    store.put_image(&good).unwrap();
    for chain in bad.chain_ids.iter().chain(&good.chain_ids) {
        let staging = store.stage_layer(StorageDriver::Overlay).unwrap();
        fs::write(staging_diff_dir(&staging).join("f"), b"x").unwrap();
        let rec = LayerRecord {
            chain_id: chain.clone(),
            diff_id: chain.clone(),
            size: 1,
        };
        store.commit_layer(staging, &rec).unwrap();
    }
    let hex = bad.id.strip_prefix("sha256:").unwrap();
    fs::write(
        dir.path().join(format!("images/{hex}.json")),
        b"\x00garbage",
    )
    .unwrap();

    let ids: Vec<String> = store.images().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(ids, std::slice::from_ref(&good.id));
    assert_eq!(store.broken_images().unwrap()[0].id, bad.id);
    // A tag of the good image still resolves; the broken one's tag is a
    // real miss (so a pull may follow); its id is named as broken.
    let q = ImageQuery::Tag("r/good:1".into());
    assert_eq!(store.find_image(&q).unwrap().id, good.id);
    let q = ImageQuery::Tag("r/bad:1".into());
    assert!(matches!(
        store.find_image(&q),
        Err(StoreError::NoSuchImage(_))
    ));
    let q = ImageQuery::IdPrefix(hex[..12].into());
    assert!(matches!(
        store.find_image(&q),
        Err(StoreError::BrokenImage { .. })
    ));

    // Its layer is not collected: it is found from the config blob.
    let collected = store.collect_garbage().unwrap();
    assert!(collected.ran);
    assert!(collected.layers.is_empty(), "{:?}", collected.layers);
    assert!(store.has_layer(&bad.chain_ids[0]).unwrap());

    // A pull of the same image writes a good record over the broken one.
    store.put_image(&bad).unwrap();
    assert!(store.broken_images().unwrap().is_empty());
    assert_eq!(store.images().unwrap().len(), 2);

    fs::write(dir.path().join(format!("images/{hex}.json")), b"{").unwrap();
    assert!(store.remove_broken_image(&bad.id).unwrap());
    assert!(store.broken_images().unwrap().is_empty());
    assert_eq!(store.images().unwrap().len(), 1);
}
