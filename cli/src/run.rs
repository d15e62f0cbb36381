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
    /// Show values too
    #[arg(long)]
    show: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = LsFormat::Text)]
    format: LsFormat,
}

/// `ls` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LsFormat {
    /// aligned columns
    Text,
    /// a JSON array of {key, source[, value]}
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

pub fn ls(g: &Global, a: LsArgs) -> CmdResult {
    let cfg = ui::config(g)?;
    let keys = cfg.keys();
    let mut out = String::new();
    match a.format {
        LsFormat::Json => {
            let mut rows = Vec::new();
            for (k, o) in &keys {
                let mut row = serde_json::Map::new();
                row.insert("key".into(), k.as_str().into());
                row.insert("source".into(), source_label(o).into());
                if a.show
                    && let Some(v) = cfg.get_raw(k)?
                {
                    row.insert("value".into(), v.expose_secret().into());
                }
                rows.push(serde_json::Value::Object(row));
            }
            out = serde_json::to_string_pretty(&rows).map_err(|e| Failure::new(e.to_string()))?;
            out.push('\n');
        }
        LsFormat::Text => {
            let width = keys.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let swidth = keys
                .iter()
                .map(|(_, o)| source_label(o).len())
                .max()
                .unwrap_or(0);
            for (k, o) in &keys {
                let value = if a.show {
                    cfg.get_raw(k)?
                        .map(|v| v.expose_secret().to_owned())
                        .unwrap_or_default()
                } else {
                    "****".to_owned()
                };
                out.push_str(&format!(
                    "{k:<width$}  {:<swidth$}  {value}\n",
                    source_label(o)
                ));
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
    let cfg = ui::config(g)?;
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
