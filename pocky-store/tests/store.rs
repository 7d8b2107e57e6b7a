use std::fs;

use pocky_store::{
    ImageQuery, ImageRecord, ImageStore, LayerRecord, LayerStore, StorageDriver, Store, chain_ids,
    sha256_of, staging_diff_dir,
};

fn record(config: &[u8], tags: &[&str], layers: &[&[u8]]) -> ImageRecord {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_of(l)).collect();
    ImageRecord {
        id: sha256_of(config),
        repo_tags: tags.iter().map(|t| t.to_string()).collect(),
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

fn add_layer(store: &Store, chain_id: &str) {
    let staging = store.stage_layer(StorageDriver::Overlay).unwrap();
    fs::write(staging_diff_dir(&staging).join("file"), b"x").unwrap();
    let rec = LayerRecord {
        chain_id: chain_id.into(),
        diff_id: chain_id.into(),
        size: 1,
    };
    assert!(store.commit_layer(staging, &rec).unwrap());
}

#[test]
fn tags_move_between_images_and_prefixes_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let old = record(b"old", &["docker.io/library/busybox:latest"], &[b"a"]);
    let new = record(b"new", &["docker.io/library/busybox:latest"], &[b"b"]);
    store.put_image(&old).unwrap();
    store.put_image(&new).unwrap();
    let found = store
        .find_image(&ImageQuery::Tag("docker.io/library/busybox:latest".into()))
        .unwrap();
    assert_eq!(found.id, new.id);
    let dangling = store
        .find_image(&ImageQuery::IdPrefix(old.short_id().into()))
        .unwrap();
    assert!(dangling.repo_tags.is_empty());
    assert!(matches!(
        store.find_image(&ImageQuery::IdPrefix("".into())),
        Err(pocky_store::StoreError::NoSuchImage(_))
    ));
    assert!(
        store
            .find_image(&ImageQuery::IdPrefix("../x".into()))
            .is_err()
    );
}

#[test]
fn gc_keeps_shared_layers_and_removes_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = record(b"a", &["r/a:1"], &[b"base", b"top-a"]);
    let b = record(b"b", &["r/b:1"], &[b"base", b"top-b"]);
    for c in a.chain_ids.iter().chain(b.chain_ids.iter().skip(1)) {
        add_layer(&store, c);
    }
    store.put_image(&a).unwrap();
    store.put_image(&b).unwrap();
    store.remove_image(&a.id).unwrap();
    let collected = store.collect_garbage().unwrap();
    assert!(collected.ran);
    assert_eq!(collected.layers, vec![a.chain_ids[1].clone()]);
    for c in &b.chain_ids {
        assert!(store.has_layer(c).unwrap());
    }
}

#[test]
fn gc_waits_for_pinned_pulls() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    add_layer(&store, &sha256_of(b"fresh"));
    let pin = store.pin().unwrap();
    assert!(!store.collect_garbage().unwrap().ran);
    assert!(store.has_layer(&sha256_of(b"fresh")).unwrap());
    drop(pin);
    assert_eq!(store.collect_garbage().unwrap().layers.len(), 1);
}

#[test]
fn second_commit_of_same_layer_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = sha256_of(b"l");
    add_layer(&store, &id);
    let staging = store.stage_layer(StorageDriver::Overlay).unwrap();
    let rec = LayerRecord {
        chain_id: id.clone(),
        diff_id: id,
        size: 1,
    };
    assert!(!store.commit_layer(staging, &rec).unwrap());
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn blobs_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put_blob(&sha256_of(b"cfg"), b"cfg").unwrap();
    assert_eq!(store.get_blob(&sha256_of(b"cfg")).unwrap(), b"cfg");
    assert!(store.put_blob(&sha256_of(b"cfg"), b"other").is_err());
    assert!(store.put_blob("sha256:../../x", b"x").is_err());
}

#[test]
fn concurrent_puts_lose_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                let store = Store::open(&root).unwrap();
                let tag = format!("r/img:{i}");
                store
                    .put_image(&record(format!("c{i}").as_bytes(), &[&tag], &[b"l"]))
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(&root).unwrap();
    assert_eq!(store.images().unwrap().len(), 16);
}

#[test]
fn leftovers_of_a_killed_process_are_cleaned_on_open() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    // What SIGKILL leaves: an unheld staging lock with its directory, trash
    // of an interrupted delete, a half-written record.
    let tmp = dir.path().join("tmp");
    fs::create_dir_all(tmp.join("dead/diff")).unwrap();
    fs::write(tmp.join("dead.lock"), b"").unwrap();
    fs::create_dir_all(tmp.join("x.trash/sub")).unwrap();
    fs::write(dir.path().join("images/.x.json.tmp-1"), b"half").unwrap();
    // A live stager in this process must survive the cleaning.
    let live = Store::open(dir.path())
        .unwrap()
        .stage_layer(StorageDriver::Overlay)
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    drop(store.lock().unwrap());
    assert!(live.path().exists());
    drop(live);
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    assert_eq!(fs::read_dir(dir.path().join("images")).unwrap().count(), 0);
}

#[test]
fn images_in_use_are_kept_and_containers_need_their_image() {
    use pocky_store::{ContainerRecord, ContainerState, ContainerStore, StoreError};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = record(b"img", &["r/img:1"], &[b"l"]);
    let ctr = |image_id: &str| ContainerRecord {
        id: "a".repeat(64),
        name: "c1".into(),
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
    };
    assert!(matches!(
        store.create_container(&ctr(&img.id)),
        Err(StoreError::NoSuchImage(_))
    ));
    store.put_image(&img).unwrap();
    store.create_container(&ctr(&img.id)).unwrap();
    assert!(matches!(
        store.remove_image(&img.id),
        Err(StoreError::ImageInUse { .. })
    ));
    let untagged = store.untag_all(&img.id).unwrap();
    assert!(untagged.repo_tags.is_empty());
    store.remove_container(&"a".repeat(64)).unwrap();
    store.remove_image(&img.id).unwrap();
}

#[test]
fn layers_are_read_in_the_form_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.storage().unwrap(), None);
    let staging = store.stage_layer(StorageDriver::Erofs).unwrap();
    fs::write(pocky_store::staging_image(&staging), b"image").unwrap();
    let rec = LayerRecord {
        chain_id: sha256_of(b"erofs"),
        diff_id: sha256_of(b"erofs"),
        size: 5,
    };
    assert!(store.commit_layer(staging, &rec).unwrap());
    match store.layer(&rec.chain_id).unwrap() {
        pocky_store::LayerPath::Erofs(p) => assert_eq!(fs::read(p).unwrap(), b"image"),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.layer_record(&rec.chain_id).unwrap(), rec);
    assert!(!store.has_directory_layers().unwrap());
    let choice = pocky_store::StorageRecord {
        driver: StorageDriver::Erofs,
        reason: "test".into(),
    };
    store.set_storage(&choice).unwrap();
    assert_eq!(
        Store::open(dir.path()).unwrap().storage().unwrap(),
        Some(choice)
    );
}

#[test]
fn the_state_root_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    Store::open(&root).unwrap();
    let mode = fs::metadata(&root).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
    // A fresh one too.
    let fresh = dir.path().join("fresh");
    Store::open(&fresh).unwrap();
    let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
}
