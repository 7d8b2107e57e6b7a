//! A small in-memory model of a layer, written with the builder.

#![allow(dead_code)]

use std::io::Cursor;

use pocky_erofs::{Builder, Meta};

pub fn meta(mode: u32, uid: u32, mtime: i64) -> Meta {
    Meta {
        uid,
        gid: uid + 1,
        mode,
        mtime,
        mtime_nsec: 7,
        xattrs: vec![],
    }
}

pub fn p(s: &str) -> Vec<&[u8]> {
    s.split('/').map(str::as_bytes).collect()
}

/// A layer with one of everything.
pub fn sample() -> Vec<u8> {
    let mut b = Builder::new(Cursor::new(Vec::new()), 1_700_000_000).unwrap();
    b.dir(&p("etc"), meta(0o755, 0, 10)).unwrap();
    b.file(&p("etc/hostname"), meta(0o644, 0, 11), &mut &b"box\n"[..])
        .unwrap();
    let big = vec![b'x'; 10_000];
    b.file(&p("usr/bin/big"), meta(0o4755, 5, 12), &mut &big[..])
        .unwrap();
    b.file(&p("empty"), meta(0o600, 0, 13), &mut &b""[..])
        .unwrap();
    b.symlink(&p("usr/bin/link"), meta(0o777, 0, 14), b"big")
        .unwrap();
    b.hardlink(&p("usr/bin/hard"), &p("usr/bin/big")).unwrap();
    b.special(
        &p("fifo"),
        meta(0o644, 0, 15),
        pocky_erofs::format::S_IFIFO,
        0,
    )
    .unwrap();
    b.whiteout(&p("etc/gone")).unwrap();
    b.opaque(&p("opaque")).unwrap();
    let mut m = meta(0o755, 0, 16);
    m.xattrs = vec![
        (b"user.k".to_vec(), b"v".to_vec()),
        (
            b"security.capability".to_vec(),
            vec![
                1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ),
    ];
    b.file(&p("cap"), m, &mut &b"#!/bin/sh\n"[..]).unwrap();
    // A directory large enough for blocks of its own.
    for i in 0..400 {
        let name = format!("many/file-with-a-longish-name-{i:04}");
        b.file(&p(&name), meta(0o644, 0, 17), &mut &b"a"[..])
            .unwrap();
    }
    let (out, _) = b.finish().unwrap();
    out.into_inner()
}
