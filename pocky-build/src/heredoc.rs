//! Heredocs (`RUN <<EOF`, `COPY <<EOF /dest`): markers are found among the
//! words of a RUN, COPY or ADD line, and their bodies are the raw lines
//! that follow it, each up to a line that is exactly the delimiter. Body
//! lines are not comment- or continuation-processed.

use crate::BuildError;
use crate::lexer::{Source, split_words, strip_quotes};

/// One heredoc body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The body, each line ending in `\n`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): then the
    /// body is taken literally; else `$VAR` in it is expanded (by the
    /// shell for RUN, by [`expand_heredoc`](crate::expand_heredoc) for
    /// COPY and ADD).
    pub expand: bool,
    /// `<<-`: leading tabs were stripped from body lines and delimiter.
    pub chomp: bool,
    /// A file descriptor before the marker (`3<<EOF`).
    pub fd: Option<u32>,
}

/// A marker parsed out of a word: `[fd]<<[-]name`.
pub(crate) struct Marker {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    pub fd: Option<u32>,
}

/// Parse one word as a heredoc marker. Like BuildKit's `^(\d*)<<(-?)([^<]*)$`
/// with a non-empty name, so `"<<X"` (quoted as a whole) and `["<<X"]` are
/// not markers.
pub(crate) fn marker(word: &str, escape: char) -> Option<Marker> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let (fd, rest) = word.split_at(digits);
    let rest = rest.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let (name, quoted) = strip_quotes(rest, escape);
    if name.is_empty() {
        return None;
    }
    Some(Marker {
        name,
        expand: !quoted,
        chomp,
        fd: if fd.is_empty() { None } else { fd.parse().ok() },
    })
}

/// The markers in an instruction's argument text, in order.
pub(crate) fn markers(args: &str, escape: char) -> Vec<Marker> {
    split_words(args, escape)
        .iter()
        .filter_map(|w| marker(w, escape))
        .collect()
}

/// Read each marker's body from `src`, in order, as BuildKit does for
/// several heredocs on one line.
pub(crate) fn read_bodies(
    src: &mut Source<'_>,
    markers: Vec<Marker>,
    line: usize,
) -> Result<Vec<Heredoc>, BuildError> {
    let mut out = Vec::with_capacity(markers.len());
    for m in markers {
        let mut content = String::new();
        let mut done = false;
        while let Some((_, raw)) = src.next_raw() {
            let body = if m.chomp {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if body == m.name {
                done = true;
                break;
            }
            content.push_str(body);
            content.push('\n');
        }
        if !done {
            return Err(BuildError::UnterminatedHeredoc { line, name: m.name });
        }
        out.push(Heredoc {
            name: m.name,
            content,
            expand: m.expand,
            chomp: m.chomp,
            fd: m.fd,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_shapes() {
        let m = marker("<<EOF", '\\').unwrap();
        assert!(m.expand && !m.chomp && m.fd.is_none());
        let m = marker("3<<-'END'", '\\').unwrap();
        assert!(!m.expand && m.chomp);
        assert_eq!((m.name.as_str(), m.fd), ("END", Some(3)));
        assert!(marker("\"<<EOF\"", '\\').is_none());
        assert!(marker("<<", '\\').is_none());
        assert!(marker("<<<x", '\\').is_none());
        assert!(marker("a<<b", '\\').is_none());
    }

    #[test]
    fn bodies_in_order_and_unterminated() {
        let mut s = Source::new("one\nA\n\ttwo\n\tB\nrest");
        let ms = markers("<<A <<-B", '\\');
        let hs = read_bodies(&mut s, ms, 1).unwrap();
        assert_eq!(hs[0].content, "one\n");
        assert_eq!(hs[1].content, "two\n");
        assert_eq!(s.next_raw(), Some((5, "rest")));
        let mut s = Source::new("x\n");
        let e = read_bodies(&mut s, markers("<<EOF", '\\'), 7).unwrap_err();
        assert_eq!(
            e,
            BuildError::UnterminatedHeredoc {
                line: 7,
                name: "EOF".into()
            }
        );
    }
}
