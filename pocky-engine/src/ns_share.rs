//! `--pid`, `--ipc`, `--uts`, `--cgroupns` and `--network container:NAME`:
//! a namespace of the host's, of another container's, or the container's
//! own. The host's is simply left out of the spec's list. Another
//! container's is named at create (it must exist) but joined at each
//! start, when its process, and so its `/proc/PID/ns/...`, is known: the
//! spec carries the target's id in an annotation and [`resolve`] turns it
//! into the namespace's path just before the launch.

use anyhow::{Result, bail};
use oci_spec::runtime::{LinuxNamespaceType, MountBuilder, Spec};
use pocky_store::{ContainerStore, Store};

use crate::invalid;
use crate::request::RunRequest;

/// `io.pocky.ns.<kind>` = the id of the container whose namespace of that
/// kind this one joins.
const PREFIX: &str = "io.pocky.ns.";

/// The modes of the namespaces a container can share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Its own (Docker's `private`, and `shareable` for IPC).
    Own,
    Host,
    /// Another container's, by id.
    Container(String),
}

/// Parses one of `--pid`, `--ipc`, `--uts`, `--cgroupns`.
pub fn mode(store: &Store, flag: &str, value: Option<&str>) -> Result<Mode> {
    let container_ok = matches!(flag, "--pid" | "--ipc" | "--uts");
    Ok(match value.unwrap_or("") {
        "" | "private" => Mode::Own,
        "shareable" if flag == "--ipc" => Mode::Own,
        "host" => Mode::Host,
        v => match v.strip_prefix("container:") {
            Some(name) if container_ok && !name.is_empty() => {
                Mode::Container(crate::state::find(store, name)?.id)
            }
            _ => bail!(invalid!("invalid value {v:?} for {flag}")),
        },
    })
}

fn file_of(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Time => "time",
    }
}

/// What `args` asks of the spec's namespaces; `network` is the network
/// settings' own mode (`container:<id>` joins that container's).
pub fn apply(store: &Store, spec: &mut Spec, args: &RunRequest, network: &str) -> Result<()> {
    let mut wanted = vec![
        (
            LinuxNamespaceType::Pid,
            mode(store, "--pid", args.pid.as_deref())?,
        ),
        (
            LinuxNamespaceType::Ipc,
            mode(store, "--ipc", args.ipc.as_deref())?,
        ),
        (
            LinuxNamespaceType::Uts,
            mode(store, "--uts", args.uts.as_deref())?,
        ),
        (
            LinuxNamespaceType::Cgroup,
            mode(store, "--cgroupns", args.cgroupns.as_deref())?,
        ),
    ];
    if let Some(id) = network.strip_prefix("container:") {
        wanted.push((LinuxNamespaceType::Network, Mode::Container(id.to_owned())));
    }
    let uts_shared = !matches!(wanted[2].1, Mode::Own);
    if uts_shared && args.hostname.is_some() {
        bail!(invalid!("conflicting options: hostname and the UTS mode"));
    }
    if uts_shared && args.domainname.is_some() {
        bail!(invalid!("conflicting options: domainname and the UTS mode"));
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut list = linux.namespaces().clone().unwrap_or_default();
    let mut annotations = spec.annotations().clone().unwrap_or_default();
    for (kind, m) in &wanted {
        match m {
            Mode::Own => {}
            Mode::Host => list.retain(|n| n.typ() != *kind),
            Mode::Container(id) => {
                annotations.insert(format!("{PREFIX}{}", file_of(*kind)), id.clone());
            }
        }
    }
    linux.set_namespaces(Some(list));
    spec.set_linux(Some(linux));
    spec.set_annotations(Some(annotations));
    if uts_shared {
        // The names are the host's or the other container's to set.
        spec.set_hostname(None);
    }
    if wanted[1].1 == Mode::Host {
        // The host's IPC namespace comes with the host's /dev/shm, as in
        // Docker.
        replace_shm(spec, "/dev/shm")?;
    }
    Ok(())
}

/// Binds `source` at `/dev/shm` instead of the container's own tmpfs.
fn replace_shm(spec: &mut Spec, source: &str) -> Result<()> {
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for m in mounts.iter_mut() {
        if m.destination().as_os_str() == "/dev/shm" {
            *m = MountBuilder::default()
                .destination("/dev/shm")
                .typ("bind")
                .source(source)
                .options(vec!["rbind".to_owned(), "rprivate".to_owned()])
                .build()?;
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// The spec to launch with: every namespace shared with another container
/// given that container's live process's path. Fails, as Docker does,
/// when that container does not run. A joined IPC namespace brings SysV
/// IPC and POSIX message queues; `/dev/shm` stays the container's own
/// tmpfs: a mount of the other container's cannot be bound across mount
/// namespaces, and pocky keeps no host-side mount for it as dockerd does.
pub fn resolve(store: &Store, spec: &Spec) -> Result<Spec> {
    let annotations = spec.annotations().clone().unwrap_or_default();
    let joined: Vec<(&str, &String)> = annotations
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|kind| (kind, v)))
        .collect();
    if joined.is_empty() {
        return Ok(spec.clone());
    }
    let mut spec = spec.clone();
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut list = linux.namespaces().clone().unwrap_or_default();
    for (kind, id) in joined {
        let target = store.find_container(id).map_err(|_| {
            invalid!("cannot join the {kind} namespace of container {id}: it no longer exists")
        })?;
        if !crate::state::process_alive(&target) {
            bail!(crate::conflict!(
                "cannot join the {kind} namespace of container {}: it is not running",
                target.name
            ));
        }
        let pid = target.state.pid;
        for n in list.iter_mut() {
            if file_of(n.typ()) == kind {
                n.set_path(Some(format!("/proc/{pid}/ns/{kind}").into()));
            }
        }
    }
    linux.set_namespaces(Some(list));
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// The containers whose namespaces `spec` joins, by id.
pub fn joined(spec: &Spec) -> Vec<String> {
    spec.annotations()
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(PREFIX))
        .map(|(_, v)| v.clone())
        .collect()
}
