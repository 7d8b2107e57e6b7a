//! Hostile and random input: errors, never panics.

use pocky_build::*;

const SEED: &str = "\
# syntax=x
# escape=\\
ARG A=1
FROM --platform=$P img:${A:-2} AS b
RUN --mount=from=b,target=/x <<EOF cat
$A ${A:+y}
EOF
COPY --from=b [\"a\", \"b\"] /c
ENV K=\"v 2\" L='x' \\
  M=3
HEALTHCHECK --interval=1s CMD [\"true\"]
ONBUILD ADD <<-X /y
FROM b
";

/// A small xorshift generator: reproducible without an extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn exercise(text: &str) {
    if let Ok(df) = parse(text)
        && let Ok(stages) = df.stages()
    {
        let _ = stages.plan(None);
        let _ = stages.plan(Some("b"));
    }
    for w in split_words(text, '\\') {
        let _ = expand(&w, &|_| Some("v".into()), '\\');
        let _ = expand_heredoc(&w, &|_| None, '`');
    }
    if let Ok(ig) = Ignore::parse(text) {
        let _ = ig.ignores("a/b/c");
        let _ = ig.would_descend("a");
    }
}

#[test]
fn random_mutations_never_panic() {
    let pieces = [
        "\\", "`", "$", "{", "}", "${", ":-", "<<", "<<-", "\"", "'", "\n", "#", "[", "]", "--",
        "=", " ", "\t", "é", "**", "!", "/", "AS", "FROM ", "EOF\n", "\r",
    ];
    let seed: Vec<char> = SEED.chars().collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut s = seed.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(s.len() + 1);
            let piece: Vec<char> = pieces[rng.below(pieces.len())].chars().collect();
            match rng.below(3) {
                0 if at < s.len() => {
                    s.remove(at);
                }
                1 if at < s.len() => {
                    s.splice(at..at + 1, piece);
                }
                _ => {
                    s.splice(at..at, piece);
                }
            }
        }
        exercise(&s.into_iter().collect::<String>());
    }
}

#[test]
fn very_long_lines_and_many_continuations() {
    let long = format!("FROM a\nRUN echo {}\n", "x".repeat(1_000_000));
    assert_eq!(parse(&long).unwrap().steps.len(), 2);
    let many = format!("FROM a\nRUN a {}b\n", "\\\n".repeat(100_000));
    assert_eq!(parse(&many).unwrap().steps.len(), 2);
    let dollars = format!("FROM a\nENV A={}\n", "${".repeat(100_000));
    let df = parse(&dollars).unwrap();
    let Instruction::Env(kv) = &df.steps[1].instruction else {
        panic!()
    };
    assert!(expand(&kv[0].1, &|_| None, '\\').is_err());
    let markers = format!("FROM a\nRUN {}\n", "<<E ".repeat(10_000));
    assert!(matches!(
        parse(&markers),
        Err(BuildError::UnterminatedHeredoc { line: 2, .. })
    ));
    let stars = Ignore::parse(&format!("{}x\n", "*".repeat(10_000))).unwrap();
    assert!(!stars.ignores(&"a".repeat(10_000)));
    let ds = Ignore::parse(&"**/".repeat(2_000)).unwrap();
    assert!(ds.ignores(&"a/".repeat(2_000)));
}
