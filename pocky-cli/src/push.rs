//! `pocky push`, `login` and `logout`.

use std::io::{self, BufRead, IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use pocky_engine::store::Store;
use pocky_registry::{Client, ClientOptions, Credentials, DockerConfig, registry_of_server};

use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image, by name[:tag] (the name says where it goes).
    pub image: String,
    /// Require HTTPS with verified certificates (`false` also allows plain HTTP).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Print only the pushed reference's digest line.
    #[arg(short, long)]
    pub quiet: bool,
    /// Push every tag of the repository.
    #[arg(short, long)]
    pub all_tags: bool,
    /// The image's platform, os/arch[/variant]: pocky keeps one platform
    /// per name, so this checks it is that one.
    #[arg(long)]
    pub platform: Option<String>,
    /// Accepted: pocky signs nothing (Docker Content Trust), as by default.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_content_trust: Option<bool>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (`host[:port]`); Docker Hub when left out.
    pub server: Option<String>,
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password (prefer --password-stdin: arguments are visible to
    /// other users in /proc).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

pub fn push(root: &Path, args: &PushArgs) -> Result<ExitCode> {
    if args.disable_content_trust == Some(false) {
        anyhow::bail!("--disable-content-trust=false is not supported: pocky signs no images");
    }
    let store = Store::open(root)?;
    pocky_engine::lookup::require_platform(&store, &args.image, args.platform.as_deref())?;
    let client = Client::new(ClientOptions {
        insecure: !args.tls_verify,
        ..ClientOptions::default()
    })?;
    let names = match args.all_tags {
        false => vec![args.image.clone()],
        true => pocky_engine::push::tags_of_repository(&store, &args.image)?,
    };
    let progress = Progress::new(args.quiet);
    for name in names {
        let pushed = pocky_engine::push::push(&store, &client, &name, &progress)?;
        println!(
            "{}: digest: {} size: {}",
            pushed.tag, pushed.digest, pushed.size
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn config_path() -> Result<std::path::PathBuf> {
    DockerConfig::default_path().context("no Docker config location: set DOCKER_CONFIG or HOME")
}

pub fn login(args: &LoginArgs) -> Result<ExitCode> {
    let registry = registry_of_server(args.server.as_deref().unwrap_or_default());
    let username = match &args.username {
        Some(u) => u.clone(),
        None if io::stdin().is_terminal() && !args.password_stdin => {
            eprint!("Username: ");
            read_line()?
        }
        None => bail!("a username is needed: use --username"),
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut p = String::new();
            io::stdin()
                .read_to_string(&mut p)
                .context("reading the password from stdin")?;
            p.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) if io::stdin().is_terminal() => {
            eprint!("Password: ");
            let p = read_password().context("reading the password")?;
            eprintln!();
            p
        }
        (None, false) => bail!("a password is needed: use --password-stdin"),
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    let creds = Credentials::new(username, password);
    let client = Client::new(ClientOptions {
        insecure: !args.tls_verify,
        ..ClientOptions::default()
    })?;
    client
        .check_login(&registry, &creds)
        .with_context(|| format!("logging in to {registry}"))?;
    DockerConfig::store_login(&config_path()?, &registry, &creds)?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: &LogoutArgs) -> Result<ExitCode> {
    let registry = registry_of_server(args.server.as_deref().unwrap_or_default());
    match DockerConfig::remove_login(&config_path()?, &registry)? {
        true => println!("Removing login credentials for {registry}"),
        false => println!("Not logged in to {registry}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_line() -> Result<String> {
    let mut s = String::new();
    io::stdin()
        .lock()
        .read_line(&mut s)
        .context("reading stdin")?;
    Ok(s.trim().to_owned())
}

/// A line from the terminal without echo.
fn read_password() -> Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal's mode")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning echo off")?;
    let line = read_line();
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    line
}
