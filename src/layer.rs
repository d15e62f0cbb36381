//! One source of values and its provenance: the process environment, a
//! dotenv file (plaintext or decrypted), or a secrets directory.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::dotenv;
use crate::error::{Error, Origin};

/// What kind of source a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Environment,
    SecretsDir,
    Dotenv,
    Encrypted,
}

/// A value inside a layer: a span of the layer's text when the file holds it
/// verbatim (no copy), or its own buffer after unquoting or expansion.
enum Val {
    Span(u32, u32),
    Owned(Zeroizing<String>),
}

struct Slot {
    val: Val,
    line: u32,
}

/// One layer of configuration.
pub(crate) struct Layer {
    pub(crate) kind: Kind,
    /// Shown in errors and `Debug`: `process environment`, `.env`, ...
    pub(crate) name: String,
    pub(crate) path: Option<Arc<Path>>,
    text: Zeroizing<String>,
    map: HashMap<Box<str>, Slot>,
}

impl Layer {
    /// A layer of owned key/value pairs (environment, secrets directory).
    pub(crate) fn from_pairs(
        kind: Kind,
        name: String,
        path: Option<Arc<Path>>,
        pairs: impl IntoIterator<Item = (String, Zeroizing<String>)>,
    ) -> Layer {
        let map = pairs
            .into_iter()
            .map(|(k, v)| {
                let slot = Slot {
                    val: Val::Owned(v),
                    line: 0,
                };
                (k.into_boxed_str(), slot)
            })
            .collect();
        Layer {
            kind,
            name,
            path,
            text: Zeroizing::new(String::new()),
            map,
        }
    }

    /// Parses dotenv `text` into a layer; values borrowed from the text stay
    /// spans into it. `env` serves `${VAR}` expansion.
    pub(crate) fn from_dotenv(
        kind: Kind,
        path: Arc<Path>,
        text: Zeroizing<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Layer, Error> {
        let base = text.as_ptr() as usize;
        let entries = dotenv::parse_with_env(&text, env).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            line: e.line,
            reason: e.kind.to_string().into(),
        })?;
        if text.len() > u32::MAX as usize {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: 0,
                reason: "file larger than 4 GiB".into(),
            });
        }
        let mut map = HashMap::with_capacity(entries.len());
        for e in entries {
            let val = match e.value {
                std::borrow::Cow::Borrowed(s) => {
                    let start = s.as_ptr() as usize - base;
                    Val::Span(start as u32, (start + s.len()) as u32)
                }
                std::borrow::Cow::Owned(s) => Val::Owned(Zeroizing::new(s)),
            };
            map.insert(e.key.into(), Slot { val, line: e.line });
        }
        Ok(Layer {
            kind,
            name: path.display().to_string(),
            path: Some(path),
            text,
            map,
        })
    }

    /// The value of `key` and the line it was read from (0 when not a file).
    pub(crate) fn get(&self, key: &str) -> Option<(&str, u32)> {
        let slot = self.map.get(key)?;
        let value = match &slot.val {
            Val::Span(a, b) => &self.text[*a as usize..*b as usize],
            Val::Owned(s) => s.as_str(),
        };
        Some((value, slot.line))
    }

    /// The keys of this layer, in no particular order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(|k| &**k)
    }

    /// Where a value of this layer comes from.
    pub(crate) fn origin(&self, key: &str, line: u32) -> Origin {
        match (self.kind, &self.path) {
            (Kind::Dotenv, Some(path)) => Origin::Dotenv {
                path: path.clone(),
                line,
            },
            (Kind::Encrypted, Some(path)) => Origin::Encrypted {
                path: path.clone(),
                line,
            },
            (Kind::SecretsDir, Some(dir)) => Origin::SecretsDir {
                path: dir.join(key).into(),
            },
            _ => Origin::Environment,
        }
    }
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == Kind::Environment {
            return write!(f, "{} ({} variables)", self.name, self.map.len());
        }
        let mut keys: Vec<&str> = self.keys().collect();
        keys.sort_unstable();
        write!(f, "{} {:?}", self.name, keys)
    }
}
