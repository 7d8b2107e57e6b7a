use std::path::Path;
use std::process::ExitCode;

pub fn ps(root: &Path, args: &crate::cli::PsArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

pub fn inspect(root: &Path, args: &crate::cli::InspectArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

