//! Hand-made container records for the tests of commands on containers:
//! no container runs, so they need no sandbox.

use std::path::{Path, PathBuf};

use pocky_engine::store::{ContainerRecord, ContainerState, ContainerStore, Status, Store};

pub fn id_for(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<64}")
}

pub fn record(name: &str, state: ContainerState) -> ContainerRecord {
    let id = id_for(name);
    ContainerRecord {
        cgroup: format!("pocky-test-absent/{id}"),
        id,
        name: name.into(),
        image: "busybox".into(),
        image_id: pocky_engine::store::sha256_of(b"feed"),
        command: vec!["/bin/sh".into(), "-c".into(), "echo hello; sleep 60".into()],
        created: state::now() - 120.0,
        hostname: "box".into(),
        auto_remove: false,
        tty: false,
        interactive: false,
        stdin_once: false,
        detached: true,
        stop_signal: None,
        stop_timeout: None,
        restart_policy: None,
        labels: Default::default(),
        healthcheck: None,
        host: Default::default(),
        state,
    }
}

pub mod state {
    pub fn now() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }
}

pub fn add(root: &Path, rec: &ContainerRecord) -> PathBuf {
    let store = Store::open(root).unwrap();
    // Containers pin an image record; a bare one stands in for it.
    use pocky_engine::store::ImageStore;
    store
        .put_image(&pocky_engine::store::ImageRecord {
            id: rec.image_id.clone(),
            repo_tags: vec![],
            repo_digests: vec![],
            manifest_digest: rec.image_id.clone(),
            diff_ids: vec![],
            chain_ids: vec![],
            size: 0,
            created: None,
            pulled: 0,
            platform: "linux/amd64".into(),
            build_step: false,
        })
        .unwrap();
    store.create_container(rec).unwrap();
    store.container_dir(&rec.id).unwrap()
}

pub fn exited(name: &str, code: i32) -> ContainerRecord {
    record(
        name,
        ContainerState {
            status: Some(Status::Exited),
            started_at: Some(state::now() - 100.0),
            finished_at: Some(state::now() - 90.0),
            exit_code: Some(code),
            ..ContainerState::default()
        },
    )
}
