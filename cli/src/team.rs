//! check, init: the team workflow around `.env.example`.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use clap::Args;
use envcloak::example::{self, Example, Problem, Severity};
use envcloak::vault::{self, Sealer};
use envcloak::{Error, dotenv, fsio};

use crate::ui::{self, CmdResult, Failure};
use crate::{Global, secrets};

/// `check`
#[derive(Args)]
pub struct CheckArgs {
    /// Warnings (keys not in the example, duplicates, an unread .env.enc) fail too
    #[arg(long)]
    strict: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// The example file [default: .env.example at the project root]
    #[arg(long, value_name = "FILE")]
    example: Option<PathBuf>,
}

/// `check` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// one line per problem
    Text,
    /// a JSON object: {ok, errors, warnings, problems: [...]}
    Json,
}

/// `init`
#[derive(Args)]
pub struct InitArgs {
    /// Replace an existing .env (the old one is first kept as a timestamped backup)
    #[arg(long)]
    force: bool,
    /// Write the encrypted file (.env.enc) instead of .env
    #[arg(long)]
    encrypt: bool,
    /// The example file [default: .env.example at the project root]
    #[arg(long, value_name = "FILE")]
    example: Option<PathBuf>,
}

fn problem(
    severity: Severity,
    kind: &'static str,
    file: &Path,
    line: Option<u32>,
    key: Option<&str>,
    message: impl Into<String>,
) -> Problem {
    Problem {
        severity,
        kind,
        file: Some(file.to_path_buf()),
        line,
        key: key.map(str::to_owned),
        message: message.into(),
    }
}

/// Syntax errors and duplicate keys of one dotenv text.
fn lint(path: &Path, text: &str, problems: &mut Vec<Problem>) -> bool {
    match dotenv::parse(text) {
        Err(e) => {
            problems.push(problem(
                Severity::Error,
                "syntax",
                path,
                Some(e.line),
                None,
                e.kind.to_string(),
            ));
            false
        }
        Ok(entries) => {
            let mut seen = std::collections::HashMap::new();
            for e in &entries {
                if let Some(first) = seen.insert(e.key, e.line) {
                    problems.push(problem(
                        Severity::Warning,
                        "duplicate",
                        path,
                        Some(e.line),
                        Some(e.key),
                        format!("defined again (first on line {first}); the last one wins"),
                    ));
                }
            }
            true
        }
    }
}

pub fn check(g: &Global, a: CheckArgs) -> CmdResult {
    let root = ui::root()?;
    let example_path = a
        .example
        .clone()
        .unwrap_or_else(|| root.join(".env.example"));
    if !example_path.exists() {
        return Err(
            Failure::new(format!("{}: not found", example_path.display())).hint(
                "commit a .env.example listing the keys the app needs (names, no real values)",
            ),
        );
    }
    let mut problems = Vec::new();
    let example = match Example::load(&example_path) {
        Ok(e) => Some(e),
        Err(Error::Parse { path, line, reason }) => {
            problems.push(problem(
                Severity::Error,
                "syntax",
                &path,
                Some(line),
                None,
                reason,
            ));
            None
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(ex) = &example {
        for k in &ex.keys {
            let value = dotenv::parse(&ex.text)
                .ok()
                .and_then(|es| es.into_iter().rev().find(|e| e.key == k.key))
                .map(|e| e.value.into_owned())
                .unwrap_or_default();
            if let Some(ty) = k.ty
                && !value.trim().is_empty()
                && let Err(reason) = ty.check(&value)
            {
                problems.push(problem(
                    Severity::Error,
                    "example-type",
                    &ex.path,
                    Some(k.line),
                    Some(&k.key),
                    format!(
                        "the example's own value is not a valid {}: {reason}",
                        ty.name()
                    ),
                ));
            }
            if example::looks_like_secret(&value) {
                problems.push(problem(
                    Severity::Error,
                    "secret-in-example",
                    &ex.path,
                    Some(k.line),
                    Some(&k.key),
                    "looks like a real secret: .env.example is committed; use a placeholder",
                ));
            }
        }
    }

    // Syntax and duplicates of every file that feeds the configuration.
    let profile = ui::profile(g)?;
    let mut plain = vec![root.join(".env")];
    if let Some(p) = &profile {
        plain.push(root.join(format!(".env.{p}")));
    }
    let mut files_ok = true;
    for path in &plain {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            problems.push(problem(
                Severity::Error,
                "unreadable",
                path,
                None,
                None,
                "not a regular file",
            ));
            files_ok = false;
            continue;
        }
        if let Ok(bytes) = std::fs::read(path) {
            let bytes = zeroize::Zeroizing::new(bytes);
            match std::str::from_utf8(&bytes) {
                Ok(text) => files_ok &= lint(path, text, &mut problems),
                Err(_) => {
                    problems.push(problem(
                        Severity::Error,
                        "syntax",
                        path,
                        None,
                        None,
                        "not UTF-8",
                    ));
                    files_ok = false;
                }
            }
        }
    }
    let enc = ui::encrypted_path(g, None)?;
    let mut read_encrypted = true;
    let mut key_error = false;
    if enc.exists() {
        let contents = vault::read(&enc)?;
        let header = vault::password_header(&enc, &contents)?;
        let password_mode = header.is_some();
        let sealer = match header {
            Some(h) => std::env::var("ENVCLOAK_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .map(|p| Sealer::Password {
                    password: zeroize::Zeroizing::new(p),
                    iterations: h.iterations,
                }),
            None => match ui::find_keyring(g, &enc) {
                Ok(found) => found.map(|f| Sealer::Keys(f.keyring)),
                // A key that cannot be used (loose permissions, bad format)
                // is a problem to report, not a reason to stop checking.
                Err(f) => {
                    if !f.message().contains("too open") {
                        problems.push(problem(
                            Severity::Error,
                            "key",
                            &enc,
                            None,
                            None,
                            f.message().to_owned(),
                        ));
                    }
                    key_error = true;
                    None
                }
            },
        };
        // Without a key the library skips the file itself (and says so in
        // "not set" problems); without a password or with an unusable key,
        // leave it out.
        if key_error || (sealer.is_none() && password_mode) {
            read_encrypted = false;
        }
        match sealer {
            None if key_error => {}
            None => problems.push(problem(
                Severity::Warning,
                "no-key",
                &enc,
                None,
                None,
                "not read: no key (set ENVCLOAK_KEY or create .env.key); its keys were not checked",
            )),
            Some(sealer) => match vault::open(&enc, &contents, &sealer, None) {
                Ok(text) => files_ok &= lint(&enc, &text, &mut problems),
                Err(Error::Parse { line, reason, .. }) => {
                    problems.push(problem(
                        Severity::Error,
                        "syntax",
                        &enc,
                        Some(line),
                        None,
                        reason,
                    ));
                    files_ok = false;
                }
                Err(e) => return Err(e.into()),
            },
        }
    }

    // The effective configuration against the example.
    if let Some(ex) = &example {
        if files_ok {
            let cfg = ui::builder(g, read_encrypted)?.build()?;
            problems.extend(example::check_config(&cfg, ex));
        } else {
            problems.push(problem(
                Severity::Error,
                "syntax",
                &example_path,
                None,
                None,
                "keys not compared: fix the syntax errors above first",
            ));
        }
    }

    problems.extend(git_problems(&root, profile.as_deref()));
    problems.extend(permission_problems(&root, g));

    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    let failed = errors > 0 || (a.strict && warnings > 0);
    match a.format {
        CheckFormat::Text => {
            for p in &problems {
                crate::out::outln!("{p}");
            }
            if problems.is_empty() {
                let n = example.as_ref().map_or(0, |e| e.keys.len());
                crate::out::outln!("ok: {n} keys of {} are set", example_path.display());
            } else {
                crate::out::outln!("{errors} error(s), {warnings} warning(s)");
            }
        }
        CheckFormat::Json => {
            let list: Vec<serde_json::Value> = problems
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "severity": if p.severity == Severity::Error { "error" } else { "warning" },
                        "kind": p.kind,
                        "file": p.file.as_ref().map(|f| f.display().to_string()),
                        "line": p.line,
                        "key": p.key,
                        "message": p.message,
                    })
                })
                .collect();
            let out = serde_json::json!({
                "ok": !failed,
                "errors": errors,
                "warnings": warnings,
                "problems": list,
            });
            crate::out::outln!("{out:#}");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn git(root: &Path, args: &[&str]) -> Option<bool> {
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .map(|s| s.success())
}

/// Local files git must ignore and must not track.
fn git_problems(root: &Path, profile: Option<&str>) -> Vec<Problem> {
    let mut out = Vec::new();
    if git(root, &["rev-parse", "--is-inside-work-tree"]) != Some(true) {
        return out;
    }
    let mut names = vec![".env".to_owned(), ".env.key".to_owned()];
    if let Some(p) = profile {
        names.push(format!(".env.{p}"));
        names.push(format!(".env.{p}.key"));
    }
    if let Ok(dir) = std::fs::read_dir(if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    }) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".env.") && name.ends_with(".key") && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for name in names {
        let path = root.join(&name);
        if git(root, &["ls-files", "--error-unmatch", "--", &name]) == Some(true) {
            out.push(problem(
                Severity::Error,
                "tracked",
                &path,
                None,
                None,
                format!(
                    "is committed to git: run 'git rm --cached {name}', and rotate every secret it held"
                ),
            ));
        } else if git(root, &["check-ignore", "-q", "--no-index", "--", &name]) != Some(true) {
            // Not ignored: an error when the file exists, a warning before it does.
            let severity = if path.exists() {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(problem(
                severity,
                "not-ignored",
                &path,
                None,
                None,
                format!("is not ignored by git: add '{name}' to .gitignore"),
            ));
        }
    }
    out
}

/// Key files that group or others can read.
fn permission_problems(root: &Path, g: &Global) -> Vec<Problem> {
    let mut files: Vec<PathBuf> = Vec::new();
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".env.key" || (name.starts_with(".env.") && name.ends_with(".key")) {
                files.push(root.join(name));
            }
        }
    }
    files.extend(g.key_file.clone());
    if let Some(f) = std::env::var_os("ENVCLOAK_KEY_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(f));
    }
    files.sort();
    files.dedup();
    let mut out = Vec::new();
    for f in files {
        if let Err(Error::Key { reason, .. }) = envcloak::keys::read_key_file(&f)
            && reason.contains("too open")
        {
            out.push(problem(
                Severity::Error,
                "permissions",
                &f,
                None,
                None,
                reason.to_string(),
            ));
        }
    }
    out
}

pub fn init(g: &Global, a: InitArgs) -> CmdResult {
    let root = ui::root()?;
    let example_path = a
        .example
        .clone()
        .unwrap_or_else(|| root.join(".env.example"));
    let example = Example::load(&example_path).map_err(|e| {
        let f = Failure::from(e);
        if example_path.exists() {
            f
        } else {
            f.hint("init needs a .env.example: the committed list of keys the app reads")
        }
    })?;
    let made = example::init_text(&example)?;
    let target = if a.encrypt {
        ui::encrypted_path(g, None)?
    } else {
        match ui::profile(g)? {
            Some(p) => root.join(format!(".env.{p}")),
            None => root.join(".env"),
        }
    };
    let refuse_existing = || {
        Failure::new(format!(
            "{} already exists; nothing changed",
            target.display()
        ))
        .hint("'envcloak check' shows what it lacks; --force replaces it, keeping a backup")
    };
    if target.exists() && !a.force {
        // Refused before the lock is taken: no file is made at all.
        return Err(refuse_existing());
    }
    let lock = ui::lock(&target)?;
    let mut existing_sealer = None;
    if target.exists() {
        if !a.force {
            return Err(refuse_existing());
        }
        if !std::fs::metadata(&target).is_ok_and(|m| m.is_file()) {
            return Err(Failure::new(format!(
                "{}: not a regular file; nothing changed",
                target.display()
            )));
        }
        if a.encrypt {
            // The team's file is replaced only with a key (or password) that
            // opens it, and sealed with the same.
            let contents = vault::read(&target)?;
            existing_sealer = Some(secrets::open_for_replacing(g, &target, &contents)?.1);
        }
        let backup = backup_name(&target);
        ui::ensure_ignored_as(&backup, "*.backup-*")?;
        if !fsio::backup(&target, &backup)? {
            return Err(Failure::new(format!("{} already exists", backup.display())));
        }
        crate::out::outln!("kept the old {} as {}", target.display(), backup.display());
    }
    if a.encrypt {
        let sealer = match existing_sealer {
            Some(sealer) => sealer,
            None => match ui::find_keyring(g, &target)? {
                Some(found) => Sealer::Keys(found.keyring),
                None => Sealer::Keys(secrets::new_key_file(g)?),
            },
        };
        vault::seal(&target, &made.text, &sealer, &lock)?;
        // The private backup shared the old file's inode (and so its 0600);
        // the new `.env.enc` is meant to be committed: 0644, as `encrypt` makes it.
        #[cfg(unix)]
        if a.force {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::from_io(&target, e))?;
        }
    } else {
        ui::ensure_ignored(&target)?;
        fsio::write_atomic(&target, made.text.as_bytes(), Some(0o600))?;
    }
    drop(lock);
    crate::out::outln!(
        "created {} from {}",
        target.display(),
        example_path.display()
    );
    if !made.generated.is_empty() {
        let names: Vec<String> = made
            .generated
            .iter()
            .map(|(k, how)| format!("{k} ({how})"))
            .collect();
        crate::out::outln!("generated: {}", names.join(", "));
    }
    if made.needs_value.is_empty() {
        crate::out::outln!("every required key has a value");
    } else {
        crate::out::outln!("still needs a value: {}", made.needs_value.join(", "));
        crate::out::outln!(
            "next: fill them in {}, then run 'envcloak check'",
            target.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `<file>.backup-YYYYMMDDTHHMMSSZ` beside `path`.
fn backup_name(path: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let stamp = format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut candidate = path.with_file_name(format!("{name}.backup-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = path.with_file_name(format!("{name}.backup-{stamp}-{n}"));
    }
    candidate
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_418), (2025, 11, 26));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
