//! Records that cannot be read (a container.json cut short by a full disk,
//! an image record scribbled over). One of them must not take the store
//! down: listings show broken containers as Docker shows a `dead` one and
//! warn on stderr, `rm -f ID` and `rmi ID` remove them with what they
//! held, `system prune` clears them, and every other command ignores them.

use anyhow::{Result, bail};
use pocky_store::{
    BrokenContainer, BrokenImage, ContainerRecord, ContainerState, ContainerStore, ImageStore,
    Status, Store,
};

/// Warns once per broken container, with what removes it.
pub fn warn_containers(broken: &[BrokenContainer]) {
    for b in broken {
        eprintln!(
            "pocky: warning: container {} has an unreadable record ({}); `pocky rm -f {}` removes it",
            short(&b.id),
            b.reason,
            short(&b.id)
        );
    }
}

/// Warns once per broken image record, with what removes or repairs it.
pub fn warn_images(broken: &[BrokenImage]) {
    for b in broken {
        let hex = b.id.strip_prefix("sha256:").unwrap_or(&b.id);
        eprintln!(
            "pocky: warning: image {} has an unreadable record ({}); `pocky rmi {}` removes it, a pull of the image repairs it",
            short(hex),
            b.reason,
            short(hex)
        );
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A stand-in record for listings: the id is all that is known.
pub fn placeholder(b: &BrokenContainer) -> ContainerRecord {
    ContainerRecord {
        id: b.id.clone(),
        name: String::new(),
        image: String::new(),
        image_id: String::new(),
        command: vec![],
        created: b.modified,
        hostname: String::new(),
        auto_remove: false,
        tty: false,
        interactive: false,
        stdin_once: false,
        detached: false,
        cgroup: String::new(),
        stop_signal: None,
        stop_timeout: None,
        restart_policy: None,
        labels: Default::default(),
        healthcheck: None,
        host: Default::default(),
        state: ContainerState {
            status: Some(Status::Dead),
            error: Some(format!("unreadable record: {}", b.reason)),
            ..ContainerState::default()
        },
    }
}

/// The cgroup a broken container ran in: its bundle says, when readable;
/// else where `run` puts it by default.
fn cgroup_of(store: &Store, id: &str) -> String {
    crate::state::bundle_spec(store, id)
        .ok()
        .and_then(|s| s.linux().as_ref()?.cgroups_path().clone())
        .map(|p| p.to_string_lossy().trim_matches('/').to_owned())
        .unwrap_or_else(|| format!("pocky/{id}"))
}

/// Removes a broken container with everything a record would have told:
/// whatever still runs in its cgroup (only with `force`: without a record
/// pocky cannot tell a live container from a dead one), its network
/// attachments, its mounts and its directory.
pub fn remove_container(store: &Store, id: &str, force: bool) -> Result<()> {
    let cgroup = cgroup_of(store, id);
    if !force && cgroup_has_processes(&cgroup) {
        bail!(
            "cannot remove container {}: its record is unreadable and processes still run in its cgroup: use rm -f",
            short(id)
        );
    }
    crate::state::remove_cgroup(&cgroup);
    crate::netsetup::teardown(store, id);
    crate::state::unmount_under(&store.container_dir(id)?);
    store.remove_broken_container(id)?;
    Ok(())
}

fn cgroup_has_processes(path: &str) -> bool {
    use pocky_cgroup::{Cgroup, CgroupManager, Hierarchy};
    Hierarchy::detect()
        .and_then(|h| Cgroup::new(&h, path))
        .and_then(|c| c.pids())
        .is_ok_and(|p| !p.is_empty())
}

/// `rmi` of a broken image record, refused while a container uses it.
pub fn remove_image(store: &Store, id: &str) -> Result<()> {
    if let Some(c) = store.containers()?.into_iter().find(|c| c.image_id == id) {
        bail!(
            "unable to remove image {}: it is used by container {}",
            short(id.strip_prefix("sha256:").unwrap_or(id)),
            c.short_id()
        );
    }
    store.remove_broken_image(id)?;
    Ok(())
}
