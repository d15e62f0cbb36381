//! `envcloak git …`: the drivers that let git diff and merge `.env.enc`
//! (DESIGN §8), and their set-up in a clone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use envcloak::crypto::DecryptError;
use envcloak::{fsio, git};
use zeroize::Zeroizing;

use crate::Global;
use crate::out;
use crate::ui::{self, CmdResult, Failure};

/// `git`
#[derive(Args)]
pub struct GitArgs {
    #[command(subcommand)]
    command: GitCommand,
}

#[derive(Subcommand)]
enum GitCommand {
    /// Set up this repository: .gitattributes, this clone's diff and merge
    /// drivers, and with --hook the commit guard
    #[command(after_help = "\
Examples:
  envcloak git enroll                .gitattributes + this clone's drivers
  git add .gitattributes && git commit -m 'envcloak drivers'
  git diff .env.enc                  key names and fingerprints, no values
  ENVCLOAK_DIFF_VALUES=1 git diff    real values, for this one command
  envcloak git enroll --hook         also install the pre-commit guard

Diffs show values as fingerprints and comments as '# [comment fp:...]'
(a comment may hold an old secret); ENVCLOAK_DIFF_VALUES=1 shows both.

A teammate's clone configures its drivers by itself on its first
envcloak command (init, set, unset, edit, encrypt, check, get, ls,
decrypt, diff, rotate, redact). The drivers run this envcloak binary,
or 'envcloak' on PATH once it is gone (cargo clean, cargo install).
Hooks are per clone: each clone runs 'envcloak git enroll --hook'.

A merge conflict stays encrypted: resolve it with 'envcloak edit'.
The octopus strategy (git merge a b c) and -X ours / -X theirs do not
use merge drivers: merge one branch at a time, and take a whole side
with 'git checkout --theirs .env.enc' (or --ours).
If .env.enc holds git's own <<<<<<< markers (merged in a clone without
the driver): 'envcloak git enroll', then 'git checkout -m .env.enc'.")]
    Enroll(EnrollArgs),
    /// Undo `git enroll`: attributes, drivers and the commit guard
    #[command(after_help = "\
Example:
  envcloak git disenroll             remove envcloak's .gitattributes lines,
                                     this clone's drivers and the hook")]
    Disenroll,
    /// (used by git) print an encrypted file's entries with fingerprints
    #[command(hide = true)]
    Textconv {
        /// The file git hands over (a temporary copy of a blob). Not
        /// named `file`: that is the id of the project option `-f/--file`.
        #[arg(value_name = "FILE")]
        blob: PathBuf,
    },
    /// (used by git) merge three versions of an encrypted file by key
    #[command(hide = true)]
    MergeDriver {
        /// %O: the common ancestor's version
        base: PathBuf,
        /// %A: our version; the result is written here
        ours: PathBuf,
        /// %B: their version
        theirs: PathBuf,
        /// %P: the path in the repository
        path: PathBuf,
        /// %S %X %Y: git's labels for the three versions (git 2.44+)
        #[arg(num_args = 0..=3, allow_hyphen_values = true)]
        labels: Vec<String>,
    },
    /// (used by the pre-commit hook) refuse a commit that would leak
    #[command(hide = true)]
    PreCommit,
}

/// `git enroll`
#[derive(Args)]
pub struct EnrollArgs {
    /// Also install the commit guard (a pre-commit hook, chained with an
    /// existing one)
    #[arg(long)]
    hook: bool,
}

pub fn git(g: &Global, a: GitArgs) -> CmdResult {
    match a.command {
        GitCommand::Enroll(a) => enroll(g, a),
        GitCommand::Disenroll => disenroll(g),
        GitCommand::Textconv { blob } => textconv(g, blob),
        GitCommand::MergeDriver {
            base,
            ours,
            theirs,
            path,
            labels,
        } => {
            if crate::sealed_merge::is_sealed_keyring(&path) {
                crate::sealed_merge::merge(&base, &ours, &theirs, &path, &labels)
            } else if crate::sealed_merge::is_recipients(&path) {
                crate::sealed_merge::merge_recipients_file(&base, &ours, &theirs, &path)
            } else {
                merge_driver(g, base, ours, theirs, path)
            }
        }
        GitCommand::PreCommit => crate::guard::pre_commit(g),
    }
}

/// The envcloak binary that is running: what the drivers in git's config
/// run (tests run a binary that is not on `PATH`).
fn exe() -> Result<PathBuf, Failure> {
    std::env::current_exe()
        .map_err(|e| Failure::new(format!("cannot tell where the envcloak binary is: {e}")))
}

/// The top of the work tree of the current directory, or a clear failure.
fn repo_root() -> Result<PathBuf, Failure> {
    git::repo_root(Path::new(".")).ok_or_else(|| {
        Failure::new("not in a git repository (or git is not installed)")
            .hint("run this inside a clone of your project, or 'git init' first")
    })
}

fn read_text(path: &Path) -> Result<String, Failure> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Failure::new(format!("{}: {e}", path.display()))),
    }
}

fn enroll(_g: &Global, a: EnrollArgs) -> CmdResult {
    let root = repo_root()?;
    let exe = exe()?;
    let attributes = root.join(".gitattributes");
    {
        let _lock = ui::lock(&attributes)?;
        let text = read_text(&attributes)?;
        match git::enroll_attributes(&text) {
            Some(new) => {
                fsio::write_atomic(&attributes, new.as_bytes(), None)?;
                ui::note(format!(
                    "added {} and {} ({}) to {}: commit it, so that every clone uses the drivers",
                    git::PATTERNS[0],
                    git::PATTERNS[1],
                    git::ATTRIBUTES,
                    attributes.display()
                ));
            }
            None => ui::note(format!("{} already enrolled", attributes.display())),
        }
    }
    git::configure(&root, &exe)?;
    ui::note(
        "configured this clone's drivers: diff.envcloak.textconv (values shown as fingerprints, \
         never cached) and merge.envcloak.driver (key-level merges)",
    );
    if a.hook {
        let said = crate::guard::install_hook(&root)?;
        ui::note(said);
    }
    Ok(ExitCode::SUCCESS)
}

fn disenroll(_g: &Global) -> CmdResult {
    let root = repo_root()?;
    let attributes = root.join(".gitattributes");
    {
        let _lock = ui::lock(&attributes)?;
        let text = read_text(&attributes)?;
        if let Some(new) = git::disenroll_attributes(&text) {
            if new.trim().is_empty() {
                std::fs::remove_file(&attributes)
                    .map_err(|e| Failure::new(format!("{}: {e}", attributes.display())))?;
                ui::note(format!(
                    "removed {} (it held only envcloak's lines): commit the removal",
                    attributes.display()
                ));
            } else {
                fsio::write_atomic(&attributes, new.as_bytes(), None)?;
                ui::note(format!(
                    "removed envcloak's lines from {}: commit it",
                    attributes.display()
                ));
            }
        }
    }
    if git::unconfigure(&root)? {
        ui::note("removed this clone's envcloak diff and merge drivers");
    }
    if let Some(said) = crate::guard::uninstall_hook(&root)? {
        ui::note(said);
    }
    Ok(ExitCode::SUCCESS)
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The repository git runs a driver in (it runs them from the top of the
/// work tree; asked anyway).
fn driver_root() -> PathBuf {
    git::repo_root(Path::new(".")).unwrap_or_else(|| PathBuf::from("."))
}

fn textconv(_g: &Global, file: PathBuf) -> CmdResult {
    let contents = match std::fs::read(&file) {
        Ok(c) => Zeroizing::new(c),
        Err(_) => {
            out::line(git::placeholder(b""));
            return Ok(ExitCode::SUCCESS);
        }
    };
    if contents.trim_ascii().is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let Some(opened) = git::open_from_root(&driver_root(), &contents, &process_env) else {
        out::line(git::placeholder(&contents));
        return Ok(ExitCode::SUCCESS);
    };
    let show = if process_env("ENVCLOAK_DIFF_VALUES").is_some_and(|v| v.trim() == "1") {
        git::Show::Values
    } else {
        git::Show::Fingerprints(&opened.fingerprinter)
    };
    out::write_required(git::render(&opened.text, show).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Where a key for the encrypted file at `path` is looked for first: its
/// key file and its variable (`.env.staging.key`, `ENVCLOAK_KEY_STAGING`).
fn key_places(path: &Path) -> (String, String) {
    let file = envcloak::keys::key_file_for(path).file_name().map_or_else(
        || ".env.key".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let var = git::profile_of(path).map_or_else(
        || "ENVCLOAK_KEY".to_owned(),
        |p| envcloak::keys::profile_key_var(&p),
    );
    (file, var)
}

fn merge_driver(
    _g: &Global,
    base: PathBuf,
    ours: PathBuf,
    theirs: PathBuf,
    path: PathBuf,
) -> CmdResult {
    let read = |p: &Path| -> Result<Zeroizing<Vec<u8>>, Failure> {
        match std::fs::read(p) {
            Ok(c) => Ok(Zeroizing::new(c)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Zeroizing::new(Vec::new())),
            Err(e) => Err(Failure::new(format!("{}: {e}", p.display()))),
        }
    };
    let (b, o, t) = (read(&base)?, read(&ours)?, read(&theirs)?);
    let shown = path.display();
    let again = "then abort (git merge --abort, git rebase --abort, ...) and merge again";
    let merged = match git::merge_encrypted(&driver_root(), &path, &b, &o, &t, &process_env) {
        Ok(m) => m,
        Err(f) => {
            let failure = match (&f.version, &f.error) {
                (
                    git::Version::Theirs | git::Version::Base,
                    envcloak::Error::Decrypt {
                        kind: DecryptError::Authentication,
                        ..
                    },
                ) => {
                    let (file, var) = key_places(&path);
                    Failure::new(format!(
                        "cannot merge {shown}: {} does not open with the keys that open ours \
                         (was the key rotated on the other side?); {shown} is left as ours",
                        f.version
                    ))
                    .hint(format!(
                        "get the new keyring into {file} or {var} (the new key first, then the \
                         old one, comma-separated), {again}; or take their version as it is \
                         with 'git checkout --theirs {shown}'"
                    ))
                }
                (_, envcloak::Error::Conflict { .. }) => Failure::new(format!(
                    "cannot merge {shown}: {}; {shown} is left as ours",
                    f
                ))
                .hint(format!(
                    "that version holds an unresolved conflict: resolve it with 'envcloak edit' \
                     and commit, {again}"
                )),
                (_, envcloak::Error::KeyNotFound { .. }) => Failure::new(format!(
                    "cannot merge {shown}: {}; {shown} is left as ours",
                    f.error
                ))
                .hint({
                    let (file, var) = key_places(&path);
                    format!("set {var} or put the team key in {file}, {again}")
                }),
                _ if envcloak::vault::password_header(&path, &o).is_ok_and(|h| h.is_some()) => {
                    Failure::new(format!(
                        "cannot merge {shown} ({}): {}; {shown} is left as ours",
                        f.version, f.error
                    ))
                    .hint(format!(
                        "{shown} is encrypted with a password: set ENVCLOAK_PASSWORD to the \
                         password that opens all three versions, {again}"
                    ))
                }
                _ => {
                    let (file, var) = key_places(&path);
                    Failure::new(format!(
                        "cannot merge {shown} ({}): {}; {shown} is left as ours",
                        f.version, f.error
                    ))
                    .hint(format!(
                        "make a key that opens all three versions available ({var}, {file}), \
                         {again}"
                    ))
                }
            };
            return Err(failure);
        }
    };
    fsio::write_atomic(&ours, merged.contents.as_bytes(), None)?;
    if merged.conflicts.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    ui::note(format!(
        "conflict in {shown}: {} changed on both sides (or changed on one and removed on the \
         other); both versions are marked inside the encrypted file",
        merged.conflicts.join(", ")
    ));
    ui::note(format!(
        "resolve with 'envcloak edit {shown}' (keep one entry of each block), then 'git add {shown}'"
    ));
    Ok(ExitCode::from(1))
}

/// In a clone whose `.gitattributes` names the envcloak drivers but whose
/// config lacks them (or names a binary that is gone), configures them and
/// says so (once: afterwards they are configured). Called before `init`,
/// `set`, `unset`, `edit`, `encrypt`, `check`, `get`, `ls`, `decrypt`,
/// `diff`, `rotate` and `redact` (not `run`, which must stay fast). A
/// command recorded in an older form (an absolute path with no fallback
/// to `PATH`) is rewritten too. Never fails the command
/// it runs before, and runs no git at all where `.gitattributes` does not
/// name the drivers.
pub fn auto_configure(_g: &Global) {
    let Ok(cwd) = std::env::current_dir() else {
        return;
    };
    let Some(root) = git::enrolled_root(&cwd) else {
        return;
    };
    let Ok(state) = git::driver_state(&root) else {
        return;
    };
    if state.is_complete() {
        return;
    }
    let Ok(exe) = exe() else {
        return;
    };
    if git::configure(&root, &exe).is_ok() {
        ui::note(
            "configured this clone's git drivers for encrypted env files (.gitattributes asks \
             for them): 'git diff' shows key names and fingerprints, 'git merge' merges by key; \
             hooks are not cloned: 'envcloak git enroll --hook' adds the commit guard here",
        );
    }
}
