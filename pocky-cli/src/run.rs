//! `pocky run`: find or pull the image, create the container, then own it
//! in the foreground or hand it to a detached monitor.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pocky_engine::RunRequest;
use pocky_engine::create::{self, Created};
use pocky_engine::owner;
use pocky_engine::pull::PullPolicy;
use pocky_engine::runtime::Stdio;
use pocky_engine::store::{ImageRecord, Store};

use crate::cli::RunArgs;

/// `--pull` and `--cidfile`: the CLI's side of a run, before and after the
/// engine creates the container.
struct Frontend {
    pull: PullPolicy,
    cidfile: Option<std::path::PathBuf>,
    /// `-a`: the streams shown (all when empty).
    attach: Vec<String>,
    /// `--sig-proxy`.
    sig_proxy: bool,
}

impl Frontend {
    fn of(args: &RunArgs) -> Result<Frontend> {
        if let Some(f) = &args.cidfile
            && f.exists()
        {
            anyhow::bail!(
                "container ID file found, make sure the other container isn't running or delete {}",
                f.display()
            );
        }
        if args.more.detach_keys.is_some() {
            anyhow::bail!(
                "--detach-keys is not supported by pocky run: a foreground run owns its container and cannot leave it running; use -d, then `pocky attach --detach-keys`"
            );
        }
        let mut attach = Vec::new();
        for a in &args.more.attach {
            let a = a.to_ascii_lowercase();
            if !matches!(a.as_str(), "stdin" | "stdout" | "stderr") {
                anyhow::bail!(
                    "invalid argument {a:?} for -a: valid streams are STDIN, STDOUT and STDERR"
                );
            }
            attach.push(a);
        }
        if !attach.is_empty() && args.detach {
            anyhow::bail!("conflicting options: -a and -d");
        }
        Ok(Frontend {
            attach,
            sig_proxy: args.more.sig_proxy.unwrap_or(true),
            pull: match args.pull.as_str() {
                "always" => PullPolicy::Always,
                "never" => PullPolicy::Never,
                _ => PullPolicy::Missing,
            },
            cidfile: args.cidfile.clone(),
        })
    }

    fn image(&self, store: &Store, name: &str, platform: Option<&str>) -> Result<ImageRecord> {
        Ok(pocky_engine::pull::find_or_pull_with(
            store,
            name,
            platform,
            self.pull,
            &pocky_engine::progress::Silent,
        )?)
    }

    /// Written with `create_new`: a second run given the same file fails
    /// as Docker's does, not by overwriting it.
    fn created(&self, id: &str) -> Result<()> {
        let Some(path) = &self.cidfile else {
            return Ok(());
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("writing the container id to {}", path.display()))?;
        std::io::Write::write_all(&mut f, id.as_bytes())
            .with_context(|| format!("writing the container id to {}", path.display()))
    }
}

/// `pocky create`: `run` up to the start.
pub fn create(root: &Path, args: RunArgs) -> Result<ExitCode> {
    if !args.more.attach.is_empty() {
        anyhow::bail!(
            "-a is not supported by pocky create: `start -a` attaches stdout and stderr, and `run -a` chooses"
        );
    }
    let front = Frontend::of(&args)?;
    let args = args.into_request()?;
    let (image_name, cmd) = args
        .image_and_command
        .split_first()
        .context("an image is required")?;
    let store = Store::open(root)?;
    let image = front.image(&store, image_name, args.platform.as_deref())?;
    let created = create::create(&store, &args, image_name, &image, cmd)?;
    front.created(&created.record.id)?;
    println!("{}", created.record.id);
    Ok(ExitCode::SUCCESS)
}

pub fn run(root: &Path, args: RunArgs) -> Result<ExitCode> {
    let front = Frontend::of(&args)?;
    let mut args = args.into_request()?;
    if !front.attach.is_empty() && !front.attach.iter().any(|a| a == "stdin") {
        // Docker's `-a` without stdin: nothing of ours reaches it.
        args.interactive = false;
    }
    let (image_name, cmd) = args
        .image_and_command
        .split_first()
        .context("an image is required")?;
    let store = Store::open(root)?;
    // Progress goes to stderr here, if at all: stdout belongs to the container.
    let image = front.image(&store, image_name, args.platform.as_deref())?;
    let created = create::create(&store, &args, image_name, &image, cmd)?;
    front.created(&created.record.id)?;
    if args.detach {
        let id = created.record.id.clone();
        Ok(crate::lifecycle::report_detached(
            &id,
            pocky_engine::monitor::start_detached(&store, created)?,
        ))
    } else {
        foreground(&store, &created, &args, &front)
    }
}

fn foreground(
    store: &Store,
    created: &Created,
    args: &RunRequest,
    front: &Frontend,
) -> Result<ExitCode> {
    let _lock = owner::lock(store, &created.record.id)?;
    // Without a terminal the output goes through pipes, to the caller and
    // to the container's log, so `pocky logs` shows a foreground run too.
    let (stdio, readers) = if args.tty {
        let tty = Stdio {
            terminal: true,
            ..Stdio::default()
        };
        (tty, Vec::new())
    } else {
        pocky_engine::monitor::logged_stdio(args.interactive)?
    };
    // Before the start: a signal while it starts waits for the container.
    let mut forwarder = crate::foreground::forwarder()?;
    forwarder.set_forward(front.sig_proxy);
    let mut launched = match owner::start(store, created, stdio) {
        Ok(l) => l,
        Err(e) => {
            owner::discard_failed(store, created);
            eprintln!("pocky: {}", e.message);
            return Ok(ExitCode::from(u8::try_from(e.code).unwrap_or(125)));
        }
    };
    // Forked before the terminal relay's thread starts: the prober is a
    // single-threaded copy of this process (it resets its signals).
    let prober = pocky_engine::health::start(store, created, launched.pid());
    let target = pocky_engine::logwriter::Target::of_created(store, created);
    let tee = (!readers.is_empty())
        .then(|| std::thread::spawn(move || pocky_engine::logwriter::tee_to_log(&target, readers)));
    let pty = launched.take_pty_master();
    // `-a` without a stream: what the container writes there goes only to
    // its log. pocky's own messages come after, with the streams back.
    let silenced = crate::foreground::Silenced::unless(&front.attach)?;
    let status = crate::foreground::attend(&forwarder, launched.process(), pty, args.interactive)?;
    // The streams close with the container's last process.
    if let Some(t) = tee {
        let _ = t.join();
    }
    drop(prober);
    drop(silenced);
    owner::finish(store, created, &launched, status);
    Ok(ExitCode::from(
        u8::try_from(status.code & 0xff).unwrap_or(255),
    ))
}
