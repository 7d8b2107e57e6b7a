//! A further process in a running container (`pocky exec`, the runtime's
//! `exec`): it joins the container's namespaces and cgroup, then takes the
//! user, working directory and environment of its own process spec.

use oci_spec::runtime::{Process, Spec};
use pocky_cgroup::CgroupManager;
use pocky_ns::{ChildError, Namespace, Pid};

use crate::RuntimeError;
use crate::launch::{Stdio, apply_stdio, make_console, process_setup};

/// Namespaces a process joins: those the container was given (the user
/// namespace first, when it has one; pocky-ns skips any the caller is
/// already in).
pub(crate) fn joined_namespaces(spec: &Spec) -> Vec<Namespace> {
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    list.iter()
        .filter_map(|ns| crate::launch::namespace_of(ns.typ()))
        .collect()
}

/// What the runtime binary adds to an exec; `pocky exec` uses the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecOptions<'a> {
    /// Where the container's cgroup path is rooted (see
    /// [`crate::launch::open_cgroup`]).
    pub cgroup_base: Option<&'a str>,
    /// fds 3 to 3+n-1 of the caller stay open into the process.
    pub preserve_fds: u32,
    /// The process leads a session (and process group) of its own, so the
    /// caller can kill it with everything it started (`kill(-pid)`): a
    /// healthcheck probe that exceeds its timeout.
    pub new_session: bool,
}

/// Starts `process` inside the container whose first process is `target`
/// and whose cgroup is the spec's.
pub fn exec_in(
    target: i32,
    spec: &Spec,
    process: &Process,
    stdio: Stdio,
    opts: ExecOptions<'_>,
) -> Result<pocky_ns::Child, RuntimeError> {
    let cgroup_base = opts.cgroup_base;
    let preserve = opts.preserve_fds;
    let new_session = opts.new_session;
    let namespaces = joined_namespaces(spec);
    let security = crate::security::ChildSecurity::from_spec(spec, process)?;
    let cgroup = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|path| crate::launch::open_cgroup(path, cgroup_base))
        .transpose()?;
    // As at a container's start, the process joins the cgroup itself where
    // that skips the grace period of a move by the parent (v1).
    let self_join =
        crate::launch::open_self_join(cgroup.as_ref(), namespaces.contains(&Namespace::User))?;
    let joins_itself = self_join.is_some();
    let mut child = pocky_ns::join_and_spawn(Pid::from_raw(target), &namespaces, move |chan| {
        match crate::launch::join_cgroup(self_join.as_ref())
            .and_then(|()| setup(chan, process, stdio, &security, new_session))
        {
            Ok(env) => pocky_ns::exec_preserving(
                &process.args().clone().unwrap_or_default(),
                &env,
                preserve,
            ),
            Err(e) => e,
        }
    })
    .map_err(RuntimeError::Ns)?;
    child.wait_ready().map_err(RuntimeError::Ns)?;
    if let Some(cg) = cgroup.as_ref().filter(|_| !joins_itself) {
        cg.add_task(child.pid.as_raw())
            .map_err(RuntimeError::Cgroup)?;
    }
    child.start().map_err(RuntimeError::Ns)?;
    Ok(child)
}

fn setup(
    chan: &mut pocky_ns::ChildChannel,
    process: &Process,
    stdio: Stdio,
    security: &crate::security::ChildSecurity,
    new_session: bool,
) -> Result<Vec<String>, ChildError> {
    crate::security::nnp::set_not_dumpable()?;
    let terminal = stdio.terminal;
    // A terminal makes a session of its own (make_console).
    if new_session && !terminal {
        // A fresh child is never a group leader, so setsid cannot fail
        // with EPERM; an error here is reported like any setup step.
        nix::unistd::setsid().map_err(|e| ChildError::setup("setsid", e, "starting a session"))?;
    }
    apply_stdio(stdio)?;
    if terminal {
        make_console(chan)?;
        crate::settings::apply_console_size(process)?;
    }
    let env = process_setup(process, security)?;
    security.before_exec()?;
    Ok(env)
}
