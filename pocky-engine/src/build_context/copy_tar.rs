//! What COPY and ADD move out of the context: a content checksum for the
//! build cache (names, types, modes, sizes, contents and link targets;
//! no times or owners, so a fresh checkout hits the cache) and a tar
//! stream for pocky-fs's unpacker, written file by file so a huge context
//! never sits in memory.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Context, Kind, Resolved, proc_path};

type Each<'a> = dyn FnMut(&str, &Path, &Metadata) -> anyhow::Result<()> + 'a;

impl Context {
    /// Calls `each(name in the destination, path to open, metadata)`
    /// for `r`: the file itself (named `file_name` or its own name), or
    /// everything beneath the directory.
    fn items(
        &self,
        r: &Resolved,
        file_name: Option<&str>,
        each: &mut Each<'_>,
    ) -> anyhow::Result<()> {
        match r.kind {
            Kind::File => {
                let path = PathBuf::from(proc_path(&r.fd));
                let meta = fs::metadata(&path)?;
                each(file_name.unwrap_or(&r.name), &path, &meta)
            }
            Kind::Dir => {
                let base = PathBuf::from(proc_path(&r.fd));
                self.walk(&base, &r.rel, None, &mut |found| {
                    each(found.sub, found.path, found.meta)?;
                    Ok(true)
                })
            }
        }
    }

    /// `sha256:<hex>` of what `resolved` would copy.
    pub fn checksum(&self, resolved: &[Resolved]) -> anyhow::Result<String> {
        let mut h = Sha256::new();
        for r in resolved {
            h.update(format!("{}\0{:?}\0", r.name, r.kind));
            self.items(r, None, &mut |name, path, meta| {
                h.update(name.as_bytes());
                h.update(format!("\0{:o} ", meta.mode() & 0o7777));
                let ft = meta.file_type();
                if ft.is_symlink() {
                    h.update(b"l ");
                    h.update(fs::read_link(path)?.as_os_str().as_bytes());
                } else if ft.is_dir() {
                    h.update(b"d");
                } else if ft.is_fifo() {
                    h.update(b"p");
                } else {
                    h.update(format!("f {} ", meta.len()));
                    io::copy(&mut File::open(path)?.take(meta.len()), &mut h)?;
                }
                h.update([0]);
                Ok(())
            })?;
        }
        Ok(format!("sha256:{:x}", h.finalize()))
    }

    /// Writes `resolved` as one tar to `out`, every entry owned by
    /// `owner` (else by its own owner) and, with `chmod`, of that mode.
    /// Returns the bytes written.
    pub fn write_tar(
        &self,
        resolved: &[Resolved],
        file_name: Option<&str>,
        owner: Option<(u32, u32)>,
        chmod: Option<u32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<u64> {
        let mut tar = tar::Builder::new(Counting { inner: out, n: 0 });
        for r in resolved {
            self.items(r, file_name, &mut |name, path, meta| {
                let mut header = tar::Header::new_gnu();
                let (uid, gid) = owner.unwrap_or((meta.uid(), meta.gid()));
                header.set_uid(uid.into());
                header.set_gid(gid.into());
                header.set_mtime(meta.mtime().max(0) as u64);
                header.set_size(0);
                let perm = chmod.unwrap_or(meta.mode() & 0o7777);
                let ft = meta.file_type();
                if ft.is_symlink() {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    tar.append_link(&mut header, name, fs::read_link(path)?)?;
                } else if ft.is_dir() {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(perm);
                    tar.append_data(&mut header, name, io::empty())?;
                } else if ft.is_fifo() {
                    header.set_entry_type(tar::EntryType::Fifo);
                    header.set_mode(perm);
                    tar.append_data(&mut header, name, io::empty())?;
                } else {
                    let file = File::open(path)?;
                    // The size as read now: a file that changes while being
                    // copied must not desynchronise the stream.
                    let len = file.metadata()?.len();
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(perm);
                    header.set_size(len);
                    tar.append_data(&mut header, name, Exact::new(file, len))?;
                }
                Ok(())
            })?;
        }
        let counted = tar.into_inner()?;
        Ok(counted.n)
    }
}

struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Exactly `len` bytes of a file: cut if it grew, zero-padded if it
/// shrank since its size was taken.
struct Exact {
    file: io::Take<File>,
    left: u64,
}

impl Exact {
    fn new(file: File, len: u64) -> Self {
        Self {
            file: file.take(len),
            left: len,
        }
    }
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left.try_into().unwrap_or(usize::MAX));
        let n = match self.file.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}
