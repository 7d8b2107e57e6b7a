use std::fs;
use std::path::PathBuf;

use crate::atomic::write_atomic;
use crate::containers::{ContainerRecord, ContainerStore};
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
        fs::create_dir(&dir).map_err(StoreError::io("creating", &dir))?;
        self.write_container(record)
    }

    fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let mut out = Vec::new();
        for id in crate::store::list_names(&self.layout().containers())? {
            match self.read_container(&id) {
                Ok(rec) => out.push(rec),
                // A directory without a record is a container being created
                // or removed right now, or debris that prune removes.
                Err(StoreError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.created.total_cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    fn find_container(&self, query: &str) -> Result<ContainerRecord> {
        let all = self.containers()?;
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
