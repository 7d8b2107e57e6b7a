//! A further process in a running container, for `pocky exec` and the
//! healthcheck probes: the container's own process spec (env, user,
//! working directory, capabilities) with the new command, started through
//! `pocky_runtime::exec::exec_in` (its namespaces and cgroup).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Process, Spec};
use pocky_runtime::exec::ExecOptions;
use pocky_runtime::launch::Stdio;

/// What an exec changes from the container's process.
#[derive(Debug, Clone, Default)]
pub struct ExecProcess {
    pub args: Vec<String>,
    /// `-e K=V`/`-e K`, added after (and replacing) the container's.
    pub env: Vec<String>,
    /// `--env-file`: read before `env`, which overrides it.
    pub env_file: Vec<PathBuf>,
    /// `--privileged`: every capability and no seccomp filter for this
    /// process (see [`spec_for`]); the container keeps its own.
    pub privileged: bool,
    pub user: Option<String>,
    /// Absolute.
    pub workdir: Option<String>,
    pub tty: bool,
}

/// The container's process spec with `want`'s changes.
pub fn process_for(spec: &Spec, want: &ExecProcess) -> Result<Process> {
    let mut process = spec
        .process()
        .clone()
        .context("the container's spec has no process")?;
    process.set_args(Some(want.args.clone()));
    process.set_terminal(Some(want.tty));
    let mut env = process.env().clone().unwrap_or_default();
    for kv in crate::flags::environment(&want.env, &want.env_file)? {
        let key = kv
            .split_once('=')
            .map_or(kv.as_str(), |(k, _)| k)
            .to_owned();
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv);
    }
    process.set_env(Some(env));
    if let Some(u) = &want.user {
        process.user_mut().set_username(Some(u.clone()));
    }
    if want.privileged {
        use pocky_runtime::security::caps;
        process.set_capabilities(Some(caps::process_capabilities(&caps::all_capabilities())?));
        // Docker's exec --privileged runs unconfined by AppArmor too.
        process.set_apparmor_profile(None);
    }
    if let Some(w) = &want.workdir {
        if !w.starts_with('/') {
            bail!(crate::invalid!(
                "the working directory {w:?} is invalid: it needs to be an absolute path"
            ));
        }
        process.set_cwd(PathBuf::from(w));
    }
    Ok(process)
}

/// The spec an exec runs under: the container's, without its seccomp
/// filter for a privileged exec. Docker's keeps the container's filter
/// (moby#21984), so a privileged exec there still cannot mount; pocky
/// gives what `--privileged` promises, as `run --privileged` does.
pub fn spec_for<'a>(spec: &'a Spec, want: &ExecProcess) -> std::borrow::Cow<'a, Spec> {
    if !want.privileged {
        return std::borrow::Cow::Borrowed(spec);
    }
    let mut spec = spec.clone();
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    std::borrow::Cow::Owned(spec)
}

/// Why an exec did not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The process failed before its command ran (not found: 127, cannot
    /// execute: 126), with the message to show.
    #[error("{message}")]
    Child { exit_code: i32, message: String },
    #[error(transparent)]
    Runtime(pocky_runtime::RuntimeError),
}

/// Starts `process` in the container whose first process is `pid`. Must
/// be called from a single-threaded process (pocky-ns forks).
pub fn spawn(
    pid: i32,
    spec: &Spec,
    process: &Process,
    stdio: Stdio,
    opts: ExecOptions<'_>,
) -> Result<pocky_ns::Child, ExecError> {
    pocky_runtime::exec::exec_in(pid, spec, process, stdio, opts).map_err(|e| match e {
        pocky_runtime::RuntimeError::Ns(pocky_ns::NsError::Child {
            exit_code, message, ..
        }) => ExecError::Child { exit_code, message },
        e => ExecError::Runtime(e),
    })
}
