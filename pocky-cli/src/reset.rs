//! `pocky system reset`: asks, then the engine's reset, printed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::ResetArgs;

pub fn reset(root: &Path, args: &ResetArgs) -> Result<ExitCode> {
    if !args.force && !confirmed(root)? {
        return Ok(ExitCode::SUCCESS);
    }
    let report = pocky_engine::reset::reset(root)?;
    for line in &report.done {
        println!("{line}");
    }
    if report.failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &report.failures {
        eprintln!("pocky: {f}");
    }
    Ok(ExitCode::from(crate::EXIT_ENGINE))
}

/// Asks on a terminal; refuses to guess anywhere else.
fn confirmed(root: &Path) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "system reset removes everything under {}: pass --force to confirm",
            root.display()
        );
    }
    print!(
        "WARNING! This will remove every container (running ones are killed), image, volume and network of {}.\nAre you sure you want to continue? [y/N] ",
        root.display()
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
