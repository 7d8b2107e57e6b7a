//! The command line, as runc spells it and as containerd's runc shim and
//! podman's conmon call it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "pocky-runtime",
    about = "A runc-compatible OCI runtime built on pocky",
    disable_version_flag = true
)]
pub struct Cli {
    /// Directory for the state of containers.
    #[arg(long, default_value = "/run/pocky-runtime", global = true)]
    pub root: PathBuf,
    /// Also write errors to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Use systemd for cgroups (not supported: fails).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Log debug messages.
    #[arg(long, global = true)]
    pub debug: bool,
    /// runc's rootless switch (auto|true|false); only "false"/"auto" work.
    /// Bare, as `runc spec --rootless` spells it, it means "true". One
    /// global argument: a second `rootless` of another type on `spec` made
    /// clap panic on every `spec`.
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (with process.terminal).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted for compatibility; pocky always pivots.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for compatibility; pocky makes no session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass fds 3 to 3+N-1 on to the container's process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// A process.json (the spec's process object); `-` is stdin.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    #[arg(short, long)]
    pub env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    pub user: Option<String>,
    /// Pass fds 3 to 3+N-1 on to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// runc's `update`: a linux.resources document and/or flags.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// A linux.resources JSON object; `-` is stdin.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long)]
    pub cpu_share: Option<u64>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Create and start a container, and wait for it unless --detach.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
    },
    /// Print the state of a container as the OCI spec's JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and what create made for it.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers.
    List {
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long, default_value = "table")]
        format: String,
    },
    /// Run a further process in a container.
    Exec(ExecArgs),
    /// Change the cgroup limits of a live container.
    Update(UpdateArgs),
    /// Statistics of a container's cgroup, as JSON events.
    Events {
        /// Print one statistics event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between events without --stats.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        id: String,
    },
    /// The processes of a container.
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this runtime supports, as JSON.
    Features,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("pocky-runtime").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn containerd_shim_calls_parse() {
        let cli = parse(&[
            "--root",
            "/run/containerd/runc/default",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "--console-socket",
            "/tmp/s.sock",
            "c1",
        ]);
        assert_eq!(cli.root, PathBuf::from("/run/containerd/runc/default"));
        assert_eq!(cli.log_format, LogFormat::Json);
        let Some(Command::Create(c)) = cli.command else {
            panic!()
        };
        assert_eq!(c.bundle, PathBuf::from("/b"));
        assert_eq!(c.pid_file, Some(PathBuf::from("/b/init.pid")));
        assert_eq!(c.id, "c1");
        let cli = parse(&["--root", "/r", "kill", "c1", "9"]);
        let Some(Command::Kill { all, id, signal }) = cli.command else {
            panic!()
        };
        assert!(!all);
        assert_eq!((id.as_str(), signal.as_deref()), ("c1", Some("9")));
        let cli = parse(&["kill", "--all", "c1", "SIGKILL"]);
        assert!(matches!(cli.command, Some(Command::Kill { all: true, .. })));
        let cli = parse(&["delete", "--force", "c1"]);
        assert!(matches!(
            cli.command,
            Some(Command::Delete { force: true, .. })
        ));
        let cli = parse(&[
            "exec",
            "--process",
            "/tmp/p.json",
            "--detach",
            "--pid-file",
            "/tmp/p.pid",
            "c1",
        ]);
        let Some(Command::Exec(e)) = cli.command else {
            panic!()
        };
        assert!(e.detach);
        assert_eq!(e.process, Some(PathBuf::from("/tmp/p.json")));
        let cli = parse(&["ps", "--format", "json", "c1"]);
        assert!(matches!(cli.command, Some(Command::Ps { .. })));
    }

    #[test]
    fn podman_calls_parse() {
        let cli = parse(&[
            "--root",
            "/run/r",
            "--log-format=json",
            "--log",
            "/x/oci-log",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/pidfile",
            "--no-new-keyring",
            "c1",
        ]);
        assert!(cli.systemd_cgroup);
        assert_eq!(cli.log_format, LogFormat::Json);
        let cli = parse(&["--log-format=json", "start", "c1"]);
        assert!(matches!(cli.command, Some(Command::Start { .. })));
        let cli = parse(&[
            "exec",
            "--pid-file",
            "/p",
            "--process",
            "/q",
            "--detach",
            "--tty",
            "--console-socket",
            "/s",
            "c1",
        ]);
        assert!(matches!(
            cli.command,
            Some(Command::Exec(ExecArgs { tty: true, .. }))
        ));
    }

    #[test]
    fn exec_with_a_command_and_other_forms_parse() {
        let cli = parse(&["exec", "c1", "ls", "-la", "/"]);
        let Some(Command::Exec(e)) = cli.command else {
            panic!()
        };
        assert_eq!(e.id, "c1");
        assert_eq!(e.command, vec!["ls", "-la", "/"]);
        assert!(parse(&["--version"]).version);
        assert!(matches!(
            parse(&["list", "-q"]).command,
            Some(Command::List { quiet: true, .. })
        ));
        assert!(matches!(
            parse(&["features"]).command,
            Some(Command::Features)
        ));
        let cli = parse(&["run", "--bundle", "/b", "--detach", "c1"]);
        assert!(matches!(
            cli.command,
            Some(Command::Run { detach: true, .. })
        ));
        assert!(Cli::try_parse_from(["pocky-runtime", "--log-format", "xml", "list"]).is_err());
    }

    #[test]
    fn spec_and_the_rootless_switch_parse() {
        // clap checks the whole command tree in debug builds; a clash of
        // two arguments' types once made every `spec` panic.
        Cli::command().debug_assert();
        let cli = parse(&["spec", "--bundle", "/b"]);
        assert!(matches!(cli.command, Some(Command::Spec { .. })));
        assert_eq!(cli.rootless, None);
        let cli = parse(&["spec", "--rootless"]);
        assert_eq!(cli.rootless.as_deref(), Some("true"));
        let cli = parse(&["--rootless", "false", "create", "c1"]);
        assert_eq!(cli.rootless.as_deref(), Some("false"));
        let cli = parse(&["--rootless=auto", "state", "c1"]);
        assert_eq!(cli.rootless.as_deref(), Some("auto"));
    }
}
