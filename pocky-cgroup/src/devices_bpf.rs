//! Device rules on cgroup v2, which has no `devices.allow`: the kernel asks
//! an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the
//! cgroup instead, as runc and crun do. The program is generated here from
//! the rules, loaded with `bpf(BPF_PROG_LOAD)` and attached with
//! `bpf(BPF_PROG_ATTACH, BPF_F_ALLOW_MULTI)`, so programs of the cgroup's
//! ancestors (systemd's) still have their say: every one must allow.
//!
//! Semantics are those of the v1 lists pocky writes: rules apply in order,
//! the last one that matches decides, and a request no rule matches is
//! allowed (a fresh v1 cgroup inherits "allow all"; container lists start
//! with "deny all"). An allow rule matches when it grants every access asked
//! for; a deny rule when it refuses any of them.
//!
//! No crate generates this (aya and libbpf want compiled objects or C); the
//! program is a dozen instructions per rule, written out below.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::devices::{DeviceKind, DeviceRule};
use crate::error::{CgroupError, Result};

/// One eBPF instruction, as the kernel's `struct bpf_insn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes used (linux/bpf.h, linux/bpf_common.h).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND64_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH64_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const JNE32_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
const JEQ32_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
// access_type is (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

// Registers: r1 the context; r2 access_type; r3 type; r4 access; r5 major;
// r6 minor; r7 scratch; r0 the verdict.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The tests of one rule, each jumping past the rule when it fails, then
/// the verdict. Jump offsets are filled in once the block's length is known.
fn rule_block(r: &DeviceRule) -> Vec<Insn> {
    // (instruction, whether it jumps to the end of the block)
    let mut body: Vec<(Insn, bool)> = Vec::new();
    match r.kind {
        DeviceKind::All => {}
        DeviceKind::Char => body.push((insn(JNE32_K, 3, 0, 0, DEV_CHAR), true)),
        DeviceKind::Block => body.push((insn(JNE32_K, 3, 0, 0, DEV_BLOCK), true)),
    }
    let acc = access_bits(&r.access);
    body.push((insn(MOV64_X, 7, 4, 0, 0), false));
    if r.allow {
        // Every access asked for must be granted: (asked & !granted) == 0.
        body.push((insn(AND64_K, 7, 0, 0, !acc & 7), false));
        body.push((insn(JNE32_K, 7, 0, 0, 0), true));
    } else {
        // Any access asked for that the rule refuses: (asked & refused) != 0.
        body.push((insn(AND64_K, 7, 0, 0, acc), false));
        body.push((insn(JEQ32_K, 7, 0, 0, 0), true));
    }
    // Numbers past i32::MAX cannot be devices (majors have 12 bits, minors
    // 20); as a jump immediate they would still compare right in 32 bits.
    if let Some(major) = r.major {
        body.push((insn(JNE32_K, 5, 0, 0, major as i32), true));
    }
    if let Some(minor) = r.minor {
        body.push((insn(JNE32_K, 6, 0, 0, minor as i32), true));
    }
    body.push((insn(MOV64_K, 0, 0, 0, i32::from(r.allow)), false));
    body.push((insn(EXIT, 0, 0, 0, 0), false));
    let len = body.len();
    body.into_iter()
        .enumerate()
        .map(|(i, (mut ins, jumps))| {
            if jumps {
                // To the first instruction after the block.
                ins.off = (len - i - 1) as i16;
            }
            ins
        })
        .collect()
}

/// The program for `rules`: the rules from last to first, the first match
/// returning its verdict, and "allow" when none matches.
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV64_X, 3, 2, 0, 0),
        insn(AND64_K, 3, 0, 0, 0xffff),
        insn(MOV64_X, 4, 2, 0, 0),
        insn(RSH64_K, 4, 0, 0, 16),
        insn(LDX_W, 5, 1, 4, 0),
        insn(LDX_W, 6, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        p.extend(rule_block(r));
    }
    p.push(insn(MOV64_K, 0, 0, 0, 1));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD; the kernel
/// wants every byte it does not know about to be zero, hence the padding.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    pad: [u64; 8],
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    pad: [u64; 4],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: `attr` is a zero-padded, repr(C) prefix of union bpf_attr
    // that lives across the call; its size goes with it.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn load(insns: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"pocky_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returned a new descriptor that we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let verifier = String::from_utf8_lossy(&log);
            let last = verifier
                .trim_end_matches('\0')
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned();
            Err(CgroupError::Bpf {
                op: "loading the device program",
                detail: format!(
                    "{e}{}",
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(" ({last})")
                    }
                ),
            })
        }
    }
}

/// Loads the program for `rules` and attaches it to the cgroup directory.
/// The attachment holds the program: its descriptor is closed after, and
/// removing the cgroup detaches it.
pub(crate) fn attach(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let prog = load(&program(rules))?;
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| CgroupError::Bpf {
        op: "attaching the device program",
        detail: format!("{e} ({})", dir.display()),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `p` on one request the way the kernel would, for the handful of
    /// opcodes the generator emits.
    fn run(p: &[Insn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            let imm = i64::from(i.imm) as u64;
            match i.code {
                LDX_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = imm,
                AND64_K => r[dst] &= imm,
                RSH64_K => r[dst] >>= imm,
                JNE32_K if r[dst] as u32 != i.imm as u32 => pc += i.off as usize,
                JEQ32_K if r[dst] as u32 == i.imm as u32 => pc += i.off as usize,
                JNE32_K | JEQ32_K => {}
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    const R: i32 = ACC_READ;
    const W: i32 = ACC_WRITE;
    const M: i32 = ACC_MKNOD;

    #[test]
    fn docker_defaults_allow_their_nodes_and_nothing_else() {
        let p = program(&DeviceRule::docker_defaults());
        let char_ = |acc, maj, min| run(&p, DEV_CHAR, acc, maj, min);
        assert_eq!(char_(R | W, 1, 3), 1, "null");
        assert_eq!(char_(R, 1, 9), 1, "urandom");
        assert_eq!(char_(R | W, 136, 42), 1, "a pty slave");
        assert_eq!(char_(M, 10, 229), 1, "mknod of any char node");
        assert_eq!(char_(R, 10, 229), 0, "fuse is not in the list");
        assert_eq!(char_(R | W | M, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&p, DEV_BLOCK, R, 8, 0), 0, "a disk");
        assert_eq!(run(&p, DEV_BLOCK, M, 8, 0), 1, "mknod of a block node");
    }

    #[test]
    fn the_last_matching_rule_decides_and_partial_access_counts() {
        let rule = |allow, kind, major, minor, access: &str| DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.to_owned(),
        };
        use DeviceKind::{All, Char};
        let p = program(&[
            rule(false, All, None, None, "rwm"),
            rule(true, Char, Some(1), None, "rwm"),
            rule(false, Char, Some(1), Some(3), "w"),
            rule(true, Char, Some(4), Some(7), "r"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 1, "allowed by the major rule");
        assert_eq!(
            run(&p, DEV_CHAR, R, 1, 3),
            1,
            "reading 1:3 is still allowed"
        );
        assert_eq!(run(&p, DEV_CHAR, W, 1, 3), 0, "writing 1:3 was taken back");
        assert_eq!(
            run(&p, DEV_CHAR, R | W, 1, 3),
            0,
            "read+write asks for w too"
        );
        assert_eq!(run(&p, DEV_CHAR, R, 4, 7), 1);
        assert_eq!(run(&p, DEV_CHAR, R | W, 4, 7), 0, "w is not granted");
        assert_eq!(run(&p, DEV_CHAR, R, 4, 8), 0);
        // No rule at all: everything, as a fresh v1 cgroup.
        assert_eq!(run(&program(&[]), DEV_BLOCK, R | W | M, 8, 0), 1);
    }

    #[test]
    fn instructions_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let p = program(&[]);
        assert_eq!(p[0], insn(LDX_W, 2, 1, 0, 0));
        assert_eq!(p[0].regs, 0x12, "src 1 in the high nibble, dst 2 low");
        assert_eq!(p.last().unwrap().code, EXIT);
    }
}
