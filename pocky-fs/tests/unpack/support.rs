//! Building layers by hand (raw header fields, so hostile names survive)
//! and watching a directory outside the unpack destination.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pocky_fs::{FsError, UnpackLimits, Unpacked, unpack_layer};
use tar::{EntryType, Header};

/// A tar under construction; names and link targets go in byte for byte.
pub struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

pub struct Entry<'a> {
    pub kind: EntryType,
    pub name: &'a str,
    pub link: &'a str,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub data: &'a [u8],
    pub dev: (u32, u32),
}

impl Default for Entry<'_> {
    fn default() -> Self {
        Self {
            kind: EntryType::Regular,
            name: "",
            link: "",
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            data: b"",
            dev: (0, 0),
        }
    }
}

impl Tar {
    pub fn new() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    pub fn entry(&mut self, e: Entry<'_>) -> &mut Self {
        let mut h = Header::new_ustar();
        set_raw(&mut h.as_old_mut().name, e.name);
        set_raw(&mut h.as_old_mut().linkname, e.link);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.builder.append(&h, e.data).unwrap();
        self
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.entry(Entry {
            name,
            mode,
            data,
            ..Entry::default()
        })
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.entry(Entry {
            kind: EntryType::Directory,
            name,
            mode,
            ..Entry::default()
        })
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(Entry {
            kind: EntryType::Symlink,
            name,
            link: target,
            mode: 0o777,
            ..Entry::default()
        })
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(Entry {
            kind: EntryType::Link,
            name,
            link: target,
            ..Entry::default()
        })
    }

    pub fn device(&mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        self.entry(Entry {
            kind,
            name,
            dev: (major, minor),
            ..Entry::default()
        })
    }

    /// A PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            data.extend(pax_record(key, value));
        }
        self.entry(Entry {
            kind: EntryType::XHeader,
            name: "PaxHeaders/x",
            data: &data,
            ..Entry::default()
        })
    }

    pub fn finish(&mut self) -> Vec<u8> {
        self.builder.finish().unwrap();
        self.builder.get_ref().clone()
    }
}

fn set_raw(field: &mut [u8], value: &str) {
    assert!(
        value.len() <= field.len(),
        "{value} too long for a raw field"
    );
    field.fill(0);
    field[..value.len()].copy_from_slice(value.as_bytes());
}

/// `"<len> key=value\n"`, where len counts itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// A temp dir holding `dest` (empty) and a sibling `outside` with a file
/// and a subdirectory, which no layer may touch.
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    pub dest: PathBuf,
    pub outside: PathBuf,
    before: BTreeMap<PathBuf, String>,
}

impl Sandbox {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let outside = tmp.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir_all(outside.join("sub")).unwrap();
        fs::write(outside.join("file"), b"original").unwrap();
        let mut sb = Self {
            _tmp: tmp,
            dest,
            outside,
            before: BTreeMap::new(),
        };
        sb.before = sb.outside_state();
        sb
    }

    /// Unpacks into `dest`, and into an EROFS image that must agree.
    pub fn unpack(&self, layer: &[u8]) -> Result<Unpacked, FsError> {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64 - 1);
        let result = unpack_layer(layer, &self.dest, &UnpackLimits::default());
        crate::erofs_twin::check(layer, &self.dest, &result, started);
        result
    }

    /// Everything about the tree beside `dest`: names, types, modes,
    /// owners, sizes, contents, mtimes.
    fn outside_state(&self) -> BTreeMap<PathBuf, String> {
        let parent = self.dest.parent().unwrap();
        let mut state = BTreeMap::new();
        let mut todo = vec![parent.to_path_buf()];
        while let Some(dir) = todo.pop() {
            for ent in fs::read_dir(&dir).unwrap() {
                let path = ent.unwrap().path();
                if path == self.dest {
                    continue;
                }
                let md = fs::symlink_metadata(&path).unwrap();
                let content = if md.is_file() {
                    String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned()
                } else {
                    String::new()
                };
                state.insert(
                    path.clone(),
                    format!(
                        "{:o} {}:{} {} {} {content:?}",
                        md.mode(),
                        md.uid(),
                        md.gid(),
                        md.len(),
                        md.mtime()
                    ),
                );
                if md.is_dir() {
                    todo.push(path);
                }
            }
        }
        state
    }

    pub fn assert_outside_unchanged(&self) {
        assert_eq!(
            self.before,
            self.outside_state(),
            "something outside dest changed"
        );
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }
}

pub fn lstat(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Reads an xattr without following symlinks; `None` if absent.
pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let cpath = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let cname = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and `buf` is valid for its
    // length.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok()?;
    buf.truncate(n);
    Some(buf)
}
