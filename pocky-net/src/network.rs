//! Network definitions and their leases under the state directory:
//! `<dir>/<name>.json` and `<dir>/<name>.leases.json`, changed only under
//! the directory's lock.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::NetError;
use crate::files::{read_json, write_json};
use crate::ipam::Leases;
use crate::options::{BridgeOptions, Ipv6Config, NetworkSpec};
use crate::pool;
use crate::subnet::Subnet;
use crate::subnet6::Subnet6;

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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `--ip-range`: where dynamic addresses come from (the whole subnet
    /// when unset; `--ip` may still name any host address of the subnet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Subnet>,
    /// `--aux-address NAME=IP`: addresses never leased.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, IpAddr>,
    /// `--internal`: no NAT, no route out, nothing forwarded in or out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// The bridge driver's `-o` options.
    #[serde(default, skip_serializing_if = "BridgeOptions::is_default")]
    pub options: BridgeOptions,
    /// `--ipv6`: the network's IPv6 half.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Config>,
}

impl Network {
    /// The IPv4 addresses never leased besides network, gateway and
    /// broadcast: the aux addresses.
    pub fn reserved(&self) -> Vec<Ipv4Addr> {
        self.aux_addresses
            .values()
            .filter_map(|a| match a {
                IpAddr::V4(v) => Some(*v),
                IpAddr::V6(_) => None,
            })
            .collect()
    }

    /// [`Network::reserved`] for IPv6.
    pub fn reserved6(&self) -> Vec<std::net::Ipv6Addr> {
        self.aux_addresses
            .values()
            .filter_map(|a| match a {
                IpAddr::V6(v) => Some(*v),
                IpAddr::V4(_) => None,
            })
            .collect()
    }
}

/// The state directory of all networks.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
    /// The default network's bridge when it is first defined: `pocky0`
    /// for the conventional state root, a name of its own for any other,
    /// so that roots sharing a network namespace (tests, a second
    /// `--root`) never share a bridge one of them may delete.
    default_bridge: Option<String>,
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

/// Whether the address at `offset` of a subnet of `size` addresses may be
/// a host's (and so a gateway): neither the first nor, for IPv4, the
/// broadcast address; IPv6 has no broadcast, but the last address is left
/// out too, as Docker leaves it.
fn usable(offset: Option<u128>, size: u128) -> bool {
    offset.is_some_and(|o| o >= 1 && o < size - 1)
}

impl Networks {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            default_bridge: None,
        }
    }

    /// Names the bridge the default network gets when it is first
    /// defined (a recorded network keeps its own).
    pub fn with_default_bridge(mut self, name: String) -> Self {
        self.default_bridge = Some(name);
        self
    }

    pub(crate) fn default_bridge(&self) -> Option<&str> {
        self.default_bridge.as_deref()
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
    /// `routed` and `routed6` are the host's routes, which an automatic
    /// subnet avoids and a given one must not overlap. `default` names the
    /// default network's bridge (its definition on first use).
    pub(crate) fn define(
        &self,
        name: &str,
        spec: &NetworkSpec,
        routed: &[Subnet],
        routed6: &[Subnet6],
        default: Option<&str>,
    ) -> Result<Network, NetError> {
        check_name(name)?;
        if read_json::<Network>(&self.def_path(name))?.is_some() {
            return Err(NetError::NetworkExists(name.to_owned()));
        }
        let others = self.list()?;
        if let Some(b) = &spec.bridge
            && others.iter().any(|n| &n.bridge == b)
        {
            return Err(NetError::Invalid(format!(
                "bridge {b} belongs to another network already"
            )));
        }
        let mut taken: Vec<Subnet> = others.iter().map(|n| n.subnet).collect();
        taken.extend_from_slice(routed);
        let subnet = match spec.subnet {
            Some(s) if taken.iter().any(|t| t.overlaps(&s)) => {
                return Err(NetError::SubnetOverlaps(s.to_string()));
            }
            Some(s) => s,
            None => pool::choose(&taken).ok_or(NetError::NoFreeSubnet)?,
        };
        let gateway = match spec.gateway {
            Some(g) if !usable(subnet.offset(g).map(u128::from), u128::from(subnet.size())) => {
                return Err(NetError::AddressOutside {
                    addr: g.to_string(),
                    subnet: subnet.to_string(),
                });
            }
            Some(g) => g,
            None => subnet.gateway(),
        };
        let id = random_hex()?;
        let ipv6 = if spec.ipv6 {
            let mut taken6: Vec<Subnet6> = others
                .iter()
                .filter_map(|n| n.ipv6.as_ref().map(|v| v.subnet))
                .collect();
            taken6.extend_from_slice(routed6);
            let subnet6 = match spec.subnet6 {
                Some(s) if taken6.iter().any(|t| t.overlaps(&s)) => {
                    return Err(NetError::SubnetOverlaps(s.to_string()));
                }
                Some(s) => s,
                None => pool::ula(&id, &taken6).ok_or(NetError::NoFreeSubnet)?,
            };
            let gateway6 = match spec.gateway6 {
                Some(g) if !usable(subnet6.offset(g), subnet6.size()) => {
                    return Err(NetError::AddressOutside {
                        addr: g.to_string(),
                        subnet: subnet6.to_string(),
                    });
                }
                Some(g) => g,
                None => subnet6.gateway(),
            };
            Some(Ipv6Config {
                subnet: subnet6,
                gateway: gateway6,
                ip_range: spec.ip_range6,
            })
        } else {
            None
        };
        let bridge = match (default, &spec.bridge) {
            (Some(b), _) => b.to_owned(),
            (None, Some(b)) => b.clone(),
            (None, None) => format!("pocky-{}", &id[..8]),
        };
        let net = Network {
            name: name.to_owned(),
            bridge,
            subnet,
            gateway,
            user_defined: default.is_none(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            id,
            labels: spec.labels.clone(),
            ip_range: spec.ip_range,
            aux_addresses: spec.aux_addresses.clone(),
            internal: spec.internal,
            options: spec.options.clone(),
            ipv6,
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
