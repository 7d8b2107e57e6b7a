//! `-o FILE` of `save` and `export`: written to a temp file beside FILE
//! and renamed over it at the end, so a failed or killed command leaves
//! the old FILE (or none), never a truncated archive.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

#[derive(Debug)]
pub struct OutputFile {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl OutputFile {
    pub fn create(dest: &Path) -> Result<OutputFile> {
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .with_context(|| format!("{} is not a file name", dest.display()))?;
        let tmp = dir.join(format!(
            ".{}.pocky-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        Ok(OutputFile {
            tmp,
            dest: dest.to_owned(),
            done: false,
        })
    }

    pub fn file(&self) -> Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.tmp)
            .with_context(|| format!("creating {}", self.tmp.display()))
    }

    pub fn finish(mut self) -> Result<()> {
        File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", self.tmp.display()))?;
        fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("writing {}", self.dest.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
