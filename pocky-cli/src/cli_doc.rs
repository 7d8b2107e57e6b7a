//! `pocky __cli-doc`: docs/CLI.md, the table of every command and flag,
//! generated from the clap definitions so that it cannot drift from them
//! (a test compares the file with this output, and checks docker's flags
//! against it). Hidden: it is for the project, not for users.

use clap::{Arg, Command};

/// Flags whose help starts so are known but refused, with the reason.
const REFUSED: [&str; 2] = ["Not supported", "Refused"];

/// The whole document.
pub fn markdown(cli: &Command) -> String {
    let mut out = String::from(
        "# Command-line reference\n\n\
         Generated from pocky's argument definitions by `pocky __cli-doc`\n\
         (`ci/cli-doc` rewrites this file; a test fails when it is stale).\n\
         A flag is **supported** with Docker's meaning unless marked\n\
         **refused**, in which case pocky fails with that reason rather\n\
         than ignore it. `pocky-cli/tests/cli_flags.rs` checks every flag\n\
         of docker 28's `--help` for the commands pocky has against this\n\
         table.\n",
    );
    let mut path = Vec::new();
    walk(cli, &mut path, &mut out);
    out
}

fn walk(cmd: &Command, path: &mut Vec<String>, out: &mut String) {
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        path.push(sub.get_name().to_owned());
        if sub.has_subcommands() {
            walk(sub, path, out);
        } else {
            section(sub, path, out);
        }
        path.pop();
    }
}

/// The `-h`/`--help` and `-V`/`--version` clap gives every command when it
/// is built: the table does not repeat them for each command. (`run`'s own
/// `--help`, which leaves `-h` to `--hostname`, is listed.)
fn generated(a: &Arg) -> bool {
    matches!(
        (a.get_id().as_str(), a.get_short()),
        ("help", Some('h')) | ("version", Some('V'))
    )
}

fn section(cmd: &Command, path: &[String], out: &mut String) {
    let about = cmd.get_about().map(ToString::to_string).unwrap_or_default();
    out.push_str(&format!("\n## pocky {}\n\n{about}\n", path.join(" ")));
    let aliases: Vec<&str> = cmd.get_visible_aliases().collect();
    if !aliases.is_empty() {
        out.push_str(&format!("\nAliases: {}\n", aliases.join(", ")));
    }
    let flags: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| {
            a.get_long().is_some() && !a.is_hide_set() && !a.is_global_set() && !generated(a)
        })
        .collect();
    if flags.is_empty() {
        return;
    }
    out.push_str("\n| flag | status | meaning |\n|---|---|---|\n");
    for a in flags {
        let help = a
            .get_help()
            .map(|h| h.to_string().replace('\n', " ").replace('|', "\\|"))
            .unwrap_or_default();
        let status = if REFUSED.iter().any(|r| help.starts_with(r)) {
            "refused"
        } else {
            "supported"
        };
        let short = a
            .get_short()
            .map(|c| format!("`-{c}`, "))
            .unwrap_or_default();
        let mut longs = vec![format!("`--{}`", a.get_long().unwrap_or_default())];
        for alias in a.get_all_aliases().into_iter().flatten() {
            longs.push(format!("`--{alias}`"));
        }
        out.push_str(&format!(
            "| {short}{} | {status} | {help} |\n",
            longs.join(", ")
        ));
    }
}
