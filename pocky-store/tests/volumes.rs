//! Volume records: creation, listing, claims by containers, removal refused
//! while in use, prune.

use std::collections::BTreeMap;
use std::fs;

use pocky_store::{
    ContainerRecord, ContainerState, ContainerStore, ImageRecord, ImageStore, Store, StoreError,
    VolumeClaim, sha256_of,
};

fn image(store: &Store) -> String {
    let id = sha256_of(b"config");
    store
        .put_image(&ImageRecord {
            id: id.clone(),
            repo_tags: vec!["img:latest".into()],
            repo_digests: vec![],
            manifest_digest: sha256_of(b"manifest"),
            chain_ids: vec![],
            diff_ids: vec![],
            size: 1,
            created: None,
            pulled: 1,
            platform: "linux/amd64".into(),
            build_step: false,
        })
        .unwrap();
    id
}

fn container(store: &Store, n: u8) -> String {
    let image_id = image(store);
    let id = format!("{n:02x}").repeat(32);
    store
        .create_container(&ContainerRecord {
            id: id.clone(),
            name: format!("c{n}"),
            image: "img".into(),
            image_id,
            command: vec![],
            created: f64::from(n),
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
        })
        .unwrap();
    id
}

fn claim(name: &str, anonymous: bool) -> VolumeClaim {
    VolumeClaim {
        name: name.into(),
        anonymous,
    }
}

fn names(store: &Store) -> Vec<String> {
    store
        .volumes()
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

#[test]
fn create_is_idempotent_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.volumes().unwrap().is_empty());
    let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
    let (v, new) = store.create_volume("data", &labels).unwrap();
    assert!(new);
    assert_eq!(v.driver, "local");
    assert_eq!(v.labels, labels);
    assert!(!v.anonymous);
    assert!(store.volume_data_dir("data").unwrap().is_dir());
    fs::write(store.volume_data_dir("data").unwrap().join("f"), b"x").unwrap();
    let (again, new) = store.create_volume("data", &BTreeMap::new()).unwrap();
    assert!(!new);
    assert_eq!(again, v);
    assert!(store.volume_data_dir("data").unwrap().join("f").exists());
    assert_eq!(store.volume("data").unwrap(), v);
    assert!(matches!(
        store.volume("nope"),
        Err(StoreError::NoSuchVolume(_))
    ));
    // Nothing is left in tmp/ by a creation.
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn bad_names_are_refused_before_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for bad in ["../x", "a/b", "x", ".hidden", ""] {
        assert!(matches!(
            store.create_volume(bad, &BTreeMap::new()),
            Err(StoreError::BadVolumeName(_))
        ));
    }
    assert!(!dir.path().join("x").exists());
    assert!(store.volumes().unwrap().is_empty());
}

#[test]
fn a_volume_in_use_cannot_be_removed_until_its_container_goes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = container(&store, 1);
    store
        .claim_volumes(&id, &[claim("data", false), claim("data", false)])
        .unwrap();
    assert_eq!(store.container_volumes(&id).unwrap(), vec!["data"]);
    assert_eq!(
        store.containers_using_volume("data").unwrap(),
        vec![id.clone()]
    );
    let err = store.remove_volume("data").unwrap_err();
    assert!(matches!(err, StoreError::VolumeInUse { .. }), "{err}");
    assert!(err.to_string().contains(&id[..12]), "{err}");
    assert!(store.prune_volumes(true).unwrap().is_empty());
    store.remove_container(&id).unwrap();
    store.remove_volume("data").unwrap();
    assert!(names(&store).is_empty());
    assert!(matches!(
        store.remove_volume("data"),
        Err(StoreError::NoSuchVolume(_))
    ));
}

#[test]
fn claims_need_a_container_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store
        .claim_volumes(&"ab".repeat(32), &[claim("data", false)])
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchContainer(_)), "{err}");
    assert!(names(&store).is_empty());
}

#[test]
fn prune_takes_anonymous_volumes_unless_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let anon = "f".repeat(64);
    let id = container(&store, 2);
    store
        .claim_volumes(&id, &[claim(&anon, true), claim("kept", false)])
        .unwrap();
    store.create_volume("named", &BTreeMap::new()).unwrap();
    let a = "a".repeat(64);
    let other = container(&store, 3);
    store.claim_volumes(&other, &[claim(&a, true)]).unwrap();
    store.remove_container(&other).unwrap();
    assert!(store.volume(&anon).unwrap().anonymous);
    // Only the unused anonymous one goes.
    assert_eq!(store.prune_volumes(false).unwrap(), vec![a]);
    // --all: the unused named one too, never a used one.
    assert_eq!(store.prune_volumes(true).unwrap(), vec!["named"]);
    let mut left = names(&store);
    left.sort();
    assert_eq!(left, vec![anon.clone(), "kept".to_string()]);
    // rm -v: anonymous volumes of the removed container, named ones kept.
    let used = store.container_volumes(&id).unwrap();
    store.remove_container(&id).unwrap();
    assert_eq!(store.remove_anonymous_volumes(&used).unwrap(), vec![anon]);
    assert_eq!(names(&store), vec!["kept"]);
}
