//! AppArmor: the profile named in `process.apparmorProfile` is asked for
//! at the next exec, as runc does, by writing `exec <profile>` to the
//! process's own attribute file. A profile on a host without AppArmor is
//! an error, not a silent no-op.

use nix::errno::Errno;
use pocky_ns::ChildError;

use crate::RuntimeError;

/// Whether the host's kernel runs AppArmor.
pub fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Checks, in the parent, that `profile` can be applied here.
pub fn check(profile: &str) -> Result<(), RuntimeError> {
    // The attribute takes `exec NAME` in one write; whitespace or control
    // characters would make it something else.
    if profile.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(RuntimeError::Config(format!(
            "process.apparmorProfile {profile:?} is not a profile name"
        )));
    }
    if !enabled() {
        return Err(RuntimeError::Config(format!(
            "process.apparmorProfile {profile:?} is set but AppArmor is not enabled on this host"
        )));
    }
    Ok(())
}

/// Runs in the child: the profile takes effect at its exec.
pub(crate) fn apply(profile: &str) -> Result<(), ChildError> {
    // Newer kernels with LSM stacking have a per-module directory.
    let path = ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("/proc/self/attr/exec");
    std::fs::write(path, format!("exec {profile}")).map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
        super::child_error(
            "apparmor",
            errno as i32,
            format!("apparmor profile {profile:?}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_whitespace_is_refused_before_the_host_is_asked() {
        for bad in ["a b", "x\nchangeprofile y", "tab\there"] {
            let e = check(bad).unwrap_err().to_string();
            assert!(e.contains("not a profile name"), "{bad:?}: {e}");
        }
    }
}
