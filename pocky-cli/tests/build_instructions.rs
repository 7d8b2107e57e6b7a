//! The Dockerfile rules podman 4.3's buildah cannot check for us
//! (heredocs) and the ones whose effect is best seen from inside the
//! image: escapes and continuations, expansion forms, ONBUILD, SHELL,
//! stages a target does not need, scratch, ENTRYPOINT resetting CMD.

mod common;

use common::build::{build, build_ok, write_context};
use common::{Ctx, ok, stderr, stdout};

const DOCKERFILE: &str = r#"# escape=`
ARG REG
ARG BASE=busybox
FROM scratch AS files
COPY msg /msg

FROM $REG/${BASE} AS base
ONBUILD RUN echo triggered > /onbuild
SHELL ["/bin/sh", "-ec"]
ENV NAME=pocky EMPTY=
RUN <<EOF
echo "heredoc $NAME" > /h1
EOF
COPY <<EOF /etc/inline.txt
name=${NAME}
unset=${MISSING:-fallback}
set=${NAME:+yes}
empty=${EMPTY:-default}
EOF
RUN echo one `
    two > /cont

FROM $REG/busybox AS unused
RUN exit 1

FROM base AS final
WORKDIR /w
WORKDIR sub
COPY --from=files /msg ./
COPY --from=0 /msg /from-index
EXPOSE 8000-8001/tcp
USER 1:1
ENTRYPOINT ["cat"]
"#;

#[test]
fn instructions_have_docker_effects() {
    let Some(ctx) = Ctx::new("build_instructions", &["busybox"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_context(
        dir.path(),
        &[("Dockerfile", DOCKERFILE), ("msg", "message\n")],
    );
    let reg = format!("REG={}", ctx.image("").trim_end_matches('/'));
    let context = dir.path().to_str().unwrap();
    // The unused stage would fail: a target that does not need it skips it.
    let out = build(
        ctx.root(),
        &[
            "--build-arg",
            &reg,
            "--target",
            "final",
            "-t",
            "ins",
            context,
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("exit 1"), "{}", stdout(&out));

    let show = |path: &str| ok(ctx.root(), &["run", "--rm", "ins", path]);
    assert_eq!(
        show("/onbuild"),
        "triggered\n",
        "the ONBUILD trigger ran in the child stage"
    );
    assert_eq!(show("/h1"), "heredoc pocky\n");
    assert_eq!(
        show("/etc/inline.txt"),
        "name=pocky\nunset=fallback\nset=yes\nempty=default\n"
    );
    assert_eq!(show("/cont"), "one two\n");
    assert_eq!(show("/w/sub/msg"), "message\n");
    assert_eq!(show("/from-index"), "message\n");

    let cfg = |field: &str| {
        ok(
            ctx.root(),
            &[
                "image",
                "inspect",
                "--format",
                &format!("{{{{json .Config.{field}}}}}"),
                "ins",
            ],
        )
        .trim()
        .to_owned()
    };
    assert_eq!(cfg("WorkingDir"), "\"/w/sub\"");
    assert_eq!(cfg("User"), "\"1:1\"");
    assert_eq!(cfg("Shell"), r#"["/bin/sh","-ec"]"#);
    assert_eq!(cfg("Entrypoint"), r#"["cat"]"#);
    assert_eq!(cfg("Cmd"), "null", "ENTRYPOINT resets the inherited CMD");
    assert_eq!(cfg("ExposedPorts"), r#"{"8000/tcp":{},"8001/tcp":{}}"#);
    assert_eq!(
        cfg("OnBuild"),
        "null",
        "triggers run once, in the child, then are gone"
    );

    // The base stage alone keeps its trigger for whoever builds FROM it.
    let id = build_ok(
        ctx.root(),
        &["--build-arg", &reg, "--target", "base", context],
    );
    let onbuild = ok(
        ctx.root(),
        &[
            "image",
            "inspect",
            "--format",
            "{{json .Config.OnBuild}}",
            &id,
        ],
    );
    assert_eq!(onbuild.trim(), r#"["RUN echo triggered > /onbuild"]"#);
    // Build args nobody declares are reported, not fatal.
    let out = build(
        ctx.root(),
        &[
            "--build-arg",
            &reg,
            "--build-arg",
            "NOBODY=1",
            "--target",
            "base",
            context,
        ],
    );
    assert!(out.status.success());
    assert!(stderr(&out).contains("NOBODY"), "{}", stderr(&out));

    // RUN steps are on the build's network: the bridge by default.
    let net = format!(
        "FROM {}\nRUN ls /sys/class/net > /nets\nCMD cat /nets\n",
        ctx.busybox()
    );
    write_context(dir.path(), &[("Dockerfile", &net)]);
    build_ok(ctx.root(), &["--network", "none", "-t", "none", context]);
    assert_eq!(ok(ctx.root(), &["run", "--rm", "none"]), "lo\n");
    build_ok(ctx.root(), &["-t", "bridged", context]);
    assert_eq!(ok(ctx.root(), &["run", "--rm", "bridged"]), "eth0\nlo\n");
    common::fails(ctx.root(), &["build", "--network", "container:x", context]);
}
