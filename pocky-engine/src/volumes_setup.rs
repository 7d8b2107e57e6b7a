//! From mount flags and the image's `VOLUME`s to OCI mounts for a
//! container, and the volumes those mounts need.
//!
//! [`plan`] runs before anything is written (a bad flag leaves no trace):
//! it checks the flags, names anonymous volumes and builds the mounts.
//! [`attach`] runs once the container's record exists: it creates missing
//! `-v` host directories, creates and claims the volumes under the state
//! lock, and seeds new empty volumes from the image.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Mount, MountBuilder};
use pocky_store::{ImageRecord, Store, VolumeClaim};

use crate::mount_flags::{MountFlag, Source, TMPFS_DEFAULTS};
use crate::volume_opts::VolumeKind;

/// What a container's mount flags and image volumes amount to.
#[derive(Debug, Default)]
pub struct Plan {
    /// In mount order: parents before what is mounted inside them.
    pub mounts: Vec<Mount>,
    claims: Vec<VolumeClaim>,
    /// (volume, container path) pairs to seed from the image when empty.
    seeds: Vec<(String, String)>,
    /// `-v` host paths to create when missing.
    create_dirs: Vec<PathBuf>,
}

fn build(destination: &str, typ: &str, source: &Path, options: Vec<String>) -> Result<Mount> {
    MountBuilder::default()
        .destination(PathBuf::from(destination))
        .typ(typ)
        .source(source)
        .options(options)
        .build()
        .map_err(|e| anyhow::anyhow!("building the mount of {destination}: {e}"))
}

fn bind_options(flag: &MountFlag) -> Vec<String> {
    vec![
        "rbind".to_owned(),
        flag.propagation
            .clone()
            .unwrap_or_else(|| "rprivate".to_owned()),
        if flag.readonly { "ro" } else { "rw" }.to_owned(),
    ]
}

/// Checks the flags and builds the mounts; anonymous volumes (`-v /path`,
/// the image's `VOLUME`s not covered by a flag) get fresh 64-hex names.
pub fn plan(store: &Store, flags: &[MountFlag], image_volumes: &[String]) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut flags = flags.to_vec();
    let targets: BTreeSet<String> = flags.iter().map(|f| f.target.clone()).collect();
    for v in image_volumes {
        let Ok(flag) = crate::mount_flags::parse_volume(v) else {
            crate::log::debug!("ignoring the image's volume {v:?}");
            continue;
        };
        if !targets.contains(&flag.target) && matches!(flag.source, Source::Volume { .. }) {
            flags.push(flag);
        }
    }
    for flag in &flags {
        let mount = match &flag.source {
            Source::Bind { path, create } => {
                match std::fs::symlink_metadata(path) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && *create => {
                        plan.create_dirs.push(path.clone());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        bail!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            path.display()
                        )
                    }
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("bind source path {}", path.display()));
                    }
                }
                build(&flag.target, "bind", path, bind_options(flag))?
            }
            Source::Volume { name, nocopy } => {
                let (name, anonymous) = match name {
                    Some(n) => (n.clone(), false),
                    None => (crate::create::random_id()?, true),
                };
                plan.claims.push(VolumeClaim {
                    name: name.clone(),
                    anonymous,
                });
                volume_mount(store, flag, name, *nocopy, &mut plan.seeds)?
            }
            Source::Tmpfs { options } => {
                let mut opts: Vec<String> =
                    TMPFS_DEFAULTS.iter().map(|s| (*s).to_owned()).collect();
                opts.extend(options.iter().cloned());
                if flag.readonly {
                    opts.push("ro".to_owned());
                }
                build(&flag.target, "tmpfs", Path::new("tmpfs"), opts)?
            }
        };
        plan.mounts.push(mount);
    }
    Ok(plan)
}

/// The mount of volume `name` at the flag's target, by its kind: a tmpfs
/// volume is a tmpfs of its own in each container (nothing to seed), a
/// bind volume its device, any other its directory in the state root.
fn volume_mount(
    store: &Store,
    flag: &MountFlag,
    name: String,
    nocopy: bool,
    seeds: &mut Vec<(String, String)>,
) -> Result<Mount> {
    let source = match crate::volume_opts::of(store, &name)? {
        VolumeKind::Tmpfs { options, readonly } => {
            let mut opts = options;
            if readonly || flag.readonly {
                opts.push("ro".to_owned());
            }
            return build(&flag.target, "tmpfs", Path::new("tmpfs"), opts);
        }
        VolumeKind::Bind { device, readonly } => {
            if !device.is_dir() {
                // Docker's local driver fails the same way, at mount time.
                bail!(crate::invalid!(
                    "error while mounting volume {name}: the device {} is not a directory",
                    device.display()
                ));
            }
            let mut opts = bind_options(flag);
            if readonly {
                opts.retain(|o| o != "rw");
                opts.push("ro".to_owned());
            }
            if !nocopy {
                seeds.push((name, flag.target.clone()));
            }
            return build(&flag.target, "bind", &device, opts);
        }
        VolumeKind::Plain => store.volume_data_dir(&name)?,
    };
    if !nocopy {
        seeds.push((name, flag.target.clone()));
    }
    build(&flag.target, "bind", &source, bind_options(flag))
}

fn depth(m: &Mount) -> usize {
    m.destination().components().count()
}

/// The container's extra mounts: the generated `/etc` files and the
/// flags', ordered so a parent is mounted before anything inside it (a
/// volume on `/etc` does not hide `/etc/hosts`). A flag mounting one of the
/// generated files replaces it.
pub fn merge(etc: Vec<Mount>, user: Vec<Mount>) -> Vec<Mount> {
    let mut all: Vec<Mount> = etc
        .into_iter()
        .filter(|e| !user.iter().any(|u| u.destination() == e.destination()))
        .collect();
    all.extend(user);
    all.sort_by_key(depth);
    all
}

/// Makes what the plan's mounts need, for the container `id` whose record
/// now exists: missing `-v` host directories, the volumes (created and
/// claimed under the state lock), and the seeding of empty volumes.
pub fn attach(store: &Store, id: &str, plan: &Plan, image: &ImageRecord) -> Result<()> {
    for dir in &plan.create_dirs {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the bind source {}", dir.display()))?;
    }
    if plan.claims.is_empty() {
        return Ok(());
    }
    store.claim_volumes(id, &plan.claims)?;
    for (name, path) in &plan.seeds {
        crate::volume_seed::seed(store, image, name, path)?;
    }
    Ok(())
}

/// The container's anonymous volumes go with it under `rm -v` and
/// `run --rm`: call with the names read before the container was removed.
pub fn remove_anonymous(store: &Store, names: &[String]) {
    if names.is_empty() {
        return;
    }
    if let Err(e) = store.remove_anonymous_volumes(names) {
        crate::log::debug!("removing anonymous volumes: {e}");
    }
}
