//! `diff`: what a container changed in its filesystem, from its overlay
//! upper directory (which is a plain directory on the host whether the
//! container runs or not) against its image's layers.

use std::path::PathBuf;

pub use pocky_fs::{Change, ChangeKind};
use pocky_store::{ImageQuery, ImageStore, Store};

use crate::{Result, state};

pub fn diff(store: &Store, name: &str) -> Result<Vec<Change>> {
    let rec = state::find(store, name)?;
    let dir = store.container_dir(&rec.id)?;
    let image = store.find_image(&ImageQuery::IdPrefix(rec.image_id.clone()))?;
    let overlay = crate::create::overlay_of(store, &dir, &image)?;
    let skip = mount_points(&state::bundle_spec(store, &rec.id)?);
    Ok(pocky_fs::changes(&overlay.upper, &overlay.lowers, &skip)?)
}

/// The spec's mount points (/etc/hosts, volumes, tmpfs): the runtime makes
/// them in the upper directory, and what is mounted there is not the
/// container's layer.
pub fn mount_points(spec: &oci_spec::runtime::Spec) -> Vec<PathBuf> {
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().clone())
        .collect()
}
