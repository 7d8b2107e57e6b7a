//! `pocky commit`, `import` and `export`.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use pocky_engine::commit::CommitRequest;
use pocky_engine::import_export::ImportRequest;
use pocky_engine::store::Store;

#[derive(Debug, Args)]
pub struct CommitArgs {
    pub container: String,
    /// `[registry/]repository[:tag]` for the new image.
    pub reference: Option<String>,
    /// Author (`"Jane <jane@example.org>"`).
    #[arg(short, long)]
    pub author: Option<String>,
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, EXPOSE,
    /// LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL).
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Pause the container while committing.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub pause: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tar file (plain, gzip or zstd), or `-` for stdin.
    pub file: String,
    /// `[registry/]repository[:tag]` for the new image.
    pub reference: Option<String>,
    #[arg(short, long)]
    pub message: Option<String>,
    /// Dockerfile instruction to apply (CMD, ENV, ...).
    #[arg(short, long)]
    pub change: Vec<String>,
    /// os/arch[/variant] the image says it is for.
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub container: String,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<String>,
}

pub fn commit(root: &Path, args: &CommitArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let image = pocky_engine::commit::commit(
        &store,
        &CommitRequest {
            container: args.container.clone(),
            reference: args.reference.clone(),
            author: args.author.clone(),
            message: args.message.clone(),
            changes: args.change.clone(),
            pause: args.pause,
        },
    )?;
    println!("{}", image.id);
    Ok(ExitCode::SUCCESS)
}

pub fn import(root: &Path, args: &ImportArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    if args.file.contains("://") {
        bail!("importing from a URL is not supported: download it and import the file");
    }
    let mut input: Box<dyn io::Read> = match args.file.as_str() {
        "-" => Box::new(io::stdin().lock()),
        path => Box::new(File::open(path).with_context(|| format!("opening {path}"))?),
    };
    let image = pocky_engine::import_export::import(
        &store,
        &mut input,
        &ImportRequest {
            reference: args.reference.clone(),
            message: args.message.clone(),
            changes: args.change.clone(),
            platform: args.platform.clone(),
            source: args.file.clone(),
        },
    )?;
    println!("{}", image.id);
    Ok(ExitCode::SUCCESS)
}

pub fn export(root: &Path, args: &ExportArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    match &args.output {
        Some(path) => {
            let out = crate::output_file::OutputFile::create(Path::new(path))?;
            let mut w = io::BufWriter::new(out.file()?);
            pocky_engine::import_export::export(&store, &args.container, &mut w)?;
            w.flush().with_context(|| format!("writing {path}"))?;
            drop(w);
            out.finish()?;
        }
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to write a tar to a terminal: use -o FILE or a redirect");
            }
            let mut w = io::BufWriter::new(io::stdout().lock());
            pocky_engine::import_export::export(&store, &args.container, &mut w)?;
            w.flush().context("writing to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
