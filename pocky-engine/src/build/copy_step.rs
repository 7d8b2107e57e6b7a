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
use crate::build_context::{Resolved, parse_chmod, parse_chown};

pub(super) struct CopyPlan {
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
    if t.from.is_some() {
        return Err(crate::invalid!(
            "Dockerfile line {line}: {what} --from is not supported yet"
        ));
    }
    let env = work.env();
    let vars = args::lookup(&env, &work.scope, b.build_args);
    let ex = |w: &str| expand_word(w, &vars, b.escape, line);
    let mut srcs = Vec::new();
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
            CopySource::Heredoc(_) => {
                return Err(crate::invalid!(
                    "Dockerfile line {line}: {what} from a heredoc is not supported yet"
                ));
            }
        }
    }
    let dest = ex(&t.dest)?;
    let dest = match dest.starts_with('/') {
        true => dest,
        false => format!("{}/{dest}", work.workdir().trim_end_matches('/')),
    };
    let resolved = b.ctx.resolve(&srcs).map_err(|e| {
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
    let checksum = b.ctx.checksum(&resolved)?;
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
        action: Action::Copy(CopyPlan {
            resolved,
            dest,
            chown,
            chmod,
            extract: add,
            what,
        }),
    })
}

pub(super) fn copy(b: &mut Build<'_>, work: &Work, plan: &CopyPlan) -> crate::Result<Change> {
    let ws = Workspace::mount(b.store, work.image.as_ref())?;
    let owner = match &plan.chown {
        None => (0, 0),
        Some(spec) => {
            let passwd = read_in_root(&ws.root, "etc/passwd");
            let group = read_in_root(&ws.root, "etc/group");
            parse_chown(spec, passwd.as_deref(), group.as_deref()).map_err(|e| {
                crate::invalid!("{} --chown={spec}: {}", plan.what, crate::one_line(&e))
            })?
        }
    };
    let ctx = b.ctx;
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
            owner: plan.chown.is_some().then_some(owner),
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
