//! Overlay mounts: layering, copy-up, whiteouts, many layers.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use pocky_fs::{Lower, Overlay, mount_overlay};

use crate::support::{check, ensure, in_private_mount_ns};

#[test]
fn two_lowers_and_an_upper_with_a_whiteout() {
    if !pocky_testkit::privileged("two_lowers_and_an_upper_with_a_whiteout") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (top, bottom) = (t.path().join("top"), t.path().join("bottom"));
    let (upper, work, merged) = (
        t.path().join("upper"),
        t.path().join("work"),
        t.path().join("merged"),
    );
    for d in [&top, &bottom, &upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    fs::write(top.join("a.txt"), "top a").unwrap();
    fs::write(top.join("shared"), "top").unwrap();
    fs::write(bottom.join("b.txt"), "bottom b").unwrap();
    fs::write(bottom.join("shared"), "bottom").unwrap();
    fs::write(bottom.join("hidden"), "should not show").unwrap();
    // overlayfs's whiteout: a 0:0 character device in a higher layer.
    mknod(
        &top.join("hidden"),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .unwrap();

    let overlay = Overlay {
        lowers: vec![Lower::Dir(top.clone()), Lower::Dir(bottom.clone())],
        upper: upper.clone(),
        work,
        links: None,
        volatile: false,
    };
    check(in_private_mount_ns(|| {
        mount_overlay(&overlay, &merged).map_err(|e| e.to_string())?;
        let read = |name: &str| fs::read_to_string(merged.join(name)).unwrap_or_default();
        ensure(read("a.txt") == "top a", "a.txt from the top lower")?;
        ensure(read("b.txt") == "bottom b", "b.txt from the bottom lower")?;
        ensure(read("shared") == "top", "the top lower wins")?;
        ensure(
            !merged.join("hidden").exists(),
            "whiteout hides the bottom's file",
        )?;
        fs::write(merged.join("new.txt"), "written").map_err(|e| e.to_string())?;
        fs::write(merged.join("b.txt"), "changed").map_err(|e| e.to_string())?;
        Ok(())
    }));
    // The child's mounts are gone; its writes are in the upper layer only.
    assert!(!merged.join("a.txt").exists());
    assert_eq!(
        fs::read_to_string(upper.join("new.txt")).unwrap(),
        "written"
    );
    assert_eq!(fs::read_to_string(upper.join("b.txt")).unwrap(), "changed");
    assert_eq!(
        fs::read_to_string(bottom.join("b.txt")).unwrap(),
        "bottom b"
    );
    assert!(!top.join("new.txt").exists() && !bottom.join("new.txt").exists());
}

/// Layer `i` of the test stacks holds `f{i}` and its own `which`: every
/// `f{i}` shows through `merged`, and `which` from the top-most layer.
fn stacked_in_order(merged: &Path, layers: impl IntoIterator<Item = usize>) -> Result<(), String> {
    for i in layers {
        let got = fs::read_to_string(merged.join(format!("f{i}"))).unwrap_or_default();
        ensure(got == i.to_string(), format!("f{i} visible"))?;
    }
    let top = fs::read_to_string(merged.join("which")).unwrap_or_default();
    ensure(
        top == "0",
        format!("the first lower is the top one, got {top}"),
    )
}

#[test]
fn sixty_lowers_under_a_long_path_mount() {
    if !pocky_testkit::privileged("sixty_lowers_under_a_long_path_mount") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("s".repeat(200)).join("layers");
    let lowers: Vec<PathBuf> = (0..60)
        .map(|i| store.join(format!("layer-{i:02}-{}", "x".repeat(30))))
        .collect();
    for (i, lower) in lowers.iter().enumerate() {
        fs::create_dir_all(lower).unwrap();
        fs::write(lower.join(format!("f{i}")), i.to_string()).unwrap();
        fs::write(lower.join("which"), i.to_string()).unwrap();
    }
    let absolute: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(absolute > 4096, "the test must overflow a page: {absolute}");
    let (upper, work, merged) = (
        t.path().join("upper"),
        t.path().join("work"),
        t.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let overlay = Overlay {
        lowers: lowers.iter().cloned().map(Lower::Dir).collect(),
        upper,
        work,
        links: None,
        volatile: false,
    };
    check(in_private_mount_ns(|| {
        let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
        mount_overlay(&overlay, &merged).map_err(|e| e.to_string())?;
        ensure(std::env::current_dir().ok() == Some(cwd), "cwd restored")?;
        stacked_in_order(&merged, 0..60)
    }));
}

#[test]
fn three_hundred_lowers_mount_through_short_links() {
    if !pocky_testkit::privileged("three_hundred_lowers_mount_through_short_links") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // pocky's store names layers by chain id: 64 hex digits each, so even
    // relative to their parent 300 of them need ~20 KiB of options.
    let store = t.path().join("layers");
    let lowers: Vec<PathBuf> = (0..300)
        .map(|i| store.join(format!("{i:064x}")).join("fs"))
        .collect();
    for (i, lower) in lowers.iter().enumerate() {
        fs::create_dir_all(lower).unwrap();
        fs::write(lower.join(format!("f{i}")), i.to_string()).unwrap();
        fs::write(lower.join("which"), i.to_string()).unwrap();
    }
    let (upper, work, merged, links) = (
        t.path().join("upper"),
        t.path().join("work"),
        t.path().join("merged"),
        t.path().join("l"),
    );
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    // A stale link from an earlier start is replaced, not trusted.
    fs::create_dir(&links).unwrap();
    std::os::unix::fs::symlink("/", links.join("0")).unwrap();
    let without_links = Overlay {
        lowers: lowers.iter().cloned().map(Lower::Dir).collect(),
        upper: upper.clone(),
        work: work.clone(),
        links: None,
        volatile: false,
    };
    let overlay = Overlay {
        links: Some(links.clone()),
        ..without_links.clone()
    };
    check(in_private_mount_ns(|| {
        ensure(
            mount_overlay(&without_links, &merged).is_err(),
            "300 layers fit without links?",
        )?;
        mount_overlay(&overlay, &merged).map_err(|e| e.to_string())?;
        stacked_in_order(&merged, [0, 1, 150, 299])
    }));
    assert_eq!(fs::read_link(links.join("0")).unwrap(), lowers[0]);
}

#[test]
fn an_unmountable_overlay_names_its_target() {
    if !pocky_testkit::privileged("an_unmountable_overlay_names_its_target") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let overlay = Overlay {
        lowers: vec![Lower::Dir(t.path().join("missing"))],
        upper: t.path().join("upper"),
        work: t.path().join("work"),
        links: None,
        volatile: false,
    };
    let target = t.path().join("merged");
    fs::create_dir(&target).unwrap();
    check(in_private_mount_ns(|| {
        let err = mount_overlay(&overlay, &target)
            .err()
            .ok_or("mounted a missing lower")?;
        ensure(
            err.to_string().contains(&*target.to_string_lossy()),
            format!("error names the target: {err}"),
        )
    }));
}

#[test]
fn a_volatile_overlay_mounts_again_after_its_mark_and_keeps_its_writes() {
    if !pocky_testkit::privileged(
        "a_volatile_overlay_mounts_again_after_its_mark_and_keeps_its_writes",
    ) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] =
        ["lower", "upper", "work", "merged"].map(|d| t.path().join(d));
    for d in [&lower, &upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    fs::write(lower.join("base"), "image").unwrap();
    let overlay = Overlay {
        lowers: vec![Lower::Dir(lower)],
        upper: upper.clone(),
        work: work.clone(),
        links: None,
        volatile: true,
    };
    // Twice, as a restarted `--rm` container is: overlayfs refuses a
    // second volatile mount while the first one's mark is there.
    for round in ["first", "second"] {
        check(in_private_mount_ns(|| {
            mount_overlay(&overlay, &merged).map_err(|e| e.to_string())?;
            let mounts = fs::read_to_string("/proc/self/mounts").map_err(|e| e.to_string())?;
            let line = mounts
                .lines()
                .find(|l| l.contains(merged.to_str().unwrap_or("?")))
                .unwrap_or_default();
            ensure(
                line.contains("volatile"),
                format!("{round}: mounted volatile: {line}"),
            )?;
            fs::write(merged.join(round), round).map_err(|e| e.to_string())
        }));
        assert!(
            work.join("work/incompat/volatile").is_dir(),
            "{round}: the mark"
        );
    }
    assert_eq!(fs::read_to_string(upper.join("first")).unwrap(), "first");
    assert_eq!(fs::read_to_string(upper.join("second")).unwrap(), "second");
}
