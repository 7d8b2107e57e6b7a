//! Lines to instructions: comments, continuations with the escape
//! character, and the word and flag splitting the instruction parsers share.
//! Nothing here expands variables; words keep their quotes, as BuildKit's
//! parser keeps them, so that expansion later sees what the user wrote.

/// The Dockerfile's physical lines, read one at a time (heredoc bodies are
/// read raw from here, between logical lines).
pub(crate) struct Source<'a> {
    lines: Vec<&'a str>,
    pos: usize,
}

/// One instruction's text with its continuations joined, and the 1-based
/// line it started on.
pub(crate) struct LogicalLine {
    pub line: usize,
    pub text: String,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Self {
        // A UTF-8 byte-order mark is dropped, as BuildKit does.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        Source { lines, pos: 0 }
    }

    pub fn lines(&self) -> &[&'a str] {
        &self.lines
    }

    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.lines.len());
    }

    /// The next physical line and its 1-based number.
    pub fn next_raw(&mut self) -> Option<(usize, &'a str)> {
        let line = *self.lines.get(self.pos)?;
        self.pos += 1;
        Some((self.pos, line))
    }

    /// The next instruction: blank and comment lines before it are skipped;
    /// inside a continuation, comment lines and empty lines are dropped
    /// without ending it (Docker's behaviour, which lets people comment out
    /// one line of a long `RUN`).
    pub fn next_logical(&mut self, escape: char) -> Option<LogicalLine> {
        loop {
            let (line, raw) = self.next_raw()?;
            let t = raw.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let (first, mut more) = trim_continuation(t, escape);
            let mut text = first.to_string();
            while more {
                let Some((_, raw)) = self.next_raw() else {
                    break;
                };
                let t = raw.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                // Leading whitespace of a continued line is kept, as in
                // BuildKit: `a \` + `  b` is `a   b`.
                let (part, m) = trim_continuation(raw, escape);
                text.push_str(part);
                more = m;
            }
            return Some(LogicalLine { line, text });
        }
    }
}

/// Strip a trailing escape character, allowing spaces and tabs after it
/// (BuildKit's `\\[ \t]*$`); says whether the line continues.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(s) => (s, true),
        None => (line, false),
    }
}

/// Split on unquoted whitespace, keeping quotes and escapes in the words
/// (BuildKit's `parseWords`). Used for ENV/LABEL pairs, EXPOSE, COPY's
/// shell form, and finding heredoc markers.
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                continue;
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ => {}
        }
        in_word = true;
        word.push(c);
        // An escape keeps the next character in the word whatever it is,
        // except inside single quotes where the shell takes it literally.
        if c == escape
            && quote != Some('\'')
            && let Some(n) = chars.next()
        {
            word.push(n);
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Remove quote characters (and the escape before a quote or escape) from
/// a flag value or heredoc name, which are not otherwise expanded here.
pub(crate) fn strip_quotes(s: &str, escape: char) -> (String, bool) {
    let mut out = String::new();
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                quoted = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, c) if c == escape && q != Some('\'') => match chars.next() {
                Some(n) => out.push(n),
                None => out.push(c),
            },
            _ => out.push(c),
        }
    }
    (out, quoted)
}

/// A `--name[=value]` flag from the front of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// Take leading `--flags` off `rest`, returning them and the remainder as
/// written (RUN's shell form must keep its spacing). A bare `--` ends the
/// flags and is dropped.
pub(crate) fn extract_flags(rest: &str, escape: char) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    let mut s = rest.trim_start();
    while s.starts_with("--") {
        let end = word_end(s, escape);
        let (word, tail) = s.split_at(end);
        s = tail.trim_start();
        if word == "--" {
            break;
        }
        let body = &word[2..];
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(strip_quotes(v, escape).0)),
            None => (body, None),
        };
        flags.push(Flag {
            name: name.to_ascii_lowercase(),
            value,
        });
    }
    (flags, s)
}

/// Byte index where the first word of `s` ends (unquoted whitespace).
fn word_end(s: &str, escape: char) -> usize {
    let mut quote: Option<char> = None;
    let mut skip = false;
    for (i, c) in s.char_indices() {
        if skip {
            skip = false;
            continue;
        }
        match quote {
            None if c.is_whitespace() => return i,
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            q if c == escape && q != Some('\'') => skip = true,
            _ => {}
        }
    }
    s.len()
}

/// The exec (JSON) form: a JSON array of strings and nothing else. Anything
/// else, including JSON-looking text that does not parse, is shell form,
/// exactly as Docker falls back.
pub(crate) fn parse_json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(text: &str, escape: char) -> Vec<(usize, String)> {
        let mut s = Source::new(text);
        std::iter::from_fn(|| s.next_logical(escape).map(|l| (l.line, l.text))).collect()
    }

    #[test]
    fn continuation_comments_and_empty_lines() {
        let got = logical("RUN a \\\n# note\n\n   b \\  \t\n c\nCMD x\n", '\\');
        assert_eq!(got[0], (1, "RUN a    b  c".to_string()));
        assert_eq!(got[1], (6, "CMD x".to_string()));
    }

    #[test]
    fn crlf_and_bom() {
        let got = logical("\u{feff}FROM a\r\nRUN b\r\n", '\\');
        assert_eq!(got, vec![(1, "FROM a".into()), (2, "RUN b".into())]);
    }

    #[test]
    fn backtick_escape_keeps_backslashes() {
        let got = logical("COPY C:\\src `\n  C:\\dst\\\n", '`');
        assert_eq!(got[0].1, "COPY C:\\src   C:\\dst\\");
    }

    #[test]
    fn words_keep_quotes() {
        let w = split_words(r#"K=V K2="v 2" K3='a b' K4=x\ y"#, '\\');
        assert_eq!(w, vec!["K=V", "K2=\"v 2\"", "K3='a b'", "K4=x\\ y"]);
    }

    #[test]
    fn flags_and_rest() {
        let (f, rest) = extract_flags("--from=build  --link  a   b", '\\');
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value.as_deref(), Some("build"));
        assert_eq!(
            f[1],
            Flag {
                name: "link".into(),
                value: None
            }
        );
        assert_eq!(rest, "a   b");
        let (f, rest) = extract_flags("--chown=\"a b\" -- --x", '\\');
        assert_eq!(f[0].value.as_deref(), Some("a b"));
        assert_eq!(rest, "--x");
    }

    #[test]
    fn json_or_not() {
        assert_eq!(
            parse_json_array(r#"["a", "b \"c\""]"#).unwrap(),
            vec!["a", "b \"c\""]
        );
        assert!(parse_json_array("[a, b]").is_none());
        assert!(parse_json_array(r#"["a", 1]"#).is_none());
        assert!(parse_json_array(r#"["a"] x"#).is_none());
    }
}
