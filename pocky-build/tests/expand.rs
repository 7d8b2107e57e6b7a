//! Variable expansion as Docker's shell lexer does it.

use pocky_build::*;

fn vars(k: &str) -> Option<String> {
    match k {
        "A" => Some("a".into()),
        "EMPTY" => Some(String::new()),
        "SP" => Some("x y".into()),
        _ => None,
    }
}

fn ex(w: &str) -> Result<String, BuildError> {
    expand(w, &vars, '\\')
}

#[test]
fn forms() {
    assert_eq!(ex("$A/${A}/$UNSET/x$A_").unwrap(), "a/a//x");
    assert_eq!(ex("${UNSET:-d} ${EMPTY:-d} ${A:-d}").unwrap(), "d d a");
    assert_eq!(ex("${UNSET-d}|${EMPTY-d}|${A-d}").unwrap(), "d||a");
    assert_eq!(ex("${UNSET:+y}|${EMPTY:+y}|${A:+y}").unwrap(), "||y");
    assert_eq!(ex("${UNSET+y}|${EMPTY+y}|${A+y}").unwrap(), "|y|y");
    assert_eq!(ex("${A:?no}").unwrap(), "a");
    assert!(
        ex("${EMPTY:?must be set}")
            .unwrap_err()
            .to_string()
            .contains("must be set")
    );
    assert_eq!(ex("${UNSET:-${A}-x}").unwrap(), "a-x");
    assert_eq!(ex("cost $5 $").unwrap(), "cost  $");
    assert_eq!(ex("a$-b").unwrap(), "a$-b");
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(ex(r"\$A").unwrap(), "$A");
    assert_eq!(ex("'$A \"x\"'").unwrap(), "$A \"x\"");
    assert_eq!(ex("\"$A 'b' \\\" \\q\"").unwrap(), "a 'b' \" \\q");
    assert_eq!(ex("a\\ b").unwrap(), "a b");
    assert_eq!(ex("\"$SP\"").unwrap(), "x y");
    assert_eq!(expand("`$A", &vars, '`').unwrap(), "$A");
    assert!(ex("'open").is_err());
    assert!(ex("\"open").is_err());
}

#[test]
fn errors() {
    for bad in ["${A", "${A:-x", "${", "${}", "${A:x}", "${A*}"] {
        assert!(
            matches!(ex(bad), Err(BuildError::Expand { line: 0, .. })),
            "{bad}"
        );
    }
    let e = ex("${A").unwrap_err().at_line(9);
    assert!(matches!(e, BuildError::Expand { line: 9, .. }));
}

#[test]
fn deep_nesting_is_bounded() {
    let mut w = String::from("x");
    for _ in 0..10_000 {
        w = format!("${{U:-{w}}}");
    }
    assert!(ex(&w).is_err());
    let mut w = String::from("x");
    for _ in 0..20 {
        w = format!("${{U:-{w}}}");
    }
    assert_eq!(ex(&w).unwrap(), "x");
}

#[test]
fn expanded_instruction_list() {
    for k in [
        "ADD",
        "copy",
        "ENV",
        "EXPOSE",
        "FROM",
        "LABEL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ] {
        assert!(expands_variables(k), "{k}");
    }
    for k in [
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "SHELL",
        "ONBUILD",
        "HEALTHCHECK",
        "MAINTAINER",
    ] {
        assert!(!expands_variables(k), "{k}");
    }
}

#[test]
fn word_splitting() {
    assert_eq!(
        split_words(" a  'b c'\t\"d e\" f\\ g ", '\\'),
        vec!["a", "'b c'", "\"d e\"", "f\\ g"]
    );
}
