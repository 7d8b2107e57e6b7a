//! `build`: a Dockerfile and its context into an image, as Docker's
//! classic builder does it, step by step.
//!
//! Every step makes an image (marked `build_step`, listed only with
//! `images -a`): a RUN's container is created from the image of the step
//! before it, and the build cache maps a step's key (the parent's key, the
//! instruction as expanded, the build args in scope and, for COPY/ADD, a
//! hash of the files copied) to the image it made, so a step whose key
//! is known is skipped and the next builds on the image the key names. A
//! failed step leaves its container removed and nothing tagged; the images
//! of the steps before it stay, as the cache.
//!
//! - `stage`: one stage's steps and the config-only instructions.
//! - `run_step`: RUN in a container; `copy_step`: COPY and ADD through a
//!   mounted overlay; `layer`: packing an upper directory into a layer.
//! - `args`: ARG and ENV scope and the expansion of instruction words.

mod args;
mod config_steps;
mod copy_step;
mod layer;
mod run_step;
mod stage;

use std::collections::BTreeMap;
use std::time::Duration;

use pocky_store::{ImageRecord, Store};

use crate::build_context::{Context, ContextSource};
use crate::pull::PullPolicy;

/// Docker's `build` flags, as plain data.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// `-t`: names to tag the result with.
    pub tags: Vec<String>,
    /// `-f`: the Dockerfile (default `Dockerfile` in the context).
    pub dockerfile: Option<String>,
    /// `--build-arg K=V` (or `K`: the caller's environment's value).
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--pull`: pull every base image even when it is present.
    pub pull: bool,
    pub platform: Option<String>,
    /// `--label K=V`, on the final image.
    pub labels: Vec<String>,
    /// `--network` of the RUN containers: bridge (default), none, host.
    pub network: Option<String>,
    /// The RUN containers' limits and settings (`--memory`, `--cpu-*`,
    /// `--shm-size`, `--ulimit`, `--security-opt`, `--add-host`,
    /// `--cgroup-parent`), as `run` takes them; the rest of it is unused.
    pub run_limits: crate::RunRequest,
}

/// What a build reports as it goes, in the order it happens.
#[derive(Debug)]
pub enum BuildEvent<'a> {
    /// `Step 3/9 : RUN make`.
    Step {
        number: usize,
        total: usize,
        text: &'a str,
    },
    /// The step's result came from the cache.
    Cached,
    /// Output of a RUN, as it comes.
    Output(&'a [u8]),
    /// The step is done; its image (short id) and how long it took.
    StepDone { id: &'a str, elapsed: Duration },
    /// A warning for the user (`# syntax` ignored, an unused build arg).
    Warning(&'a str),
    /// The finished image's full id.
    Built { id: &'a str },
    /// A `-t` name it was tagged with.
    Tagged { name: &'a str },
}

/// Where a build's events go: the CLI's terminal, the API's JSON stream.
pub trait BuildSink {
    fn event(&mut self, event: BuildEvent<'_>);
}

/// Builds the image the Dockerfile in `context` describes. Forks (to
/// mount layers); call it from a thread that others do not share locks
/// with across fork (the CLI's main thread, an API request's thread).
pub fn build(
    store: &Store,
    req: &BuildRequest,
    context: ContextSource<'_>,
    sink: &mut dyn BuildSink,
) -> crate::Result<ImageRecord> {
    let tags = req
        .tags
        .iter()
        .map(|t| crate::tag::canonical_tag(t))
        .collect::<crate::Result<Vec<_>>>()?;
    if let Some((flag, _)) = req.run_limits.refused.first() {
        return Err(crate::invalid!(
            "{flag} is not supported by pocky: {}",
            crate::run_flags::refusal(flag)
        ));
    }
    let labels = crate::flags::labels(&req.labels, &[])?;
    let build_args = args::parse_build_args(&req.build_args)?;
    let network = match req.network.as_deref() {
        None | Some("default") | Some("bridge") => "bridge",
        Some("none") => "none",
        Some("host") => "host",
        Some(other) => {
            return Err(crate::invalid!(
                "network mode {other:?} is not supported for a build (bridge, none, host)"
            ));
        }
    };
    run_step::remove_abandoned(store);
    let scratch = store.scratch()?;
    let (ctx, text) = Context::open(context, scratch.path(), req.dockerfile.as_deref())?;
    let dockerfile = pocky_build::parse(&text).map_err(|e| crate::invalid!("Dockerfile: {e}"))?;
    if let Some(syntax) = &dockerfile.directives.syntax {
        sink.event(BuildEvent::Warning(&format!(
            "the syntax directive ({syntax}) is ignored: pocky's builder parses the Dockerfile itself"
        )));
    }
    let stages = dockerfile
        .stages_with_args(&build_args)
        .map_err(|e| crate::invalid!("Dockerfile: {e}"))?;
    if stages.stages.is_empty() {
        return Err(crate::invalid!("Dockerfile: no FROM instruction"));
    }
    let order = stages
        .plan(req.target.as_deref())
        .map_err(|e| crate::invalid!("{e}"))?;
    let total = order
        .iter()
        .map(|&i| stages.stages[i].steps.len() + 1)
        .sum();
    let mut run = stage::Build {
        store,
        ctx: &ctx,
        escape: dockerfile.directives.escape,
        build_args: &build_args,
        global_args: &stages.global_args,
        pull: match req.pull {
            true => PullPolicy::Always,
            false => PullPolicy::Missing,
        },
        platform: req.platform.as_deref(),
        no_cache: req.no_cache,
        network,
        run_limits: &req.run_limits,
        sink,
        lines: text.lines().collect(),
        number: 0,
        total,
        stage_names: stages.stages.iter().map(|s| s.name.clone()).collect(),
        results: BTreeMap::new(),
        used_args: Default::default(),
    };
    let mut last = None;
    for &i in &order {
        let image = run.stage(&stages.stages[i])?;
        last = Some(image);
    }
    let image = last.ok_or_else(|| crate::invalid!("Dockerfile: no stage to build"))?;
    let unused: Vec<&String> = build_args
        .keys()
        .filter(|k| !run.used_args.contains(*k) && !args::PREDEFINED.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        sink.event(BuildEvent::Warning(&format!(
            "one or more build-args [{}] were not consumed",
            names.join(" ")
        )));
    }
    let done = stage::finish(store, &image, &labels, &tags)?;
    sink.event(BuildEvent::Built { id: &done.id });
    for t in &tags {
        let (repo, tag) = crate::lookup::familiar(t);
        sink.event(BuildEvent::Tagged {
            name: &format!("{repo}:{tag}"),
        });
        crate::events::object(store, "image", "tag", &done.id, t);
    }
    Ok(done)
}

/// What `builder prune` removed.
#[derive(Debug, Default)]
pub struct CachePrune {
    pub images: usize,
    pub entries: usize,
    pub reclaimed: u64,
}

/// `builder prune`: the images of build steps no container uses and no
/// name holds, and the cache's index.
pub fn prune_cache(store: &Store) -> crate::Result<CachePrune> {
    let removed = crate::tag::prune_images(store, false, &|i| i.build_step)?;
    let entries = store.cache_clear()?;
    Ok(CachePrune {
        images: removed.removed.len(),
        entries,
        reclaimed: removed.reclaimed,
    })
}
