//! The typed instructions, and turning one instruction's keyword and
//! argument text into one. Arguments are kept as written (quotes and
//! `$VAR` intact) wherever Docker expands them later; see
//! [`expands_variables`](crate::expands_variables).

use std::time::Duration;

use crate::BuildError;
use crate::duration::parse_duration;
use crate::heredoc::{Heredoc, marker};
use crate::lexer::{Flag, extract_flags, parse_json_array, split_words};

/// A command in exec (JSON array) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["exe", "arg"]`: run directly, no shell.
    Exec(Vec<String>),
    /// Anything else: handed to the stage's SHELL as one string.
    Shell(String),
}

/// `RUN [--mount=...] [--network=...] [--security=...] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: Command,
    /// Bodies of the `<<EOF` markers in a shell-form command, in order.
    pub heredocs: Vec<Heredoc>,
    /// Each `--mount=` value as written (`type=cache,target=/x`).
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// A COPY or ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path, glob or (ADD) URL, as written.
    Path(String),
    /// An inline file from a heredoc.
    Heredoc(Heredoc),
}

/// COPY's and ADD's arguments. `from` and `parents` are COPY's only;
/// `checksum` and `keep_git_dir` ADD's only (the other instruction refuses
/// those flags, so they stay unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub srcs: Vec<CopySource>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

/// HEALTHCHECK's options; unset means the image's or Docker's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthOptions {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u64>,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd {
        command: Command,
        options: HealthOptions,
    },
}

/// One Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        /// The `AS` name, lowercased (stage names are case-insensitive).
        name: Option<String>,
        platform: Option<String>,
    },
    Run(Run),
    Cmd(Command),
    Entrypoint(Command),
    /// Pairs as written; values keep their quotes until expanded.
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Copy(Transfer),
    Add(Transfer),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger as written (stored in the image's `OnBuild`, parsed
    /// again by the child build) and parsed, so errors show now.
    Onbuild {
        text: String,
        trigger: Box<Instruction>,
    },
    Maintainer(String),
}

/// An instruction and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub instruction: Instruction,
}

/// The instructions that take `--flags`; only these have flags split off,
/// so `CMD --help` stays an argument.
pub(crate) fn takes_flags(kw: &str) -> bool {
    matches!(kw, "FROM" | "RUN" | "COPY" | "ADD" | "HEALTHCHECK")
}

/// Whether heredoc markers are looked for (BuildKit allows them here only).
pub(crate) fn takes_heredocs(kw: &str) -> bool {
    matches!(kw, "RUN" | "COPY" | "ADD")
}

struct Ctx<'a> {
    kw: &'a str,
    line: usize,
    escape: char,
}

impl Ctx<'_> {
    fn err(&self, message: impl Into<String>) -> BuildError {
        BuildError::Syntax {
            line: self.line,
            instruction: self.kw.to_string(),
            message: message.into(),
        }
    }

    fn nonempty<'s>(&self, rest: &'s str) -> Result<&'s str, BuildError> {
        let t = rest.trim();
        if t.is_empty() {
            return Err(self.err("requires at least one argument"));
        }
        Ok(t)
    }

    /// Check flags against what the instruction accepts: `(name, boolean)`.
    fn flags(&self, flags: Vec<Flag>, allowed: &[(&str, bool)]) -> Result<Flags, BuildError> {
        for f in &flags {
            let Some((_, boolean)) = allowed.iter().find(|(n, _)| *n == f.name) else {
                return Err(BuildError::UnknownFlag {
                    line: self.line,
                    instruction: self.kw.to_string(),
                    flag: f.name.clone(),
                });
            };
            match (&f.value, boolean) {
                (None, false) => return Err(self.err(format!("--{} requires a value", f.name))),
                (Some(v), true) if v != "true" && v != "false" => {
                    return Err(self.err(format!("--{} takes true or false, not {v:?}", f.name)));
                }
                _ => {}
            }
        }
        Ok(Flags(flags))
    }
}

struct Flags(Vec<Flag>);

impl Flags {
    /// The last value given wins, as with Docker's flag parser.
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|f| f.name == name)
            .and_then(|f| f.value.clone())
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|f| f.name == name)
            .filter_map(|f| f.value.clone())
            .collect()
    }
    fn bool(&self, name: &str) -> bool {
        self.0
            .iter()
            .rev()
            .find(|f| f.name == name)
            .is_some_and(|f| f.value.as_deref() != Some("false"))
    }
}

/// Build one instruction. `kw` is uppercased; `heredocs` are the bodies
/// already read for the markers in `rest`.
pub(crate) fn build(
    kw: &str,
    rest: &str,
    line: usize,
    escape: char,
    heredocs: Vec<Heredoc>,
) -> Result<Instruction, BuildError> {
    let cx = Ctx { kw, line, escape };
    let (flags, args) = if takes_flags(kw) {
        extract_flags(rest, escape)
    } else {
        (Vec::new(), rest.trim())
    };
    let args = args.trim();
    Ok(match kw {
        "FROM" => from(&cx, flags, args)?,
        "RUN" => {
            let f = cx.flags(
                flags,
                &[("mount", false), ("network", false), ("security", false)],
            )?;
            if args.is_empty() {
                return Err(cx.err("requires at least one argument"));
            }
            Instruction::Run(Run {
                command: command(args),
                heredocs,
                mounts: f.all("mount"),
                network: f.get("network"),
                security: f.get("security"),
            })
        }
        "CMD" => Instruction::Cmd(command(cx.nonempty(args)?)),
        "ENTRYPOINT" => Instruction::Entrypoint(command(cx.nonempty(args)?)),
        "SHELL" => match parse_json_array(args) {
            Some(v) if !v.is_empty() => Instruction::Shell(v),
            _ => return Err(cx.err("requires the arguments to be a non-empty JSON array")),
        },
        "ENV" => Instruction::Env(name_values(&cx, args)?),
        "LABEL" => Instruction::Label(name_values(&cx, args)?),
        "ARG" => Instruction::Arg(arg(&cx, args)?),
        "WORKDIR" => Instruction::Workdir(cx.nonempty(args)?.to_string()),
        "USER" => Instruction::User(cx.nonempty(args)?.to_string()),
        "STOPSIGNAL" => Instruction::StopSignal(cx.nonempty(args)?.to_string()),
        "MAINTAINER" => Instruction::Maintainer(cx.nonempty(args)?.to_string()),
        "EXPOSE" => Instruction::Expose(split_words(cx.nonempty(args)?, escape)),
        "VOLUME" => {
            let v = parse_json_array(args).unwrap_or_else(|| split_words(args, escape));
            if v.is_empty() {
                return Err(cx.err("requires at least one argument"));
            }
            Instruction::Volume(v)
        }
        "COPY" => Instruction::Copy(transfer(&cx, flags, args, heredocs)?),
        "ADD" => Instruction::Add(transfer(&cx, flags, args, heredocs)?),
        "HEALTHCHECK" => Instruction::Healthcheck(healthcheck(&cx, flags, args)?),
        "ONBUILD" => onbuild(&cx, args)?,
        _ => {
            return Err(BuildError::UnknownInstruction {
                line,
                name: kw.to_string(),
            });
        }
    })
}

fn command(args: &str) -> Command {
    match parse_json_array(args) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(args.to_string()),
    }
}

fn from(cx: &Ctx, flags: Vec<Flag>, args: &str) -> Result<Instruction, BuildError> {
    let f = cx.flags(flags, &[("platform", false)])?;
    let words = split_words(args, cx.escape);
    let (image, name) = match words.as_slice() {
        [image] => (image.clone(), None),
        [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            let mut chars = name.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(cx.err(format!(
                    "invalid stage name {name:?}: must start with a letter and hold only letters, digits, '-', '_' and '.'"
                )));
            }
            (image.clone(), Some(name))
        }
        _ => return Err(cx.err("expected FROM [--platform=p] image [AS name]")),
    };
    Ok(Instruction::From {
        image,
        name,
        platform: f.get("platform"),
    })
}

/// ENV and LABEL: `K=V K2="v 2"`, or the old `K V...` form (one pair, the
/// value being the rest of the line), chosen as Docker does by whether the
/// first word has an `=`.
fn name_values(cx: &Ctx, args: &str) -> Result<Vec<(String, String)>, BuildError> {
    let words = split_words(args, cx.escape);
    let Some(first) = words.first() else {
        return Err(cx.err("requires at least one argument"));
    };
    if !first.contains('=') {
        // `first` is a prefix of `args` (words keep every character), but
        // `get` keeps a slip from panicking.
        let value = args.get(first.len()..).unwrap_or("").trim();
        if value.is_empty() {
            return Err(cx.err(format!("{first:?} needs a value: write {first}=value")));
        }
        return Ok(vec![(first.clone(), value.to_string())]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(cx.err(format!(
                "can't find = in {w:?}; must be of the form name=value"
            ))),
        })
        .collect()
}

fn arg(cx: &Ctx, args: &str) -> Result<Vec<(String, Option<String>)>, BuildError> {
    let words = split_words(args, cx.escape);
    if words.is_empty() {
        return Err(cx.err("requires at least one argument"));
    }
    words
        .into_iter()
        .map(|w| {
            let (k, v) = match w.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (w, None),
            };
            if k.is_empty() {
                return Err(cx.err("empty argument name"));
            }
            Ok((k, v))
        })
        .collect()
}

fn transfer(
    cx: &Ctx,
    flags: Vec<Flag>,
    args: &str,
    heredocs: Vec<Heredoc>,
) -> Result<Transfer, BuildError> {
    let copy = cx.kw == "COPY";
    let allowed: &[(&str, bool)] = if copy {
        &[
            ("from", false),
            ("chown", false),
            ("chmod", false),
            ("link", true),
            ("parents", true),
            ("exclude", false),
        ]
    } else {
        &[
            ("chown", false),
            ("chmod", false),
            ("link", true),
            ("exclude", false),
            ("checksum", false),
            ("keep-git-dir", true),
        ]
    };
    let f = cx.flags(flags, allowed)?;
    let json = parse_json_array(args);
    let is_json = json.is_some();
    let mut words = json.unwrap_or_else(|| split_words(args, cx.escape));
    let Some(dest) = words.pop() else {
        return Err(cx.err("requires at least two arguments: source(s) and destination"));
    };
    if words.is_empty() {
        return Err(cx.err("requires at least two arguments: source(s) and destination"));
    }
    let mut bodies = heredocs.into_iter();
    let mut srcs = Vec::with_capacity(words.len());
    for w in words {
        // The bodies were read for exactly these markers, in this order.
        let body = if is_json {
            None
        } else {
            marker(&w, cx.escape).and(bodies.next())
        };
        srcs.push(match body {
            Some(h) => CopySource::Heredoc(h),
            None => CopySource::Path(w),
        });
    }
    Ok(Transfer {
        srcs,
        dest,
        from: f.get("from"),
        chown: f.get("chown"),
        chmod: f.get("chmod"),
        link: f.bool("link"),
        parents: f.bool("parents"),
        exclude: f.all("exclude"),
        checksum: f.get("checksum"),
        keep_git_dir: f.bool("keep-git-dir"),
    })
}

fn healthcheck(cx: &Ctx, flags: Vec<Flag>, args: &str) -> Result<Healthcheck, BuildError> {
    let (kind, rest) = match args.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim()),
        None => (args, ""),
    };
    if kind.eq_ignore_ascii_case("none") {
        if !rest.is_empty() || !flags.is_empty() {
            return Err(cx.err("NONE takes no other arguments"));
        }
        return Ok(Healthcheck::None);
    }
    if !kind.eq_ignore_ascii_case("cmd") {
        return Err(cx.err(format!("unknown type {kind:?}: expected CMD or NONE")));
    }
    let f = cx.flags(
        flags,
        &[
            ("interval", false),
            ("timeout", false),
            ("start-period", false),
            ("start-interval", false),
            ("retries", false),
        ],
    )?;
    let dur = |name: &str| -> Result<Option<Duration>, BuildError> {
        let Some(v) = f.get(name) else {
            return Ok(None);
        };
        let d =
            parse_duration(&v).ok_or_else(|| cx.err(format!("--{name}: bad duration {v:?}")))?;
        // Docker refuses non-zero durations under a millisecond.
        if !d.is_zero() && d < Duration::from_millis(1) {
            return Err(cx.err(format!("--{name} cannot be less than 1ms")));
        }
        Ok(Some(d))
    };
    let options = HealthOptions {
        interval: dur("interval")?,
        timeout: dur("timeout")?,
        start_period: dur("start-period")?,
        start_interval: dur("start-interval")?,
        retries: match f.get("retries") {
            Some(v) => Some(
                v.parse()
                    .map_err(|_| cx.err(format!("--retries: bad count {v:?}")))?,
            ),
            None => None,
        },
    };
    Ok(Healthcheck::Cmd {
        command: command(cx.nonempty(rest)?),
        options,
    })
}

fn onbuild(cx: &Ctx, args: &str) -> Result<Instruction, BuildError> {
    let args = cx.nonempty(args)?;
    let (kw, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let kw = kw.to_ascii_uppercase();
    if matches!(kw.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
        return Err(cx.err(format!("{kw} isn't allowed as an ONBUILD trigger")));
    }
    // Heredocs are not read for triggers: the body lines would belong to
    // the child build, which BuildKit does not support either.
    Ok(Instruction::Onbuild {
        text: format!("{kw} {}", rest.trim()).trim_end().to_owned(),
        trigger: Box::new(build(&kw, rest, cx.line, cx.escape, Vec::new())?),
    })
}
