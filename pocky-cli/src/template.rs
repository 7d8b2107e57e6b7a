//! Docker's `--format`/`-f`: Go text/template (the `gotmpl` crate) over the
//! same JSON the command prints, with the functions Docker adds (`json`,
//! `join`, `split`, `upper`, `lower`, `title`).

use anyhow::{Context, Result};
use gotmpl::{Template, Value};

/// A template's value as JSON, for `{{json .X}}`.
fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => s.as_ref().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (k.to_string(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        #[allow(unreachable_patterns)] // the html feature's variant
        _ => serde_json::Value::Null,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => to_json(other).to_string(),
    }
}

fn arg<'a>(args: &'a [Value], i: usize, f: &str) -> gotmpl::Result<&'a Value> {
    args.get(i)
        .ok_or_else(|| gotmpl::TemplateError::Exec(format!("{f}: missing argument {}", i + 1)))
}

/// Parses `src` with Docker's functions, as a one-line format: like
/// Docker, a trailing newline is added per rendered object.
pub fn parse(src: &str) -> Result<Template> {
    // Docker turns the two-character `\t` and `\n` that a shell passes on
    // into a tab and a newline before parsing.
    let unescaped = src.replace("\\t", "\t").replace("\\n", "\n");
    let src = unescaped.as_str();
    Template::new("format")
        .func("json", |a| {
            Ok(Value::String(
                to_json(arg(a, 0, "json")?).to_string().into(),
            ))
        })
        .func("upper", |a| {
            Ok(Value::String(
                text(arg(a, 0, "upper")?).to_uppercase().into(),
            ))
        })
        .func("lower", |a| {
            Ok(Value::String(
                text(arg(a, 0, "lower")?).to_lowercase().into(),
            ))
        })
        .func("title", |a| {
            let t = text(arg(a, 0, "title")?);
            let mut c = t.chars();
            let titled: String = c
                .next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default();
            Ok(Value::String(titled.into()))
        })
        .func("join", |a| {
            let sep = text(arg(a, 1, "join")?);
            let parts: Vec<String> = match arg(a, 0, "join")? {
                Value::List(l) => l.iter().map(text).collect(),
                other => vec![text(other)],
            };
            Ok(Value::String(parts.join(&sep).into()))
        })
        .func("split", |a| {
            let s = text(arg(a, 0, "split")?);
            let sep = text(arg(a, 1, "split")?);
            let parts: Vec<Value> = s
                .split(sep.as_str())
                .map(|p| Value::String(p.into()))
                .collect();
            Ok(Value::List(parts.into()))
        })
        .parse(src)
        .with_context(|| format!("template {src:?}"))
}

/// Renders `tmpl` for each object, one per line.
pub fn render_each(tmpl: &Template, objects: &[serde_json::Value]) -> Result<String> {
    let mut out = String::new();
    for o in objects {
        let data = gotmpl::to_value(o).context("template data")?;
        out.push_str(
            &tmpl
                .execute_to_string(&data)
                .context("executing the template")?,
        );
        out.push('\n');
    }
    Ok(out)
}

/// What `inspect` prints: the objects as a JSON array, or each through
/// `--format`.
pub fn print_inspect(
    format: Option<&str>,
    objects: Vec<serde_json::Value>,
) -> Result<std::process::ExitCode> {
    match format {
        Some(f) => print!("{}", render_each(&parse(f)?, &objects)?),
        None => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::Value::Array(objects))?
        ),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A listing's `--format TEMPLATE` (`ps`, `images`): one rendered line per
/// row. With Docker's `table ` prefix, a header row first (the template
/// rendered over `titles`, field name to column title) and the columns,
/// which the template separates with tabs, aligned.
pub fn listing(
    format: &str,
    titles: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<String> {
    let (table, src) = match format.strip_prefix("table") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            (true, rest.trim_start())
        }
        _ => (false, format),
    };
    let tmpl = parse(src)?;
    let body = render_each(&tmpl, rows)?;
    if !table {
        return Ok(body);
    }
    let header: serde_json::Map<String, serde_json::Value> = titles
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    let header = render_each(&tmpl, &[header.into()])?;
    let lines: Vec<String> = header
        .lines()
        .chain(body.lines())
        .map(str::to_owned)
        .collect();
    Ok(align_tabs(&lines))
}

/// A listing's `--format` as Docker reads it: `table` (or nothing) is the
/// command's `default` table, `json` one JSON object per row, anything
/// else a template for [`listing`].
pub fn rows(
    format: &str,
    default: &str,
    titles: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<String> {
    match format {
        "" | "table" => listing(default, titles, rows),
        "json" => Ok(rows.iter().map(|r| format!("{r}\n")).collect()),
        template => listing(template, titles, rows),
    }
}

/// Pads tab-separated cells to their column's width, three spaces apart,
/// as pocky's own tables are.
pub fn align_tabs(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, v: serde_json::Value) -> String {
        render_each(&parse(src).unwrap(), &[v]).unwrap()
    }

    #[test]
    fn docker_style_templates() {
        let c = json!({"Id": "abc", "State": {"Pid": 42, "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}},
            "NetworkSettings": {"IPAddress": "10.88.0.2"}});
        assert_eq!(render("{{.State.Pid}}", c.clone()), "42\n");
        assert_eq!(
            render("{{.NetworkSettings.IPAddress}}", c.clone()),
            "10.88.0.2\n"
        );
        assert_eq!(
            render("{{json .Config.Labels}}", c.clone()),
            "{\"k\":\"v\"}\n"
        );
        assert_eq!(render("{{join .Config.Env \",\"}}", c.clone()), "A=1,B=2\n");
        assert_eq!(render("{{if .State.Running}}up{{end}}", c.clone()), "up\n");
        assert_eq!(
            render(
                "{{upper .Id}} {{range .Config.Env}}[{{.}}]{{end}}",
                c.clone()
            ),
            "ABC [A=1][B=2]\n"
        );
        assert_eq!(render("{{index (split \"a:b\" \":\") 1}}", c), "b\n");
    }

    #[test]
    fn listings_render_rows_and_tables_align() {
        let rows = [
            json!({"ID": "abc", "Names": "web"}),
            json!({"ID": "defghi", "Names": "db"}),
        ];
        let titles = [("ID", "CONTAINER ID"), ("Names", "NAMES")];
        assert_eq!(listing("{{.Names}}", &titles, &rows).unwrap(), "web\ndb\n");
        assert_eq!(
            listing("table {{.ID}}\t{{.Names}}", &titles, &rows).unwrap(),
            "CONTAINER ID   NAMES\nabc            web\ndefghi         db\n"
        );
        assert_eq!(listing("{{.Names}}", &titles, &[]).unwrap(), "");
    }

    #[test]
    fn bad_templates_are_errors_not_panics() {
        assert!(parse("{{.Id").is_err());
        let unknown = parse("{{nosuchfunc .Id}}");
        assert!(unknown.is_err() || render_each(&unknown.unwrap(), &[json!({})]).is_err());
        // A missing field renders as Go renders it, not as a failure.
        assert!(render_each(&parse("{{.Nope.Deeper}}").unwrap(), &[json!({})]).is_ok());
    }
}
