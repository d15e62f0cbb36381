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
    dotenv::parse(text).map(drop).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line,
        reason: e.kind.to_string().into(),
    })
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
