//! `.dockerignore` with Docker's rules.

use pocky_build::Ignore;

#[test]
fn basics_and_cleaning() {
    let ig = Ignore::parse("# comment\n\n  *.md  \n/tmp/\n./build//out\n").unwrap();
    assert_eq!(ig.patterns(), vec!["*.md", "tmp", "build/out"]);
    assert!(ig.ignores("README.md"));
    assert!(!ig.ignores("docs/README.md"), "* does not cross /");
    assert!(ig.ignores("tmp"));
    assert!(ig.ignores("tmp/a/b"), "contents of an excluded directory");
    assert!(ig.ignores("./build/out/x"));
    assert!(!ig.ignores("build"));
    assert!(!ig.ignores("."));
}

#[test]
fn double_star() {
    let ig = Ignore::parse("**/*.go\nvendor/**\n").unwrap();
    assert!(ig.ignores("main.go"));
    assert!(ig.ignores("a/b/c.go"));
    assert!(!ig.ignores("vendor"), "a/** matches inside a, not a");
    assert!(ig.ignores("vendor/x"));
    let ig = Ignore::parse("a/**/z\n**\n!keep").unwrap();
    assert!(ig.ignores("anything/at/all"));
    assert!(!ig.ignores("keep"));
    let ig = Ignore::parse("a/**/z").unwrap();
    assert!(ig.ignores("a/z") && ig.ignores("a/b/c/z") && !ig.ignores("a/b/y"));
}

#[test]
fn exceptions_last_match_wins() {
    let ig = Ignore::parse("*.md\n!README.md\nREADME-secret.md\n").unwrap();
    assert!(ig.ignores("CHANGES.md"));
    assert!(!ig.ignores("README.md"));
    assert!(ig.ignores("README-secret.md"));
    let ig = Ignore::parse("!README.md\n*.md\n").unwrap();
    assert!(ig.ignores("README.md"), "the later exclusion wins");
    let ig = Ignore::parse("docs\n!docs/keep\n").unwrap();
    assert!(ig.ignores("docs/other"));
    assert!(!ig.ignores("docs/keep"));
    assert!(!ig.ignores("docs/keep/inner"));
    assert!(ig.ignores("docs"));
}

#[test]
fn would_descend_only_where_needed() {
    let ig = Ignore::parse("node_modules\ndocs\n!docs/keep\ntarget\n!**/*.rs\n").unwrap();
    assert!(ig.would_descend("src"), "not ignored");
    assert!(ig.would_descend("docs"), "an exception reaches below");
    // `!**/*.rs` could match below any directory.
    assert!(ig.would_descend("node_modules"));
    let ig = Ignore::parse("node_modules\ndocs\n!docs/keep\n").unwrap();
    assert!(!ig.would_descend("node_modules"));
    assert!(!ig.would_descend("docs/other"));
    assert!(ig.would_descend("docs"));
    let ig = Ignore::parse("a\n!a/*/x\n").unwrap();
    assert!(ig.would_descend("a") && ig.would_descend("a/b") && !ig.would_descend("a/b/y"));
}

#[test]
fn bad_pattern_names_line() {
    let e = Ignore::parse("ok\n[oops\n").unwrap_err();
    assert!(matches!(e, pocky_build::BuildError::Syntax { line: 2, .. }));
}
