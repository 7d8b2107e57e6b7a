//! The builder against its own reader: random trees read back exactly,
//! and damaged images give errors, never panics.

mod support;

use std::collections::BTreeMap;
use std::io::Cursor;

use pocky_erofs::format::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use pocky_erofs::{Builder, Image, Meta};

/// xorshift64*: deterministic, seedable, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Dir(Meta),
    File(Meta, Vec<u8>),
    Link(Meta, Vec<u8>),
}

fn random_meta(r: &mut Rng) -> Meta {
    let mut xattrs = Vec::new();
    for i in 0..r.below(3) {
        let names: [&[u8]; 3] = [b"user.a", b"trusted.overlay.opaque", b"security.x"];
        let value = vec![b'v'; r.below(300) as usize];
        xattrs.push((names[i as usize].to_vec(), value));
    }
    Meta {
        uid: r.below(70_000) as u32,
        gid: r.below(70_000) as u32,
        mode: (r.below(0o10000)) as u32,
        mtime: r.below(1 << 40) as i64 - (1 << 20),
        mtime_nsec: r.below(1_000_000_000) as u32,
        xattrs,
    }
}

fn random_name(r: &mut Rng) -> Vec<u8> {
    let max = if r.below(10) == 0 { 255 } else { 12 };
    let len = 1 + r.below(max) as usize;
    (0..len)
        .map(|_| {
            let b = 1 + r.below(254) as u8;
            if b == b'/' { b'_' } else { b }
        })
        .collect()
}

fn build(seed: u64) -> (Vec<u8>, BTreeMap<Vec<Vec<u8>>, Want>) {
    let mut r = Rng(seed | 1);
    let mut want = BTreeMap::new();
    let mut dirs: Vec<Vec<Vec<u8>>> = vec![vec![]];
    let mut b = Builder::new(Cursor::new(Vec::new()), 1).unwrap();
    for _ in 0..r.below(600) {
        let parent = dirs[r.below(dirs.len() as u64) as usize].clone();
        let mut path = parent.clone();
        path.push(random_name(&mut r));
        if path.last().is_some_and(|n| n == b"." || n == b"..") || want.contains_key(&path) {
            continue;
        }
        let comps: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
        let meta = random_meta(&mut r);
        match r.below(4) {
            0 => {
                b.dir(&comps, meta.clone()).unwrap();
                want.insert(path.clone(), Want::Dir(meta));
                dirs.push(path);
            }
            1 => {
                let target = random_name(&mut r);
                b.symlink(&comps, meta.clone(), &target).unwrap();
                want.insert(path, Want::Link(meta, target));
            }
            _ => {
                let size = match r.below(4) {
                    0 => 0,
                    1 => r.below(100),
                    2 => r.below(20_000),
                    _ => 4096 * (1 + r.below(3)),
                };
                let data: Vec<u8> = (0..size).map(|_| r.next() as u8).collect();
                b.file(&comps, meta.clone(), &mut &data[..]).unwrap();
                want.insert(path, Want::File(meta, data));
            }
        }
    }
    (b.finish().unwrap().0.into_inner(), want)
}

fn read_all<S: pocky_erofs::Source + ?Sized>(
    img: &Image<S>,
) -> Result<BTreeMap<Vec<Vec<u8>>, Want>, pocky_erofs::Error> {
    let mut out = BTreeMap::new();
    let mut todo = vec![(vec![], img.root()?)];
    let mut budget = 5_000;
    while let Some((path, node)) = todo.pop() {
        for e in img.read_dir(&node)? {
            budget -= 1;
            if budget == 0 {
                return Err(pocky_erofs::Error::Corrupt("too many entries"));
            }
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let child = img.node(e.nid)?;
            let mut p: Vec<Vec<u8>> = path.clone();
            p.push(e.name);
            let i = child.inode;
            let meta = Meta {
                uid: i.uid,
                gid: i.gid,
                mode: u32::from(i.mode) & 0o7777,
                mtime: i.mtime,
                mtime_nsec: i.mtime_nsec,
                xattrs: img.xattrs(&child)?,
            };
            let w = match u32::from(i.mode) & S_IFMT {
                S_IFDIR => {
                    todo.push((p.clone(), child));
                    Want::Dir(meta)
                }
                S_IFREG => Want::File(meta, img.content(&child)?),
                S_IFLNK => Want::Link(meta, img.content(&child)?),
                _ => continue,
            };
            out.insert(p, w);
        }
    }
    Ok(out)
}

#[test]
fn random_trees_read_back_exactly() {
    for seed in 1..40u64 {
        let (bytes, want) = build(seed * 7919);
        let img = Image::open(Box::<[u8]>::from(bytes)).unwrap();
        let got = read_all(&img).unwrap();
        assert_eq!(got.len(), want.len(), "seed {seed}");
        for (k, v) in &want {
            assert_eq!(got.get(k), Some(v), "seed {seed}: {k:?}");
        }
    }
}

#[test]
fn the_sample_has_its_links_and_whiteouts() {
    let img = Image::open(Box::<[u8]>::from(support::sample())).unwrap();
    let big = img.lookup(&support::p("usr/bin/big")).unwrap().unwrap();
    let hard = img.lookup(&support::p("usr/bin/hard")).unwrap().unwrap();
    assert_eq!(big.nid, hard.nid);
    assert_eq!(big.inode.nlink, 2);
    assert_eq!(u32::from(big.inode.mode), S_IFREG | 0o4755);
    let gone = img.lookup(&support::p("etc/gone")).unwrap().unwrap();
    assert_eq!(u32::from(gone.inode.mode), pocky_erofs::format::S_IFCHR);
    assert_eq!(gone.inode.raw, 0);
    let opaque = img.lookup(&support::p("opaque")).unwrap().unwrap();
    assert_eq!(
        img.xattrs(&opaque).unwrap(),
        vec![(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())]
    );
    let root = img.root().unwrap();
    // ., .., cap, empty, etc, fifo, many, opaque, usr
    assert_eq!(root.inode.nlink, 2 + 4);
    assert!(
        img.lookup(&support::p("usr/bin/nothing"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn damaged_images_give_errors_not_panics() {
    let good = support::sample();
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..1500 {
        let mut bad = good.clone();
        for _ in 0..1 + r.below(8) {
            // Mostly the metadata at the end, where damage matters most.
            let at = if r.below(4) == 0 {
                r.below(bad.len() as u64)
            } else {
                bad.len() as u64 - 1 - r.below(16_384.min(bad.len() as u64))
            };
            bad[at as usize] = r.next() as u8;
        }
        if r.below(10) == 0 {
            bad.truncate(r.below(bad.len() as u64) as usize);
        }
        if let Ok(img) = Image::open(Box::<[u8]>::from(bad)) {
            let _ = read_all(&img);
        }
    }
}

#[test]
fn hostile_names_and_links_are_refused() {
    let mut b = Builder::new(Cursor::new(Vec::new()), 1).unwrap();
    let m = support::meta(0o644, 0, 1);
    for bad in [&b".."[..], b".", b"", b"a/b", b"a\0b"] {
        assert!(b.file(&[bad], m.clone(), &mut &b""[..]).is_err(), "{bad:?}");
    }
    assert!(
        b.file(&[&[b'n'; 256][..]], m.clone(), &mut &b""[..])
            .is_err()
    );
    b.symlink(&[b"l"], m.clone(), b"/etc").unwrap();
    assert!(matches!(
        b.file(&[b"l", b"passwd"], m.clone(), &mut &b""[..]),
        Err(pocky_erofs::Error::Walk(pocky_erofs::WalkFailure::Symlink(
            0
        )))
    ));
    b.file(&[b"f"], m.clone(), &mut &b""[..]).unwrap();
    assert!(matches!(
        b.dir(&[b"f", b"d"], m.clone()),
        Err(pocky_erofs::Error::Walk(pocky_erofs::WalkFailure::NotDir(
            0
        )))
    ));
    assert!(b.hardlink(&[b"h"], &[b"missing"]).is_err());
    assert!(b.hardlink(&[b"h"], &[b"l", b"x"]).is_err());
    b.dir(&[b"d"], m.clone()).unwrap();
    assert!(matches!(
        b.hardlink(&[b"h"], &[b"d"]),
        Err(pocky_erofs::Error::LinkToDirectory)
    ));
    b.file(&[b"d", b"t"], m.clone(), &mut &b"x"[..]).unwrap();
    // A link whose own name clears the directory holding its target.
    assert!(b.hardlink(&[b"d"], &[b"d", b"t"]).is_err());
    let mut x = m.clone();
    x.xattrs = vec![(b"bogus.name".to_vec(), b"v".to_vec())];
    assert!(matches!(
        b.file(&[b"x"], x, &mut &b""[..]),
        Err(pocky_erofs::Error::UnsupportedXattr(_))
    ));
    b.finish().unwrap();
}
