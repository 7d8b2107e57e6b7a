//! OCI hooks: programs run at points of the lifecycle with the state on
//! their stdin. Host hooks (prestart, createRuntime, poststart, poststop)
//! run in the runtime's namespaces; createContainer runs in the
//! container's namespaces before the pivot ([`run_in_container`]), and
//! startContainer in the container's init just before its exec
//! ([`run_in_child`]).

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::{Hook, Spec};
use pocky_ns::{ChildError, Pid};

use crate::RuntimeError;
use crate::process::{Pidfd, start_time};
use crate::state::OciState;

fn hook_err(hook: &Hook, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::Hook {
        path: hook.path().clone(),
        reason: reason.into(),
    }
}

fn timeout_of(hook: &Hook) -> Option<Duration> {
    hook.timeout()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs)
}

/// Waits for `pid` within the hook's timeout; kills it when it passes.
fn wait_within(hook: &Hook, pid: i32) -> Result<(), RuntimeError> {
    let Some(start) = start_time(pid) else {
        return Ok(());
    };
    let Some(fd) = Pidfd::open(pid, start)? else {
        return Ok(());
    };
    if !fd.wait_timeout(timeout_of(hook))? {
        fd.signal(libc::SIGKILL)?;
        return Err(hook_err(
            hook,
            format!("timed out after {}s", hook.timeout().unwrap_or(0)),
        ));
    }
    Ok(())
}

fn state_json(state: &OciState) -> Result<Vec<u8>, RuntimeError> {
    serde_json::to_vec(state).map_err(|e| RuntimeError::State(format!("encoding state: {e}")))
}

/// The hook's process as the spec describes it: path, argv (argv[0]
/// included), only its own environment, the state on a piped stdin.
fn hook_command(hook: &Hook) -> Command {
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear().stdin(Stdio::piped());
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd
}

/// Runs `hooks` in order in the runtime's namespaces; the first failure
/// stops the rest.
pub fn run_host(hooks: &[Hook], state: &OciState) -> Result<(), RuntimeError> {
    let input = state_json(state)?;
    for hook in hooks {
        let mut child = hook_command(hook)
            .spawn()
            .map_err(|e| hook_err(hook, format!("cannot start: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that does not read its stdin is fine: EPIPE is ignored.
            let _ = stdin.write_all(&input);
        }
        let pid = i32::try_from(child.id()).unwrap_or(0);
        let waited = wait_within(hook, pid);
        let status = child
            .wait()
            .map_err(|e| hook_err(hook, format!("wait: {e}")))?;
        waited?;
        if !status.success() {
            return Err(hook_err(hook, format!("failed: {status}")));
        }
    }
    Ok(())
}

fn pipe_with(input: &[u8]) -> Result<OwnedFd, RuntimeError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::State(format!("pipe for hook input: {e}")))?;
    // The state is a few hundred bytes, far below a pipe's buffer: the
    // write completes before the hook reads.
    let mut w = std::fs::File::from(w);
    w.write_all(input)
        .map_err(|e| RuntimeError::State(format!("writing hook input: {e}")))?;
    Ok(r)
}

/// Runs createContainer `hooks` in the namespaces of the container whose
/// init is `pid` (blocked before its pivot, so the hook's path still
/// resolves as on the host). Must be called from a single-threaded process.
pub fn run_in_container(
    hooks: &[Hook],
    pid: i32,
    spec: &Spec,
    state: &OciState,
) -> Result<(), RuntimeError> {
    let input = state_json(state)?;
    let namespaces = crate::exec::joined_namespaces(spec);
    for hook in hooks {
        let stdin = pipe_with(&input)?;
        let mut args = hook.args().clone().unwrap_or_default();
        // pocky-ns execs args[0]: the hook's path takes its place.
        let path = hook.path().display().to_string();
        match args.first_mut() {
            Some(a) => *a = path,
            None => args.push(path),
        }
        let env = hook.env().clone().unwrap_or_default();
        let mut child = pocky_ns::join_and_spawn(Pid::from_raw(pid), &namespaces, |_chan| {
            // SAFETY: both are valid descriptors; dup2 replaces fd 0.
            if unsafe { libc::dup2(stdin.as_raw_fd(), 0) } < 0 {
                return ChildError::setup("hook", nix::errno::Errno::last(), "dup2 stdin");
            }
            pocky_ns::exec(&args, &env)
        })
        .map_err(|e| hook_err(hook, e.to_string()))?;
        drop(stdin);
        child.start().map_err(|e| hook_err(hook, e.to_string()))?;
        let waited = wait_within(hook, child.pid.as_raw());
        let status = child.wait().map_err(|e| hook_err(hook, e.to_string()))?;
        waited?;
        if status.code != 0 {
            return Err(hook_err(hook, format!("failed: {status}")));
        }
    }
    Ok(())
}

/// Runs startContainer `hooks` from the container's init, after its pivot
/// and before its exec: paths resolve in the container.
pub(crate) fn run_in_child(hooks: &[Hook], state: &[u8]) -> Result<(), ChildError> {
    for hook in hooks {
        let fail = |m: String| {
            ChildError::setup(
                "startContainer hook",
                nix::errno::Errno::EIO,
                format!("hook {}: {m}", hook.path().display()),
            )
        };
        let mut child = hook_command(hook)
            .spawn()
            .map_err(|e| fail(format!("cannot start: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(state);
        }
        let status = match timeout_of(hook) {
            None => child.wait().map_err(|e| fail(format!("wait: {e}")))?,
            Some(limit) => {
                // The init is about to exec: no pidfd thread or signal
                // handler to lean on, so it polls, which a hook's
                // lifetime of seconds makes cheap.
                let deadline = std::time::Instant::now() + limit;
                loop {
                    if let Some(st) = child.try_wait().map_err(|e| fail(format!("wait: {e}")))? {
                        break st;
                    }
                    if std::time::Instant::now() >= deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(fail(format!(
                            "timed out after {}s",
                            hook.timeout().unwrap_or(0)
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        if !status.success() {
            return Err(fail(format!("failed: {status}")));
        }
    }
    Ok(())
}
