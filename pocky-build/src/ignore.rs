//! `.dockerignore`, with the rules of Docker's `patternmatcher`:
//!
//! - one pattern a line; a line starting with `#` is a comment; blank
//!   lines are skipped; patterns are trimmed, cleaned like Go's
//!   `filepath.Clean` (so `./a//b/` is `a/b`), and a leading `/` dropped;
//! - `*` matches within one path segment, `?` one character, `[a-z]` and
//!   `[^a-z]` a class, `\` escapes; `**` matches any number of directories
//!   (zero or more in the middle or at the start, one or more at the end:
//!   `a/**` matches what is inside `a` but not `a`);
//! - `!pattern` is an exception that re-includes what it matches;
//! - a pattern matches a path if it matches the path or any of its parent
//!   directories (so an excluded directory excludes its contents), and
//!   the last pattern that matches decides.
//!
//! # Walking a context
//!
//! A walker may skip a whole directory when [`Ignore::would_descend`]
//! returns false: that happens only if the directory is ignored *and* no
//! exception pattern could match anything below it, in which case every
//! path below it is ignored too (any pattern matching the directory also
//! matches its contents, and only an exception matching a deeper path
//! could change the last match). If it returns true the walker must go in
//! and ask [`Ignore::ignores`] about each entry.

use crate::BuildError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `*`
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// `**`.
    Any,
    Glob(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    exception: bool,
    segs: Vec<Seg>,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` on `/`-separated paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match out.last() {
                Some(&p) if p != ".." => {
                    out.pop();
                }
                // `..` above the root is the root; above a relative
                // start it is kept.
                _ if rooted => {}
                _ => out.push(".."),
            },
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn compile_seg(seg: &str, line: usize) -> Result<Seg, BuildError> {
    if seg == "**" {
        return Ok(Seg::Any);
    }
    let bad = |m: &str| BuildError::Syntax {
        line,
        instruction: ".dockerignore".into(),
        message: format!("bad pattern segment {seg:?}: {m}"),
    };
    let mut toks = Vec::new();
    let mut chars = seg.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' => {
                // `a**b` behaves like one star within a segment here.
                if toks.last() != Some(&Tok::Star) {
                    Tok::Star
                } else {
                    continue;
                }
            }
            '?' => Tok::One,
            '\\' => Tok::Lit(chars.next().ok_or_else(|| bad("trailing \\"))?),
            '[' => {
                let mut negated = false;
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(mut c) = chars.next() else {
                        return Err(bad("unterminated ["));
                    };
                    if first && c == '^' {
                        negated = true;
                        first = false;
                        continue;
                    }
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    if c == '\\' {
                        c = chars.next().ok_or_else(|| bad("trailing \\"))?;
                    }
                    let mut look = chars.clone();
                    if look.next() == Some('-') && look.clone().next().is_some_and(|n| n != ']') {
                        chars.next();
                        let hi = chars.next().ok_or_else(|| bad("unterminated ["))?;
                        ranges.push((c, hi));
                    } else {
                        ranges.push((c, c));
                    }
                }
                Tok::Class { negated, ranges }
            }
            c => Tok::Lit(c),
        });
    }
    Ok(Seg::Glob(toks))
}

fn tok_matches(t: &Tok, c: char) -> bool {
    match t {
        Tok::Lit(l) => *l == c,
        Tok::One => true,
        Tok::Star => true,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
    }
}

/// One segment against one glob, backtracking only to the last star (so
/// linear-times-pattern, not exponential).
fn glob_matches(toks: &[Tok], s: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let (mut ti, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match toks.get(ti) {
            Some(Tok::Star) => {
                star = Some((ti, si));
                ti += 1;
            }
            Some(t) if tok_matches(t, s[si]) => {
                ti += 1;
                si += 1;
            }
            _ => match star {
                Some((st, ss)) => {
                    ti = st + 1;
                    si = ss + 1;
                    star = Some((st, ss + 1));
                }
                None => return false,
            },
        }
    }
    toks[ti.min(toks.len())..].iter().all(|t| *t == Tok::Star)
}

impl Pattern {
    /// The pattern positions reachable after matching `path` segments.
    fn states(&self, path: &[&str]) -> Vec<bool> {
        let m = self.segs.len();
        let close = |st: &mut Vec<bool>| {
            // A `**` that is not last may match zero segments.
            for i in 0..m {
                if st[i] && self.segs[i] == Seg::Any && i + 1 < m {
                    st[i + 1] = true;
                }
            }
        };
        let mut st = vec![false; m + 1];
        st[0] = true;
        close(&mut st);
        for seg in path {
            let mut next = vec![false; m + 1];
            for i in (0..m).filter(|&i| st[i]) {
                match &self.segs[i] {
                    Seg::Any => {
                        next[i] = true;
                        if i + 1 == m {
                            next[m] = true;
                        }
                    }
                    Seg::Glob(toks) if glob_matches(toks, seg) => next[i + 1] = true,
                    Seg::Glob(_) => {}
                }
            }
            close(&mut next);
            st = next;
        }
        st
    }

    fn matches(&self, path: &[&str]) -> bool {
        self.states(path)[self.segs.len()]
    }

    /// Matches `path` or one of its parents.
    fn matches_or_parent(&self, path: &[&str]) -> bool {
        (1..=path.len()).any(|n| self.matches(&path[..n]))
    }
}

/// A context-relative path as segments; `None` for the context root.
fn segments(path: &str) -> Option<Vec<String>> {
    let c = clean(&path.replace('\\', "/"));
    let c = c.trim_start_matches('/');
    if c.is_empty() || c == "." {
        return None;
    }
    Some(c.split('/').map(str::to_string).collect())
}

impl Ignore {
    /// Parse `.dockerignore` text. A malformed pattern (`[` unclosed) is an
    /// error naming its line, as Docker refuses it.
    pub fn parse(text: &str) -> Result<Ignore, BuildError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let mut p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let exception = p.starts_with('!');
            if exception {
                p = p[1..].trim();
                if p.is_empty() {
                    continue;
                }
            }
            let mut cleaned = clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let segs = cleaned
                .split('/')
                .map(|s| compile_seg(s, i + 1))
                .collect::<Result<Vec<_>, _>>()?;
            patterns.push(Pattern {
                text: cleaned,
                exception,
                segs,
            });
        }
        Ok(Ignore { patterns })
    }

    /// The cleaned patterns, `!` kept, in order.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| format!("{}{}", if p.exception { "!" } else { "" }, p.text))
            .collect()
    }

    /// Whether a context-relative path (file or directory) is left out.
    pub fn ignores(&self, path: &str) -> bool {
        let Some(segs) = segments(path) else {
            return false;
        };
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let mut ignored = false;
        for p in &self.patterns {
            // Only a pattern that could change the verdict is evaluated.
            if p.exception == ignored && p.matches_or_parent(&segs) {
                ignored = !p.exception;
            }
        }
        ignored
    }

    /// Whether a walker must look inside directory `dir`; see the module
    /// docs for why `false` makes skipping the whole tree safe.
    pub fn would_descend(&self, dir: &str) -> bool {
        if !self.ignores(dir) {
            return true;
        }
        let Some(segs) = segments(dir) else {
            return true;
        };
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.patterns.iter().filter(|p| p.exception).any(|p| {
            let st = p.states(&segs);
            // Some pattern position short of the end is reachable: more
            // segments below `dir` could complete the match.
            st[..p.segs.len()].iter().any(|&b| b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("a/../../b"), "../b");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean(""), ".");
    }

    #[test]
    fn globs() {
        let g = |p: &str, s: &str| match compile_seg(p, 1).unwrap() {
            Seg::Glob(t) => glob_matches(&t, s),
            Seg::Any => true,
        };
        assert!(g("*.md", "README.md"));
        assert!(!g("*.md", "README.txt"));
        assert!(g("a?c", "abc"));
        assert!(g("[a-c]x", "bx"));
        assert!(!g("[^a-c]x", "bx"));
        assert!(g("\\*", "*"));
        assert!(!g("\\*", "a"));
        assert!(compile_seg("[ab", 1).is_err());
    }
}
