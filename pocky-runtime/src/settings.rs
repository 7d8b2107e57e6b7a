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

fn setup_error(stage: &'static str, errno: Errno, message: String) -> ChildError {
    ChildError::setup(stage, errno, message)
}

/// `hostname` and `domainname`, in the UTS namespace the spec gives the
/// container (`new_uts`: made or joined); without one they would rename
/// the host, so a spec that asks for either without it is refused, as
/// runc refuses it.
pub(crate) fn apply_uts_names(spec: &Spec, new_uts: bool) -> Result<(), ChildError> {
    let names = [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ];
    for (what, name) in names {
        let Some(name) = name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if !new_uts {
            return Err(setup_error(
                "hostname",
                Errno::EINVAL,
                format!("{what} {name:?} needs a uts namespace in linux.namespaces"),
            ));
        }
        let rc = if what == "hostname" {
            nix::unistd::sethostname(name).map_err(|e| e as i32)
        } else {
            // SAFETY: the pointer and length describe `name`'s bytes,
            // which outlive the call.
            let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
            if rc == 0 {
                Ok(())
            } else {
                Err(Errno::last() as i32)
            }
        };
        rc.map_err(|e| {
            let errno = Errno::from_raw(e);
            setup_error("hostname", errno, format!("set {what} {name:?}: {errno}"))
        })?;
    }
    Ok(())
}

/// `linux.personality`: the execution domain (LINUX or LINUX32). Flags
/// have no agreed meaning yet in the spec, so any is refused.
pub(crate) fn apply_personality(spec: &Spec) -> Result<(), ChildError> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return Ok(());
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(setup_error(
            "personality",
            Errno::EINVAL,
            "linux.personality.flags are not supported".into(),
        ));
    }
    // <linux/personality.h>; the libc crate does not carry the domains.
    const PER_LINUX: libc::c_ulong = 0x0000;
    const PER_LINUX32: libc::c_ulong = 0x0008;
    let domain = match p.domain() {
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux => PER_LINUX,
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    // SAFETY: personality takes a plain integer.
    if unsafe { libc::personality(domain) } == -1 {
        let errno = Errno::last();
        return Err(setup_error(
            "personality",
            errno,
            format!("personality {:?}: {errno}", p.domain()),
        ));
    }
    Ok(())
}

/// `process.user.umask` and `process.ioPriority`, for the first process
/// and each exec'd one.
pub(crate) fn apply_process_settings(process: &Process) -> Result<(), ChildError> {
    if let Some(mask) = process.user().umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if let Some(io) = process.io_priority() {
        use oci_spec::runtime::IOPriorityClass as C;
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_SHIFT: i64 = 13;
        let class: i64 = match io.class() {
            C::IoprioClassRt => 1,
            C::IoprioClassBe => 2,
            C::IoprioClassIdle => 3,
        };
        if !(0..8).contains(&io.priority()) {
            return Err(setup_error(
                "ioprio",
                Errno::EINVAL,
                format!("ioPriority.priority {} is not 0 to 7", io.priority()),
            ));
        }
        let value = (class << IOPRIO_CLASS_SHIFT) | io.priority();
        // SAFETY: ioprio_set takes plain integers and acts on this process.
        let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
        if rc != 0 {
            let errno = Errno::last();
            return Err(setup_error(
                "ioprio",
                errno,
                format!("ioprio_set {:?} {}: {errno}", io.class(), io.priority()),
            ));
        }
    }
    Ok(())
}

/// `process.consoleSize` on the terminal just made (stdin is its slave).
pub(crate) fn apply_console_size(process: &Process) -> Result<(), ChildError> {
    let Some(size) = process.console_size() else {
        return Ok(());
    };
    let ws = libc::winsize {
        ws_row: u16::try_from(size.height()).unwrap_or(u16::MAX),
        ws_col: u16::try_from(size.width()).unwrap_or(u16::MAX),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize that lives across the call.
    if unsafe { libc::ioctl(0, libc::TIOCSWINSZ, &ws) } != 0 {
        let errno = Errno::last();
        return Err(setup_error(
            "console",
            errno,
            format!("setting the console size: {errno}"),
        ));
    }
    Ok(())
}
