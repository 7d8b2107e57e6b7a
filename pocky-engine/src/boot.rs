//! `system boot`: what Docker's daemon does for restart policies when it
//! starts. With no daemon, a reboot (or a killed monitor) leaves a
//! container with a policy stopped until something starts it; an init
//! script or unit running `pocky system boot` at boot is that something
//! (podman ships `podman-restart.service` for the same reason).

use pocky_store::{ContainerStore, Status, Store};

use crate::restart::Policy;
use crate::{Result, state};

/// What a boot did, per container.
#[derive(Debug, Default)]
pub struct BootReport {
    pub started: Vec<String>,
    /// Name and one-line error of each start that failed.
    pub failed: Vec<(String, String)>,
}

/// Starts the containers Docker's daemon would start when it comes up:
/// `always` ones (even when stopped by hand, as Docker documents),
/// `unless-stopped` ones not stopped by hand, and `on-failure` ones that
/// were running when their owner went away.
pub fn boot(store: &Store) -> Result<BootReport> {
    let mut report = BootReport::default();
    for raw in store.containers()? {
        let was_running = raw.state.status == Some(Status::Running);
        let Some(rec) = state::refresh_listed(store, raw)? else {
            continue;
        };
        if state::process_alive(&rec) || state::owner_alive(store, &rec.id)? {
            continue;
        }
        let policy = rec
            .restart_policy
            .as_deref()
            .and_then(|p| Policy::parse(p).ok())
            .unwrap_or(Policy::No);
        let wanted = match policy {
            Policy::Always => true,
            Policy::UnlessStopped => !rec.state.manually_stopped,
            Policy::OnFailure(_) => was_running && !rec.state.manually_stopped,
            Policy::No => false,
        };
        if !wanted {
            continue;
        }
        // `start` by hand clears the stop by hand, which `always` ignores.
        match crate::lifecycle::start(store, &rec.id) {
            Ok(_) => report.started.push(rec.name),
            Err(e) => report.failed.push((rec.name, crate::one_line(&e))),
        }
    }
    Ok(report)
}
