//! `pocky tag`, `history` and `image prune`.

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use pocky_engine::store::Store;

use crate::format;

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image: name[:tag], id or unique id prefix.
    pub source: String,
    /// The new name: [registry/]repository[:tag].
    pub target: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    pub image: String,
    /// Show only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not shorten ids or commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// Sizes and dates for humans (`--human=false`: bytes and RFC 3339).
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,
    /// `table`, `json`, or a Go template (`{{.CreatedBy}}`).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// The image's platform, os/arch[/variant]: checked to be the one
    /// pocky keeps under the name.
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove every image no container uses, not only untagged ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask (pocky never asks; accepted for scripts).
    #[arg(short, long)]
    pub force: bool,
    /// label=KEY[=VALUE], until=TIMESTAMP.
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn tag(root: &Path, args: &TagArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    pocky_engine::tag::tag(&store, &args.source, &args.target)?;
    Ok(ExitCode::SUCCESS)
}

pub fn history(root: &Path, args: &HistoryArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    pocky_engine::lookup::require_platform(&store, &args.image, args.platform.as_deref())?;
    let steps = pocky_engine::tag::history(&store, &args.image)?;
    let now = SystemTime::now();
    let id = |s: &str| match (args.no_trunc, s.strip_prefix("sha256:")) {
        (false, Some(hex)) => hex[..hex.len().min(12)].to_owned(),
        _ => s.to_owned(),
    };
    if args.quiet {
        for s in &steps {
            println!("{}", id(&s.id));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let created = |c: &Option<String>| match (args.human, c) {
        (_, None) => "N/A".to_owned(),
        (true, Some(t)) => format::parse_time(t).map_or_else(|| t.clone(), |t| format::ago(t, now)),
        (false, Some(t)) => t.clone(),
    };
    let size = |b: u64| match args.human {
        true => format::size(b),
        false => b.to_string(),
    };
    let created_by = |c: &str| {
        let c = c.replace('\t', " ");
        if args.no_trunc || c.chars().count() <= 45 {
            c
        } else {
            format!("{}…", c.chars().take(44).collect::<String>())
        }
    };
    let items: Vec<_> = steps
        .iter()
        .map(|s| {
            json!({
                "ID": id(&s.id),
                "CreatedAt": s.created,
                "CreatedSince": created(&s.created),
                "CreatedBy": created_by(&s.created_by),
                "Size": size(s.size),
                "Comment": s.comment,
                "Tags": s.tags.iter().map(|t| {
                    let (r, t) = pocky_engine::lookup::familiar(t);
                    format!("{r}:{t}")
                }).collect::<Vec<_>>().join(", "),
            })
        })
        .collect();
    let format = match args.format.as_str() {
        "table" => "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        "json" => {
            for i in &items {
                println!("{i}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        other => other,
    };
    let titles = [
        ("ID", "IMAGE"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedSince", "CREATED"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
        ("Tags", "TAGS"),
    ];
    print!("{}", crate::template::listing(format, &titles, &items)?);
    Ok(ExitCode::SUCCESS)
}

pub fn prune(root: &Path, args: &ImagePruneArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let keep = pocky_engine::image_filter::PruneFilter::parse(&store, &args.filter)?;
    let done = pocky_engine::tag::prune_images(&store, args.all, &|i| keep.keeps_image(&store, i))?;
    if !done.removed.is_empty() {
        println!("Deleted Images:");
        for r in &done.removed {
            println!("{r}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", format::size(done.reclaimed));
    Ok(ExitCode::SUCCESS)
}
