//! Capability sets: Docker's rules for `--cap-add`, `--cap-drop` and
//! `--privileged` on the spec side, the `caps` crate on the child side.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder};
use pocky_ns::ChildError;

use super::{child_error, security_error};
use crate::RuntimeError;

/// Every capability pocky knows, for `--privileged` and `ALL`.
pub fn all_capabilities() -> Capabilities {
    caps::all()
        .into_iter()
        .filter_map(|c| to_oci(c).ok())
        .collect()
}

fn to_oci(c: caps::Capability) -> Result<Capability, RuntimeError> {
    parse_name(&c.to_string())
}

fn to_caps(c: Capability) -> Result<caps::Capability, RuntimeError> {
    caps::Capability::from_str(&name_of(c)).map_err(|e| security_error(name_of(c), e))
}

/// `CAP_CHOWN` for [`Capability::Chown`] (the spec's spelling).
pub fn name_of(c: Capability) -> String {
    format!("CAP_{c}")
}

/// `chown`, `CHOWN` and `CAP_CHOWN` all name [`Capability::Chown`].
pub fn parse_name(name: &str) -> Result<Capability, RuntimeError> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    Capability::from_str(bare).map_err(|_| {
        security_error(
            format!("capability {name:?}"),
            "unknown capability (see capabilities(7))",
        )
    })
}

/// Whether this process holds capability `name` (`CAP_SYS_RESOURCE`) in
/// its effective set; false when it cannot tell.
pub fn has_effective(name: &str) -> bool {
    caps::Capability::from_str(name)
        .ok()
        .and_then(|c| caps::has_cap(None, CapSet::Effective, c).ok())
        .unwrap_or(false)
}

fn is_all(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("ALL")
}

/// The container's capability set, as Docker computes it: `--privileged`
/// is everything; otherwise the 14 defaults, or nothing after
/// `--cap-drop ALL`, or everything after `--cap-add ALL`; then the adds,
/// then the drops (a cap both added and dropped by name is dropped).
pub fn effective_set(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Capabilities, RuntimeError> {
    if privileged {
        return Ok(all_capabilities());
    }
    let add_all = add.iter().any(|a| is_all(a));
    let drop_all = drop.iter().any(|d| is_all(d));
    let named = |list: &[String]| -> Result<Vec<Capability>, RuntimeError> {
        list.iter()
            .filter(|n| !is_all(n))
            .map(|n| parse_name(n))
            .collect()
    };
    let (adds, drops) = (named(add)?, named(drop)?);
    let mut set = if add_all {
        all_capabilities()
    } else if drop_all {
        Capabilities::new()
    } else {
        default_capabilities()
    };
    if !add_all {
        set.extend(adds);
    }
    if !drop_all || add_all {
        for d in drops {
            set.remove(&d);
        }
    }
    Ok(set)
}

/// The spec's process capabilities for `set`: bounding, effective and
/// permitted are `set`; inheritable and ambient are empty (Docker's fix of
/// CVE-2022-24769).
pub fn process_capabilities(set: &Capabilities) -> Result<LinuxCapabilities, RuntimeError> {
    LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set.clone())
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()
        .map_err(|e| security_error("capabilities", e))
}

/// The five sets of a spec in the `caps` crate's terms.
#[derive(Debug, Clone, Default)]
pub struct CapSets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<Self, RuntimeError> {
        let conv = |s: &Option<Capabilities>| -> Result<CapsHashSet, RuntimeError> {
            s.iter().flatten().map(|c| to_caps(*c)).collect()
        };
        Ok(Self {
            bounding: conv(c.bounding())?,
            effective: conv(c.effective())?,
            permitted: conv(c.permitted())?,
            inheritable: conv(c.inheritable())?,
            ambient: conv(c.ambient())?,
        })
    }

    /// Drops from the bounding set whatever the spec leaves out, so no exec
    /// can gain it back. Needs `CAP_SETPCAP`, hence before the user switch.
    pub(crate) fn drop_bounding(&self) -> Result<(), ChildError> {
        let supported = caps::runtime::thread_all_supported();
        let current = caps::read(None, CapSet::Bounding).map_err(fail("read bounding set"))?;
        for c in supported.intersection(&current) {
            if !self.bounding.contains(c) {
                caps::drop(None, CapSet::Bounding, *c).map_err(fail("drop from bounding set"))?;
            }
        }
        Ok(())
    }

    /// Sets effective (within the permitted set kept over the user switch),
    /// inheritable, then permitted (shrinking it last keeps each step
    /// valid), then raises the ambient capabilities.
    /// Capabilities the runtime itself lacks (a runtime in a container
    /// given fewer than all) are left out rather than failing, as runc
    /// does for capabilities the kernel lacks.
    pub(crate) fn apply(&self) -> Result<(), ChildError> {
        let have = caps::read(None, CapSet::Permitted).map_err(fail("read permitted set"))?;
        let within = |s: &CapsHashSet| -> CapsHashSet { s.intersection(&have).copied().collect() };
        caps::set(None, CapSet::Effective, &within(&self.effective))
            .map_err(fail("set effective"))?;
        caps::set(None, CapSet::Inheritable, &within(&self.inheritable))
            .map_err(fail("set inheritable"))?;
        caps::set(None, CapSet::Permitted, &within(&self.permitted))
            .map_err(fail("set permitted"))?;
        caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient"))?;
        for c in &self.ambient {
            caps::raise(None, CapSet::Ambient, *c).map_err(fail("raise ambient"))?;
        }
        Ok(())
    }
}

fn fail(what: &'static str) -> impl Fn(caps::errors::CapsError) -> ChildError {
    move |e| {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        child_error("capabilities", errno, format!("{what}: {e}"))
    }
}

/// The bit mask of `set` as /proc/PID/status prints it (`CapEff` and co).
pub fn mask_of(set: &Capabilities) -> Result<u64, RuntimeError> {
    let unique: HashSet<caps::Capability> =
        set.iter().map(|c| to_caps(*c)).collect::<Result<_, _>>()?;
    Ok(unique.iter().fold(0, |m, c| m | c.bitmask()))
}

/// Docker's default capability set.
pub fn default_capabilities() -> Capabilities {
    [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn docker_default_mask() {
        let set = effective_set(&[], &[], false).unwrap();
        assert_eq!(set.len(), 14);
        assert_eq!(mask_of(&set).unwrap(), 0xa80425fb);
    }

    #[test]
    fn add_and_drop_follow_docker() {
        let set = effective_set(&s(&["net_admin", "CAP_SYS_TIME"]), &s(&["CHOWN"]), false).unwrap();
        assert!(set.contains(&Capability::NetAdmin));
        assert!(set.contains(&Capability::SysTime));
        assert!(!set.contains(&Capability::Chown));
        assert_eq!(set.len(), 15);

        let only = effective_set(&s(&["NET_BIND_SERVICE"]), &s(&["ALL"]), false).unwrap();
        assert_eq!(
            only.into_iter().collect::<Vec<_>>(),
            vec![Capability::NetBindService]
        );

        let all = effective_set(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false).unwrap();
        assert!(!all.contains(&Capability::SysAdmin));
        assert_eq!(all.len(), all_capabilities().len() - 1);

        let p = effective_set(&[], &s(&["ALL"]), true).unwrap();
        assert_eq!(p, all_capabilities());
        assert!(effective_set(&s(&["NOT_A_CAP"]), &[], false).is_err());
    }

    #[test]
    fn names_round_trip_through_the_caps_crate() {
        for c in all_capabilities() {
            assert_eq!(to_oci(to_caps(c).unwrap()).unwrap(), c);
        }
        assert!(all_capabilities().len() >= 41);
    }
}
