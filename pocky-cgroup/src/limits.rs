//! The limits a container asks for, in Docker's units, and their
//! translation into control-file values shared by both versions.

use crate::error::{CgroupError, Result};
pub use crate::resources::Resources;

/// Resource limits a container asks for; `None` leaves the kernel default.
///
/// Units and the meaning of zero follow `docker run` so that flags and
/// `HostConfig` values pass through unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Relative CPU weight in Docker's units (`--cpu-shares`, v1
    /// `cpu.shares`, default 1024); 0 means the default.
    pub cpu_shares: Option<u64>,
    /// CPU quota in billionths of a CPU (`--cpus 1.5` is 1_500_000_000, as
    /// in Docker's `NanoCpus`); 0 means no quota.
    pub nano_cpus: Option<u64>,
    /// Memory limit in bytes (`--memory`); swap is held to the same total,
    /// so the container cannot swap past it. Zero is refused: the kernel
    /// would take it and kill the container at once.
    pub memory_bytes: Option<u64>,
    /// Maximum number of tasks (`--pids-limit`); 0 means unlimited.
    pub pids: Option<u64>,
    /// The rest of what an OCI spec's `linux.resources` can ask for, as
    /// written there (see [`crate::Resources`]).
    pub more: Resources,
}

/// The CFS period pocky uses, as Docker does for `--cpus`.
pub const CPU_PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts (1 ms per period: `--cpus 0.01`).
pub const CPU_QUOTA_MIN_US: u64 = 1_000;

impl Limits {
    /// Refuses values the kernel would take but that break a container.
    pub fn validate(&self) -> Result<()> {
        if let Some(0) = self.memory_bytes {
            return Err(CgroupError::InvalidLimit {
                limit: "memory",
                value: 0,
                reason: "a zero memory limit kills the container at once",
            });
        }
        self.more.validate()?;
        if let (Some(mem), Some(swap)) = (self.memory_bytes, self.more.memory_swap) {
            // Negative is "unlimited".
            if let Some(swap) = u64::try_from(swap).ok().filter(|&s| s < mem) {
                return Err(CgroupError::InvalidLimit {
                    limit: "memory+swap",
                    value: swap,
                    reason: "below the memory limit (it counts memory plus swap)",
                });
            }
        }
        if let Some(nano) = self.nano_cpus.filter(|&n| n != 0)
            && cpu_quota_us(nano) < CPU_QUOTA_MIN_US
        {
            return Err(CgroupError::InvalidLimit {
                limit: "cpus (nano_cpus)",
                value: nano,
                reason: "below the kernel's minimum of 0.01 CPU",
            });
        }
        Ok(())
    }

    /// The shares to write, with Docker's "0 is the default" applied.
    pub(crate) fn shares(&self) -> Option<u64> {
        self.cpu_shares.filter(|&s| s != 0)
    }

    /// The CFS quota per [`CPU_PERIOD_US`], if a quota is asked for.
    pub(crate) fn quota_us(&self) -> Option<u64> {
        self.nano_cpus.filter(|&n| n != 0).map(cpu_quota_us)
    }

    /// The CFS (quota, period) to write: the spec's own values when it
    /// gave them (quota -1: none), else Docker's `--cpus` over
    /// [`CPU_PERIOD_US`].
    pub(crate) fn cfs(&self) -> Option<(Option<i64>, u64)> {
        let period = self.more.cpu_period_us;
        match (self.more.cpu_quota_us, period) {
            (None, None) => self
                .quota_us()
                .map(|q| (Some(i64::try_from(q).unwrap_or(i64::MAX)), CPU_PERIOD_US)),
            (q, p) => Some((q.filter(|&q| q > 0), p.unwrap_or(CPU_PERIOD_US))),
        }
    }

    /// The `pids.max` value: a number, or `max` for "unlimited".
    pub(crate) fn pids_max(&self) -> Option<String> {
        self.pids.map(|p| {
            if p == 0 {
                "max".to_owned()
            } else {
                p.to_string()
            }
        })
    }
}

/// Quota in microseconds per [`CPU_PERIOD_US`] for a CPU count in
/// billionths (saturating, so absurd counts mean "no effective limit").
pub fn cpu_quota_us(nano_cpus: u64) -> u64 {
    let q = u128::from(nano_cpus) * u128::from(CPU_PERIOD_US) / 1_000_000_000;
    u64::try_from(q).unwrap_or(u64::MAX)
}

/// The inverse: a quota per period as Docker's `NanoCpus` (0 for none).
pub fn nano_cpus_of(quota_us: u64, period_us: u64) -> u64 {
    if period_us == 0 {
        return 0;
    }
    let n = u128::from(quota_us) * 1_000_000_000 / u128::from(period_us);
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// v1 `cpu.shares` to v2 `cpu.weight`, exactly as runc converts, so a
/// container gets the same weight under pocky as under Docker on v2:
/// the share range [2, 262144] maps linearly onto the weight range
/// [1, 10000]. Out-of-range shares are clamped first, as the v1 kernel does.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9_999) / 262_142
}

/// One control-file write: which controller's directory, which file, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

impl Write {
    pub(crate) fn new(controller: &'static str, file: &'static str, value: impl ToString) -> Self {
        Self::named(controller, file.to_owned(), value)
    }

    /// A write to a file whose name is built (`hugetlb.2MB.max`).
    pub(crate) fn named(controller: &'static str, file: String, value: impl ToString) -> Self {
        Self {
            controller,
            file,
            value: value.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion_matches_runc() {
        let table = [
            (0, 1),
            (1, 1),
            (2, 1),
            (3, 1),
            (512, 20),
            (1024, 39),
            (2048, 79),
            (131_072, 5000),
            (262_144, 10_000),
            (1_000_000, 10_000),
        ];
        for (shares, weight) in table {
            assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
        }
    }

    #[test]
    fn quota_from_cpus() {
        assert_eq!(cpu_quota_us(1_500_000_000), 150_000);
        assert_eq!(cpu_quota_us(10_000_000), 1_000);
        assert_eq!(cpu_quota_us(u64::MAX), u64::MAX / 10_000);
    }

    #[test]
    fn docker_zeroes() {
        let l = Limits {
            cpu_shares: Some(0),
            nano_cpus: Some(0),
            memory_bytes: None,
            pids: Some(0),
            ..Limits::default()
        };
        l.validate().unwrap();
        assert_eq!(l.shares(), None);
        assert_eq!(l.quota_us(), None);
        assert_eq!(l.pids_max().as_deref(), Some("max"));
    }

    #[test]
    fn nonsense_is_refused() {
        let zero_mem = Limits {
            memory_bytes: Some(0),
            ..Limits::default()
        };
        assert!(matches!(
            zero_mem.validate(),
            Err(CgroupError::InvalidLimit {
                limit: "memory",
                ..
            })
        ));
        let tiny_cpu = Limits {
            nano_cpus: Some(1_000_000),
            ..Limits::default()
        };
        assert!(tiny_cpu.validate().is_err());
    }
}
