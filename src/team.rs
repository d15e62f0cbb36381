//! Per-person access (DESIGN §9): the project's Fernet keyring sealed to
//! each member's SSH or age key, so that nobody passes a key around.
//!
//! Two committed files per keyring:
//!
//! - `.env.recipients` (or `.env.<profile>.recipients`): text, one member a
//!   line, `NAME RECIPIENT`, `#` comments. A recipient is an `ssh-ed25519`
//!   or `ssh-rsa` public key line (a trailing comment is allowed) or an
//!   `age1…` key ([`Recipients::parse`]).
//! - `.env.key.age` (or `.env.<profile>.key.age`): the keyring, encrypted
//!   with [age](https://age-encryption.org) to every recipient, ASCII-armored
//!   ([`seal`]). Its plaintext is exactly what a `.env.key` holds, so
//!   `age -d -i ~/.ssh/id_ed25519 .env.key.age` prints an ordinary keyring,
//!   and any Fernet implementation then opens `.env.enc`.
//!
//! Opening uses the first identities found, in this order
//! ([`Identities::find`]): `ENVCLOAK_IDENTITY` (the identity itself: an
//! `AGE-SECRET-KEY-1…` line or an unencrypted OpenSSH private key, for CI),
//! the file named by `ENVCLOAK_IDENTITY_FILE`, `~/.ssh/id_ed25519`,
//! `~/.ssh/id_rsa`, and envcloak's own age identity,
//! `$XDG_CONFIG_HOME/envcloak/identity.txt` (or
//! `~/.config/envcloak/identity.txt`). A passphrase-protected SSH key is
//! unlocked only when it is a recipient of the file, with the
//! [`Prompt`] the caller gives (the CLI asks on the terminal); without one
//! the error says so ([`TeamErrorKind::PassphraseNeeded`]), never a hang.
//!
//! Messages name members, files and identity *sources*
//! (`~/.ssh/id_ed25519`), never a key: neither the keyring nor a private
//! key pasted where a public one belongs.
//!
//! ```
//! use envcloak::team::{self, Recipients};
//! use envcloak::crypto::{Key, Keyring};
//!
//! let ci = age::x25519::Identity::generate();
//! let text = format!("ci {}\n", ci.to_public());
//! let members = Recipients::parse(&text, ".env.recipients".as_ref())?;
//! let ring = Keyring::from(Key::generate());
//! let armored = team::seal(&ring, &members, ".env.key.age".as_ref())?;
//! assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
//! # Ok::<(), envcloak::Error>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use age::secrecy::{ExposeSecret as _, SecretString};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::crypto::{self, Keyring};
use crate::error::{Error, Result};
use crate::fsio;

mod changes;
mod identities;
mod recipients;

pub use changes::*;
pub use identities::*;
pub use recipients::*;

/// The variable that holds an identity itself (for CI secrets).
pub const IDENTITY_VAR: &str = "ENVCLOAK_IDENTITY";
/// The variable that names an identity file.
pub const IDENTITY_FILE_VAR: &str = "ENVCLOAK_IDENTITY_FILE";
/// The largest recipients or sealed file read (a thousand members fit).
const MAX_TEXT: usize = 1024 * 1024;

/// Asks for the passphrase of a protected SSH key; the argument names the
/// key file (`~/.ssh/id_ed25519`). `None`: it cannot be asked (no terminal).
pub type Prompt<'a> = &'a dyn Fn(&str) -> Option<Zeroizing<String>>;

/// What went wrong with team access, for callers that match on it
/// ([`Error::Team`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TeamErrorKind {
    /// A recipients file or a recipient given is malformed, a private key,
    /// or a duplicate.
    Recipients,
    /// No identity was found (no `ENVCLOAK_IDENTITY*`, no `~/.ssh` key, no
    /// envcloak age identity).
    NoIdentity,
    /// Identities were found but none is a recipient of the sealed file.
    NotARecipient,
    /// The identity that is a recipient is protected by a passphrase and
    /// there is no way to ask for it.
    PassphraseNeeded,
    /// The passphrase given does not unlock the key.
    WrongPassphrase,
    /// An identity (variable or file) could not be read or parsed.
    Identity,
    /// The sealed file is damaged, not an age file, or still holds git
    /// conflict markers.
    Sealed,
    /// A member name that is not there, or a change that is refused.
    Member,
}

// ---------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------

/// The recipients file of a profile (`.env.<profile>.recipients`) or of the
/// base keyring (`.env.recipients`), in `root`.
pub fn recipients_file(root: &Path, profile: Option<&str>) -> PathBuf {
    match profile {
        Some(p) => root.join(format!(".env.{p}.recipients")),
        None => root.join(".env.recipients"),
    }
}

/// The sealed keyring of a profile (`.env.<profile>.key.age`) or of the base
/// keyring (`.env.key.age`), in `root`.
pub fn sealed_file(root: &Path, profile: Option<&str>) -> PathBuf {
    match profile {
        Some(p) => root.join(format!(".env.{p}.key.age")),
        None => root.join(".env.key.age"),
    }
}

/// The recipients file that belongs to a sealed keyring:
/// `.env.key.age` -> `.env.recipients`.
pub fn recipients_for(sealed: &Path) -> PathBuf {
    let name = sealed
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".key.age").unwrap_or(&name);
    sealed.with_file_name(format!("{stem}.recipients"))
}

/// The sealed keyring that belongs to an encrypted file: `X.enc` ->
/// `X.key.age` (`.env.production.enc` -> `.env.production.key.age`).
pub fn sealed_for(encrypted: &Path) -> PathBuf {
    let key = crate::keys::key_file_for(encrypted);
    let mut name = key.file_name().unwrap_or_default().to_os_string();
    name.push(".age");
    key.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_sides_split() {
        let t = "a\n<<<<<<< ours\nb\n||||||| base\nz\n=======\nc\n>>>>>>> theirs\nd\n";
        let (o, th) = conflict_sides(t).unwrap();
        assert_eq!(o, "a\nb\nd\n");
        assert_eq!(th, "a\nc\nd\n");
        assert!(conflict_sides("plain\n").is_none());
    }

    #[test]
    fn names() {
        assert!(valid_name("alice"));
        assert!(valid_name("ci@github"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }

    #[test]
    fn file_names() {
        assert_eq!(sealed_for(Path::new(".env.enc")), Path::new(".env.key.age"));
        assert_eq!(
            sealed_for(Path::new("d/.env.production.enc")),
            Path::new("d/.env.production.key.age")
        );
        assert_eq!(
            recipients_for(Path::new("d/.env.production.key.age")),
            Path::new("d/.env.production.recipients")
        );
    }
}
