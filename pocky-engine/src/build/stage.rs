//! One stage: its base, then each step through the cache.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use pocky_build::{Base, Instruction, Stage, Step};
use pocky_store::{ImageQuery, ImageRecord, ImageStore, Store};
use serde_json::{Value, json};

use super::args::{self, Scope};
use super::{BuildEvent, BuildSink, config_steps, copy_step, run_step};
use crate::build_context::Context;
use crate::image_store::{LayerBlob, NewImage, manifest_layers, store_image};
use crate::pull::PullPolicy;

/// Bumped when what a key stands for changes, so an old cache is a miss.
const CACHE_VERSION: &str = "pocky-build-cache-1";

/// A whole build's state, shared by its stages.
pub(super) struct Build<'a> {
    pub store: &'a Store,
    pub ctx: &'a Context,
    pub escape: char,
    pub build_args: &'a BTreeMap<String, String>,
    pub global_args: &'a [(String, Option<String>)],
    pub pull: PullPolicy,
    pub platform: Option<&'a str>,
    pub no_cache: bool,
    pub network: &'a str,
    pub run_limits: &'a crate::RunRequest,
    pub sink: &'a mut dyn BuildSink,
    /// The Dockerfile's lines, for showing each step as written.
    pub lines: Vec<&'a str>,
    pub number: usize,
    pub total: usize,
    /// Each stage's `AS` name, by index, for `--from`.
    pub stage_names: Vec<Option<String>>,
    /// Each built stage's image, by stage index.
    pub results: BTreeMap<usize, ImageRecord>,
    pub used_args: BTreeSet<String>,
}

/// Where a stage is: the image so far, as a config and its layers.
pub(super) struct Work {
    pub config: Value,
    pub layers: Vec<LayerBlob>,
    /// The stored image `config` and `layers` are (none for scratch
    /// before its first step).
    pub image: Option<ImageRecord>,
    pub key: String,
    pub scope: Scope,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
}

impl Work {
    /// The config's ENV as pairs, for expansion.
    pub fn env(&self) -> Vec<(String, String)> {
        args::env_pairs(&self.config)
    }

    /// The `config` object of the image config.
    pub fn inner(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        match self.config["config"].as_object_mut() {
            Some(m) => m,
            None => unreachable!("made an object above"),
        }
    }

    /// The SHELL (Docker's default `/bin/sh -c`).
    pub fn shell(&self) -> Vec<String> {
        self.config
            .pointer("/config/Shell")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    pub fn workdir(&self) -> String {
        self.config
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_owned()
    }
}

/// What a step does to the image once its key misses the cache.
pub(super) enum Change {
    /// Only the config (and history).
    Config,
    /// A new layer on top.
    Layer(LayerBlob, String),
}

impl Build<'_> {
    pub fn stage(&mut self, stage: &Stage) -> crate::Result<ImageRecord> {
        self.number += 1;
        let from_text = match &stage.name {
            Some(n) => format!("FROM {} AS {n}", base_text(&stage.base)),
            None => format!("FROM {}", base_text(&stage.base)),
        };
        self.step_header(&from_text);
        let started = Instant::now();
        let mut work = self.base(stage)?;
        self.step_done(&work, started);
        let triggers = config_steps::take_triggers(&mut work)?;
        if !triggers.is_empty() {
            self.sink.event(BuildEvent::Warning(&format!(
                "executing {} build trigger(s)",
                triggers.len()
            )));
        }
        for (text, instruction) in triggers {
            let step = Step {
                line: stage.line,
                instruction,
            };
            self.step(&mut work, &step, &text, true)?;
        }
        for step in &stage.steps {
            let text = self.source_text(step.line);
            self.step(&mut work, step, &text, false)?;
        }
        let image = match work.image {
            Some(i) => i,
            None => {
                let key = work.key.clone();
                self.store_work(&mut work, &key)?
            }
        };
        self.results.insert(stage.index, image.clone());
        Ok(image)
    }

    /// The instruction at `line` as written, continuations joined.
    fn source_text(&self, line: usize) -> String {
        let mut out = String::new();
        for l in self.lines.iter().skip(line.saturating_sub(1)) {
            let t = l.trim();
            match t.strip_suffix(self.escape) {
                Some(head) => {
                    out.push_str(head.trim_end());
                    out.push(' ');
                }
                None => {
                    out.push_str(t);
                    break;
                }
            }
            if out.len() > 400 {
                break;
            }
        }
        out.trim().to_owned()
    }

    fn step_header(&mut self, text: &str) {
        let (number, total) = (self.number, self.total);
        self.sink.event(BuildEvent::Step {
            number,
            total,
            text,
        });
    }

    fn step_done(&mut self, work: &Work, started: Instant) {
        let id = work.image.as_ref().map_or("scratch", |i| i.short_id());
        self.sink.event(BuildEvent::StepDone {
            id,
            elapsed: started.elapsed(),
        });
    }

    fn base(&mut self, stage: &Stage) -> crate::Result<Work> {
        let platform = stage.platform.as_deref().or(self.platform);
        let image = match &stage.base {
            Base::Image(name) if name.eq_ignore_ascii_case("scratch") => None,
            Base::Image(name) => Some(crate::pull::find_or_pull_with(
                self.store,
                name,
                platform,
                self.pull,
                &crate::progress::Silent,
            )?),
            Base::Stage(i) => Some(
                self.results
                    .get(i)
                    .cloned()
                    .ok_or_else(|| crate::invalid!("stage {i} was not built before it is used"))?,
            ),
        };
        let mut scope = Scope::default();
        // Global ARGs are in scope only for FROM; a stage sees them when it
        // declares them again (handled by ARG).
        let _ = &mut scope;
        let (config, layers, key) = match &image {
            None => (
                scratch_config(platform),
                Vec::new(),
                format!("scratch {platform:?}"),
            ),
            Some(img) => {
                let config: Value = serde_json::from_slice(&self.store.get_blob(&img.id)?)
                    .map_err(|e| crate::invalid!("the config of image {}: {e}", img.id))?;
                let layers = manifest_layers(&self.store.get_blob(&img.manifest_digest)?)?;
                (config, layers, img.id.clone())
            }
        };
        Ok(Work {
            config,
            layers,
            image,
            key,
            scope,
            cmd_set: false,
        })
    }

    /// One step: its key, then the cache or the work.
    fn step(
        &mut self,
        work: &mut Work,
        step: &Step,
        text: &str,
        trigger: bool,
    ) -> crate::Result<()> {
        if !trigger {
            self.number += 1;
        }
        self.step_header(text);
        let started = Instant::now();
        if let Instruction::Arg(pairs) = &step.instruction {
            config_steps::declare_args(self, work, pairs, step.line)?;
            self.step_done(work, started);
            return Ok(());
        }
        let plan = self.plan(work, step)?;
        let key = chain_key(&work.key, &plan.descriptor);
        if !self.no_cache
            && let Some(id) = self.store.cache_lookup(&key)?
        {
            self.load(work, &id)?;
            work.key = key;
            if matches!(step.instruction, Instruction::Cmd(_)) {
                work.cmd_set = true;
            }
            self.sink.event(BuildEvent::Cached);
            self.step_done(work, started);
            return Ok(());
        }
        let change = match plan.action {
            Action::Config(apply) => {
                apply(work);
                Change::Config
            }
            Action::Run(run) => run_step::run(self, work, &run, step.line)?,
            Action::Copy(copy) => copy_step::copy(self, work, &copy)?,
        };
        let created = now();
        let mut entry = json!({"created": created, "created_by": plan.history});
        match change {
            Change::Config => entry["empty_layer"] = json!(true),
            Change::Layer(blob, diff_id) => {
                push(&mut work.config, "/rootfs", "diff_ids", json!(diff_id));
                work.config["rootfs"]["type"] = json!("layers");
                work.layers.push(blob);
            }
        }
        push(&mut work.config, "", "history", entry);
        work.config["created"] = json!(created);
        self.store_work(work, &key)?;
        work.key = key;
        self.step_done(work, started);
        Ok(())
    }

    /// Stores the current state as a step's image and records it under `key`.
    fn store_work(&mut self, work: &mut Work, key: &str) -> crate::Result<ImageRecord> {
        let bytes = serde_json::to_vec(&work.config).map_err(anyhow::Error::from)?;
        let record = store_image(
            self.store,
            &NewImage {
                config: &bytes,
                layers: &work.layers,
                manifest: None,
                tags: &[],
                build_step: true,
            },
        )?;
        self.store.cache_record(key, &record.id)?;
        work.image = Some(record.clone());
        Ok(record)
    }

    fn load(&mut self, work: &mut Work, id: &str) -> crate::Result<()> {
        let record = self
            .store
            .find_image(&ImageQuery::IdPrefix(id.to_owned()))?;
        work.config = serde_json::from_slice(&self.store.get_blob(&record.id)?)
            .map_err(|e| crate::invalid!("the config of image {}: {e}", record.id))?;
        work.layers = manifest_layers(&self.store.get_blob(&record.manifest_digest)?)?;
        work.image = Some(record);
        Ok(())
    }
}

/// What a step will do, decided before the cache is asked.
pub(super) struct Plan {
    /// Everything the result depends on besides the parent.
    pub descriptor: String,
    /// `created_by` of its history entry.
    pub history: String,
    pub action: Action,
}

pub(super) enum Action {
    Config(Box<dyn FnOnce(&mut Work)>),
    Run(run_step::RunPlan),
    Copy(Box<copy_step::CopyPlan>),
}

impl Build<'_> {
    fn plan(&mut self, work: &mut Work, step: &Step) -> crate::Result<Plan> {
        match &step.instruction {
            Instruction::Run(r) => run_step::plan(self, work, r, step.line),
            Instruction::Copy(t) => copy_step::plan(self, work, t, false, step.line),
            Instruction::Add(t) => copy_step::plan(self, work, t, true, step.line),
            other => config_steps::plan(self, work, other, step.line),
        }
    }
}

fn base_text(base: &Base) -> String {
    match base {
        Base::Image(n) => n.clone(),
        Base::Stage(i) => format!("stage {i}"),
    }
}

fn chain_key(parent: &str, descriptor: &str) -> String {
    pocky_store::sha256_of(format!("{CACHE_VERSION}\n{parent}\n{descriptor}").as_bytes())
}

fn scratch_config(platform: Option<&str>) -> Value {
    let (os, arch) = match platform.and_then(|p| p.split_once('/')) {
        Some((os, rest)) => (
            os.to_owned(),
            rest.split('/').next().unwrap_or(rest).to_owned(),
        ),
        None => ("linux".to_owned(), host_arch().to_owned()),
    };
    json!({
        "architecture": arch,
        "os": os,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    })
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub(super) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Appends to the array `key` of the object at `pointer`, making both.
fn push(v: &mut Value, pointer: &str, key: &str, item: Value) {
    let target = if pointer.is_empty() {
        Some(&mut *v)
    } else {
        v.pointer_mut(pointer)
    };
    match target {
        Some(obj) if obj.is_object() => match obj[key].as_array_mut() {
            Some(a) => a.push(item),
            None => obj[key] = json!([item]),
        },
        _ => {
            if let Some(root) = v.as_object_mut() {
                root.insert(
                    pointer.trim_start_matches('/').to_owned(),
                    json!({key: [item]}),
                );
            }
        }
    }
}

/// The last stage's image as the build's result: `--label`s on it, not a
/// step's any more, tagged.
pub(super) fn finish(
    store: &Store,
    image: &ImageRecord,
    labels: &[(String, String)],
    tags: &[String],
) -> crate::Result<ImageRecord> {
    let original = store.get_blob(&image.id)?;
    let manifest = store.get_blob(&image.manifest_digest)?;
    let layers = manifest_layers(&manifest)?;
    if labels.is_empty() {
        // The very bytes: a FROM-only build is its base image, same id.
        return store_image(
            store,
            &NewImage {
                config: &original,
                layers: &layers,
                manifest: Some(&manifest),
                tags,
                build_step: false,
            },
        );
    }
    let mut config: Value = serde_json::from_slice(&original)
        .map_err(|e| crate::invalid!("the config of image {}: {e}", image.id))?;
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    if !config["config"]["Labels"].is_object() {
        config["config"]["Labels"] = json!({});
    }
    for (k, v) in labels {
        config["config"]["Labels"][k] = json!(v);
    }
    let bytes = serde_json::to_vec(&config).map_err(anyhow::Error::from)?;
    store_image(
        store,
        &NewImage {
            config: &bytes,
            layers: &layers,
            manifest: None,
            tags,
            build_step: false,
        },
    )
}
