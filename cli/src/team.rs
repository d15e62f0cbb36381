//! check, init: the team workflow around `.env.example`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use envcloak::example::{self, Example};
use envcloak::vault::{self, Sealer};
use envcloak::{Error, fsio};

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

pub fn check(g: &Global, a: CheckArgs) -> CmdResult {
    let root = ui::root()?;
    let mut options = envcloak::check::CheckOptions::new(&root).strict(a.strict);
    if let Some(e) = &a.example {
        options = options.example(e);
    }
    if let Some(p) = ui::profile(g)? {
        options = options.profile(p);
    }
    if let Some(f) = &g.file {
        options = options.encrypted_file(f);
    }
    if let Some(k) = &g.key_file {
        options = options.key_file(k);
    }
    let report = envcloak::check::check(&options).map_err(|e| {
        let missing =
            matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
        let f = Failure::from(e);
        if missing {
            f.hint("commit a .env.example listing the keys the app needs (names, no real values)")
        } else {
            f
        }
    })?;
    match a.format {
        CheckFormat::Text => {
            for p in &report.problems {
                crate::out::outln!("{p}");
            }
            if report.problems.is_empty() {
                crate::out::outln!(
                    "ok: {} keys of {} are set",
                    report.keys,
                    report.example.display()
                );
            } else {
                crate::out::outln!(
                    "{} error(s), {} warning(s)",
                    report.errors(),
                    report.warnings()
                );
            }
        }
        CheckFormat::Json => crate::out::outln!("{:#}", report.to_json()),
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
            let opened = ui::open_vault(g, &target, None, None)
                .map_err(|f| secrets::not_replaced(f, &target))?;
            existing_sealer = Some(opened.sealer);
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
