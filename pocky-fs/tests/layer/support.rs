//! Building overlay-format trees (owners, device nodes, xattrs) and
//! describing trees and tars for comparison.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

/// The fixed mtime the test trees get, so two trees can be compared.
pub const MTIME: i64 = 1_600_000_000;

/// A v2 `security.capability` granting `cap_net_raw` (bit 13), effective.
pub const NET_RAW_CAP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

pub fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, data).unwrap();
    chmod(root, rel, mode);
}

pub fn mkdir(root: &Path, rel: &str, mode: u32) {
    fs::create_dir_all(root.join(rel)).unwrap();
    chmod(root, rel, mode);
}

pub fn chmod(root: &Path, rel: &str, mode: u32) {
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &root.join(rel),
        Mode::from_bits_retain(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .unwrap();
}

pub fn chown(root: &Path, rel: &str, uid: u32, gid: u32) {
    fchownat(
        nix::fcntl::AT_FDCWD,
        &root.join(rel),
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

pub fn symlink(root: &Path, rel: &str, target: &str) {
    std::os::unix::fs::symlink(target, root.join(rel)).unwrap();
}

/// An overlayfs whiteout: a character device 0:0, mode 0.
pub fn whiteout(root: &Path, rel: &str) {
    mknod(
        &root.join(rel),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .unwrap();
}

pub fn device(root: &Path, rel: &str, kind: SFlag, major: u64, minor: u64) {
    let mode = Mode::from_bits_truncate(0o660);
    mknod(&root.join(rel), kind, mode, makedev(major, minor)).unwrap();
}

pub fn set_xattr(root: &Path, rel: &str, name: &str, value: &[u8]) {
    let path = CString::new(root.join(rel).as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    // SAFETY: both strings are NUL-terminated and live across the call;
    // `value` is valid for its length.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setxattr {name:?} on {rel}: {}",
        std::io::Error::last_os_error()
    );
}

/// The xattrs of `path` (not followed), by name.
pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut list = vec![0u8; 65536];
    // SAFETY: `cpath` is NUL-terminated, `list` valid for its length.
    let n = unsafe { libc::llistxattr(cpath.as_ptr(), list.as_mut_ptr().cast(), list.len()) };
    assert!(n >= 0, "listxattr {}", path.display());
    list.truncate(n as usize);
    let mut out = BTreeMap::new();
    for name in list.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).unwrap();
        let mut value = vec![0u8; 65536];
        // SAFETY: as above, `cname` NUL-terminated, `value` valid.
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        assert!(n >= 0, "getxattr {}", path.display());
        value.truncate(n as usize);
        out.insert(String::from_utf8(name.to_vec()).unwrap(), value);
    }
    out
}

/// Gives every entry of `root` (the root too) the mtime [`MTIME`],
/// deepest first so a directory's time is not bumped after it is set.
pub fn settle_times(root: &Path) {
    let mut paths = vec![root.to_owned()];
    let mut i = 0;
    while i < paths.len() {
        let p = paths[i].clone();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                paths.push(e.unwrap().path());
            }
        }
        i += 1;
    }
    let ts = TimeSpec::new(MTIME, 0);
    for p in paths.iter().rev() {
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            p,
            &ts,
            &ts,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
}

/// What a tree entry is, as a comparable string, and its inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub what: String,
    pub ino: u64,
}

/// Every entry below `root` (not the root itself), by relative path.
/// overlayfs's xattrs other than `opaque=y` are left out, and the two
/// prefixes of `opaque` read as one, since a layer keeps only the meaning.
pub fn describe(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Node>) {
    for e in fs::read_dir(root.join(rel)).unwrap() {
        let e = e.unwrap();
        let rel = rel.join(e.file_name());
        let path = root.join(&rel);
        let md = fs::symlink_metadata(&path).unwrap();
        let ft = md.file_type();
        let mut x = xattrs(&path);
        let opaque = ["trusted.overlay.opaque", "user.overlay.opaque"]
            .iter()
            .any(|k| x.get(*k).is_some_and(|v| v == b"y"));
        x.retain(|k, _| !k.starts_with("trusted.overlay.") && !k.starts_with("user.overlay."));
        let owner = format!(
            "{:o} {}:{} t{}",
            md.mode() & 0o7777,
            md.uid(),
            md.gid(),
            md.mtime()
        );
        let what = if ft.is_char_device() && md.rdev() == 0 {
            // Whiteouts have no metadata a layer keeps.
            "whiteout".to_owned()
        } else if ft.is_dir() {
            format!("dir {owner} opaque={opaque} {x:?}")
        } else if ft.is_symlink() {
            let t = fs::read_link(&path).unwrap();
            format!(
                "symlink {} {}:{} -> {}",
                md.mtime(),
                md.uid(),
                md.gid(),
                t.display()
            )
        } else if ft.is_file() {
            let mut data = Vec::new();
            fs::File::open(&path)
                .unwrap()
                .read_to_end(&mut data)
                .unwrap();
            format!("file {owner} {data:?} {x:?}")
        } else if ft.is_fifo() {
            format!("fifo {owner} {x:?}")
        } else {
            format!("other {owner} rdev {}", md.rdev())
        };
        out.insert(
            rel.clone(),
            Node {
                what,
                ino: md.ino(),
            },
        );
        if ft.is_dir() {
            walk(root, &rel, out);
        }
    }
}

/// One tar entry as the tar crate reads it.
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub path: String,
    pub kind: tar::EntryType,
    pub link: Option<String>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub dev: (u32, u32),
    pub pax: Vec<(String, Vec<u8>)>,
}

pub fn entries(tar_bytes: &[u8]) -> Vec<TarEntry> {
    let mut a = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let pax = match e.pax_extensions().unwrap() {
            Some(exts) => exts
                .map(|x| {
                    let x = x.unwrap();
                    (x.key().unwrap().to_owned(), x.value_bytes().to_vec())
                })
                .collect(),
            None => Vec::new(),
        };
        let h = e.header();
        out.push(TarEntry {
            path: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type(),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap()),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            size: h.size().unwrap(),
            dev: if matches!(h.entry_type(), tar::EntryType::Char | tar::EntryType::Block) {
                (
                    h.device_major().unwrap().unwrap_or(0),
                    h.device_minor().unwrap().unwrap_or(0),
                )
            } else {
                (0, 0)
            },
            pax,
        });
    }
    out
}

pub fn find<'a>(entries: &'a [TarEntry], path: &str) -> &'a TarEntry {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no entry {path} in {:#?}", names(entries)))
}

pub fn names(entries: &[TarEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

pub const LONG_DIR: &str = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
pub const LONG_FILE: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

pub fn long_target() -> String {
    "x".repeat(150)
}

/// An overlay upper directory with one of everything a layer carries
/// (needs root: owners, whiteouts, trusted xattrs). Times are settled.
pub fn overlay_upper(root: &Path) {
    mkdir(root, "etc", 0o755);
    write(root, "etc/passwd", b"root:x:0:0", 0o644);
    set_xattr(root, "etc/passwd", "user.test", b"hello");
    set_xattr(root, "etc/passwd", "trusted.overlay.origin", b"junk");
    whiteout(root, "etc/removed");
    // overlayfs links its whiteouts to one shared inode.
    fs::hard_link(root.join("etc/removed"), root.join("etc/shadow-gone")).unwrap();

    mkdir(root, "bin", 0o755);
    write(root, "bin/su", b"su", 0o4755);
    fs::hard_link(root.join("bin/su"), root.join("bin/su-again")).unwrap();
    write(root, "bin/sg", b"sg", 0o644);
    chown(root, "bin/sg", 0, 42);
    // chown clears setgid: the mode goes on after it.
    chmod(root, "bin/sg", 0o2755);
    write(root, "bin/ping", b"ping", 0o755);
    set_xattr(root, "bin/ping", "security.capability", &NET_RAW_CAP);

    mkdir(root, "tmp", 0o1777);
    mkdir(root, "home/u", 0o700);
    chown(root, "home/u", 1000, 1000);
    write(root, "home/u/notes", b"two\nlines", 0o600);
    chown(root, "home/u/notes", 1000, 1000);
    // Not a newline: the tar crate, which unpack_layer reads with, splits
    // PAX records on newlines (tar-rs#452); gnu_tar.rs checks that case.
    set_xattr(root, "home/u/notes", "user.test", b"a=b");
    write(root, "home/big", b"", 0o644);
    chown(root, "home/big", 3_000_000, 4_000_000);

    symlink(root, "lib64", "/lib");
    symlink(root, "rel", "../etc/passwd");
    symlink(root, "dangling", "nowhere/at/all");

    mkdir(root, "run", 0o755);
    nix::unistd::mkfifo(&root.join("run/fifo"), Mode::from_bits_truncate(0o640)).unwrap();
    chmod(root, "run/fifo", 0o640);
    chown(root, "run/fifo", 5, 6);

    mkdir(root, "var/cache", 0o755);
    set_xattr(root, "var/cache", "trusted.overlay.opaque", b"y");
    set_xattr(root, "var/cache", "trusted.other", b"v");
    write(root, "var/cache/new", b"fresh", 0o644);
    mkdir(root, "opt/uo", 0o755);
    set_xattr(root, "opt/uo", "user.overlay.opaque", b"y");
    write(root, "opt/uo/x", b"x", 0o644);

    let long = format!("deep/{LONG_DIR}");
    mkdir(root, &long, 0o755);
    write(root, &format!("{long}/{LONG_FILE}"), b"long", 0o644);
    symlink(root, "deep/longlink", &long_target());
    settle_times(root);
}

/// The archive names [`overlay_upper`] packs to, in order.
pub fn overlay_upper_names() -> Vec<String> {
    let long = format!("deep/{LONG_DIR}");
    let mut v: Vec<String> = [
        "bin/",
        "bin/ping",
        "bin/sg",
        "bin/su",
        "bin/su-again",
        "dangling",
        "deep/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("{long}/"));
    v.push(format!("{long}/{LONG_FILE}"));
    v.extend(
        [
            "deep/longlink",
            "etc/",
            "etc/.wh.removed",
            "etc/.wh.shadow-gone",
            "etc/passwd",
            "home/",
            "home/big",
            "home/u/",
            "home/u/notes",
            "lib64",
            "opt/",
            "opt/uo/",
            "opt/uo/.wh..wh..opq",
            "opt/uo/x",
            "rel",
            "run/",
            "run/fifo",
            "tmp/",
            "var/",
            "var/cache/",
            "var/cache/.wh..wh..opq",
            "var/cache/new",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
