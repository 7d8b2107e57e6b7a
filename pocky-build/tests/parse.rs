//! Parser behaviour against the Dockerfile reference.

use pocky_build::*;

fn one(text: &str) -> Instruction {
    let df = parse(text).unwrap();
    df.steps.last().unwrap().instruction.clone()
}

#[test]
fn directives_and_case_insensitive_keywords() {
    let df =
        parse("# syntax=docker/dockerfile:1\n# check=skip=all\nfrom alpine AS Base\nrun echo hi\n")
            .unwrap();
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.steps[0].line, 3);
    assert_eq!(
        df.steps[0].instruction,
        Instruction::From {
            image: "alpine".into(),
            name: Some("base".into()),
            platform: None
        }
    );
    assert_eq!(df.steps[1].line, 4);
}

#[test]
fn directive_after_instruction_is_a_comment() {
    let df = parse("FROM a\n# escape=`\nRUN a \\\n b\n").unwrap();
    assert_eq!(df.directives.escape, '\\');
    assert_eq!(df.steps[1].instruction, one("FROM a\nRUN a  b"));
}

#[test]
fn backtick_escape_with_windows_paths() {
    let df = parse("# escape=`\nFROM mcr.microsoft.com/windows\nCOPY C:\\src\\a.txt `\n    C:\\dest\\\nRUN dir C:\\\n").unwrap();
    let Instruction::Copy(t) = &df.steps[1].instruction else {
        panic!()
    };
    assert_eq!(t.srcs, vec![CopySource::Path("C:\\src\\a.txt".into())]);
    assert_eq!(t.dest, "C:\\dest\\");
    assert_eq!(df.steps[1].line, 3);
    assert_eq!(
        df.steps[2].instruction,
        Instruction::Run(Run {
            command: Command::Shell("dir C:\\".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        })
    );
    // `\` is literal under escape=`, so words and expansion keep it.
    assert_eq!(
        expand("C:\\$X", &|_| Some("y".into()), '`').unwrap(),
        "C:\\y"
    );
}

#[test]
fn continuation_with_trailing_whitespace_and_comments() {
    let df = parse("FROM a\nRUN apt-get update && \\   \n# comment inside\n\n    apt-get install -y x\nCMD done\n").unwrap();
    let Instruction::Run(r) = &df.steps[1].instruction else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Shell("apt-get update &&     apt-get install -y x".into())
    );
    assert_eq!(df.steps[2].line, 6);
}

#[test]
fn exec_form_and_fallback() {
    assert_eq!(
        one(r#"CMD ["echo", "say \"hi\""]"#),
        Instruction::Cmd(Command::Exec(vec!["echo".into(), "say \"hi\"".into()]))
    );
    // Not valid JSON (single quotes): shell form, exactly as written.
    assert_eq!(
        one("ENTRYPOINT ['a', 'b']"),
        Instruction::Entrypoint(Command::Shell("['a', 'b']".into()))
    );
    assert_eq!(
        one("RUN [\"a\", 1]"),
        Instruction::Run(Run {
            command: Command::Shell("[\"a\", 1]".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        })
    );
    assert_eq!(
        one("SHELL [\"powershell\", \"-c\"]"),
        Instruction::Shell(vec!["powershell".into(), "-c".into()])
    );
    assert!(parse("SHELL powershell -c").is_err());
    assert_eq!(
        one("VOLUME [\"/a\", \"/b c\"]"),
        Instruction::Volume(vec!["/a".into(), "/b c".into()])
    );
    assert_eq!(
        one("VOLUME /a /b"),
        Instruction::Volume(vec!["/a".into(), "/b".into()])
    );
    let Instruction::Copy(t) = one(r#"COPY ["a b", "/d e/"]"#) else {
        panic!()
    };
    assert_eq!(
        (t.srcs, t.dest),
        (vec![CopySource::Path("a b".into())], "/d e/".into())
    );
}

#[test]
fn env_label_arg_forms() {
    assert_eq!(
        one(r#"ENV K=V K2="v 2" K3=a\ b"#),
        Instruction::Env(vec![
            ("K".into(), "V".into()),
            ("K2".into(), "\"v 2\"".into()),
            ("K3".into(), "a\\ b".into()),
        ])
    );
    assert_eq!(
        one("ENV K  some value here"),
        Instruction::Env(vec![("K".into(), "some value here".into())])
    );
    assert!(matches!(
        parse("ENV K=1 bare").unwrap_err(),
        BuildError::Syntax { line: 1, .. }
    ));
    assert!(parse("ENV ONLYKEY").is_err());
    assert_eq!(
        one(r#"LABEL "com.x"="a b" v=1"#),
        Instruction::Label(vec![
            ("\"com.x\"".into(), "\"a b\"".into()),
            ("v".into(), "1".into()),
        ])
    );
    assert_eq!(
        one("ARG A B=2"),
        Instruction::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))])
    );
    // Values are expanded (and unquoted) later:
    assert_eq!(expand("\"v 2\"", &|_| None, '\\').unwrap(), "v 2");
}

#[test]
fn copy_add_flags() {
    let Instruction::Copy(t) = one("COPY --from=build --chown=1:2 --chmod=0755 --link a b /d/")
    else {
        panic!()
    };
    assert_eq!(t.from.as_deref(), Some("build"));
    assert_eq!(t.chown.as_deref(), Some("1:2"));
    assert_eq!(t.chmod.as_deref(), Some("0755"));
    assert!(t.link && !t.parents);
    assert_eq!(t.srcs.len(), 2);
    let Instruction::Add(t) =
        one("ADD --checksum=sha256:ab --keep-git-dir=true https://x/y.tgz /d")
    else {
        panic!()
    };
    assert_eq!(t.checksum.as_deref(), Some("sha256:ab"));
    assert!(t.keep_git_dir);
    let e = parse("FROM a\nADD --from=x a b").unwrap_err();
    assert_eq!(
        e,
        BuildError::UnknownFlag {
            line: 2,
            instruction: "ADD".into(),
            flag: "from".into()
        }
    );
    assert!(parse("COPY --link=maybe a b").is_err());
    assert!(parse("COPY onlyone").is_err());
}

#[test]
fn run_and_from_flags() {
    let Instruction::Run(r) = one(
        "RUN --mount=type=cache,target=/root/.cache --mount=from=b,target=/x --network=none make",
    ) else {
        panic!()
    };
    assert_eq!(
        r.mounts,
        vec!["type=cache,target=/root/.cache", "from=b,target=/x"]
    );
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.command, Command::Shell("make".into()));
    assert_eq!(
        one("FROM --platform=$BUILDPLATFORM golang AS b"),
        Instruction::From {
            image: "golang".into(),
            name: Some("b".into()),
            platform: Some("$BUILDPLATFORM".into()),
        }
    );
    assert!(parse("FROM a AS 1x").is_err());
    assert!(parse("FROM a b").is_err());
    // CMD takes no flags, so `--help` is an argument.
    assert_eq!(
        one("CMD --help"),
        Instruction::Cmd(Command::Shell("--help".into()))
    );
}

#[test]
fn healthcheck() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    let Instruction::Healthcheck(Healthcheck::Cmd { command, options }) = one(
        "HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f http://x/ || exit 1",
    ) else {
        panic!()
    };
    assert_eq!(
        command,
        Command::Shell("curl -f http://x/ || exit 1".into())
    );
    assert_eq!(options.interval, Some(std::time::Duration::from_secs(90)));
    assert_eq!(options.timeout, Some(std::time::Duration::from_millis(500)));
    assert_eq!(options.retries, Some(3));
    assert!(parse("HEALTHCHECK --interval=5 CMD x").is_err());
    assert!(parse("HEALTHCHECK --interval=1ns CMD x").is_err());
    assert!(parse("HEALTHCHECK --retries=-1 CMD x").is_err());
    assert!(parse("HEALTHCHECK NONE x").is_err());
    assert!(parse("HEALTHCHECK RUN x").is_err());
}

#[test]
fn onbuild_and_others() {
    assert_eq!(
        one("ONBUILD copy . /app"),
        Instruction::Onbuild {
            text: "COPY . /app".into(),
            trigger: Box::new(one("COPY . /app"))
        }
    );
    for bad in [
        "ONBUILD FROM x",
        "ONBUILD ONBUILD RUN x",
        "ONBUILD maintainer me",
    ] {
        assert!(
            matches!(parse(bad).unwrap_err(), BuildError::Syntax { line: 1, .. }),
            "{bad}"
        );
    }
    assert_eq!(
        one("EXPOSE 80/tcp 443"),
        Instruction::Expose(vec!["80/tcp".into(), "443".into()])
    );
    assert_eq!(
        one("STOPSIGNAL SIGTERM"),
        Instruction::StopSignal("SIGTERM".into())
    );
    assert_eq!(one("USER app:app"), Instruction::User("app:app".into()));
    assert_eq!(one("WORKDIR /a b"), Instruction::Workdir("/a b".into()));
    assert_eq!(
        one("MAINTAINER me <m@x>"),
        Instruction::Maintainer("me <m@x>".into())
    );
    assert!(parse("WORKDIR").is_err());
}

#[test]
fn heredocs() {
    let df =
        parse("FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN <<-'EOT' bash\n\techo '$X'\n\tEOT\nCMD x\n")
            .unwrap();
    let Instruction::Run(r) = &df.steps[1].instruction else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("<<EOF".into()));
    assert_eq!(r.heredocs[0].content, "echo $HOME\n");
    assert!(r.heredocs[0].expand);
    let Instruction::Run(r) = &df.steps[2].instruction else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, "echo '$X'\n");
    assert!(!r.heredocs[0].expand && r.heredocs[0].chomp);
    assert_eq!(df.steps[3].line, 8);
}

#[test]
fn copy_heredocs_expand_or_not() {
    let df = parse("FROM a\nCOPY <<A <<\"B\" /etc/\nname=$NAME \"q\"\nA\nname=$NAME\nB\n").unwrap();
    let Instruction::Copy(t) = &df.steps[1].instruction else {
        panic!()
    };
    let [CopySource::Heredoc(a), CopySource::Heredoc(b)] = t.srcs.as_slice() else {
        panic!()
    };
    assert_eq!(t.dest, "/etc/");
    let vars = |k: &str| (k == "NAME").then(|| "pocky".to_string());
    assert!(a.expand && !b.expand);
    // Quotes in a heredoc body are content, not shell quoting.
    assert_eq!(
        expand_heredoc(&a.content, &vars, '\\').unwrap(),
        "name=pocky \"q\"\n"
    );
    assert_eq!(b.content, "name=$NAME\n");
}

#[test]
fn heredoc_markers_not_in_json_or_quotes() {
    let df = parse("FROM a\nRUN [\"<<EOF\"]\nRUN echo \"<<NO\"\nCMD x\n").unwrap();
    assert_eq!(df.steps.len(), 4);
    let e = parse("FROM a\nRUN <<EOF\necho\n").unwrap_err();
    assert_eq!(
        e,
        BuildError::UnterminatedHeredoc {
            line: 2,
            name: "EOF".into()
        }
    );
}

#[test]
fn heredoc_after_continued_line() {
    let df = parse("FROM a\nRUN --network=none \\\n  <<EOF\nls\nEOF\n").unwrap();
    let Instruction::Run(r) = &df.steps[1].instruction else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, "ls\n");
}
