use std::path::Path;
use std::process::ExitCode;

pub fn run(root: &Path, args: crate::cli::RunArgs) -> anyhow::Result<ExitCode> {
    let _ = (root, args);
    anyhow::bail!("not implemented yet")
}
