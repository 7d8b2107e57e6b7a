//! Volumes: directories under `volumes/<name>/_data` that containers mount
//! and that outlive them, with a record `volumes/<name>/volume.json`.
//!
//! Which container uses which volume is written in the container's own
//! directory (`containers/<id>/volumes.json`), by [`Store::claim_volumes`]
//! under the state lock, in the same critical section that creates the
//! missing volumes. `volume rm` and `volume prune` check users under that
//! lock too, so a volume can never be removed between its creation by a
//! `run` and the note that the container uses it.
//!
//! A volume appears whole or not at all: its directory is built in `tmp/`
//! and renamed into place; removal renames it into the trash first.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::error::{Result, StoreError};
use crate::staging::{self, Staging};
use crate::store::Store;

/// The only driver pocky has: a directory on the state root's filesystem.
pub const LOCAL_DRIVER: &str = "local";

const RECORD: &str = "volume.json";
const DATA: &str = "_data";
const USES: &str = "volumes.json";

/// A volume as `volume inspect` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// Unix seconds (with fractions) of creation.
    pub created: f64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Made for a container (`-v /path`, an image's `VOLUME`) rather than
    /// by name: `rm -v`, `run --rm` and a plain `volume prune` remove it.
    #[serde(default)]
    pub anonymous: bool,
    /// The driver's options (`volume create --opt`), as given; the engine
    /// checks and interprets them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A volume a container is about to use; created when missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeClaim {
    pub name: String,
    pub anonymous: bool,
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_volume_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && name.len() >= 2 {
        Ok(())
    } else {
        Err(StoreError::BadVolumeName(name.to_owned()))
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Store {
    /// `volumes/<name>`, after checking the name.
    pub fn volume_dir(&self, name: &str) -> Result<PathBuf> {
        check_volume_name(name)?;
        Ok(self.layout().volumes().join(name))
    }

    /// What containers mount: `volumes/<name>/_data`.
    pub fn volume_data_dir(&self, name: &str) -> Result<PathBuf> {
        Ok(self.volume_dir(name)?.join(DATA))
    }

    /// A scratch directory under `tmp/`, removed on drop, and by the next
    /// [`Store::open`] if this process dies first.
    pub fn scratch(&self) -> Result<Staging> {
        Staging::new(&self.layout().tmp())
    }

    fn read_volume(&self, name: &str) -> Result<VolumeRecord> {
        let path = self.volume_dir(name)?.join(RECORD);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchVolume(name.to_owned()));
            }
            Err(e) => return Err(StoreError::io("reading", &path)(e)),
        };
        serde_json::from_slice(&data).map_err(|source| StoreError::Corrupt { path, source })
    }

    /// The volume called `name`.
    pub fn volume(&self, name: &str) -> Result<VolumeRecord> {
        self.read_volume(name)
    }

    /// Every volume, oldest first.
    pub fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        let mut out = Vec::new();
        for name in crate::store::list_names(&self.layout().volumes())? {
            match self.read_volume(&name) {
                Ok(rec) => out.push(rec),
                // Removed meanwhile, or not a volume (a stray name).
                Err(StoreError::NoSuchVolume(_) | StoreError::BadVolumeName(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Creates the volume, or returns the existing one of that name (as
    /// `docker volume create` does). The bool says whether it is new.
    pub fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(VolumeRecord, bool)> {
        self.create_volume_with(name, labels, &BTreeMap::new())
    }

    /// [`Store::create_volume`] with the driver's `options`, recorded.
    pub fn create_volume_with(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        options: &BTreeMap<String, String>,
    ) -> Result<(VolumeRecord, bool)> {
        let _lock = self.lock()?;
        self.create_volume_locked(name, labels, options, false)
    }

    fn create_volume_locked(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        options: &BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<(VolumeRecord, bool)> {
        match self.read_volume(name) {
            Ok(rec) => return Ok((rec, false)),
            Err(StoreError::NoSuchVolume(_)) => {}
            Err(e) => return Err(e),
        }
        let dest = self.volume_dir(name)?;
        let parent = self.layout().volumes();
        fs::create_dir_all(&parent).map_err(StoreError::io("creating", &parent))?;
        let rec = VolumeRecord {
            name: name.to_owned(),
            driver: LOCAL_DRIVER.to_owned(),
            created: now(),
            labels: labels.clone(),
            anonymous,
            options: options.clone(),
        };
        let staging = self.scratch()?;
        let data_dir = staging.path().join(DATA);
        fs::create_dir(&data_dir).map_err(StoreError::io("creating", &data_dir))?;
        let json = serde_json::to_vec_pretty(&rec).map_err(|source| StoreError::Corrupt {
            path: dest.join(RECORD),
            source,
        })?;
        write_atomic(&staging.path().join(RECORD), &json)?;
        // Under the lock nobody else creates it: a false here is a directory
        // without a record (a crash of an older version); say so.
        if !staging.commit_to(&dest)? {
            return Err(StoreError::io("creating", &dest)(
                std::io::ErrorKind::AlreadyExists.into(),
            ));
        }
        Ok((rec, true))
    }

    /// Records that container `id` uses `claims`, creating the volumes that
    /// do not exist yet, all under the state lock. The container's record
    /// must exist (it is what makes the claim visible to `volume rm`).
    pub fn claim_volumes(&self, id: &str, claims: &[VolumeClaim]) -> Result<()> {
        let _lock = self.lock()?;
        let dir = self.container_dir(id)?;
        if !dir.join("container.json").exists() {
            return Err(StoreError::NoSuchContainer(id.to_owned()));
        }
        let mut names = Vec::new();
        for c in claims {
            self.create_volume_locked(&c.name, &BTreeMap::new(), &BTreeMap::new(), c.anonymous)?;
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        }
        let path = dir.join(USES);
        let json = serde_json::to_vec(&names).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &json)
    }

    /// The volumes container `id` uses (none for a container made before
    /// volumes existed, or one that is gone).
    pub fn container_volumes(&self, id: &str) -> Result<Vec<String>> {
        let path = self.container_dir(id)?.join(USES);
        match fs::read(&path) {
            Ok(d) => {
                serde_json::from_slice(&d).map_err(|source| StoreError::Corrupt { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
            Err(e) => Err(StoreError::io("reading", &path)(e)),
        }
    }

    /// Volume name → ids of the containers (with a record) that use it.
    pub fn volume_users(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let dir = self.layout().containers();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(out);
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if self.container_dir(&id).is_err() || !entry.path().join("container.json").exists() {
                continue;
            }
            for name in self.container_volumes(&id)? {
                out.entry(name).or_default().push(id.clone());
            }
        }
        Ok(out)
    }

    /// Ids of the containers that use volume `name`.
    pub fn containers_using_volume(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.volume_users()?.remove(name).unwrap_or_default())
    }

    /// Removes the volume and its data; refused while any container, running
    /// or not, uses it (as Docker does).
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        self.read_volume(name)?;
        if let Some(users) = self.volume_users()?.get(name) {
            let short: Vec<&str> = users.iter().map(|id| &id[..12]).collect();
            return Err(StoreError::VolumeInUse {
                name: name.to_owned(),
                containers: short.join(", "),
            });
        }
        staging::remove_tree(&self.layout().tmp(), &self.volume_dir(name)?)
    }

    /// Removes the volumes no container uses: the anonymous ones, or with
    /// `all` the named ones too. Returns the names removed.
    pub fn prune_volumes(&self, all: bool) -> Result<Vec<String>> {
        self.prune_volumes_where(all, &|_| true)
    }

    /// [`Store::prune_volumes`] of the volumes `keep` says yes to (a
    /// `--filter`), decided under the lock.
    pub fn prune_volumes_where(
        &self,
        all: bool,
        keep: &dyn Fn(&VolumeRecord) -> bool,
    ) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let users = self.volume_users()?;
        let mut removed = Vec::new();
        for v in self.volumes()? {
            if users.contains_key(&v.name) || !(all || v.anonymous) || !keep(&v) {
                continue;
            }
            staging::remove_tree(&self.layout().tmp(), &self.volume_dir(&v.name)?)?;
            removed.push(v.name);
        }
        Ok(removed)
    }

    /// Removes those of `names` that are anonymous and no longer used: what
    /// `rm -v` and `run --rm` do after removing their container.
    pub fn remove_anonymous_volumes(&self, names: &[String]) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let users = self.volume_users()?;
        let mut removed = Vec::new();
        for name in names {
            let Ok(v) = self.read_volume(name) else {
                continue;
            };
            if !v.anonymous || users.contains_key(name) {
                continue;
            }
            staging::remove_tree(&self.layout().tmp(), &self.volume_dir(name)?)?;
            removed.push(v.name);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for good in ["data", "a1", "my_vol.2-x", "0abc"] {
            assert!(check_volume_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "-x", "_x", ".x", "a/b", "..", "a b", "é1", "/abs"] {
            assert!(check_volume_name(bad).is_err(), "{bad}");
        }
    }
}
