use std::path::Path;
use std::process::ExitCode;

pub fn logs(root: &Path, args: &crate::cli::LogsArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

