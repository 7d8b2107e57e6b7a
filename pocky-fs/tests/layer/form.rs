//! The tars themselves, read with the tar crate: OCI whiteout names, no
//! overlay xattrs, hard links, ids, device nodes, sorted order.

use std::path::Path;

use nix::sys::stat::SFlag;
use pocky_fs::{FsError, UnpackLimits, pack_layer, pack_tree};
use pocky_testkit::privileged;
use tar::EntryType;

use crate::support::*;

fn pax<'a>(e: &'a TarEntry, key: &str) -> Option<&'a [u8]> {
    e.pax
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

fn parent(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rfind('/').map_or("", |i| &trimmed[..=i])
}

#[test]
fn a_layer_tar_has_oci_markers_links_ids_and_no_overlay_xattrs() {
    if !privileged("a_layer_tar_has_oci_markers_links_ids_and_no_overlay_xattrs") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    overlay_upper(src.path());
    let mut tar = Vec::new();
    pack_layer(src.path(), &mut tar).unwrap();
    let all = entries(&tar);
    assert_eq!(names(&all), overlay_upper_names());

    for (i, e) in all.iter().enumerate() {
        assert!(
            !e.path.starts_with('/') && !e.path.starts_with("./"),
            "{}",
            e.path
        );
        assert_eq!(
            e.kind == EntryType::Directory,
            e.path.ends_with('/'),
            "{}",
            e.path
        );
        for (k, _) in &e.pax {
            assert!(
                !k.starts_with("SCHILY.xattr.trusted.overlay.")
                    && !k.starts_with("SCHILY.xattr.user.overlay."),
                "{} carries {k}",
                e.path
            );
        }
        // Parents first; siblings sorted.
        let p = parent(&e.path);
        assert!(
            p.is_empty() || all[..i].iter().any(|x| x.path == p),
            "{}",
            e.path
        );
        if let Some(prev) = all[..i].iter().rev().find(|x| parent(&x.path) == p) {
            assert!(prev.path < e.path, "{} before {}", prev.path, e.path);
        }
    }

    for w in [
        "etc/.wh.removed",
        "etc/.wh.shadow-gone",
        "opt/uo/.wh..wh..opq",
    ] {
        let e = find(&all, w);
        assert_eq!(
            (e.kind, e.size, e.uid, e.gid, e.mode),
            (EntryType::Regular, 0, 0, 0, 0o644)
        );
    }
    let passwd = find(&all, "etc/passwd");
    assert_eq!(pax(passwd, "SCHILY.xattr.user.test"), Some(&b"hello"[..]));
    assert_eq!(passwd.pax.len(), 1);
    let ping = find(&all, "bin/ping");
    assert_eq!(
        pax(ping, "SCHILY.xattr.security.capability"),
        Some(&NET_RAW_CAP[..])
    );
    let cache = find(&all, "var/cache/");
    assert_eq!(pax(cache, "SCHILY.xattr.trusted.other"), Some(&b"v"[..]));
    let notes = find(&all, "home/u/notes");
    assert_eq!(pax(notes, "SCHILY.xattr.user.test"), Some(&b"a=b"[..]));
    assert_eq!((notes.uid, notes.gid, notes.mode), (1000, 1000, 0o600));

    let link = find(&all, "bin/su-again");
    assert_eq!(
        (link.kind, link.link.as_deref()),
        (EntryType::Link, Some("bin/su"))
    );
    assert_eq!(find(&all, "bin/su").mode, 0o4755);
    let sg = find(&all, "bin/sg");
    assert_eq!((sg.mode, sg.gid), (0o2755, 42));
    assert_eq!(find(&all, "tmp/").mode, 0o1777);
    let big = find(&all, "home/big");
    assert_eq!((big.uid, big.gid), (3_000_000, 4_000_000));
    assert_eq!(pax(big, "uid"), Some(&b"3000000"[..]));
    let fifo = find(&all, "run/fifo");
    assert_eq!(
        (fifo.kind, fifo.mode, fifo.uid, fifo.gid),
        (EntryType::Fifo, 0o640, 5, 6)
    );
    for (name, target) in [
        ("lib64", "/lib".to_owned()),
        ("rel", "../etc/passwd".to_owned()),
        ("dangling", "nowhere/at/all".to_owned()),
        ("deep/longlink", long_target()),
    ] {
        let e = find(&all, name);
        assert_eq!(
            (e.kind, e.link.as_deref()),
            (EntryType::Symlink, Some(target.as_str()))
        );
    }
}

#[test]
fn device_nodes_are_entries_and_sockets_are_left_out() {
    if !privileged("device_nodes_are_entries_and_sockets_are_left_out") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    device(root, "null", SFlag::S_IFCHR, 1, 3);
    device(root, "loop0", SFlag::S_IFBLK, 7, 0);
    whiteout(root, "gone");
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let mut tar = Vec::new();
    let packed = pack_layer(root, &mut tar).unwrap();
    assert_eq!(
        (packed.devices, packed.skipped_sockets, packed.whiteouts),
        (2, 1, 1)
    );
    let all = entries(&tar);
    assert_eq!(names(&all), [".wh.gone", "loop0", "null"]);
    assert_eq!(
        (find(&all, "null").kind, find(&all, "null").dev),
        (EntryType::Char, (1, 3))
    );
    assert_eq!(
        (find(&all, "loop0").kind, find(&all, "loop0").dev),
        (EntryType::Block, (7, 0))
    );
    // The unpacker leaves devices out, as its own rules say.
    let dest = tempfile::tempdir().unwrap();
    let unpacked = pocky_fs::unpack_layer(&tar[..], dest.path(), &UnpackLimits::default()).unwrap();
    assert_eq!(unpacked.skipped_devices, 2);
}

#[test]
fn a_tree_is_archived_as_it_is() {
    if !privileged("a_tree_is_archived_as_it_is") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    whiteout(root, "w");
    mkdir(root, "o", 0o755);
    set_xattr(root, "o", "trusted.overlay.opaque", b"y");
    write(root, "o/c", b"c", 0o644);
    write(root, "h1", b"h", 0o644);
    set_xattr(root, "h1", "user.test", b"t");
    std::fs::hard_link(root.join("h1"), root.join("h2")).unwrap();
    let mut tar = Vec::new();
    let packed = pack_tree(root, &mut tar).unwrap();
    assert_eq!(
        (packed.whiteouts, packed.opaque_dirs, packed.hardlinks),
        (0, 0, 1)
    );
    let all = entries(&tar);
    assert_eq!(names(&all), ["h1", "h2", "o/", "o/c", "w"]);
    assert_eq!(find(&all, "w").kind, EntryType::Char);
    assert!(find(&all, "o/").pax.is_empty());
    assert_eq!(
        pax(find(&all, "h1"), "SCHILY.xattr.user.test"),
        Some(&b"t"[..])
    );
    assert_eq!(find(&all, "h2").link.as_deref(), Some("h1"));
}

#[test]
fn an_upper_dir_with_a_redirect_or_metacopy_is_refused() {
    if !privileged("an_upper_dir_with_a_redirect_or_metacopy_is_refused") {
        return;
    }
    for (rel, key) in [
        ("moved", "trusted.overlay.redirect"),
        ("f", "trusted.overlay.metacopy"),
    ] {
        let src = tempfile::tempdir().unwrap();
        if rel == "f" {
            write(src.path(), rel, b"", 0o644);
        } else {
            mkdir(src.path(), rel, 0o755);
        }
        set_xattr(src.path(), rel, key, b"/old");
        let err = pack_layer(src.path(), std::io::sink()).unwrap_err();
        assert!(
            matches!(&err, FsError::Unarchivable { entry, .. } if Path::new(entry) == Path::new(rel)),
            "{err}"
        );
        // A merged view never shows them; a tree keeps what it can.
        pack_tree(src.path(), std::io::sink()).unwrap();
    }
}
