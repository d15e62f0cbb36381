//! Encrypted dotenv files as whole files: open to plaintext in memory,
//! seal plaintext back atomically. The CLI's `encrypt`, `decrypt`, `edit`,
//! `set`, `unset` and `rotate` are built on these.
//!
//! A change is a read-modify-write: take the file's
//! [`fsio::WriteLock`] with [`fsio::lock`] first, then
//! [`read`], [`open`], change the text, and [`seal`] — which asks for the
//! lock, so a write without one does not compile.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::crypto::{self, Keyring, PasswordHeader};
use crate::dotenv;
use crate::error::{Error, Result};
use crate::fsio::{self, WriteLock};
use crate::merge::Summary;

/// What seals (and opens) an encrypted file: a keyring, or a password with
/// its PBKDF2 iteration count.
#[derive(Clone)]
pub enum Sealer {
    /// A Fernet key or keyring (the first key encrypts).
    Keys(Keyring),
    /// Password mode: a fresh salt for a new password, the file's own when
    /// it is re-sealed under the password that opened it.
    Password {
        /// The password.
        password: Zeroizing<String>,
        /// PBKDF2 iterations for the next write.
        iterations: u32,
        /// The salt for the next write: the file's own when the file is
        /// re-sealed under the password that opened it (the key is then
        /// derived once per command); `None` for a fresh one.
        salt: Option<Vec<u8>>,
    },
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sealer::Keys(ring) => write!(f, "Sealer::Keys({ring:?})"),
            Sealer::Password { iterations, .. } => {
                write!(f, "Sealer::Password(<redacted>, {iterations} iterations)")
            }
        }
    }
}

/// Reads an encrypted file's raw contents.
pub fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(path, std::io::Error::other("not a regular file")));
    }
    Ok(Zeroizing::new(
        std::fs::read(path).map_err(|e| Error::io(path, e))?,
    ))
}

/// The password header of an encrypted file's contents, if it has one.
pub fn password_header(path: &Path, contents: &[u8]) -> Result<Option<PasswordHeader>> {
    crypto::split_file(contents)
        .map(|(h, _)| h)
        .map_err(|kind| Error::Decrypt {
            path: path.to_path_buf(),
            kind,
            key: None,
        })
}

/// Decrypts `contents` (read from `path`) to UTF-8 text. The text is not
/// checked for dotenv syntax here (so a damaged file can still be shown and
/// fixed); [`seal`] checks it before anything is written. Nothing is
/// written anywhere.
pub fn open(
    path: &Path,
    contents: &[u8],
    sealer: &Sealer,
    ttl: Option<Duration>,
) -> Result<Zeroizing<String>> {
    let bytes = match sealer {
        Sealer::Keys(ring) => crypto::decrypt(ring, contents, ttl),
        Sealer::Password { password, .. } => {
            crypto::decrypt_with_password(password.as_bytes(), contents, ttl)
        }
    }
    .map_err(|kind| Error::Decrypt {
        path: path.to_path_buf(),
        kind,
        key: None,
    })?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(e) => {
            let good = e.valid_up_to();
            let line = bytes[..good].iter().filter(|&&b| b == b'\n').count() as u32 + 1;
            Err(Error::Parse {
                path: path.to_path_buf(),
                line,
                reason: "the decrypted text is not valid UTF-8".into(),
            })
        }
    }
}

/// Checks that `text` is dotenv text that parses, naming `path` and the line.
pub fn validate(path: &Path, text: &str) -> Result<()> {
    dotenv::parse(text)
        .map(drop)
        .map_err(|e| Error::parse(path, e))
}

/// The file contents that seal `plaintext`.
pub fn seal_to_string(plaintext: &str, sealer: &Sealer) -> String {
    let mut out = match sealer {
        Sealer::Keys(ring) => crypto::encrypt(ring, plaintext.as_bytes()),
        Sealer::Password {
            password,
            iterations,
            salt: Some(salt),
        } => crypto::encrypt_with_password_salt(
            password.as_bytes(),
            plaintext.as_bytes(),
            *iterations,
            salt.clone(),
        ),
        Sealer::Password {
            password,
            iterations,
            salt: None,
        } => crypto::encrypt_with_password(password.as_bytes(), plaintext.as_bytes(), *iterations),
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Validates `plaintext`, encrypts it and replaces `path` atomically (the
/// old file stays whole if anything fails). A new file gets mode 0644: it is
/// meant to be committed. `lock` must be the write lock that covers `path`,
/// taken before the file was read.
pub fn seal(path: &Path, plaintext: &str, sealer: &Sealer, lock: &WriteLock) -> Result<()> {
    lock.check_covers(path)?;
    validate(path, plaintext)?;
    let contents = seal_to_string(plaintext, sealer);
    fsio::write_atomic(path, contents.as_bytes(), None)
}

// ---------------------------------------------------------------------------
// Changing a vault: open, set, unset, save an edit — each under the lock
// ---------------------------------------------------------------------------

/// How an encrypted file is opened for a change.
#[derive(Clone)]
#[non_exhaustive]
pub enum Access {
    /// Look for a key as [`keys::find`](crate::keys::find) does: the process
    /// environment (`ENVCLOAK_KEY_<PROFILE>`, `ENVCLOAK_KEY`,
    /// `ENVCLOAK_KEY_FILE`, `ENVCLOAK_KEY_CMD`), then `.env.key` beside the
    /// file. For a password-mode file, `ENVCLOAK_PASSWORD`.
    Search {
        /// The active profile, if any.
        profile: Option<String>,
    },
    /// Read the key from this file (the CLI's `--key-file`).
    KeyFile(std::path::PathBuf),
    /// A password, for a password-mode file.
    Password(Zeroizing<String>),
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Search { profile } => write!(f, "Access::Search({profile:?})"),
            Access::KeyFile(p) => write!(f, "Access::KeyFile({})", p.display()),
            Access::Password(_) => f.write_str("Access::Password(<redacted>)"),
        }
    }
}

/// An encrypted file opened in memory: its plaintext, the sealer that
/// writes it back (the same keyring, or the same password and salt), and
/// the bytes it was read from (to tell later whether someone changed it).
pub struct Opened {
    /// The decrypted text.
    pub text: Zeroizing<String>,
    /// What seals it back.
    pub sealer: Sealer,
    /// The file's contents when it was opened.
    pub contents: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opened({:?}, <redacted>)", self.sealer)
    }
}

/// Whether the encrypted file at `path` is in password mode (so a caller
/// knows to ask for a password before [`open_with`]).
pub fn is_password_file(path: &Path) -> Result<bool> {
    let contents = read(path)?;
    Ok(password_header(path, &contents)?.is_some())
}

/// Opens the encrypted file at `path` with `access`, with nothing written
/// anywhere. A key that does not open it is an [`Error::Decrypt`] naming
/// where the key came from and what it shadows; no key is an
/// [`Error::KeyNotFound`] listing where it looked.
pub fn open_with(path: &Path, access: &Access, ttl: Option<Duration>) -> Result<Opened> {
    let contents = read(path)?;
    let (sealer, tried) = match (password_header(path, &contents)?, access) {
        (Some(header), _) => {
            let (password, from) = match access {
                Access::Password(p) => (p.clone(), "the password given"),
                _ => match std::env::var("ENVCLOAK_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty())
                {
                    Some(p) => (Zeroizing::new(p), "ENVCLOAK_PASSWORD"),
                    None => {
                        return Err(Error::Decrypt {
                            path: path.to_path_buf(),
                            kind: crypto::DecryptError::PasswordRequired,
                            key: None,
                        });
                    }
                },
            };
            (
                Sealer::Password {
                    password,
                    iterations: header.iterations,
                    salt: Some(header.salt),
                },
                Tried::Password(from),
            )
        }
        (None, Access::KeyFile(file)) => (
            Sealer::Keys(crate::keys::read_key_file(file)?),
            Tried::Key(crate::keys::KeySource::Named(file.clone()).to_string()),
        ),
        (None, Access::Password(_)) => {
            return Err(Error::Decrypt {
                path: path.to_path_buf(),
                kind: crypto::DecryptError::BadHeader(
                    "missing: the file is encrypted with a key, not a password",
                ),
                key: None,
            });
        }
        (None, Access::Search { profile }) => {
            let env = |name: &str| std::env::var(name).ok();
            let search = crate::keys::Search {
                env: &env,
                profile: profile.as_deref(),
                encrypted: path,
            };
            crate::keys::check_process_env_utf8(&search)?;
            let found = crate::keys::require(&search)?;
            let tried = found.describe();
            (Sealer::Keys(found.keyring), Tried::Key(tried))
        }
    };
    let text = open(path, &contents, &sealer, ttl).map_err(|e| match &tried {
        Tried::Key(from) => e.tried_key(from),
        Tried::Password(from) => e.tried_password(from),
    })?;
    Ok(Opened {
        text,
        sealer,
        contents,
    })
}

enum Tried {
    Key(String),
    Password(&'static str),
}

/// A read-modify-write of the encrypted file at `path`, under its write
/// lock: opens it with `access`, gives the text to `change`, and seals what
/// `change` returns (`None`: nothing to write). Returns whether it wrote.
pub fn update(
    path: &Path,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    change: impl FnOnce(&str) -> Result<Option<Zeroizing<String>>>,
) -> Result<bool> {
    let guard = fsio::lock_with(path, lock)?;
    let opened = open_with(path, access, None)?;
    match change(&opened.text)? {
        Some(new) => {
            seal(path, &new, &opened.sealer, &guard)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Sets `key` to `value` in the encrypted file at `path` (the entry
/// rewritten in place, or appended), under its write lock.
///
/// ```
/// use envcloak::crypto::{self, Key, Keyring};
/// use envcloak::fsio::LockOptions;
/// use envcloak::vault::{self, Access};
/// # let dir = tempfile::tempdir()?;
/// let key = Key::generate();
/// let file = dir.path().join(".env.enc");
/// let keyfile = dir.path().join("team.key");
/// std::fs::write(&file, crypto::encrypt(&Keyring::from(key.clone()), b"A=1\n"))?;
/// # { use std::os::unix::fs::PermissionsExt;
/// std::fs::write(&keyfile, key.to_base64().as_str())?;
/// std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600))?; }
/// let access = Access::KeyFile(keyfile);
/// vault::set(&file, &access, &LockOptions::from_env()?, "B", "two words")?;
/// assert!(vault::unset(&file, &access, &LockOptions::from_env()?, "A")?);
/// assert_eq!(vault::open_with(&file, &access, None)?.text.as_str(), "B='two words'\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set(
    path: &Path,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    key: &str,
    value: &str,
) -> Result<()> {
    update(path, access, lock, |text| {
        dotenv::set_entry(text, key, value)
            .map(|t| Some(Zeroizing::new(t)))
            .map_err(|e| Error::parse(path, e))
    })
    .map(drop)
}

/// Removes every entry for `key` from the encrypted file at `path`, under
/// its write lock. `Ok(false)` (and nothing written) when it has none.
pub fn unset(
    path: &Path,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    key: &str,
) -> Result<bool> {
    update(path, access, lock, |text| {
        let (new, removed) = dotenv::remove_entry(text, key).map_err(|e| Error::parse(path, e))?;
        Ok((removed > 0).then(|| Zeroizing::new(new)))
    })
}

/// What [`save_edit`] did. Its `Debug` leaves the text out.
#[non_exhaustive]
pub enum Saved {
    /// Nobody else had changed the file: the edit was sealed as it was.
    Saved,
    /// Someone else changed the file meanwhile, on other keys: both sides'
    /// changes were merged by key and sealed.
    Merged,
    /// Both changed the same keys differently: nothing was written. `text`
    /// is the merged text with both versions of each key between markers,
    /// to edit again; `base` is the file as it is now, to save against.
    Conflict {
        /// The merged text with conflict markers.
        text: Zeroizing<String>,
        /// The keys in conflict.
        keys: Vec<String>,
        /// The file as it is now.
        base: Box<Opened>,
    },
}

impl fmt::Debug for Saved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Saved::Saved => f.write_str("Saved"),
            Saved::Merged => f.write_str("Merged"),
            Saved::Conflict { keys, .. } => write!(f, "Conflict({keys:?}, <redacted>)"),
        }
    }
}

/// Saves `edited`, an edit of `base` (opened earlier with [`open_with`],
/// without holding the lock while a person edited): under the write lock,
/// if the file is still as `base` read it, `edited` is sealed; if someone
/// changed it meanwhile (even re-keyed it), the two are merged by key with
/// [`merge`](crate::merge::merge) and sealed with what opens the file now,
/// or, when a key changed on both sides, [`Saved::Conflict`] comes back and
/// nothing is written. `edited` must be valid dotenv text.
pub fn save_edit(
    path: &Path,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    base: &Opened,
    edited: &str,
) -> Result<Saved> {
    validate(path, edited)?;
    let guard = fsio::lock_with(path, lock)?;
    let now = read(path)?;
    if *now == *base.contents {
        seal(path, edited, &base.sealer, &guard)?;
        return Ok(Saved::Saved);
    }
    let theirs = open_with(path, access, None)?;
    let merged =
        crate::merge::merge(&base.text, edited, &theirs.text).map_err(|e| Error::parse(path, e))?;
    if merged.conflicts.is_empty() {
        seal(path, &merged.text, &theirs.sealer, &guard)?;
        return Ok(Saved::Merged);
    }
    Ok(Saved::Conflict {
        text: merged.text,
        keys: merged.conflicts,
        base: Box::new(theirs),
    })
}

/// Where [`rotate`] put the new keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotated {
    /// Written to this key file (the one the key was read from).
    KeyFile(std::path::PathBuf),
    /// Handed to the `show` callback (the key came from a variable or a
    /// command, which only the user can update).
    Shown,
}

/// A new key first in the keyring (or, with `drop_old`, only the first
/// key kept), and the file re-encrypted with it, under the write locks of
/// the file and of its key file.
///
/// When the key was read from a file (`.env.key`, `ENVCLOAK_KEY_FILE`,
/// [`Access::KeyFile`]), `write` must be given and the new keyring goes
/// there, in an order that leaves a key file that opens the file whenever
/// the process is killed: first every key (new and old), then the file
/// sealed with the new key, then the key file narrowed. When it came from a
/// variable or a command, `write` is refused (the variable would still
/// win), and the new keyring is handed to `show` — before the file is
/// sealed with it, and not sealed at all if `show` fails. A password-mode
/// file is [`change_password`]'s.
pub fn rotate<E: From<Error>>(
    path: &Path,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    drop_old: bool,
    write: bool,
    show: impl FnOnce(&Keyring) -> std::result::Result<(), E>,
) -> std::result::Result<Rotated, E> {
    let source = key_source(path, access)?;
    if let Some(crate::keys::KeySource::Sealed(sealed)) = &source {
        // A new key here would leave the team's sealed keyring behind.
        return Err(Error::Key {
            origin: sealed.display().to_string().into(),
            reason: "the keyring is sealed to the team: rotate it with 'envcloak team sync \
                     --rekey', which re-encrypts the files and re-seals the keyring"
                .into(),
        }
        .into());
    }
    let key_file = source
        .as_ref()
        .and_then(|s| s.file())
        .map(Path::to_path_buf);
    let mut targets = vec![path];
    targets.extend(key_file.as_deref());
    let guards = fsio::lock_all_with(&targets, lock)?;
    let guard = guards
        .iter()
        .find(|g| g.check_covers(path).is_ok())
        .ok_or_else(|| Error::io(path, std::io::Error::other("no lock covers the file")))?;
    let opened = open_with(path, access, None)?;
    let Sealer::Keys(old) = &opened.sealer else {
        return Err(Error::Key {
            origin: "password".into(),
            reason: "this file is encrypted with a password: change the password instead".into(),
        }
        .into());
    };
    let origin = source.map(|s| s.to_string()).unwrap_or_default();
    match (&key_file, write) {
        (None, true) => {
            return Err(Error::Key {
                origin: origin.into(),
                reason: "it would still take precedence over a key file written now: store \
                         the new keyring where it comes from instead (rotate without --write), \
                         or name a key file"
                    .into(),
            }
            .into());
        }
        (Some(file), false) => {
            return Err(Error::Key {
                origin: file.display().to_string().into(),
                reason: format!(
                    "without writing the new keyring there, it would no longer open {}; \
                     nothing was changed (rotate with --write)",
                    path.display()
                )
                .into(),
            }
            .into());
        }
        _ => {}
    }
    let ring = if drop_old {
        Keyring::from(old.first().clone())
    } else {
        let mut keys = vec![crypto::Key::generate()];
        keys.extend(old.keys().iter().cloned());
        Keyring::new(keys).map_err(|e| Error::Key {
            origin: origin.clone().into(),
            reason: e.to_string().into(),
        })?
    };
    match &key_file {
        Some(file) => {
            let mut both: Vec<crypto::Key> = ring.keys().to_vec();
            both.extend(
                old.keys()
                    .iter()
                    .filter(|k| !ring.keys().contains(k))
                    .cloned(),
            );
            let both = Keyring::new(both).map_err(|e| Error::Key {
                origin: origin.clone().into(),
                reason: e.to_string().into(),
            })?;
            // With --drop-old `both` is the keyring already stored.
            if both != *old {
                write_keyring(file, &both)?;
            }
            seal(path, &opened.text, &Sealer::Keys(ring.clone()), guard)?;
            if both != ring {
                write_keyring(file, &ring)?;
            }
            Ok(Rotated::KeyFile(file.clone()))
        }
        None => {
            show(&ring)?;
            seal(path, &opened.text, &Sealer::Keys(ring), guard)?;
            Ok(Rotated::Shown)
        }
    }
}

/// Where the key for `path` comes from under `access` (`None` for a
/// password, or when no key is found). A key file or command is read to
/// find out; nothing is written.
pub fn key_source(path: &Path, access: &Access) -> Result<Option<crate::keys::KeySource>> {
    Ok(match access {
        Access::KeyFile(file) => Some(crate::keys::KeySource::Named(file.clone())),
        Access::Password(_) => None,
        Access::Search { profile } => {
            let env = |name: &str| std::env::var(name).ok();
            let search = crate::keys::Search {
                env: &env,
                profile: profile.as_deref(),
                encrypted: path,
            };
            crate::keys::find(&search)?.map(|f| f.source)
        }
    })
}

fn write_keyring(path: &Path, ring: &Keyring) -> Result<()> {
    let mut line = ring.to_base64();
    line.push('\n');
    fsio::write_atomic(path, line.as_bytes(), Some(0o600))
}

/// Re-encrypts the password-mode file at `path` under `new` (with a new
/// salt, and at least the default iteration count), under its write lock;
/// `access` must open it (the current password). The same password again
/// is refused.
pub fn change_password(
    path: &Path,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    new: Zeroizing<String>,
) -> Result<()> {
    let guard = fsio::lock_with(path, lock)?;
    let opened = open_with(path, access, None)?;
    let Sealer::Password {
        password,
        iterations,
        ..
    } = &opened.sealer
    else {
        return Err(Error::Key {
            origin: path.display().to_string().into(),
            reason: "encrypted with a key, not a password: rotate the key instead".into(),
        });
    };
    if *password == new {
        return Err(Error::Setting {
            name: "the new password".into(),
            reason: format!(
                "is the same as the current one; {} is unchanged",
                path.display()
            )
            .into(),
        });
    }
    let sealer = Sealer::Password {
        password: new,
        // The count recorded in the file may be higher than ours: keep it.
        iterations: (*iterations).max(crypto::DEFAULT_ITERATIONS),
        salt: None,
    };
    seal(path, &opened.text, &sealer, &guard)
}

/// What [`replace`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replaced {
    /// The file already held this plaintext: left alone (and `git diff`
    /// with it).
    Unchanged,
    /// The file was written.
    Written,
}

/// Encrypts `plaintext` (a whole dotenv text) into `path`, under its write
/// lock: what `envcloak encrypt` and `init --encrypt` do.
///
/// An existing file is replaced only when `access` opens it — never with a
/// file its current readers cannot open — and is sealed the same way (the
/// same keyring, or the same password, with at least `iterations` when
/// given); an unchanged plaintext leaves it alone. A new file is sealed
/// with what `new` returns, called under the lock (a keyring found, a key
/// file just made, a new password). `ready` runs under the lock just before
/// the write (to make sure git ignores the plaintext, say).
///
/// [`replace_reviewed`] also shows what changes, by key, before it writes.
pub fn replace<E: From<Error>>(
    path: &Path,
    plaintext: &str,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    iterations: Option<u32>,
    new: impl FnOnce() -> std::result::Result<Sealer, E>,
    ready: impl FnOnce() -> std::result::Result<(), E>,
) -> std::result::Result<Replaced, E> {
    replace_reviewed(
        path,
        plaintext,
        access,
        lock,
        iterations,
        new,
        |_| Ok(()),
        ready,
    )
}

/// Like [`replace`], with a say before an existing file is replaced: under
/// the lock, once the file is open and its text differs from `plaintext`,
/// `review` gets what would change, by key ([`merge::summary`](crate::merge::summary) of the file's
/// text and `plaintext`: names only) — or, when the file's own text is not
/// dotenv (an unresolved merge conflict, say), the [`Error::Parse`] that
/// says where. An error from `review` stops everything: nothing is
/// written, `ready` does not run. `review` is not called for a new file
/// or an unchanged one.
///
/// Reading, comparing, deciding and writing happen under one lock, so a
/// change another process makes meanwhile (a teammate's `set`) is either
/// in what `review` sees or waits for this write: it is never overwritten
/// unseen. This is how `envcloak encrypt` refuses to drop keys that only
/// the encrypted file holds:
///
/// ```
/// use envcloak::crypto::{self, Key, Keyring};
/// use envcloak::fsio::LockOptions;
/// use envcloak::vault::{self, Access, Replaced, Sealer};
/// # let dir = tempfile::tempdir()?;
/// # let key = Key::generate();
/// # let keyfile = dir.path().join("team.key");
/// # { use std::os::unix::fs::PermissionsExt;
/// # std::fs::write(&keyfile, key.to_base64().as_str())?;
/// # std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600))?; }
/// let file = dir.path().join(".env.enc");
/// std::fs::write(&file, crypto::encrypt(&Keyring::from(key), b"A=1\nTEAM_ONLY=x\n"))?;
/// let access = Access::KeyFile(keyfile);
/// let no_new = || -> Result<Sealer, envcloak::Error> { unreachable!("the file exists") };
/// let keep_keys = |change: Result<&envcloak::merge::Summary, &envcloak::Error>| match change {
///     Ok(s) if s.removed.is_empty() => Ok(()),
///     Ok(s) => Err(envcloak::Error::Setting {
///         name: "encrypt".into(),
///         reason: format!("would remove {}", s.removed.join(", ")).into(),
///     }),
///     Err(e) => Err(e.clone()),
/// };
/// let lock = LockOptions::from_env()?;
/// let err = vault::replace_reviewed(&file, "A=2\n", &access, &lock, None, no_new, keep_keys, || Ok(()))
///     .unwrap_err();
/// assert_eq!(err.to_string(), "encrypt: would remove TEAM_ONLY");
/// let done = vault::replace_reviewed(&file, "A=2\nTEAM_ONLY=x\n", &access, &lock, None, no_new, keep_keys, || Ok(()))?;
/// assert_eq!(done, Replaced::Written);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn replace_reviewed<E: From<Error>>(
    path: &Path,
    plaintext: &str,
    access: &Access,
    lock: &fsio::LockOptions<'_>,
    iterations: Option<u32>,
    new: impl FnOnce() -> std::result::Result<Sealer, E>,
    review: impl FnOnce(std::result::Result<&Summary, &Error>) -> std::result::Result<(), E>,
    ready: impl FnOnce() -> std::result::Result<(), E>,
) -> std::result::Result<Replaced, E> {
    validate(path, plaintext)?;
    let guard = fsio::lock_with(path, lock)?;
    let exists = std::fs::symlink_metadata(path).is_ok();
    let sealer = if exists {
        let opened = open_with(path, access, None)?;
        if *opened.text == *plaintext {
            ready()?;
            return Ok(Replaced::Unchanged);
        }
        match crate::merge::summary(&opened.text, plaintext) {
            Ok(summary) => review(Ok(&summary))?,
            Err(e) => review(Err(&Error::parse(path, e)))?,
        }
        match opened.sealer {
            Sealer::Password {
                password,
                iterations: recorded,
                salt,
            } => {
                let wanted = iterations.unwrap_or(recorded).max(recorded);
                Sealer::Password {
                    password,
                    iterations: wanted,
                    salt: if wanted == recorded { salt } else { None },
                }
            }
            keys => keys,
        }
    } else {
        new()?
    };
    ready()?;
    seal(path, plaintext, &sealer, &guard)?;
    Ok(Replaced::Written)
}
