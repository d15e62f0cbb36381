//! The one error type of the library, and [`Origin`], where a value came from.
//!
//! Every message names the key, the file and line or layer, the expected type
//! and the reason. None ever contains a configuration value: not `Display`,
//! not `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crypto::DecryptError;

/// Where an effective value comes from. Shown in errors and by
/// [`Config::source_of`](crate::Config::source_of); never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// The process environment (or the environment given to the builder).
    Environment,
    /// `NAME_FILE` indirection: the variable that named the file, and the file.
    FileIndirection {
        /// The `NAME_FILE` variable.
        var: Arc<str>,
        /// The file it named.
        path: Arc<Path>,
    },
    /// A plaintext dotenv file, with the line the entry starts on.
    Dotenv {
        /// The file.
        path: Arc<Path>,
        /// 1-based line number.
        line: u32,
    },
    /// An encrypted dotenv file, with the line inside the decrypted text.
    Encrypted {
        /// The encrypted file.
        path: Arc<Path>,
        /// 1-based line number in the plaintext.
        line: u32,
    },
    /// A file in a secrets directory (`/run/secrets/NAME`).
    SecretsDir {
        /// The file that holds the value.
        path: Arc<Path>,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Environment => f.write_str("process environment"),
            Origin::FileIndirection { var, path } => write!(f, "{var} ({})", path.display()),
            Origin::Dotenv { path, line } | Origin::Encrypted { path, line } => {
                write!(f, "{}:{line}", path.display())
            }
            Origin::SecretsDir { path } => write!(f, "secrets dir {}", path.display()),
        }
    }
}

/// Everything that can go wrong while loading or reading configuration.
///
/// Variants carry the key, path and line where they apply, never a value.
/// `Debug` prints the same one line as `Display`, so that
/// `fn main() -> Result<(), envcloak::Error>` reports an error the way a
/// user reads it:
///
/// ```
/// let err = envcloak::Config::builder()
///     .isolated()
///     .environment([("PORT", "eighty")])
///     .build()?
///     .get::<u16>("PORT")
///     .unwrap_err();
/// assert_eq!(format!("{err:?}"), err.to_string());
/// assert_eq!(err.to_string(), "PORT: expected u16 (from process environment): not a valid integer");
/// # Ok::<(), envcloak::Error>(())
/// ```
#[derive(Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No layer has the key and no default was given.
    #[error("{key}: not set (looked in {}){}", searched.join(", "), skipped_note(skipped))]
    Missing {
        /// The key asked for.
        key: Box<str>,
        /// The layers that were searched, highest first.
        searched: Vec<String>,
        /// Encrypted files that exist but were not read because no key was found.
        skipped: Vec<PathBuf>,
    },
    /// A value was found but does not cast to the type asked for.
    #[error("{key}: expected {expected} (from {origin}): {reason}")]
    Invalid {
        /// The key.
        key: Box<str>,
        /// Where the value came from.
        origin: Origin,
        /// The type asked for, e.g. `u16` or `bool`.
        expected: Box<str>,
        /// Why it failed; never quotes the value.
        reason: Box<str>,
    },
    /// A dotenv file (plaintext or decrypted) has a syntax error.
    #[error("{}:{line}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u32,
        /// What is wrong; never quotes the line.
        reason: Box<str>,
    },
    /// A dotenv file (plaintext or decrypted) still holds the conflict
    /// markers of a merge (`<<<<<<< ours` ... `>>>>>>> theirs`): both
    /// versions of an entry are in it, and a person has to keep one
    /// (`envcloak edit`).
    #[error(
        "unresolved merge conflict at {}:{line}{}",
        path.display(),
        key.as_deref().map(|k| format!(" (key {k})")).unwrap_or_default()
    )]
    Conflict {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first marker.
        line: u32,
        /// The first key in the conflict block, when there is one.
        key: Option<Box<str>>,
    },
    /// An encrypted file could not be opened with the key that was found.
    #[error("{}: {kind}{}", path.display(), key_note(key.as_deref()))]
    Decrypt {
        /// The encrypted file.
        path: PathBuf,
        /// Why: not a token, truncated, authentication failed, expired, ...
        kind: DecryptError,
        /// What was tried, when known: `the key from ENVCLOAK_KEY in the
        /// environment, which wins over .env.key`, `the password from
        /// ENVCLOAK_PASSWORD`.
        key: Option<Box<str>>,
    },
    /// An encrypted file exists, a key was required, and none was found.
    #[error("{}: no key found (looked in {})", path.display(), looked.join(", "))]
    KeyNotFound {
        /// The encrypted file.
        path: PathBuf,
        /// Every place that was looked in, in order.
        looked: Vec<String>,
    },
    /// A key was found but is unusable (bad format, loose file permissions,
    /// failing key command).
    #[error("key from {origin}: {reason}")]
    Key {
        /// Where the key came from (`ENVCLOAK_KEY`, `.env.key`, ...).
        origin: Box<str>,
        /// What is wrong, with the fix where there is one.
        reason: Box<str>,
    },
    /// Typed deserialization of a whole struct failed.
    #[error("{field}: {reason}")]
    Deserialize {
        /// The field path (`db.port`) or key.
        field: Box<str>,
        /// Why; never quotes the value.
        reason: Box<str>,
    },
    /// The configuration does not satisfy `.env.example`
    /// ([`Config::check_against`](crate::Config::check_against)): every
    /// problem, one per entry, without values.
    #[error("{} problem(s) against {}: {}", problems.len(), example.display(), problems.join("; "))]
    Check {
        /// The example file.
        example: PathBuf,
        /// The problems, as `check` prints them.
        problems: Vec<String>,
    },
    /// Another envcloak process kept the write lock of a file for longer
    /// than the lock timeout (60 s, or `ENVCLOAK_LOCK_TIMEOUT`).
    #[error(
        "{}: gave up after {waited_secs} s waiting for another envcloak writing it (set ENVCLOAK_LOCK_TIMEOUT to wait longer)",
        path.display()
    )]
    LockTimeout {
        /// The file that was to be written.
        path: PathBuf,
        /// How long it waited, in whole seconds.
        waited_secs: u64,
    },
    /// An envcloak setting (an `ENVCLOAK_*` variable or a builder choice)
    /// is invalid.
    #[error("{name}: {reason}")]
    Setting {
        /// The variable or option (`ENVCLOAK_LOCK_TIMEOUT`, `--profile`, ...).
        name: Box<str>,
        /// What is wrong; never quotes a value.
        reason: Box<str>,
    },
    /// Team access (DESIGN §9): a recipients file, an identity or a sealed
    /// keyring (`.env.key.age`) that cannot be used. Never quotes a key.
    #[error("{}: {reason}", path.display())]
    Team {
        /// The file (or variable) concerned.
        path: PathBuf,
        /// What went wrong, for callers that match on it.
        kind: crate::team::TeamErrorKind,
        /// The message, with the fix where there is one.
        reason: Box<str>,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: Arc<std::io::Error>,
    },
}

impl fmt::Debug for Error {
    /// The `Display` message: what `main` prints when it returns this error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn key_note(key: Option<&str>) -> String {
    key.map(|k| format!(" (tried {k})")).unwrap_or_default()
}

fn skipped_note(skipped: &[PathBuf]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let names: Vec<String> = skipped.iter().map(|p| p.display().to_string()).collect();
    format!(
        "; {} not read: no key (set ENVCLOAK_KEY or create .env.key)",
        names.join(", ")
    )
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn from_io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// An [`Error::Parse`] for a dotenv syntax error in `path`.
    /// Conflict markers give an [`Error::Conflict`].
    pub(crate) fn parse(path: impl Into<PathBuf>, e: crate::dotenv::ParseError) -> Self {
        if let crate::dotenv::ParseErrorKind::ConflictMarker { key } = e.kind {
            return Error::Conflict {
                path: path.into(),
                line: e.line,
                key: key.map(|k| k.to_string().into()),
            };
        }
        Error::Parse {
            path: path.into(),
            line: e.line,
            reason: e.kind.to_string().into(),
        }
    }

    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::from_io(path.as_ref(), source)
    }

    /// For an [`Error::Decrypt`] whose key was tried and failed: records
    /// where it came from (see
    /// [`keys::Found::describe`](crate::keys::Found::describe)). Other
    /// errors are returned as they are.
    pub fn tried_key(self, source: impl std::fmt::Display) -> Self {
        self.tried(format!("the key from {source}"))
    }

    /// Like [`tried_key`](Self::tried_key), for a password.
    pub fn tried_password(self, source: impl std::fmt::Display) -> Self {
        self.tried(format!("the password from {source}"))
    }

    fn tried(self, what: String) -> Self {
        match self {
            Error::Decrypt { path, kind, .. }
                if matches!(
                    kind,
                    DecryptError::Authentication | DecryptError::WrongPassword
                ) =>
            {
                Error::Decrypt {
                    path,
                    kind,
                    key: Some(what.into()),
                }
            }
            other => other,
        }
    }

    /// The key this error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Missing { key, .. } | Error::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// `Result` with envcloak's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 96,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn origins_read_like_file_and_line() {
        let o = Origin::Dotenv {
            path: Path::new(".env").into(),
            line: 12,
        };
        assert_eq!(o.to_string(), ".env:12");
        assert_eq!(Origin::Environment.to_string(), "process environment");
    }

    #[test]
    fn loading_a_file_with_conflict_markers_is_a_conflict_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "A=1\n<<<<<<< ours\nB=ours-secret\n=======\nB=theirs-secret\n>>>>>>> theirs\n",
        )
        .unwrap();
        let err = crate::Config::builder()
            .isolated()
            .dir(dir.path())
            .build()
            .unwrap_err();
        match &err {
            Error::Conflict { line, key, .. } => {
                assert_eq!((*line, key.as_deref()), (2, Some("B")));
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().starts_with("unresolved merge conflict at "));
        assert!(err.to_string().ends_with(".env:2 (key B)"), "{err}");
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn missing_names_skipped_encrypted_files() {
        let e = Error::Missing {
            key: "SECRET_KEY".into(),
            searched: vec!["process environment".into(), ".env".into()],
            skipped: vec![PathBuf::from(".env.enc")],
        };
        assert_eq!(
            e.to_string(),
            "SECRET_KEY: not set (looked in process environment, .env); .env.enc not read: no key (set ENVCLOAK_KEY or create .env.key)"
        );
    }
}
