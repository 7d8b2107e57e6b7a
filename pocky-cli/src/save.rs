//! `pocky save` and `load`.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use pocky_engine::store::Store;

use crate::output_file::OutputFile;

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Images, by name[:tag], digest or id.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<String>,
    /// The images' platform, os/arch[/variant]: each must be that one.
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this file (plain, gzip or zstd tar) instead of stdin.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Print only the loaded image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Load this platform's image (os/arch[/variant]; default: this
    /// machine's); an archive with none is refused.
    #[arg(long)]
    pub platform: Option<String>,
}

pub fn save(root: &Path, args: &SaveArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    for image in &args.images {
        pocky_engine::lookup::require_platform(&store, image, args.platform.as_deref())?;
    }
    match &args.output {
        Some(path) => {
            let out = OutputFile::create(Path::new(path))?;
            let mut w = io::BufWriter::with_capacity(1 << 20, out.file()?);
            pocky_engine::save_load::save(&store, &args.images, &mut w)?;
            w.flush().with_context(|| format!("writing {path}"))?;
            drop(w);
            out.finish()?;
        }
        None => {
            if io::stdout().is_terminal() {
                bail!(
                    "cowardly refusing to write an archive to a terminal: use -o FILE or a redirect"
                );
            }
            let mut w = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
            pocky_engine::save_load::save(&store, &args.images, &mut w)?;
            w.flush().context("writing to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn load(root: &Path, args: &LoadArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let mut input: Box<dyn io::Read> = match &args.input {
        Some(path) => Box::new(File::open(path).with_context(|| format!("opening {path}"))?),
        None if io::stdin().is_terminal() => {
            bail!("requested load from stdin, but stdin is a terminal: use -i FILE or a redirect")
        }
        None => Box::new(io::stdin().lock()),
    };
    let loaded = pocky_engine::save_load::load(&store, &mut input, args.platform.as_deref())?;
    for l in loaded {
        match (args.quiet, l.names.is_empty()) {
            (true, _) => println!("{}", l.id),
            (false, true) => println!("Loaded image ID: {}", l.id),
            (false, false) => {
                for n in &l.names {
                    println!("Loaded image: {n}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
