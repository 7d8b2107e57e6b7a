use std::path::Path;
use std::process::ExitCode;

pub fn stop(root: &Path, args: &crate::cli::StopArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

pub fn kill(root: &Path, args: &crate::cli::KillArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

pub fn rm(root: &Path, args: &crate::cli::RmArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

pub fn wait(root: &Path, args: &crate::cli::WaitArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

