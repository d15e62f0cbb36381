//! Errors, hints, prompts and the paths every command shares.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use envcloak::crypto::DecryptError;
use envcloak::fsio::{self, WriteLock};
use envcloak::vault::Sealer;
use envcloak::{Error, keys};
use zeroize::Zeroizing;

use crate::Global;

/// A command's failure: one line on stderr, a hint, an exit code.
pub struct Failure {
    message: String,
    hint: Option<String>,
    code: u8,
}

impl Failure {
    /// A failure with exit code 2 ("could not run").
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            code: 2,
        }
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the exit code.
    pub fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// The exit code.
    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let hint = match &e {
            Error::KeyNotFound { looked, .. }
                if looked
                    .iter()
                    .any(|l| l.contains("protected by a passphrase")) =>
            {
                Some(
                    "run it in a terminal to be asked for the passphrase, or set \
                     ENVCLOAK_IDENTITY_FILE to a key without one"
                        .to_owned(),
                )
            }
            Error::KeyNotFound { looked, .. }
                if looked.iter().any(|l| l.contains("(sealed keyring: ")) =>
            {
                Some(
                    "the team's keyring is sealed to its members: send the line \
                     'envcloak team whoami' prints to a member, who runs 'envcloak team add'"
                        .to_owned(),
                )
            }
            Error::KeyNotFound { .. } => Some(
                "set ENVCLOAK_KEY, or create .env.key with 'envcloak keygen --write' \
                 (or ask a teammate for the key)"
                    .to_owned(),
            ),
            Error::Decrypt {
                kind: DecryptError::Authentication,
                ..
            } => Some(
                "the key does not open this file: use the team's key (the message says where \
                 this one came from), or restore the file from git if it was modified"
                    .to_owned(),
            ),
            Error::Decrypt {
                kind: DecryptError::WrongPassword,
                ..
            } => Some(
                "check the password (ENVCLOAK_PASSWORD, or the one typed), or restore the \
                 file from git if it was modified"
                    .to_owned(),
            ),
            Error::Decrypt {
                kind: DecryptError::PasswordRequired,
                ..
            } => Some("set ENVCLOAK_PASSWORD, or run in a terminal to be asked".to_owned()),
            Error::Decrypt {
                kind: DecryptError::Expired { .. },
                ..
            } => Some(
                "the file is older than --ttl allows: re-encrypt it ('envcloak edit' or \
                 'envcloak encrypt'), or raise --ttl"
                    .to_owned(),
            ),
            Error::Decrypt {
                kind: DecryptError::ClockSkew { .. },
                ..
            } => Some(
                "this machine's clock is behind the one that encrypted the file: fix the \
                 system clock (or leave out --ttl)"
                    .to_owned(),
            ),
            Error::Decrypt {
                kind: DecryptError::TooFewIterations { .. },
                ..
            } => Some(
                "envcloak refuses weak password files: if you trust it, decrypt it with the \
                 tool that made it and re-encrypt with 'envcloak encrypt --password'"
                    .to_owned(),
            ),
            Error::Decrypt {
                kind: DecryptError::GitTextConflict,
                path,
                ..
            } => Some(format!(
                "run 'envcloak git enroll' (or any envcloak command configures the driver), then \
                 'git checkout -m {}' to redo the merge with the driver (a key-level merge; a \
                 conflict stays encrypted)",
                path.display()
            )),
            Error::Decrypt {
                kind: DecryptError::TrailingData,
                ..
            } => Some(
                "the file holds more than one token (a bad merge or paste?): restore it from git"
                    .to_owned(),
            ),
            Error::Decrypt { .. } => {
                Some("the file is damaged or not an envcloak file: restore it from git".to_owned())
            }
            Error::Parse { .. } => {
                Some("fix that line (values are never shown in messages)".to_owned())
            }
            Error::Conflict { path, .. } => Some(format!(
                "resolve it with 'envcloak edit {}': keep one entry of each <<<<<<< / ======= / >>>>>>> block and delete the marker lines",
                path.display()
            )),
            Error::Missing { .. } => {
                Some("set it in the environment or .env, or add it with 'envcloak set'".to_owned())
            }
            _ => None,
        };
        Failure {
            message: e.to_string(),
            hint,
            code: 2,
        }
    }
}

/// `Result` of a command.
pub type CmdResult<T = std::process::ExitCode> = Result<T, Failure>;

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Prints `error: ...` and `hint: ...` to stderr.
pub fn report(f: &Failure) {
    let (red, yellow, reset) = if color() {
        ("\x1b[31m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    crate::out::err_line(format_args!("{red}error{reset}: {}", f.message));
    if let Some(h) = &f.hint {
        crate::out::err_line(format_args!("{yellow}hint{reset}: {h}"));
    }
}

/// Prints a note for the user on stderr.
pub fn note(msg: impl std::fmt::Display) {
    crate::out::err_line(format_args!("envcloak: {msg}"));
}

/// Checks a KEY argument. Neither `KEY=VALUE` (the `heroku config:set`
/// habit) nor any other invalid key is echoed: it may be a value.
pub fn check_key_arg(key: &str, usage: &str) -> CmdResult<()> {
    if key.contains('=') {
        return Err(
            Failure::new("the key and the value are separate arguments").hint(usage.to_owned())
        );
    }
    if !envcloak::dotenv::is_valid_key(key) {
        // Not repeated: arguments given in the wrong order (`set VALUE KEY`)
        // would put a secret here.
        return Err(Failure::new(
            "the KEY argument is not a valid key (not shown, in case it is a value): \
             use letters, digits, '_' and '.', not starting with a digit",
        )
        .hint(usage.to_owned()));
    }
    Ok(())
}

/// Takes the write lock for `path` (see [`fsio::WriteLock`]), saying so on
/// stderr when another envcloak holds it for more than a second.
pub fn lock(path: &Path) -> CmdResult<WriteLock> {
    let mut locks = lock_all(&[path])?;
    Ok(locks.remove(0))
}

/// Takes the write locks for every one of `paths`, in a fixed order (see
/// [`fsio::lock_all_with`]): for a command that writes in two directories.
pub fn lock_all(paths: &[&Path]) -> CmdResult<Vec<WriteLock>> {
    ensure_lock_ignored(paths)?;
    Ok(fsio::lock_all_with(paths, &lock_options()?)?)
}

/// How the CLI waits for a write lock: `ENVCLOAK_LOCK_TIMEOUT`, and a note
/// on stderr after a second.
pub fn lock_options() -> CmdResult<fsio::LockOptions<'static>> {
    fn notify(p: &Path) {
        note(format!(
            "waiting for another envcloak writing {}…",
            p.display()
        ));
    }
    let mut options = fsio::LockOptions::from_env()?;
    options.on_wait = Some(&notify);
    Ok(options)
}

/// The lock files beside `paths` must not show up in `git status` (nor be
/// committed): made sure of before they are created.
pub fn ensure_lock_ignored(paths: &[&Path]) -> CmdResult<()> {
    for path in paths {
        let lock_file = fsio::parent_dir(&fsio::resolve(path)?).join(fsio::LOCK_FILE);
        if !envcloak::gitignore::is_ignored(&lock_file)
            && envcloak::gitignore::in_work_tree(&fsio::parent_dir(&lock_file))
        {
            ensure_ignored_as(&lock_file, fsio::LOCK_FILE)?;
        }
    }
    Ok(())
}

/// Makes sure git ignores `path` (and envcloak's temporary and lock files
/// beside it), saying what was added to `.gitignore`.
pub fn ensure_ignored(path: &Path) -> CmdResult<()> {
    let added = envcloak::gitignore::ensure_ignored(path)?;
    report_ignored(path, &added);
    Ok(())
}

/// Makes sure git ignores the project key file (`.env.key`,
/// `.env.<profile>.key`) that opens `encrypted` under `access`, when the key
/// comes from one: a key file made by hand or copied from a teammate is
/// otherwise one `git add -A` away from being committed. Keys named with
/// `--key-file` or `ENVCLOAK_KEY_FILE` live where the user put them and are
/// left alone.
pub fn ensure_key_file_ignored(
    encrypted: &Path,
    access: &envcloak::vault::Access,
) -> CmdResult<()> {
    if let Ok(Some(envcloak::keys::KeySource::KeyFile(file))) =
        envcloak::vault::key_source(encrypted, access)
        && !envcloak::gitignore::is_ignored(&file)
    {
        ensure_ignored(&file)?;
    }
    Ok(())
}

/// Makes sure git ignores `path`, adding `pattern` to the `.gitignore`
/// beside it when it does not.
pub fn ensure_ignored_as(path: &Path, pattern: &str) -> CmdResult<()> {
    if envcloak::gitignore::is_ignored(path) {
        return Ok(());
    }
    let added = envcloak::gitignore::add_patterns(&fsio::parent_dir(path), &[pattern.to_owned()])?;
    report_ignored(path, &added);
    Ok(())
}

fn report_ignored(path: &Path, added: &[String]) {
    let gitignore = fsio::parent_dir(path).join(".gitignore");
    for pattern in added {
        note(format!("added {pattern} to {}", gitignore.display()));
    }
}

/// The project root, as the library discovers it.
pub fn root() -> CmdResult<PathBuf> {
    Ok(envcloak::project_root()?)
}

/// The profile: `--profile`, else `ENVCLOAK_PROFILE`; a name that is not
/// letters, digits, `-` and `_` (`../x`) is refused, naming where it came
/// from.
pub fn profile(g: &Global) -> CmdResult<Option<String>> {
    let (profile, from) = match &g.profile {
        Some(p) => (Some(p.clone()), "--profile"),
        None => (process_env("ENVCLOAK_PROFILE"), "ENVCLOAK_PROFILE"),
    };
    let profile = profile.filter(|p| !p.is_empty());
    if let Some(p) = &profile
        && !envcloak::valid_profile(p)
    {
        return Err(Failure::new(format!(
            "{from}: a profile name holds only letters, digits, '-' and '_'"
        )));
    }
    Ok(profile)
}

/// The encrypted file a command works on.
pub fn encrypted_path(g: &Global, positional: Option<&Path>) -> CmdResult<PathBuf> {
    if let Some(p) = positional.or(g.file.as_deref()) {
        return Ok(p.to_path_buf());
    }
    let root = root()?;
    Ok(match profile(g)? {
        Some(p) => root.join(format!(".env.{p}.enc")),
        None => root.join(".env.enc"),
    })
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Finds the keyring for `encrypted`: `--key-file`, then the library's search.
pub fn find_keyring(g: &Global, encrypted: &Path) -> CmdResult<Option<keys::Found>> {
    if let Some(file) = &g.key_file {
        let source = keys::KeySource::Named(file.clone());
        return Ok(Some(keys::Found {
            keyring: keys::read_key_file(file)?,
            origin: source.to_string(),
            source,
            shadowed: Vec::new(),
        }));
    }
    let p = profile(g)?;
    let search = keys::Search {
        env: &process_env,
        profile: p.as_deref(),
        encrypted,
    };
    keys::check_process_env_utf8(&search)?;
    Ok(keys::find(&search)?)
}

/// Where the password came from, for errors: the variable or the prompt.
pub fn password_source() -> &'static str {
    if process_env("ENVCLOAK_PASSWORD").is_some_and(|p| !p.is_empty()) {
        "ENVCLOAK_PASSWORD"
    } else {
        "the prompt"
    }
}

/// The password for password mode: `ENVCLOAK_PASSWORD`, else a no-echo
/// prompt on the terminal (asked twice when `confirm`).
pub fn password(prompt: &str, confirm: bool) -> CmdResult<Zeroizing<String>> {
    if let Some(p) = process_env("ENVCLOAK_PASSWORD").filter(|p| !p.is_empty()) {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            Failure::new("a password is needed and there is no terminal to ask on")
                .hint("set ENVCLOAK_PASSWORD"),
        );
    }
    password_prompt(prompt, confirm)
}

/// Asks for a password on the terminal without echo (twice when `confirm`).
pub fn password_prompt(prompt: &str, confirm: bool) -> CmdResult<Zeroizing<String>> {
    let first = Zeroizing::new(
        rpassword::prompt_password(prompt).map_err(|e| Failure::new(format!("prompt: {e}")))?,
    );
    if first.is_empty() {
        return Err(Failure::new("empty password"));
    }
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("again: ")
                .map_err(|e| Failure::new(format!("prompt: {e}")))?,
        );
        if *again != *first {
            return Err(Failure::new("the passwords differ"));
        }
    }
    Ok(first)
}

/// Opens an existing encrypted file, refusing one encrypted longer than
/// `ttl` ago: its plaintext and the sealer that writes it back.
pub fn open_existing_ttl(
    g: &Global,
    path: &Path,
    ttl: Option<std::time::Duration>,
) -> CmdResult<(Zeroizing<String>, Sealer)> {
    open_existing_with(g, path, ttl, None)
}

/// For a password-mode file: asks for the password and derives its key
/// now, before the write lock is taken (PBKDF2 takes about a second on
/// purpose; under the lock it would hold up every other writer). The key
/// is kept for the rest of the command. `None` for a key-mode file or one
/// that cannot be read (the locked step reports that).
pub fn prepare_password(path: &Path) -> CmdResult<Option<Zeroizing<String>>> {
    let Ok(contents) = envcloak::vault::read(path) else {
        return Ok(None);
    };
    let Ok(Some(header)) = envcloak::vault::password_header(path, &contents) else {
        return Ok(None);
    };
    let pw = password(&format!("password for {}: ", path.display()), false)?;
    let _warm = envcloak::crypto::derive_key(pw.as_bytes(), &header.salt, header.iterations);
    // From ENVCLOAK_PASSWORD, the library reads it again (and names it).
    Ok((password_source() != "ENVCLOAK_PASSWORD").then_some(pw))
}

/// [`open_existing_ttl`] with the password already asked for, if any.
pub fn open_existing_with(
    g: &Global,
    path: &Path,
    ttl: Option<std::time::Duration>,
    given: Option<Zeroizing<String>>,
) -> CmdResult<(Zeroizing<String>, Sealer)> {
    let opened = open_vault(g, path, ttl, given)?;
    Ok((opened.text, opened.sealer))
}

/// How to open `path`: the password (asked for now if the file is in
/// password mode and none was given), `--key-file`, or the key search.
pub fn access(
    g: &Global,
    path: &Path,
    given: Option<Zeroizing<String>>,
) -> CmdResult<envcloak::vault::Access> {
    use envcloak::vault::Access;
    if let Some(p) = given {
        return Ok(Access::Password(p));
    }
    // ENVCLOAK_PASSWORD is read (and named in errors) by the library.
    if envcloak::vault::is_password_file(path).unwrap_or(false)
        && password_source() != "ENVCLOAK_PASSWORD"
    {
        return Ok(Access::Password(password(
            &format!("password for {}: ", path.display()),
            false,
        )?));
    }
    Ok(match &g.key_file {
        Some(file) => Access::KeyFile(file.clone()),
        None => Access::Search {
            profile: profile(g)?,
        },
    })
}

/// An error (with a hint to create it) unless the encrypted file exists.
pub fn require_exists(path: &Path) -> CmdResult<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    match envcloak::vault::read(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::from(e)
            .hint("create it with 'envcloak encrypt' (from .env) or 'envcloak init --encrypt'")),
    }
}

/// Opens `path` through the library ([`envcloak::vault::open_with`]), with
/// the CLI's hints.
pub fn open_vault(
    g: &Global,
    path: &Path,
    ttl: Option<std::time::Duration>,
    given: Option<Zeroizing<String>>,
) -> CmdResult<envcloak::vault::Opened> {
    require_exists(path)?;
    let access = access(g, path, given)?;
    Ok(envcloak::vault::open_with(path, &access, ttl)?)
}

/// Builds the layered configuration the way the library would, with the
/// CLI's `--file`, `--profile` and `--key-file`.
pub fn config(g: &Global) -> CmdResult<envcloak::Config> {
    Ok(builder(g, true)?.build()?)
}

/// The builder behind [`config`]; without `read_encrypted`, encrypted files
/// are left out (and no password is asked for).
pub fn builder(g: &Global, read_encrypted: bool) -> CmdResult<envcloak::ConfigBuilder> {
    let mut b = envcloak::Config::builder().read_encrypted(read_encrypted);
    if let Some(p) = &g.profile {
        b = b.profile(p);
    }
    if !read_encrypted {
        return Ok(b);
    }
    if let Some(f) = &g.file {
        b = b.encrypted_file(f);
    }
    if let Some(k) = &g.key_file {
        b = b.key_file(k);
    }
    let enc = encrypted_path(g, None)?;
    // Only a regular file is looked at here; the library reports anything else.
    if std::fs::metadata(&enc).is_ok_and(|m| m.is_file())
        && let Ok(contents) = std::fs::read(&enc)
        && envcloak::vault::password_header(&enc, &contents)?.is_some()
        && process_env("ENVCLOAK_PASSWORD").is_none_or(|p| p.is_empty())
    {
        b = b.password(envcloak::SecretString::from(
            password(&format!("password for {}: ", enc.display()), false)?.as_str(),
        ));
    }
    Ok(b)
}
