//! `pocky diff CONTAINER`: Docker's `A`/`C`/`D` lines.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::store::Store;

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    pub container: String,
}

pub fn diff(root: &Path, args: &DiffArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    for c in pocky_engine::diff::diff(&store, &args.container)? {
        println!("{} {}", c.kind.letter(), c.path.display());
    }
    Ok(ExitCode::SUCCESS)
}
