//! The conventions every container command shares.
//!
//! A container's directory holds `container.json` (its record),
//! `config.json` (the OCI spec: the bundle), `rootfs/`, `upper/`, `work/`,
//! the generated `hostname`, `hosts` and `resolv.conf`, and
//! `container.log` (JSON lines `{"log","stream","time"}`, as Docker's
//! json-file driver writes them).
//!
//! Whoever owns the container's first process (the foreground `pocky run`,
//! or the monitor of a detached one) holds an exclusive flock on
//! `monitor.lock` from before the start until the exit is recorded. So
//! `wait` blocks on that lock rather than polling, and a record that says
//! running while nobody holds the lock belongs to an owner that was killed:
//! [`refresh`] then settles it from what the kernel says.
#![allow(dead_code)] // until every command uses these

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use pocky_cgroup::{Cgroup, CgroupManager, Hierarchy};
use pocky_runtime::process;
use pocky_store::{ContainerRecord, ContainerStore, FileLock, Status, Store, StoreError};

pub fn monitor_lock_path(store: &Store, id: &str) -> Result<PathBuf> {
    Ok(store.container_dir(id)?.join("monitor.lock"))
}

pub fn log_path(store: &Store, id: &str) -> Result<PathBuf> {
    Ok(store.container_dir(id)?.join("container.log"))
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// True while some process owns the container (holds its monitor lock).
pub fn owner_alive(store: &Store, id: &str) -> Result<bool> {
    let path = monitor_lock_path(store, id)?;
    if !path.exists() {
        return Ok(false);
    }
    Ok(FileLock::try_exclusive(&path)?.is_none())
}

/// Whether the record's process is still the container's.
pub fn process_alive(rec: &ContainerRecord) -> bool {
    rec.state.status == Some(Status::Running)
        && process::is_alive(rec.state.pid, rec.state.pid_start)
}

/// Settles a record whose owner died: if the process is gone too, the
/// container is marked exited and its cgroup removed. A process that
/// outlived its owner keeps running and shows as running.
pub fn refresh(store: &Store, rec: ContainerRecord) -> Result<ContainerRecord> {
    // A monitor killed while it waited to restart the container left it
    // marked restarting: nobody will, until a start or `system boot`.
    if rec.state.restarting && !owner_alive(store, &rec.id)? {
        return Ok(store.update_container(&rec.id, &mut |r| r.state.restarting = false)?);
    }
    if rec.state.status != Some(Status::Running) || process_alive(&rec) {
        return Ok(rec);
    }
    if owner_alive(store, &rec.id)? {
        // The owner is about to record the exit itself.
        return Ok(rec);
    }
    remove_cgroup(&rec.cgroup);
    let rec = store.update_container(&rec.id, &mut |r| {
        if r.state.status == Some(Status::Running) {
            r.state.status = Some(Status::Exited);
            r.state.finished_at.get_or_insert_with(now);
            if r.state.exit_code.is_none() {
                // Nobody saw the exit: Docker reports such containers with 255.
                r.state.exit_code = Some(255);
                r.state.error = Some("the process that owned the container died".into());
            }
            crate::health::on_exit(r);
        }
    })?;
    Ok(rec)
}

/// Whether a running container's cgroup is frozen by `pause`.
pub fn paused(rec: &ContainerRecord) -> bool {
    process_alive(rec) && Cgroup::detect(&rec.cgroup).is_ok_and(|c| c.is_frozen())
}

/// [`refresh`] for listings: None when the container went away while it
/// was being read (a `run --rm` finishing, a concurrent `rm`), which a
/// listing skips rather than fail on.
pub fn refresh_listed(store: &Store, rec: ContainerRecord) -> Result<Option<ContainerRecord>> {
    match refresh(store, rec) {
        Ok(r) => Ok(Some(r)),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether an error says only that the container's record or directory
/// is gone.
pub fn vanished(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<StoreError>() {
        Some(StoreError::NoSuchContainer(_)) => true,
        Some(StoreError::Io { source, .. } | StoreError::Lock { source, .. }) => {
            source.kind() == std::io::ErrorKind::NotFound
        }
        _ => false,
    }
}

/// The container's cgroup, for `what` that needs one: a rootless
/// container without a delegated cgroup v2 subtree has none.
pub fn cgroup(rec: &ContainerRecord, what: &str) -> crate::Result<Cgroup> {
    if rec.cgroup.is_empty() {
        return Err(crate::Error::Conflict(format!(
            "{what} needs a cgroup, and container {} has none (rootless pocky without a \
             delegated cgroup v2 subtree)",
            rec.name
        )));
    }
    Ok(Cgroup::detect(&rec.cgroup)?)
}

/// Kills what is left in a container's cgroup and removes it. Errors are
/// not fatal for the caller: the next prune tries again.
pub fn remove_cgroup(path: &str) {
    let Ok(h) = Hierarchy::detect() else { return };
    let Ok(cg) = Cgroup::new(&h, path) else {
        return;
    };
    let _ = cg.kill_all();
    if let Err(e) = cg.remove() {
        crate::log::debug!("removing cgroup {path}: {e}");
    }
}

/// Removes a container that no longer runs: cgroup, directory, record.
pub fn remove_container(store: &Store, rec: &ContainerRecord) -> Result<()> {
    remove_cgroup(&rec.cgroup);
    crate::netsetup::teardown(store, &rec.id);
    unmount_under(&store.container_dir(&rec.id)?);
    store.remove_container(&rec.id)?;
    Ok(())
}

/// Detaches every mount at or below `dir`, deepest first, so that deleting
/// the directory can never reach through a leftover rootfs or bind mount
/// (a crashed `run` in the host's mount namespace) into a volume or layer.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount_path(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for p in points {
        if let Err(e) = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH) {
            crate::log::debug!("unmounting {}: {e}", p.display());
        }
    }
}

/// Mount points in mountinfo escape blanks and backslashes as `\ooo`.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b
            .get(i + 1..i + 4)
            .filter(|_| b[i] == b'\\')
            .and_then(|o| std::str::from_utf8(o).ok())
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Finds a container by id, unique id prefix or name, settled.
pub fn find(store: &Store, query: &str) -> crate::Result<ContainerRecord> {
    let rec = store.find_container(query)?;
    Ok(refresh(store, rec)?)
}

pub fn bundle_spec(store: &Store, id: &str) -> Result<oci_spec::runtime::Spec> {
    let path = store.container_dir(id)?.join("config.json");
    oci_spec::runtime::Spec::load(&path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
}
