//! # envcloak
//!
//! Typed configuration and secrets for Rust services, the way Python's
//! python-decouple reads them: from the process environment, over a local
//! `.env`, over the team's encrypted `.env.enc` (Fernet, the token format of
//! Python's `cryptography`), cast to the type you ask for.
//!
//! ```no_run
//! use envcloak::{config, config_or, Csv, ExposeSecret, SecretString};
//!
//! let secret: SecretString = config("SECRET_KEY")?;      // Error::Missing if absent
//! let debug: bool = config_or("DEBUG", false)?;          // typed default, never cast
//! let port: u16 = config_or("PORT", 8000)?;
//! let hosts: Csv<String> = config("ALLOWED_HOSTS")?;     // "a, b,c" -> ["a","b","c"]
//! let db: Option<String> = config("DATABASE_URL")?;      // None when absent
//!
//! println!("{secret:?}");                               // SecretBox<str>([REDACTED])
//! let _use_it: &str = secret.expose_secret();
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! ## Where values come from
//!
//! [`Config::auto`] (behind [`config`] and [`config_or`]) finds the project
//! root — the current directory or the nearest parent holding `.env`,
//! `.env.enc`, `.env.example` or `.git` — and layers, highest first:
//!
//! | # | layer | notes |
//! |---|---|---|
//! | 1 | process environment | an empty variable counts as set |
//! | 2 | `NAME_FILE` | when `NAME` is unset and `NAME_FILE` names a file: its contents, one trailing newline removed |
//! | 3 | secrets directories | only when added with [`ConfigBuilder::secrets_dir`] |
//! | 4 | `.env.<profile>`, then `.env` | profile from `ENVCLOAK_PROFILE` |
//! | 5 | `.env.<profile>.enc`, then `.env.enc` | when a key is found; skipped (and named in "not set" errors) otherwise |
//! | 6 | the default given at the call | returned as given |
//!
//! An encrypted file that a found key does not open is an error: envcloak
//! never falls through to a lower layer with a wrong key.
//!
//! ## Casting
//!
//! [`FromValue`] casts raw values. `bool` takes `y yes t true on 1` and
//! `n no f false off 0` in any case, and an empty value is `false`; numbers
//! and booleans ignore surrounding whitespace; strings are exact. Also:
//! every integer and float, `char`, `PathBuf`, IP and socket addresses,
//! [`Duration`](std::time::Duration) (`30s`, `5m`, `250ms`), `Option<T>`,
//! [`Csv<T>`], [`Json<T>`], [`SecretString`] and `SecretBox<T>`. Your own
//! types: [`from_str_value!`] or [`Parsed<T>`] for anything with `FromStr`,
//! [`Config::get_with`] with a closure, and [`Choices`] for a fixed set.
//!
//! ```
//! use envcloak::{Config, Csv, Parsed};
//! use std::net::Ipv4Addr;
//! use std::time::Duration;
//!
//! let cfg = Config::builder()
//!     .environment([("HOSTS", "a.example, b.example,,"), ("TIMEOUT", "250ms"), ("BIND", "10.0.0.1")])
//!     .build()?;
//! let hosts: Csv<String> = cfg.get("HOSTS")?;
//! let timeout: Duration = cfg.get("TIMEOUT")?;
//! let bind: Parsed<Ipv4Addr> = cfg.get("BIND")?;
//! assert_eq!(hosts.len(), 2);
//! assert_eq!(timeout, Duration::from_millis(250));
//! assert_eq!(*bind, Ipv4Addr::new(10, 0, 0, 1));
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! ## Errors never show values
//!
//! An [`Error`] names the key, where the value came from and why it failed —
//! `PORT: expected u16 (from .env:7): not a valid integer` — and never the
//! value, whatever its type. [`Config`]'s `Debug` shows layers and key
//! names only.
//!
//! ```
//! use envcloak::{Config, Error};
//! let cfg = Config::builder().environment([("PORT", "hunter2")]).build()?;
//! let err = cfg.get::<u16>("PORT").unwrap_err();
//! assert!(matches!(err, Error::Invalid { .. }));
//! assert_eq!(err.to_string(), "PORT: expected u16 (from process environment): not a valid integer");
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! The library never calls `std::env::set_var`; to hand the configuration to
//! a child process use [`Config::apply_to`] (or the CLI's `envcloak run`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cast;
pub mod check;
mod config;
pub mod crypto;
pub mod dotenv;
mod error;
pub mod example;
pub mod fsio;
pub mod gitignore;
pub mod keys;
mod layer;
pub mod merge;
#[cfg(feature = "config-rs")]
mod settings;
pub mod vault;

use std::sync::OnceLock;

pub use cast::{Cast, CastError, Choices, Csv, FromValue, Json, Parsed, secret_string};
pub use config::{Config, ConfigBuilder, project_root, valid_profile};
pub use error::{Error, Origin, Result};
pub use secrecy::{ExposeSecret, SecretBox, SecretString};

/// The process-wide configuration, built on first use by [`Config::auto`].
/// A failed build is kept and returned by every call.
fn global() -> Result<&'static Config> {
    static GLOBAL: OnceLock<Result<Config>> = OnceLock::new();
    GLOBAL
        .get_or_init(Config::auto)
        .as_ref()
        .map_err(Clone::clone)
}

/// The value of `key` from the process-wide configuration, cast to `T`.
///
/// [`Error::Missing`] when no layer has the key (an `Option<T>` gives `None`
/// instead), [`Error::Invalid`] when it does not cast.
///
/// ```no_run
/// let port: u16 = envcloak::config("PORT")?;
/// # Ok::<(), envcloak::Error>(())
/// ```
pub fn config<T: FromValue>(key: &str) -> Result<T> {
    global()?.get(key)
}

/// The value of `key` cast to `T`, or `default` as given when no layer has
/// the key.
///
/// ```no_run
/// let workers: usize = envcloak::config_or("WORKERS", 4)?;
/// # Ok::<(), envcloak::Error>(())
/// ```
pub fn config_or<T: FromValue>(key: &str, default: T) -> Result<T> {
    global()?.get_or(key, default)
}
