//! COPY and ADD: files of the context written into the parent image's
//! filesystem (mounted by `layer::Workspace`), the destination resolved by
//! the kernel inside that root, so an image's `/bin -> usr/bin` is
//! followed as in a container and nothing leads outside it.
//!
//! Docker's placement rules: a directory source gives its contents; a
//! file source lands as `dest/<name>` when `dest` ends in `/` or is an
//! existing directory, else as the file `dest`; several sources need a
//! `dest/`. A relative `dest` is under WORKDIR. Owners are 0:0 unless
//! `--chown`, looked up in the image's own `/etc/passwd` and `/etc/group`.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use pocky_build::{CopySource, Transfer};
use pocky_fs::{ArchiveOptions, CreateKind};

use super::args::{self, expand_word};
use super::layer::Workspace;
use super::stage::{Action, Build, Change, Plan, Work};
use crate::build_context::{Context, Resolved, parse_chmod, parse_chown};

pub(super) struct CopyPlan {
    /// The context the sources are in when it is not the build's own:
    /// another stage's or an image's root (`--from`), or heredoc files.
    source: Option<Source>,
    resolved: Vec<Resolved>,
    dest: String,
    chown: Option<String>,
    chmod: Option<u32>,
    extract: bool,
    what: &'static str,
}

pub(super) fn plan(
    b: &mut Build<'_>,
    work: &mut Work,
    t: &Transfer,
    add: bool,
    line: usize,
) -> crate::Result<Plan> {
    let what = if add { "ADD" } else { "COPY" };
    let env = work.env();
    let vars = args::lookup(&env, &work.scope, b.build_args);
    let escape = b.escape;
    let ex = |w: &str| expand_word(w, &vars, escape, line);
    let mut srcs = Vec::new();
    let heredocs: Vec<_> = t
        .srcs
        .iter()
        .filter_map(|s| match s {
            CopySource::Heredoc(h) => Some(h),
            CopySource::Path(_) => None,
        })
        .collect();
    let source = match (&t.from, heredocs.is_empty()) {
        (Some(from), true) => Some(Source::from(b, &ex(from)?, line)?),
        (None, true) => None,
        (None, false) if heredocs.len() == t.srcs.len() => {
            let files = heredocs
                .iter()
                .map(|h| {
                    let body = match h.expand {
                        true => pocky_build::expand_heredoc(&h.content, &vars, b.escape)
                            .map_err(|e| crate::invalid!("Dockerfile: {}", e.at_line(line)))?,
                        false => h.content.clone(),
                    };
                    srcs.push(h.name.clone());
                    Ok((h.name.clone(), body))
                })
                .collect::<crate::Result<Vec<_>>>()?;
            Some(Source::heredocs(b.store, &files)?)
        }
        _ => {
            return Err(crate::invalid!(
                "Dockerfile line {line}: {what} cannot mix heredocs with --from or with paths"
            ));
        }
    };
    for s in &t.srcs {
        match s {
            CopySource::Path(p) => {
                let p = ex(p)?;
                if p.starts_with("http://") || p.starts_with("https://") || p.starts_with("git@") {
                    return Err(crate::invalid!(
                        "Dockerfile line {line}: {what} {p}: sources from URLs are not supported; download in a RUN step"
                    ));
                }
                srcs.push(p);
            }
            CopySource::Heredoc(_) => {}
        }
    }
    let dest = ex(&t.dest)?;
    let dest = match dest.starts_with('/') {
        true => dest,
        false => format!("{}/{dest}", work.workdir().trim_end_matches('/')),
    };
    let ctx = source.as_ref().map_or(b.ctx, |s| &s.ctx);
    let resolved = ctx.resolve(&srcs).map_err(|e| {
        crate::invalid!(
            "Dockerfile line {line}: {what} failed: {}",
            crate::one_line(&e)
        )
    })?;
    if (resolved.len() > 1 || srcs.len() > 1) && !dest.ends_with('/') {
        return Err(crate::invalid!(
            "Dockerfile line {line}: When using {what} with more than one source file, the destination must be a directory and end with a /"
        ));
    }
    // An image's id stands for all its content; hashing it again is waste.
    let checksum = match source.as_ref().and_then(|s| s.image_id.clone()) {
        Some(id) => format!("from {id}"),
        None => ctx.checksum(&resolved)?,
    };
    let chown = t.chown.as_deref().map(&ex).transpose()?;
    let chmod = t
        .chmod
        .as_deref()
        .map(&ex)
        .transpose()?
        .map(|m| parse_chmod(&m))
        .transpose()?;
    let flags = format!(
        "{}{}",
        chown
            .as_deref()
            .map(|c| format!("--chown={c} "))
            .unwrap_or_default(),
        chmod.map(|m| format!("--chmod={m:o} ")).unwrap_or_default()
    );
    Ok(Plan {
        descriptor: format!("{what} {flags}{srcs:?} {dest} {checksum}"),
        history: format!("{what} {flags}{} {dest} # {checksum}", srcs.join(" ")),
        action: Action::Copy(Box::new(CopyPlan {
            source,
            resolved,
            dest,
            chown,
            chmod,
            extract: add,
            what,
        })),
    })
}

pub(super) fn copy(b: &mut Build<'_>, work: &Work, plan: &CopyPlan) -> crate::Result<Change> {
    let ws = Workspace::mount(b.store, work.image.as_ref())?;
    // Files from another stage or image keep their owners, as Docker's
    // COPY --from does; the context's become root's.
    let from_image = plan.source.as_ref().is_some_and(|s| s.image_id.is_some());
    let owner = match &plan.chown {
        None if from_image => None,
        None => Some((0, 0)),
        Some(spec) => Some({
            let passwd = read_in_root(&ws.root, "etc/passwd");
            let group = read_in_root(&ws.root, "etc/group");
            parse_chown(spec, passwd.as_deref(), group.as_deref()).map_err(|e| {
                crate::invalid!("{} --chown={spec}: {}", plan.what, crate::one_line(&e))
            })?
        }),
    };
    let ctx = plan.source.as_ref().map_or(b.ctx, |s| &s.ctx);
    // ADD unpacks a local tar into the destination instead of copying it.
    let mut archives = Vec::new();
    let mut plain = Vec::new();
    for r in &plan.resolved {
        match plan.extract.then(|| ctx.archive(r)).transpose()?.flatten() {
            Some(file) => archives.push(file),
            None => plain.push(r.clone()),
        }
    }
    let single_file = archives.is_empty() && plain.len() == 1 && !plain[0].is_dir();
    let (dir, file_name) =
        if single_file && !plan.dest.ends_with('/') && !is_dir(&ws.root, &plan.dest) {
            let path = Path::new(&plan.dest);
            let parent = path
                .parent()
                .map_or("/".into(), |p| p.to_string_lossy().into_owned());
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (parent, name)
        } else {
            (plan.dest.clone(), None)
        };
    let target = pocky_fs::create_in_root(&ws.root, Path::new(&dir), CreateKind::Dir)
        .map_err(|e| crate::invalid!("{}: destination {dir}: {e}", plan.what))?;
    for file in archives {
        let options = ArchiveOptions {
            owner: plan.chown.is_some().then_some(owner).flatten(),
            ..ArchiveOptions::default()
        };
        pocky_fs::unpack_archive(file, &target, &options)
            .map_err(|e| crate::invalid!("{} failed to extract an archive: {e}", plan.what))?;
    }
    let (read, write) = std::io::pipe().map_err(anyhow::Error::from)?;
    let written = std::thread::scope(|s| {
        let writer = s.spawn(move || {
            let mut write = write;
            ctx.write_tar(&plain, file_name.as_deref(), owner, plan.chmod, &mut write)
        });
        let unpacked = pocky_fs::unpack_archive(read, &target, &ArchiveOptions::default());
        let wrote = writer.join();
        (unpacked, wrote)
    });
    match written {
        (_, Err(_)) => {
            return Err(crate::invalid!(
                "{}: the context reader panicked",
                plan.what
            ));
        }
        (_, Ok(Err(e))) => {
            return Err(crate::invalid!(
                "{} failed: {}",
                plan.what,
                crate::one_line(&e)
            ));
        }
        (Err(e), _) => {
            return Err(crate::invalid!("{} failed: {e}", plan.what));
        }
        (Ok(_), Ok(Ok(_))) => {}
    }
    drop(target);
    let (blob, diff_id) = ws.finish(b.store)?;
    Ok(Change::Layer(blob, diff_id))
}

/// A context other than the build's.
pub(super) struct Source {
    ctx: Context,
    /// For `--from`: the image whose files are copied, for the key.
    image_id: Option<String>,
    /// Keep the mount or the heredoc files while the context is used.
    _mount: Option<Workspace>,
    _files: Option<pocky_store::Staging>,
}

impl Source {
    /// `--from=NAME`: an earlier stage (by name or index) or an image.
    fn from(b: &Build<'_>, from: &str, line: usize) -> crate::Result<Source> {
        let lower = from.to_ascii_lowercase();
        let stage = b
            .stage_names
            .iter()
            .position(|n| n.as_deref() == Some(lower.as_str()))
            .or_else(|| lower.parse::<usize>().ok());
        let image = match stage {
            Some(i) => b.results.get(&i).cloned().ok_or_else(|| {
                crate::invalid!(
                    "Dockerfile line {line}: --from={from}: stage {i} is not built before this one"
                )
            })?,
            None => crate::pull::find_or_pull_with(
                b.store,
                from,
                b.platform,
                b.pull,
                &crate::progress::Silent,
            )?,
        };
        let ws = Workspace::mount(b.store, Some(&image))?;
        let root = ws.root.try_clone().map_err(anyhow::Error::from)?;
        Ok(Source {
            ctx: Context::over_root(root),
            image_id: Some(image.id.clone()),
            _mount: Some(ws),
            _files: None,
        })
    }

    /// COPY's heredocs as files named by their delimiters.
    fn heredocs(store: &pocky_store::Store, files: &[(String, String)]) -> crate::Result<Source> {
        let dir = store.scratch()?;
        for (name, body) in files {
            if name.contains('/') || name == "." || name == ".." {
                return Err(crate::invalid!("heredoc name {name:?} is not a file name"));
            }
            std::fs::write(dir.path().join(name), body).map_err(anyhow::Error::from)?;
        }
        let root = nix::fcntl::open(
            dir.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(anyhow::Error::from)?;
        Ok(Source {
            ctx: Context::over_root(root),
            image_id: None,
            _mount: None,
            _files: Some(dir),
        })
    }
}

fn is_dir(root: &OwnedFd, path: &str) -> bool {
    pocky_fs::open_in_root(root, Path::new(path), OFlag::O_DIRECTORY).is_ok()
}

/// A small file of the image (passwd, group), read through the root.
fn read_in_root(root: &OwnedFd, path: &str) -> Option<String> {
    let fd = pocky_fs::open_in_root(root, Path::new(path), OFlag::empty()).ok()?;
    let f = std::fs::File::open(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let mut text = String::new();
    f.take(4 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}
