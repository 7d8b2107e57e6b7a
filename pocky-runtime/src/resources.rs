//! An OCI `linux.resources` in pocky-cgroup's terms. Everything the spec
//! can ask for is either carried over or refused with its name; nothing
//! is dropped without a word, so an orchestrator never believes a limit
//! holds that does not.

use oci_spec::runtime::{LinuxResources, LinuxThrottleDevice, Spec};
use pocky_cgroup::{BlkioDevice, Limits, ThrottleKind};

use crate::RuntimeError;

fn refuse(what: &str) -> RuntimeError {
    RuntimeError::Config(format!("linux.resources.{what} is not supported"))
}

/// The limits of the spec's `linux.resources` (none when it has none).
pub fn limits_of_spec(spec: &Spec) -> Result<Limits, RuntimeError> {
    match spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        Some(r) => limits_of(r),
        None => Ok(Limits::default()),
    }
}

/// `r` as [`Limits`]. Devices are not here: they go through the device
/// rules (`crate::security::devices`).
pub fn limits_of(r: &LinuxResources) -> Result<Limits, RuntimeError> {
    let mut l = Limits::default();
    if let Some(m) = r.memory() {
        // -1 is "unlimited", which a new cgroup already is.
        l.memory_bytes = m.limit().and_then(|v| u64::try_from(v).ok());
        l.more.memory_swap = m.swap();
        l.more.memory_reservation = m.reservation();
        l.more.memory_swappiness = m.swappiness();
        l.more.oom_kill_disable = m.disable_oom_killer().unwrap_or(false);
        // kernel and kernelTCP are ignored, as runc ignores them: the
        // kernel deprecated kernel-memory limits (and 6.x removed them).
        // useHierarchy: always on in pocky's cgroups.
    }
    if let Some(c) = r.cpu() {
        l.cpu_shares = c.shares();
        l.more.cpu_quota_us = c.quota();
        l.more.cpu_period_us = c.period();
        l.more.cpu_burst_us = c.burst();
        l.more.cpu_idle = c.idle();
        l.more.cpu_rt_runtime_us = c.realtime_runtime();
        l.more.cpu_rt_period_us = c.realtime_period();
        l.more.cpuset_cpus = c.cpus().clone().filter(|s| !s.is_empty());
        l.more.cpuset_mems = c.mems().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        // -1 (or 0) is "unlimited": pocky-cgroup's 0.
        l.pids = Some(u64::try_from(p.limit()).unwrap_or(0));
    }
    if let Some(b) = r.block_io() {
        l.more.blkio_weight = b.weight();
        l.more.blkio_leaf_weight = b.leaf_weight();
        for d in b.weight_device().iter().flatten() {
            if d.leaf_weight().is_some() {
                return Err(refuse("blockIO.weightDevice[].leafWeight"));
            }
            if let Some(w) = d.weight() {
                l.more.blkio_weight_devices.push(BlkioDevice {
                    major: d.major(),
                    minor: d.minor(),
                    value: u64::from(w),
                });
            }
        }
        let throttles: [(ThrottleKind, &Option<Vec<LinuxThrottleDevice>>); 4] = [
            (ThrottleKind::ReadBps, b.throttle_read_bps_device()),
            (ThrottleKind::WriteBps, b.throttle_write_bps_device()),
            (ThrottleKind::ReadIops, b.throttle_read_iops_device()),
            (ThrottleKind::WriteIops, b.throttle_write_iops_device()),
        ];
        for (kind, list) in throttles {
            for d in list.iter().flatten() {
                l.more.blkio_throttles.push((
                    kind,
                    BlkioDevice {
                        major: d.major(),
                        minor: d.minor(),
                        value: d.rate(),
                    },
                ));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        let bytes = u64::try_from(h.limit()).map_err(|_| {
            RuntimeError::Config(format!(
                "hugepage limit {} for {} is negative",
                h.limit(),
                h.page_size()
            ))
        })?;
        l.more.hugepages.push((h.page_size().clone(), bytes));
    }
    if let Some(n) = r.network() {
        l.more.net_cls_classid = n.class_id();
        for p in n.priorities().iter().flatten() {
            l.more.net_prio.push((p.name().clone(), p.priority()));
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(refuse("rdma"));
    }
    if let Some(u) = r.unified() {
        l.more.unified = u.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Limits, RuntimeError> {
        limits_of(&serde_json::from_str::<LinuxResources>(json).unwrap())
    }

    #[test]
    fn every_field_is_carried_over() {
        let l = parse(
            r#"{"memory":{"limit":67108864,"reservation":33554432,"swap":134217728,
                "swappiness":20,"disableOOMKiller":true,"kernel":1},
               "cpu":{"shares":512,"quota":50000,"period":200000,"burst":1000,
                "cpus":"0","mems":"0","realtimeRuntime":100,"realtimePeriod":1000},
               "pids":{"limit":-1},
               "blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":200}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":10}]},
               "hugepageLimits":[{"pageSize":"2MB","limit":0}],
               "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]},
               "unified":{"memory.high":"50M"}}"#,
        )
        .unwrap();
        assert_eq!(l.memory_bytes, Some(64 << 20));
        assert_eq!(l.more.memory_swap, Some(128 << 20));
        assert_eq!(l.more.memory_reservation, Some(32 << 20));
        assert_eq!(l.more.memory_swappiness, Some(20));
        assert!(l.more.oom_kill_disable);
        assert_eq!(l.cpu_shares, Some(512));
        assert_eq!(
            (l.more.cpu_quota_us, l.more.cpu_period_us),
            (Some(50_000), Some(200_000))
        );
        assert_eq!(l.more.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(l.pids, Some(0), "-1 is unlimited");
        assert_eq!(l.more.blkio_weight, Some(300));
        assert_eq!(l.more.blkio_weight_devices[0].value, 200);
        assert_eq!(l.more.blkio_throttles.len(), 2);
        assert_eq!(l.more.hugepages, vec![("2MB".to_string(), 0)]);
        assert_eq!(l.more.net_cls_classid, Some(0x100001));
        assert_eq!(l.more.net_prio, vec![("eth0".to_string(), 5)]);
        assert_eq!(l.more.unified["memory.high"], "50M");
    }

    #[test]
    fn what_pocky_cannot_do_is_refused() {
        let e = parse(r#"{"rdma":{"mlx5_0":{"hcaHandles":3}}}"#).unwrap_err();
        assert!(e.to_string().contains("rdma"), "{e}");
        assert!(parse(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":-5}]}"#).is_err());
        assert!(parse(r#"{"rdma":{}}"#).is_ok());
        assert_eq!(parse("{}").unwrap(), Limits::default());
    }
}
