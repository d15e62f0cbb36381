//! get, ls, run: the layered configuration, as the library sees it.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;
use envcloak::{ExposeSecret, Origin};

use crate::Global;
use crate::ui::{self, CmdResult, Failure};

/// `get`
#[derive(Args)]
pub struct GetArgs {
    /// The key
    key: String,
}

/// `ls`
#[derive(Args)]
pub struct LsArgs {
    /// Show values too (with --all, each definition's own value)
    #[arg(long)]
    show: bool,
    /// List every layer's definition of each key, not only the one that
    /// wins: the hidden ones say which definition hides them
    #[arg(long)]
    all: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = LsFormat::Text)]
    format: LsFormat,
}

/// `ls` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LsFormat {
    /// aligned columns; a key that hides another layer's definition ends
    /// with (hides SOURCE)
    Text,
    /// a JSON array of {key, source[, value]}; with --all, one object per
    /// definition, each with "wins": true or false
    Json,
}

/// `run`
#[derive(Args)]
pub struct RunArgs {
    /// Keep ENVCLOAK_KEY*, ENVCLOAK_PASSWORD and ENVCLOAK_IDENTITY* in the
    /// command's environment (by default they are removed, wherever they
    /// were set: the command gets the values, not the key)
    #[arg(long)]
    pass_key: bool,
    /// Refuse to start the command (exit 2) when an encrypted file exists
    /// that no key opens [default when CI is set, other than to false or 0]
    #[arg(long, overrides_with = "no_require_key")]
    require_key: bool,
    /// Without a key, run the command without the encrypted values (with
    /// a warning), even in CI
    #[arg(long, overrides_with = "require_key")]
    no_require_key: bool,
    #[command(flatten)]
    redact: crate::redact::RunRedact,
    /// The command and its arguments (after --)
    #[arg(required = true, trailing_var_arg = true)]
    command: Vec<OsString>,
}

pub fn get(g: &Global, a: GetArgs) -> CmdResult {
    ui::check_key_arg(&a.key, "envcloak get KEY")?;
    let cfg = ui::config(g)?;
    match cfg.get_raw(&a.key)? {
        Some(v) => {
            crate::out::line(v.expose_secret());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let e = envcloak::Error::Missing {
                key: a.key.as_str().into(),
                searched: cfg.layer_names(),
                skipped: cfg.skipped_encrypted().to_vec(),
            };
            Err(Failure::from(e).code(1))
        }
    }
}

/// How a source reads in `ls`: `.env:3`, `environment`, ...
fn source_label(o: &Origin) -> String {
    match o {
        Origin::Environment => "environment".to_owned(),
        other => other.to_string(),
    }
}

/// One row of `ls`: a definition of a key, and what it hides or what
/// hides it.
struct Row<'a> {
    key: &'a str,
    origin: &'a Origin,
    wins: bool,
    /// Where the definition is in `Config::all_definitions`.
    at: (usize, usize),
    /// The winning definition, for a hidden one.
    hidden_by: Option<&'a Origin>,
    /// The definitions a winning one hides.
    hides: Vec<&'a Origin>,
}

impl Row<'_> {
    /// `(hides .env.enc:3)`, `(hidden by .env:4)`, or nothing.
    fn marker(&self) -> String {
        match self.hidden_by {
            Some(by) => format!("(hidden by {})", source_label(by)),
            None if self.hides.is_empty() => String::new(),
            None => {
                let hidden: Vec<String> = self.hides.iter().map(|o| source_label(o)).collect();
                format!("(hides {})", hidden.join(", "))
            }
        }
    }
}

pub fn ls(g: &Global, a: LsArgs) -> CmdResult {
    let cfg = ui::config(g)?;
    let keys = cfg.all_definitions();
    let mut rows = Vec::new();
    for (ki, (key, defs)) in keys.iter().enumerate() {
        let Some((winner, _)) = defs.split_first() else {
            continue;
        };
        for (di, def) in defs.iter().enumerate() {
            let wins = def.wins;
            if !wins && !a.all {
                continue;
            }
            rows.push(Row {
                key,
                origin: &def.origin,
                wins,
                at: (ki, di),
                hidden_by: (!wins).then_some(&winner.origin),
                hides: if wins {
                    defs.iter().filter(|d| !d.wins).map(|d| &d.origin).collect()
                } else {
                    Vec::new()
                },
            });
        }
    }
    // The value of a row: the definition's own (a hidden one's too, with
    // --all --show), read only when asked for.
    let value = |row: &Row<'_>| -> CmdResult<Option<envcloak::SecretString>> {
        Ok(if a.show {
            cfg.get_raw_of(row.key, &keys[row.at.0].1[row.at.1])?
        } else {
            None
        })
    };
    let mut out = String::new();
    match a.format {
        LsFormat::Json => {
            let mut list = Vec::new();
            for row in &rows {
                let mut obj = serde_json::Map::new();
                obj.insert("key".into(), row.key.into());
                obj.insert("source".into(), source_label(row.origin).into());
                if a.all {
                    obj.insert("wins".into(), row.wins.into());
                }
                if let Some(v) = value(row)? {
                    obj.insert("value".into(), v.expose_secret().into());
                }
                list.push(serde_json::Value::Object(obj));
            }
            out = serde_json::to_string_pretty(&list).map_err(|e| Failure::new(e.to_string()))?;
            out.push('\n');
        }
        LsFormat::Text => {
            let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
            let swidth = rows
                .iter()
                .map(|r| source_label(r.origin).len())
                .max()
                .unwrap_or(0);
            for row in &rows {
                let shown = value(row)?;
                let v = shown.as_ref().map_or("****", |v| v.expose_secret());
                out.push_str(&format!(
                    "{:<width$}  {:<swidth$}  {v}",
                    row.key,
                    source_label(row.origin)
                ));
                let marker = row.marker();
                if !marker.is_empty() {
                    out.push_str("  ");
                    out.push_str(&marker);
                }
                out.push('\n');
            }
        }
    }
    for skipped in cfg.skipped_encrypted() {
        ui::note(format!(
            "{} not read: no key (set ENVCLOAK_KEY or create .env.key)",
            skipped.display()
        ));
    }
    crate::out::write(out.as_bytes());
    zeroize::Zeroize::zeroize(&mut out);
    Ok(ExitCode::SUCCESS)
}

pub fn run(g: &Global, a: RunArgs) -> CmdResult {
    let mut b = ui::builder(g, true)?;
    // Neither flag: the library's default (required when CI is set).
    if a.require_key || a.no_require_key {
        b = b.require_key(a.require_key);
    }
    let cfg = b.build().map_err(|e| match e {
        envcloak::Error::KeyNotFound { .. } => Failure::from(e).hint(
            "set ENVCLOAK_KEY (in CI, from the CI's secret store), or pass --no-require-key \
             to run without the encrypted values; the command was not started",
        ),
        e => Failure::from(e),
    })?;
    for skipped in cfg.skipped_encrypted() {
        ui::note(format!(
            "{} not read: no key (set ENVCLOAK_KEY or create .env.key)",
            skipped.display()
        ));
    }
    // `run -- -- cmd`: the first `--` ended envcloak's options; a second
    // one is a separator too, never a command named `--`.
    let command = match a.command.first() {
        Some(first) if first == "--" => &a.command[1..],
        _ => &a.command[..],
    };
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Failure::new("no command given").hint("envcloak run -- CMD ARGS"))?;
    // Linux caps one environment string at 128 KiB; name the key rather
    // than fail with "argument list too long".
    const MAX_VAR: usize = 128 * 1024;
    for (key, _) in cfg.keys() {
        if let Some(v) = cfg.get_raw(&key)?
            && key.len() + v.expose_secret().len() + 2 > MAX_VAR
        {
            return Err(Failure::new(format!(
                "{key}: too large for an environment variable (128 KiB at most)"
            ))
            .hint("read it from a file instead (NAME_FILE, or the library at start-up)"));
        }
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    cfg.apply_to(&mut cmd)?;
    if !a.pass_key {
        // The child gets the values, not the key that opens all of them —
        // whether the key variable came from the environment, `.env` or
        // `.env.enc`.
        let from_files = cfg.keys().into_iter().map(|(k, _)| OsString::from(k));
        for name in std::env::vars_os().map(|(k, _)| k).chain(from_files) {
            if is_key_variable(&name.to_string_lossy()) {
                cmd.env_remove(&name);
            }
        }
    }
    let redactor = a.redact.redactor(&cfg)?;
    drop(cfg);
    if let Some(r) = redactor {
        return crate::redact::run_redacted(cmd, r).map_err(|e| start_failure(program, &e));
    }
    exec(cmd, program)
}

/// Variables that carry envcloak's own keys, passwords and identities.
fn is_key_variable(name: &str) -> bool {
    name == "ENVCLOAK_PASSWORD"
        || name == "ENVCLOAK_NEW_PASSWORD"
        || name == "ENVCLOAK_KEY"
        || name.starts_with("ENVCLOAK_KEY_")
        || name.starts_with("ENVCLOAK_IDENTITY")
}

/// Replaces this process with the command (Unix): signals, the terminal
/// and the exit code are the command's own.
#[cfg(unix)]
fn exec(mut cmd: std::process::Command, program: &OsString) -> CmdResult {
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    Err(start_failure(program, &e))
}

#[cfg(not(unix))]
fn exec(mut cmd: std::process::Command, program: &OsString) -> CmdResult {
    let status = cmd.status().map_err(|e| start_failure(program, &e))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

fn start_failure(program: &OsString, e: &std::io::Error) -> Failure {
    let name = program.to_string_lossy();
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Failure::new(format!("{name}: command not found")).code(127)
        }
        std::io::ErrorKind::PermissionDenied => {
            Failure::new(format!("{name}: permission denied")).code(126)
        }
        _ => Failure::new(format!("{name}: could not start: {e}")).code(126),
    }
}
