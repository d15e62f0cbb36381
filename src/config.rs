//! [`Config`], [`ConfigBuilder`], layer precedence and auto-discovery.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cast::{Cast, CastError, FromValue};
use crate::crypto::{self, Keyring};
use crate::error::{Error, Origin, Result};
use crate::keys;
use crate::layer::{Kind, Layer};

/// Files that mark the root of a project for auto-discovery.
const MARKERS: [&str; 4] = [".env", ".env.enc", ".env.example", ".git"];

/// Layered configuration: the process environment over `NAME_FILE`
/// indirection, secrets directories, `.env` and the encrypted `.env.enc`.
///
/// Built once (by [`Config::auto`] or [`Config::builder`]) and read many
/// times; all files are read and decrypted at build time, so look-ups do no
/// I/O (except `NAME_FILE` indirection, which reads the named file).
///
/// ```
/// use envcloak::Config;
/// let cfg = Config::builder()
///     .environment([("PORT", "8080"), ("DEBUG", "yes")])
///     .build()?;
/// let port: u16 = cfg.get("PORT")?;
/// let debug: bool = cfg.get_or("DEBUG", false)?;
/// let workers: u8 = cfg.get_or("WORKERS", 4)?;
/// assert_eq!((port, debug, workers), (8080, true, 4));
/// # Ok::<(), envcloak::Error>(())
/// ```
///
/// `Clone` copies the values (into buffers that are also zeroized on drop),
/// for handing one to config-rs while keeping it.
#[derive(Clone)]
pub struct Config {
    /// Highest precedence first.
    layers: Vec<Layer>,
    /// `NAME` -> path, from `NAME_FILE` variables of the environment.
    file_refs: HashMap<Box<str>, Arc<Path>>,
    /// Encrypted files that exist but were not read for want of a key.
    skipped: Vec<PathBuf>,
}

/// One layer's definition of a key: where it is, and whether it is the one
/// that counts. From [`Config::definitions`]; never holds the value
/// ([`Config::get_raw_of`] reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Where the definition is: `.env:4`, `.env.enc:2`, the environment, ...
    pub origin: Origin,
    /// Whether this is the effective definition (the highest layer's); the
    /// others are hidden by it.
    pub wins: bool,
    /// Which layer holds it (for [`Config::get_raw_of`]).
    at: At,
}

/// Where a [`Definition`] is among a [`Config`]'s layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// `Config::layers[.0]`.
    Layer(usize),
    /// `NAME_FILE` indirection.
    FileRef,
}

/// A definition of a key that a higher layer hides: `.env:4` hides
/// `.env.enc:2`, the environment hides `.env:3`. From [`Config::shadowed`];
/// names places, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    /// The key.
    pub key: String,
    /// The definition that wins.
    pub by: Origin,
    /// The definition it hides.
    pub hidden: Origin,
}

/// Where a look-up found a key, before any file is read.
enum Located<'a> {
    /// In layer `.1`, at line `.2` (0 when not a file).
    Layer(&'a str, usize, u32),
    /// Through `NAME_FILE` indirection.
    FileRef(&'a Arc<Path>),
}

fn file_ref_origin(key: &str, path: &Arc<Path>) -> Origin {
    Origin::FileIndirection {
        var: format!("{key}_FILE").into(),
        path: path.clone(),
    }
}

/// A value found by a look-up, before casting.
enum Found<'a> {
    Borrowed(&'a str, usize, u32),
    Owned(Zeroizing<String>, Origin),
}

impl Config {
    /// Builds the configuration for the current directory: discovers the
    /// project root (the current directory or the nearest parent holding
    /// `.env`, `.env.enc`, `.env.example` or `.git`), and layers the process
    /// environment, `NAME_FILE` indirection, `.env.<profile>`, `.env`,
    /// `.env.<profile>.enc` and `.env.enc`.
    ///
    /// In CI (`CI` set to anything but an empty value, `false` or `0`), an
    /// encrypted file that no key opens is an [`Error::KeyNotFound`] rather
    /// than skipped: see [`ConfigBuilder::require_key`].
    pub fn auto() -> Result<Config> {
        ConfigBuilder::default().build()
    }

    /// A builder for explicit directories, files, keys and environments.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The value of `key` cast to `T`.
    ///
    /// Errors: [`Error::Missing`] when no layer has it (unless `T` is an
    /// `Option`), [`Error::Invalid`] when it does not cast.
    pub fn get<T: FromValue>(&self, key: &str) -> Result<T> {
        match self.find(key)? {
            Some(found) => self.cast(key, &found, T::expected, T::from_value),
            None => T::when_missing().ok_or_else(|| self.missing(key)),
        }
    }

    /// The value of `key` cast to `T`, or `default` (returned as given) when
    /// no layer has the key. A present value that does not cast is still an
    /// error.
    pub fn get_or<T: FromValue>(&self, key: &str, default: T) -> Result<T> {
        match self.find(key)? {
            Some(found) => self.cast(key, &found, T::expected, T::from_value),
            None => Ok(default),
        }
    }

    /// The value of `key` cast by `cast`: a closure
    /// `Fn(&str) -> Result<T, CastError>` or a [`Choices`](crate::Choices).
    ///
    /// ```
    /// use envcloak::{CastError, Config, Csv};
    /// let cfg = Config::builder().environment([("PATHS", "/a;/b")]).build()?;
    /// let paths = cfg.get_with("PATHS", |raw: &str| Csv::<String>::parse_with(raw, ';'))?;
    /// assert_eq!(paths[..], ["/a", "/b"]);
    /// # Ok::<(), envcloak::Error>(())
    /// ```
    pub fn get_with<T>(&self, key: &str, cast: impl Cast<T>) -> Result<T> {
        match self.find(key)? {
            Some(found) => self.cast(key, &found, || cast.expected(), |raw| cast.cast(raw)),
            None => Err(self.missing(key)),
        }
    }

    /// Like [`get_with`](Self::get_with), with a default for a missing key.
    pub fn get_with_or<T>(&self, key: &str, cast: impl Cast<T>, default: T) -> Result<T> {
        match self.find(key)? {
            Some(found) => self.cast(key, &found, || cast.expected(), |raw| cast.cast(raw)),
            None => Ok(default),
        }
    }

    /// Where the effective value of `key` comes from, or `None` when no layer
    /// has it. Never returns the value.
    ///
    /// ```
    /// use envcloak::{Config, Origin};
    /// let cfg = Config::builder().environment([("A", "1")]).build()?;
    /// assert_eq!(cfg.source_of("A"), Some(Origin::Environment));
    /// assert_eq!(cfg.source_of("B"), None);
    /// # Ok::<(), envcloak::Error>(())
    /// ```
    pub fn source_of(&self, key: &str) -> Option<Origin> {
        Some(match self.locate(key)? {
            Located::Layer(_, i, line) => self.layers[i].origin(key, line),
            Located::FileRef(path) => file_ref_origin(key, path),
        })
    }

    /// Every key defined by a file layer (dotenv, encrypted, secrets
    /// directory), with the origin of its effective value (which may be the
    /// environment, when it overrides the file). Sorted by key. Process
    /// environment variables that no file defines are not listed.
    pub fn keys(&self) -> Vec<(String, Origin)> {
        let mut out = BTreeMap::new();
        for layer in self.layers.iter().filter(|l| l.kind != Kind::Environment) {
            for key in layer.keys() {
                if !out.contains_key(key)
                    && let Some(origin) = self.source_of(key)
                {
                    out.insert(key.to_owned(), origin);
                }
            }
        }
        out.into_iter().collect()
    }

    /// Every layer's definition of `key`, highest precedence first: the
    /// first one [`wins`](Definition::wins) (it is what
    /// [`source_of`](Self::source_of) names), the others are hidden by it.
    /// Empty when no layer has the key. A file that defines the key twice
    /// counts once, at its last definition (the one that counts in it).
    /// Never reads a value.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join(".env"), "# local\nDEBUG=true\n")?;
    /// use envcloak::{Config, Origin};
    /// let cfg = Config::builder()
    ///     .dir(dir.path())
    ///     .environment([("DEBUG", "false")])
    ///     .build()?;
    /// let defs = cfg.definitions("DEBUG");
    /// assert_eq!(defs.len(), 2);
    /// assert!(defs[0].wins && defs[0].origin == Origin::Environment);
    /// assert!(!defs[1].wins && defs[1].origin.to_string().ends_with(".env:2"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn definitions(&self, key: &str) -> Vec<Definition> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some((_, line)) = layer.get(key) {
                out.push(Definition {
                    origin: layer.origin(key, line),
                    wins: out.is_empty(),
                    at: At::Layer(i),
                });
            }
            // `NAME_FILE` stands right below the environment (see `locate`).
            if i == 0
                && layer.kind == Kind::Environment
                && let Some(path) = self.file_refs.get(key)
            {
                out.push(Definition {
                    origin: file_ref_origin(key, path),
                    wins: out.is_empty(),
                    at: At::FileRef,
                });
            }
        }
        out
    }

    /// [`definitions`](Self::definitions) of every key that a file layer
    /// defines (the keys of [`keys`](Self::keys)), sorted by key. The
    /// environment appears where it defines one of those keys (and so
    /// hides the files); variables that no file defines are not listed.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join(".env"), "A=1\nB=2\n")?;
    /// use envcloak::Config;
    /// let cfg = Config::builder()
    ///     .dir(dir.path())
    ///     .environment([("B", "env"), ("HOME", "/home/me")])
    ///     .build()?;
    /// let listed: Vec<(String, usize)> = cfg
    ///     .all_definitions()
    ///     .into_iter()
    ///     .map(|(key, defs)| (key, defs.len()))
    ///     .collect();
    /// assert_eq!(listed, [("A".to_owned(), 1), ("B".to_owned(), 2)]); // no HOME
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn all_definitions(&self) -> Vec<(String, Vec<Definition>)> {
        let mut keys = std::collections::BTreeSet::new();
        for layer in self.layers.iter().filter(|l| l.kind != Kind::Environment) {
            keys.extend(layer.keys());
        }
        keys.into_iter()
            .map(|key| (key.to_owned(), self.definitions(key)))
            .collect()
    }

    /// Every definition that a higher layer hides: for each key of
    /// [`all_definitions`](Self::all_definitions) defined more than once,
    /// one [`Shadowed`] per hidden definition, naming the one that wins.
    /// Sorted by key, then from the highest hidden layer down. This is what
    /// `envcloak check` reports as `shadowed`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join(".env"), "PORT=8000\nDEBUG=true\n")?;
    /// # std::fs::write(dir.path().join(".env.production"), "DEBUG=false\n")?;
    /// use envcloak::Config;
    /// let cfg = Config::builder()
    ///     .dir(dir.path())
    ///     .profile("production")
    ///     .environment([("PORT", "9000")])
    ///     .build()?;
    /// let shadows: Vec<String> = cfg
    ///     .shadowed()
    ///     .iter()
    ///     .map(|s| format!("{}: {} hides {}", s.key, s.by, s.hidden))
    ///     .collect();
    /// let dir = dir.path().display();
    /// assert_eq!(shadows, [
    ///     format!("DEBUG: {dir}/.env.production:1 hides {dir}/.env:2"),
    ///     format!("PORT: process environment hides {dir}/.env:1"),
    /// ]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shadowed(&self) -> Vec<Shadowed> {
        let mut out = Vec::new();
        for (key, defs) in self.all_definitions() {
            let Some((winner, hidden)) = defs.split_first() else {
                continue;
            };
            for d in hidden {
                out.push(Shadowed {
                    key: key.clone(),
                    by: winner.origin.clone(),
                    hidden: d.origin.clone(),
                });
            }
        }
        out
    }

    /// The raw value of one [`Definition`] of `key` (from
    /// [`definitions`](Self::definitions) of this configuration), uncast:
    /// the hidden ones too, for tools that show every layer (the CLI's
    /// `ls --all --show`). `None` when `definition` is not one of `key`'s
    /// here. Prefer [`get`](Self::get) for the value that counts.
    pub fn get_raw_of(&self, key: &str, definition: &Definition) -> Result<Option<SecretString>> {
        Ok(match definition.at {
            At::Layer(i) => self
                .layers
                .get(i)
                .and_then(|layer| layer.get(key))
                .map(|(v, _)| SecretString::from(v)),
            At::FileRef => match self.file_refs.get(key) {
                Some(path) => Some(SecretString::from(read_file_value(path)?.as_str())),
                None => None,
            },
        })
    }

    /// Every key of every layer (the environment included), with the origin
    /// of its effective value. Unsorted.
    #[cfg_attr(not(feature = "config-rs"), allow(dead_code))]
    pub(crate) fn all_keys(&self) -> Vec<(String, Origin)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for layer in &self.layers {
            for key in layer.keys() {
                if seen.insert(key)
                    && let Some(origin) = self.source_of(key)
                {
                    out.push((key.to_owned(), origin));
                }
            }
        }
        for key in self.file_refs.keys() {
            if seen.insert(key)
                && let Some(origin) = self.source_of(key)
            {
                out.push((key.to_string(), origin));
            }
        }
        out
    }

    /// The raw effective value of `key`, uncast, for tools that print or
    /// export values (the CLI's `get`, `run`). Prefer [`get`](Self::get).
    pub fn get_raw(&self, key: &str) -> Result<Option<SecretString>> {
        Ok(self.find(key)?.map(|found| match found {
            Found::Borrowed(v, ..) => SecretString::from(v),
            Found::Owned(v, _) => SecretString::from(v.as_str()),
        }))
    }

    /// Puts every key of the file layers that the environment does not
    /// already define into `cmd`'s environment, so a child process sees the
    /// layered configuration. This is how to export configuration: the
    /// library never calls `std::env::set_var`.
    ///
    /// ```no_run
    /// let cfg = envcloak::Config::auto()?;
    /// let mut cmd = std::process::Command::new("cargo");
    /// cfg.apply_to(&mut cmd.arg("test"))?;
    /// # Ok::<(), envcloak::Error>(())
    /// ```
    ///
    /// A value holding a NUL byte cannot be put in an environment: that is
    /// an [`Error::Invalid`] naming the key (and `cmd` is left as it was).
    pub fn apply_to(&self, cmd: &mut Command) -> Result<()> {
        let mut pairs = Vec::new();
        for (key, origin) in self.keys() {
            if origin == Origin::Environment {
                continue;
            }
            if let Some(value) = self.get_raw(&key)? {
                if value.expose_secret().contains('\0') || key.contains('\0') {
                    return Err(Error::Invalid {
                        key: key.as_str().into(),
                        origin,
                        expected: "a value for an environment variable".into(),
                        reason: "it holds a NUL byte, which an environment cannot carry".into(),
                    });
                }
                pairs.push((key, value));
            }
        }
        for (key, value) in pairs {
            cmd.env(&key, value.expose_secret());
        }
        Ok(())
    }

    /// Names of the layers, highest precedence first.
    pub fn layer_names(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.name.clone()).collect()
    }

    /// Encrypted files that exist but were skipped because no key was found.
    pub fn skipped_encrypted(&self) -> &[PathBuf] {
        &self.skipped
    }

    fn find(&self, key: &str) -> Result<Option<Found<'_>>> {
        Ok(match self.locate(key) {
            None => None,
            Some(Located::Layer(v, i, line)) => Some(Found::Borrowed(v, i, line)),
            Some(Located::FileRef(path)) => Some(Found::Owned(
                read_file_value(path)?,
                file_ref_origin(key, path),
            )),
        })
    }

    /// The layer that holds `key` (highest first), or the `NAME_FILE`
    /// variable that stands in for it right below the environment.
    fn locate(&self, key: &str) -> Option<Located<'_>> {
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some((v, line)) = layer.get(key) {
                return Some(Located::Layer(v, i, line));
            }
            if i == 0
                && layer.kind == Kind::Environment
                && let Some(path) = self.file_refs.get(key)
            {
                return Some(Located::FileRef(path));
            }
        }
        None
    }

    fn cast<T>(
        &self,
        key: &str,
        found: &Found<'_>,
        expected: impl FnOnce() -> std::borrow::Cow<'static, str>,
        cast: impl FnOnce(&str) -> std::result::Result<T, CastError>,
    ) -> Result<T> {
        let raw = match found {
            Found::Borrowed(v, ..) => v,
            Found::Owned(v, _) => v.as_str(),
        };
        cast(raw).map_err(|e| Error::Invalid {
            key: key.into(),
            origin: match found {
                Found::Borrowed(_, i, line) => self.layers[*i].origin(key, *line),
                Found::Owned(_, origin) => origin.clone(),
            },
            expected: expected().into(),
            reason: e.reason().into(),
        })
    }

    fn missing(&self, key: &str) -> Error {
        Error::Missing {
            key: key.into(),
            searched: self.layer_names(),
            skipped: self.skipped.clone(),
        }
    }
}

impl fmt::Debug for Config {
    /// Layers and key names only, never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("layers", &self.layers)
            .field("file_refs", &self.file_refs.keys().collect::<Vec<_>>())
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Reads a `NAME_FILE` or secrets-directory file: one trailing newline
/// (`\n` or `\r\n`) removed.
pub(crate) fn read_file_value(path: &Path) -> Result<Zeroizing<String>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(path, std::io::Error::other("not a regular file")));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    let mut s = Zeroizing::new(
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::io(path, std::io::Error::other("not UTF-8 text")))?,
    );
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

/// Where the environment comes from.
#[derive(Default)]
enum EnvSource {
    #[default]
    Process,
    Given(Vec<(String, Zeroizing<String>)>),
    Off,
}

/// Builds a [`Config`] from explicit choices. Every choice not made keeps
/// the behaviour of [`Config::auto`].
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join(".env"), "DEBUG=on\n")?;
/// use envcloak::Config;
/// let cfg = Config::builder()
///     .dir(dir.path())              // no discovery: this directory's .env files
///     .environment([("PORT", "9000")]) // instead of the real process environment
///     .build()?;
/// assert_eq!(cfg.get::<bool>("DEBUG")?, true);
/// assert_eq!(cfg.get::<u16>("PORT")?, 9000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct ConfigBuilder {
    dir: Option<PathBuf>,
    start: Option<PathBuf>,
    files: Vec<PathBuf>,
    encrypted: Vec<PathBuf>,
    keyring: Option<Keyring>,
    key_file: Option<PathBuf>,
    password: Option<SecretString>,
    secrets_dirs: Vec<PathBuf>,
    profile: Option<String>,
    env: EnvSource,
    ttl: Option<Duration>,
    skip_encrypted: bool,
    /// `Some` when [`ConfigBuilder::require_key`] was called; otherwise
    /// decided by `CI` in the environment source.
    require_key: Option<bool>,
    /// Set by `build`: whether the environment is the process's (whose
    /// key variables must then be valid UTF-8).
    from_process: bool,
    isolated: bool,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("dir", &self.dir)
            .field("files", &self.files)
            .field("encrypted", &self.encrypted)
            .field("keyring", &self.keyring)
            .field("key_file", &self.key_file)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("secrets_dirs", &self.secrets_dirs)
            .field("profile", &self.profile)
            .field("require_key", &self.require_key)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// Read `.env`, `.env.enc` (and profile files) from this directory
    /// instead of discovering the project root.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Discover the project root from this directory upward, instead of
    /// from the current directory.
    pub fn discover_from(mut self, dir: impl Into<PathBuf>) -> Self {
        self.start = Some(dir.into());
        self
    }

    /// Read this plaintext dotenv file (it must exist) instead of the
    /// default `.env` and `.env.<profile>`; files added later take
    /// precedence over files added earlier.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// Read this encrypted dotenv file (it must exist) instead of the
    /// default `.env.enc` and `.env.<profile>.enc`. Encrypted files sit below
    /// all plaintext files; later ones take precedence.
    pub fn encrypted_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.encrypted.push(path.into());
        self
    }

    /// Use this key or comma-separated keyring for encrypted files, instead
    /// of looking for one.
    pub fn key(mut self, key: &SecretString) -> Result<Self> {
        let ring = Keyring::parse(key.expose_secret()).map_err(|e| Error::Key {
            origin: "the key given to the builder".into(),
            reason: e.to_string().into(),
        })?;
        self.keyring = Some(ring);
        Ok(self)
    }

    /// Use this key file for encrypted files, instead of looking for a key.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// The password for password-mode encrypted files (otherwise read from
    /// `ENVCLOAK_PASSWORD`).
    pub fn password(mut self, password: SecretString) -> Self {
        self.password = Some(password);
        self
    }

    /// Add a secrets directory (`/run/secrets`): each regular file is a key,
    /// its contents the value with one trailing newline removed. It sits
    /// below the process environment and above the dotenv files.
    pub fn secrets_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.secrets_dirs.push(dir.into());
        self
    }

    /// Use `.env.<profile>` and `.env.<profile>.enc` above `.env` and
    /// `.env.enc` (otherwise read from `ENVCLOAK_PROFILE`).
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Whether to read the process environment (default: yes). Without it,
    /// there is no environment layer and no `NAME_FILE` indirection.
    pub fn process_env(mut self, read: bool) -> Self {
        self.env = if read {
            EnvSource::Process
        } else {
            EnvSource::Off
        };
        self
    }

    /// Reads only what this builder is given: no process environment
    /// (unless [`environment`](Self::environment) or
    /// [`process_env`](Self::process_env) says otherwise), no discovery of
    /// the project root, and no `.env` or `.env.enc` that was not named with
    /// [`file`](Self::file), [`encrypted_file`](Self::encrypted_file) or
    /// [`dir`](Self::dir). For tests: the working directory's files, broken
    /// or not, never leak in. (A key file beside a named encrypted file is
    /// still looked for, unless [`key`](Self::key) or
    /// [`key_file`](Self::key_file) is given.)
    ///
    /// ```
    /// use envcloak::Config;
    /// let cfg = Config::builder()
    ///     .isolated()
    ///     .environment([("PORT", "9000")])
    ///     .build()?;
    /// assert_eq!(cfg.get::<u16>("PORT")?, 9000);
    /// assert_eq!(cfg.layer_names(), ["process environment"]);
    /// # Ok::<(), envcloak::Error>(())
    /// ```
    pub fn isolated(mut self) -> Self {
        self.isolated = true;
        if matches!(self.env, EnvSource::Process) {
            self.env = EnvSource::Off;
        }
        self
    }

    /// Use these variables as the environment instead of the process's
    /// (tests, or a service that builds its environment itself). Key look-up
    /// variables (`ENVCLOAK_KEY`, ...) are read from here too.
    pub fn environment<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: AsRef<str>,
    {
        let vars = vars
            .into_iter()
            .map(|(k, v)| (k.into(), Zeroizing::new(v.as_ref().to_owned())))
            .collect();
        self.env = EnvSource::Given(vars);
        self
    }

    /// Whether to read encrypted files at all (default: yes).
    pub fn read_encrypted(mut self, read: bool) -> Self {
        self.skip_encrypted = !read;
        self
    }

    /// Whether an encrypted file that exists must be read (fail closed).
    ///
    /// With `true`, an encrypted file for which no key (or, in password
    /// mode, no password) is found fails the build with
    /// [`Error::KeyNotFound`] (naming the file and every place searched),
    /// or [`Error::Decrypt`] for a password-mode file, instead of being
    /// skipped and listed in [`Config::skipped_encrypted`]. With `false`,
    /// it is skipped. A key that is found but does not open the file is an
    /// error either way.
    ///
    /// Default: `true` when `CI` is set to a non-empty value other than
    /// `false` or `0` (any case) in the builder's environment — the process
    /// environment, or the one given with
    /// [`environment`](Self::environment); none is read after
    /// [`isolated`](Self::isolated) or `process_env(false)` — so that
    /// [`Config::auto`] and [`config`](crate::config) fail at start-up in
    /// CI (GitHub Actions, GitLab CI, CircleCI, Buildkite, ... set
    /// `CI=true`) when the CI secret holding the key is missing, rather
    /// than report some value as "not set" later.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join(".env.enc"), "gAAAAA...\n")?;
    /// use envcloak::{Config, Error};
    /// // In CI, no key for .env.enc is an error ...
    /// let err = Config::builder()
    ///     .dir(dir.path())
    ///     .environment([("CI", "true")])
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::KeyNotFound { .. }));
    /// // ... unless it is switched off; then the file is skipped.
    /// let cfg = Config::builder()
    ///     .dir(dir.path())
    ///     .environment([("CI", "true")])
    ///     .require_key(false)
    ///     .build()?;
    /// assert_eq!(cfg.skipped_encrypted().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require_key(mut self, require: bool) -> Self {
        self.require_key = Some(require);
        self
    }

    /// Refuse encrypted files older than `ttl` (by the token's timestamp).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Reads every layer and builds the [`Config`].
    ///
    /// Errors: a syntax error in a file ([`Error::Parse`], with file and
    /// line), an encrypted file that a found key does not open
    /// ([`Error::Decrypt`]; never falls through to a lower layer), an
    /// unusable key ([`Error::Key`]), an explicit file that is missing
    /// ([`Error::Io`]).
    pub fn build(mut self) -> Result<Config> {
        self.from_process = matches!(self.env, EnvSource::Process);
        let env: Option<Vec<(String, Zeroizing<String>)>> = match std::mem::take(&mut self.env) {
            EnvSource::Process => Some(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .map(|(k, v)| (k, Zeroizing::new(v)))
                    .collect(),
            ),
            EnvSource::Given(vars) => Some(vars),
            EnvSource::Off => None,
        };
        let env_map: HashMap<&str, &str> = env
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let env_lookup = |k: &str| env_map.get(k).map(|v| (*v).to_owned());
        let require_key = self
            .require_key
            .unwrap_or_else(|| ci_requires_key(env_map.get("CI").copied()));
        let (profile, from) = match &self.profile {
            Some(p) => (Some(p.clone()), "the profile given to the builder"),
            None => (
                env_map.get("ENVCLOAK_PROFILE").map(|p| (*p).to_owned()),
                "ENVCLOAK_PROFILE",
            ),
        };
        let profile = profile.filter(|p| !p.is_empty());
        if let Some(p) = &profile
            && !valid_profile(p)
        {
            return Err(Error::Setting {
                name: from.into(),
                reason: "a profile name holds only letters, digits, '-' and '_'".into(),
            });
        }

        let root = match &self.dir {
            Some(d) => d.clone(),
            None if self.isolated => PathBuf::new(),
            None if self.files.is_empty() || self.encrypted.is_empty() => match &self.start {
                Some(start) => discover_from(start),
                None => discover_root()?,
            },
            None => PathBuf::new(),
        };
        let with_profile = |base: &str, ext: &str| {
            let mut v = vec![root.join(format!("{base}{ext}"))];
            if let Some(p) = &profile {
                v.push(root.join(format!("{base}.{p}{ext}")));
            }
            v
        };
        // Isolated, only a directory given with `dir` has default files.
        let defaults = !self.isolated || self.dir.is_some();
        let (plain, plain_required) = if !self.files.is_empty() {
            (self.files.clone(), true)
        } else if defaults {
            (with_profile(".env", ""), false)
        } else {
            (Vec::new(), false)
        };
        let (encrypted, enc_required) =
            if self.skip_encrypted || (!defaults && self.encrypted.is_empty()) {
                (Vec::new(), false)
            } else if self.encrypted.is_empty() {
                (with_profile(".env", ".enc"), false)
            } else {
                (self.encrypted.clone(), true)
            };

        let mut file_layers = Vec::new();
        for path in plain.iter().rev() {
            if let Some(text) = read_text(path, plain_required)? {
                file_layers.push(Layer::from_dotenv(
                    Kind::Dotenv,
                    path.as_path().into(),
                    text,
                    &env_lookup,
                )?);
            }
        }

        let mut skipped = Vec::new();
        for path in encrypted.iter().rev() {
            let Some(contents) = read_bytes(path, enc_required)? else {
                continue;
            };
            let search = keys::Search {
                env: &env_lookup,
                profile: profile.as_deref(),
                encrypted: path,
            };
            let plaintext = match open_encrypted(&self, &search, path, &contents)? {
                Some(p) => p,
                None if require_key => return Err(key_required(&search, path, &contents)),
                None => {
                    skipped.push(path.clone());
                    continue;
                }
            };
            let text = into_text(plaintext, path)?;
            file_layers.push(Layer::from_dotenv(
                Kind::Encrypted,
                path.as_path().into(),
                text,
                &env_lookup,
            )?);
        }

        let mut layers = Vec::new();
        let mut file_refs = HashMap::new();
        if let Some(vars) = env {
            for (k, v) in &vars {
                if let Some(name) = k.strip_suffix("_FILE")
                    && !name.is_empty()
                    && !v.is_empty()
                {
                    file_refs.insert(name.into(), Path::new(v.as_str()).into());
                }
            }
            layers.push(Layer::from_pairs(
                Kind::Environment,
                "process environment".into(),
                None,
                vars,
            ));
        }
        for dir in &self.secrets_dirs {
            layers.push(read_secrets_dir(dir)?);
        }
        layers.extend(file_layers);
        Ok(Config {
            layers,
            file_refs,
            skipped,
        })
    }
}

/// Whether the value of `CI` asks for a key to be required: set, not empty,
/// and not `false` or `0` (in any case).
fn ci_requires_key(ci: Option<&str>) -> bool {
    ci.map(str::trim)
        .is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The error for an encrypted file that must be read and has no key (or,
/// in password mode, no password).
fn key_required(search: &keys::Search<'_>, path: &Path, contents: &[u8]) -> Error {
    match crypto::split_file(contents) {
        Ok((Some(_), _)) => Error::Decrypt {
            path: path.to_path_buf(),
            kind: crypto::DecryptError::PasswordRequired,
            key: None,
        },
        _ => Error::KeyNotFound {
            path: path.to_path_buf(),
            looked: keys::places(search),
        },
    }
}

/// Decrypts one encrypted file, or `None` when no key (or password) is found.
fn open_encrypted(
    b: &ConfigBuilder,
    search: &keys::Search<'_>,
    path: &Path,
    contents: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let decrypt_err = |kind| Error::Decrypt {
        path: path.to_path_buf(),
        kind,
        key: None,
    };
    let (header, _) = crypto::split_file(contents).map_err(decrypt_err)?;
    if header.is_some() {
        let (password, from) = match &b.password {
            Some(p) => (Zeroizing::new(p.expose_secret().to_owned()), "the builder"),
            None => match (search.env)("ENVCLOAK_PASSWORD").filter(|p| !p.is_empty()) {
                Some(p) => (Zeroizing::new(p), "ENVCLOAK_PASSWORD"),
                None => return Ok(None),
            },
        };
        return crypto::decrypt_with_password(password.as_bytes(), contents, b.ttl)
            .map(Some)
            .map_err(|kind| decrypt_err(kind).tried_password(from));
    }
    let (ring, from) = match (&b.keyring, &b.key_file) {
        (Some(ring), _) => (ring.clone(), keys::KeySource::Given.to_string()),
        (None, Some(file)) => (
            keys::read_key_file(file)?,
            keys::KeySource::Named(file.clone()).to_string(),
        ),
        (None, None) => {
            if b.from_process {
                keys::check_process_env_utf8(search)?;
            }
            match keys::find(search)? {
                Some(found) => {
                    let from = found.describe();
                    (found.keyring, from)
                }
                None => return Ok(None),
            }
        }
    };
    crypto::decrypt(&ring, contents, b.ttl)
        .map(Some)
        .map_err(|kind| decrypt_err(kind).tried_key(from))
}

/// Whether `name` can be a profile: letters, digits, `-` and `_` only, so
/// that `.env.<profile>` stays a file name beside `.env` (`../x` is not).
pub fn valid_profile(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The project root that [`Config::auto`] reads: the current directory or
/// the nearest parent holding `.env`, `.env.enc`, `.env.example` or `.git`
/// (the current directory when none does). The current directory is
/// returned as an empty path, so that file names read `.env`, not
/// `/home/you/app/.env`.
pub fn project_root() -> Result<PathBuf> {
    discover_root()
}

fn discover_root() -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let root = discover_from(&cwd);
    Ok(if root == cwd { PathBuf::new() } else { root })
}

/// The nearest directory from `start` upward that holds a marker, or
/// `start` itself.
fn discover_from(start: &Path) -> PathBuf {
    for dir in start.ancestors() {
        if MARKERS.iter().any(|m| dir.join(m).exists()) {
            return dir.to_path_buf();
        }
    }
    start.to_path_buf()
}

/// Reads a file, or `None` when it is absent and not required.
fn read_bytes(path: &Path, required: bool) -> Result<Option<Zeroizing<Vec<u8>>>> {
    // A FIFO or a device would block or never end; a directory is a mistake.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(Error::io(path, std::io::Error::other("not a regular file")));
        }
        _ => {}
    }
    match std::fs::read(path) {
        Ok(b) => Ok(Some(Zeroizing::new(b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn read_text(path: &Path, required: bool) -> Result<Option<Zeroizing<String>>> {
    read_bytes(path, required)?
        .map(|b| into_text(b, path))
        .transpose()
}

/// Checks UTF-8 without copying; an error names the line of the first bad byte.
fn into_text(mut bytes: Zeroizing<Vec<u8>>, path: &Path) -> Result<Zeroizing<String>> {
    let vec = std::mem::take(&mut *bytes);
    match String::from_utf8(vec) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            let mut vec = e.into_bytes();
            let line = vec[..good].iter().filter(|&&b| b == b'\n').count() as u32 + 1;
            zeroize::Zeroize::zeroize(&mut vec);
            Err(Error::Parse {
                path: path.to_path_buf(),
                line,
                reason: "not valid UTF-8".into(),
            })
        }
    }
}

fn read_secrets_dir(dir: &Path) -> Result<Layer> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut pairs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(Error::io(
                &path,
                std::io::Error::other("file name is not UTF-8"),
            ));
        };
        // Kubernetes mounts keep their real files in `..data` directories
        // behind symlinks; those and other dot-entries are not keys.
        if name.starts_with('.') {
            continue;
        }
        if std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .is_dir()
        {
            return Err(Error::io(
                &path,
                std::io::Error::other(
                    "a directory in a secrets directory (each key must be a file)",
                ),
            ));
        }
        pairs.push((name, read_file_value(&path)?));
    }
    Ok(Layer::from_pairs(
        Kind::SecretsDir,
        format!("secrets dir {}", dir.display()),
        Some(dir.into()),
        pairs,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project directory with these files.
    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    /// `definitions` as `(origin, wins)` with the directory left out.
    fn defs(cfg: &Config, key: &str, dir: &Path) -> Vec<(String, bool)> {
        let prefix = format!("{}/", dir.display());
        cfg.definitions(key)
            .into_iter()
            .map(|d| (d.origin.to_string().replace(&prefix, ""), d.wins))
            .collect()
    }

    fn owned(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(o, w)| ((*o).to_owned(), *w)).collect()
    }

    #[test]
    fn definitions_list_every_layer_highest_first() {
        let dir = project(&[
            (".env", "# local\nA=dotenv\nB=dotenv\nB=again\n"),
            (".env.staging", "A=staging\n"),
            (".env.example", "A=\n"),
        ]);
        let cfg = Config::builder()
            .dir(dir.path())
            .profile("staging")
            .environment([("A", "env"), ("C", "env")])
            .build()
            .unwrap();
        assert_eq!(
            defs(&cfg, "A", dir.path()),
            owned(&[
                ("process environment", true),
                (".env.staging:1", false),
                (".env:2", false),
            ])
        );
        // A duplicate in one file counts once, at its last line.
        assert_eq!(defs(&cfg, "B", dir.path()), owned(&[(".env:4", true)]));
        assert_eq!(
            defs(&cfg, "C", dir.path()),
            owned(&[("process environment", true)])
        );
        assert!(cfg.definitions("NOPE").is_empty());
        // The winner is what source_of names.
        for key in ["A", "B", "C"] {
            assert_eq!(
                cfg.definitions(key).first().map(|d| d.origin.clone()),
                cfg.source_of(key)
            );
        }
    }

    #[test]
    fn all_definitions_list_file_keys_only() {
        let dir = project(&[(".env", "B=1\nA=1\n")]);
        let cfg = Config::builder()
            .dir(dir.path())
            .environment([("A", "env"), ("ONLY_ENV", "x")])
            .build()
            .unwrap();
        let all = cfg.all_definitions();
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["A", "B"],
            "sorted, and no variable that no file defines"
        );
        assert_eq!(all[0].1.len(), 2);
        assert_eq!(all[0].1[0].origin, Origin::Environment);
        assert_eq!(all[1].1.len(), 1);
        assert!(all[1].1[0].wins);
    }

    #[test]
    fn shadowed_names_the_winner_and_each_hidden_definition() {
        let dir = project(&[
            (".env", "A=1\nB=1\nC=1\n"),
            (".env.prod", "B=2\n"),
            ("secret", "from a file\n"),
        ]);
        let secret = dir.path().join("secret");
        let cfg = Config::builder()
            .dir(dir.path())
            .profile("prod")
            .environment([
                ("A", "env".to_owned()),
                ("C_FILE", secret.display().to_string()),
            ])
            .build()
            .unwrap();
        let prefix = format!("{}/", dir.path().display());
        let got: Vec<String> = cfg
            .shadowed()
            .iter()
            .map(|s| format!("{}: {} hides {}", s.key, s.by, s.hidden).replace(&prefix, ""))
            .collect();
        assert_eq!(
            got,
            [
                "A: process environment hides .env:1",
                "B: .env.prod:1 hides .env:2",
                "C: C_FILE (secret) hides .env:3",
            ]
        );
        // The value of each definition, hidden ones too.
        use secrecy::ExposeSecret;
        let values: Vec<String> = cfg
            .definitions("C")
            .iter()
            .map(|d| {
                cfg.get_raw_of("C", d)
                    .unwrap()
                    .unwrap()
                    .expose_secret()
                    .to_owned()
            })
            .collect();
        assert_eq!(values, ["from a file", "1"]);
        let hidden_b = &cfg.definitions("B")[1];
        assert_eq!(
            cfg.get_raw_of("B", hidden_b)
                .unwrap()
                .unwrap()
                .expose_secret(),
            "1"
        );
        // A definition of another key is not this key's.
        assert!(cfg.get_raw_of("NOPE", hidden_b).unwrap().is_none());
    }

    #[test]
    fn ci_values_that_require_a_key() {
        for on in ["true", "1", "yes", "True", " true ", "gitlab"] {
            assert!(ci_requires_key(Some(on)), "{on:?}");
        }
        for off in [
            None,
            Some(""),
            Some(" "),
            Some("false"),
            Some("FALSE"),
            Some("0"),
        ] {
            assert!(!ci_requires_key(off), "{off:?}");
        }
    }

    #[test]
    fn an_encrypted_file_is_hidden_by_dotenv() {
        let key = crypto::Key::generate();
        let ring = Keyring::from(key.clone());
        let dir = project(&[(".env", "DEBUG=true\n")]);
        std::fs::write(
            dir.path().join(".env.enc"),
            crypto::encrypt(&ring, b"PORT=1\nDEBUG=false\n"),
        )
        .unwrap();
        let cfg = Config::builder()
            .dir(dir.path())
            .process_env(false)
            .key(&SecretString::from(key.to_base64().as_str()))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            defs(&cfg, "DEBUG", dir.path()),
            owned(&[(".env:1", true), (".env.enc:2", false)])
        );
        let s = cfg.shadowed();
        assert_eq!(s.len(), 1);
        assert!(matches!(s[0].hidden, Origin::Encrypted { line: 2, .. }));
        // Without the key, nothing is known about the encrypted file.
        let cfg = Config::builder()
            .dir(dir.path())
            .process_env(false)
            .build()
            .unwrap();
        assert!(cfg.shadowed().is_empty());
        assert_eq!(cfg.skipped_encrypted().len(), 1);
    }
}
