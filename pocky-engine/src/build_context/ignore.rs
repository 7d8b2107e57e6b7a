//! `.dockerignore` with Docker's rules (moby's patternmatcher): one
//! pattern per line, `#` comments, `!` re-includes, each pattern cleaned
//! and stripped of a leading `/`, `*` and `?` stopping at `/`, `**`
//! crossing directories. A path is excluded when the last pattern that
//! matches it or one of its parent directories is not a `!` pattern.

use glob::{MatchOptions, Pattern};

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

struct Rule {
    pattern: Pattern,
    exception: bool,
}

#[derive(Default)]
pub(super) struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    pub(super) fn parse(text: &str) -> anyhow::Result<Self> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, raw) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(raw);
            if cleaned.is_empty() {
                continue;
            }
            let pattern = Pattern::new(&cleaned).map_err(|e| {
                crate::invalid!(
                    ".dockerignore line {}: bad pattern {raw:?}: {}",
                    n + 1,
                    e.msg
                )
            })?;
            rules.push(Rule { pattern, exception });
        }
        Ok(Self { rules })
    }

    /// Whether `rel` (a clean path relative to the context root, `/`
    /// separated, not empty) is left out of the context.
    pub(super) fn excluded(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        let mut matched = false;
        for rule in &self.rules {
            // An include cannot change an already excluded path, nor an
            // exception a path that is not excluded.
            if rule.exception != matched {
                continue;
            }
            if self.matches(&rule.pattern, rel) {
                matched = !rule.exception;
            }
        }
        matched
    }

    fn matches(&self, pattern: &Pattern, rel: &str) -> bool {
        if pattern.matches_with(rel, OPTIONS) {
            return true;
        }
        rel.match_indices('/')
            .any(|(i, _)| pattern.matches_with(&rel[..i], OPTIONS))
    }

    /// Whether an excluded directory may still hold included paths, so a
    /// walk must look inside it.
    pub(super) fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

/// Go's `filepath.Clean` for `/` paths, then the leading `/` dropped.
pub(super) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let mut above = 0usize;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    above += 1;
                }
            }
            p => parts.push(p),
        }
    }
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    if !absolute {
        out.extend(std::iter::repeat_n("..", above));
    }
    out.extend(parts);
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn docker_rules() {
        let i = ignore("# comment\n*.md\n!README.md\n/build\nsrc/**/*.o\n  temp?  \n");
        assert!(i.excluded("notes.md"));
        assert!(!i.excluded("README.md"));
        assert!(!i.excluded("docs/notes.md"), "* does not cross /");
        assert!(i.excluded("build"));
        assert!(i.excluded("build/out/x"), "parents match");
        assert!(i.excluded("src/a/b/c.o"));
        assert!(i.excluded("src/c.o"), "** matches no directory too");
        assert!(i.excluded("temp1"));
        assert!(!i.excluded("main.rs"));
        assert!(!i.excluded(""));
    }

    #[test]
    fn last_match_wins() {
        let i = ignore("docs\n!docs/keep\n");
        assert!(i.excluded("docs/a"));
        assert!(!i.excluded("docs/keep"));
        assert!(i.has_exceptions());
        let i = ignore("!x\nx\n");
        assert!(i.excluded("x"));
        let i = ignore("**\n!Dockerfile\n");
        assert!(!i.excluded("Dockerfile"));
        assert!(i.excluded("a/b"));
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("/a/./b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("a/../../x"), "../x");
        assert_eq!(clean("/../x"), "x");
        assert_eq!(clean("."), "");
        assert!(Ignore::parse("[z-a\n").is_err());
    }
}
