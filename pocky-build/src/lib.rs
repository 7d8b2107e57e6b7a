//! The pure front half of `pocky build`: everything that can be decided
//! from the Dockerfile and `.dockerignore` text alone, with no filesystem,
//! registry or container. The executor that runs builds sits on top.
//!
//! # Covered
//!
//! - [`parse`]: parser directives (`# syntax=` recorded, `# escape=` with
//!   `\` or `` ` ``, `# check=` recorded and ignored), comments, line
//!   continuations (trailing blanks after the escape character allowed;
//!   comment and empty lines inside a continuation dropped, as Docker does),
//!   heredocs on RUN/COPY/ADD (`<<EOF`, `<<-EOF`, quoted delimiters, several
//!   per line, `3<<EOF`), exec (JSON) vs shell form with Docker's fallback
//!   to shell form for invalid JSON, the instructions' flags, case-insensitive
//!   keywords, and a 1-based line per instruction. Hostile input gives a
//!   [`BuildError`], never a panic.
//! - [`expand`] and [`expand_heredoc`]: Docker's shell-lexer expansion of
//!   one word (`$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:+a}`, `${V+a}`,
//!   `${V:?m}`, quotes, escapes), nesting bounded; [`expands_variables`]
//!   says which instructions Docker expands; [`split_words`] is the word
//!   splitting used for ENV/LABEL pairs.
//! - [`Dockerfile::stages`] and [`Dockerfile::plan`]: global ARGs, stages by
//!   index and name, `FROM <stage>`, `COPY --from=`, `RUN --mount=from=`,
//!   and the stages a `--target` needs, in dependency order.
//! - [`Ignore`]: `.dockerignore` matching with Docker's rules.
//!
//! # Left to the executor
//!
//! Expanding each instruction's words with the stage's ARG/ENV scope as it
//! walks the steps (arguments here are kept as written, quotes included),
//! `--build-arg` precedence beyond the global ARGs used in FROM, predefined
//! ARGs (`TARGETPLATFORM`, proxies), running RUN, resolving images, reading
//! the context, checksums, ONBUILD triggers from a base image, and
//! BuildKit-only extensions not listed above (`${V#pattern}` and other
//! pattern modifiers, `COPY --exclude` matching, `RUN --device`). Flags are
//! split off only for FROM, RUN, COPY, ADD and HEALTHCHECK.

mod directives;
mod duration;
mod error;
mod expand;
mod heredoc;
mod ignore;
mod instruction;
mod lexer;
mod stages;

pub use directives::Directives;
pub use error::BuildError;
pub use expand::{EXPANDED_INSTRUCTIONS, expand, expand_heredoc, expands_variables};
pub use heredoc::Heredoc;
pub use ignore::Ignore;
pub use instruction::{
    Command, CopySource, HealthOptions, Healthcheck, Instruction, Run, Step, Transfer,
};
pub use lexer::split_words;
pub use stages::{Base, Stage, Stages};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// Every instruction in order, global ARGs and FROMs included.
    pub steps: Vec<Step>,
}

/// Parse a Dockerfile. Nothing is expanded; see the crate docs.
pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    let mut src = lexer::Source::new(text);
    let (directives, used) = directives::parse_directives(src.lines())?;
    src.skip(used);
    let escape = directives.escape;
    let mut steps = Vec::new();
    while let Some(logical) = src.next_logical(escape) {
        let line = logical.line;
        let text = logical.text.trim();
        let (kw, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let kw = kw.to_ascii_uppercase();
        // Heredoc bodies follow the whole (continued) instruction line, and
        // only a shell-form command can hold markers.
        let mut heredocs = Vec::new();
        if instruction::takes_heredocs(&kw) {
            let (_, args) = lexer::extract_flags(rest, escape);
            if lexer::parse_json_array(args).is_none() {
                let markers = heredoc::markers(args, escape);
                heredocs = heredoc::read_bodies(&mut src, markers, line)?;
            }
        }
        let instruction = instruction::build(&kw, rest, line, escape, heredocs)?;
        steps.push(Step { line, instruction });
    }
    Ok(Dockerfile { directives, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_instruction_names_line() {
        let e = parse("FROM a\n\nFROB x\n").unwrap_err();
        assert_eq!(
            e,
            BuildError::UnknownInstruction {
                line: 3,
                name: "FROB".into()
            }
        );
    }
}
