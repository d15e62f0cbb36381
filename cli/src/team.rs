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
    /// Warnings (keys not in the example, duplicates, shadowed definitions,
    /// an unread .env.enc) fail too
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
    /// Write the encrypted file (.env.enc) instead of .env, every key of
    /// the example in it
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
        .hint(if a.encrypt {
            "it is the team's file: change it with 'envcloak set', 'unset' or 'edit'; \
             --force starts it over from the example, replacing every team value \
             (a backup is kept)"
        } else {
            "'envcloak check' shows what it lacks; --force replaces it, keeping a backup"
        }));
    }
    // The layers the new .env sits beside, opened before anything is
    // written: a key that does not open .env.enc stops here.
    let others = if a.encrypt {
        None
    } else {
        Some(other_layers(g, &root)?)
    };
    ui::ensure_lock_ignored(&[&target])?;
    let lock = ui::lock_options()?;
    let done = if let Some(others) = &others {
        example::init_with(&example, &target, a.force, others, &lock)?
    } else {
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
    if !made.supplied.is_empty() {
        let names: Vec<String> = made
            .supplied
            .iter()
            .map(|(k, from)| format!("{k} ({})", source_name(from)))
            .collect();
        crate::out::outln!(
            "left as comments, another layer supplies them: {}",
            names.join(", ")
        );
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
    let live: Vec<&str> = example
        .keys
        .iter()
        .map(|k| k.key.as_str())
        .filter(|k| !made.supplied.iter().any(|(s, _)| s == k))
        .collect();
    // Encrypted files that could not be read: their keys went into .env.
    for path in others.iter().flat_map(|o| o.skipped_encrypted()) {
        warn_unread(g, path, &target, &live);
    }
    Ok(ExitCode::SUCCESS)
}

/// The layers a new `.env` sits beside: the process environment and the
/// encrypted files (`.env.enc`, and `.env.<profile>.enc` with a profile, or
/// the `--file`), opened with the key they would be loaded with. A file
/// that no key opens is skipped (and reported after the write); a key
/// that does not open it is an error, and nothing is written.
fn other_layers(g: &Global, root: &std::path::Path) -> CmdResult<envcloak::Config> {
    let profile = ui::profile(g)?;
    // A file no key opens is reported after the write, in CI too.
    let mut b = envcloak::Config::builder()
        .isolated()
        .process_env(true)
        .require_key(false);
    if let Some(p) = &profile {
        b = b.profile(p);
    }
    let encrypted: Vec<PathBuf> = match &g.file {
        Some(f) => vec![f.clone()],
        None => {
            // Lowest first: later files take precedence.
            let mut v = vec![root.join(".env.enc")];
            v.extend(profile.as_ref().map(|p| root.join(format!(".env.{p}.enc"))));
            v
        }
    };
    let mut asked = false;
    for enc in encrypted.iter().filter(|e| e.exists()) {
        b = b.encrypted_file(enc);
        // A password-mode file: ENVCLOAK_PASSWORD (read by the library), or
        // asked for on a terminal; without either it is skipped.
        if !asked
            && envcloak::vault::is_password_file(enc).unwrap_or(false)
            && ui::password_source() != "ENVCLOAK_PASSWORD"
            && std::io::IsTerminal::is_terminal(&std::io::stdin())
        {
            let pw = ui::password(&format!("password for {}: ", enc.display()), false)?;
            b = b.password(envcloak::SecretString::from(pw.as_str()));
            asked = true;
        }
    }
    if let Some(k) = &g.key_file {
        b = b.key_file(k);
    }
    Ok(b.build()?)
}

/// How a source is named in `init`'s summary.
fn source_name(o: &envcloak::Origin) -> String {
    match o {
        envcloak::Origin::Environment => "environment".to_owned(),
        envcloak::Origin::Encrypted { path, .. } | envcloak::Origin::Dotenv { path, .. } => {
            path.display().to_string()
        }
        other => other.to_string(),
    }
}

/// After `init` wrote every key because `encrypted` could not be read:
/// why, and what those keys will do once it can be.
fn warn_unread(g: &Global, encrypted: &std::path::Path, target: &std::path::Path, live: &[&str]) {
    let why = if envcloak::vault::is_password_file(encrypted).unwrap_or(false) {
        format!(
            "{}: no password (set ENVCLOAK_PASSWORD, or run in a terminal to be asked)",
            encrypted.display()
        )
    } else {
        let profile = ui::profile(g).ok().flatten();
        let env = |name: &str| std::env::var(name).ok();
        let search = envcloak::keys::Search {
            env: &env,
            profile: profile.as_deref(),
            encrypted,
        };
        Error::KeyNotFound {
            path: encrypted.to_path_buf(),
            looked: envcloak::keys::places(&search),
        }
        .to_string()
    };
    let (enc, env) = (encrypted.display(), target.display());
    ui::note(format!(
        "warning: {enc} could not be read, so init cannot tell which keys it supplies: {why}"
    ));
    if !live.is_empty() {
        ui::note(format!(
            "warning: {env} now sets {}; once the key is here, these hide the values {enc} has for them",
            live.join(", ")
        ));
    }
    ui::note(format!(
        "to use the team's values: get the key (ask a teammate), then run 'envcloak init --force' \
         (the current {env} is kept as a backup), or delete those lines from {env}; \
         'envcloak check' reports each key {env} hides as shadowed"
    ));
}
