//! Whole structs through serde and config-rs, and [`Config`] as a
//! config-rs [`Source`](config_rs::Source).
//!
//! Keys become config-rs paths the way config-rs's own `Environment` source
//! makes them: lowercased, with `__` separating nested tables
//! (`DB__URL` -> `db.url`). Deserialization goes through config-rs, so its
//! nesting, `Option` and `#[serde(default)]` handling are reused; envcloak
//! adds its own rules on top (python-decouple's booleans, comma-separated
//! lists with [`Csv`](crate::Csv)'s rules, surrounding whitespace around
//! numbers) and rewrites every error so that it names the field, the key and
//! the source, and never the value.

use std::collections::HashMap;
use std::fmt;

use config_rs::{ConfigError, Map, Source, Value, ValueKind};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::cast::{FromValue, split_list};
use crate::config::Config;
use crate::error::{Error, Result};

/// One key on its way into config-rs.
struct Item {
    /// The original key: `DB__URL`.
    key: String,
    /// Where it came from: `.env:3`.
    origin: String,
    value: SecretString,
}

/// The layered values as config-rs paths (`db.url`), with their keys and
/// origins. Its `Debug` shows paths only.
#[derive(Clone)]
struct Snapshot {
    items: std::sync::Arc<HashMap<String, Item>>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut paths: Vec<&String> = self.items.keys().collect();
        paths.sort();
        f.debug_struct("envcloak::Config")
            .field("paths", &paths)
            .finish()
    }
}

/// `DB__URL` -> `db.url`; `None` for names config-rs cannot take as a path.
fn to_path(key: &str) -> Option<String> {
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        || key.starts_with(['.', '_'])
    {
        return None;
    }
    let path = key.to_ascii_lowercase().replace("__", ".");
    (!path.split('.').any(str::is_empty)).then_some(path)
}

impl Snapshot {
    fn new(cfg: &Config, prefix: Option<&str>) -> Result<Snapshot> {
        let mut items = HashMap::new();
        for (key, origin) in cfg.all_keys() {
            let rest = match prefix {
                Some(p) => match key.get(..p.len()) {
                    Some(head) if head.eq_ignore_ascii_case(p) => {
                        key.get(p.len()..).unwrap_or_default()
                    }
                    _ => continue,
                },
                None => key.as_str(),
            };
            let Some(path) = to_path(rest) else { continue };
            let value = match cfg.get_raw(&key) {
                Ok(Some(value)) => value,
                Ok(None) => continue,
                // Any `*_FILE` variable is a candidate (`SSL_CERT_FILE`,
                // `TF_CLI_CONFIG_FILE`, ...): one naming a file that cannot
                // be read is no key of ours. `Config::get` still reports it.
                Err(_) if matches!(origin, crate::Origin::FileIndirection { .. }) => continue,
                Err(e) => return Err(e),
            };
            items.insert(
                path,
                Item {
                    key: key.clone(),
                    origin: origin.to_string(),
                    value,
                },
            );
        }
        Ok(Snapshot {
            items: std::sync::Arc::new(items),
        })
    }

    fn collect_with(&self, overrides: &HashMap<String, ValueKind>) -> Map<String, Value> {
        self.items
            .iter()
            .map(|(path, item)| {
                let kind = overrides
                    .get(path)
                    .cloned()
                    .unwrap_or_else(|| ValueKind::String(item.value.expose_secret().to_owned()));
                (path.clone(), Value::new(Some(&item.origin), kind))
            })
            .collect()
    }

    fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        let mut overrides: HashMap<String, ValueKind> = HashMap::new();
        // Each round fixes one value config-rs would not take as it stands
        // (a list, a decouple boolean, a padded number); a value can only be
        // fixed once, so this ends.
        loop {
            let source = Fixed {
                map: self.collect_with(&overrides),
            };
            let built = config_rs::Config::builder()
                .add_source(source)
                .build()
                .map_err(|e| self.error(e))?;
            match built.try_deserialize::<T>() {
                Ok(t) => return Ok(t),
                Err(e) => match self.fix(&e, &overrides) {
                    Some((path, kind)) => {
                        overrides.insert(path, kind);
                    }
                    None => return Err(self.error(e)),
                },
            }
        }
    }

    /// The replacement value that would satisfy `e`, if envcloak's rules
    /// allow one.
    fn fix(
        &self,
        e: &ConfigError,
        overrides: &HashMap<String, ValueKind>,
    ) -> Option<(String, ValueKind)> {
        let (path, expected) = match e {
            ConfigError::Type {
                unexpected,
                expected,
                key: Some(path),
                ..
            } if unexpected.to_string().starts_with("string") => (path, *expected),
            // serde's own "invalid type: string ..., expected a sequence".
            ConfigError::At {
                error,
                key: Some(path),
                ..
            } => match &**error {
                ConfigError::Message(m)
                    if m.starts_with("invalid type: string")
                        && m.ends_with("expected a sequence") =>
                {
                    (path, "an array")
                }
                _ => return None,
            },
            _ => return None,
        };
        if overrides.contains_key(path) {
            return None;
        }
        let item = self.items.get(path)?;
        let raw = item.value.expose_secret();
        let kind = if expected == "an array" {
            let items = split_list(raw, ',').ok()?;
            ValueKind::Array(
                items
                    .into_iter()
                    .map(|s| Value::new(Some(&item.origin), ValueKind::String(s)))
                    .collect(),
            )
        } else if expected == "a boolean" {
            ValueKind::Boolean(bool::from_value(raw).ok()?)
        } else if expected.contains("integer") || expected.contains("float") {
            // config-rs does not trim; envcloak's numbers ignore outer whitespace.
            let t = raw.trim_ascii();
            if t.len() == raw.len() {
                return None;
            }
            ValueKind::String(t.to_owned())
        } else {
            return None;
        };
        Some((path.clone(), kind))
    }

    /// A config-rs error as envcloak's, with the field, key and origin and
    /// without any value.
    fn error(&self, e: ConfigError) -> Error {
        let (path, reason) = match e {
            ConfigError::Type {
                unexpected,
                expected,
                key,
                ..
            } => {
                // "64-bit integer `443`", "string \"x\"": keep the kind only.
                let found = unexpected.to_string();
                let kind = found.split(['`', '"']).next().unwrap_or("value").trim();
                let kind = if kind.is_empty() { "value" } else { kind };
                let reason = if kind.contains("integer") && expected.contains("integer") {
                    format!("out of range for {expected}")
                } else {
                    format!("expected {expected}, found a {kind}")
                };
                (key, reason)
            }
            ConfigError::NotFound(field) => {
                let reason = missing_reason(&field);
                (Some(field), reason)
            }
            ConfigError::At { error, key, .. } => {
                let inner = self.error(*error);
                let reason = match inner {
                    Error::Deserialize { reason, .. } => reason.into_string(),
                    other => other.to_string(),
                };
                (key, reason)
            }
            ConfigError::Message(m) => match m.strip_prefix("missing configuration field ") {
                Some(field) => {
                    let field = field.trim_matches('"').to_owned();
                    let reason = missing_reason(&field);
                    (Some(field), reason)
                }
                None => (None, self.scrub(&m)),
            },
            other => (None, self.scrub(&other.to_string())),
        };
        let field = path.clone().unwrap_or_else(|| "configuration".to_owned());
        // `ports[1]` is an item of `ports`: report that key and its origin.
        let base = path.as_deref().map(|p| p.split('[').next().unwrap_or(p));
        let reason = match base.and_then(|p| self.items.get(p)) {
            Some(item) => format!("{reason} (key {}, from {})", item.key, item.origin),
            None => reason,
        };
        Error::Deserialize {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A serde or config-rs message without anything copied from the input.
    ///
    /// Messages about fields (`missing field`, `unknown field`) are kept;
    /// any other keeps only its `expected ...` tail, which comes from the
    /// type, never from the value (serde prints values with `{:?}`, so a
    /// value holding a quote cannot be cut out reliably: it is dropped
    /// whole). Last, any configuration value still found is replaced.
    fn scrub(&self, message: &str) -> String {
        let field_message = ["missing field ", "unknown field ", "duplicate field "]
            .iter()
            .any(|p| message.starts_with(p));
        let mut out = if field_message {
            message.to_owned()
        } else if let Some(f) = message.strip_prefix("missing configuration field ") {
            format!("missing field {f}")
        } else if message.contains("does not have variant constructor") {
            "not one of the enum's variants".to_owned()
        } else if let Some(i) = message.rfind("expected ") {
            format!("invalid value, {}", message.get(i..).unwrap_or_default())
        } else {
            "invalid value".to_owned()
        };
        for item in self.items.values() {
            let v = item.value.expose_secret();
            if v.len() >= 4 && out.contains(v) {
                out = out.replace(v, "<redacted>");
            }
        }
        out
    }
}

/// Why a field is missing, naming the key that would fill it.
fn missing_reason(field: &str) -> String {
    let key = field.to_ascii_uppercase().replace('.', "__");
    let mut reason = format!("missing: no layer has {key} and the struct gives no default");
    if field.bytes().any(|b| b.is_ascii_uppercase()) {
        reason
            .push_str(" (config-rs matches lowercase names: write #[serde(rename)] in lowercase)");
    }
    reason
}

/// A fixed map, as a config-rs source.
#[derive(Clone)]
struct Fixed {
    map: Map<String, Value>,
}

impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("envcloak values")
    }
}

impl Source for Fixed {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }
    fn collect(&self) -> std::result::Result<Map<String, Value>, ConfigError> {
        Ok(self.map.clone())
    }
}

impl Source for Snapshot {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }
    fn collect(&self) -> std::result::Result<Map<String, Value>, ConfigError> {
        Ok(self.collect_with(&HashMap::new()))
    }
}

/// The layered values as a config-rs source: keys lowercased, `__` -> `.`,
/// each value tagged with its origin (`.env.enc:3`) so config-rs errors
/// point at the right file. Values stay strings; config-rs converts them
/// when deserializing.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join(".env"), "DB__PORT=6543\n")?;
/// let envcloak = envcloak::Config::builder().dir(dir.path()).process_env(false).build()?;
/// let settings = config_rs::Config::builder()
///     .set_default("db.port", 5432)?
///     .set_default("db.host", "localhost")?
///     .add_source(envcloak)
///     .build()?;
/// assert_eq!(settings.get_int("db.port")?, 6543);
/// assert_eq!(settings.get_string("db.host")?, "localhost");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Source for Config {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        match Snapshot::new(self, None) {
            Ok(s) => Box::new(s),
            // A NAME_FILE that cannot be read: report it when collected.
            Err(_) => Box::new(Failing),
        }
    }

    fn collect(&self) -> std::result::Result<Map<String, Value>, ConfigError> {
        Snapshot::new(self, None)
            .map_err(|e| ConfigError::Foreign(Box::new(e)))
            .and_then(|s| s.collect())
    }
}

#[derive(Clone, Debug)]
struct Failing;

impl Source for Failing {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(Failing)
    }
    fn collect(&self) -> std::result::Result<Map<String, Value>, ConfigError> {
        Err(ConfigError::Message(
            "envcloak: a NAME_FILE variable names a file that cannot be read".into(),
        ))
    }
}

impl Config {
    /// Builds a `T` from every layered value (`.env.enc` included), through
    /// config-rs: field names match keys case-insensitively, `__` separates
    /// nested structs (`DB__URL` -> `db.url`), lists come from
    /// comma-separated values (trimmed, empty items dropped, quotes group),
    /// booleans take python-decouple's spellings, `Option` fields may be
    /// absent, `#[serde(default)]` applies.
    ///
    /// Secrets: use `SecretBox<String>` fields, or `SecretString` with
    /// `#[serde(deserialize_with = "envcloak::secret_string")]`.
    ///
    /// ```
    /// use envcloak::{Config, ExposeSecret, SecretString};
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct Settings {
    ///     debug: bool,
    ///     allowed_hosts: Vec<String>,
    ///     db: Db,
    ///     #[serde(default = "default_workers")]
    ///     workers: u16,
    /// }
    /// #[derive(Deserialize)]
    /// struct Db {
    ///     url: String,
    ///     #[serde(deserialize_with = "envcloak::secret_string")]
    ///     password: SecretString,
    ///     pool: Option<u32>,
    /// }
    /// fn default_workers() -> u16 { 4 }
    ///
    /// let cfg = Config::builder()
    ///     .environment([
    ///         ("DEBUG", "yes"),
    ///         ("ALLOWED_HOSTS", ".localhost, .example.com"),
    ///         ("DB__URL", "postgres://db/app"),
    ///         ("DB__PASSWORD", "hunter2"),
    ///     ])
    ///     .build()?;
    /// let s: Settings = cfg.deserialize()?;
    /// assert!(s.debug);
    /// assert_eq!(s.allowed_hosts, [".localhost", ".example.com"]);
    /// assert_eq!(s.db.password.expose_secret(), "hunter2");
    /// assert_eq!((s.db.pool, s.workers), (None, 4));
    /// # Ok::<(), envcloak::Error>(())
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        Snapshot::new(self, None)?.deserialize()
    }

    /// Rewrites an error that config-rs returned for a configuration built
    /// with this one as a source, the way [`deserialize`](Self::deserialize)
    /// reports its own: the field, the key and its origin, and no value.
    /// config-rs's own messages quote values (``invalid type: string
    /// "hunter2", expected an integer for key `db.port` ``); pass them
    /// through this before they reach a log.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join(".env"), "DB__PORT=hunter2\n")?;
    /// let cfg = envcloak::Config::builder().dir(dir.path()).process_env(false).build()?;
    /// let built = config_rs::Config::builder().add_source(cfg.clone()).build()?;
    /// let err = built.get::<u16>("db.port").unwrap_err();
    /// assert!(err.to_string().contains("hunter2"));          // config-rs quotes it
    /// let err = cfg.redact_config_error(err);
    /// assert!(!err.to_string().contains("hunter2"));
    /// assert!(err.to_string().contains("key DB__PORT"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn redact_config_error(&self, e: ConfigError) -> Error {
        match Snapshot::new(self, None) {
            Ok(snapshot) => snapshot.error(e),
            Err(other) => other,
        }
    }

    /// Like [`deserialize`](Self::deserialize), with only the keys that start
    /// with `prefix` (matched case-insensitively), the prefix removed:
    /// with `"APP_"`, `APP_DB__URL` fills `db.url`.
    pub fn deserialize_prefixed<T: DeserializeOwned>(&self, prefix: &str) -> Result<T> {
        Snapshot::new(self, Some(prefix))?.deserialize()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths() {
        assert_eq!(super::to_path("DB__URL").as_deref(), Some("db.url"));
        assert_eq!(super::to_path("A.B").as_deref(), Some("a.b"));
        assert_eq!(super::to_path("PATH").as_deref(), Some("path"));
        assert_eq!(super::to_path("A___B"), Some("a._b".to_owned()));
        assert_eq!(super::to_path("A__"), None);
        assert_eq!(super::to_path("_X"), None);
        assert_eq!(super::to_path("X-Y"), None);
    }
}
