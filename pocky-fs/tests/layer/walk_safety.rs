//! A symlink where a directory was is archived as a symlink: the walk never
//! follows one, even when the tree changes under it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use pocky_fs::{pack_layer, pack_tree};
use tar::EntryType;

use crate::support::*;

#[test]
fn symlinks_to_outside_are_archived_not_followed() {
    let src = tempfile::tempdir().unwrap();
    symlink(src.path(), "d", "/etc");
    symlink(src.path(), "f", "/etc/passwd");
    for layer in [true, false] {
        let mut tar = Vec::new();
        if layer {
            pack_layer(src.path(), &mut tar).unwrap();
        } else {
            pack_tree(src.path(), &mut tar).unwrap();
        }
        let all = entries(&tar);
        assert_eq!(names(&all), ["d", "f"]);
        assert!(
            all.iter()
                .all(|e| e.kind == EntryType::Symlink && e.size == 0)
        );
    }
}

#[test]
fn a_directory_swapped_for_a_symlink_mid_walk_is_never_followed() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().to_owned();
    write(&root, "sw/marker", b"m", 0o644);
    symlink(&root, "alt", "/etc");
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, root) = (stop.clone(), root.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                renameat2(
                    AT_FDCWD,
                    &root.join("sw"),
                    AT_FDCWD,
                    &root.join("alt"),
                    RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
            }
        })
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..300 {
        let mut tar = Vec::new();
        match pack_layer(&root, &mut tar) {
            Ok(_) => ok += 1,
            Err(_) => {
                refused += 1;
                continue;
            }
        }
        for e in entries(&tar) {
            let allowed = ["sw", "alt", "sw/", "alt/", "sw/marker", "alt/marker"];
            assert!(
                allowed.contains(&e.path.as_str()),
                "followed a symlink: {}",
                e.path
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    eprintln!("swap race: {ok} archives, {refused} refused as changed");
    assert!(ok > 0);
}
