//! `pocky build` and `pocky builder prune`.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pocky_engine::build::{BuildEvent, BuildRequest, BuildSink};
use pocky_engine::build_context::ContextSource;
use pocky_engine::store::Store;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A directory, `-` (a tar on stdin) or a tar file.
    pub context: String,
    /// Name (and tag) of the image: `name:tag`; repeatable.
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// The Dockerfile (default: `Dockerfile` in the context).
    #[arg(short, long)]
    pub file: Option<String>,
    /// A build-time variable: `K=V`, or `K` for this environment's value.
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// The stage to build (default: the last).
    #[arg(long)]
    pub target: Option<String>,
    /// Build every step again, ignoring the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Pull the base images even when they are present.
    #[arg(long)]
    pub pull: bool,
    /// os/arch[/variant] of the base images.
    #[arg(long)]
    pub platform: Option<String>,
    /// A label on the image: `K=V`.
    #[arg(long)]
    pub label: Vec<String>,
    /// The network of RUN steps: bridge, none or host.
    #[arg(long)]
    pub network: Option<String>,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image id to this file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Accepted for docker's command lines; removing build containers is
    /// what pocky always does.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub rm: bool,
    /// Accepted for docker's command lines (always on).
    #[arg(long)]
    pub force_rm: bool,
    #[command(flatten)]
    pub limits: BuildLimits,
}

// The RUN containers' limits and settings, and the flags pocky refuses.
// (Not a doc comment: clap would make it the about of `build`.)
#[derive(Debug, Args, Default)]
pub struct BuildLimits {
    /// Memory limit of the RUN containers.
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap of the RUN containers ('-1': unlimited swap).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Relative CPU weight of the RUN containers.
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// CPU CFS period of the RUN containers (µs).
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota of the RUN containers (µs).
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs the RUN containers may use (0-3, 0,1).
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the RUN containers may use.
    #[arg(long, value_name = "MEMS")]
    pub cpuset_mems: Option<String>,
    /// Size of /dev/shm in the RUN containers.
    #[arg(long, value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// A resource limit of the RUN containers: NAME=SOFT[:HARD].
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// seccomp=..., no-new-privileges for the RUN containers.
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// A line in the RUN containers' /etc/hosts: NAME:IP.
    #[arg(long, value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Parent cgroup of the RUN containers.
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Accepted: the context is read where it is, never sent, so there is
    /// nothing to compress.
    #[arg(long)]
    pub compress: bool,
    /// Accepted: pocky verifies no image signatures (Docker's default).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_content_trust: Option<bool>,
    /// Not supported: only the build's own step cache is used.
    #[arg(long, value_name = "IMAGE")]
    pub cache_from: Vec<String>,
    /// Not supported: an experimental Docker feature pocky does not have.
    #[arg(long)]
    pub squash: bool,
    /// Not supported on Linux (Windows isolation).
    #[arg(long, value_name = "TECH")]
    pub isolation: Option<String>,
}

impl BuildLimits {
    fn request(&self) -> pocky_engine::RunRequest {
        let mut refused = Vec::new();
        if let Some(c) = self.cache_from.first() {
            refused.push(("--cache-from".to_owned(), c.clone()));
        }
        if self.squash {
            refused.push(("--squash".to_owned(), String::new()));
        }
        if let Some(i) = self.isolation.clone().filter(|i| i != "default") {
            refused.push(("--isolation".to_owned(), i));
        }
        if self.disable_content_trust == Some(false) {
            refused.push(("--disable-content-trust".to_owned(), "false".to_owned()));
        }
        pocky_engine::RunRequest {
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            cpu_shares: self.cpu_shares,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            shm_size: self.shm_size.clone(),
            ulimit: self.ulimit.clone(),
            security_opt: self.security_opt.clone(),
            add_host: self.add_host.clone(),
            cgroup_parent: self.cgroup_parent.clone().unwrap_or_default(),
            refused,
            ..Default::default()
        }
    }
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum BuilderCommand {
    /// Remove the build cache: the images of build steps nothing uses.
    Prune(BuilderPruneArgs),
}

#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Accepted for docker's command lines: every cache entry goes.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask (pocky never asks).
    #[arg(short, long)]
    pub force: bool,
}

/// Docker's classic builder lines; on a terminal, each step's time too.
struct Printer {
    quiet: bool,
    tty: bool,
    out: io::Stdout,
}

impl BuildSink for Printer {
    fn event(&mut self, event: BuildEvent<'_>) {
        if self.quiet {
            if let BuildEvent::Output(bytes) = event {
                // docker -q shows nothing but the id; a failing step's
                // output still explains the failure, so it goes to stderr.
                let _ = io::stderr().write_all(bytes);
            }
            return;
        }
        let mut out = self.out.lock();
        let _ = match event {
            BuildEvent::Step {
                number,
                total,
                text,
            } => writeln!(out, "Step {number}/{total} : {text}"),
            BuildEvent::Cached => writeln!(out, " ---> Using cache"),
            BuildEvent::Output(bytes) => out.write_all(bytes),
            BuildEvent::StepDone { id, elapsed } if self.tty => {
                writeln!(out, " ---> {id} {}", seconds(elapsed))
            }
            BuildEvent::StepDone { id, .. } => writeln!(out, " ---> {id}"),
            BuildEvent::Warning(w) => writeln!(io::stderr(), "[Warning] {w}"),
            BuildEvent::Built { id } => {
                let short = id.strip_prefix("sha256:").unwrap_or(id);
                writeln!(out, "Successfully built {}", &short[..short.len().min(12)])
            }
            BuildEvent::Tagged { name } => writeln!(out, "Successfully tagged {name}"),
        };
        let _ = out.flush();
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub fn build(root: &Path, args: &BuildArgs) -> Result<ExitCode> {
    let req = BuildRequest {
        tags: args.tag.clone(),
        dockerfile: args.file.clone(),
        build_args: args.build_arg.clone(),
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        platform: args.platform.clone(),
        labels: args.label.clone(),
        network: args.network.clone(),
        run_limits: args.limits.request(),
    };
    let store = Store::open(root)?;
    let mut printer = Printer {
        quiet: args.quiet,
        tty: io::stdout().is_terminal(),
        out: io::stdout(),
    };
    let mut stdin;
    let mut file;
    let path = Path::new(&args.context);
    let source = if args.context == "-" {
        stdin = io::stdin().lock();
        ContextSource::Tar(&mut stdin)
    } else if path.is_file() {
        file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        ContextSource::Tar(&mut file)
    } else if args.context.contains("://") || args.context.starts_with("git@") {
        anyhow::bail!(pocky_engine::invalid!(
            "unable to prepare context: remote contexts ({}) are not supported; clone or download it first",
            args.context
        ));
    } else if path.is_dir() {
        ContextSource::Dir(path)
    } else {
        anyhow::bail!(pocky_engine::invalid!(
            "unable to prepare context: path {:?} not found",
            args.context
        ));
    };
    let image = match pocky_engine::build::build(&store, &req, source, &mut printer) {
        Ok(i) => i,
        Err(e @ pocky_engine::Error::BuildStep { .. }) => {
            eprintln!("pocky: {}", pocky_engine::one_line(&e));
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(f) = &args.iidfile {
        pocky_engine::store::write_atomic(f, image.id.as_bytes())
            .with_context(|| format!("writing the image id to {}", f.display()))?;
    }
    if args.quiet {
        println!("{}", image.id);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn builder(root: &Path, cmd: &BuilderCommand) -> Result<ExitCode> {
    match cmd {
        BuilderCommand::Prune(_) => {
            let store = Store::open(root)?;
            let done = pocky_engine::build::prune_cache(&store)?;
            println!(
                "Deleted build cache objects: {} images, {} cache entries",
                done.images, done.entries
            );
            println!(
                "Total reclaimed space: {}",
                crate::format::size(done.reclaimed)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
