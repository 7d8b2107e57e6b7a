//! `pocky system reset`: undoes everything pocky made for one state root,
//! as `podman system reset` does. Containers are killed and removed (with
//! their veths, firewall rules, cgroups and mounts), then every network
//! (bridges, rules), then pocky's firewall chains if no other state root
//! still has rules in them, the cgroup parents if empty, and last the state
//! root itself with its images and volumes. It goes on past failures and
//! reports them all, so one stuck object does not keep the rest.

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use pocky_cgroup::{Cgroup, CgroupManager};
use pocky_store::{ContainerStore, Store};

use crate::cli::ResetArgs;
use crate::prune::{CGROUP_PARENT_ENV, DEFAULT_CGROUP_PARENT};

pub fn reset(root: &Path, args: &ResetArgs) -> Result<ExitCode> {
    if !args.force && !confirmed(root)? {
        return Ok(ExitCode::SUCCESS);
    }
    if !root.exists() {
        println!("Nothing to reset: {} does not exist", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(root)?;
    let mut failures: Vec<String> = Vec::new();
    let mut note = |what: &str, e: &dyn std::fmt::Display| failures.push(format!("{what}: {e}"));

    let mut parents: HashSet<String> = [DEFAULT_CGROUP_PARENT.to_owned()].into();
    parents.extend(std::env::var(CGROUP_PARENT_ENV).ok());
    for rec in store.containers()? {
        if let Some((parent, _)) = rec.cgroup.trim_matches('/').rsplit_once('/') {
            parents.insert(parent.to_owned());
        }
        match crate::lifecycle::remove_forced(&store, &rec.id) {
            Ok(()) => println!("Removed container {}", rec.short_id()),
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
            Ok(()) => println!("Removed network {}", net.name),
            Err(e) => note(&format!("network {}", net.name), &e),
        }
    }
    match pocky_net::firewall::Firewall::new().and_then(|fw| fw.remove_base_if_unused()) {
        Ok(true) => println!("Removed pocky's firewall chains"),
        Ok(false) => println!("Kept pocky's firewall chains: another state root has rules in them"),
        Err(e) => note("firewall chains", &e),
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
        Ok(()) => println!("Removed {}", root.display()),
        Err(e) => note(&format!("removing {}", root.display()), &e),
    }
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &failures {
        eprintln!("pocky: {f}");
    }
    Ok(ExitCode::from(crate::EXIT_ENGINE))
}

/// Asks on a terminal; refuses to guess anywhere else.
fn confirmed(root: &Path) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "system reset removes everything under {}: pass --force to confirm",
            root.display()
        );
    }
    print!(
        "WARNING! This will remove every container (running ones are killed), image, volume and network of {}.\nAre you sure you want to continue? [y/N] ",
        root.display()
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
