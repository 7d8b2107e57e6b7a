//! `--cap-add`, `--cap-drop`, `--privileged`, `--security-opt` and
//! `--device` turned into [`SecurityOptions`], and those written into the
//! container's spec ([`apply_to_spec`]): the runtime only ever reads the
//! spec, with the building blocks (capability names, Docker's seccomp
//! profile, device rules) from `pocky_runtime::security`.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::Spec;
use pocky_runtime::RuntimeError;
use pocky_runtime::security::{DeviceRequest, SeccompChoice};

use crate::request::RunRequest;

/// The security options of `pocky run`/`create`.
pub fn options(args: &RunRequest) -> Result<SecurityOptions> {
    let mut opts = SecurityOptions {
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        privileged: args.privileged,
        ..SecurityOptions::default()
    };
    for opt in &args.security_opt {
        apply_security_opt(&mut opts, opt)?;
    }
    opts.devices = args
        .device
        .iter()
        .map(|d| DeviceRequest::parse(d))
        .collect::<Result<_, _>>()?;
    Ok(opts)
}

/// One `--security-opt`: `seccomp=unconfined`, `seccomp=PROFILE.json`,
/// `no-new-privileges[=true|false]` (Docker's `:` spelling too).
fn apply_security_opt(opts: &mut SecurityOptions, opt: &str) -> Result<()> {
    let (key, value) = opt
        .split_once('=')
        .or_else(|| opt.split_once(':'))
        .unwrap_or((opt, ""));
    match key {
        "no-new-privileges" => {
            opts.no_new_privileges = match value {
                "" | "true" => true,
                "false" => false,
                other => bail!(crate::invalid!(
                    "invalid --security-opt no-new-privileges value {other:?}"
                )),
            };
        }
        "seccomp" if value == "unconfined" => opts.seccomp = SeccompChoice::Unconfined,
        "seccomp" if !value.is_empty() => {
            let json = std::fs::read_to_string(value)
                .with_context(|| format!("reading seccomp profile {value}"))?;
            opts.seccomp = SeccompChoice::Profile {
                json,
                source: value.to_owned(),
            };
        }
        "apparmor" | "label" => {
            bail!(crate::invalid!(
                "--security-opt {key} is not supported: pocky has no AppArmor or SELinux support"
            ))
        }
        _ => bail!(crate::invalid!(
            "invalid --security-opt {opt:?}: use seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges"
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_parse() {
        let mut o = SecurityOptions::default();
        apply_security_opt(&mut o, "no-new-privileges").unwrap();
        assert!(o.no_new_privileges);
        apply_security_opt(&mut o, "no-new-privileges:false").unwrap();
        assert!(!o.no_new_privileges);
        apply_security_opt(&mut o, "seccomp=unconfined").unwrap();
        assert_eq!(o.seccomp, SeccompChoice::Unconfined);
        assert!(apply_security_opt(&mut o, "seccomp=/nonexistent.json").is_err());
        assert!(apply_security_opt(&mut o, "apparmor=unconfined").is_err());
        assert!(apply_security_opt(&mut o, "bogus").is_err());
    }
}

/// The security flags of `pocky run`.
#[derive(Debug, Clone, Default)]
pub struct SecurityOptions {
    /// `--cap-add`, names with or without `CAP_`, or `ALL`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`, names with or without `CAP_`, or `ALL`.
    pub cap_drop: Vec<String>,
    /// `--privileged`: every capability, no seccomp, no masked or read-only
    /// paths, every device allowed.
    pub privileged: bool,
    pub seccomp: SeccompChoice,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--device`.
    pub devices: Vec<DeviceRequest>,
}

/// Writes `opts` into `spec`: process capabilities and `noNewPrivileges`,
/// `linux.seccomp`, `linux.devices`, `linux.resources.devices`, and for
/// `--privileged` no masked or read-only paths.
pub fn apply_to_spec(spec: &mut Spec, opts: &SecurityOptions) -> Result<(), RuntimeError> {
    use pocky_runtime::security::{caps, devices, seccomp};
    let set = caps::effective_set(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_capabilities(Some(caps::process_capabilities(&set)?));
    process.set_no_new_privileges(Some(opts.no_new_privileges));
    spec.set_process(Some(process));

    let seccomp = if opts.privileged {
        None
    } else {
        seccomp::for_spec(&opts.seccomp, &set)?
    };
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_seccomp(seccomp);
    devices::apply_to_linux(&mut linux, &opts.devices, opts.privileged)?;
    if opts.privileged {
        linux.set_masked_paths(Some(vec![]));
        linux.set_readonly_paths(Some(vec![]));
    }
    spec.set_linux(Some(linux));
    Ok(())
}
