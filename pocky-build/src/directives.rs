//! Parser directives: `# name=value` comments at the very top of a
//! Dockerfile. As in BuildKit, they are looked for only until the first line
//! that is not one (a blank line, a plain comment, an instruction, or an
//! unknown directive name, which is then just a comment). Names are
//! case-insensitive; each may appear once.

use crate::BuildError;

/// The directives a Dockerfile declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` is recorded for the caller; pocky has one frontend, so it
    /// is not otherwise acted on.
    pub syntax: Option<String>,
    /// `# escape=`: `\` (the default) or `` ` `` (for Windows paths).
    pub escape: char,
    /// `# check=` configures BuildKit's linter; recorded, ignored.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// Split `# name = value` into a lowercased name and its value, or `None`
/// if the line does not have directive shape (which ends the directives).
fn directive_shape(line: &str) -> Option<(String, &str)> {
    let body = line.trim_start().strip_prefix('#')?;
    let (name, value) = body.split_once('=')?;
    let name = name.trim();
    let mut chars = name.chars();
    // BuildKit's regex: a letter, then letters or digits.
    if !chars.next()?.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value))
}

/// Read directives from the start of `lines`; returns them and how many
/// lines they took.
pub(crate) fn parse_directives(lines: &[&str]) -> Result<(Directives, usize), BuildError> {
    let mut d = Directives::default();
    let mut seen: Vec<String> = Vec::new();
    let mut used = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some((name, value)) = directive_shape(line) else {
            break;
        };
        let lineno = i + 1;
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            // An unknown name is a comment, and ends the directive block.
            break;
        }
        if seen.contains(&name) {
            return Err(BuildError::Directive {
                line: lineno,
                message: format!("only one {name} parser directive can be used"),
            });
        }
        match name.as_str() {
            "escape" => {
                d.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(BuildError::Directive {
                            line: lineno,
                            message: format!("invalid escape token {other:?}: must be ` or \\"),
                        });
                    }
                }
            }
            "syntax" => d.syntax = Some(value.to_string()),
            _ => d.check = Some(value.to_string()),
        }
        seen.push(name);
        used = i + 1;
    }
    Ok((d, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_until_first_non_directive() {
        let lines = [
            "# syntax=docker/dockerfile:1",
            "#ESCAPE = `",
            "",
            "# escape=\\",
        ];
        let (d, n) = parse_directives(&lines).unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(n, 2);
    }

    #[test]
    fn unknown_name_ends_block_and_duplicates_fail() {
        let (d, n) = parse_directives(&["# foo=bar", "# escape=`"]).unwrap();
        assert_eq!((d.escape, n), ('\\', 0));
        assert!(parse_directives(&["# escape=`", "# escape=`"]).is_err());
        let e = parse_directives(&["# escape=x"]).unwrap_err();
        assert!(matches!(e, BuildError::Directive { line: 1, .. }));
    }

    #[test]
    fn check_is_recorded() {
        let (d, _) = parse_directives(&["# check=skip=all"]).unwrap();
        assert_eq!(d.check.as_deref(), Some("skip=all"));
    }
}
