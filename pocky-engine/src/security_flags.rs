//! `--cap-add`, `--cap-drop`, `--privileged`, `--security-opt` and
//! `--device` turned into pocky-runtime's [`SecurityOptions`].

use anyhow::{Context, Result, bail};
use pocky_runtime::security::{DeviceRequest, SeccompChoice, SecurityOptions};

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
