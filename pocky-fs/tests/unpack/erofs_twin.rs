//! Every layer these tests unpack is also written as an EROFS image, and
//! the two must agree: the same error, or the same tree (names, types,
//! owners, modes, times, sizes, contents, link targets, xattrs, link
//! counts), read back from the image with pocky-erofs's reader.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use pocky_erofs::format::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use pocky_erofs::{Image, Node};
use pocky_fs::{FsError, UnpackLimits, Unpacked, unpack_layer_erofs};

use crate::support::get_xattr;

const XATTRS: [&str; 4] = [
    "trusted.overlay.opaque",
    "user.pocky",
    "trusted.pocky",
    "security.capability",
];

/// Unpacks `layer` into an image beside `dest` and compares it with what
/// the directory unpacker made of it (`dir`).
pub fn check(layer: &[u8], dest: &Path, dir: &Result<Unpacked, FsError>, started: i64) {
    // Apart from the sandbox, whose neighbours the tests watch.
    let scratch = tempfile::tempdir().unwrap();
    let image = scratch.path().join("layer.erofs");
    let mut file = fs::File::create(&image).unwrap();
    let erofs = unpack_layer_erofs(layer, &mut file, started, &UnpackLimits::default());
    match (dir, &erofs) {
        (Err(a), Err(b)) => {
            assert_eq!(
                a.to_string(),
                b.to_string(),
                "the two unpackers refuse alike"
            );
            return;
        }
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        _ => panic!("directory: {dir:?}, EROFS: {erofs:?}"),
    }
    let img = Image::open(Box::new(fs::File::open(&image).unwrap())).unwrap();
    let from_image = image_tree(&img, started);
    let from_dir = dir_tree(dest, started);
    assert_eq!(
        from_dir, from_image,
        "the image holds what the directory holds"
    );
}

fn dir_tree(root: &Path, started: i64) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for ent in fs::read_dir(&dir).unwrap() {
            let path = ent.unwrap().path();
            let m = fs::symlink_metadata(&path).unwrap();
            let t = m.file_type();
            let (kind, content) = if t.is_dir() {
                todo.push(path.clone());
                ("dir", String::new())
            } else if t.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                ("link", format!("{:?}", target.as_os_str().as_bytes()))
            } else if t.is_file() {
                ("file", format!("{:?}", fs::read(&path).unwrap()))
            } else if t.is_char_device() {
                ("char", format!("{}", m.rdev()))
            } else {
                ("other", String::new())
            };
            let mut xattrs = Vec::new();
            for name in XATTRS {
                if let Some(v) = get_xattr(&path, name) {
                    xattrs.push(format!("{name}={v:?}"));
                }
            }
            let mtime = time_of(
                t.is_dir() || t.is_char_device(),
                m.mtime(),
                m.mtime_nsec(),
                started,
            );
            let perm = if t.is_symlink() { 0 } else { m.mode() & 0o7777 };
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            out.insert(
                rel,
                format!(
                    "{kind} {perm:o} {}:{} n{} {mtime} {content} {xattrs:?}",
                    m.uid(),
                    m.gid(),
                    m.nlink()
                ),
            );
        }
    }
    out
}

/// Directory times of directories a path implied, and whiteouts' times,
/// are the moment of unpacking: only their being recent is compared.
fn time_of(loose: bool, secs: i64, nsecs: i64, started: i64) -> String {
    if loose && secs >= started {
        return "recent".into();
    }
    format!("{secs}.{nsecs}")
}

fn image_tree<S: pocky_erofs::Source + ?Sized>(
    img: &Image<S>,
    started: i64,
) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<(Vec<u8>, Node)> = vec![(Vec::new(), img.root().unwrap())];
    while let Some((path, node)) = todo.pop() {
        for e in img.read_dir(&node).unwrap() {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let child = img.node(e.nid).unwrap();
            let rel = if path.is_empty() {
                e.name.clone()
            } else {
                [&path[..], b"/", &e.name[..]].concat()
            };
            let i = child.inode;
            let mode = u32::from(i.mode);
            let (kind, content) = match mode & S_IFMT {
                S_IFDIR => {
                    todo.push((rel.clone(), child));
                    ("dir", String::new())
                }
                S_IFLNK => ("link", format!("{:?}", img.content(&child).unwrap())),
                S_IFREG => ("file", format!("{:?}", img.content(&child).unwrap())),
                S_IFCHR => ("char", format!("{}", i.raw)),
                _ => ("other", String::new()),
            };
            let xattrs: Vec<String> = img
                .xattrs(&child)
                .unwrap()
                .into_iter()
                .filter(|(k, _)| XATTRS.iter().any(|x| x.as_bytes() == k.as_slice()))
                .map(|(k, v)| format!("{}={v:?}", String::from_utf8_lossy(&k)))
                .collect();
            let loose = matches!(kind, "dir" | "char");
            let mtime = time_of(loose, i.mtime, i64::from(i.mtime_nsec), started);
            let perm = if kind == "link" { 0 } else { mode & 0o7777 };
            out.insert(
                rel,
                format!(
                    "{kind} {perm:o} {}:{} n{} {mtime} {content} {xattrs:?}",
                    i.uid, i.gid, i.nlink
                ),
            );
        }
    }
    out
}
