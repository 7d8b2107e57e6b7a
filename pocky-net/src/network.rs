//! Network definitions and their leases under the state directory:
//! `<dir>/<name>.json` and `<dir>/<name>.leases.json`, changed only under
//! the directory's lock.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::NetError;
use crate::files::{read_json, write_json};
use crate::ipam::Leases;
use crate::subnet::{self, Subnet};

/// The network `pocky run` uses by default.
pub const DEFAULT_NETWORK: &str = "bridge";
/// Its bridge.
pub const DEFAULT_BRIDGE: &str = "pocky0";

/// One network: a bridge and its subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// Made by `pocky network create` (its containers resolve each other by
    /// name); false for the default network.
    pub user_defined: bool,
    /// Seconds since the epoch.
    pub created: u64,
    /// The user's labels (`docker network create --label`, compose's).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The state directory of all networks.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
}

fn check_name(name: &str) -> Result<(), NetError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(NetError::BadName(name.to_owned()))
    }
}

fn random_hex() -> Result<String, NetError> {
    let mut buf = [0u8; 32];
    let path = Path::new("/dev/urandom");
    fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .map_err(|e| NetError::io(path, e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Networks {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn def_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn leases_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.leases.json"))
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>, NetError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(NetError::io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|err| NetError::io(&self.dir, err))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            if stem.ends_with(".leases") || stem.starts_with('.') {
                continue;
            }
            if let Some(n) = read_json::<Network>(&e.path())? {
                out.push(n);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The network called `name` (or whose id starts with it).
    pub fn get(&self, name: &str) -> Result<Network, NetError> {
        if check_name(name).is_ok()
            && let Some(n) = read_json(&self.def_path(name))?
        {
            return Ok(n);
        }
        let by_id: Vec<Network> = self
            .list()?
            .into_iter()
            .filter(|n| name.len() >= 3 && n.id.starts_with(name))
            .collect();
        match <[Network; 1]>::try_from(by_id) {
            Ok([n]) => Ok(n),
            Err(_) => Err(NetError::NoSuchNetwork(name.to_owned())),
        }
    }

    pub fn leases(&self, name: &str) -> Result<Leases, NetError> {
        Ok(read_json(&self.leases_path(name))?.unwrap_or_default())
    }

    pub(crate) fn save_leases(&self, name: &str, leases: &Leases) -> Result<(), NetError> {
        write_json(&self.leases_path(name), leases)
    }

    /// Writes a new network definition. The caller holds the lock;
    /// `routed` are the host's routes, which an automatic subnet avoids.
    pub(crate) fn define(
        &self,
        name: &str,
        subnet: Option<Subnet>,
        routed: &[Subnet],
        default: Option<&str>,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<Network, NetError> {
        check_name(name)?;
        if read_json::<Network>(&self.def_path(name))?.is_some() {
            return Err(NetError::NetworkExists(name.to_owned()));
        }
        let taken: Vec<Subnet> = self.list()?.iter().map(|n| n.subnet).collect();
        let clashes = |s: &Subnet| taken.iter().chain(routed).any(|t| t.overlaps(s));
        let subnet = match subnet {
            Some(s) if clashes(&s) => return Err(NetError::SubnetOverlaps(s.to_string())),
            Some(s) => s,
            None => subnet::candidates()
                .find(|s| !clashes(s))
                .ok_or(NetError::NoFreeSubnet)?,
        };
        let id = random_hex()?;
        let bridge = match default {
            Some(b) => b.to_owned(),
            None => format!("pocky-{}", &id[..8]),
        };
        let net = Network {
            name: name.to_owned(),
            bridge,
            subnet,
            gateway: subnet.gateway(),
            user_defined: default.is_none(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            id,
            labels: labels.clone(),
        };
        fs::create_dir_all(&self.dir).map_err(|e| NetError::io(&self.dir, e))?;
        write_json(&self.def_path(name), &net)?;
        Ok(net)
    }

    /// Deletes a definition and its leases (the caller tore down the rest).
    pub(crate) fn undefine(&self, name: &str) -> Result<(), NetError> {
        for p in [self.leases_path(name), self.def_path(name)] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(NetError::io(&p, e)),
            }
        }
        Ok(())
    }
}
