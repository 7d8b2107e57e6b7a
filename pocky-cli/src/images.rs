//! `pocky images`, `rmi` and `image inspect`.

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;
use serde_json::{Value, json};

use pocky_engine::store::{ImageRecord, ImageStore, Store};

use crate::cli::{ImagesArgs, InspectArgs, RmiArgs};
use crate::format;
use pocky_engine::lookup;

struct Row {
    repository: String,
    tag: String,
    image: ImageRecord,
}

fn rows(images: Vec<ImageRecord>) -> Vec<Row> {
    let mut out = Vec::new();
    for image in images {
        if image.repo_tags.is_empty() {
            out.push(Row {
                repository: "<none>".into(),
                tag: "<none>".into(),
                image,
            });
            continue;
        }
        for t in &image.repo_tags {
            let (repository, tag) = lookup::familiar(t);
            out.push(Row {
                repository,
                tag,
                image: image.clone(),
            });
        }
    }
    out
}

pub fn list(root: &Path, args: &ImagesArgs) -> Result<ExitCode> {
    if args.tree {
        anyhow::bail!(
            "--tree is not supported by pocky: it keeps one platform per image, so there is no tree to show"
        );
    }
    let store = Store::open(root)?;
    pocky_engine::broken::warn_images(&store.broken_images()?);
    let filter = pocky_engine::image_filter::ImageFilter::parse(&store, &args.filter)?;
    let images = store
        .images()?
        .into_iter()
        .filter(|i| (args.all || !i.build_step) && filter.keeps_image(&store, i))
        .collect();
    let mut rows = rows(images);
    rows.retain(|r| filter.keeps_row(&r.repository, (r.tag != "<none>").then_some(r.tag.as_str())));
    if let Some(filter) = &args.reference {
        let (repo, tag) = match filter.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r.to_owned(), Some(t.to_owned())),
            None => (filter.clone(), None),
        };
        rows.retain(|r| r.repository == repo && tag.as_ref().is_none_or(|t| &r.tag == t));
    }
    let now = SystemTime::now();
    let created = |img: &ImageRecord| {
        img.created
            .as_deref()
            .and_then(format::parse_time)
            .map_or_else(|| "N/A".to_owned(), |t| format::ago(t, now))
    };
    let id = |img: &ImageRecord| {
        if args.no_trunc {
            img.id.clone()
        } else {
            img.short_id().to_owned()
        }
    };
    if args.quiet {
        let mut seen = Vec::new();
        for r in &rows {
            let i = id(&r.image);
            if !seen.contains(&i) {
                println!("{i}");
                seen.push(i);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // As Docker: the digest the row's repository knows the image by, which
    // an image made here has only once it is pushed.
    let digest = |r: &Row| {
        r.image
            .repo_digests
            .iter()
            .map(|d| lookup::familiar_digest(d))
            .find_map(|d| {
                d.strip_prefix(&format!("{}@", r.repository))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "<none>".to_owned())
    };
    let item = |r: &Row| {
        json!({
            "ID": id(&r.image),
            "Repository": r.repository,
            "Tag": r.tag,
            "Digest": digest(r),
            "CreatedAt": r.image.created,
            "CreatedSince": created(&r.image),
            "Size": format::size(r.image.size),
        })
    };
    match args.format.as_str() {
        "json" => {
            // Docker's lines (one `{{json .}}` object per row), plus the
            // image's platform.
            for r in &rows {
                let mut v = item(r);
                v["Platform"] = json!(r.image.platform);
                println!("{v}");
            }
        }
        "table" if args.digests => {
            let table: Vec<[String; 6]> = rows
                .iter()
                .map(|r| {
                    [
                        r.repository.clone(),
                        r.tag.clone(),
                        digest(r),
                        id(&r.image),
                        created(&r.image),
                        format::size(r.image.size),
                    ]
                })
                .collect();
            print_table(
                &["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"],
                &table,
            );
        }
        "table" => {
            let table: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    [
                        r.repository.clone(),
                        r.tag.clone(),
                        id(&r.image),
                        created(&r.image),
                        format::size(r.image.size),
                    ]
                })
                .collect();
            print_table(
                &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
                &table,
            );
        }
        template => {
            let items: Vec<Value> = rows.iter().map(item).collect();
            let titles = [
                ("ID", "IMAGE ID"),
                ("Repository", "REPOSITORY"),
                ("Tag", "TAG"),
                ("Digest", "DIGEST"),
                ("CreatedAt", "CREATED AT"),
                ("CreatedSince", "CREATED"),
                ("Size", "SIZE"),
            ];
            print!("{}", crate::template::listing(template, &titles, &items)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn remove(root: &Path, args: &RmiArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let platform = args
        .platform
        .as_deref()
        .map(pocky_registry::Platform::parse)
        .transpose()?;
    let mut failures = Vec::new();
    for name in &args.images {
        let removed = match &platform {
            Some(p) => pocky_engine::images::remove_platform(&store, name, p, args.force),
            None => pocky_engine::images::remove(&store, name, args.force),
        };
        match removed {
            Ok(done) => {
                for d in done {
                    println!("{d}");
                }
            }
            Err(e) => failures.push(format!("{name}: {}", crate::one_line(&e))),
        }
    }
    let collected = match args.no_prune {
        true => Default::default(),
        false => store.collect_garbage()?,
    };
    crate::log::debug!(
        "collected {} layers, {} blobs",
        collected.layers.len(),
        collected.blobs.len()
    );
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("pocky: {f}");
        }
        Ok(ExitCode::from(crate::EXIT_ENGINE))
    }
}

pub fn inspect(root: &Path, args: &InspectArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let mut out = Vec::new();
    for name in &args.names {
        let (image, _) = lookup::find(&store, name)?;
        out.push(pocky_engine::inspect::image(&store, &image)?);
    }
    crate::template::print_inspect(args.format.as_deref(), out)
}
