//! What `network create` asks for, from Docker's flags (`--subnet`,
//! `--gateway`, `--ip-range`, `--aux-address`, `--ipv6`, `--internal`,
//! `-o`) to a checked [`NetworkSpec`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::NetError;
use crate::subnet::Subnet;
use crate::subnet6::Subnet6;

/// The bridge driver's options (`-o`) that pocky honours. Unset ones keep
/// Docker's defaults: the kernel's MTU (1500), containers of a network
/// reaching each other, and source NAT to the outside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeOptions {
    /// `com.docker.network.driver.mtu`: of the bridge and every veth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// `com.docker.network.bridge.enable_icc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icc: Option<bool>,
    /// `com.docker.network.bridge.enable_ip_masquerade`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masquerade: Option<bool>,
}

pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";

impl BridgeOptions {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Whether the network's containers may talk to each other directly.
    pub fn icc(&self) -> bool {
        self.icc.unwrap_or(true)
    }

    /// Whether traffic leaving the network takes the host's address.
    pub fn masquerade(&self) -> bool {
        self.masquerade.unwrap_or(true)
    }

    /// Docker's `Options` of network inspect: the ones that were set.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(v) = self.mtu {
            m.insert(OPT_MTU.to_owned(), v.to_string());
        }
        if let Some(v) = self.icc {
            m.insert(OPT_ICC.to_owned(), v.to_string());
        }
        if let Some(v) = self.masquerade {
            m.insert(OPT_MASQUERADE.to_owned(), v.to_string());
        }
        m
    }
}

/// IPv6 on a network: its subnet, the bridge's address, and where
/// dynamic addresses come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Config {
    pub subnet: Subnet6,
    pub gateway: Ipv6Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Subnet6>,
}

/// A network to create, checked for consistency but not yet against the
/// host (overlaps, links) or the other networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Subnet>,
    /// `--ipv6`: a dual-stack network, with `subnet6` or a generated
    /// unique local /64.
    pub ipv6: bool,
    pub subnet6: Option<Subnet6>,
    pub gateway6: Option<Ipv6Addr>,
    pub ip_range6: Option<Subnet6>,
    /// `--aux-address NAME=IP`: addresses never leased.
    pub aux_addresses: BTreeMap<String, IpAddr>,
    /// `--internal`: no way in or out but through the bridge.
    pub internal: bool,
    /// `-o com.docker.network.bridge.name=NAME`.
    pub bridge: Option<String>,
    pub options: BridgeOptions,
    pub labels: BTreeMap<String, String>,
}

/// Docker's flags as given, before checking.
#[derive(Debug, Clone, Default)]
pub struct NetworkFlags {
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub ip_ranges: Vec<String>,
    pub aux_addresses: Vec<String>,
    pub ipv6: bool,
    pub internal: bool,
    pub options: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
}

fn invalid(msg: String) -> NetError {
    NetError::Invalid(msg)
}

/// Go's `strconv.ParseBool`, which Docker reads these options with.
fn parse_bool(key: &str, v: &str) -> Result<bool, NetError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(invalid(format!(
            "network option {key}={v:?}: expected true or false"
        ))),
    }
}

/// A name the kernel takes for a link: 1-15 bytes, no `/`, no space, not
/// `.` or `..`. pocky also keeps to the characters `ip` prints plainly.
pub fn check_link_name(name: &str) -> Result<(), NetError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid bridge name {name:?}: 1 to 15 of A-Z a-z 0-9 _ . -"
        )))
    }
}

impl NetworkFlags {
    /// Checks the flags as Docker does: each `--gateway`, `--ip-range` and
    /// `--aux-address` belongs to the `--subnet` of its family that holds
    /// it; one subnet per family; IPv6 ones only with `--ipv6`.
    pub fn check(&self) -> Result<NetworkSpec, NetError> {
        let mut spec = NetworkSpec {
            ipv6: self.ipv6,
            internal: self.internal,
            labels: self.labels.clone(),
            ..NetworkSpec::default()
        };
        for s in &self.subnets {
            if s.contains(':') {
                if spec.subnet6.replace(s.parse()?).is_some() {
                    return Err(invalid("pocky takes one IPv6 --subnet per network".into()));
                }
            } else if spec.subnet.replace(s.parse()?).is_some() {
                return Err(invalid("pocky takes one IPv4 --subnet per network".into()));
            }
        }
        if spec.subnet6.is_some() && !self.ipv6 {
            return Err(invalid("an IPv6 --subnet needs --ipv6".into()));
        }
        let no_subnet = |what: &str, v: &str| {
            invalid(format!(
                "no matching subnet for {what} {v}: give the --subnet it is in"
            ))
        };
        for g in &self.gateways {
            match g.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if spec.subnet.is_some_and(|s| s.contains(a)) => {
                    spec.gateway = Some(a);
                }
                Ok(IpAddr::V6(a)) if spec.subnet6.is_some_and(|s| s.contains(a)) => {
                    spec.gateway6 = Some(a);
                }
                Ok(_) => return Err(no_subnet("gateway", g)),
                Err(_) => return Err(invalid(format!("invalid gateway {g:?}"))),
            }
        }
        for r in &self.ip_ranges {
            if r.contains(':') {
                let range: Subnet6 = r.parse()?;
                match spec.subnet6 {
                    Some(s) if s.covers(&range) => spec.ip_range6 = Some(range),
                    _ => return Err(no_subnet("range", r)),
                }
            } else {
                let range: Subnet = r.parse()?;
                match spec.subnet {
                    Some(s) if s.covers(&range) => spec.ip_range = Some(range),
                    _ => return Err(no_subnet("range", r)),
                }
            }
        }
        for a in &self.aux_addresses {
            let (name, addr) = a
                .split_once('=')
                .filter(|(n, _)| !n.is_empty())
                .ok_or_else(|| invalid(format!("invalid aux-address {a:?}: expected NAME=IP")))?;
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| invalid(format!("invalid aux-address {a:?}: bad address")))?;
            let inside = match ip {
                IpAddr::V4(v) => spec.subnet.is_some_and(|s| s.contains(v)),
                IpAddr::V6(v) => spec.subnet6.is_some_and(|s| s.contains(v)),
            };
            if !inside {
                return Err(no_subnet("aux-address", addr));
            }
            spec.aux_addresses.insert(name.to_owned(), ip);
        }
        for (k, v) in &self.options {
            match k.as_str() {
                OPT_BRIDGE_NAME => {
                    check_link_name(v)?;
                    spec.bridge = Some(v.clone());
                }
                OPT_MTU => {
                    let mtu = v.parse::<u32>().ok().filter(|m| (68..=65535).contains(m));
                    let mtu = mtu.ok_or_else(|| {
                        invalid(format!("invalid MTU {v:?}: a number from 68 to 65535"))
                    })?;
                    spec.options.mtu = Some(mtu);
                }
                OPT_ICC => spec.options.icc = Some(parse_bool(k, v)?),
                OPT_MASQUERADE => spec.options.masquerade = Some(parse_bool(k, v)?),
                other => {
                    return Err(invalid(format!(
                        "network option {other:?} is not supported: pocky takes {OPT_BRIDGE_NAME}, \
                         {OPT_MTU}, {OPT_ICC} and {OPT_MASQUERADE}"
                    )));
                }
            }
        }
        Ok(spec)
    }
}

/// Parses `-o KEY=VALUE` words.
pub fn parse_opts(words: &[String]) -> Result<Vec<(String, String)>, NetError> {
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| invalid(format!("invalid option {w:?}: expected KEY=VALUE")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(subnets: &[&str]) -> NetworkFlags {
        NetworkFlags {
            subnets: subnets.iter().map(|s| (*s).to_owned()).collect(),
            ..NetworkFlags::default()
        }
    }

    fn err(f: &NetworkFlags) -> String {
        f.check().unwrap_err().to_string()
    }

    #[test]
    fn gateways_ranges_and_aux_addresses_find_their_subnet() {
        let mut f = flags(&["10.5.0.0/16", "fd00:5::/64"]);
        f.ipv6 = true;
        f.gateways = vec!["10.5.0.254".into(), "fd00:5::fe".into()];
        f.ip_ranges = vec!["10.5.1.0/24".into(), "fd00:5::100/120".into()];
        f.aux_addresses = vec!["router=10.5.0.3".into(), "r6=fd00:5::3".into()];
        let s = f.check().unwrap();
        assert_eq!(s.gateway, Some(Ipv4Addr::new(10, 5, 0, 254)));
        assert_eq!(s.gateway6, Some("fd00:5::fe".parse().unwrap()));
        assert_eq!(s.ip_range.unwrap().to_string(), "10.5.1.0/24");
        assert_eq!(s.ip_range6.unwrap().to_string(), "fd00:5::100/120");
        assert_eq!(s.aux_addresses.len(), 2);
    }

    #[test]
    fn what_docker_refuses_is_refused() {
        let mut f = flags(&[]);
        f.gateways = vec!["10.5.0.1".into()];
        assert!(err(&f).contains("no matching subnet for gateway"));
        let mut f = flags(&["10.5.0.0/16"]);
        f.ip_ranges = vec!["10.6.0.0/24".into()];
        assert!(err(&f).contains("no matching subnet for range"));
        let mut f = flags(&["10.5.0.0/16"]);
        f.ip_ranges = vec!["10.0.0.0/8".into()];
        assert!(err(&f).contains("no matching subnet for range"), "wider");
        let mut f = flags(&["10.5.0.0/16"]);
        f.aux_addresses = vec!["x=10.6.0.1".into()];
        assert!(err(&f).contains("aux-address"));
        f.aux_addresses = vec!["10.5.0.9".into()];
        assert!(err(&f).contains("NAME=IP"));
        assert!(err(&flags(&["fd00::/64"])).contains("needs --ipv6"));
        assert!(err(&flags(&["10.1.0.0/16", "10.2.0.0/16"])).contains("one IPv4"));
        let mut f = flags(&[]);
        f.options = vec![(
            "com.docker.network.bridge.host_binding_ipv4".into(),
            "1.2.3.4".into(),
        )];
        assert!(
            err(&f).contains("host_binding_ipv4\" is not supported"),
            "{}",
            err(&f)
        );
        f.options = vec![(OPT_MTU.into(), "20".into())];
        assert!(err(&f).contains("invalid MTU"));
        f.options = vec![(OPT_ICC.into(), "maybe".into())];
        assert!(err(&f).contains("true or false"));
        f.options = vec![(OPT_BRIDGE_NAME.into(), "much-too-long-name".into())];
        assert!(err(&f).contains("invalid bridge name"));
    }

    #[test]
    fn options_parse_and_show_as_set() {
        let mut f = flags(&[]);
        f.options = parse_opts(&[
            format!("{OPT_BRIDGE_NAME}=br-test"),
            format!("{OPT_MTU}=1400"),
            format!("{OPT_ICC}=false"),
            format!("{OPT_MASQUERADE}=0"),
        ])
        .unwrap();
        let s = f.check().unwrap();
        assert_eq!(s.bridge.as_deref(), Some("br-test"));
        assert!(!s.options.icc() && !s.options.masquerade());
        assert_eq!(s.options.to_map()[OPT_MTU], "1400");
        assert_eq!(s.options.to_map()[OPT_ICC], "false");
        assert!(BridgeOptions::default().icc() && BridgeOptions::default().masquerade());
        assert!(parse_opts(&["novalue".into()]).is_err());
    }
}
