use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::cli_run::*;

/// A daemonless, Docker-style container engine.
#[derive(Debug, Parser)]
#[command(name = "pocky", version, about, propagate_version = true)]
pub struct Cli {
    /// Directory that holds all of pocky's state (default /var/lib/pocky
    /// for root, $XDG_DATA_HOME/pocky or ~/.local/share/pocky for anyone
    /// else, who runs rootless).
    #[arg(long, global = true, env = "POCKY_ROOT")]
    pub root: Option<PathBuf>,

    /// How new image layers are stored: `erofs` (one EROFS image file per
    /// layer; the default where the kernel mounts them) or `overlay`
    /// (unpacked directories). Recorded in the state root; layers already
    /// stored keep their form.
    #[arg(long, global = true, env = "POCKY_STORAGE_DRIVER", value_parser = ["erofs", "overlay"])]
    pub storage_driver: Option<String>,

    /// How much to report on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Warn, env = "POCKY_LOG_LEVEL")]
    pub log_level: LogLevel,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Download an image from a registry.
    Pull(PullArgs),
    /// List images.
    Images(ImagesArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Give an image another name.
    Tag(crate::tag::TagArgs),
    /// Show how an image was made, step by step.
    History(crate::tag::HistoryArgs),
    /// Upload an image to its registry.
    Push(crate::push::PushArgs),
    /// Log in to a registry (stores the credentials as docker does).
    Login(crate::push::LoginArgs),
    /// Forget the credentials of a registry.
    Logout(crate::push::LogoutArgs),
    /// Write images to a tar archive (docker-archive and OCI layout in one).
    Save(crate::save::SaveArgs),
    /// Read images from a tar archive (docker-archive or oci-archive).
    Load(crate::save::LoadArgs),
    /// Make an image of a container's changes.
    Commit(crate::commit::CommitArgs),
    /// Build an image from a Dockerfile and a context.
    Build(Box<crate::build::BuildArgs>),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(crate::build::BuilderCommand),
    /// Make a one-layer image of a tar of a filesystem.
    Import(crate::commit::ImportArgs),
    /// Write a container's filesystem as a tar.
    Export(crate::commit::ExportArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Show low-level information on containers or images, as JSON.
    Inspect(InspectArgs),
    /// Create and run a container from an image.
    Run(Box<RunArgs>),
    /// Create a container from an image without starting it; prints its id.
    Create(Box<RunArgs>),
    /// Start created or stopped containers (detached).
    Start(StartArgs),
    /// Stop, then start containers.
    Restart(RestartArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Freeze every process of running containers.
    Pause(ContainersArgs),
    /// Let paused containers run again.
    Unpause(ContainersArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// List containers.
    Ps(PsArgs),
    /// Show a container's output.
    Logs(LogsArgs),
    /// Stop running containers: their stop signal, then SIGKILL after a grace period.
    Stop(StopArgs),
    /// Send a signal to running containers.
    Kill(KillArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Block until containers stop, then print their exit codes.
    Wait(WaitArgs),
    /// Manage containers (Docker's `container` verbs).
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage pocky as a whole.
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(crate::volume::VolumeCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(crate::network::NetworkCommand),
    /// Show a container's published ports.
    Port(crate::network::PortArgs),
    /// Show what running containers use: CPU, memory, network, tasks.
    Stats(crate::stats::StatsArgs),
    /// Show the processes of a running container.
    Top(crate::top::TopArgs),
    /// Show what happens to containers, images, volumes and networks.
    Events(crate::events::EventsArgs),
    /// Show the files a container added, changed or deleted.
    Diff(crate::diff::DiffArgs),
    /// Change the limits or restart policy of containers.
    Update(crate::update::UpdateArgs),
    /// Follow a running container's output, passing signals on to it.
    Attach(crate::attach::AttachArgs),
    /// Copy files between a container and the host (or a tar stream).
    Cp(crate::cp::CpArgs),
    /// Show what pocky and this host hold and support, as `docker info`.
    Info(crate::system::InfoArgs),
    /// Show pocky's version (client and engine), as `docker version`.
    Version(crate::system::VersionArgs),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// List containers.
    #[command(alias = "ps", alias = "list")]
    Ls(PsArgs),
    /// Create and run a container from an image.
    Run(Box<RunArgs>),
    /// Create a container without starting it.
    Create(Box<RunArgs>),
    /// Start created or stopped containers.
    Start(StartArgs),
    /// Stop running containers.
    Stop(StopArgs),
    /// Stop, then start containers.
    Restart(RestartArgs),
    /// Send a signal to running containers.
    Kill(KillArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Freeze every process of running containers.
    Pause(ContainersArgs),
    /// Let paused containers run again.
    Unpause(ContainersArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Show containers as JSON.
    Inspect(InspectArgs),
    /// Show a container's output.
    Logs(LogsArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Block until containers stop, then print their exit codes.
    Wait(WaitArgs),
    /// Show a container's published ports.
    Port(crate::network::PortArgs),
    /// Show what running containers use.
    Stats(crate::stats::StatsArgs),
    /// Show the processes of a running container.
    Top(crate::top::TopArgs),
    /// Show the files a container added, changed or deleted.
    Diff(crate::diff::DiffArgs),
    /// Change the limits or restart policy of containers.
    Update(crate::update::UpdateArgs),
    /// Follow a running container's output, passing signals on to it.
    Attach(crate::attach::AttachArgs),
    /// Copy files between a container and the host.
    Cp(crate::cp::CpArgs),
    /// Make an image of a container's changes.
    Commit(crate::commit::CommitArgs),
    /// Write a container's filesystem as a tar.
    Export(crate::commit::ExportArgs),
    /// Remove every stopped container.
    Prune(ContainerPruneArgs),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Remove stopped containers, unused data and what crashed commands left.
    Prune(PruneArgs),
    /// Remove everything pocky made for this state root: containers
    /// (killed), images, volumes, networks, firewall rules, cgroups, the root.
    Reset(ResetArgs),
    /// Show what happens to containers, images, volumes and networks.
    Events(crate::events::EventsArgs),
    /// Show what pocky and this host hold and support, as `docker info`.
    Info(crate::system::InfoArgs),
    /// Show the disk space images, containers, volumes and the build cache use.
    Df(crate::disk_usage::DfArgs),
    /// Start the containers whose restart policy says so, as Docker's
    /// daemon does when it starts: run it at boot.
    Boot,
    /// Serve the Docker Engine API on a socket, for the docker CLI,
    /// docker-compose and the SDKs (`DOCKER_HOST=unix://SOCKET`).
    Service(crate::service::ServiceArgs),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ImageCommand {
    /// Download an image from a registry.
    Pull(PullArgs),
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images.
    Rm(RmiArgs),
    /// Show an image's configuration, layers and digest as JSON.
    Inspect(InspectArgs),
    /// Give an image another name.
    Tag(crate::tag::TagArgs),
    /// Show how an image was made, step by step.
    History(crate::tag::HistoryArgs),
    /// Remove untagged images no container uses (`-a`: every unused image).
    Prune(crate::tag::ImagePruneArgs),
    /// Build an image from a Dockerfile and a context.
    Build(Box<crate::build::BuildArgs>),
    /// Make a one-layer image of a tar of a filesystem.
    Import(crate::commit::ImportArgs),
    /// Upload an image to its registry.
    Push(crate::push::PushArgs),
    /// Write images to a tar archive.
    Save(crate::save::SaveArgs),
    /// Read images from a tar archive.
    Load(crate::save::LoadArgs),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image reference, e.g. `busybox`, `user/app:1`, `host:5000/a/b@sha256:...`.
    pub image: String,
    /// Tag, for the two-word form `pocky pull hello-world latest`.
    pub tag: Option<String>,
    /// Platform to choose from a multi-platform image: os/arch[/variant].
    #[arg(long)]
    pub platform: Option<String>,
    /// Require HTTPS with verified certificates (`false` also allows plain HTTP).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Print only the image reference at the end.
    #[arg(short, long)]
    pub quiet: bool,
    /// Every tag of the repository (the name takes no tag or digest).
    #[arg(short, long)]
    pub all_tags: bool,
    /// Accepted: pocky verifies no image signatures (Docker's default).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_content_trust: Option<bool>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `table`, `json`, or a Go template
    /// (`{{.Repository}}:{{.Tag}}`, `table {{.ID}}\t{{.Size}}`).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Show full image ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only images of this repository[:tag].
    pub reference: Option<String>,
    /// dangling=true|false, reference=GLOB, before=IMAGE, since=IMAGE,
    /// label=KEY[=VALUE].
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Show the manifest digest of each image.
    #[arg(long)]
    pub digests: bool,
    /// Also the images of build steps (the build cache), as Docker's
    /// intermediate images.
    #[arg(short, long)]
    pub all: bool,
    /// Not supported: Docker's experimental tree of multi-platform images;
    /// pocky keeps one platform per image.
    #[arg(long)]
    pub tree: bool,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images, by name[:tag], id or unique id prefix.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove even when the image has several tags or is in use.
    #[arg(short, long)]
    pub force: bool,
    /// Keep the layers nothing uses any more (Docker: keep untagged parents).
    #[arg(long)]
    pub no_prune: bool,
    /// Remove only this platform's image of each name (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format each object with a Go template (`{{.State.Pid}}`, `{{json .Config}}`).
    #[arg(short, long)]
    pub format: Option<String>,
    /// Containers or images, by name[:tag], id or unique id prefix.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Only this kind of object: container or image.
    #[arg(long = "type", value_parser = ["container", "image"])]
    pub kind: Option<String>,
    /// Add a container's SizeRw (its writable layer) and SizeRootFs.
    #[arg(short, long)]
    pub size: bool,
}
