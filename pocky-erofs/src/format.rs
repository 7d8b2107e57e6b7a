//! The on-disk format, as far as pocky writes and reads it.
//!
//! EROFS (the kernel's `Documentation/filesystems/erofs.rst` and
//! `fs/erofs/erofs_fs.h`) is little-endian throughout. pocky uses only the
//! subset every kernel since 5.4 and erofs-utils 1.5 understand: no
//! compression, no chunks, no shared xattrs, no feature bits.
//!
//! ```text
//! offset 0            block 0: zeros, superblock at 1024 (128 bytes)
//! block 1 ..          regular files' data, each file in whole blocks of
//!                     its own (FLAT_PLAIN: `i_u` = first block), in the
//!                     order the tar brought them
//! then                directories and symlinks too large to sit beside
//!                     their inode (FLAT_PLAIN)
//! meta_blkaddr ..     the inodes: 64-byte "extended" inodes, each at a
//!                     32-byte slot (nid = slot number from meta_blkaddr),
//!                     followed by its inline xattrs and, for FLAT_INLINE,
//!                     its whole content (a small directory or a symlink's
//!                     target); inode, xattrs and inline content never
//!                     cross a block boundary
//! ```
//!
//! The root directory's inode comes first (nid 0): the superblock holds
//! the root nid in 16 bits.
//!
//! Directory content is a sequence of blocks; each block starts with its
//! dirents (12 bytes: nid u64, name offset u16, file type u8, reserved
//! u8), sorted by name (the kernel looks names up by binary search), then
//! the names, not NUL-terminated: a name ends where the next begins, the
//! last one at the block's end, the directory's size, or a NUL. `.` and
//! `..` are entries like any other.
//!
//! Inline xattrs: a 12-byte header (name filter u32, shared count u8,
//! 7 reserved), then entries of 4 bytes (name length u8, name index u8,
//! value size u16), the name without its prefix and the value, each entry
//! padded to 4 bytes. `i_xattr_icount` = 1 + (entries' bytes) / 4.

/// `EROFS_SUPER_MAGIC_V1`.
pub const MAGIC: u32 = 0xE0F5_E1E2;
/// Where the superblock starts.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
pub const SUPERBLOCK_SIZE: usize = 128;
/// Block size: 4 KiB, the page size, which every kernel and erofs-utils
/// release mounts and checks.
pub const BLOCK_BITS: u8 = 12;
pub const BLOCK_SIZE: u64 = 1 << BLOCK_BITS;
/// Inodes sit in 32-byte slots.
pub const SLOT_SIZE: u64 = 32;
pub const INODE_SIZE: usize = 64;
pub const DIRENT_SIZE: usize = 12;
pub const XATTR_HEADER_SIZE: usize = 12;
pub const XATTR_ENTRY_SIZE: usize = 4;

/// `i_format`: bit 0 is the inode version (1: extended), bits 1-3 the
/// data layout.
pub const FORMAT_EXTENDED: u16 = 1;
pub const LAYOUT_FLAT_PLAIN: u16 = 0;
pub const LAYOUT_FLAT_INLINE: u16 = 2;

/// Dirent file types (the kernel's `fs_ftype`).
pub const FT_UNKNOWN: u8 = 0;
pub const FT_REG: u8 = 1;
pub const FT_DIR: u8 = 2;
pub const FT_CHR: u8 = 3;
pub const FT_BLK: u8 = 4;
pub const FT_FIFO: u8 = 5;
pub const FT_SOCK: u8 = 6;
pub const FT_LNK: u8 = 7;

pub const S_IFMT: u32 = 0o170_000;
pub const S_IFSOCK: u32 = 0o140_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFBLK: u32 = 0o060_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFIFO: u32 = 0o010_000;

/// The dirent type of a mode.
pub fn file_type(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFREG => FT_REG,
        S_IFDIR => FT_DIR,
        S_IFCHR => FT_CHR,
        S_IFBLK => FT_BLK,
        S_IFIFO => FT_FIFO,
        S_IFSOCK => FT_SOCK,
        S_IFLNK => FT_LNK,
        _ => FT_UNKNOWN,
    }
}

/// xattr name prefixes by index; the empty-suffix ones (ACLs) are whole
/// names. Names with any other prefix cannot be stored without the
/// long-prefix feature, which pocky does not use.
pub const XATTR_PREFIXES: &[(u8, &[u8])] = &[
    (1, b"user."),
    (2, b"system.posix_acl_access"),
    (3, b"system.posix_acl_default"),
    (4, b"trusted."),
    (6, b"security."),
];

/// Splits an xattr name into (index, suffix).
pub fn xattr_index(name: &[u8]) -> Option<(u8, &[u8])> {
    // The ACL names are exact; `system.posix_acl_accessX` is not one.
    for &(index, prefix) in XATTR_PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            if index == 2 || index == 3 {
                if rest.is_empty() {
                    return Some((index, rest));
                }
                continue;
            }
            if !rest.is_empty() {
                return Some((index, rest));
            }
        }
    }
    None
}

/// The prefix an index stands for.
pub fn xattr_prefix(index: u8) -> Option<&'static [u8]> {
    XATTR_PREFIXES
        .iter()
        .find(|(i, _)| *i == index)
        .map(|(_, p)| *p)
}

/// Bytes an xattr entry takes, padding included.
pub fn xattr_entry_len(suffix_len: usize, value_len: usize) -> usize {
    (XATTR_ENTRY_SIZE + suffix_len + value_len).next_multiple_of(4)
}

/// The superblock fields pocky sets; everything else is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Superblock {
    pub root_nid: u16,
    pub inos: u64,
    pub build_time: u64,
    pub build_time_nsec: u32,
    pub blocks: u32,
    pub meta_blkaddr: u32,
}

impl Superblock {
    pub fn encode(&self) -> [u8; SUPERBLOCK_SIZE] {
        let mut b = [0u8; SUPERBLOCK_SIZE];
        put32(&mut b, 0, MAGIC);
        // 4: checksum, 8: feature_compat: none.
        b[12] = BLOCK_BITS;
        // 13: sb_extslots 0.
        put16(&mut b, 14, self.root_nid);
        put64(&mut b, 16, self.inos);
        put64(&mut b, 24, self.build_time);
        put32(&mut b, 32, self.build_time_nsec);
        put32(&mut b, 36, self.blocks);
        put32(&mut b, 40, self.meta_blkaddr);
        // 44: xattr_blkaddr 0 (no shared xattrs), 48: uuid, 64: volume
        // name, 80: feature_incompat, the rest: zero.
        b
    }

    /// Reads and checks a superblock; `None` names what is wrong.
    pub fn decode(b: &[u8]) -> Result<Superblock, &'static str> {
        if b.len() < SUPERBLOCK_SIZE {
            return Err("short superblock");
        }
        if get32(b, 0) != MAGIC {
            return Err("no EROFS magic");
        }
        if b[12] != BLOCK_BITS {
            return Err("block size other than 4096");
        }
        if get32(b, 8) != 0 || get32(b, 80) != 0 || b[13] != 0 {
            return Err("features pocky does not read");
        }
        Ok(Superblock {
            root_nid: get16(b, 14),
            inos: get64(b, 16),
            build_time: get64(b, 24),
            build_time_nsec: get32(b, 32),
            blocks: get32(b, 36),
            meta_blkaddr: get32(b, 40),
        })
    }
}

/// An extended inode's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inode {
    pub layout: u16,
    pub xattr_icount: u16,
    pub mode: u16,
    pub size: u64,
    /// First data block (FLAT_PLAIN), or rdev for devices.
    pub raw: u32,
    pub ino: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub nlink: u32,
}

impl Inode {
    pub fn encode(&self) -> [u8; INODE_SIZE] {
        let mut b = [0u8; INODE_SIZE];
        put16(&mut b, 0, FORMAT_EXTENDED | (self.layout << 1));
        put16(&mut b, 2, self.xattr_icount);
        put16(&mut b, 4, self.mode);
        // 6: reserved.
        put64(&mut b, 8, self.size);
        put32(&mut b, 16, self.raw);
        put32(&mut b, 20, self.ino);
        put32(&mut b, 24, self.uid);
        put32(&mut b, 28, self.gid);
        put64(&mut b, 32, self.mtime as u64);
        put32(&mut b, 40, self.mtime_nsec);
        put32(&mut b, 44, self.nlink);
        b
    }

    pub fn decode(b: &[u8]) -> Result<Inode, &'static str> {
        if b.len() < INODE_SIZE {
            return Err("short inode");
        }
        let format = get16(b, 0);
        if format & 1 != FORMAT_EXTENDED || format >> 4 != 0 {
            return Err("inode format pocky does not write");
        }
        let layout = (format >> 1) & 7;
        if layout != LAYOUT_FLAT_PLAIN && layout != LAYOUT_FLAT_INLINE {
            return Err("inode data layout pocky does not write");
        }
        Ok(Inode {
            layout,
            xattr_icount: get16(b, 2),
            mode: get16(b, 4),
            size: get64(b, 8),
            raw: get32(b, 16),
            ino: get32(b, 20),
            uid: get32(b, 24),
            gid: get32(b, 28),
            mtime: get64(b, 32) as i64,
            mtime_nsec: get32(b, 40),
            nlink: get32(b, 44),
        })
    }

    /// Bytes of inline xattrs after the inode (header included).
    pub fn xattr_size(&self) -> usize {
        match self.xattr_icount {
            0 => 0,
            n => XATTR_HEADER_SIZE + 4 * (usize::from(n) - 1),
        }
    }
}

pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
pub fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
pub fn get64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_and_inode_round_trip() {
        let sb = Superblock {
            root_nid: 3,
            inos: 9,
            build_time: 1_700_000_000,
            build_time_nsec: 5,
            blocks: 77,
            meta_blkaddr: 70,
        };
        assert_eq!(Superblock::decode(&sb.encode()), Ok(sb));
        let ino = Inode {
            layout: LAYOUT_FLAT_INLINE,
            xattr_icount: 4,
            mode: 0o40755,
            size: 1 << 40,
            raw: 12,
            ino: 2,
            uid: 100_000,
            gid: 7,
            mtime: -5,
            mtime_nsec: 999,
            nlink: 3,
        };
        assert_eq!(Inode::decode(&ino.encode()), Ok(ino));
        assert_eq!(ino.xattr_size(), 24);
    }

    #[test]
    fn xattr_names_map_to_indexes() {
        assert_eq!(
            xattr_index(b"trusted.overlay.opaque"),
            Some((4, &b"overlay.opaque"[..]))
        );
        assert_eq!(
            xattr_index(b"security.capability"),
            Some((6, &b"capability"[..]))
        );
        assert_eq!(xattr_index(b"system.posix_acl_access"), Some((2, &b""[..])));
        assert_eq!(xattr_index(b"system.posix_acl_accessx"), None);
        assert_eq!(xattr_index(b"user."), None);
        assert_eq!(xattr_index(b"other.x"), None);
    }
}
