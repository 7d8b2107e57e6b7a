//! `update`: new limits and restart policy for an existing container. The
//! bundle's spec is what every later start reads, so it is rewritten
//! (atomically); a running container's cgroup gets the new limits at once.

use oci_spec::runtime::{LinuxPidsBuilder, LinuxResources, Spec};
use pocky_cgroup::{CPU_PERIOD_US, Cgroup, CgroupManager};
use pocky_store::{ContainerStore, Store};

use crate::{Error, Result, conflict, flags, invalid, state};

/// Docker's `update` flags that pocky carries; None leaves a value alone.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// `-m`: `64m`, `1g`...
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    /// `--pids-limit`; 0 or -1 is unlimited.
    pub pids_limit: Option<i64>,
    pub restart: Option<String>,
    /// `--cpuset-cpus`, `--cpuset-mems`, `--cpu-period`, `--cpu-quota`,
    /// `--cpu-rt-period`, `--cpu-rt-runtime`, `--memory-swap`,
    /// `--memory-reservation`, `--blkio-weight`: as `run` takes them.
    pub more: crate::RunRequest,
}

impl UpdateRequest {
    fn is_empty(&self) -> bool {
        let m = &self.more;
        self.memory.is_none()
            && self.cpus.is_none()
            && self.cpu_shares.is_none()
            && self.pids_limit.is_none()
            && self.restart.is_none()
            && m.cpuset_cpus.is_none()
            && m.cpuset_mems.is_none()
            && m.cpu_period.is_none()
            && m.cpu_quota.is_none()
            && m.cpu_rt_period.is_none()
            && m.cpu_rt_runtime.is_none()
            && m.memory_swap.is_none()
            && m.memory_reservation.is_none()
            && m.blkio_weight.is_none()
    }
}

pub fn update(store: &Store, name: &str, req: &UpdateRequest) -> Result<()> {
    if req.is_empty() {
        return Err(invalid!(
            "you must provide one or more flags when using this command"
        ));
    }
    let rec = state::find(store, name)?;
    let memory = req.memory.as_deref().map(flags::memory).transpose()?;
    let nano_cpus = req.cpus.map(flags::nano_cpus).transpose()?;
    let restart = req
        .restart
        .as_deref()
        .map(|p| p.to_owned())
        .filter(|p| p != "no");
    if let Some(p) = &restart {
        crate::restart::Policy::parse(p)?;
        if rec.auto_remove {
            return Err(conflict!(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            ));
        }
    }

    let path = store.container_dir(&rec.id)?.join("config.json");
    let mut spec = state::bundle_spec(store, &rec.id)?;
    let mut resources = with_limits(&spec, memory, nano_cpus, req.cpu_shares, req.pids_limit)?;
    // The other limits with run's rules, against the memory limit the
    // container will have.
    let mut more = req.more.clone();
    more.memory = resources
        .memory()
        .and_then(|m| m.limit())
        .filter(|l| *l > 0)
        .map(|l| l.to_string());
    more.cpus = req.cpus;
    crate::run_flags::update_resources(&mut resources, &more)?;
    if state::process_alive(&rec) {
        let limits = pocky_runtime::resources::limits_of(&resources)?;
        Cgroup::detect(&rec.cgroup)?.apply(&limits)?;
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_resources(Some(resources));
    }
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Internal(e.into()))?;
    pocky_store::write_atomic(&path, &json)?;
    if req.restart.is_some() {
        store.update_container(&rec.id, &mut |r| r.restart_policy = restart.clone())?;
    }
    crate::events::container(store, &rec, "update", &[]);
    Ok(())
}

/// The spec's resources with the new values, as `create` writes them
/// (swap held to the memory limit, Docker's CFS period for `--cpus`).
fn with_limits(
    spec: &Spec,
    memory: Option<i64>,
    nano_cpus: Option<u64>,
    shares: Option<u64>,
    pids: Option<i64>,
) -> Result<LinuxResources> {
    let oci = |e: oci_spec::OciSpecError| Error::Internal(e.into());
    let mut r = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    if let Some(m) = memory {
        let mut mem = (*r.memory()).unwrap_or_default();
        mem.set_limit(Some(m));
        mem.set_swap(Some(m));
        r.set_memory(Some(mem));
    }
    if nano_cpus.is_some() || shares.is_some() {
        let mut cpu = r.cpu().clone().unwrap_or_default();
        if let Some(n) = nano_cpus {
            // One conversion for the whole engine: the cgroup crate's.
            let quota = pocky_cgroup::cpu_quota_us(n);
            cpu.set_quota(Some(i64::try_from(quota).unwrap_or(i64::MAX)));
            cpu.set_period(Some(CPU_PERIOD_US));
        }
        if let Some(s) = shares {
            cpu.set_shares(Some(s));
        }
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = pids {
        let limit = if p <= 0 { -1 } else { p };
        r.set_pids(Some(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(oci)?,
        ));
    }
    Ok(r)
}
