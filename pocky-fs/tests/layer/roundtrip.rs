//! pack_layer then unpack_layer gives the overlay-format tree back, and
//! packing that again gives the same bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nix::sys::stat::SFlag;
use pocky_fs::{UnpackLimits, pack_layer};
use pocky_testkit::privileged;

use crate::support::*;

fn whats(nodes: &BTreeMap<PathBuf, Node>) -> BTreeMap<PathBuf, String> {
    nodes
        .iter()
        .map(|(p, n)| (p.clone(), n.what.clone()))
        .collect()
}

#[test]
fn an_upper_dir_comes_back_in_overlay_form_and_packs_to_the_same_bytes() {
    if !privileged("an_upper_dir_comes_back_in_overlay_form_and_packs_to_the_same_bytes") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    overlay_upper(src.path());
    let mut tar = Vec::new();
    let packed = pack_layer(src.path(), &mut tar).unwrap();
    assert_eq!(packed.whiteouts, 2);
    assert_eq!(packed.opaque_dirs, 2);
    assert_eq!(packed.hardlinks, 1);
    assert_eq!(packed.skipped_sockets, 0);
    assert_eq!(packed.entries, overlay_upper_names().len() as u64);

    let dest = tempfile::tempdir().unwrap();
    let unpacked = pocky_fs::unpack_layer(&tar[..], dest.path(), &UnpackLimits::default()).unwrap();
    assert_eq!(unpacked.diff_id, sha256(&tar));
    assert_eq!(unpacked.skipped_devices, 0);

    let before = describe(src.path());
    let after = describe(dest.path());
    assert_eq!(whats(&before), whats(&after));
    // What describe() folds: the kernel's own view of the markers.
    let opaque = xattrs(&dest.path().join("opt/uo"));
    assert_eq!(
        opaque.get("trusted.overlay.opaque").map(Vec::as_slice),
        Some(&b"y"[..])
    );
    assert!(!xattrs(&dest.path().join("etc/passwd")).contains_key("trusted.overlay.origin"));
    for w in ["etc/removed", "etc/shadow-gone"] {
        let st = nix::sys::stat::lstat(&dest.path().join(w)).unwrap();
        assert_eq!(
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT,
            SFlag::S_IFCHR
        );
        assert_eq!(st.st_rdev, 0);
    }
    assert_eq!(
        after[&PathBuf::from("bin/su")].ino,
        after[&PathBuf::from("bin/su-again")].ino
    );

    let mut again = Vec::new();
    pack_layer(dest.path(), &mut again).unwrap();
    assert!(
        tar == again,
        "repacking the unpacked layer changed its bytes"
    );
}

#[test]
fn packing_twice_gives_the_same_bytes() {
    // Unprivileged too: what any user's tree has.
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    write(root, "b/file", b"data", 0o640);
    write(root, "a", b"", 0o600);
    std::fs::hard_link(root.join("a"), root.join("c")).unwrap();
    symlink(root, "b/link", "../a");
    nix::unistd::mkfifo(
        &root.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    set_xattr(root, "b/file", "user.k", b"v");
    settle_times(root);
    let mut one = Vec::new();
    let mut two = Vec::new();
    pack_layer(root, &mut one).unwrap();
    pack_layer(root, &mut two).unwrap();
    assert!(one == two);
    let names = names(&entries(&one))
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    assert_eq!(names, ["a", "b/", "b/file", "b/link", "c", "fifo"]);
}
