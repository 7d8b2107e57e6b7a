//! Variable expansion as Docker's shell lexer does it for the instructions
//! it expands itself (RUN's shell form is left to the shell). One word in,
//! one string out, with quotes removed: `'...'` literal, `"..."` with
//! expansion, the escape character making the next character literal.

use crate::BuildError;

/// How deep `${A:-${B:-...}}` may nest. Each level is a stack frame, so
/// hostile input must not choose the depth.
const MAX_DEPTH: usize = 64;

/// The instructions whose arguments Docker expands with ARG and ENV values
/// (the reference's list, plus ARG, whose defaults BuildKit expands too).
/// ONBUILD is absent: its instruction is expanded when it triggers, in the
/// child build. RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are left to the
/// shell or taken literally.
pub const EXPANDED_INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "COPY",
    "ENV",
    "EXPOSE",
    "FROM",
    "LABEL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Whether Docker expands variables in this instruction (case-insensitive).
pub fn expands_variables(keyword: &str) -> bool {
    EXPANDED_INSTRUCTIONS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
}

/// Expand `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:+a}`,
/// `${VAR+a}`, `${VAR:?msg}`, `${VAR?msg}` in one word and remove its
/// quotes. An unset `$VAR` is empty. Errors carry line 0; the caller fills
/// it in with [`BuildError::at_line`].
pub fn expand(
    word: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, BuildError> {
    Lexer::new(word, vars, escape, true).run()
}

/// Expand a COPY/ADD heredoc body: variables only. Quotes are content
/// (BuildKit's `SkipProcessQuotes`), and the escape character is dropped
/// only before `$` or itself. A body whose delimiter was quoted should not
/// be passed here at all.
pub fn expand_heredoc(
    body: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, BuildError> {
    Lexer::new(body, vars, escape, false).run()
}

struct Lexer<'v> {
    chars: Vec<char>,
    pos: usize,
    vars: &'v dyn Fn(&str) -> Option<String>,
    escape: char,
    quotes: bool,
}

fn fail(message: impl Into<String>) -> BuildError {
    BuildError::Expand {
        line: 0,
        message: message.into(),
    }
}

impl<'v> Lexer<'v> {
    fn new(s: &str, vars: &'v dyn Fn(&str) -> Option<String>, escape: char, quotes: bool) -> Self {
        Lexer {
            chars: s.chars().collect(),
            pos: 0,
            vars,
            escape,
            quotes,
        }
    }

    fn run(mut self) -> Result<String, BuildError> {
        self.process(None, 0)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Process up to `stop` (consumed) or the end; `stop` is `}` inside a
    /// `${...}` word, and reaching the end first is then an error.
    fn process(&mut self, stop: Option<char>, depth: usize) -> Result<String, BuildError> {
        if depth > MAX_DEPTH {
            return Err(fail(format!(
                "substitutions nested deeper than {MAX_DEPTH}"
            )));
        }
        let mut out = String::new();
        while let Some(c) = self.next() {
            if Some(c) == stop {
                return Ok(out);
            }
            match c {
                '\'' if self.quotes => self.single_quoted(&mut out)?,
                '"' if self.quotes => self.double_quoted(&mut out, depth)?,
                '$' => self.dollar(&mut out, depth)?,
                c if c == self.escape => match self.next() {
                    // A trailing escape character is dropped, as in BuildKit.
                    None => {}
                    Some(n) if self.quotes || n == '$' || n == self.escape => out.push(n),
                    Some(n) => {
                        out.push(c);
                        out.push(n);
                    }
                },
                c => out.push(c),
            }
        }
        match stop {
            Some(_) => Err(fail("unterminated ${...}")),
            None => Ok(out),
        }
    }

    fn single_quoted(&mut self, out: &mut String) -> Result<(), BuildError> {
        loop {
            match self.next() {
                None => return Err(fail("unexpected end of word looking for matching '")),
                Some('\'') => return Ok(()),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut String, depth: usize) -> Result<(), BuildError> {
        loop {
            match self.next() {
                None => return Err(fail("unexpected end of word looking for matching \"")),
                Some('"') => return Ok(()),
                Some('$') => self.dollar(out, depth)?,
                // Inside double quotes the escape only escapes `"`, `$` and
                // itself; before anything else it is literal.
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn dollar(&mut self, out: &mut String, depth: usize) -> Result<(), BuildError> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let value = self.braced(depth)?;
                out.push_str(&value);
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                out.push_str(&(self.vars)(&name).unwrap_or_default());
            }
            // `$` before anything else is a literal dollar.
            _ => out.push('$'),
        }
        Ok(())
    }

    /// After `${`: the name, then `}` or a modifier and its word.
    fn braced(&mut self, depth: usize) -> Result<String, BuildError> {
        let name = self.name();
        if name.is_empty() {
            return Err(fail("bad substitution: ${ without a variable name"));
        }
        let value = (self.vars)(&name);
        let (colon, op) = match self.next() {
            None => return Err(fail(format!("unterminated ${{{name}"))),
            Some('}') => return Ok(value.unwrap_or_default()),
            Some(':') => (true, self.next()),
            Some(c) => (false, Some(c)),
        };
        let op = match op {
            Some(c @ ('-' | '+' | '?')) => c,
            Some(c) => return Err(fail(format!("unsupported modifier {c:?} in ${{{name}"))),
            None => return Err(fail(format!("unterminated ${{{name}"))),
        };
        let word = self.process(Some('}'), depth + 1)?;
        // With a colon, an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        Ok(match op {
            '-' if set => value.unwrap_or_default(),
            '-' => word,
            '+' if set => word,
            '+' => String::new(),
            _ if set => value.unwrap_or_default(),
            _ => return Err(fail(format!("{name}: {word}"))),
        })
    }
}
