//! More of `run`/`create`'s flags: limits, process settings, namespaces,
//! and the flags pocky knows but refuses (with the reason, see
//! `pocky_engine::run_flags::refusal`).

use clap::Args;

#[derive(Debug, Args, Default)]
pub struct MoreRunArgs {
    /// Attach only these streams of a foreground run: stdin, stdout, stderr.
    #[arg(short, long, value_name = "STREAM")]
    pub attach: Vec<String>,
    /// Pass the signals pocky receives on to the container (default true);
    /// false drops them.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub sig_proxy: Option<bool>,
    /// Not supported: a foreground pocky run owns its container and cannot
    /// leave it running; use -d, then `pocky attach --detach-keys`.
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub limits: crate::cli_limits::LimitFlags,
    /// Memory swappiness, 0 to 100 (-1: the kernel's).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Refused: Linux 6.x has no kernel memory limit.
    #[arg(long, value_name = "BYTES")]
    pub kernel_memory: Option<String>,
    /// Disable the OOM killer for the container.
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// The host's OOM preference for the container (-1000 to 1000).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Block IO weight of a device: /dev/DEV:W.
    #[arg(long, value_name = "DEV:W")]
    pub blkio_weight_device: Vec<String>,
    /// Read rate limit of a device, bytes per second: /dev/DEV:RATE.
    #[arg(long, value_name = "DEV:RATE")]
    pub device_read_bps: Vec<String>,
    /// Write rate limit of a device, bytes per second: /dev/DEV:RATE.
    #[arg(long, value_name = "DEV:RATE")]
    pub device_write_bps: Vec<String>,
    /// Read rate limit of a device, IO per second: /dev/DEV:RATE.
    #[arg(long, value_name = "DEV:RATE")]
    pub device_read_iops: Vec<String>,
    /// Write rate limit of a device, IO per second: /dev/DEV:RATE.
    #[arg(long, value_name = "DEV:RATE")]
    pub device_write_iops: Vec<String>,
    /// A device cgroup rule: 'c 1:3 rwm'.
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
    /// A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core...).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// A namespaced sysctl: KEY=VALUE (net.*, kernel.shm*, kernel.msg*,
    /// kernel.sem, fs.mqueue.*).
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// A supplementary group for the process (name or gid).
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Size of /dev/shm (default 64m).
    #[arg(long, value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// An annotation for the OCI runtime: KEY=VALUE.
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// NIS domain name of the container.
    #[arg(long)]
    pub domainname: Option<String>,
    /// PID namespace: host or container:NAME (default: its own).
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// IPC namespace: private, shareable, host or container:NAME.
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// UTS namespace: host or container:NAME (default: its own).
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
    /// Cgroup namespace: host or private (default: private).
    #[arg(long, value_name = "MODE")]
    pub cgroupns: Option<String>,
    /// Run pocky's init as PID 1: it reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// Mount the volumes of another container: NAME[:ro|rw].
    #[arg(long, value_name = "CONTAINER[:ro|rw]")]
    pub volumes_from: Vec<String>,
    /// Suppress the pull output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Accepted: pocky verifies no image signatures (Docker's default, true).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_content_trust: Option<bool>,
    /// Not supported: no GPU runtime.
    #[arg(long, value_name = "GPUS")]
    pub gpus: Option<String>,
    /// Not supported: pocky runs containers with its own runtime.
    #[arg(long, value_name = "RUNTIME")]
    pub runtime: Option<String>,
    /// Not supported: no per-container storage quota.
    #[arg(long, value_name = "OPT")]
    pub storage_opt: Vec<String>,
    /// Not supported on Linux (Windows isolation).
    #[arg(long, value_name = "TECH")]
    pub isolation: Option<String>,
    /// Not supported: Windows only.
    #[arg(long, value_name = "N")]
    pub cpu_count: Option<String>,
    /// Not supported: Windows only.
    #[arg(long, value_name = "N")]
    pub cpu_percent: Option<String>,
    /// Not supported: Windows only.
    #[arg(long, value_name = "BYTES")]
    pub io_maxbandwidth: Option<String>,
    /// Not supported: Windows only.
    #[arg(long, value_name = "N")]
    pub io_maxiops: Option<String>,
    /// Not supported: the local volume driver only.
    #[arg(long, value_name = "DRIVER")]
    pub volume_driver: Option<String>,
    /// Not supported: link-local addresses are not managed.
    #[arg(long, value_name = "ADDR")]
    pub link_local_ip: Vec<String>,
    /// Not supported: no API socket is shared into containers.
    #[arg(long)]
    pub use_api_socket: bool,
}

impl MoreRunArgs {
    /// The engine's request fields these flags fill; the rest default.
    pub fn into_request_fields(self) -> pocky_engine::RunRequest {
        let mut refused = Vec::new();
        let mut refuse = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                refused.push((flag.to_owned(), v));
            }
        };
        refuse("--gpus", self.gpus);
        refuse("--runtime", self.runtime);
        refuse("--storage-opt", self.storage_opt.into_iter().next());
        refuse("--isolation", self.isolation.filter(|i| i != "default"));
        refuse("--cpu-count", self.cpu_count);
        refuse("--cpu-percent", self.cpu_percent);
        refuse("--io-maxbandwidth", self.io_maxbandwidth);
        refuse("--io-maxiops", self.io_maxiops);
        refuse(
            "--volume-driver",
            self.volume_driver.filter(|d| d != "local"),
        );
        refuse("--link-local-ip", self.link_local_ip.into_iter().next());
        refuse("--use-api-socket", self.use_api_socket.then(String::new));
        if self.disable_content_trust == Some(false) {
            refused.push(("--disable-content-trust".into(), "false".into()));
        }
        let mut req = pocky_engine::RunRequest {
            memory_swappiness: self.memory_swappiness,
            kernel_memory: self.kernel_memory,
            oom_kill_disable: self.oom_kill_disable,
            oom_score_adj: self.oom_score_adj,
            blkio_weight_device: self.blkio_weight_device,
            device_read_bps: self.device_read_bps,
            device_write_bps: self.device_write_bps,
            device_read_iops: self.device_read_iops,
            device_write_iops: self.device_write_iops,
            device_cgroup_rule: self.device_cgroup_rule,
            ulimit: self.ulimit,
            sysctl: self.sysctl,
            group_add: self.group_add,
            shm_size: self.shm_size,
            annotation: self.annotation,
            domainname: self.domainname,
            pid: self.pid,
            ipc: self.ipc,
            uts: self.uts,
            cgroupns: self.cgroupns,
            init: self.init,
            volumes_from: self.volumes_from,
            refused,
            ..Default::default()
        };
        self.limits.fill(&mut req);
        req
    }
}
