//! RUN: the command in a container made from the step's parent image, on
//! the build's network, with the stage's env (ARGs included), user,
//! workdir and SHELL; its upper directory becomes the step's layer. The
//! container is removed whatever happens.

use std::io::Read;
use std::os::fd::OwnedFd;

use pocky_build::{Command, Run};
use pocky_runtime::launch::Stdio;

use super::args;
use super::stage::{Action, Build, Change, Plan, Work};
use crate::RunRequest;

pub(super) struct RunPlan {
    argv: Vec<String>,
    env: Vec<String>,
    network: String,
}

pub(super) fn plan(
    b: &mut Build<'_>,
    work: &mut Work,
    run: &Run,
    line: usize,
) -> crate::Result<Plan> {
    if !run.mounts.is_empty() {
        return Err(crate::invalid!(
            "Dockerfile line {line}: RUN --mount is a BuildKit feature pocky's builder does not have"
        ));
    }
    if let Some(s) = run.security.as_deref().filter(|s| *s != "sandbox") {
        return Err(crate::invalid!(
            "Dockerfile line {line}: RUN --security={s} is not supported"
        ));
    }
    let network = match run.network.as_deref() {
        None | Some("default") => b.network.to_owned(),
        Some(n @ ("none" | "host")) => n.to_owned(),
        Some(n) => {
            return Err(crate::invalid!(
                "Dockerfile line {line}: RUN --network={n} is not supported (default, none, host)"
            ));
        }
    };
    let argv = match &run.command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let script = with_heredocs(s, run);
            work.shell().into_iter().chain([script]).collect()
        }
    };
    let env = work.env();
    let extra = args::run_env(&env, &work.scope, b.build_args);
    for e in &extra {
        if let Some((k, _)) = e.split_once('=') {
            b.used_args.insert(k.to_owned());
        }
    }
    Ok(Plan {
        descriptor: format!("RUN {argv:?} env={extra:?} network={network}"),
        history: format!("RUN {}", argv.join(" ")),
        action: Action::Run(RunPlan {
            argv,
            env: extra,
            network,
        }),
    })
}

/// A shell-form command with heredocs as the shell gets it: a command
/// that is only a heredoc is that script; otherwise the bodies follow the
/// line, each closed by its delimiter, as a shell reads them.
fn with_heredocs(command: &str, run: &Run) -> String {
    if run.heredocs.is_empty() {
        return command.to_owned();
    }
    let only_marker = run.heredocs.len() == 1 && command.split_whitespace().count() == 1;
    if only_marker {
        return run.heredocs[0].content.clone();
    }
    let mut out = command.to_owned();
    out.push('\n');
    for h in &run.heredocs {
        out.push_str(&h.content);
        out.push_str(&h.name);
        out.push('\n');
    }
    out
}

/// Runs the step; on success returns its layer.
pub(super) fn run(
    b: &mut Build<'_>,
    work: &Work,
    plan: &RunPlan,
    line: usize,
) -> crate::Result<Change> {
    let image = work.image.as_ref().ok_or_else(|| {
        crate::invalid!(
            "Dockerfile line {line}: RUN in a stage FROM scratch with no files: there is no shell to run"
        )
    })?;
    let limits = b.run_limits;
    let req = RunRequest {
        network: plan.network.clone(),
        env: plan.env.clone(),
        entrypoint: Some(String::new()),
        label: vec![format!("{STEP_LABEL}=true")],
        cgroup_parent: Some(limits.cgroup_parent.clone())
            .filter(|p| !p.is_empty())
            .or_else(|| std::env::var(crate::prune::CGROUP_PARENT_ENV).ok())
            .unwrap_or_else(|| crate::prune::DEFAULT_CGROUP_PARENT.into()),
        image_and_command: std::iter::once(image.id.clone())
            .chain(plan.argv.iter().cloned())
            .collect(),
        memory: limits.memory.clone(),
        memory_swap: limits.memory_swap.clone(),
        cpu_shares: limits.cpu_shares,
        cpu_period: limits.cpu_period,
        cpu_quota: limits.cpu_quota,
        cpuset_cpus: limits.cpuset_cpus.clone(),
        cpuset_mems: limits.cpuset_mems.clone(),
        shm_size: limits.shm_size.clone(),
        ulimit: limits.ulimit.clone(),
        security_opt: limits.security_opt.clone(),
        add_host: limits.add_host.clone(),
        refused: limits.refused.clone(),
        ..RunRequest::default()
    };
    let created = crate::create::create(b.store, &req, &image.id, image, &plan.argv)?;
    let id = created.record.id.clone();
    let _cleanup = Remove {
        store: b.store,
        id: id.clone(),
    };
    let status = {
        let _lock = crate::owner::lock(b.store, &id)?;
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(anyhow::Error::from)?;
        let null: OwnedFd = std::fs::File::open("/dev/null")
            .map_err(anyhow::Error::from)?
            .into();
        let stdio = Stdio {
            stdin: Some(null),
            stderr: Some(write.try_clone().map_err(anyhow::Error::from)?),
            stdout: Some(write),
            terminal: false,
        };
        let launched = match crate::owner::start(b.store, &created, stdio) {
            Ok(l) => l,
            Err(e) => {
                return Err(crate::invalid!(
                    "The command '{}' could not start: {}",
                    plan.argv.join(" "),
                    e.message
                ));
            }
        };
        // Until the container's last process closes the pipe.
        let mut out = std::fs::File::from(read);
        let mut buf = [0u8; 16 * 1024];
        loop {
            match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => b.sink.event(super::BuildEvent::Output(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let status = launched.wait().map_err(anyhow::Error::from)?;
        crate::owner::finish(b.store, &created, &launched, status);
        status
    };
    if status.code != 0 {
        return Err(crate::Error::BuildStep {
            message: format!(
                "The command '{}' returned a non-zero code: {} (Dockerfile line {line})",
                plan.argv.join(" "),
                status.code
            ),
            code: status.code,
        });
    }
    let skip = crate::diff::mount_points(&created.spec);
    let (blob, diff_id) = crate::commit::pack_upper(b.store, &created.record, image, &skip)?;
    Ok(Change::Layer(blob, diff_id))
}

/// The label that marks a RUN step's container.
const STEP_LABEL: &str = "io.pocky.build-step";

/// Removes the RUN containers of builds that were killed (SIGKILL, or a
/// SIGINT that reached the container first) before they could remove
/// them: no process owns them any more. A young one may belong to a build
/// that created it and is about to take its lock, so it is left alone.
pub(super) fn remove_abandoned(store: &pocky_store::Store) {
    use pocky_store::ContainerStore;
    let Ok(all) = store.containers() else {
        return;
    };
    let now = crate::state::now();
    for rec in all {
        let abandoned = rec.labels.get(STEP_LABEL).is_some_and(|v| v == "true")
            && now - rec.created > 60.0
            && !crate::state::owner_alive(store, &rec.id).unwrap_or(true);
        if abandoned && let Err(e) = crate::lifecycle::remove_forced(store, &rec.id) {
            crate::log::debug!("removing abandoned build container {}: {e}", rec.id);
        }
    }
}

/// Removes the step's container when the step ends, however it ends.
struct Remove<'a> {
    store: &'a pocky_store::Store,
    id: String,
}

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        if let Err(e) = crate::lifecycle::remove_forced(self.store, &self.id) {
            crate::log::debug!("removing build container {}: {e}", self.id);
        }
    }
}
