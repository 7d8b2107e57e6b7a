//! An ordinary layer comes out exactly as described.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use tar::EntryType;

use crate::support::{Entry, Sandbox, Tar, get_xattr, lstat};

fn normal_layer() -> Vec<u8> {
    let mut t = Tar::new();
    t.entry(Entry {
        kind: EntryType::Directory,
        name: "./",
        mode: 0o700,
        ..Entry::default()
    });
    t.entry(Entry {
        kind: EntryType::Directory,
        name: "etc/",
        mode: 0o751,
        mtime: 1_000,
        ..Entry::default()
    });
    t.pax(&[("SCHILY.xattr.user.pocky", b"yes"), ("mtime", b"2000.5")]);
    t.file("etc/hosts", 0o644, b"127.0.0.1 localhost\n");
    t.symlink("etc/link", "hosts");
    t.hardlink("etc/hosts2", "etc/hosts");
    t.entry(Entry {
        name: "usr/bin/su",
        mode: 0o4755,
        uid: 1000,
        gid: 1000,
        data: b"#!/bin/true\n",
        ..Entry::default()
    });
    t.entry(Entry {
        kind: EntryType::Fifo,
        name: "run/fifo",
        mode: 0o640,
        ..Entry::default()
    });
    t.dir("tmp", 0o1777);
    t.entry(Entry {
        kind: EntryType::Directory,
        name: "home/user",
        mode: 0o2750,
        uid: 1000,
        gid: 1000,
        mtime: 3_000,
        ..Entry::default()
    });
    t.file("home/user/.profile", 0o600, b"x");
    t.finish()
}

#[test]
fn normal_layer_round_trips() {
    let sb = Sandbox::new();
    let layer = normal_layer();
    let out = sb.unpack(&layer).unwrap();
    assert_eq!(out.entries, 10);
    assert_eq!(out.file_bytes, 20 + 12 + 1);
    assert_eq!(out.tar_bytes, layer.len() as u64);

    assert_eq!(
        fs::read(sb.path("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    let hosts = lstat(&sb.path("etc/hosts"));
    assert_eq!(hosts.mode() & 0o7777, 0o644);
    assert_eq!((hosts.mtime(), hosts.mtime_nsec()), (2000, 500_000_000));
    assert_eq!(
        get_xattr(&sb.path("etc/hosts"), "user.pocky").as_deref(),
        Some(&b"yes"[..])
    );

    // Directory times survive the children created after them.
    let etc = lstat(&sb.path("etc"));
    assert_eq!(etc.mode() & 0o7777, 0o751);
    assert_eq!(etc.mtime(), 1_000);
    assert_eq!(lstat(&sb.path("home/user")).mtime(), 3_000);
    assert_eq!(lstat(&sb.path("home/user")).mode() & 0o7777, 0o2750);

    assert_eq!(
        fs::read_link(sb.path("etc/link")).unwrap().to_str(),
        Some("hosts")
    );
    assert_eq!(lstat(&sb.path("etc/link")).mtime(), 1_600_000_000);
    assert_eq!(lstat(&sb.path("etc/hosts2")).ino(), hosts.ino());
    assert_eq!(hosts.nlink(), 2);

    assert_eq!(lstat(&sb.path("usr/bin/su")).mode() & 0o7777, 0o4755);
    // Implied parents are 0755 whatever the umask.
    assert_eq!(lstat(&sb.path("usr")).mode() & 0o7777, 0o755);
    assert_eq!(lstat(&sb.path("usr/bin")).mode() & 0o7777, 0o755);

    let fifo = lstat(&sb.path("run/fifo"));
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o640);
    assert_eq!(lstat(&sb.path("tmp")).mode() & 0o7777, 0o1777);

    // The root entry does not change dest's own mode.
    assert_ne!(lstat(&sb.dest).mode() & 0o7777, 0o700);
}

#[test]
fn ownership_and_setuid_survive_chown() {
    if !pocky_testkit::privileged("ownership_and_setuid_survive_chown") {
        return;
    }
    let sb = Sandbox::new();
    sb.unpack(&normal_layer()).unwrap();
    let su = lstat(&sb.path("usr/bin/su"));
    assert_eq!((su.uid(), su.gid()), (1000, 1000));
    assert_eq!(su.mode() & 0o7777, 0o4755, "chown must not clear setuid");
    let home = lstat(&sb.path("home/user"));
    assert_eq!((home.uid(), home.gid()), (1000, 1000));
    assert_eq!(home.mode() & 0o7777, 0o2750);
    assert_eq!(lstat(&sb.path("etc/hosts")).uid(), 0);
}

#[test]
fn pax_uid_and_trusted_xattr_apply_as_root() {
    if !pocky_testkit::privileged("pax_uid_and_trusted_xattr_apply_as_root") {
        return;
    }
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.pax(&[
        ("uid", b"3000000"),
        ("gid", b"3000001"),
        ("SCHILY.xattr.trusted.pocky", b"t"),
    ]);
    t.dir("d", 0o755);
    sb.unpack(&t.finish()).unwrap();
    let d = lstat(&sb.path("d"));
    assert_eq!((d.uid(), d.gid()), (3_000_000, 3_000_001));
    assert_eq!(
        get_xattr(&sb.path("d"), "trusted.pocky").as_deref(),
        Some(&b"t"[..])
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.file("a/b/file", 0o644, b"1");
    t.file("a", 0o600, b"a is now a file");
    t.file("x", 0o644, b"x");
    t.dir("x", 0o700);
    t.file("x/inner", 0o644, b"in");
    t.dir("keep", 0o755);
    t.file("keep/child", 0o644, b"c");
    t.dir("keep", 0o700);
    t.file("same", 0o644, b"old");
    t.file("same", 0o644, b"new");
    sb.unpack(&t.finish()).unwrap();
    assert_eq!(fs::read(sb.path("a")).unwrap(), b"a is now a file");
    assert!(lstat(&sb.path("x")).is_dir());
    assert_eq!(fs::read(sb.path("x/inner")).unwrap(), b"in");
    assert_eq!(fs::read(sb.path("keep/child")).unwrap(), b"c");
    assert_eq!(lstat(&sb.path("keep")).mode() & 0o7777, 0o700);
    assert_eq!(fs::read(sb.path("same")).unwrap(), b"new");
}

#[test]
fn root_as_a_file_is_refused() {
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.file("./", 0o644, b"");
    assert!(matches!(
        sb.unpack(&t.finish()),
        Err(pocky_fs::FsError::RootNotDirectory { .. })
    ));
}

#[test]
fn unknown_entry_types_are_refused() {
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.entry(Entry {
        kind: EntryType::new(b'V'),
        name: "label",
        ..Entry::default()
    });
    let err = sb.unpack(&t.finish()).unwrap_err();
    assert!(
        matches!(err, pocky_fs::FsError::UnsupportedType { kind: 'V', .. }),
        "{err}"
    );
}
