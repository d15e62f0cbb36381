//! check, init: the team workflow around `.env.example`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use envcloak::example::{self, Example};
use envcloak::vault::Sealer;
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
    let target = if a.encrypt {
        ui::encrypted_path(g, None)?
    } else {
        match ui::profile(g)? {
            Some(p) => root.join(format!(".env.{p}")),
            None => root.join(".env"),
        }
    };
    // Refused before any lock is taken: no file is made at all.
    let exists = std::fs::symlink_metadata(&target).is_ok();
    if exists && !a.force {
        return Err(Failure::new(format!(
            "{} already exists; nothing changed",
            target.display()
        ))
        .hint("'envcloak check' shows what it lacks; --force replaces it, keeping a backup"));
    }
    ui::ensure_lock_ignored(&[&target])?;
    let lock = ui::lock_options()?;
    let done = if a.encrypt {
        let access = ui::access(g, &target, None)?;
        let new_sealer = || -> CmdResult<Sealer> {
            Ok(match ui::find_keyring(g, &target)? {
                Some(found) => Sealer::Keys(found.keyring),
                None => Sealer::Keys(secrets::new_key_file(g)?),
            })
        };
        example::init_encrypted(&example, &target, a.force, &access, &lock, new_sealer).map_err(
            |f| {
                if exists {
                    secrets::not_replaced(f, &target)
                } else {
                    f
                }
            },
        )?
    } else {
        example::init(&example, &target, a.force, &lock)?
    };
    for pattern in &done.ignored {
        ui::note(format!(
            "added {pattern} to {}",
            fsio::parent_dir(&target).join(".gitignore").display()
        ));
    }
    if let Some(backup) = &done.backup {
        crate::out::outln!("kept the old {} as {}", target.display(), backup.display());
    }
    let made = done.made;
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
