use std::fs;
use std::path::PathBuf;

use crate::atomic::write_atomic;
use crate::containers::{BrokenContainer, ContainerRecord, ContainerStore};
use crate::error::{Result, StoreError};
use crate::store::Store;

impl Store {
    /// The container's directory: record, bundle (config.json), rootfs
    /// mount point, overlay upper and work dirs, generated /etc files, log.
    pub fn container_dir(&self, id: &str) -> Result<PathBuf> {
        if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(StoreError::NoSuchContainer(id.to_owned()));
        }
        Ok(self.layout().containers().join(id))
    }

    fn record_path(&self, id: &str) -> Result<PathBuf> {
        Ok(self.container_dir(id)?.join("container.json"))
    }

    fn read_container(&self, id: &str) -> Result<ContainerRecord> {
        let path = self.record_path(id)?;
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchContainer(id.to_owned()));
            }
            Err(e) => return Err(StoreError::io("reading", &path)(e)),
        };
        serde_json::from_slice(&data).map_err(|source| StoreError::Corrupt { path, source })
    }

    /// Every container directory: its record, or why it cannot be read.
    /// A directory whose record is gone (being created or removed right
    /// now, or debris for prune) is in neither list.
    fn scan_containers(&self) -> Result<(Vec<ContainerRecord>, Vec<BrokenContainer>)> {
        let mut good = Vec::new();
        let mut broken = Vec::new();
        for id in crate::store::list_names(&self.layout().containers())? {
            if self.container_dir(&id).is_err() {
                continue;
            }
            match self.read_container(&id) {
                Ok(rec) => good.push(rec),
                Err(StoreError::NoSuchContainer(_)) => {}
                Err(e) => broken.push(BrokenContainer {
                    modified: modified(&self.record_path(&id)?),
                    id,
                    reason: broken_reason(&e),
                }),
            }
        }
        good.sort_by(|a, b| b.created.total_cmp(&a.created).then(a.id.cmp(&b.id)));
        broken.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((good, broken))
    }

    fn write_container(&self, rec: &ContainerRecord) -> Result<()> {
        let path = self.record_path(&rec.id)?;
        let data = serde_json::to_vec_pretty(rec).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &data)
    }
}

impl ContainerStore for Store {
    fn create_container(&self, record: &ContainerRecord) -> Result<()> {
        let _lock = self.lock()?;
        // Checked under the lock that `rmi` takes too: an image cannot be
        // removed between this check and the record that pins it.
        if !self
            .layout()
            .images()
            .join(format!("{}.json", crate::sha256_hex(&record.image_id)?))
            .exists()
        {
            return Err(StoreError::NoSuchImage(record.image_id.clone()));
        }
        if let Some(other) = self
            .containers()?
            .into_iter()
            .find(|c| c.name == record.name)
        {
            return Err(StoreError::NameInUse {
                name: record.name.clone(),
                id: other.id,
            });
        }
        let dir = self.container_dir(&record.id)?;
        fs::create_dir_all(self.layout().containers())
            .map_err(StoreError::io("creating", self.layout().containers()))?;
        crate::spread::mark_top_dir(&self.layout().containers());
        fs::create_dir(&dir).map_err(StoreError::io("creating", &dir))?;
        self.write_container(record)
    }

    fn containers(&self) -> Result<Vec<ContainerRecord>> {
        Ok(self.scan_containers()?.0)
    }

    fn broken_containers(&self) -> Result<Vec<BrokenContainer>> {
        Ok(self.scan_containers()?.1)
    }

    fn remove_broken_container(&self, id: &str) -> Result<bool> {
        let _lock = self.lock()?;
        if self.read_container(id).is_ok() {
            return Ok(false);
        }
        let dir = self.container_dir(id)?;
        crate::staging::remove_tree(&self.layout().tmp(), &dir)?;
        Ok(true)
    }

    fn find_container(&self, query: &str) -> Result<ContainerRecord> {
        let (all, broken) = self.scan_containers()?;
        // Only ids reach a broken one: its name is what cannot be read.
        let hit: Vec<_> = broken
            .iter()
            .filter(|b| !query.is_empty() && b.id.starts_with(query))
            .collect();
        if !all
            .iter()
            .any(|c| c.name == query || c.id.starts_with(query))
            && let [b] = hit[..]
        {
            return Err(StoreError::BrokenContainer {
                id: b.id.clone(),
                reason: b.reason.clone(),
            });
        }
        if let Some(c) = all.iter().find(|c| c.id == query || c.name == query) {
            return Ok(c.clone());
        }
        let query_name = query.strip_prefix('/').unwrap_or(query);
        if let Some(c) = all.iter().find(|c| c.name == query_name) {
            return Ok(c.clone());
        }
        let matches: Vec<_> = all
            .into_iter()
            .filter(|c| !query.is_empty() && c.id.starts_with(query))
            .collect();
        match matches.len() {
            0 => Err(StoreError::NoSuchContainer(query.to_owned())),
            1 => Ok(matches.into_iter().next().unwrap_or_else(|| unreachable!())),
            count => Err(StoreError::Ambiguous {
                query: query.to_owned(),
                count,
            }),
        }
    }

    fn update_container(
        &self,
        id: &str,
        f: &mut dyn FnMut(&mut ContainerRecord),
    ) -> Result<ContainerRecord> {
        let _lock = self.lock()?;
        let mut rec = self.read_container(id)?;
        f(&mut rec);
        self.write_container(&rec)?;
        Ok(rec)
    }

    fn rename_container(&self, id: &str, name: &str) -> Result<ContainerRecord> {
        let _lock = self.lock()?;
        if let Some(other) = self
            .scan_containers()?
            .0
            .into_iter()
            .find(|c| c.name == name && c.id != id)
        {
            return Err(StoreError::NameInUse {
                name: name.to_owned(),
                id: other.id,
            });
        }
        let mut rec = self.read_container(id)?;
        rec.name = name.to_owned();
        self.write_container(&rec)?;
        Ok(rec)
    }

    fn remove_container(&self, id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let dir = self.container_dir(id)?;
        // The record goes first: a crash after it leaves a directory without
        // a record, which listings skip and prune deletes.
        match fs::remove_file(dir.join("container.json")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("removing", &dir)(e)),
        }
        crate::staging::remove_tree(&self.layout().tmp(), &dir)
    }
}

impl Store {
    /// Directories under containers/ that have no record: what a crash
    /// between creating a directory and writing its record, or during a
    /// removal, leaves behind.
    pub fn orphan_container_dirs(&self) -> Result<Vec<PathBuf>> {
        let dir = self.layout().containers();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(vec![]);
        };
        Ok(entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.join("container.json").exists())
            .collect())
    }

    /// Deletes a directory tree through the store's trash, so it vanishes
    /// from its name at once.
    pub fn remove_tree(&self, path: &std::path::Path) -> Result<()> {
        crate::staging::remove_tree(&self.layout().tmp(), path)
    }
}

/// Why a record could not be read, in one line.
pub(crate) fn broken_reason(e: &StoreError) -> String {
    match e {
        StoreError::Corrupt { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// A file's mtime in Unix seconds; 0 when it cannot be read.
pub(crate) fn modified(path: &std::path::Path) -> f64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}
