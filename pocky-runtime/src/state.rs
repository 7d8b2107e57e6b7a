//! The runtime binary's record of one container: `<root>/<id>/state.json`
//! (written atomically), the `exec.fifo` its init waits on between `create`
//! and `start`, and the OCI state that `state` prints and hooks read.
//!
//! The status is never stored: it is derived each time from whether the
//! init (pid plus start time, against pid reuse) is alive, whether the
//! FIFO still exists (created), and the freezer (paused). A crashed
//! runtime therefore cannot leave a status behind that is no longer true.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

use crate::RuntimeError;
use crate::process::is_alive;

/// The OCI runtime spec version the state documents follow.
pub const OCI_VERSION: &str = "1.0.2";
/// The FIFO the init blocks on until `start` opens it.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";
const SPEC_FILE: &str = "config.json";

/// A container's status as the OCI spec names them (plus runc's `paused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The state document of the OCI runtime spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// What `create` records for the later commands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub pid: i32,
    /// Start time of the init in clock ticks since boot (see
    /// [`crate::process::start_time`]).
    pub start_time: u64,
    /// RFC 3339.
    pub created: String,
    /// The cgroup made for the container, relative to the hierarchy root,
    /// or with `cgroup_base`, to the cgroups that lists.
    pub cgroup: Option<String>,
    /// The creating runtime's `/proc/self/cgroup` when the spec's
    /// `cgroupsPath` was relative (see [`crate::launch::open_cgroup`]).
    #[serde(default)]
    pub cgroup_base: Option<String>,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Kept so `delete` can run poststop hooks when the bundle is gone.
    #[serde(default)]
    pub hooks: Option<Hooks>,
}

/// `<root>/<id>`: one container's state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
    id: String,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let path = path.to_path_buf();
    move |source| RuntimeError::Io { op, path, source }
}

/// Ids become directory names and cgroup path parts: runc's character set.
pub fn validate_id(id: &str) -> Result<(), RuntimeError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::Config(format!(
            "invalid container id {id:?}: use letters, digits and _+-."
        )))
    }
}

impl StateDir {
    pub fn new(root: &Path, id: &str) -> Result<Self, RuntimeError> {
        validate_id(id)?;
        Ok(StateDir {
            dir: root.join(id),
            id: id.to_owned(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    pub fn exists(&self) -> bool {
        self.dir.join(STATE_FILE).exists()
    }

    /// Makes the directory; an existing one means the id is taken.
    pub fn create(&self) -> Result<(), RuntimeError> {
        if let Some(root) = self.dir.parent() {
            std::fs::create_dir_all(root).map_err(io_err("create state root", root))?;
        }
        match std::fs::create_dir(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(RuntimeError::State(
                format!("container with id {} already exists", self.id),
            )),
            Err(e) => Err(io_err("create state dir", &self.dir)(e)),
        }
    }

    /// Writes the record through a temp file, fsync and rename, so a
    /// reader sees the old record or the new one, never half of one.
    pub fn save(&self, record: &Record) -> Result<(), RuntimeError> {
        self.write_atomic(STATE_FILE, record)
    }

    fn write_atomic(&self, name: &str, value: &impl Serialize) -> Result<(), RuntimeError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let bytes = serde_json::to_vec(value)
            .map_err(|e| RuntimeError::State(format!("encoding {name}: {e}")))?;
        let mut f = std::fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))
    }

    /// Keeps the spec the container was created with: later commands
    /// (`exec`) follow it, not a config.json edited since, as runc does.
    pub fn save_spec(&self, spec: &oci_spec::runtime::Spec) -> Result<(), RuntimeError> {
        self.write_atomic(SPEC_FILE, spec)
    }

    /// The spec saved by [`StateDir::save_spec`]; `None` for a state dir
    /// that has none.
    pub fn load_spec(&self) -> Result<Option<oci_spec::runtime::Spec>, RuntimeError> {
        let path = self.dir.join(SPEC_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| RuntimeError::State(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    pub fn load(&self) -> Result<Record, RuntimeError> {
        let path = self.dir.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(self.id.clone()));
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| RuntimeError::State(format!("{}: {e}", path.display())))
    }

    /// The container's status now.
    pub fn status(&self, record: &Record) -> Status {
        if !is_alive(record.pid, record.start_time) {
            return Status::Stopped;
        }
        if self.fifo().exists() {
            return Status::Created;
        }
        if is_frozen(record) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The OCI state document for `record` with `status`.
    pub fn oci_state(&self, record: &Record, status: Status) -> OciState {
        OciState {
            oci_version: OCI_VERSION.to_owned(),
            id: record.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                record.pid
            },
            bundle: record.bundle.clone(),
            annotations: record.annotations.clone(),
        }
    }

    /// Removes the directory and everything in it; an absent one is fine.
    pub fn remove(&self) -> Result<(), RuntimeError> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove state dir", &self.dir)(e)),
        }
    }
}

/// Every container id under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, RuntimeError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read state root", root)(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// True when the freezer of the container's cgroup says it is frozen.
fn is_frozen(record: &Record) -> bool {
    let Ok(Some(cg)) = crate::control::cgroup_of(record) else {
        return false;
    };
    cg.is_frozen()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: i32, start_time: u64) -> Record {
        Record {
            id: "c1".into(),
            bundle: "/b".into(),
            pid,
            start_time,
            created: "2024-01-01T00:00:00Z".into(),
            cgroup: None,
            cgroup_base: None,
            annotations: HashMap::from([("a".into(), "b".into())]),
            hooks: None,
        }
    }

    #[test]
    fn ids_are_checked() {
        for bad in ["", ".", "..", "a/b", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        for good in ["abc", "A-1_2.3+4", "0123456789abcdef"] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn status_follows_process_and_fifo() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path(), "c1").unwrap();
        dir.create().unwrap();
        assert!(dir.create().is_err(), "a second create must fail");
        let me = std::process::id() as i32;
        let start = crate::process::start_time(me).unwrap();
        let rec = record(me, start);
        dir.save(&rec).unwrap();
        let loaded = dir.load().unwrap();
        assert_eq!(loaded.pid, me);
        std::fs::write(dir.fifo(), "").unwrap();
        assert_eq!(dir.status(&loaded), Status::Created);
        std::fs::remove_file(dir.fifo()).unwrap();
        assert_eq!(dir.status(&loaded), Status::Running);
        let gone = record(me, start + 1);
        assert_eq!(dir.status(&gone), Status::Stopped);
        assert_eq!(list_ids(root.path()).unwrap(), vec!["c1".to_owned()]);
        dir.remove().unwrap();
        assert!(matches!(dir.load(), Err(RuntimeError::NotFound(_))));
    }

    #[test]
    fn oci_state_matches_the_spec() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path(), "c1").unwrap();
        let v = serde_json::to_value(dir.oci_state(&record(42, 1), Status::Created)).unwrap();
        assert_eq!(v["ociVersion"], OCI_VERSION);
        assert_eq!(v["id"], "c1");
        assert_eq!(v["status"], "created");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["bundle"], "/b");
        assert_eq!(v["annotations"]["a"], "b");
        let v = serde_json::to_value(dir.oci_state(&record(42, 1), Status::Stopped)).unwrap();
        assert_eq!(v["pid"], 0);
    }
}
