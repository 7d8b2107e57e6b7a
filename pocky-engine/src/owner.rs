//! The owner of a container's first process: the foreground `pocky run` or
//! the monitor of a detached one. It starts the process, records it, reaps
//! it, records how it ended and cleans up.

use anyhow::Result;
use pocky_cgroup::CgroupManager;
use pocky_ns::ExitStatus;
use pocky_runtime::launch::{Launch, Launched, Stdio, launch};
use pocky_runtime::process;
use pocky_store::{ContainerStore, FileLock, Status, Store};

use crate::create::Created;
use crate::state;

/// Exit code for a failure of pocky itself, as Docker's.
pub const EXIT_ENGINE: i32 = 125;

/// Holds the monitor lock; take it before starting.
pub fn lock(store: &Store, id: &str) -> Result<FileLock> {
    Ok(FileLock::exclusive(&state::monitor_lock_path(store, id)?)?)
}

/// Why a start failed, with the exit code Docker would give.
pub struct StartError {
    pub code: i32,
    pub message: String,
}

/// Starts the created container and records it as running.
pub fn start(store: &Store, created: &Created, stdio: Stdio) -> Result<Launched, StartError> {
    // Namespaces shared with another container are found at each start.
    let spec = crate::ns_share::resolve(store, &created.spec).map_err(|e| StartError {
        code: EXIT_ENGINE,
        message: crate::one_line(&e),
    })?;
    // Each EROFS layer image is mounted once, here, and its page cache is
    // shared by every container; where that fails (a caller that may not
    // mount), the child mounts them for itself as before.
    if let Err(e) = pocky_fs::rootfs::share_layer_images(&created.overlay) {
        crate::log::debug!("sharing the layer images: {e}");
    }
    let launched = launch(
        Launch {
            spec: &spec,
            bundle: &created.dir,
            overlay: Some(&created.overlay),
            stdio,
        },
        |pid, netns| crate::netsetup::before_start(store, created, pid, netns),
    );
    let launched = match launched {
        Ok(l) => l,
        Err(e) => {
            let code = match &e {
                pocky_runtime::RuntimeError::Ns(pocky_ns::NsError::Child { exit_code, .. }) => {
                    *exit_code
                }
                _ => EXIT_ENGINE,
            };
            let message = crate::one_line(&anyhow::Error::new(e));
            let _ = store.update_container(&created.record.id, &mut |r| {
                r.state.status = Some(Status::Exited);
                r.state.exit_code = Some(code);
                r.state.error = Some(message.clone());
                r.state.finished_at = Some(state::now());
            });
            return Err(StartError { code, message });
        }
    };
    crate::fault::point("owner:launched");
    let pid = launched.pid();
    let pid_start = process::start_time(pid).unwrap_or(0);
    let _ = store.update_container(&created.record.id, &mut |r| {
        r.state.status = Some(Status::Running);
        r.state.pid = pid;
        r.state.pid_start = pid_start;
        r.state.started_at = Some(state::now());
        // What the last run ended with is not this run's.
        r.state.exit_code = None;
        r.state.error = None;
        r.state.oom_killed = false;
        crate::health::on_start(r);
    });
    crate::events::container(store, &created.record, "start", &[]);
    Ok(launched)
}

/// Records the exit, removes the cgroup, and the container with `--rm`.
pub fn finish(store: &Store, created: &Created, launched: &Launched, status: ExitStatus) {
    let oom = launched
        .cgroup()
        .and_then(|cg| cg.stats().ok())
        .is_some_and(|s| s.oom_killed);
    if let Some(cg) = launched.cgroup() {
        let _ = cg.kill_all();
        if let Err(e) = cg.remove() {
            crate::log::debug!("removing cgroup: {e}");
        }
    }
    let id = &created.record.id;
    if oom {
        crate::events::container(store, &created.record, "oom", &[]);
    }
    // A `restart` by hand keeps even a `--rm` container.
    let remove = created.record.auto_remove
        && !store
            .find_container(id)
            .is_ok_and(|r| r.state.restart_by_hand);
    // The exit is recorded before it is announced: a client that waits
    // for `die` then inspects or removes the container finds it exited.
    if !remove {
        let _ = store.update_container(id, &mut |r| {
            r.state.status = Some(Status::Exited);
            r.state.exit_code = Some(status.code);
            r.state.oom_killed = oom;
            r.state.finished_at = Some(state::now());
            r.state.pid = 0;
            crate::health::on_exit(r);
        });
    }
    crate::events::container(
        store,
        &created.record,
        "die",
        &[("exitCode", status.code.to_string())],
    );
    crate::netsetup::teardown(store, id);
    if remove {
        // Its record goes now: recording the exit first would be wasted.
        let used = store.container_volumes(id).unwrap_or_default();
        if let Err(e) = store.remove_container(id) {
            crate::log::debug!("removing container {id}: {e}");
        }
        crate::volumes_setup::remove_anonymous(store, &used);
        crate::events::container(store, &created.record, "destroy", &[]);
    }
}

/// Removes a container whose start failed, when `--rm` asked for it.
pub fn discard_failed(store: &Store, created: &Created) {
    if created.record.auto_remove {
        let used = store
            .container_volumes(&created.record.id)
            .unwrap_or_default();
        let _ = store.remove_container(&created.record.id);
        crate::volumes_setup::remove_anonymous(store, &used);
    }
}
