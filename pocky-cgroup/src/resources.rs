//! The resources of an OCI spec beyond Docker's four flags: CFS period and
//! burst, realtime CPU, cpusets, memory reservation/swap/swappiness, the OOM
//! killer switch, block I/O weights and throttles, hugetlb, net_cls/net_prio
//! and v2's free-form `unified` map.
//!
//! Each is turned into control-file writes for the version at hand; one
//! that version has no file for is an error, never silently dropped, so a
//! caller (Kubernetes through containerd, podman) learns its limit did not
//! take.

use std::collections::BTreeMap;

use crate::error::{CgroupError, Result};
use crate::limits::Write;

/// A device's major:minor and a value for it (a weight, or a rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlkioDevice {
    pub major: i64,
    pub minor: i64,
    pub value: u64,
}

impl BlkioDevice {
    fn key(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

/// Which throttle a [`BlkioDevice`] rate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThrottleKind {
    ReadBps,
    WriteBps,
    ReadIops,
    WriteIops,
}

impl ThrottleKind {
    fn v1_file(self) -> &'static str {
        match self {
            Self::ReadBps => "blkio.throttle.read_bps_device",
            Self::WriteBps => "blkio.throttle.write_bps_device",
            Self::ReadIops => "blkio.throttle.read_iops_device",
            Self::WriteIops => "blkio.throttle.write_iops_device",
        }
    }

    fn v2_key(self) -> &'static str {
        match self {
            Self::ReadBps => "rbps",
            Self::WriteBps => "wbps",
            Self::ReadIops => "riops",
            Self::WriteIops => "wiops",
        }
    }
}

/// What an OCI `linux.resources` asks for beyond [`crate::Limits`]'s
/// Docker fields, in the spec's own units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CFS quota in microseconds per period; -1 means none. Takes the
    /// place of `Limits::nano_cpus` when set.
    pub cpu_quota_us: Option<i64>,
    pub cpu_period_us: Option<u64>,
    pub cpu_burst_us: Option<u64>,
    pub cpu_rt_runtime_us: Option<i64>,
    pub cpu_rt_period_us: Option<u64>,
    pub cpu_idle: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Memory plus swap in bytes (v1 `memsw`); -1 is unlimited. `None`
    /// holds it to the memory limit, pocky's default (no swapping past it).
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes (v1 `soft_limit_in_bytes`, v2 `memory.low`).
    pub memory_reservation: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub oom_kill_disable: bool,
    pub blkio_weight: Option<u16>,
    pub blkio_leaf_weight: Option<u16>,
    pub blkio_weight_devices: Vec<BlkioDevice>,
    pub blkio_throttles: Vec<(ThrottleKind, BlkioDevice)>,
    /// Page size as the kernel names it (`2MB`, `1GB`) and a byte limit.
    pub hugepages: Vec<(String, u64)>,
    pub net_cls_classid: Option<u32>,
    /// Interface name and priority.
    pub net_prio: Vec<(String, u32)>,
    /// v2 control files by name, written as given.
    pub unified: BTreeMap<String, String>,
}

fn unsupported(what: &'static str, version: &'static str) -> CgroupError {
    CgroupError::Unsupported { what, version }
}

/// `-1` (or any negative) as the kernel's "no limit" word.
fn limit_word(v: i64, unlimited: &str) -> String {
    if v < 0 {
        unlimited.to_owned()
    } else {
        v.to_string()
    }
}

impl Resources {
    /// Checks what no version could write.
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(s) = self.memory_swappiness.filter(|&s| s > 100) {
            return Err(CgroupError::InvalidLimit {
                limit: "memory swappiness",
                value: s,
                reason: "must be 0 to 100",
            });
        }
        for (size, _) in &self.hugepages {
            if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(CgroupError::InvalidPath {
                    path: size.clone(),
                    reason: "a hugepage size is like 2MB or 1GB",
                });
            }
        }
        for (iface, _) in &self.net_prio {
            // One `name prio` line per write: a space or newline in the
            // name would smuggle in a second mapping.
            let ok = !iface.is_empty()
                && iface.len() < 16
                && !iface.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/');
            if !ok {
                return Err(CgroupError::InvalidPath {
                    path: iface.clone(),
                    reason: "not an interface name",
                });
            }
        }
        for name in self.unified.keys() {
            let ok = name.contains('.')
                && !name.starts_with('.')
                && !name.starts_with("cgroup.")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._".contains(c));
            if !ok {
                return Err(CgroupError::InvalidPath {
                    path: name.clone(),
                    reason: "a unified key names a controller file such as memory.high",
                });
            }
        }
        Ok(())
    }

    /// The v1 writes, after `Limits`' own cpu shares/quota and memory.
    pub(crate) fn v1_writes(&self) -> Result<Vec<Write>> {
        let mut w = Vec::new();
        if let Some(b) = self.cpu_burst_us {
            w.push(Write::new("cpu", "cpu.cfs_burst_us", b));
        }
        // The period before the runtime: the kernel checks runtime <= period.
        if let Some(p) = self.cpu_rt_period_us {
            w.push(Write::new("cpu", "cpu.rt_period_us", p));
        }
        if let Some(r) = self.cpu_rt_runtime_us {
            w.push(Write::new("cpu", "cpu.rt_runtime_us", r));
        }
        if let Some(i) = self.cpu_idle {
            w.push(Write::new("cpu", "cpu.idle", i));
        }
        self.cpuset_writes(&mut w);
        if let Some(r) = self.memory_reservation {
            w.push(Write::new(
                "memory",
                "memory.soft_limit_in_bytes",
                limit_word(r, "-1"),
            ));
        }
        if let Some(s) = self.memory_swappiness {
            w.push(Write::new("memory", "memory.swappiness", s));
        }
        if self.oom_kill_disable {
            w.push(Write::new("memory", "memory.oom_control", 1));
        }
        if let Some(v) = self.blkio_weight {
            w.push(Write::new("blkio", "blkio.weight", v));
        }
        if let Some(v) = self.blkio_leaf_weight {
            w.push(Write::new("blkio", "blkio.leaf_weight", v));
        }
        for d in &self.blkio_weight_devices {
            w.push(Write::new(
                "blkio",
                "blkio.weight_device",
                format!("{} {}", d.key(), d.value),
            ));
        }
        for (kind, d) in &self.blkio_throttles {
            w.push(Write::new(
                "blkio",
                kind.v1_file(),
                format!("{} {}", d.key(), d.value),
            ));
        }
        for (size, bytes) in &self.hugepages {
            w.push(Write::named(
                "hugetlb",
                format!("hugetlb.{size}.limit_in_bytes"),
                bytes,
            ));
        }
        if let Some(id) = self.net_cls_classid {
            w.push(Write::new("net_cls", "net_cls.classid", id));
        }
        for (iface, prio) in &self.net_prio {
            w.push(Write::new(
                "net_prio",
                "net_prio.ifpriomap",
                format!("{iface} {prio}"),
            ));
        }
        if !self.unified.is_empty() {
            return Err(unsupported("linux.resources.unified", "v1"));
        }
        Ok(w)
    }

    /// The v2 writes, after `Limits`' own; `unified` comes last (see
    /// [`Resources::unified`]) so it can override any of them, as in runc.
    pub(crate) fn v2_writes(&self) -> Result<Vec<Write>> {
        let mut w = Vec::new();
        if let Some(b) = self.cpu_burst_us {
            w.push(Write::new("cpu", "cpu.max.burst", b));
        }
        if self.cpu_rt_runtime_us.is_some() || self.cpu_rt_period_us.is_some() {
            return Err(unsupported("realtime CPU time (cpu.rt_*)", "v2"));
        }
        if let Some(i) = self.cpu_idle {
            w.push(Write::new("cpu", "cpu.idle", i));
        }
        self.cpuset_writes(&mut w);
        if let Some(r) = self.memory_reservation {
            w.push(Write::new("memory", "memory.low", limit_word(r, "max")));
        }
        if self.memory_swappiness.is_some() {
            return Err(unsupported("memory swappiness", "v2"));
        }
        if self.oom_kill_disable {
            return Err(unsupported("disabling the OOM killer", "v2"));
        }
        if self.blkio_leaf_weight.is_some() {
            return Err(unsupported("blkio leaf weight", "v2"));
        }
        if let Some(v) = self.blkio_weight {
            // blkio's 10..1000 onto io.weight's 1..10000, as runc maps it.
            let weight = 1 + (u64::from(v).saturating_sub(10)) * 9999 / 990;
            w.push(Write::new("io", "io.weight", format!("default {weight}")));
        }
        for d in &self.blkio_weight_devices {
            let weight = 1 + d.value.saturating_sub(10) * 9999 / 990;
            w.push(Write::new(
                "io",
                "io.weight",
                format!("{} {weight}", d.key()),
            ));
        }
        let mut io_max: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (kind, d) in &self.blkio_throttles {
            io_max
                .entry(d.key())
                .or_default()
                .push(format!("{}={}", kind.v2_key(), d.value));
        }
        for (dev, limits) in io_max {
            w.push(Write::new(
                "io",
                "io.max",
                format!("{dev} {}", limits.join(" ")),
            ));
        }
        for (size, bytes) in &self.hugepages {
            w.push(Write::named(
                "hugetlb",
                format!("hugetlb.{size}.max"),
                bytes,
            ));
        }
        if self.net_cls_classid.is_some() || !self.net_prio.is_empty() {
            return Err(unsupported("net_cls/net_prio", "v2"));
        }
        Ok(w)
    }

    fn cpuset_writes(&self, w: &mut Vec<Write>) {
        // mems first: a cpuset needs both before it takes tasks, and the
        // order does not matter to the kernel otherwise.
        if let Some(m) = &self.cpuset_mems {
            w.push(Write::new("cpuset", "cpuset.mems", m));
        }
        if let Some(c) = &self.cpuset_cpus {
            w.push(Write::new("cpuset", "cpuset.cpus", c));
        }
    }
}

/// The v2 controller a unified key belongs to (`memory.high`: memory).
pub(crate) fn unified_controller(key: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc",
    ];
    let prefix = key.split('.').next()?;
    KNOWN.iter().copied().find(|c| *c == prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(w: &[Write]) -> Vec<(&str, &str)> {
        w.iter()
            .map(|w| (w.file.as_str(), w.value.as_str()))
            .collect()
    }

    #[test]
    fn v1_files_and_values() {
        let r = Resources {
            cpu_rt_period_us: Some(1_000_000),
            cpu_rt_runtime_us: Some(950_000),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            memory_reservation: Some(32 << 20),
            memory_swappiness: Some(10),
            oom_kill_disable: true,
            blkio_weight: Some(500),
            blkio_throttles: vec![(
                ThrottleKind::ReadBps,
                BlkioDevice {
                    major: 8,
                    minor: 0,
                    value: 1 << 20,
                },
            )],
            hugepages: vec![("2MB".into(), 4 << 20)],
            ..Resources::default()
        };
        r.validate().unwrap();
        let w = r.v1_writes().unwrap();
        assert_eq!(
            files(&w),
            [
                ("cpu.rt_period_us", "1000000"),
                ("cpu.rt_runtime_us", "950000"),
                ("cpuset.mems", "0"),
                ("cpuset.cpus", "0-1"),
                ("memory.soft_limit_in_bytes", "33554432"),
                ("memory.swappiness", "10"),
                ("memory.oom_control", "1"),
                ("blkio.weight", "500"),
                ("blkio.throttle.read_bps_device", "8:0 1048576"),
                ("hugetlb.2MB.limit_in_bytes", "4194304"),
            ]
        );
        assert!(
            r.v2_writes().is_err(),
            "rt, swappiness, oom switch: not on v2"
        );
    }

    #[test]
    fn v2_files_and_values() {
        let dev = |value| BlkioDevice {
            major: 8,
            minor: 16,
            value,
        };
        let r = Resources {
            cpu_burst_us: Some(5000),
            memory_reservation: Some(-1),
            blkio_weight: Some(10),
            blkio_throttles: vec![
                (ThrottleKind::ReadBps, dev(100)),
                (ThrottleKind::WriteIops, dev(7)),
            ],
            hugepages: vec![("1GB".into(), 0)],
            ..Resources::default()
        };
        let w = r.v2_writes().unwrap();
        assert_eq!(
            files(&w),
            [
                ("cpu.max.burst", "5000"),
                ("memory.low", "max"),
                ("io.weight", "default 1"),
                ("io.max", "8:16 rbps=100 wiops=7"),
                ("hugetlb.1GB.max", "0"),
            ]
        );
    }

    #[test]
    fn what_a_version_lacks_is_an_error() {
        let unified = Resources {
            unified: BTreeMap::from([("memory.high".into(), "1G".into())]),
            ..Resources::default()
        };
        assert!(matches!(
            unified.v1_writes(),
            Err(CgroupError::Unsupported { version: "v1", .. })
        ));
        let cls = Resources {
            net_cls_classid: Some(0x10001),
            ..Resources::default()
        };
        assert!(cls.v2_writes().is_err());
        assert_eq!(
            files(&cls.v1_writes().unwrap()),
            [("net_cls.classid", "65537")]
        );
    }

    #[test]
    fn bad_names_are_refused_before_any_write() {
        for key in ["../x", "cgroup.procs", "memory/high", "nodot", ".hidden"] {
            let r = Resources {
                unified: BTreeMap::from([(key.to_string(), "1".into())]),
                ..Resources::default()
            };
            assert!(r.validate().is_err(), "{key}");
        }
        let r = Resources {
            hugepages: vec![("../2MB".into(), 1)],
            ..Resources::default()
        };
        assert!(r.validate().is_err());
        let r = Resources {
            memory_swappiness: Some(101),
            ..Resources::default()
        };
        assert!(r.validate().is_err());
        for iface in ["eth0 5\nlo", "", "a/b", "sixteen-chars-xx"] {
            let r = Resources {
                net_prio: vec![(iface.to_string(), 1)],
                ..Resources::default()
            };
            assert!(r.validate().is_err(), "{iface:?}");
        }
        assert_eq!(unified_controller("memory.high"), Some("memory"));
        assert_eq!(unified_controller("bogus.x"), None);
    }
}
