//! `pocky cp`: files between a container and the host, as `docker cp`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::copy::{self, CopyRequest};
use pocky_engine::store::Store;

use crate::format;

#[derive(Debug, clap::Args)]
pub struct CpArgs {
    /// Keep the source's owners (uid:gid) instead of the destination user's.
    #[arg(short, long)]
    pub archive: bool,
    /// Follow a symlink SRC and copy what it points at.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Print nothing about the copy (it is quiet anyway without a terminal).
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, a host path, or `-` for a tar on stdin.
    pub src: String,
    /// CONTAINER:DEST_PATH, a host path, or `-` for a tar on stdout.
    pub dest: String,
}

pub fn cp(root: &Path, args: &CpArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let req = CopyRequest {
        src: args.src.clone(),
        dst: args.dest.clone(),
        archive: args.archive,
        follow_link: args.follow_link,
    };
    let report = copy::copy(
        &store,
        &req,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    )?;
    // Docker's one line of progress, on a terminal only and never when the
    // archive itself goes to stdout.
    if !args.quiet && args.dest != "-" && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {}",
            format::size(report.bytes),
            report.to
        );
    }
    Ok(ExitCode::SUCCESS)
}
