//! `pocky system reset`: undoes everything pocky made for one state root,
//! as `podman system reset` does. Containers are killed and removed (with
//! their veths, firewall rules, cgroups and mounts), then every network
//! (bridges, rules), then pocky's firewall chains if no other state root
//! still has rules in them, the cgroup parents if empty, and last the state
//! root itself with its images and volumes. It goes on past failures and
//! reports them all, so one stuck object does not keep the rest.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;
use pocky_cgroup::{Cgroup, CgroupManager};
use pocky_store::{ContainerStore, Store};

use crate::prune::{CGROUP_PARENT_ENV, DEFAULT_CGROUP_PARENT};

/// What a reset did, in order, and what it could not do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResetReport {
    /// "Removed container 0123456789ab", ...
    pub done: Vec<String>,
    pub failures: Vec<String>,
}

/// Undoes everything of the state root `root`; a root that does not exist
/// is nothing to do.
pub fn reset(root: &Path) -> crate::Result<ResetReport> {
    reset_inner(root).map_err(crate::Error::from)
}

fn reset_inner(root: &Path) -> Result<ResetReport> {
    let mut report = ResetReport::default();
    if !root.exists() {
        report.done.push(format!(
            "Nothing to reset: {} does not exist",
            root.display()
        ));
        return Ok(report);
    }
    let store = Store::open(root)?;
    let mut failures: Vec<String> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    let mut note = |what: &str, e: &dyn std::fmt::Display| failures.push(format!("{what}: {e}"));

    let mut parents: HashSet<String> = [DEFAULT_CGROUP_PARENT.to_owned()].into();
    parents.extend(std::env::var(CGROUP_PARENT_ENV).ok());
    for rec in store.containers()? {
        if let Some((parent, _)) = rec.cgroup.trim_matches('/').rsplit_once('/') {
            parents.insert(parent.to_owned());
        }
        match crate::lifecycle::remove_forced(&store, &rec.id) {
            Ok(()) => done.push(format!("Removed container {}", rec.short_id())),
            Err(e) => note(
                &format!("container {}", rec.short_id()),
                &crate::one_line(&e),
            ),
        }
    }
    for b in store.broken_containers()? {
        if let Err(e) = crate::broken::remove_container(&store, &b.id, true) {
            note(&format!("container {}", &b.id[..12]), &crate::one_line(&e));
        }
    }

    let networks = crate::netsetup::networks(&store);
    for net in networks.list().unwrap_or_default() {
        match networks.remove(&net.name, &|_| false) {
            Ok(()) => done.push(format!("Removed network {}", net.name)),
            Err(e) => note(&format!("network {}", net.name), &e),
        }
    }
    match pocky_net::firewall::Firewall::new().and_then(|fw| fw.remove_base_if_unused()) {
        Ok(true) => done.push("Removed pocky's firewall chains".into()),
        Ok(false) => {
            done.push("Kept pocky's firewall chains: another state root has rules in them".into())
        }
        Err(e) => note("firewall chains", &e),
    }
    // IPv6's chains, made by a dual-stack network, go the same way; on a
    // host without them (or without ip6tables) this finds nothing to do.
    let v6 = pocky_net::firewall::Family::V6;
    if let Err(e) = pocky_net::firewall::Firewall::of(v6).and_then(|fw| fw.remove_base_if_unused())
    {
        note("IPv6 firewall chains", &e);
    }
    // Only empty parents go: another state root may run containers there.
    for p in &parents {
        if let Ok(cg) = Cgroup::detect(p) {
            let _ = cg.remove();
        }
    }

    drop(store);
    crate::state::unmount_under(root);
    match std::fs::remove_dir_all(root) {
        Ok(()) => done.push(format!("Removed {}", root.display())),
        Err(e) => note(&format!("removing {}", root.display()), &e),
    }
    report.done = done;
    report.failures = failures;
    Ok(report)
}
