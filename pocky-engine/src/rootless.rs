//! Rootless mode in the engine: what a container's spec becomes when the
//! user is not root (pocky-rootless holds the session itself), and
//! `--userns`. See docs/ROOTLESS.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, Spec,
};
use pocky_net::PortMapping;
use pocky_rootless::relay::Listener;
use serde::{Serialize, de::DeserializeOwned};

pub use pocky_rootless::{RootlessError, Session, session};

/// Sets the process up for its user (see `pocky_rootless::enter`) and
/// returns the state root: the first thing a front end does.
pub fn enter(root: Option<&Path>) -> Result<PathBuf, RootlessError> {
    let state = pocky_rootless::enter(root)?;
    if let Some(s) = session() {
        pocky_net::set_base_lock_path(s.firewall_lock());
    }
    Ok(state)
}

/// What the network work of `in_netns` sends back: its value, or its
/// error's kind and message (the kind decides an API status code).
#[derive(serde::Serialize, serde::Deserialize)]
enum Answer<T> {
    Done(T),
    Failed(char, String),
}

/// Runs `f`, which changes networks (bridges, veths, rules), where the
/// caller's networks live: here for root, in the user's network namespace
/// for a rootless caller (a forked child does it there, see
/// `pocky_rootless::netns`). Must not be called from a thread that other
/// threads' locks could trouble: the child is a fork.
pub fn in_netns<T: Serialize + DeserializeOwned>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let Some(s) = session() else {
        return f();
    };
    let bytes = pocky_rootless::netns::run_in(&s.netns_path(), || {
        let answer = match f() {
            Ok(v) => Answer::Done(v),
            Err(e) => {
                let e = crate::Error::from(e);
                let kind = match e.kind() {
                    crate::Kind::NotFound => 'n',
                    crate::Kind::Conflict => 'c',
                    crate::Kind::Invalid => 'i',
                    crate::Kind::NotImplemented => 'u',
                    crate::Kind::Internal => 'x',
                };
                Answer::Failed(kind, crate::one_line(&e))
            }
        };
        serde_json::to_vec(&answer).unwrap_or_default()
    })?;
    let answer: Answer<T> =
        serde_json::from_slice(&bytes).context("the answer of the network work")?;
    match answer {
        Answer::Done(v) => Ok(v),
        Answer::Failed(kind, message) => Err(match kind {
            'n' => crate::Error::NotFound(message),
            'c' => crate::Error::Conflict(message),
            'i' => crate::Error::Invalid(message),
            'u' => crate::Error::NotImplemented(message),
            _ => crate::Error::Internal(anyhow::anyhow!(message)),
        }
        .into()),
    }
}

/// Refuses what a rootless container cannot have on the network: a host
/// port below `net.ipv4.ip_unprivileged_port_start`, and any network at
/// all when the user's namespace has no way out (no slirp4netns).
pub fn check_network(attaches: bool, ports: &[PortMapping]) -> Result<()> {
    let Some(s) = session() else {
        return Ok(());
    };
    if attaches && let Err(why) = s.uplink() {
        bail!(crate::invalid!(
            "rootless networks need slirp4netns, which failed when the user's namespace \
             started ({why}): fix that and stop the namespace (`pocky system reset`), or \
             run with --network none"
        ));
    }
    for p in ports {
        pocky_rootless::relay::check_unprivileged(p.host_port)
            .map_err(|e| crate::invalid!("{e}"))?;
    }
    Ok(())
}

/// Binds a rootless container's published ports on the host (a free one
/// where none was asked for): the ports with their host ports filled in,
/// and the listeners for the relay.
pub fn bind_ports(ports: &[PortMapping]) -> Result<(Vec<PortMapping>, Vec<Listener>)> {
    let mut bound = Vec::with_capacity(ports.len());
    let mut listeners = Vec::with_capacity(ports.len());
    for p in ports {
        let udp = p.proto == pocky_net::Proto::Udp;
        let (l, port) =
            Listener::bind(p.host_ip, p.host_port, udp).map_err(|e| crate::conflict!("{e}"))?;
        bound.push(PortMapping {
            host_port: port,
            ..*p
        });
        listeners.push(l);
    }
    Ok((bound, listeners))
}

/// `--userns`: which user namespace a container runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Userns {
    /// Root: the host's; rootless: the user's namespace, root as the user.
    Default,
    /// `host`: the host's (root only).
    Host,
    /// `keep-id`: a namespace nested in the user's where the user's own
    /// uid and gid are themselves (rootless only).
    KeepId,
}

impl Userns {
    /// Parses the flag's value for a rootless (`rootless`) or root caller.
    pub fn parse(value: Option<&str>, rootless: bool) -> Result<Self> {
        let mode = match value.unwrap_or("") {
            "" => Userns::Default,
            "host" => Userns::Host,
            "keep-id" => Userns::KeepId,
            other => bail!(crate::invalid!(
                "--userns={other} is not supported: use host (root) or keep-id (rootless)"
            )),
        };
        match (mode, rootless) {
            (Userns::Host, true) => bail!(crate::invalid!(
                "--userns=host needs root: a rootless container always runs in the user's \
                 namespace"
            )),
            (Userns::KeepId, false) => bail!(crate::invalid!(
                "--userns=keep-id is for rootless pocky: root's containers run with the \
                 host's ids"
            )),
            _ => Ok(mode),
        }
    }
}

/// The resource settings of a spec that need a cgroup, named by the flag
/// that sets them and the cgroup v2 controller that enforces them.
fn limits_asked(spec: &Spec) -> Vec<(&'static str, &'static str)> {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Vec::new();
    };
    let mut asked = Vec::new();
    if r.memory().is_some() {
        asked.push(("--memory", "memory"));
    }
    if let Some(cpu) = r.cpu() {
        if cpu.quota().is_some() || cpu.period().is_some() {
            asked.push(("--cpus", "cpu"));
        }
        if cpu.shares().is_some() {
            asked.push(("--cpu-shares", "cpu"));
        }
        if cpu.cpus().is_some() || cpu.mems().is_some() {
            asked.push(("--cpuset-cpus", "cpuset"));
        }
    }
    if r.pids().is_some() {
        asked.push(("--pids-limit", "pids"));
    }
    if r.block_io().is_some() {
        asked.push(("--blkio-weight", "io"));
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        asked.push(("hugepage limits", "hugetlb"));
    }
    asked
}

/// The cgroup v2 subtree delegated to this user, if the host is v2 and
/// this process's cgroup is in one (see `pocky_cgroup::delegation`).
fn delegation() -> Option<pocky_cgroup::delegation::Delegated> {
    let Ok(pocky_cgroup::Hierarchy::V2 { root }) = pocky_cgroup::Hierarchy::detect() else {
        return None;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = pocky_cgroup::delegation::own_unified(&own)?;
    // In the user's namespace the user's own files are root's.
    pocky_cgroup::delegation::find(&root, &own, nix::unistd::geteuid().as_raw())
}

/// Refuses limits a rootless container cannot have: any, without a
/// delegated subtree; one whose controller the subtree lacks, with one.
fn check_limits(
    asked: &[(&'static str, &'static str)],
    delegated: Option<&pocky_cgroup::delegation::Delegated>,
) -> Result<()> {
    let Some(d) = delegated else {
        if asked.is_empty() {
            return Ok(());
        }
        let flags: Vec<&str> = asked.iter().map(|(f, _)| *f).collect();
        bail!(crate::invalid!(
            "{} needs a cgroup, and rootless pocky has none here (no delegated cgroup v2 \
             subtree, see docs/ROOTLESS.md): run without limits, or as root",
            flags.join(", ")
        ));
    };
    for (flag, controller) in asked {
        if !d.controllers.iter().any(|c| c == controller) {
            bail!(crate::invalid!(
                "{flag} needs the {controller} controller, which the delegated cgroup /{} \
                 does not have (its cgroup.controllers: {})",
                d.path.display(),
                d.controllers.join(" ")
            ));
        }
    }
    Ok(())
}

fn id_mappings(lines: &[pocky_rootless::subid::MapLine]) -> Result<Vec<LinuxIdMapping>> {
    lines
        .iter()
        .map(|l| {
            LinuxIdMappingBuilder::default()
                .container_id(l.inside)
                .host_id(l.outside)
                .size(l.count)
                .build()
                .map_err(|e| anyhow::anyhow!("building an id mapping: {e}"))
        })
        .collect()
}

/// Makes a new container's spec fit the caller: unchanged for root (but
/// for `--userns` checks); rootless, the container's cgroup goes below the
/// user's delegated cgroup v2 subtree, or without one it gets no cgroup
/// (and any limit is refused by name); it gets no device rules (a user
/// can load no device program, and the user namespace gives no device
/// access the user lacks), a device flag (`device_flag`, the first one
/// given) is refused, and with `keep-id` it gets a nested user namespace.
/// `user_given` says whether `-u` was.
/// Returns the container's cgroup path ("" for none).
pub fn adapt_spec(
    spec: &mut Spec,
    userns: Option<&str>,
    device_flag: Option<&str>,
    user_given: bool,
) -> Result<String> {
    let cgroup = || {
        spec.linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let Some(session) = session() else {
        Userns::parse(userns, false)?;
        return Ok(cgroup());
    };
    let mode = Userns::parse(userns, true)?;
    if let Some(flag) = device_flag {
        bail!(crate::invalid!(
            "{flag}: a rootless container cannot be given host devices (that needs root)"
        ));
    }
    let delegated = delegation();
    check_limits(&limits_asked(spec), delegated.as_ref())?;
    // Below the delegated subtree (`/DELEGATED/pocky/ID`), or none.
    let path = delegated.map(|d| {
        PathBuf::from("/")
            .join(d.path)
            .join(cgroup().trim_start_matches('/'))
    });
    let Some(linux) = spec.linux_mut() else {
        bail!("the spec has no linux section");
    };
    linux.set_cgroups_path(path.clone());
    if let Some(r) = linux.resources_mut() {
        r.set_devices(None);
    }
    if mode == Userns::KeepId {
        let keep = pocky_rootless::subid::keep_id_map;
        let uids = id_mappings(&keep(session.uid, session.mapped_uids))?;
        let gids = id_mappings(&keep(session.gid, session.mapped_gids))?;
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()
                .map_err(|e| anyhow::anyhow!("building the user namespace: {e}"))?,
        );
        linux.set_namespaces(Some(namespaces));
        linux.set_uid_mappings(Some(uids));
        linux.set_gid_mappings(Some(gids));
        if !user_given && let Some(p) = spec.process_mut() {
            let mut user = p.user().clone();
            user.set_username(None);
            user.set_uid(session.uid);
            user.set_gid(session.gid);
            p.set_user(user);
        }
    }
    Ok(path
        .map(|p| p.to_string_lossy().trim_start_matches('/').to_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userns_values_by_caller() {
        assert_eq!(Userns::parse(None, true).unwrap(), Userns::Default);
        assert_eq!(Userns::parse(Some(""), false).unwrap(), Userns::Default);
        assert_eq!(Userns::parse(Some("host"), false).unwrap(), Userns::Host);
        assert_eq!(
            Userns::parse(Some("keep-id"), true).unwrap(),
            Userns::KeepId
        );
        for (v, rootless) in [("host", true), ("keep-id", false), ("auto", true)] {
            let e = Userns::parse(Some(v), rootless).unwrap_err();
            assert!(e.to_string().contains("--userns"), "{e}");
        }
    }
}
