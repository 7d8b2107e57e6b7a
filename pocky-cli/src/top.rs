//! `pocky top CONTAINER [ps OPTIONS]`: the engine's listing as a table.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::store::Store;
use pocky_engine::top::{self, Style};

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    pub container: String,
    /// ps options: `-ef` (the default) or `aux`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

pub fn top(root: &Path, args: &TopArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let style = Style::parse(&args.ps_options)?;
    let listing = top::top(&store, &args.container, style)?;
    let mut lines = vec![listing.titles.join("\t")];
    lines.extend(listing.processes.iter().map(|p| p.join("\t")));
    print!("{}", crate::template::align_tabs(&lines));
    Ok(ExitCode::SUCCESS)
}
