//! # envcloak
//!
//! Typed configuration and secrets for Rust services, the way Python's
//! python-decouple reads them: from the process environment, over a local
//! `.env`, over the team's encrypted `.env.enc` (Fernet, the token format of
//! Python's `cryptography`), cast to the type you ask for. Secrets never
//! appear in `Debug`, `Display` or error messages.
//!
//! This page is a tutorial, in the order you will need it. Every example
//! runs as a test.
//!
//! ## 1. Reading a value
//!
//! At start-up, ask for each setting with the type you want:
//!
//! ```no_run
//! use envcloak::{config, config_or, Csv, SecretString};
//!
//! let secret: SecretString = config("SECRET_KEY")?;     // Error::Missing if no layer has it
//! let debug: bool = config_or("DEBUG", false)?;         // typed default, never cast
//! let port: u16 = config_or("PORT", 8000)?;
//! let hosts: Csv<String> = config("ALLOWED_HOSTS")?;    // "a, b,c" -> ["a", "b", "c"]
//! let db: Option<String> = config("DATABASE_URL")?;     // None when absent
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! [`config`] and [`config_or`] read one process-wide [`Config`], built on
//! first use by [`Config::auto`]. To build one yourself — in a test, or
//! for a service that keeps its configuration in a struct — use
//! [`Config::builder`]; [`ConfigBuilder::isolated`] reads only what you
//! give it:
//!
//! ```
//! use envcloak::Config;
//! let cfg = Config::builder()
//!     .isolated()
//!     .environment([("PORT", "8080")])
//!     .build()?;
//! let port: u16 = cfg.get("PORT")?;
//! assert_eq!(port, 8080);
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! ## 2. Casts and defaults
//!
//! [`FromValue`] casts raw values. `bool` takes `y yes t true on 1` and
//! `n no f false off 0` in any case, and an empty value is `false`; numbers
//! and booleans ignore surrounding whitespace; strings are exact. Also:
//! every integer and float, `char`, `PathBuf`, IP and socket addresses,
//! [`Duration`](std::time::Duration) (`30s`, `5m`, `250ms`), `Option<T>`,
//! [`Csv<T>`], [`Json<T>`], [`SecretString`] and `SecretBox<T>`. Your own
//! types: [`Parsed<T>`] (or [`from_str_value!`]) for anything with
//! `FromStr`, [`Config::get_with`] with a closure, [`Choices`] for a fixed
//! set. A default is returned as given; a value that is present but does
//! not cast is an error, never silently the default.
//!
//! ```
//! use envcloak::{Choices, Config, Csv, Parsed};
//! use std::net::Ipv4Addr;
//! use std::time::Duration;
//!
//! let cfg = Config::builder()
//!     .isolated()
//!     .environment([
//!         ("DEBUG", "Yes"),
//!         ("HOSTS", "a.example, b.example,,"),
//!         ("TIMEOUT", "250ms"),
//!         ("BIND", "10.0.0.1"),
//!         ("LOG_LEVEL", "warn"),
//!     ])
//!     .build()?;
//! assert!(cfg.get::<bool>("DEBUG")?);
//! assert_eq!(cfg.get::<Csv<String>>("HOSTS")?.len(), 2);
//! assert_eq!(cfg.get::<Duration>("TIMEOUT")?, Duration::from_millis(250));
//! assert_eq!(*cfg.get::<Parsed<Ipv4Addr>>("BIND")?, Ipv4Addr::new(10, 0, 0, 1));
//! assert_eq!(cfg.get_or("WORKERS", 4u8)?, 4);
//! let level = cfg.get_with("LOG_LEVEL", Choices::new(["debug", "info", "warn"]))?;
//! assert_eq!(level, "warn");
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! ## 3. Secrets
//!
//! Ask for a [`SecretString`] (secrecy's type): its `Debug` and `Display`
//! print a redaction marker, and you read the value with
//! [`ExposeSecret::expose_secret`] where you use it. Decrypted text and
//! keys are wiped from memory when dropped.
//!
//! ```
//! use envcloak::{Config, ExposeSecret, SecretString};
//! let cfg = Config::builder().isolated().environment([("API_TOKEN", "t0k3n")]).build()?;
//! let token: SecretString = cfg.get("API_TOKEN")?;
//! assert_eq!(format!("{token:?}"), "SecretBox<str>([REDACTED])");
//! assert_eq!(token.expose_secret(), "t0k3n");
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! ## 4. Precedence, and where a value came from
//!
//! [`Config::auto`] finds the project root — the current directory or the
//! nearest parent holding `.env`, `.env.enc`, `.env.example` or `.git` —
//! and layers, highest first:
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
//! Your `.env` ranks above the team's `.env.enc` on purpose: you may
//! override a team value. [`Config::source_of`] says which layer won,
//! without the value:
//!
//! ```
//! use envcloak::{Config, Origin};
//! # let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join(".env"), "# local\nDEBUG=on\nPORT=8000\n")?;
//! let cfg = Config::builder()
//!     .dir(dir.path())
//!     .environment([("PORT", "9000")])
//!     .build()?;
//! assert_eq!(cfg.get::<u16>("PORT")?, 9000);
//! assert_eq!(cfg.source_of("PORT"), Some(Origin::Environment));
//! assert!(matches!(cfg.source_of("DEBUG"), Some(Origin::Dotenv { line: 2, .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## 5. `.env.enc`, and where keys come from
//!
//! `.env.enc` is your `.env` encrypted into one Fernet token: committed,
//! opened in memory (nothing decrypted touches the disk), and readable by
//! Python's `Fernet(key).decrypt(...)`. The key comes from, in order,
//! `ENVCLOAK_KEY_<PROFILE>` (for `.env.<profile>.enc`), `ENVCLOAK_KEY`, the
//! file named by `ENVCLOAK_KEY_FILE`, the output of `ENVCLOAK_KEY_CMD` (a
//! secret manager's CLI), then `.env.key` beside the file (gitignored,
//! 0600). Several comma-separated keys are a keyring: the first encrypts,
//! all decrypt — that is how `envcloak rotate` works. A key that does not
//! open the file is an error naming where the key came from; envcloak
//! never falls through to a lower layer. The command-line tool makes these
//! files (`envcloak encrypt`, `envcloak set KEY`); here the library does:
//!
//! ```
//! use envcloak::crypto::{self, Key, Keyring};
//! use envcloak::{Config, ExposeSecret, Origin, SecretString};
//! # let dir = tempfile::tempdir()?;
//! let key = Key::generate();
//! let token = crypto::encrypt(&Keyring::from(key.clone()), b"SECRET_KEY=team-secret\n");
//! std::fs::write(dir.path().join(".env.enc"), format!("{token}\n"))?;
//!
//! // As CI would: the key in ENVCLOAK_KEY.
//! let cfg = Config::builder()
//!     .dir(dir.path())
//!     .environment([("ENVCLOAK_KEY", key.to_base64().as_str())])
//!     .build()?;
//! let secret: SecretString = cfg.get("SECRET_KEY")?;
//! assert_eq!(secret.expose_secret(), "team-secret");
//! assert!(matches!(cfg.source_of("SECRET_KEY"), Some(Origin::Encrypted { line: 1, .. })));
//!
//! // Without a key the file is skipped, and "not set" says why.
//! let cfg = Config::builder().dir(dir.path()).environment([("X", "1")]).build()?;
//! let err = cfg.get::<String>("SECRET_KEY").unwrap_err();
//! assert!(err.to_string().contains(".env.enc not read: no key"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Everything the command-line tool does to a vault is a library call in
//! [`vault`] — [`vault::set`], [`vault::unset`], [`vault::update`],
//! [`vault::save_edit`] (an edit merged by key with what others wrote
//! meanwhile), [`vault::rotate`], [`vault::change_password`],
//! [`vault::replace`] (encrypt) — each holding the file's write lock
//! ([`fsio::WriteLock`]) from the read to the atomic rename, so two
//! processes never lose each other's update. In git, [`git`] is what
//! `envcloak git enroll` sets up: a textconv that shows keys with keyed
//! fingerprints instead of values, and a merge driver that merges
//! `.env.enc` by key ([`merge`]) in memory, conflicts staying encrypted.
//!
//! Instead of passing one key around, a team can seal it to each member's
//! SSH or age key ([`team`]): `.env.recipients` lists who, `.env.key.age`
//! holds the keyring encrypted to each of them, and key lookup opens it as
//! its last source with the user's own identity (`ENVCLOAK_IDENTITY` in CI,
//! `~/.ssh/id_ed25519` on a laptop).
//!
//! ## 6. The team workflow: `.env.example`, check, init
//!
//! The team commits `.env.example`: every key the app reads, no real
//! values, with directives above a key (`# @optional`, `# @type int`,
//! `# @generate hex:32`). [`check`] compares a project's configuration
//! with it — what `envcloak check` prints — and [`example::init_text`] makes
//! a newcomer's `.env`, with fresh generated secrets ([`example::init`]
//! writes it, as `envcloak init` does; [`gitignore`] keeps it out of git):
//!
//! ```
//! use envcloak::check::{check, CheckOptions};
//! use envcloak::example::{init_text, Example};
//! # let dir = tempfile::tempdir()?;
//! let example = "# @generate hex:16\nSECRET_KEY=\n# @type int\nPORT=8000\nDATABASE_URL=\n";
//! std::fs::write(dir.path().join(".env.example"), example)?;
//!
//! let made = init_text(&Example::parse(dir.path().join(".env.example"), example.into())?)?;
//! assert_eq!(made.needs_value, ["DATABASE_URL"]);
//! std::fs::write(dir.path().join(".env"), made.text.as_str())?;
//!
//! let report = check(&CheckOptions::new(dir.path()).process_env(false))?;
//! let kinds: Vec<&str> = report.problems.iter().map(|p| p.kind).collect();
//! assert!(kinds.contains(&"empty"), "{kinds:?}"); // DATABASE_URL still needs a value
//! assert!(!report.ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## 7. CI
//!
//! Store the key as a CI secret named `ENVCLOAK_KEY`, then either let the
//! service read `.env.enc` itself at start-up, or run the tests with
//! `envcloak run -- cargo test`: the child gets the values in its
//! environment, never the key. The library never calls
//! `std::env::set_var`; to hand the configuration to a child process, use
//! [`Config::apply_to`]:
//!
//! ```
//! use envcloak::Config;
//! let cfg = Config::builder()
//!     .isolated()
//!     .environment([("GREETING", "hello")])
//!     .build()?;
//! let mut cmd = std::process::Command::new("true");
//! cfg.apply_to(&mut cmd)?; // file layers only: the environment is inherited anyway
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! ## 8. Typed settings, and config-rs
//!
//! With the default `config-rs` feature, [`Config::deserialize`] fills a
//! whole struct through config-rs (names matched case-insensitively, `__`
//! for nesting, python-decouple's booleans and lists), and a [`Config`] is a
//! `config::Source` for config-rs users:
//!
//! ```
//! # #[cfg(feature = "config-rs")] {
//! use envcloak::{Config, ExposeSecret, SecretString};
//! #[derive(serde::Deserialize)]
//! struct Settings {
//!     debug: bool,
//!     port: u16,
//!     #[serde(deserialize_with = "envcloak::secret_string")]
//!     secret_key: SecretString,
//! }
//! let cfg = Config::builder()
//!     .isolated()
//!     .environment([("DEBUG", "on"), ("PORT", "8080"), ("SECRET_KEY", "s3")])
//!     .build()?;
//! let s: Settings = cfg.deserialize()?;
//! assert!(s.debug && s.port == 8080 && s.secret_key.expose_secret() == "s3");
//! # }
//! # Ok::<(), envcloak::Error>(())
//! ```
//!
//! ## 9. Errors
//!
//! One [`Error`] enum to match on — [`Error::Missing`], [`Error::Invalid`],
//! [`Error::Parse`], [`Error::Decrypt`], [`Error::KeyNotFound`], … — each
//! naming the key, where the value came from and why, never the value.
//! Its `Debug` is the same one line, so `fn main() -> Result<(),
//! envcloak::Error>` prints what a user can act on:
//!
//! ```
//! use envcloak::{Config, Error};
//! let cfg = Config::builder().isolated().environment([("PORT", "hunter2")]).build()?;
//! let err = cfg.get::<u16>("PORT").unwrap_err();
//! assert!(matches!(err, Error::Invalid { .. }));
//! assert_eq!(err.to_string(), "PORT: expected u16 (from process environment): not a valid integer");
//! assert_eq!(format!("{err:?}"), err.to_string());
//! # Ok::<(), envcloak::Error>(())
//! ```

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
pub mod git;
pub mod gitignore;
pub mod keys;
mod layer;
pub mod merge;
#[cfg(feature = "config-rs")]
mod settings;
pub mod team;
pub mod vault;

use std::sync::OnceLock;

pub use cast::{Cast, CastError, Choices, Csv, FromValue, Json, Parsed, secret_string};
pub use config::{Config, ConfigBuilder, Definition, Shadowed, project_root, valid_profile};
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
/// Fails closed in CI: when `CI` is set (to anything but an empty value,
/// `false` or `0`, as GitHub Actions, GitLab CI and others set it) and an
/// encrypted file exists that no key opens, every call returns
/// [`Error::KeyNotFound`] naming the file and the places searched for a
/// key, rather than a later "not set" for some value. Outside CI such a
/// file is skipped (and a missing key's error says so). Build your own
/// [`Config`] with [`ConfigBuilder::require_key`] to choose either way.
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
