use std::path::Path;
use std::process::ExitCode;

pub fn prune(root: &Path, args: &crate::cli::PruneArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

