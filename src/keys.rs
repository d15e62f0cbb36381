//! Where keys come from: environment variables, key files, a key command.
//!
//! The order (DESIGN §3): `ENVCLOAK_KEY_<PROFILE>` (for the profile's own
//! `.env.<profile>.enc` only), `ENVCLOAK_KEY`, the file
//! named by `ENVCLOAK_KEY_FILE`, the output of `ENVCLOAK_KEY_CMD`, then the
//! key file beside the encrypted file (`.env.<profile>.key` for
//! `.env.<profile>.enc`, and `.env.key`), and last the sealed keyring
//! (`.env.<profile>.key.age`, `.env.key.age`) opened with the user's SSH or
//! age identity ([`crate::team`]). A profile that has a sealed keyring of
//! its own never falls back to `ENVCLOAK_KEY`, `.env.key` or `.env.key.age`.
//! An empty variable counts as unset,
//! so a CI secret that is not available (forks) means "no key", not a bad key.
//!
//! - A variable or key file holds one key or a keyring: keys separated by
//!   commas or line breaks, with `#` comments, blank lines, CRLF and a UTF-8
//!   byte order mark allowed ([`Keyring::parse`]).
//! - A key file must be a regular file owned by the current user or root,
//!   and not readable or writable by group or others, as OpenSSH insists.
//! - `ENVCLOAK_KEY_CMD` runs through `sh -c` once per process (the result,
//!   key or error, is remembered), and is stopped after 30 s, or
//!   `ENVCLOAK_KEY_CMD_TIMEOUT` seconds. Background processes it leaves
//!   behind are not waited for.
//! - The profile variable for a profile with `-` uses `_`
//!   (`my-app` -> `ENVCLOAK_KEY_MY_APP`): shells cannot export `-`.
//! - [`Search::env`] returns `Option<String>`, which cannot tell "unset" from
//!   "not UTF-8"; a caller that reads the process environment calls
//!   [`check_process_env_utf8`] first, so such a variable is an error.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::crypto::Keyring;
use crate::error::{Error, Result};

/// The variable that holds the key command.
const KEY_CMD_VAR: &str = "ENVCLOAK_KEY_CMD";
/// The variable that holds the key command's timeout, in seconds.
const KEY_CMD_TIMEOUT_VAR: &str = "ENVCLOAK_KEY_CMD_TIMEOUT";
/// How long the key command may run when `ENVCLOAK_KEY_CMD_TIMEOUT` is unset.
pub const DEFAULT_KEY_CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// Once the key command has exited, how long the rest of its output may take
/// to arrive when a background process it started still holds the pipe
/// open.
const KEY_CMD_GRACE: Duration = Duration::from_millis(150);
/// The same when nothing at all has been read yet: on a busy machine the
/// reader thread may not have run; a command that printed nothing fails
/// anyway, so only that case waits longer.
const KEY_CMD_GRACE_EMPTY: Duration = Duration::from_secs(2);
/// The most a key file or key command may hold: a keyring of a thousand
/// keys fits many times over.
const MAX_KEY_TEXT: usize = 64 * 1024;

/// What [`find`] searches with.
pub struct Search<'a> {
    /// The environment to read `ENVCLOAK_KEY*` from.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The active profile, if any.
    pub profile: Option<&'a str>,
    /// The encrypted file the key is for; key files are looked for beside it.
    pub encrypted: &'a Path,
}

/// A key that was found, and where.
#[derive(Debug)]
pub struct Found {
    /// The key or keyring.
    pub keyring: Keyring,
    /// Where it came from: `ENVCLOAK_KEY`, `.env.key`, ... (the
    /// [`source`](Self::source) as text).
    pub origin: String,
    /// Where it came from.
    pub source: KeySource,
    /// Lower sources that also hold a key, which this one shadows (names
    /// only: nothing of theirs is read).
    pub shadowed: Vec<String>,
}

impl Found {
    fn new(keyring: Keyring, source: KeySource, shadowed: Vec<String>) -> Found {
        Found {
            keyring,
            origin: source.to_string(),
            source,
            shadowed,
        }
    }

    /// Where the key came from, for error messages, saying when it wins
    /// over a lower source: `ENVCLOAK_KEY in the environment, which wins
    /// over .env.key`.
    pub fn describe(&self) -> String {
        describe(&self.source, &self.shadowed)
    }
}

/// [`Found::describe`] for a source and the sources it shadows.
pub fn describe(source: &KeySource, shadowed: &[String]) -> String {
    let mut out = match source {
        KeySource::Variable(name) => format!("{name} in the environment"),
        other => other.to_string(),
    };
    if !shadowed.is_empty() {
        out.push_str(", which wins over ");
        out.push_str(&shadowed.join(" and "));
    }
    out
}

/// Where a key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// An environment variable: `ENVCLOAK_KEY` or `ENVCLOAK_KEY_<PROFILE>`.
    Variable(String),
    /// The file named by `ENVCLOAK_KEY_FILE`.
    VariableFile(PathBuf),
    /// The standard output of `ENVCLOAK_KEY_CMD`.
    Command,
    /// The key file beside the encrypted file (`.env.key`,
    /// `.env.<profile>.key`).
    KeyFile(PathBuf),
    /// A key file named explicitly (the CLI's `--key-file`,
    /// [`ConfigBuilder::key_file`](crate::ConfigBuilder::key_file)).
    Named(PathBuf),
    /// A key given as it is ([`ConfigBuilder::key`](crate::ConfigBuilder::key)).
    Given,
    /// The sealed keyring (`.env.key.age`, `.env.<profile>.key.age`),
    /// opened with the user's identity ([`crate::team`]).
    Sealed(PathBuf),
}

impl KeySource {
    /// The file the key was read from, when it came from one: the file a
    /// rotation must write the new keyring to.
    pub fn file(&self) -> Option<&Path> {
        match self {
            KeySource::VariableFile(p) | KeySource::KeyFile(p) | KeySource::Named(p) => Some(p),
            _ => None,
        }
    }
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Variable(name) => f.write_str(name),
            KeySource::VariableFile(p) => write!(f, "ENVCLOAK_KEY_FILE ({})", p.display()),
            KeySource::Command => f.write_str(KEY_CMD_VAR),
            KeySource::KeyFile(p) => write!(f, "{}", p.display()),
            KeySource::Named(p) => write!(f, "--key-file {}", p.display()),
            KeySource::Given => f.write_str("the key given to the builder"),
            KeySource::Sealed(p) => write!(f, "the sealed keyring {}", p.display()),
        }
    }
}

/// The key file that belongs to an encrypted file: `X.enc` -> `X.key`
/// (`.env.enc` -> `.env.key`), otherwise `X.key` appended.
pub fn key_file_for(encrypted: &Path) -> PathBuf {
    let name = encrypted
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".enc").unwrap_or(&name);
    encrypted.with_file_name(format!("{stem}.key"))
}

/// Every place [`find`] looks, in order, for messages.
pub fn places(search: &Search<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(var) = profile_var(search) {
        out.push(var);
    }
    out.extend(["ENVCLOAK_KEY", "ENVCLOAK_KEY_FILE", KEY_CMD_VAR].map(String::from));
    for file in key_files(search) {
        out.push(file.display().to_string());
    }
    let (sealed, own) = sealed_files(search);
    for file in sealed {
        out.push(sealed_place(&file, search));
    }
    if own {
        // The base sources do not count for a profile with its own keyring.
        let base = search.encrypted.with_file_name(".env.key");
        out.retain(|p| p != "ENVCLOAK_KEY" && *p != base.display().to_string());
    }
    out
}

/// The sealed keyrings looked at: the file's own (`.env.<profile>.key.age`),
/// then the base one (`.env.key.age`) unless the own one exists; and
/// whether it does — a profile's file then uses only its own sources (plus
/// the explicit `ENVCLOAK_KEY_FILE` and `ENVCLOAK_KEY_CMD`). One stat for
/// `.env.enc`, one more for a profile's file.
fn sealed_files(search: &Search<'_>) -> (Vec<(PathBuf, bool)>, bool) {
    let own = crate::team::sealed_for(search.encrypted);
    let base = search.encrypted.with_file_name(".env.key.age");
    let own_exists = own.exists();
    if own == base {
        (vec![(own, own_exists)], false)
    } else if own_exists {
        (vec![(own, true)], true)
    } else {
        let base_exists = base.exists();
        (vec![(own, false), (base, base_exists)], false)
    }
}

/// A sealed keyring as a place looked in, saying why it did not give a key
/// when it exists: no identity, or none that is a recipient.
fn sealed_place((file, exists): &(PathBuf, bool), search: &Search<'_>) -> String {
    let mut out = file.display().to_string();
    if *exists {
        let why = match crate::team::Identities::find(search.env) {
            Ok(ids) if ids.is_empty() => "no SSH or age identity found".to_owned(),
            Ok(ids) => match std::fs::read(file).map(Zeroizing::new) {
                // Without a prompt: only to say why it gave no key.
                Ok(contents) => match ids.open(&contents, file, None) {
                    Err(Error::Team {
                        kind: crate::team::TeamErrorKind::PassphraseNeeded,
                        reason,
                        ..
                    }) => reason.into_string(),
                    Err(Error::Team {
                        kind: crate::team::TeamErrorKind::NotARecipient,
                        ..
                    }) => format!(
                        "none of {} is a recipient in {}",
                        ids.sources().join(", "),
                        crate::team::recipients_for(file).display()
                    ),
                    Err(e) => e.to_string(),
                    Ok(_) => return out,
                },
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        out.push_str(&format!(" (sealed keyring: {why})"));
    }
    out
}

/// The variable that holds a profile's own key: `ENVCLOAK_KEY_` and the
/// profile upper-cased, with every character other than an ASCII letter or
/// digit (`-` in particular, which shells cannot export) written as `_`.
///
/// ```
/// assert_eq!(envcloak::keys::profile_key_var("my-app"), "ENVCLOAK_KEY_MY_APP");
/// assert_eq!(envcloak::keys::profile_key_var("staging"), "ENVCLOAK_KEY_STAGING");
/// ```
pub fn profile_key_var(profile: &str) -> String {
    let mut var = String::from("ENVCLOAK_KEY_");
    var.extend(profile.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    var
}

/// `ENVCLOAK_KEY_<PROFILE>`, for the profile's own encrypted file only
/// (`.env.staging.enc`): `.env.enc` keeps its own key even with a profile.
fn profile_var(search: &Search<'_>) -> Option<String> {
    let p = search.profile?;
    let name = search.encrypted.file_name()?.to_str()?;
    (name == format!(".env.{p}.enc")).then(|| profile_key_var(p))
}

fn key_files(search: &Search<'_>) -> Vec<PathBuf> {
    let own = key_file_for(search.encrypted);
    let default = search.encrypted.with_file_name(".env.key");
    if own == default {
        vec![own]
    } else {
        vec![own, default]
    }
}

/// Looks for a key for `search.encrypted`. `Ok(None)` when none is found
/// anywhere; an error when one is found but unusable.
pub fn find(search: &Search<'_>) -> Result<Option<Found>> {
    let var = |name: &str| (search.env)(name).filter(|v| !v.trim().is_empty());
    // Every source in order, each with whether it holds something (looked
    // at without reading a key file or running the command).
    let mut sources: Vec<(KeySource, bool)> = Vec::new();
    for name in profile_var(search)
        .into_iter()
        .chain(["ENVCLOAK_KEY".to_owned()])
    {
        let set = var(&name).is_some();
        sources.push((KeySource::Variable(name), set));
    }
    let file = var("ENVCLOAK_KEY_FILE");
    sources.push((
        KeySource::VariableFile(PathBuf::from(file.clone().unwrap_or_default())),
        file.is_some(),
    ));
    sources.push((KeySource::Command, var(KEY_CMD_VAR).is_some()));
    for file in key_files(search) {
        let exists = file.exists();
        sources.push((KeySource::KeyFile(file), exists));
    }
    let (sealed, own) = sealed_files(search);
    for (file, exists) in sealed {
        sources.push((KeySource::Sealed(file), exists));
    }
    if own {
        // Once `.env.<profile>.key.age` exists, the base sources never open
        // (nor, through a write, re-seal) the profile's file.
        let base = search.encrypted.with_file_name(".env.key");
        sources.retain(|(s, _)| match s {
            KeySource::Variable(name) => name != "ENVCLOAK_KEY",
            KeySource::KeyFile(p) => *p != base,
            _ => true,
        });
    }
    let Some(at) = sources.iter().position(|(_, set)| *set) else {
        return Ok(None);
    };
    let shadowed: Vec<String> = sources[at + 1..]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(s, _)| match s {
            KeySource::Variable(name) => format!("{name} in the environment"),
            other => other.to_string(),
        })
        .collect();
    let source = sources.swap_remove(at).0;
    let keyring = match &source {
        KeySource::Variable(name) => {
            let v = Zeroizing::new(var(name).unwrap_or_default());
            parse(&v, name)?
        }
        KeySource::VariableFile(path) => read_key_file(path).map_err(|e| match e {
            // Name the variable that pointed there.
            Error::Io { source, .. } => Error::Key {
                origin: format!("ENVCLOAK_KEY_FILE ({})", path.display()).into(),
                reason: format!("cannot read the file it names: {source}").into(),
            },
            other => other,
        })?,
        KeySource::KeyFile(path) | KeySource::Named(path) => read_key_file(path)?,
        KeySource::Command => {
            let cmd = Zeroizing::new(var(KEY_CMD_VAR).unwrap_or_default());
            let timeout = key_cmd_timeout(search)?;
            key_from_command(&cmd, timeout)?
        }
        KeySource::Sealed(path) => match open_sealed(path, search)? {
            Some(ring) => ring,
            None => return Ok(None),
        },
        // Never among the searched sources: a key given as it is.
        KeySource::Given => return Ok(None),
    };
    Ok(Some(Found::new(keyring, source, shadowed)))
}

/// Opens a sealed keyring for [`find`]: `None` when the user has no
/// identity that is a recipient, or only one protected by a passphrase that
/// cannot be asked for (as with no key at all: the encrypted file is
/// skipped, and [`places`] says why); an error for a wrong passphrase or a
/// damaged file. A keyring opened once is remembered for the rest of
/// the process (per file contents and identity settings), so a passphrase is
/// asked once.
fn open_sealed(path: &Path, search: &Search<'_>) -> Result<Option<Keyring>> {
    use crate::team::{Identities, TeamErrorKind};
    type Cache = Mutex<HashMap<[u8; 32], Keyring>>;
    static OPENED: OnceLock<Cache> = OnceLock::new();
    let contents = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    let mut hasher = sha2::Sha256::new();
    hasher.update(path.as_os_str().as_encoded_bytes());
    hasher.update([0]);
    hasher.update(&contents[..]);
    for var in [
        "ENVCLOAK_IDENTITY",
        "ENVCLOAK_IDENTITY_FILE",
        "HOME",
        "XDG_CONFIG_HOME",
    ] {
        hasher.update([0]);
        hasher.update(Zeroizing::new((search.env)(var).unwrap_or_default()).as_bytes());
    }
    let id: [u8; 32] = hasher.finalize().into();
    let cache = OPENED.get_or_init(Default::default);
    if let Some(ring) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
    {
        return Ok(Some(ring.clone()));
    }
    let ids = Identities::find(search.env)?;
    let prompt = crate::team::passphrase_prompt();
    let prompt_ref = prompt
        .as_ref()
        .map(|p| p as &dyn Fn(&str) -> Option<Zeroizing<String>>);
    match ids.open(&contents, path, prompt_ref) {
        Ok(ring) => {
            cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, ring.clone());
            Ok(Some(ring))
        }
        // No key for this user: the file is skipped as with no key at all
        // (a program whose values all come from its environment still
        // starts), and `places` says why.
        Err(Error::Team {
            kind:
                TeamErrorKind::NoIdentity
                | TeamErrorKind::NotARecipient
                | TeamErrorKind::PassphraseNeeded,
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Like [`find`], but no key is an [`Error::KeyNotFound`] listing every
/// place looked in.
pub fn require(search: &Search<'_>) -> Result<Found> {
    find(search)?.ok_or_else(|| Error::KeyNotFound {
        path: search.encrypted.to_path_buf(),
        looked: places(search),
    })
}

fn parse(text: &str, origin: &str) -> Result<Keyring> {
    Keyring::parse(text).map_err(|e| Error::Key {
        origin: origin.into(),
        reason: e.to_string().into(),
    })
}

// ---------------------------------------------------------------------------
// Variables that are not UTF-8
// ---------------------------------------------------------------------------

/// The variables [`find`] may read for `search`, in order:
/// `ENVCLOAK_KEY_<PROFILE>` (when it applies), `ENVCLOAK_KEY`,
/// `ENVCLOAK_KEY_FILE`, `ENVCLOAK_KEY_CMD`, `ENVCLOAK_KEY_CMD_TIMEOUT`.
pub fn key_vars(search: &Search<'_>) -> Vec<String> {
    let mut out: Vec<String> = profile_var(search).into_iter().collect();
    out.extend(
        [
            "ENVCLOAK_KEY",
            "ENVCLOAK_KEY_FILE",
            KEY_CMD_VAR,
            KEY_CMD_TIMEOUT_VAR,
        ]
        .map(String::from),
    );
    out
}

/// Reads one variable of the process environment: `Ok(None)` when it is
/// unset, an [`Error::Key`] naming the variable (never its contents) when it
/// is set but not valid UTF-8, where [`std::env::var`] would say "unset"
/// and a key source would be silently skipped.
///
/// ```
/// let path = envcloak::keys::process_env_var("ENVCLOAK_SURELY_UNSET_VARIABLE")?;
/// assert_eq!(path, None);
/// # Ok::<(), envcloak::Error>(())
/// ```
pub fn process_env_var(name: &str) -> Result<Option<String>> {
    env_value_utf8(name, std::env::var_os(name))
}

/// Checks that every variable [`find`] may read for `search`
/// ([`key_vars`]) is, in the process environment, either unset or valid
/// UTF-8. Call it before [`find`] when [`Search::env`] reads the process
/// environment: `Search::env` returns `Option<String>` and cannot report a
/// variable that is not UTF-8, so without this check `ENVCLOAK_KEY` (or
/// `ENVCLOAK_KEY_FILE`, ...) holding such bytes would count as unset and a
/// lower source would be used instead.
///
/// The error is [`Error::Key`] with the variable as origin and
/// "not valid UTF-8" as reason; it never contains the bytes.
pub fn check_process_env_utf8(search: &Search<'_>) -> Result<()> {
    check_env_utf8(search, &|name: &str| std::env::var_os(name))
}

/// [`check_process_env_utf8`] with another environment: `var_os` returns a
/// variable's raw value, as [`std::env::var_os`] does.
pub fn check_env_utf8(
    search: &Search<'_>,
    var_os: &dyn Fn(&str) -> Option<OsString>,
) -> Result<()> {
    for name in key_vars(search) {
        env_value_utf8(&name, var_os(&name))?;
    }
    Ok(())
}

fn env_value_utf8(name: &str, value: Option<OsString>) -> Result<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    value.into_string().map(Some).map_err(|bytes| {
        wipe_os_string(bytes);
        Error::Key {
            origin: name.into(),
            reason: "not valid UTF-8: a key variable must hold UTF-8 text (a fernet key is ASCII)"
                .into(),
        }
    })
}

#[cfg(unix)]
fn wipe_os_string(value: OsString) {
    use std::os::unix::ffi::OsStringExt as _;
    value.into_vec().zeroize();
}

#[cfg(not(unix))]
fn wipe_os_string(_: OsString) {}

// ---------------------------------------------------------------------------
// Key files
// ---------------------------------------------------------------------------

/// Reads a key file: a regular file owned by the current user or root and
/// not readable or writable by group or others (as ssh insists), holding a
/// key or a keyring as [`Keyring::parse`] reads it (keys separated by commas
/// or lines, `#` comments, CRLF, a UTF-8 byte order mark).
pub fn read_key_file(path: &Path) -> Result<Keyring> {
    let origin = || path.display().to_string().into_boxed_str();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Key {
            origin: origin(),
            reason: "not a regular file".into(),
        });
    }
    check_permissions(path, &meta)?;
    if meta.len() > MAX_KEY_TEXT as u64 {
        return Err(Error::Key {
            origin: origin(),
            reason: "larger than 64 KiB: not a key file".into(),
        });
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(Error::Key {
            origin: origin(),
            reason: "the file is UTF-16 text: save it as UTF-8 (or ASCII)".into(),
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::Key {
        origin: origin(),
        reason: "not UTF-8 text".into(),
    })?;
    parse(text, &path.display().to_string())
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let owner = meta.uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != 0 && owner != me {
        return Err(Error::Key {
            origin: path.display().to_string().into(),
            reason: format!(
                "the file is owned by another user (uid {owner}), who can change the key; \
                 like ssh, envcloak reads only key files owned by you (uid {me}) or root: \
                 run 'chown {me} {}' as root, or copy the key into a file of your own",
                path.display()
            )
            .into(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Key {
            origin: path.display().to_string().into(),
            reason: format!(
                "permissions {mode:04o} are too open: group or others can read the key; run 'chmod 600 {}'",
                path.display()
            )
            .into(),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path, _: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

// ---------------------------------------------------------------------------
// The key command
// ---------------------------------------------------------------------------

fn cmd_error(reason: impl Into<Box<str>>) -> Error {
    Error::Key {
        origin: KEY_CMD_VAR.into(),
        reason: reason.into(),
    }
}

/// `ENVCLOAK_KEY_CMD_TIMEOUT` (seconds, whole or decimal, above 0), or the
/// default of 30 s when it is unset or empty.
fn key_cmd_timeout(search: &Search<'_>) -> Result<Duration> {
    let Some(text) = (search.env)(KEY_CMD_TIMEOUT_VAR).filter(|v| !v.trim().is_empty()) else {
        return Ok(DEFAULT_KEY_CMD_TIMEOUT);
    };
    parse_seconds(&text).ok_or_else(|| Error::Key {
        origin: KEY_CMD_TIMEOUT_VAR.into(),
        reason: "not a number of seconds: expected a number above 0, such as 30 or 2.5".into(),
    })
}

/// A positive number of seconds: digits with at most one `.` (no sign,
/// exponent, `inf` or `nan`).
fn parse_seconds(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || text.bytes().filter(|&b| b == b'.').count() > 1
    {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
}

/// One remembered run of a key command: its keyring or its error.
type CommandOutcome = Arc<OnceLock<Result<Keyring>>>;

/// The keyring `cmd` prints, running it at most once per process (per
/// working directory): `check` and a loader with several encrypted files
/// look for a key several times, and a secret manager's CLI may be slow,
/// rate-limited or ask for a touch. The command text is remembered only as
/// a SHA-256 digest; the keyring zeroizes its keys when the process ends.
fn key_from_command(cmd: &str, timeout: Duration) -> Result<Keyring> {
    static RUNS: OnceLock<Mutex<HashMap<[u8; 32], CommandOutcome>>> = OnceLock::new();
    let mut hasher = sha2::Sha256::new();
    if let Ok(dir) = std::env::current_dir() {
        hasher.update(dir.to_string_lossy().as_bytes());
    }
    hasher.update([0]);
    hasher.update(cmd.as_bytes());
    let id: [u8; 32] = hasher.finalize().into();
    let outcome = Arc::clone(
        RUNS.get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_default(),
    );
    // Other threads asking for the same command wait for this run.
    outcome
        .get_or_init(|| {
            let out = run_key_command(cmd, timeout)?;
            parse(&out, KEY_CMD_VAR)
        })
        .clone()
}

/// What the reader thread has collected from the command's stdout.
struct Captured {
    /// The bytes read so far; allocated once at its full size, so no copy
    /// is left behind by a reallocation.
    bytes: Zeroizing<Vec<u8>>,
    /// The command printed more than [`MAX_KEY_TEXT`].
    overflow: bool,
    /// The output has been taken: anything read later is dropped.
    closed: bool,
}

fn lock(captured: &Mutex<Captured>) -> std::sync::MutexGuard<'_, Captured> {
    captured.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the reader thread reports.
enum Read {
    /// Some bytes were added to [`Captured`].
    Data,
    /// End of file (or a read error): the output is complete.
    End,
}

/// Copies `stdout` into `captured` until end of file, reporting on `events`.
fn read_output(mut stdout: ChildStdout, captured: &Mutex<Captured>, events: &mpsc::Sender<Read>) {
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        match stdout.read(&mut chunk[..]) {
            Ok(0) => break,
            Ok(n) => {
                let mut c = lock(captured);
                if c.closed {
                    continue;
                }
                if c.bytes.len() + n > MAX_KEY_TEXT {
                    c.overflow = true;
                } else {
                    c.bytes.extend_from_slice(&chunk[..n]);
                }
                drop(c);
                let _ = events.send(Read::Data);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = events.send(Read::End);
}

/// Waits, once the command has exited, until its output is complete (end
/// of file), or for at most the grace period when a background process
/// still holds the pipe.
fn wait_for_output(events: &mpsc::Receiver<Read>) {
    let exited = Instant::now();
    let mut got_data = false;
    loop {
        let grace = if got_data {
            KEY_CMD_GRACE
        } else {
            KEY_CMD_GRACE_EMPTY
        };
        let left = grace.saturating_sub(exited.elapsed());
        match events.recv_timeout(left) {
            Ok(Read::Data) => got_data = true,
            Ok(Read::End) | Err(_) => return,
        }
    }
}

/// Stops the command after a timeout or failure. Only the `sh` it started
/// is killed (no process group: the command may need the terminal).
fn stop(child: &mut Child, captured: &Mutex<Captured>) {
    let _ = child.kill();
    let _ = child.wait();
    let mut c = lock(captured);
    c.closed = true;
    c.bytes.zeroize();
}

/// Runs `sh -c CMD` (stdin empty, stderr passed through) and returns its
/// trimmed standard output.
///
/// Standard output is read on a helper thread while this one polls the
/// command, so that a background process the command leaves behind holding
/// the pipe (`echo KEY; sleep 100 &`) is not waited for: once the command
/// has exited, its output gets [`KEY_CMD_GRACE`] to arrive
/// ([`KEY_CMD_GRACE_EMPTY`] while none has). After `timeout`
/// the command is killed.
fn run_key_command(cmd: &str, timeout: Duration) -> Result<Zeroizing<String>> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| cmd_error(format!("could not run 'sh': {e}")))?;
    let captured = Arc::new(Mutex::new(Captured {
        bytes: Zeroizing::new(Vec::with_capacity(MAX_KEY_TEXT)),
        overflow: false,
        closed: false,
    }));
    let (events_tx, events_rx) = mpsc::channel();
    let Some(stdout) = child.stdout.take() else {
        stop(&mut child, &captured);
        return Err(cmd_error("could not read the command's output"));
    };
    let reader = Arc::clone(&captured);
    let spawned = std::thread::Builder::new()
        .name("envcloak-key-cmd".into())
        .spawn(move || read_output(stdout, &reader, &events_tx));
    if let Err(e) = spawned {
        stop(&mut child, &captured);
        return Err(cmd_error(format!(
            "could not start a thread to read the command's output: {e}"
        )));
    }

    let deadline = Instant::now().checked_add(timeout);
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                stop(&mut child, &captured);
                return Err(cmd_error(format!("could not wait for the command: {e}")));
            }
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            stop(&mut child, &captured);
            return Err(cmd_error(format!(
                "the command did not finish within {} s and was stopped; \
                 set {KEY_CMD_TIMEOUT_VAR} to the number of seconds to wait (default {})",
                timeout.as_secs_f64(),
                DEFAULT_KEY_CMD_TIMEOUT.as_secs()
            )));
        }
        let left = deadline.map_or(pause, |d| d.saturating_duration_since(now));
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(25));
    };
    // The output is complete at end of file; a background process that
    // still holds the pipe gets only the grace period.
    if status.success() {
        wait_for_output(&events_rx);
    }
    let (stdout, overflow) = {
        let mut c = lock(&captured);
        c.closed = true;
        (std::mem::take(&mut c.bytes), c.overflow)
    };
    if !status.success() {
        return Err(cmd_error(format!("the command failed ({status})")));
    }
    if overflow {
        return Err(cmd_error(
            "the command printed more than 64 KiB: that is not a key",
        ));
    }
    let text = std::str::from_utf8(&stdout)
        .map_err(|_| cmd_error("the command printed something that is not UTF-8"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(cmd_error("the command printed nothing"));
    }
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search<'a>(env: &'a dyn Fn(&str) -> Option<String>, encrypted: &'a Path) -> Search<'a> {
        Search {
            env,
            profile: None,
            encrypted,
        }
    }

    #[test]
    fn profile_key_var_is_exportable() {
        assert_eq!(profile_key_var("production"), "ENVCLOAK_KEY_PRODUCTION");
        assert_eq!(profile_key_var("my-app"), "ENVCLOAK_KEY_MY_APP");
        assert_eq!(profile_key_var("eu_West-2"), "ENVCLOAK_KEY_EU_WEST_2");
        let env = |_: &str| None;
        let s = Search {
            env: &env,
            profile: Some("my-app"),
            encrypted: Path::new(".env.my-app.enc"),
        };
        assert_eq!(profile_var(&s).as_deref(), Some("ENVCLOAK_KEY_MY_APP"));
        assert_eq!(places(&s)[0], "ENVCLOAK_KEY_MY_APP");
        // `.env.enc` keeps its own key even with a profile.
        let s = Search {
            encrypted: Path::new(".env.enc"),
            ..s
        };
        assert_eq!(profile_var(&s), None);
    }

    #[cfg(unix)]
    #[test]
    fn variables_that_are_not_utf8_are_errors_not_unset() {
        use std::os::unix::ffi::OsStringExt as _;
        let env = |_: &str| None;
        let s = Search {
            env: &env,
            profile: Some("my-app"),
            encrypted: Path::new(".env.my-app.enc"),
        };
        let bad = || OsString::from_vec(b"gAAAA\xff\xfe-secretish".to_vec());
        for name in [
            "ENVCLOAK_KEY_MY_APP",
            "ENVCLOAK_KEY",
            "ENVCLOAK_KEY_FILE",
            "ENVCLOAK_KEY_CMD",
            "ENVCLOAK_KEY_CMD_TIMEOUT",
        ] {
            let var_os = |n: &str| (n == name).then(bad);
            let err = check_env_utf8(&s, &var_os).unwrap_err();
            let Error::Key { origin, reason } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(&**origin, name);
            assert!(reason.starts_with("not valid UTF-8"), "{reason}");
            assert!(!format!("{err} {err:?}").contains("secretish"));
            assert_eq!(
                err.to_string(),
                format!(
                    "key from {name}: not valid UTF-8: a key variable must hold UTF-8 text (a fernet key is ASCII)"
                )
            );
        }
        // Valid, unset and unrelated variables pass.
        let var_os = |n: &str| match n {
            "ENVCLOAK_KEY" => Some(OsString::from("x")),
            "ENVCLOAK_PROFILE" => Some(bad()),
            _ => None,
        };
        check_env_utf8(&s, &var_os).unwrap();
        assert_eq!(env_value_utf8("A", None).unwrap(), None);
        assert_eq!(
            env_value_utf8("A", Some("v".into())).unwrap().as_deref(),
            Some("v")
        );
        // The process environment itself: unset is fine.
        assert_eq!(
            process_env_var("ENVCLOAK_TEST_SURELY_UNSET_7f3a").unwrap(),
            None
        );
        let env = |_: &str| None;
        check_process_env_utf8(&search(&env, Path::new(".env.enc"))).unwrap_or_else(|e| {
            // Only if the developer's own environment has such a variable.
            assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        });
    }

    #[test]
    fn key_cmd_timeout_parses_seconds() {
        for (text, want) in [
            ("30", Duration::from_secs(30)),
            (" 1 ", Duration::from_secs(1)),
            ("2.5", Duration::from_millis(2500)),
            ("0.25", Duration::from_millis(250)),
            ("600.", Duration::from_secs(600)),
        ] {
            assert_eq!(parse_seconds(text), Some(want), "{text:?}");
        }
        for text in [
            "",
            "0",
            "0.0",
            "-1",
            "+1",
            "1e3",
            "inf",
            "NaN",
            "1.2.3",
            ".",
            "30s",
            "1 0",
            "99999999999999999999999999",
        ] {
            assert_eq!(parse_seconds(text), None, "{text:?}");
        }
        let env = |n: &str| (n == KEY_CMD_TIMEOUT_VAR).then(|| "soon-ish".to_owned());
        let err = key_cmd_timeout(&search(&env, Path::new(".env.enc"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key from ENVCLOAK_KEY_CMD_TIMEOUT: not a number of seconds: expected a number above 0, such as 30 or 2.5"
        );
        let env = |_: &str| None;
        assert_eq!(
            key_cmd_timeout(&search(&env, Path::new(".env.enc"))).unwrap(),
            DEFAULT_KEY_CMD_TIMEOUT
        );
        let env = |_: &str| Some(" ".to_owned());
        assert_eq!(
            key_cmd_timeout(&search(&env, Path::new(".env.enc"))).unwrap(),
            DEFAULT_KEY_CMD_TIMEOUT
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_command_output_and_failures() {
        let t = Duration::from_secs(10);
        assert_eq!(&run_key_command("printf '  abc\\n'", t).unwrap()[..], "abc");
        let err = run_key_command("echo x; exit 3", t).unwrap_err();
        assert!(err.to_string().contains("the command failed"), "{err}");
        let err = run_key_command("true", t).unwrap_err();
        assert!(err.to_string().contains("printed nothing"), "{err}");
        let err = run_key_command("printf '\\377'", t).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        let err = run_key_command("head -c 70000 /dev/zero | tr '\\0' A", t).unwrap_err();
        assert!(err.to_string().contains("more than 64 KiB"), "{err}");
    }
}
