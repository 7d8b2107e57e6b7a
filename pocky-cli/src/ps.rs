//! `pocky ps` and the top-level `pocky inspect` (containers, then images).

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use pocky_engine::store::{ContainerRecord, ContainerStore, Status, Store};

use crate::cli::{InspectArgs, PsArgs};
use crate::{format, images};
use pocky_engine::inspect::{running_pid, state_name, time};
use pocky_engine::{lookup, state};

pub fn ps(root: &Path, args: &PsArgs) -> Result<ExitCode> {
    let filter = pocky_engine::filters::ContainerFilter::parse(&args.filter)?;
    let store = Store::open(root)?;
    // As Docker: -n and -l look at every state.
    let all = args.all || args.last.is_some() || args.latest;
    let mut recs = Vec::new();
    for rec in store.containers()? {
        let Some(rec) = state::refresh_listed(&store, rec)? else {
            continue;
        };
        if all || rec.state.status == Some(Status::Running) {
            recs.push(rec);
        }
    }
    let broken = store.broken_containers()?;
    pocky_engine::broken::warn_containers(&broken);
    if all {
        recs.extend(broken.iter().map(pocky_engine::broken::placeholder));
    }
    recs.retain(|r| filter.matches(&store, r, state_name(r)));
    // Newest first already: the last N are the first N.
    if let Some(n) = args.last.or(args.latest.then_some(1)) {
        recs.truncate(n);
    }
    let now = SystemTime::now();
    let id = |r: &ContainerRecord| {
        if args.no_trunc {
            r.id.clone()
        } else {
            r.short_id().to_owned()
        }
    };
    if args.quiet {
        for r in &recs {
            println!("{}", id(r));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let row = |r: &ContainerRecord| {
        let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        json!({
            "ID": id(r),
            "Image": r.image,
            "Command": quoted_command(&r.command, !args.no_trunc),
            "CreatedAt": r.created as i64,
            "RunningFor": format::ago(time(r.created), now),
            "Ports": crate::network::ports_column(&store, r),
            "Status": status_text(r, now),
            "State": state_name(r),
            "Names": r.name,
            "Labels": labels.join(","),
        })
    };
    match args.format.as_str() {
        "json" => {
            // Docker's lines (one `{{json .}}` object per container), plus
            // the full id, pid and exit code scripts often want.
            for r in &recs {
                let mut v = row(r);
                v["Id"] = json!(r.id);
                v["Pid"] = json!(running_pid(r));
                v["ExitCode"] = json!(r.state.exit_code);
                println!("{v}");
            }
        }
        "table" => {
            const HEADER: [&str; 7] = [
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES",
            ];
            let cells = |r: &ContainerRecord| {
                [
                    id(r),
                    r.image.clone(),
                    quoted_command(&r.command, !args.no_trunc),
                    format::ago(time(r.created), now),
                    status_text(r, now),
                    crate::network::ports_column(&store, r),
                    r.name.clone(),
                ]
            };
            if args.size {
                let rows: Vec<[String; 8]> = recs
                    .iter()
                    .map(|r| {
                        let (rw, all) = pocky_engine::inspect::sizes(&store, r).unwrap_or((0, 0));
                        let [a, b, c, d, e, f, g] = cells(r);
                        let size = format!("{} (virtual {})", format::size(rw), format::size(all));
                        [a, b, c, d, e, f, g, size]
                    })
                    .collect();
                let [a, b, c, d, e, f, g] = HEADER;
                images::print_table(&[a, b, c, d, e, f, g, "SIZE"], &rows);
            } else {
                let rows: Vec<[String; 7]> = recs.iter().map(cells).collect();
                images::print_table(&HEADER, &rows);
            }
        }
        template => {
            let rows: Vec<Value> = recs.iter().map(row).collect();
            let titles = [
                ("ID", "CONTAINER ID"),
                ("Image", "IMAGE"),
                ("Command", "COMMAND"),
                ("CreatedAt", "CREATED AT"),
                ("RunningFor", "CREATED"),
                ("Ports", "PORTS"),
                ("Status", "STATUS"),
                ("State", "STATE"),
                ("Names", "NAMES"),
            ];
            print!("{}", crate::template::listing(template, &titles, &rows)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub use pocky_engine::human::status_text;

/// The command as one line, with arguments that hold blanks or quotes in
/// single quotes so the words stay visible.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && !a.contains(|c: char| c.is_whitespace() || "'\"".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// As Docker's table shows it: cut to 20 characters with an ellipsis, then
/// quoted (`"/bin/sh -c 'echo…"`).
pub fn quoted_command(argv: &[String], truncate: bool) -> String {
    let mut line = command_line(argv);
    if truncate && line.chars().count() > 20 {
        line = line.chars().take(19).collect::<String>() + "…";
    }
    serde_json::to_string(&line).unwrap_or(line)
}

pub fn inspect(root: &Path, args: &InspectArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let mut out = Vec::new();
    let (containers, images) = match args.kind.as_deref() {
        Some("container") => (true, false),
        Some("image") => (false, true),
        _ => (true, true),
    };
    for name in &args.names {
        if containers {
            match state::find(&store, name) {
                Ok(rec) => {
                    let mut v = pocky_engine::inspect::container(&store, &rec)?;
                    if args.size {
                        let (rw, rootfs) = pocky_engine::inspect::sizes(&store, &rec)?;
                        v["SizeRw"] = rw.into();
                        v["SizeRootFs"] = rootfs.into();
                    }
                    out.push(v);
                    continue;
                }
                Err(pocky_engine::Error::NoSuchContainer(_)) => {}
                Err(pocky_engine::Error::BrokenContainer { id, reason }) => {
                    let short = &id[..id.len().min(12)];
                    bail!(
                        "container {id} has an unreadable record ({reason}): `pocky rm -f {short}` removes it"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        match lookup::find(&store, name) {
            Ok((image, _)) if images => out.push(pocky_engine::inspect::image(&store, &image)?),
            _ if !images => bail!("no such container: {name}"),
            _ if !containers => bail!("no such image: {name}"),
            _ => bail!("no such object: {name}"),
        }
    }
    crate::template::print_inspect(args.format.as_deref(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_and_truncate_like_docker() {
        let argv: Vec<String> = ["/bin/sh", "-c", "echo hello; sleep 5"]
            .map(String::from)
            .into();
        assert_eq!(command_line(&argv), "/bin/sh -c 'echo hello; sleep 5'");
        assert_eq!(quoted_command(&argv, true), "\"/bin/sh -c 'echo he…\"");
        assert_eq!(
            quoted_command(&argv, false),
            "\"/bin/sh -c 'echo hello; sleep 5'\""
        );
        assert_eq!(quoted_command(&["top".into()], true), "\"top\"");
    }
}
