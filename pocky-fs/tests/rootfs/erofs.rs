//! EROFS layers stacked by overlayfs show what their unpacked directories
//! show, and erofs-utils's fsck accepts the images.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use pocky_fs::{Lower, Overlay, UnpackLimits, mount_overlay, unpack_layer, unpack_layer_erofs};

use crate::support::{check, ensure, in_private_mount_ns};

/// A layer with a whiteout, an opaque directory, a hardlink, a symlink,
/// a setuid file and a large file over a lower layer that has what they
/// hide.
fn layers() -> (Vec<u8>, Vec<u8>) {
    let tar = |entries: &[(&str, tar::EntryType, &[u8], &str, u32)]| {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link, mode) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(*mode);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mtime(1_600_000_000);
            h.set_size(data.len() as u64);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    };
    use tar::EntryType::{Directory as D, Link as H, Regular as F, Symlink as L};
    let big = vec![7u8; 300_000];
    let bottom = tar(&[
        ("etc/", D, b"", "", 0o755),
        ("etc/passwd", F, b"root:x:0:0::/root:/bin/sh\n", "", 0o644),
        ("etc/gone", F, b"bye", "", 0o644),
        ("opt/", D, b"", "", 0o755),
        ("opt/old", F, b"old", "", 0o644),
    ]);
    let top = tar(&[
        ("etc/.wh.gone", F, b"", "", 0o644),
        ("opt/", D, b"", "", 0o700),
        ("opt/.wh..wh..opq", F, b"", "", 0o644),
        ("opt/new", F, b"new", "", 0o644),
        ("bin/tool", F, &big, "", 0o4755),
        ("bin/same", H, b"", "bin/tool", 0o4755),
        ("bin/link", L, b"", "tool", 0o777),
    ]);
    (bottom, top)
}

fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                let d = fs::read(&p).unwrap();
                format!(
                    "{} bytes, sum {}",
                    d.len(),
                    d.iter().map(|b| u64::from(*b)).sum::<u64>()
                )
            } else if m.file_type().is_symlink() {
                fs::read_link(&p).unwrap().display().to_string()
            } else {
                String::new()
            };
            if m.is_dir() {
                todo.push(p.clone());
            }
            out.insert(
                p.strip_prefix(root).unwrap().display().to_string(),
                format!(
                    "{:o} {}:{} n{} {} {content}",
                    m.permissions().mode(),
                    m.uid(),
                    m.gid(),
                    m.nlink(),
                    if m.is_dir() { 0 } else { m.mtime() }
                ),
            );
        }
    }
    out
}

#[test]
fn an_erofs_layer_stacks_like_its_directory() {
    if !pocky_testkit::privileged("an_erofs_layer_stacks_like_its_directory") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = |n: &str| {
        let p = t.path().join(n);
        fs::create_dir_all(&p).unwrap();
        p
    };
    let (bottom, top) = layers();
    let limits = UnpackLimits::default();
    let bottom_dir = dir("bottom");
    unpack_layer(&bottom[..], &bottom_dir, &limits).unwrap();
    let top_dir = dir("top");
    unpack_layer(&top[..], &top_dir, &limits).unwrap();
    let image = t.path().join("top.erofs");
    let mut f = fs::File::create(&image).unwrap();
    unpack_layer_erofs(&top[..], &mut f, 1_700_000_000, &limits).unwrap();
    drop(f);

    if pocky_testkit::needs(
        "an_erofs_layer_stacks_like_its_directory",
        Command::new("fsck.erofs").arg("-V").output().is_ok(),
        "needs erofs-utils (ci/install)",
    ) {
        let out = Command::new("fsck.erofs")
            .arg("--extract")
            .arg(&image)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fsck.erofs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let merged = |name: &str, top: Lower| {
        let o = Overlay {
            lowers: vec![top, Lower::Dir(bottom_dir.clone())],
            upper: dir(&format!("{name}-upper")),
            work: dir(&format!("{name}-work")),
            links: None,
            volatile: false,
        };
        let target = dir(&format!("{name}-merged"));
        let dump = t.path().join(format!("{name}.txt"));
        check(in_private_mount_ns(|| {
            mount_overlay(&o, &target).map_err(|e| e.to_string())?;
            let seen = tree(&target);
            ensure(
                !target.join("etc/gone").exists(),
                "the whiteout hides etc/gone",
            )?;
            ensure(
                !target.join("opt/old").exists(),
                "the opaque opt hides opt/old",
            )?;
            fs::write(target.join("etc/passwd"), "changed").map_err(|e| e.to_string())?;
            fs::write(&dump, format!("{seen:#?}")).map_err(|e| e.to_string())
        }));
        fs::read_to_string(&dump).unwrap()
    };
    let from_dir = merged("dir", Lower::Dir(top_dir.clone()));
    let from_image = merged("erofs", Lower::Erofs(image.clone()));
    assert_eq!(from_dir, from_image);
    assert!(from_image.contains("\"bin/tool\": \"104755 1000:1000 n2 1600000000 300000 bytes"));
    // Writes went to the upper layer, copied up from the image.
    assert_eq!(
        fs::read_to_string(t.path().join("erofs-upper/etc/passwd")).unwrap(),
        "changed"
    );
}
