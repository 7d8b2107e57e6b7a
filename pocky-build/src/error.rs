//! The crate's one error type. Every variant names the 1-based line of the
//! Dockerfile it concerns, so a user can find the fault; `line` is 0 only
//! where no line exists (a word expanded outside any Dockerfile, or a
//! `--target` given on the command line).

/// Everything that can go wrong while parsing or planning a build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A parser directive (`# escape=`, ...) is invalid or repeated.
    #[error("line {line}: parser directive: {message}")]
    Directive { line: usize, message: String },
    /// The first word of an instruction is not a Dockerfile instruction.
    #[error("line {line}: unknown instruction: {name}")]
    UnknownInstruction { line: usize, name: String },
    /// An instruction's arguments do not have the form it requires.
    #[error("line {line}: {instruction}: {message}")]
    Syntax {
        line: usize,
        instruction: String,
        message: String,
    },
    /// A `--flag` the instruction does not take.
    #[error("line {line}: {instruction}: unknown flag: --{flag}")]
    UnknownFlag {
        line: usize,
        instruction: String,
        flag: String,
    },
    /// A heredoc whose terminating line never came.
    #[error("line {line}: unterminated heredoc <<{name}")]
    UnterminatedHeredoc { line: usize, name: String },
    /// Variable expansion failed (unterminated `${`, `${V:?msg}`, too deep).
    #[error("line {line}: variable expansion: {message}")]
    Expand { line: usize, message: String },
    /// The stage graph is wrong (no FROM, duplicate names, a reference to a
    /// later stage or to the stage itself).
    #[error("line {line}: stages: {message}")]
    Stage { line: usize, message: String },
    /// `--target` names no stage; `known` lists the names there are.
    #[error("target stage {target:?} could not be found; stages are: {}", known.join(", "))]
    UnknownTarget { target: String, known: Vec<String> },
}

impl BuildError {
    /// Fill in the line of an error raised where the line was not known
    /// (an [`expand`](crate::expand) call made on behalf of an instruction).
    pub fn at_line(self, at: usize) -> Self {
        match self {
            BuildError::Expand { line: 0, message } => BuildError::Expand { line: at, message },
            other => other,
        }
    }
}
