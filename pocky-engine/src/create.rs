//! Creating a container: everything `run` does before the first process
//! starts. The record is written first (it reserves the name), then the
//! bundle; any failure after that removes the container again.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::spec::{self, NetworkMode, Resources, RunOptions};
use anyhow::{Context, Result};
use oci_spec::runtime::{Mount, MountBuilder};
use pocky_fs::rootfs::Overlay;
use pocky_store::{
    ContainerRecord, ContainerState, ContainerStore, ImageRecord, ImageStore, Status, Store,
};

use crate::flags;
use crate::request::RunRequest;

/// A created container, ready to start.
pub struct Created {
    pub record: ContainerRecord,
    pub dir: PathBuf,
    pub spec: oci_spec::runtime::Spec,
    pub overlay: Overlay,
}

impl Created {
    /// A `--rm` container's upper layer goes with its end, so its overlay
    /// is mounted `volatile`, whether it is made now or started again.
    fn new(
        record: ContainerRecord,
        dir: PathBuf,
        spec: oci_spec::runtime::Spec,
        overlay: Overlay,
    ) -> Created {
        Created {
            overlay: Overlay {
                volatile: record.auto_remove,
                ..overlay
            },
            record,
            dir,
            spec,
        }
    }
}

pub fn create(
    store: &Store,
    args: &RunRequest,
    image_name: &str,
    image: &ImageRecord,
    cmd: &[String],
) -> crate::Result<Created> {
    create_inner(store, args, image_name, image, cmd).map_err(crate::Error::from)
}

fn create_inner(
    store: &Store,
    args: &RunRequest,
    image_name: &str,
    image: &ImageRecord,
    cmd: &[String],
) -> Result<Created> {
    // The image's config, read once for everything below.
    let config = crate::image_config::read(store, image)?;
    let net = crate::netsetup::settings(store, args, &config.exposed_ports)?;
    let network = net.mode();
    let resources = Resources {
        memory: args.memory.as_deref().map(flags::memory).transpose()?,
        nano_cpus: args.cpus.map(flags::nano_cpus).transpose()?,
        cpu_shares: args.cpu_shares,
        pids: args.pids_limit.filter(|p| *p > 0),
    };
    let env = flags::environment(&args.env, &args.env_file)?;
    flags::check_cgroup_parent(&args.cgroup_parent)?;
    let restart_policy = args.restart.clone().filter(|p| p != "no");
    if let Some(p) = &restart_policy {
        crate::restart::Policy::parse(p)?;
        if args.rm {
            anyhow::bail!(crate::invalid!("conflicting options: --restart and --rm"));
        }
    }
    let log = crate::log_config::parse(args.log_driver.as_deref(), &args.log_opt)?;
    let user_health = crate::health::config::from_flags(args)?;
    let crate::image_config::ImageConfig {
        defaults,
        stop_signal: image_stop_signal,
        mut labels,
        healthcheck: image_health,
        volumes: image_volumes,
        ..
    } = config;
    let healthcheck = crate::health::config::merge(user_health, image_health);
    labels.extend(flags::labels(&args.label, &args.label_file)?);
    // Checked here so a bad signal fails the run, not a later stop.
    let stop_signal = args.stop_signal.clone().or(image_stop_signal);
    if let Some(sig) = &stop_signal {
        pocky_runtime::process::parse_signal(sig)
            .with_context(|| format!("stop signal of the container ({sig})"))?;
    }
    let mut mount_flags = crate::mount_flags::parse_all(&args.volume, &args.mount, &args.tmpfs)?;
    let inherited = crate::volumes_from::flags(store, &args.volumes_from, &mount_flags)?;
    mount_flags.extend(inherited);
    let volumes = crate::volumes_setup::plan(store, &mount_flags, &image_volumes)?;
    let id = random_id()?;
    let name = match &args.name {
        Some(n) => {
            flags::check_name(n)?;
            n.clone()
        }
        None => generate_name(store)?,
    };
    // With the host's network or UTS namespace the host's name too, and
    // with another container's network that container's, as Docker does.
    let uts_host = args.uts.as_deref() == Some("host");
    let joined_net = net.network.strip_prefix("container:");
    let hostname = match (&args.hostname, network) {
        (Some(h), _) => h.clone(),
        (None, _) if let Some(target) = joined_net => store.find_container(target)?.hostname,
        (None, NetworkMode::Host) => host_name().unwrap_or_else(|| id[..12].to_owned()),
        (None, _) if uts_host => host_name().unwrap_or_else(|| id[..12].to_owned()),
        (None, _) => id[..12].to_owned(),
    };
    // Docker's Config.Entrypoint: the flag's, else the image's.
    let entrypoint_given = match &args.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => defaults.entrypoint.clone(),
    };
    let opts = RunOptions {
        hostname: hostname.clone(),
        entrypoint: args.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![]
            } else {
                vec![e.clone()]
            }
        }),
        args: cmd.to_vec(),
        env,
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        tty: args.tty,
        read_only: args.read_only,
        resources,
        network,
        cgroups_path: format!("{}/{id}", args.cgroup_parent.trim_matches('/')),
        mounts: crate::volumes_setup::merge(
            etc_mounts(&store.container_dir(&id)?)?,
            volumes.mounts.clone(),
        ),
        security: crate::security_flags::options(args)?,
    };
    // Built before anything is written: a bad flag leaves no trace.
    let mut spec = spec::build(&defaults, &opts)?;
    crate::ns_share::apply(store, &mut spec, args, &net.network)?;
    crate::run_flags::apply(&mut spec, args, network == NetworkMode::Host)?;
    // Last: it looks at every limit the flags above asked for.
    let cgroup = crate::rootless::adapt_spec(
        &mut spec,
        args.userns.as_deref(),
        if !args.device.is_empty() {
            Some("--device")
        } else if !args.device_cgroup_rule.is_empty() {
            Some("--device-cgroup-rule")
        } else {
            None
        },
        args.user.as_deref().is_some_and(|u| !u.is_empty()),
    )?;
    if let Some(p) = spec.process() {
        pocky_runtime::unsupported::check_process(p)?;
    }
    let record = ContainerRecord {
        id: id.clone(),
        name,
        image: image_name.to_owned(),
        image_id: image.id.clone(),
        command: spec
            .process()
            .as_ref()
            .and_then(|p| p.args().clone())
            .unwrap_or_default(),
        created: crate::state::now(),
        hostname: hostname.clone(),
        auto_remove: args.rm,
        tty: args.tty,
        interactive: args.interactive,
        stdin_once: args.stdin_once,
        detached: args.detach,
        cgroup,
        stop_signal,
        stop_timeout: args.stop_timeout,
        restart_policy,
        labels,
        healthcheck,
        host: pocky_store::HostFlags {
            log,
            binds: args.volume.clone(),
            cap_add: args.cap_add.clone(),
            cap_drop: args.cap_drop.clone(),
            privileged: args.privileged,
            devices: args.device.clone(),
            tmpfs: args.tmpfs.clone(),
            security_opt: args.security_opt.clone(),
            entrypoint: entrypoint_given,
            read_only: args.read_only,
        },
        state: ContainerState {
            status: Some(Status::Created),
            ..ContainerState::default()
        },
    };
    let mut record = record;
    // A generated name can be taken by a concurrent run between choosing
    // and recording it: choose again, as only the record reserves it.
    let mut tries = 0;
    loop {
        match store.create_container(&record) {
            Err(pocky_store::StoreError::NameInUse { .. }) if args.name.is_none() && tries < 16 => {
                tries += 1;
                record.name = generate_name(store)?;
            }
            other => break other?,
        }
    }
    let dir = store.container_dir(&id)?;
    let prepared = crate::volumes_setup::attach(store, &id, &volumes, image)
        .and_then(|()| prepare_bundle(store, &dir, &spec, image, &hostname))
        .and_then(|o| crate::netsetup::write_files(store, &id, &dir, &hostname, &net).map(|()| o));
    match prepared {
        Ok(overlay) => {
            crate::events::container(store, &record, "create", &[]);
            Ok(Created::new(record, dir, spec, overlay))
        }
        Err(e) => {
            let used = store.container_volumes(&id).unwrap_or_default();
            let _ = store.remove_container(&id);
            crate::volumes_setup::remove_anonymous(store, &used);
            Err(e)
        }
    }
}

/// A container made before, ready to start again: its bundle, upper
/// layer, volumes and network settings as they are on disk.
pub fn reopen(store: &Store, record: ContainerRecord) -> crate::Result<Created> {
    reopen_inner(store, record).map_err(crate::Error::from)
}

fn reopen_inner(store: &Store, record: ContainerRecord) -> Result<Created> {
    let dir = store.container_dir(&record.id)?;
    let spec = crate::state::bundle_spec(store, &record.id)?;
    let image = store
        .find_image(&pocky_store::ImageQuery::IdPrefix(record.image_id.clone()))
        .with_context(|| format!("the image of container {}", record.name))?;
    let overlay = overlay_of(store, &dir, &image)?;
    Ok(Created::new(record, dir, spec, overlay))
}

pub(crate) fn overlay_of(store: &Store, dir: &Path, image: &ImageRecord) -> Result<Overlay> {
    Ok(Overlay {
        lowers: crate::storage::lowers(store, image)?,
        upper: dir.join("upper"),
        work: dir.join("work"),
        // Used only by images with too many layers for one mount option.
        links: Some(dir.join("l")),
        volatile: false,
    })
}

fn prepare_bundle(
    store: &Store,
    dir: &Path,
    spec: &oci_spec::runtime::Spec,
    image: &ImageRecord,
    hostname: &str,
) -> Result<Overlay> {
    for sub in ["rootfs", "upper", "work"] {
        fs::create_dir(dir.join(sub))
            .with_context(|| format!("creating {sub} of the container"))?;
    }
    // The bundle is derived from the record and written once: no fsync.
    // `/etc/hosts` and `/etc/resolv.conf` are the network settings' to
    // write (`netsetup::write_files`).
    pocky_store::write_derived(&dir.join("hostname"), format!("{hostname}\n").as_bytes())?;
    let json = serde_json::to_vec_pretty(spec)?;
    pocky_store::write_derived(&dir.join("config.json"), &json)?;
    overlay_of(store, dir, image)
}

fn etc_mounts(dir: &Path) -> Result<Vec<Mount>> {
    ["hostname", "hosts", "resolv.conf"]
        .iter()
        .map(|f| {
            MountBuilder::default()
                .destination(PathBuf::from(format!("/etc/{f}")))
                .typ("bind")
                .source(dir.join(f))
                .options(vec!["rbind".to_string(), "rprivate".to_string()])
                .build()
                .map_err(|e| anyhow::anyhow!("building mount of /etc/{f}: {e}"))
        })
        .collect()
}

fn host_name() -> Option<String> {
    nix::unistd::gethostname().ok()?.into_string().ok()
}

/// 64 hex digits from the kernel's random source.
pub fn random_id() -> Result<String> {
    let mut buf = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "calm", "clever", "cosmic", "eager", "fancy", "gentle", "happy",
    "jolly", "keen", "lucid", "merry", "nimble", "quirky", "serene", "sharp", "swift", "witty",
];
const NOUNS: &[&str] = &[
    "babbage", "curie", "dijkstra", "einstein", "fermi", "galileo", "hopper", "knuth", "lovelace",
    "mccarthy", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
    "yonath", "zuse", "hamilton",
];

/// Docker-style `adjective_name`, avoiding names in use.
fn generate_name(store: &Store) -> Result<String> {
    let taken: Vec<String> = store.containers()?.into_iter().map(|c| c.name).collect();
    for _ in 0..64 {
        let r = random_id()?;
        let a = usize::from_str_radix(&r[..4], 16).unwrap_or(0) % ADJECTIVES.len();
        let n = usize::from_str_radix(&r[4..8], 16).unwrap_or(0) % NOUNS.len();
        let name = format!("{}_{}", ADJECTIVES[a], NOUNS[n]);
        if !taken.contains(&name) {
            return Ok(name);
        }
    }
    Ok(format!("pocky_{}", &random_id()?[..12]))
}
