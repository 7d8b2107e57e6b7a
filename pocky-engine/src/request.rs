//! What a front end asks of the engine, as plain data: no parser's types.
//! The fields are Docker's `run`/`create` flags, with Docker's syntax in the
//! strings (`-v`, `--mount`, `-p`, `--memory 64m`), which the API's
//! HostConfig carries the same way (`Binds`, `Mounts`) or converts to.

use std::path::PathBuf;

/// A network a container joins besides its first, with its names and
/// fixed address there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<std::net::Ipv4Addr>,
    pub ip6: Option<std::net::Ipv6Addr>,
    /// `--link NAME[:ALIAS]`s on this network (user networks only).
    pub links: Vec<String>,
}

/// `run` and `create`: the container to make and how to run it.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Run in the background and print the container id.
    pub detach: bool,
    /// Keep stdin open.
    pub interactive: bool,
    /// Close the container's stdin when the first attached client ends
    /// its input (the API's `StdinOnce`, which `docker run -i` sets).
    pub stdin_once: bool,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Remove the container when it exits.
    pub rm: bool,
    /// Name of the container.
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy the host's).
    pub env: Vec<String>,
    /// Read environment variables from a file.
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    pub workdir: Option<String>,
    /// User: name|uid[:group|gid].
    pub user: Option<String>,
    /// Override the image's entrypoint ("" clears it).
    pub entrypoint: Option<String>,
    /// Container hostname (default: the short id).
    pub hostname: Option<String>,
    /// Memory limit, e.g. 64m, 1g.
    pub memory: Option<String>,
    /// Number of CPUs, e.g. 1.5.
    pub cpus: Option<f64>,
    /// Relative CPU weight.
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes (-1 for unlimited).
    pub pids_limit: Option<i64>,
    /// Network: bridge, none, host, or a network made by `pocky network create`.
    pub network: String,
    /// Publish a port: [[ip:]hostPort:]containerPort[/tcp|/udp].
    pub publish: Vec<String>,
    /// Publish every port the image exposes, on random host ports.
    pub publish_all: bool,
    /// Another name of the container on a user network.
    pub network_alias: Vec<String>,
    /// Networks joined after the first at create (`--network` given more
    /// than once, the API's further endpoints), as `network connect`.
    pub more_networks: Vec<Endpoint>,
    /// Fixed IPv4 address on the network.
    pub ip: Option<std::net::Ipv4Addr>,
    /// DNS server for /etc/resolv.conf.
    pub dns: Vec<std::net::IpAddr>,
    /// Add a line to /etc/hosts: NAME:IP.
    pub add_host: Vec<String>,
    // Network flags of issue 16, kept together (`net_flags.rs` checks
    // them; `netsetup::settings` records them).
    /// `--ip6`: fixed IPv6 address on a network made with `--ipv6`.
    pub ip6: Option<std::net::Ipv6Addr>,
    /// `--mac-address`: the MAC address of the container's first interface.
    pub mac_address: Option<String>,
    /// `--dns-search`: search domains of /etc/resolv.conf (`.` for none).
    pub dns_search: Vec<String>,
    /// `--dns-option`: words of /etc/resolv.conf's `options` line.
    pub dns_option: Vec<String>,
    /// `--expose`: PORT[/PROTO] or START-END[/PROTO], besides the image's.
    pub expose: Vec<String>,
    /// `--link`: NAME[:ALIAS] of another container.
    pub link: Vec<String>,
    /// Mount the container's root filesystem read-only.
    pub read_only: bool,
    /// Bind mount or volume: [HOST-DIR|NAME:]CONTAINER-DIR[:ro|rw,nocopy].
    pub volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=...,target=...,readonly,...
    pub mount: Vec<String>,
    /// Mount a tmpfs: PATH[:size=64m,mode=1777,...].
    pub tmpfs: Vec<String>,
    /// Add a Linux capability (or ALL).
    pub cap_add: Vec<String>,
    /// Drop a Linux capability (or ALL).
    pub cap_drop: Vec<String>,
    /// Every capability, no seccomp filter, no masked paths, every device allowed.
    pub privileged: bool,
    /// seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges.
    pub security_opt: Vec<String>,
    /// Give the container a host device: HOST[:CONTAINER][:rwm].
    pub device: Vec<String>,
    /// Parent cgroup of the container's cgroup.
    pub cgroup_parent: String,
    /// Platform to pull if the image is missing.
    pub platform: Option<String>,
    /// Signal `stop` sends first (default: the image's StopSignal, else
    /// SIGTERM).
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL unless told with -t (default 10).
    pub stop_timeout: Option<u64>,
    /// `-l/--label`: KEY=VALUE (or KEY, for an empty value).
    pub label: Vec<String>,
    /// `--label-file`: a file of such lines.
    pub label_file: Vec<PathBuf>,
    /// `--restart`: no, always, unless-stopped, on-failure[:N].
    pub restart: Option<String>,
    /// `--health-cmd`: the check, run with the container's `/bin/sh -c`.
    pub health_cmd: Option<String>,
    /// `--health-interval`, `--health-timeout`, `--health-start-period`,
    /// `--health-start-interval`: Go durations (`1s`, `500ms`, `1m30s`).
    pub health_interval: Option<String>,
    pub health_timeout: Option<String>,
    pub health_start_period: Option<String>,
    pub health_start_interval: Option<String>,
    /// `--health-retries`: consecutive failures that make it unhealthy.
    pub health_retries: Option<i64>,
    /// `--no-healthcheck`: switch off the image's HEALTHCHECK.
    pub no_healthcheck: bool,
    // --- logging (`--log-driver`, `--log-opt`; `log_config` checks them) ---
    /// `--log-driver`: json-file (None: the default) or none.
    pub log_driver: Option<String>,
    /// `--log-opt KEY=VALUE`: max-size, max-file, labels, env, tag.
    pub log_opt: Vec<String>,
    // --- end of logging ---
    /// Image, then the command and its arguments.
    pub image_and_command: Vec<String>,

    // More of Docker's run flags, in Docker's syntax (see run_flags.rs).
    /// `--cpuset-cpus`, `--cpuset-mems`: `0-3`, `0,1`.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `--cpu-period`, `--cpu-quota` (µs), `--cpu-rt-period`,
    /// `--cpu-rt-runtime`.
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    /// `--memory-swap` (memory plus swap; `-1` unlimited),
    /// `--memory-reservation`: sizes as `-m` takes them.
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    /// `--memory-swappiness` 0..100 (-1: the kernel's).
    pub memory_swappiness: Option<i64>,
    /// `--kernel-memory`: refused by name (kernels no longer have it).
    pub kernel_memory: Option<String>,
    pub oom_kill_disable: bool,
    /// `--oom-score-adj` -1000..1000.
    pub oom_score_adj: Option<i32>,
    /// `--blkio-weight` 10..1000 (0: unset), `--blkio-weight-device
    /// DEV:W`, `--device-{read,write}-{bps,iops} DEV:RATE`.
    pub blkio_weight: Option<u16>,
    pub blkio_weight_device: Vec<String>,
    pub device_read_bps: Vec<String>,
    pub device_write_bps: Vec<String>,
    pub device_read_iops: Vec<String>,
    pub device_write_iops: Vec<String>,
    /// `--device-cgroup-rule 'c 1:3 rwm'`.
    pub device_cgroup_rule: Vec<String>,
    /// `--ulimit nofile=1024:2048`.
    pub ulimit: Vec<String>,
    /// `--sysctl net.ipv4.ip_forward=1`: namespaced ones only.
    pub sysctl: Vec<String>,
    /// `--group-add` a group name or gid.
    pub group_add: Vec<String>,
    /// `--shm-size` of /dev/shm (Docker's 64m by default).
    pub shm_size: Option<String>,
    /// `--annotation KEY=VALUE`, into the OCI spec.
    pub annotation: Vec<String>,
    /// `--domainname` (NIS domain name in the UTS namespace).
    pub domainname: Option<String>,
    /// `--pid`, `--ipc`, `--uts`: `host`, `container:NAME` (pid, ipc),
    /// `private`/`shareable` (ipc).
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    /// `--cgroupns host|private`.
    pub cgroupns: Option<String>,
    /// `--init`: pocky's init as PID 1, reaping and forwarding signals.
    pub init: bool,
    /// `--volumes-from CONTAINER[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// Flags pocky refuses by name when given (`--gpus`, `--runtime`,
    /// `--storage-opt`, `--isolation`...): `(flag, value)`.
    pub refused: Vec<(String, String)>,
}
