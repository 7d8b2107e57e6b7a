//! The container boundary Docker draws by default: capabilities, a seccomp
//! allow-list, `no_new_privs`, the device allow-list, a working directory
//! that cannot leave the rootfs, and a process that cannot be inspected
//! from the container until it has exec'd.
//!
//! The runtime takes a spec: the engine writes Docker's choices into it
//! (`pocky_engine::security_flags`, with this module's building blocks:
//! capability names, Docker's seccomp profile, device rules);
//! [`ChildSecurity`] is made from a spec in the parent (the BPF is
//! compiled there, so a bad profile fails before anything starts) and
//! applied by the child in runc's order:
//!
//! 1. not dumpable, first thing in the child;
//! 2. `no_new_privs` if asked; without it, the seccomp filter is loaded now,
//!    while the process still has `CAP_SYS_ADMIN` (which loading needs);
//! 3. the bounding set dropped, `PR_SET_KEEPCAPS`, the user switch, then the
//!    effective, inheritable, permitted and ambient sets;
//! 4. with `no_new_privs`, the seccomp filter last, right before exec.

pub mod apparmor;
pub mod caps;
pub mod cwd;
pub mod devices;
pub mod nnp;
pub mod seccomp;

use oci_spec::runtime::{Process, Spec};
use pocky_ns::ChildError;

use crate::RuntimeError;

pub use self::devices::DeviceRequest;
pub use self::seccomp::SeccompChoice;

/// What the child applies, prepared in the parent from the spec.
#[derive(Debug, Default)]
pub struct ChildSecurity {
    caps: Option<caps::CapSets>,
    no_new_privs: bool,
    filters: Vec<seccomp::BpfProgram>,
    apparmor: Option<String>,
    /// Supplementary groups named rather than numbered (`--group-add
    /// NAME`), resolved in the container's /etc/group: see
    /// [`crate::user::GROUP_ADD_ANNOTATION`].
    pub group_names: Vec<String>,
}

impl ChildSecurity {
    /// Reads the spec's capabilities, `noNewPrivileges` and `linux.seccomp`
    /// (of `process`: for `exec`, the one being started) and compiles the
    /// filter.
    pub fn from_spec(spec: &Spec, process: &Process) -> Result<Self, RuntimeError> {
        let caps = process
            .capabilities()
            .as_ref()
            .map(caps::CapSets::from_spec)
            .transpose()?;
        let filters = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(s) => seccomp::compile(s)?,
            None => vec![],
        };
        let apparmor = process.apparmor_profile().clone().filter(|p| !p.is_empty());
        if let Some(p) = &apparmor {
            apparmor::check(p)?;
        }
        crate::unsupported::check_process(process)?;
        let group_names = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(crate::user::GROUP_ADD_ANNOTATION))
            .map(|v| {
                v.split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            caps,
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            filters,
            apparmor,
            group_names,
        })
    }

    /// Before the user switch: `no_new_privs`, the filter when it cannot
    /// wait for exec, the bounding set, and `PR_SET_KEEPCAPS` so that the
    /// switch to another uid keeps the permitted set for [`Self::after_user`].
    pub fn before_user(&self) -> Result<(), ChildError> {
        if let Some(profile) = &self.apparmor {
            apparmor::apply(profile)?;
        }
        if self.no_new_privs {
            nnp::set_no_new_privs()?;
        } else {
            seccomp::load(&self.filters)?;
        }
        if let Some(c) = &self.caps {
            c.drop_bounding()?;
            nnp::set_keepcaps(true)?;
        }
        Ok(())
    }

    /// After the user switch: the spec's effective, inheritable, permitted
    /// and ambient sets.
    pub fn after_user(&self) -> Result<(), ChildError> {
        if let Some(c) = &self.caps {
            nnp::set_keepcaps(false)?;
            c.apply()?;
        }
        Ok(())
    }

    /// Last step before exec: the filter, when `no_new_privs` lets an
    /// unprivileged process load it.
    pub fn before_exec(&self) -> Result<(), ChildError> {
        if self.no_new_privs {
            seccomp::load(&self.filters)?;
        }
        Ok(())
    }
}

pub(crate) fn child_error(stage: &'static str, errno: i32, message: String) -> ChildError {
    ChildError {
        stage,
        errno,
        message,
        exit_code: pocky_ns::SETUP_FAILED_EXIT_CODE,
    }
}

fn security_error(what: impl Into<String>, reason: impl ToString) -> RuntimeError {
    RuntimeError::Security {
        what: what.into(),
        reason: reason.to_string(),
    }
}
