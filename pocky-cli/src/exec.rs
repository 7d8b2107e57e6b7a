use std::path::Path;
use std::process::ExitCode;

pub fn exec(root: &Path, args: &crate::cli::ExecArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}

