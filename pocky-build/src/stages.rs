//! Build stages: the global ARGs before the first FROM, the stages that
//! FROMs begin, the edges between them (`FROM <stage>`, `COPY --from=`,
//! `RUN --mount=from=`), and the subset a `--target` needs.
//!
//! A reference to the stage itself or to a later stage is an error: the
//! graph then only has backward edges, so it can have no cycle, and the
//! order of a depth-first walk is a valid build order.

use std::collections::BTreeMap;

use crate::instruction::{Instruction, Step};
use crate::{BuildError, Dockerfile, expand};

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// An image reference (or `scratch`), global ARGs expanded.
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// One build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// The `AS` name, lowercased.
    pub name: Option<String>,
    pub base: Base,
    pub platform: Option<String>,
    /// The FROM's line.
    pub line: usize,
    /// The steps after FROM, up to the next FROM.
    pub steps: Vec<Step>,
    /// Earlier stages this one needs (base, `--from`, mounts), sorted.
    pub deps: Vec<usize>,
}

/// The global ARGs and the stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    /// ARGs before the first FROM, with their defaults as written; they are
    /// in scope for FROM lines (and, if redeclared, inside a stage).
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The stages, with global ARGs taking their defaults.
    pub fn stages(&self) -> Result<Stages, BuildError> {
        self.stages_with_args(&BTreeMap::new())
    }

    /// The stages, with `--build-arg` values overriding the defaults of the
    /// global ARGs that declare them.
    pub fn stages_with_args(
        &self,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Stages, BuildError> {
        let escape = self.directives.escape;
        let mut global_args = Vec::new();
        // Resolved values of the global ARGs, for FROM and `--from`.
        let mut scope: BTreeMap<String, String> = BTreeMap::new();
        let mut steps = self.steps.iter().peekable();
        while let Some(step) = steps.next_if(|s| matches!(s.instruction, Instruction::Arg(_))) {
            if let Instruction::Arg(args) = &step.instruction {
                for (name, default) in args {
                    let value = match (build_args.get(name), default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(lookup_expand(d, &scope, escape, step.line)?),
                        (None, None) => None,
                    };
                    if let Some(v) = value {
                        scope.insert(name.clone(), v);
                    }
                    global_args.push((name.clone(), default.clone()));
                }
            }
        }
        // Names first, so that a reference to a later stage can be told
        // from an image of the same name and refused.
        let mut names: Vec<(usize, String, usize)> = Vec::new();
        let mut index = 0;
        for step in self.steps.iter() {
            if let Instruction::From { name, .. } = &step.instruction {
                if let Some(n) = name {
                    if names.iter().any(|(_, m, _)| m == n) {
                        return Err(BuildError::Stage {
                            line: step.line,
                            message: format!("duplicate stage name {n:?}"),
                        });
                    }
                    names.push((index, n.clone(), step.line));
                }
                index += 1;
            }
        }
        let mut stages: Vec<Stage> = Vec::new();
        for step in steps {
            match &step.instruction {
                Instruction::From {
                    image,
                    name,
                    platform,
                } => {
                    let index = stages.len();
                    let expanded = lookup_expand(image, &scope, escape, step.line)?;
                    let base = match resolve(&expanded, index, &names, step.line, false)? {
                        Some(i) => Base::Stage(i),
                        None => Base::Image(expanded),
                    };
                    let platform = match platform {
                        Some(p) => Some(lookup_expand(p, &scope, escape, step.line)?),
                        None => None,
                    };
                    stages.push(Stage {
                        index,
                        name: name.clone(),
                        deps: match base {
                            Base::Stage(i) => vec![i],
                            Base::Image(_) => Vec::new(),
                        },
                        base,
                        platform,
                        line: step.line,
                        steps: Vec::new(),
                    });
                }
                other => {
                    let Some(stage) = stages.last_mut() else {
                        return Err(BuildError::Stage {
                            line: step.line,
                            message: "only ARG may come before the first FROM".into(),
                        });
                    };
                    for r in references(other) {
                        let r = lookup_expand(&r, &scope, escape, step.line)?;
                        if let Some(i) = resolve(&r, stage.index, &names, step.line, true)? {
                            stage.deps.push(i);
                        }
                    }
                    stage.steps.push(step.clone());
                }
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Stage {
                line: self.steps.last().map_or(0, |s| s.line),
                message: "no FROM instruction: a Dockerfile needs at least one stage".into(),
            });
        }
        for s in &mut stages {
            s.deps.sort_unstable();
            s.deps.dedup();
        }
        Ok(Stages {
            global_args,
            stages,
        })
    }

    /// The stages to build for `target` (the last stage if `None`), in
    /// dependency order, each once.
    pub fn plan(&self, target: Option<&str>) -> Result<Vec<usize>, BuildError> {
        self.stages()?.plan(target)
    }
}

impl Stages {
    /// See [`Dockerfile::plan`].
    pub fn plan(&self, target: Option<&str>) -> Result<Vec<usize>, BuildError> {
        let last = self.stages.len().saturating_sub(1);
        let root = match target {
            None => last,
            Some(t) => {
                let t = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .find(|s| s.name.as_deref() == Some(t.as_str()))
                    .map(|s| s.index)
                    .ok_or_else(|| BuildError::UnknownTarget {
                        target: t,
                        known: self.stages.iter().filter_map(|s| s.name.clone()).collect(),
                    })?
            }
        };
        // 0 = unseen, 1 = on the path, 2 = planned. An explicit stack, so a
        // long chain of stages cannot overflow the call stack.
        let mut state = vec![0u8; self.stages.len()];
        let mut order = Vec::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((i, next)) = stack.pop() {
            let Some(stage) = self.stages.get(i) else {
                continue;
            };
            if next == 0 {
                if state[i] == 2 {
                    continue;
                }
                state[i] = 1;
            }
            match stage.deps.get(next) {
                Some(&d) => {
                    stack.push((i, next + 1));
                    match state.get(d) {
                        Some(0) => stack.push((d, 0)),
                        Some(1) => {
                            return Err(BuildError::Stage {
                                line: stage.line,
                                message: format!("stage {i} depends on itself through stage {d}"),
                            });
                        }
                        _ => {}
                    }
                }
                None => {
                    state[i] = 2;
                    order.push(i);
                }
            }
        }
        Ok(order)
    }
}

fn lookup_expand(
    word: &str,
    scope: &BTreeMap<String, String>,
    escape: char,
    line: usize,
) -> Result<String, BuildError> {
    expand(word, &|k| scope.get(k).cloned(), escape).map_err(|e| e.at_line(line))
}

/// Stage references an instruction makes besides FROM, as written.
fn references(i: &Instruction) -> Vec<String> {
    match i {
        Instruction::Copy(t) => t.from.iter().cloned().collect(),
        Instruction::Run(r) => r
            .mounts
            .iter()
            .filter_map(|m| {
                m.split(',')
                    .find_map(|kv| kv.trim().strip_prefix("from="))
                    .map(str::to_string)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Which earlier stage `name` means, if any: a stage name or (for
/// `--from`, which Docker allows) an index. A name or index of this stage
/// or a later one is an error; anything else is an image.
fn resolve(
    name: &str,
    current: usize,
    names: &[(usize, String, usize)],
    line: usize,
    allow_index: bool,
) -> Result<Option<usize>, BuildError> {
    let lower = name.to_ascii_lowercase();
    let found = names
        .iter()
        .find(|(_, n, _)| *n == lower)
        .map(|(i, _, _)| *i);
    let found = match (found, allow_index) {
        (Some(i), _) => Some(i),
        (None, true) => lower.parse::<usize>().ok(),
        (None, false) => None,
    };
    match found {
        Some(i) if i < current => Ok(Some(i)),
        Some(i) => Err(BuildError::Stage {
            line,
            message: if i == current {
                format!("stage {current} refers to itself as {name:?}")
            } else {
                format!("{name:?} is stage {i}, which comes after this one (stage {current})")
            },
        }),
        None => Ok(None),
    }
}
