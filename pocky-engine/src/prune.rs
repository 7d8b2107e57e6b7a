//! `system prune`: stopped containers, the debris of crashed
//! commands, and layers and blobs no image uses.
//!
//! Unlike Docker's prune (which removes dangling images), every image is
//! kept: pocky has no build cache producing untagged images, and an image
//! pulled by digest is one the user asked for.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Result;

use pocky_cgroup::{Cgroup, CgroupManager, CgroupPath, Hierarchy};
use pocky_store::{ContainerStore, ImageStore, Status, Store};

use crate::image_filter::PruneFilter;
use crate::state;

/// The cgroup parent of `run` unless `--cgroup-parent` (or this variable)
/// says otherwise.
pub const DEFAULT_CGROUP_PARENT: &str = "pocky";
pub const CGROUP_PARENT_ENV: &str = "POCKY_CGROUP_PARENT";
/// An empty cgroup younger than this may belong to a `run` (of another
/// state root) that has made it but not yet moved its process in.
const CGROUP_GRACE: Duration = Duration::from_secs(60);

/// What a prune removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    pub containers: Vec<String>,
    /// Unreadable image records (every readable image is kept).
    pub images: Vec<String>,
    pub volumes: Vec<String>,
    pub layers: Vec<String>,
    /// User networks no container was on (`system prune`).
    pub networks: Vec<String>,
    /// Unused images untagged and deleted (`system prune`).
    pub removed_images: Vec<crate::images::Removal>,
    /// Build cache entries removed (`system prune`).
    pub build_cache: usize,
    /// Bytes freed.
    pub reclaimed: u64,
}

/// Stopped containers, broken records, the debris of crashed commands,
/// unused layers and blobs, and with `volumes` the anonymous volumes no
/// container uses.
pub fn prune(store: &Store, volumes: bool) -> crate::Result<PruneReport> {
    prune_with(
        store,
        &SystemPrune {
            volumes,
            ..SystemPrune::default()
        },
    )
}

/// What `system prune` is asked to remove beyond its defaults.
#[derive(Debug, Clone, Default)]
pub struct SystemPrune {
    /// `--volumes`: the unused anonymous volumes too.
    pub volumes: bool,
    /// `-a`: every unused image, not only the untagged ones.
    pub all_images: bool,
    /// `--filter until=`, `label=`, `label!=`: for containers, images and
    /// networks (volumes take the label ones).
    pub filters: Vec<String>,
}

/// `system prune`: as [`prune`], and as Docker's, the user networks no
/// container is on, the untagged (with `all_images` every unused) images
/// and the build cache.
pub fn prune_with(store: &Store, opts: &SystemPrune) -> crate::Result<PruneReport> {
    let mut report = prune_inner(store, opts).map_err(crate::Error::from)?;
    report.networks = crate::networks::prune(store, &opts.filters)?;
    let filter = PruneFilter::parse(store, &opts.filters)?;
    let images =
        crate::tag::prune_images(store, opts.all_images, &|i| filter.keeps_image(store, i))?;
    report.removed_images = images.removed;
    report.reclaimed += images.reclaimed;
    if opts.filters.is_empty() {
        let cache = crate::build::prune_cache(store)?;
        report.reclaimed += cache.reclaimed;
        report.build_cache = cache.entries;
    }
    Ok(report)
}

fn prune_inner(store: &Store, opts: &SystemPrune) -> Result<PruneReport> {
    let mut reclaimed = 0u64;
    let filter = PruneFilter::parse(store, &opts.filters)?;

    let mut parents: HashSet<String> = [DEFAULT_CGROUP_PARENT.to_owned()].into();
    parents.extend(std::env::var(CGROUP_PARENT_ENV).ok());
    let (mut deleted, size) = remove_stopped(store, &mut parents, &filter)?;
    reclaimed += size;

    // Without a record a live container cannot be told from a dead one:
    // one with processes in its cgroup stays (and says so) for `rm -f`.
    for b in store.broken_containers()? {
        let size = tree_size(&store.container_dir(&b.id)?);
        match crate::broken::remove_container(store, &b.id, false) {
            Ok(()) => {
                reclaimed += size;
                deleted.push(b.id);
            }
            Err(e) => eprintln!("pocky: {}", crate::one_line(&e)),
        }
    }
    let mut broken_images = Vec::new();
    for b in store.broken_images()? {
        match crate::broken::remove_image(store, &b.id) {
            Ok(()) => broken_images.push(b.id),
            Err(e) => eprintln!("pocky: {}", crate::one_line(&e)),
        }
    }

    let mut orphans = HashSet::new();
    {
        // Under the store lock: a container being created has its directory
        // and record written together under it, so none is caught midway.
        let _lock = store.lock()?;
        for dir in store.orphan_container_dirs()? {
            let size = tree_size(&dir);
            state::unmount_under(&dir);
            store.remove_tree(&dir)?;
            reclaimed += size;
            if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
                orphans.insert(id.to_owned());
            }
        }
    }

    let known: HashSet<String> = store.containers()?.into_iter().map(|c| c.id).collect();
    prune_cgroups(&parents, &known, &orphans);
    if let Err(e) = crate::netsetup::prune(store, &known) {
        eprintln!("pocky: pruning networks: {e:#}");
    }

    // As Docker: volumes only with --volumes, and then the anonymous ones.
    let mut volumes = Vec::new();
    if opts.volumes {
        let labels: Vec<String> = opts
            .filters
            .iter()
            .filter(|f| f.starts_with("label"))
            .cloned()
            .collect();
        let before = tree_size(&store.layout().volumes());
        volumes = crate::volumes::prune_filtered(store, false, &labels)?;
        reclaimed += before.saturating_sub(tree_size(&store.layout().volumes()));
    }

    let data = [store.layout().layers(), store.layout().blobs()];
    let before: u64 = data.iter().map(|d| tree_size(d)).sum();
    let collected = store.collect_garbage()?;
    let after: u64 = data.iter().map(|d| tree_size(d)).sum();
    reclaimed += before.saturating_sub(after);

    Ok(PruneReport {
        containers: deleted,
        images: broken_images,
        volumes,
        layers: collected.layers,
        reclaimed,
        ..PruneReport::default()
    })
}

/// `container prune`: the stopped containers only.
pub fn prune_containers(store: &Store, filters: &[String]) -> crate::Result<PruneReport> {
    prune_containers_inner(store, filters).map_err(crate::Error::from)
}

fn prune_containers_inner(store: &Store, filters: &[String]) -> Result<PruneReport> {
    let filter = PruneFilter::parse(store, filters)?;
    let (containers, reclaimed) = remove_stopped(store, &mut HashSet::new(), &filter)?;
    Ok(PruneReport {
        containers,
        reclaimed,
        ..PruneReport::default()
    })
}

/// Removes every container that neither runs nor has an owner; notes the
/// cgroup parents the containers used. Returns their ids and the bytes freed.
fn remove_stopped(
    store: &Store,
    parents: &mut HashSet<String>,
    filter: &PruneFilter,
) -> Result<(Vec<String>, u64)> {
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for rec in store.containers()? {
        if let Some((parent, _)) = rec.cgroup.trim_matches('/').rsplit_once('/') {
            parents.insert(parent.to_owned());
        }
        let Some(rec) = state::refresh_listed(store, rec)? else {
            continue;
        };
        if rec.state.status == Some(Status::Running) || state::owner_alive(store, &rec.id)? {
            continue;
        }
        if !filter.keeps(rec.created, &rec.labels) {
            continue;
        }
        let size = tree_size(&store.container_dir(&rec.id)?);
        state::remove_container(store, &rec)?;
        crate::events::container(store, &rec, "destroy", &[]);
        reclaimed += size;
        deleted.push(rec.id);
    }

    Ok((deleted, reclaimed))
}

/// Removes cgroups under the cgroup parents pocky uses that no container
/// of this state root owns. Other state roots (another `--root`) share the
/// parents, so a cgroup is killed only when its id is known debris of this
/// root (an orphan directory just removed); otherwise it is removed only
/// when empty and old enough not to be a container starting right now.
fn prune_cgroups(parents: &HashSet<String>, known: &HashSet<String>, orphans: &HashSet<String>) {
    let Ok(h) = Hierarchy::detect() else { return };
    let mounts: Vec<PathBuf> = match &h {
        Hierarchy::V1(mounts) => mounts.iter().map(|(_, m)| m.to_owned()).collect(),
        Hierarchy::V2 { root } => vec![root.clone()],
    };
    let mut seen = HashSet::new();
    for parent in parents {
        // Checked like any cgroup path: `..` must not reach the root.
        let Ok(rel) = CgroupPath::new(parent) else {
            continue;
        };
        for mount in &mounts {
            prune_under(&h, parent, &rel.under(mount), known, orphans, &mut seen);
        }
    }
}

fn prune_under(
    h: &Hierarchy,
    parent: &str,
    dir: &Path,
    known: &HashSet<String>,
    orphans: &HashSet<String>,
    seen: &mut HashSet<String>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_container_id(&name) || known.contains(&name) || !seen.insert(name.clone()) {
            continue;
        }
        let path = format!("{parent}/{name}");
        let Ok(cg) = Cgroup::new(h, &path) else {
            continue;
        };
        if orphans.contains(&name) {
            let _ = cg.kill_all();
        } else if !cg.pids().is_ok_and(|p| p.is_empty()) || !older_than(&cg, CGROUP_GRACE) {
            crate::log::debug!("leaving cgroup {path}: in use or new");
            continue;
        }
        if let Err(e) = cg.remove() {
            crate::log::debug!("removing cgroup {path}: {e}");
        }
    }
}

fn older_than(cg: &Cgroup, age: Duration) -> bool {
    let now = SystemTime::now();
    cg.dirs().iter().all(|d| {
        std::fs::metadata(d)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|a| a >= age))
            // A directory already gone is no reason to keep the rest.
            || !d.exists()
    })
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Bytes of the files below `dir`, not following links nor crossing into
/// other filesystems (a still-mounted rootfs would count the image).
pub(crate) fn tree_size(dir: &Path) -> u64 {
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}
