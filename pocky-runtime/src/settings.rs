//! Process settings of config.json applied in the container's child:
//! sysctls (before the pivot, in the new namespaces), rlimits and
//! `oom_score_adj` (before the switch to the container's user).

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimitType, Process, Spec};
use pocky_ns::ChildError;

/// Writes `linux.sysctl`. Runs in the child after its namespaces exist and
/// before the pivot: a `/proc/sys` file acts on the namespaces of the
/// process that opens it (net.*, kernel.shm*, kernel.hostname), whichever
/// procfs instance it is reached through.
pub(crate) fn apply_sysctls(spec: &Spec) -> Result<(), ChildError> {
    let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in sysctls {
        if key.is_empty() || key.split(['.', '/']).any(|p| p.is_empty() || p == "..") {
            return Err(ChildError::setup(
                "sysctl",
                Errno::EINVAL,
                format!("invalid sysctl name {key:?}"),
            ));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| {
            ChildError::setup(
                "sysctl",
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                format!("sysctl {key}={value:?} ({path}): {e}"),
            )
        })?;
    }
    Ok(())
}

fn resource_of(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// `process.rlimits` then `process.oomScoreAdj`. Raising a hard limit
/// above the current one needs CAP_SYS_RESOURCE, which a runtime in a
/// restricted host may lack: the error names the limit and both values.
pub(crate) fn apply_process_limits(process: &Process) -> Result<(), ChildError> {
    for r in process.rlimits().as_deref().unwrap_or_default() {
        let resource = resource_of(r.typ());
        let wanted = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: `wanted` is a valid rlimit that lives across the call.
        if unsafe { libc::setrlimit(resource, &wanted) } != 0 {
            let errno = Errno::last();
            let mut current = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into `current`, which we own.
            unsafe { libc::getrlimit(resource, &mut current) };
            let hint = if errno == Errno::EPERM && r.hard() > current.rlim_max {
                " (raising a hard limit needs CAP_SYS_RESOURCE, which this runtime lacks)"
            } else {
                ""
            };
            return Err(ChildError::setup(
                "rlimit",
                errno,
                format!(
                    "setrlimit {:?} soft={} hard={}: {errno}; current hard limit is {}{hint}",
                    r.typ(),
                    r.soft(),
                    r.hard(),
                    current.rlim_max
                ),
            ));
        }
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            ChildError::setup(
                "oom_score_adj",
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                format!("writing oom_score_adj {adj}: {e}"),
            )
        })?;
    }
    Ok(())
}
