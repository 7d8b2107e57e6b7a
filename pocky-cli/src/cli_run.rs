//! Arguments of the container commands.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
// `-h` is `--hostname`, as in Docker's run; help is `--help` only.
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct RunArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run in the background and print the container id.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Name of the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy the host's).
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User: name|uid[:group|gid].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Override the image's entrypoint ("" clears it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container hostname (default: the short id).
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Memory limit, e.g. 64m, 1g.
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs, e.g. 1.5.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Relative CPU weight.
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Network: bridge, none, host, or a network made by `pocky network
    /// create`; given again, the container joins those networks too. Long
    /// form: name=NET[,alias=NAME][,ip=ADDR].
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: Vec<String>,
    /// Publish a port: [[ip:]hostPort:]containerPort[/tcp|/udp].
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish every port the image exposes, on random host ports.
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Another name of the container on a user network.
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Fixed IPv4 address on the network.
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// DNS server for /etc/resolv.conf.
    #[arg(long)]
    pub dns: Vec<std::net::IpAddr>,
    /// Add a line to /etc/hosts: NAME:IP.
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    // Network flags of issue 16, kept together.
    /// Fixed IPv6 address on a network made with --ipv6.
    #[arg(long)]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// MAC address of the container's interface, e.g. 02:42:ac:11:00:02.
    #[arg(long, value_name = "MAC")]
    pub mac_address: Option<String>,
    /// Search domain for /etc/resolv.conf ("." for none).
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Option for /etc/resolv.conf, e.g. ndots:2.
    #[arg(long, value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Expose a port or a range: PORT[/PROTO] or START-END[/PROTO].
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// Link to another container: NAME[:ALIAS].
    #[arg(long, value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Bind mount or volume: [HOST-DIR|NAME:]CONTAINER-DIR[:ro|rw,nocopy].
    #[arg(short, long = "volume", value_name = "[SRC:]DST[:OPTS]")]
    pub volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=...,target=...,readonly,...
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs: PATH[:size=64m,mode=1777,...].
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Add a Linux capability (or ALL).
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability (or ALL).
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Every capability, no seccomp filter, no masked paths, every device allowed.
    #[arg(long)]
    pub privileged: bool,
    /// seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges.
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Give the container a host device: HOST[:CONTAINER][:rwm].
    #[arg(long, value_name = "DEVICE")]
    pub device: Vec<String>,
    /// Parent cgroup of the container's cgroup.
    #[arg(long, env = "POCKY_CGROUP_PARENT", default_value = "pocky")]
    pub cgroup_parent: String,
    /// Platform to pull if the image is missing.
    #[arg(long)]
    pub platform: Option<String>,
    /// When to pull the image: missing (default), always, never.
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pub pull: String,
    /// Write the container's id to this file (which must not exist).
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<std::path::PathBuf>,
    /// Signal `stop` sends first (default: the image's StopSignal, else
    /// SIGTERM).
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL unless told with -t (default 10).
    #[arg(long, value_name = "SECONDS")]
    pub stop_timeout: Option<u64>,
    /// Set a label: KEY=VALUE.
    #[arg(short = 'l', long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Read labels from a file of KEY=VALUE lines.
    #[arg(long)]
    pub label_file: Vec<PathBuf>,
    /// Restart policy: no, always, unless-stopped, on-failure[:max-retries].
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Command to run to check health (in the container's /bin/sh -c).
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h), default 30s.
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h), default 30s.
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy, default 3.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before failures count (ms|s|m|h), default 0s.
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h), default 5s.
    #[arg(long, value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    pub no_healthcheck: bool,
    // --- logging (see pocky_engine::log_config) ---
    /// Logging driver: json-file (the default) or none.
    #[arg(long, value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Log driver option, one KEY=VALUE each: max-size (10m), max-file
    /// (3), labels, env, tag.
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    // --- end of logging ---
    #[command(flatten)]
    pub more: crate::cli_run_more::MoreRunArgs,
    /// Image, then the command and its arguments.
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub image_and_command: Vec<String>,

    /// User namespace: host (root's default), keep-id (rootless: your own
    /// uid and gid inside).
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,
}

impl RunArgs {
    /// The engine's request: the same fields, without the parser's types.
    pub fn into_request(self) -> anyhow::Result<pocky_engine::RunRequest> {
        let mut networks = self
            .network
            .iter()
            .map(|n| pocky_engine::flags::network_endpoint(n))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter();
        let first = networks.next().unwrap_or_default();
        let mut network_alias = first.aliases;
        network_alias.extend(self.network_alias);
        Ok(pocky_engine::RunRequest {
            detach: self.detach,
            interactive: self.interactive,
            // A foreground run owns its stdin; `-d -i` keeps it for attaches.
            stdin_once: false,
            tty: self.tty,
            rm: self.rm,
            name: self.name,
            env: self.env,
            env_file: self.env_file,
            workdir: self.workdir,
            user: self.user,
            entrypoint: self.entrypoint,
            hostname: self.hostname,
            memory: self.memory,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            network: first.network,
            more_networks: networks.collect(),
            publish: self.publish,
            publish_all: self.publish_all,
            network_alias,
            ip: self.ip.or(first.ip),
            dns: self.dns,
            add_host: self.add_host,
            // Network flags of issue 16.
            ip6: self.ip6.or(first.ip6),
            mac_address: self.mac_address,
            dns_search: self.dns_search,
            dns_option: self.dns_option,
            expose: self.expose,
            link: self.link,
            read_only: self.read_only,
            volume: self.volume,
            mount: self.mount,
            tmpfs: self.tmpfs,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            privileged: self.privileged,
            security_opt: self.security_opt,
            device: self.device,
            cgroup_parent: self.cgroup_parent,
            platform: self.platform,
            stop_signal: self.stop_signal,
            stop_timeout: self.stop_timeout,
            label: self.label,
            label_file: self.label_file,
            restart: self.restart,
            health_cmd: self.health_cmd,
            health_interval: self.health_interval,
            health_timeout: self.health_timeout,
            health_retries: self.health_retries,
            health_start_period: self.health_start_period,
            health_start_interval: self.health_start_interval,
            no_healthcheck: self.no_healthcheck,
            // logging
            log_driver: self.log_driver,
            log_opt: self.log_opt,
            image_and_command: self.image_and_command,
            userns: self.userns,
            ..self.more.into_request_fields()
        })
    }
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Run in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read environment variables from a file (before -e, which wins).
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// User: name|uid[:group|gid].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Every capability and no seccomp filter for this process.
    #[arg(long)]
    pub privileged: bool,
    /// Keys that detach from an `-it` exec and leave it running
    /// (default ctrl-p,ctrl-q).
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Container, then the command and its arguments.
    #[arg(required = true, num_args = 2.., allow_hyphen_values = true)]
    pub container_and_command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Show only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `table`, `json`, or a Go template
    /// (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Do not truncate ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only containers that match: name=, id=, label=KEY[=VALUE],
    /// status=, ancestor=, exited=CODE (one key given twice: either).
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// The N containers created last (all states).
    #[arg(short = 'n', long)]
    pub last: Option<usize>,
    /// The container created last (all states).
    #[arg(short, long)]
    pub latest: bool,
    /// Add the SIZE column: the writable layer (and with the image).
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the log until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines from the end ("all" for everything).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only output from this time: Unix time, RFC 3339, or a duration
    /// before now (10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Only output up to this time (same forms).
    #[arg(long)]
    pub until: Option<String>,
    /// Show each line's attributes first (`--log-opt labels=/env=/tag=`),
    /// as key=value pairs.
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

// Commands that take only container names. (Not a doc comment: clap
// would make it the about of each such command.)
#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Follow the container's output (and pass signals on) until it exits.
    #[arg(short, long)]
    pub attach: bool,
    /// Send this process's stdin to the container (with -a).
    #[arg(short, long)]
    pub interactive: bool,
    /// Keys that detach from a `-t` container (with -a): ctrl-p,ctrl-q.
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Not supported: no checkpoint/restore (CRIU) in pocky.
    #[arg(long, value_name = "NAME")]
    pub checkpoint: Option<String>,
    /// Not supported: no checkpoint/restore (CRIU) in pocky.
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait for the stop before killing (default: the
    /// container's --stop-timeout, else 10).
    #[arg(short, long, alias = "timeout")]
    pub time: Option<u64>,
    /// Signal to stop with (default: the container's stop signal).
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing (default: the container's
    /// --stop-timeout, else 10).
    #[arg(short, long, alias = "timeout")]
    pub time: Option<u64>,
    /// Signal to stop with (default: the container's stop signal).
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send.
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove a running container.
    #[arg(short, long)]
    pub force: bool,
    /// Remove the container's anonymous volumes too.
    #[arg(short, long)]
    pub volumes: bool,
    /// Not supported: a `--link` is a name on the network here; `network
    /// disconnect` takes it away.
    #[arg(short, long)]
    pub link: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not ask; needed when stdin is not a terminal.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation (pocky never asks; accepted for Docker compatibility).
    #[arg(short, long)]
    pub force: bool,
    /// Remove unused anonymous volumes too.
    #[arg(long)]
    pub volumes: bool,
    /// Remove every unused image, not only the untagged ones.
    #[arg(short, long)]
    pub all: bool,
    /// Only what matches: until=TIME, label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not ask for confirmation (pocky never asks; accepted for Docker compatibility).
    #[arg(short, long)]
    pub force: bool,
    /// Only what matches: until=TIME, label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}
