//! Stages, global ARGs and `--target` planning.

use std::collections::BTreeMap;

use pocky_build::*;

const MULTI: &str = "\
ARG GO=1.22
ARG BASE=alpine:${GO}
FROM golang:${GO} AS Build
RUN go build
FROM ${BASE} AS test
COPY --from=build /out /out
FROM scratch AS docs
FROM build AS tools
RUN --mount=type=bind,from=docs,target=/d true
FROM ${BASE}
COPY --from=0 /out /bin/
COPY --from=busybox:latest /bin/sh /bin/
";

#[test]
fn global_args_in_from_and_names() {
    let df = parse(MULTI).unwrap();
    let s = df.stages().unwrap();
    assert_eq!(
        s.global_args,
        vec![
            ("GO".into(), Some("1.22".into())),
            ("BASE".into(), Some("alpine:${GO}".into()))
        ]
    );
    assert_eq!(s.stages[0].base, Base::Image("golang:1.22".into()));
    assert_eq!(s.stages[0].name.as_deref(), Some("build"));
    assert_eq!(s.stages[1].base, Base::Image("alpine:1.22".into()));
    assert_eq!(s.stages[1].deps, vec![0]);
    assert_eq!(s.stages[3].base, Base::Stage(0));
    assert_eq!(s.stages[3].deps, vec![0, 2]);
    assert_eq!(s.stages[4].deps, vec![0]);
    assert_eq!(s.stages[4].name, None);
    assert_eq!(s.stages[1].steps.len(), 1);
    let mut args = BTreeMap::new();
    args.insert("GO".to_string(), "1.23".to_string());
    let s = df.stages_with_args(&args).unwrap();
    assert_eq!(s.stages[1].base, Base::Image("alpine:1.23".into()));
}

#[test]
fn plan_targets() {
    let df = parse(MULTI).unwrap();
    assert_eq!(df.plan(None).unwrap(), vec![0, 4]);
    assert_eq!(df.plan(Some("test")).unwrap(), vec![0, 1]);
    assert_eq!(df.plan(Some("TOOLS")).unwrap(), vec![0, 2, 3]);
    assert_eq!(df.plan(Some("docs")).unwrap(), vec![2]);
    let e = df.plan(Some("nope")).unwrap_err();
    assert_eq!(
        e,
        BuildError::UnknownTarget {
            target: "nope".into(),
            known: vec!["build".into(), "test".into(), "docs".into(), "tools".into()]
        }
    );
    assert!(e.to_string().contains("build, test, docs, tools"));
}

#[test]
fn bad_graphs() {
    let forward = parse("FROM a AS one\nCOPY --from=two / /\nFROM b AS two\n").unwrap();
    assert!(matches!(
        forward.stages().unwrap_err(),
        BuildError::Stage { line: 2, .. }
    ));
    let from_later = parse("FROM two AS one\nFROM b AS two\n").unwrap();
    assert!(matches!(
        from_later.stages().unwrap_err(),
        BuildError::Stage { line: 1, .. }
    ));
    let itself = parse("FROM a AS one\nRUN --mount=from=one true\n").unwrap();
    assert!(itself.stages().is_err());
    let index = parse("FROM a\nCOPY --from=0 / /\n").unwrap();
    assert!(index.stages().is_err());
    let dup = parse("FROM a AS x\nFROM b AS X\n").unwrap();
    assert!(matches!(
        dup.stages().unwrap_err(),
        BuildError::Stage { line: 2, .. }
    ));
    assert!(parse("ARG A\n").unwrap().stages().is_err());
    let before = parse("ARG A\nRUN x\nFROM a\n").unwrap();
    assert!(matches!(
        before.stages().unwrap_err(),
        BuildError::Stage { line: 2, .. }
    ));
    assert!(parse("FROM ${A\n").unwrap().stages().is_err());
}

#[test]
fn long_chain_plans_without_recursion() {
    let mut text = String::from("FROM scratch AS s0\n");
    for i in 1..5000 {
        text.push_str(&format!("FROM s{} AS s{i}\n", i - 1));
    }
    let plan = parse(&text).unwrap().plan(None).unwrap();
    assert_eq!(plan.len(), 5000);
    assert_eq!(plan[0], 0);
    assert_eq!(plan[4999], 4999);
}
