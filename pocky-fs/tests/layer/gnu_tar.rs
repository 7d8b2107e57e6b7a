//! An independent reader: GNU tar lists and extracts what pack_layer wrote.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use pocky_fs::pack_layer;
use pocky_testkit::{needs, privileged};

use crate::support::*;

fn gnu_tar() -> bool {
    Command::new("tar")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GNU tar"))
}

fn run(args: &[&str]) -> String {
    let out = Command::new("tar").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn gnu_tar_lists_and_extracts_a_layer() {
    let test = "gnu_tar_lists_and_extracts_a_layer";
    if !privileged(test) || !needs(test, gnu_tar(), "needs GNU tar") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    overlay_upper(src.path());
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("layer.tar");
    pack_layer(src.path(), std::fs::File::create(&file).unwrap()).unwrap();
    let file = file.to_str().unwrap();

    let listing = run(&[
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "-tvvf",
        file,
    ]);
    let lines: Vec<&str> = listing.lines().filter(|l| !l.starts_with(' ')).collect();
    let paths: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(5).unwrap())
        .collect();
    assert_eq!(paths, overlay_upper_names(), "{listing}");
    let has = |needle: &str| {
        assert!(
            listing.lines().any(|l| l.contains(needle)),
            "no line with {needle:?} in\n{listing}"
        )
    };
    has("bin/su-again link to bin/su");
    has("lib64 -> /lib");
    has("dangling -> nowhere/at/all");
    has("3000000/4000000");
    has("0/42");
    has("-rwsr-xr-x");
    has("drwxrwxrwt");
    has("prw-r-----");
    has("etc/.wh.removed");
    has("var/cache/.wh..wh..opq");
    has("x: 5 user.test");
    has("security.capability");
    assert!(!listing.contains("trusted.overlay"), "{listing}");

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().to_str().unwrap();
    run(&[
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "-xpf",
        file,
        "-C",
        dest,
    ]);
    let x = xattrs(&out.path().join("etc/passwd"));
    assert_eq!(x.get("user.test").map(Vec::as_slice), Some(&b"hello"[..]));
    let x = xattrs(&out.path().join("bin/ping"));
    assert_eq!(
        x.get("security.capability").map(Vec::as_slice),
        Some(&NET_RAW_CAP[..])
    );
    let ino = |p: &str| std::fs::metadata(out.path().join(p)).unwrap().ino();
    assert_eq!(ino("bin/su"), ino("bin/su-again"));
    let big = std::fs::metadata(out.path().join("home/big")).unwrap();
    assert_eq!((big.uid(), big.gid()), (3_000_000, 4_000_000));
}

/// The records of the first PAX header in `tar`, walked by their length
/// prefixes as POSIX frames them.
fn raw_pax_records(tar: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at + 156] != b'x' {
        let size = usize::from_str_radix(
            std::str::from_utf8(&tar[at + 124..at + 135])
                .unwrap()
                .trim_matches(|c| c == '\0' || c == ' '),
            8,
        )
        .unwrap();
        at += 512 + size.div_ceil(512) * 512;
    }
    let size = usize::from_str_radix(
        std::str::from_utf8(&tar[at + 124..at + 135])
            .unwrap()
            .trim_matches(|c| c == '\0' || c == ' '),
        8,
    )
    .unwrap();
    let mut body = &tar[at + 512..at + 512 + size];
    let mut out = Vec::new();
    while !body.is_empty() {
        let sp = body.iter().position(|b| *b == b' ').unwrap();
        let len: usize = std::str::from_utf8(&body[..sp]).unwrap().parse().unwrap();
        let record = &body[sp + 1..len];
        assert_eq!(body[len - 1], b'\n');
        let eq = record.iter().position(|b| *b == b'=').unwrap();
        out.push((
            record[..eq].to_vec(),
            record[eq + 1..record.len() - 1].to_vec(),
        ));
        body = &body[len..];
    }
    out
}

#[test]
fn an_xattr_value_with_a_newline_is_framed_by_length() {
    let test = "an_xattr_value_with_a_newline_is_framed_by_length";
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "f", b"f", 0o644);
    // 0x0a inside a capability set (bits 1 and 3) is the real-world case.
    let value = b"line one\nline two\n".to_vec();
    set_xattr(src.path(), "f", "user.test", &value);
    let mut tar = Vec::new();
    pack_layer(src.path(), &mut tar).unwrap();
    assert_eq!(
        raw_pax_records(&tar),
        [(b"SCHILY.xattr.user.test".to_vec(), value.clone())]
    );
    if !needs(test, gnu_tar(), "needs GNU tar") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("layer.tar");
    std::fs::write(&file, &tar).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    run(&[
        "--xattrs",
        "--xattrs-include=user.*",
        "-xf",
        file.to_str().unwrap(),
        "-C",
        out.to_str().unwrap(),
    ]);
    assert_eq!(xattrs(&out.join("f")).get("user.test"), Some(&value));
}
