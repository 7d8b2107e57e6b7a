//! From an image's config plus `pocky run` flags to an OCI runtime spec, with
//! Docker's rules for combining them. The spec is the boundary: whatever
//! runs a container (this crate, or runc given the same bundle) reads only it.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxMemoryBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use pocky_runtime::RuntimeError;

/// The PATH Docker gives containers whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the image says about how to run it (the `config` of its config).
#[derive(Debug, Clone, Default)]
pub struct ImageDefaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// Resource limits from the flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub memory: Option<i64>,
    pub nano_cpus: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub pids: Option<i64>,
}

/// Which network namespace the container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new namespace with only loopback.
    None,
    /// The host's namespace.
    Host,
}

/// `pocky run` flags that shape the spec.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub hostname: String,
    /// `--entrypoint`: `Some(vec![])` for `--entrypoint ""`.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments after the image name.
    pub args: Vec<String>,
    /// `-e` and `--env-file`, already expanded, in order.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub read_only: bool,
    pub resources: Resources,
    pub network: NetworkMode,
    pub cgroups_path: String,
    /// Mounts beyond the standard ones (the generated /etc files, volumes).
    pub mounts: Vec<Mount>,
    /// Capabilities, seccomp, no-new-privileges, devices, --privileged.
    pub security: crate::security_flags::SecurityOptions,
}

/// The command Docker would run: entrypoint then cmd, where `--entrypoint`
/// drops the image's cmd and arguments replace it.
pub fn command(image: &ImageDefaults, opts: &RunOptions) -> Result<Vec<String>, RuntimeError> {
    let entrypoint = opts
        .entrypoint
        .clone()
        .unwrap_or_else(|| image.entrypoint.clone());
    let cmd = if !opts.args.is_empty() {
        opts.args.clone()
    } else if opts.entrypoint.is_some() {
        vec![]
    } else {
        image.cmd.clone()
    };
    let all: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if all.is_empty() {
        return Err(RuntimeError::Config(
            "no command specified: the image has no entrypoint or cmd".into(),
        ));
    }
    Ok(all)
}

/// Image env, then the flags' env; a later `KEY=` replaces an earlier one.
pub fn environment(image: &ImageDefaults, opts: &RunOptions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut set = |kv: &str| {
        let key = kv.split_once('=').map_or(kv, |(k, _)| k);
        if let Some(slot) = out
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            *slot = kv.to_owned();
        } else {
            out.push(kv.to_owned());
        }
    };
    for kv in &image.env {
        set(kv);
    }
    set(&format!("HOSTNAME={}", opts.hostname));
    for kv in &opts.env {
        set(kv);
    }
    if !out.iter().any(|e| e.starts_with("PATH=")) {
        out.insert(0, DEFAULT_PATH.to_owned());
    }
    if opts.tty && !out.iter().any(|e| e.starts_with("TERM=")) {
        out.push("TERM=xterm".to_owned());
    }
    out
}

fn oci(e: oci_spec::OciSpecError) -> RuntimeError {
    RuntimeError::Config(format!("building the runtime spec: {e}"))
}

/// Builds the container's spec. The rootfs is `rootfs` in the bundle.
pub fn build(image: &ImageDefaults, opts: &RunOptions) -> Result<Spec, RuntimeError> {
    let args = command(image, opts)?;
    let cwd = opts
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| Some(image.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".to_owned());
    if !cwd.starts_with('/') {
        return Err(RuntimeError::Config(format!(
            "the working directory {cwd:?} is invalid: it needs to be an absolute path"
        )));
    }
    let user_spec = opts
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| Some(image.user.clone()).filter(|u| !u.is_empty()));
    let mut user = UserBuilder::default();
    if let Some(u) = user_spec {
        // Resolved in the container against its own /etc/passwd.
        user = user.username(u);
    }
    let caps = pocky_runtime::security::caps::default_capabilities();
    let process = ProcessBuilder::default()
        .terminal(opts.tty)
        .user(user.build().map_err(oci)?)
        .args(args)
        .env(environment(image, opts))
        .cwd(PathBuf::from(cwd))
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps)
                .inheritable(Capabilities::new())
                .ambient(Capabilities::new())
                .build()
                .map_err(oci)?,
        )
        .no_new_privileges(false)
        .build()
        .map_err(oci)?;

    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Cgroup,
    ];
    if opts.network == NetworkMode::None {
        namespaces.push(LinuxNamespaceType::Network);
    }
    let namespaces = namespaces
        .into_iter()
        .map(|t| LinuxNamespaceBuilder::default().typ(t).build().map_err(oci))
        .collect::<Result<Vec<_>, _>>()?;

    let r = opts.resources;
    let mut resources = LinuxResourcesBuilder::default();
    if let Some(m) = r.memory {
        // Swap equal to memory: the container cannot swap past its limit.
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(m)
                .swap(m)
                .build()
                .map_err(oci)?,
        );
    }
    if r.nano_cpus.is_some() || r.cpu_shares.is_some() {
        let mut cpu = LinuxCpuBuilder::default();
        if let Some(n) = r.nano_cpus {
            let quota = pocky_cgroup::cpu_quota_us(n);
            cpu = cpu
                .quota(i64::try_from(quota).unwrap_or(i64::MAX))
                .period(pocky_cgroup::CPU_PERIOD_US);
        }
        if let Some(s) = r.cpu_shares {
            cpu = cpu.shares(s);
        }
        resources = resources.cpu(cpu.build().map_err(oci)?);
    }
    if let Some(p) = r.pids {
        resources = resources.pids(LinuxPidsBuilder::default().limit(p).build().map_err(oci)?);
    }

    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources.build().map_err(oci)?)
        .cgroups_path(PathBuf::from(&opts.cgroups_path))
        .masked_paths(pocky_fs::default_masked_paths())
        .readonly_paths(pocky_fs::default_readonly_paths())
        // Docker's bind mounts are rprivate: the host's later mounts stay
        // out of the container (runc's default for a bare bundle is rslave).
        .rootfs_propagation("rprivate")
        .build()
        .map_err(oci)?;

    let mut mounts = pocky_fs::default_mounts();
    mounts.extend(opts.mounts.iter().cloned());
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(opts.read_only)
                .build()
                .map_err(oci)?,
        )
        .mounts(mounts)
        .process(process)
        .hostname(opts.hostname.clone())
        .linux(linux)
        .annotations(HashMap::new())
        .build()
        .map_err(oci)
        .and_then(|mut spec| {
            crate::security_flags::apply_to_spec(&mut spec, &opts.security)?;
            Ok(spec)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        RunOptions {
            hostname: "abc".into(),
            entrypoint: None,
            args: vec![],
            env: vec![],
            user: None,
            workdir: None,
            tty: false,
            read_only: false,
            resources: Resources::default(),
            network: NetworkMode::None,
            cgroups_path: "pocky/abc".into(),
            mounts: vec![],
            security: Default::default(),
        }
    }

    fn image() -> ImageDefaults {
        ImageDefaults {
            entrypoint: vec!["/bin/sh".into(), "-c".into()],
            cmd: vec!["echo hi".into()],
            env: vec!["PATH=/bin".into(), "A=1".into()],
            working_dir: "/work".into(),
            user: "app".into(),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_combine_like_docker() {
        assert_eq!(
            command(&image(), &opts()).unwrap(),
            s(&["/bin/sh", "-c", "echo hi"])
        );
        let mut o = opts();
        o.args = s(&["echo bye"]);
        assert_eq!(
            command(&image(), &o).unwrap(),
            s(&["/bin/sh", "-c", "echo bye"])
        );
        o.entrypoint = Some(s(&["/bin/echo"]));
        assert_eq!(
            command(&image(), &o).unwrap(),
            s(&["/bin/echo", "echo bye"])
        );
        o.args.clear();
        assert_eq!(command(&image(), &o).unwrap(), s(&["/bin/echo"]));
        o.entrypoint = Some(vec![]);
        assert!(command(&image(), &o).is_err());
        let bare = ImageDefaults {
            cmd: s(&["/bin/sh"]),
            ..ImageDefaults::default()
        };
        let mut o = opts();
        o.entrypoint = Some(vec![]);
        o.args = s(&["ls"]);
        assert_eq!(command(&bare, &o).unwrap(), s(&["ls"]));
    }

    #[test]
    fn env_merges_in_order() {
        let mut o = opts();
        o.env = s(&["A=2", "B=3"]);
        o.tty = true;
        let env = environment(&image(), &o);
        assert_eq!(
            env,
            s(&["PATH=/bin", "A=2", "HOSTNAME=abc", "B=3", "TERM=xterm"])
        );
        let env = environment(&ImageDefaults::default(), &opts());
        assert_eq!(env[0], DEFAULT_PATH);
    }

    #[test]
    fn spec_carries_limits_user_and_namespaces() {
        let mut o = opts();
        o.resources = Resources {
            memory: Some(32 << 20),
            nano_cpus: Some(1_500_000_000),
            cpu_shares: Some(512),
            pids: Some(8),
        };
        let spec = build(&image(), &o).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.cwd(), &PathBuf::from("/work"));
        assert_eq!(p.user().username().as_deref(), Some("app"));
        let linux = spec.linux().as_ref().unwrap();
        let res = linux.resources().as_ref().unwrap();
        assert_eq!(res.memory().unwrap().limit(), Some(32 << 20));
        assert_eq!(res.memory().unwrap().swap(), Some(32 << 20));
        assert_eq!(res.cpu().as_ref().unwrap().quota(), Some(150_000));
        assert_eq!(res.pids().unwrap().limit(), 8);
        let ns = linux.namespaces().as_ref().unwrap();
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
        o.workdir = Some("relative".into());
        assert!(build(&image(), &o).is_err());
    }
}
