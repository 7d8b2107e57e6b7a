//! The kernel and erofs-utils read what the builder writes.

mod support;

use std::process::Command;

fn tool(name: &str) -> bool {
    Command::new(name).arg("-V").output().is_ok()
}

#[test]
fn fsck_erofs_accepts_the_sample() {
    if !pocky_testkit::needs(
        "fsck_erofs_accepts_the_sample",
        tool("fsck.erofs"),
        "needs erofs-utils (ci/install)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("l.erofs");
    std::fs::write(&img, support::sample()).unwrap();
    let out = Command::new("fsck.erofs")
        .arg("--extract")
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("dump.erofs")
        .arg("-s")
        .arg("-S")
        .arg(&img)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
