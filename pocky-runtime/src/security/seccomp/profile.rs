//! Docker's seccomp profile format (`--security-opt seccomp=profile.json`)
//! and its resolution into the spec's `linux.seccomp`: rules whose
//! `includes`/`excludes` (capabilities, architectures, minimum kernel) do
//! not fit the container are left out, the rest are copied as they are.

use oci_spec::runtime::{
    Arch, Capabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompBuilder,
    LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;

use super::security_error;
use crate::RuntimeError;
use crate::security::caps::parse_name;

/// A Docker seccomp profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: LinuxSeccompAction,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<Arch>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub syscalls: Option<Vec<Rule>>,
}

/// The architectures a filter covers when the host is `architecture`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Option<Vec<Arch>>,
}

/// One rule: an action for some syscalls, maybe only for some arguments,
/// maybe only for some containers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// The older single-name form.
    #[serde(default)]
    pub name: Option<String>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    pub includes: Option<Condition>,
    #[serde(default)]
    pub excludes: Option<Condition>,
}

/// When a rule applies (`includes`) or does not (`excludes`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    /// Go's architecture names: amd64, arm64, x86, x32, arm, riscv64...
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// What the rules are resolved against besides the capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Go's name of the architecture (`amd64`, `arm64`).
    pub arch: &'static str,
    pub kernel: (u32, u32),
}

impl Host {
    pub fn current() -> Self {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            arch: go_arch(),
            kernel: parse_kernel(&release).unwrap_or((0, 0)),
        }
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    }
}

fn native_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::ScmpArchX86_64),
        "aarch64" => Some(Arch::ScmpArchAarch64),
        "riscv64" => Some(Arch::ScmpArchRiscv64),
        _ => None,
    }
}

/// `6.1.0-13-amd64` is (6, 1).
fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

impl Profile {
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The spec's form of the profile for a container with `caps` on `host`.
    pub fn resolve(&self, caps: &Capabilities, host: &Host) -> Result<LinuxSeccomp, RuntimeError> {
        let mut syscalls = Vec::new();
        for rule in self.syscalls.iter().flatten() {
            if !rule.applies(caps, host)? {
                continue;
            }
            let mut names: Vec<String> = rule.names.clone().unwrap_or_default();
            names.extend(rule.name.clone());
            if names.is_empty() {
                continue;
            }
            syscalls.push(rule.to_spec(names)?);
        }
        let mut b = LinuxSeccompBuilder::default()
            .default_action(self.default_action)
            .architectures(self.architectures_for_host())
            .syscalls(syscalls);
        if let Some(e) = self.default_errno_ret {
            b = b.default_errno_ret(e);
        }
        b.build().map_err(|e| security_error("seccomp profile", e))
    }

    fn architectures_for_host(&self) -> Vec<Arch> {
        if let (Some(map), Some(native)) = (&self.arch_map, native_arch())
            && let Some(m) = map.iter().find(|m| m.architecture == native)
        {
            let mut v = vec![m.architecture];
            v.extend(m.sub_architectures.iter().flatten().copied());
            return v;
        }
        self.architectures.clone().unwrap_or_default()
    }
}

impl Rule {
    fn applies(&self, caps: &Capabilities, host: &Host) -> Result<bool, RuntimeError> {
        let has = |name: &String| parse_name(name).is_ok_and(|c| caps.contains(&c));
        if let Some(inc) = &self.includes {
            if let Some(list) = &inc.caps
                && !list.iter().all(has)
            {
                return Ok(false);
            }
            if let Some(arches) = &inc.arches
                && !arches.is_empty()
                && !arches.iter().any(|a| a == host.arch)
            {
                return Ok(false);
            }
            if let Some(min) = &inc.min_kernel {
                let want = parse_kernel(min).ok_or_else(|| {
                    security_error("seccomp profile", format!("bad minKernel {min:?}"))
                })?;
                if host.kernel < want {
                    return Ok(false);
                }
            }
        }
        if let Some(exc) = &self.excludes {
            if exc.caps.iter().flatten().any(has) {
                return Ok(false);
            }
            if exc.arches.iter().flatten().any(|a| a == host.arch) {
                return Ok(false);
            }
            if let Some(min) = &exc.min_kernel
                && parse_kernel(min).is_some_and(|want| host.kernel >= want)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn to_spec(&self, names: Vec<String>) -> Result<LinuxSyscall, RuntimeError> {
        let mut b = LinuxSyscallBuilder::default()
            .names(names)
            .action(self.action);
        if let Some(e) = self.errno_ret {
            b = b.errno_ret(e);
        }
        if let Some(args) = &self.args
            && !args.is_empty()
        {
            b = b.args(args.clone());
        }
        b.build().map_err(|e| security_error("seccomp profile", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability;

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": null},
            {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["only_on_s390"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
             "comment": "ignored", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
        ]
    }"#;

    fn names(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn rules_follow_capabilities_arch_and_kernel() {
        let p = Profile::parse(PROFILE).unwrap();
        let host = Host {
            arch: "amd64",
            kernel: (6, 1),
        };
        let plain = p.resolve(&Capabilities::new(), &host).unwrap();
        assert_eq!(plain.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(plain.default_errno_ret(), Some(1));
        assert_eq!(
            names(&plain),
            ["read", "write", "getpid", "clone3", "ptrace", "clone"]
        );
        let admin: Capabilities = [Capability::SysAdmin].into_iter().collect();
        let with_admin = p.resolve(&admin, &host).unwrap();
        assert_eq!(
            names(&with_admin),
            ["read", "write", "getpid", "mount", "ptrace"]
        );
        let old = Host {
            arch: "amd64",
            kernel: (4, 4),
        };
        assert!(!names(&p.resolve(&admin, &old).unwrap()).contains(&"ptrace".to_string()));
    }

    #[test]
    fn bad_profiles_are_errors() {
        assert!(Profile::parse("{}").is_err());
        assert!(Profile::parse(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).is_err());
        assert!(Profile::parse("not json").is_err());
        assert_eq!(parse_kernel("6.18.44-fc"), Some((6, 18)));
        assert_eq!(parse_kernel("5"), Some((5, 0)));
    }
}
