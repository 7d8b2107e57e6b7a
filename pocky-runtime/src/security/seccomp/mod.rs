//! Seccomp: Docker's default profile as Rust data ([`default`]), Docker's
//! JSON profile format ([`profile`]), both resolved against the
//! container's capabilities and architecture into the spec's
//! `linux.seccomp`, and that compiled to BPF ([`filter`]) and loaded.

pub mod default;
pub mod filter;
pub mod profile;

use oci_spec::runtime::{Capabilities, LinuxSeccomp};
use pocky_ns::ChildError;

pub use self::filter::{BpfProgram, compile};
pub use self::profile::Profile;
use super::{child_error, security_error};
use crate::RuntimeError;

/// `--security-opt seccomp=...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompChoice {
    /// Docker's default profile.
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// `seccomp=PATH`: the profile's JSON text, and where it came from.
    Profile { json: String, source: String },
}

/// The spec's `linux.seccomp` for `choice` and the container's capability
/// set (rules with `includes.caps`/`excludes.caps` are kept or left out by
/// it, as Docker does when it writes the spec).
pub fn for_spec(
    choice: &SeccompChoice,
    caps: &Capabilities,
) -> Result<Option<LinuxSeccomp>, RuntimeError> {
    let profile = match choice {
        SeccompChoice::Unconfined => return Ok(None),
        SeccompChoice::Default => default::profile()?,
        SeccompChoice::Profile { json, source } => Profile::parse(json)
            .map_err(|e| security_error(format!("seccomp profile {source}"), e))?,
    };
    profile.resolve(caps, &profile::Host::current()).map(Some)
}

/// Installs `filters` in order on the calling thread. The kernel runs every
/// filter and takes the most severe answer (the latest filter on a tie),
/// which is how one profile with several actions is made of filters that
/// each have one.
pub fn load(filters: &[BpfProgram]) -> Result<(), ChildError> {
    for f in filters {
        let len = u16::try_from(f.len()).map_err(|_| {
            child_error(
                "seccomp",
                libc::E2BIG,
                format!("filter of {} instructions", f.len()),
            )
        })?;
        let prog = libc::sock_fprog {
            len,
            // seccompiler's sock_filter is #[repr(C)] with the kernel's layout.
            filter: f.as_ptr().cast::<libc::sock_filter>().cast_mut(),
        };
        // SAFETY: `prog` points at `len` instructions that outlive the call;
        // the kernel copies the program.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &raw const prog,
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(child_error(
                "seccomp",
                e.raw_os_error().unwrap_or(0),
                format!("loading the seccomp filter: {e}"),
            ));
        }
    }
    Ok(())
}
