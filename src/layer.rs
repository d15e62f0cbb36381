//! One source of values and its provenance: the process environment, a
//! dotenv file (plaintext or decrypted), or a secrets directory.

use std::fmt;
use std::ops::Range;
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
/// verbatim (no copy), or of its arena after unquoting or expansion.
#[derive(Clone, Copy)]
enum Val {
    Span(u32, u32),
    Arena(u32, u32),
}

/// One entry: its key (a span of the text), its value and line.
#[derive(Clone)]
struct Slot {
    key: (u32, u32),
    val: Val,
    line: u32,
}

/// One layer of configuration.
///
/// Keys and values live in two buffers (the file's text, and an arena for
/// values that had to be rewritten), both zeroized on drop and never grown
/// after they are filled, so no stray copies of values are left in freed
/// memory. `index` is an open-addressing table over `slots`: one allocation
/// for all keys, rather than one per key.
#[derive(Clone)]
pub(crate) struct Layer {
    pub(crate) kind: Kind,
    /// Shown in errors and `Debug`: `process environment`, `.env`, ...
    pub(crate) name: String,
    pub(crate) path: Option<Arc<Path>>,
    text: Zeroizing<String>,
    arena: Zeroizing<String>,
    slots: Vec<Slot>,
    /// 0 is empty, otherwise the key's hash in the high 32 bits and its slot
    /// index + 1 in the low 32 (so probing compares keys only when their
    /// hashes match); the length is a power of two.
    index: Vec<u64>,
}

/// FxHash-style hashing: keys come from the user's own files and
/// environment, so speed matters more than resistance to crafted collisions.
fn hash(key: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = key.len() as u64;
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// `buf[a..b]` for a span the layer made itself (checked when it was made);
/// empty rather than a panic should one ever be out of bounds.
fn slice(buf: &str, (a, b): (u32, u32)) -> &str {
    debug_assert!(buf.get(a as usize..b as usize).is_some(), "{a}..{b}");
    buf.get(a as usize..b as usize).unwrap_or_default()
}

impl Layer {
    fn new(
        kind: Kind,
        name: String,
        path: Option<Arc<Path>>,
        text: Zeroizing<String>,
        arena: Zeroizing<String>,
        slots: Vec<Slot>,
    ) -> Layer {
        let cap = (slots.len() * 2).next_power_of_two().max(8);
        let mut index = vec![0u64; cap];
        let mask = cap - 1;
        let key_of = |slot: &Slot| slice(&text, slot.key).as_bytes();
        for (i, slot) in slots.iter().enumerate() {
            let key = key_of(slot);
            let h = hash(key);
            let tag = h & !0xffff_ffff;
            let mut pos = h as usize & mask;
            loop {
                let at = index[pos];
                // An empty bucket, or the same key again: the last one wins.
                if at == 0
                    || (at & !0xffff_ffff == tag
                        && slots
                            .get(((at as u32) as usize).wrapping_sub(1))
                            .map(key_of)
                            == Some(key))
                {
                    index[pos] = tag | (i as u64 + 1);
                    break;
                }
                pos = (pos + 1) & mask;
            }
        }
        Layer {
            kind,
            name,
            path,
            text,
            arena,
            slots,
            index,
        }
    }

    /// A layer of owned key/value pairs (environment, secrets directory).
    pub(crate) fn from_pairs(
        kind: Kind,
        name: String,
        path: Option<Arc<Path>>,
        pairs: Vec<(String, Zeroizing<String>)>,
    ) -> Layer {
        let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        let mut text = Zeroizing::new(String::with_capacity(size));
        let mut slots = Vec::with_capacity(pairs.len());
        for (k, v) in &pairs {
            let a = text.len() as u32;
            text.push_str(k);
            let b = text.len() as u32;
            text.push_str(v);
            let c = text.len() as u32;
            slots.push(Slot {
                key: (a, b),
                val: Val::Span(b, c),
                line: 0,
            });
        }
        drop(pairs);
        Layer::new(kind, name, path, text, Zeroizing::new(String::new()), slots)
    }

    /// Parses dotenv `text` into a layer; values the text holds verbatim
    /// stay spans into it (the parser reports where: [`dotenv::Entry::span`]
    /// and [`dotenv::Entry::value_span`], offsets after a leading BOM, which
    /// the layer keeps). `env` serves `${VAR}` expansion.
    pub(crate) fn from_dotenv(
        kind: Kind,
        path: Arc<Path>,
        text: Zeroizing<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Layer, Error> {
        let parse_error = |line: u32, reason: &'static str| Error::Parse {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        };
        if text.len() > u32::MAX as usize / 2 {
            return Err(parse_error(0, "file larger than 2 GiB"));
        }
        let entries =
            dotenv::parse_with_env(&text, env).map_err(|e| Error::parse(path.to_path_buf(), e))?;
        // The parser's offsets start after a BOM; the layer keeps the BOM.
        let bom = text.len() - text.strip_prefix('\u{feff}').unwrap_or(&text).len();
        // Sized once: a growing arena would leave copies of values behind.
        let owned: usize = entries
            .iter()
            .filter(|e| e.value_span.is_none())
            .map(|e| e.value.len())
            .sum();
        if owned > u32::MAX as usize {
            return Err(parse_error(0, "values larger than 4 GiB after expansion"));
        }
        let mut arena = Zeroizing::new(String::with_capacity(owned));
        let mut slots = Vec::with_capacity(entries.len());
        // A range of the text as a span, checked: in bounds and on character
        // boundaries (a parser bug must not become a panic, whose message
        // would quote the text).
        let span = |range: Range<usize>| -> Option<(u32, u32)> {
            let range = range.start.checked_add(bom)?..range.end.checked_add(bom)?;
            text.get(range.clone())?;
            Some((
                u32::try_from(range.start).ok()?,
                u32::try_from(range.end).ok()?,
            ))
        };
        for e in entries {
            let internal = || {
                parse_error(
                    e.line,
                    "internal error: an entry outside the text (a bug in envcloak; please report it)",
                )
            };
            let key = e.span.start..e.span.start.saturating_add(e.key.len());
            let key = span(key).ok_or_else(internal)?;
            debug_assert_eq!(slice(&text, key), e.key);
            let val = match e.value_span {
                Some(range) => {
                    let (a, b) = span(range).ok_or_else(internal)?;
                    debug_assert_eq!(slice(&text, (a, b)), e.value);
                    Val::Span(a, b)
                }
                None => {
                    let s = Zeroizing::new(e.value.into_owned());
                    let a = arena.len() as u32;
                    arena.push_str(&s);
                    Val::Arena(a, arena.len() as u32)
                }
            };
            slots.push(Slot {
                key,
                val,
                line: e.line,
            });
        }
        let name = path.display().to_string();
        Ok(Layer::new(kind, name, Some(path), text, arena, slots))
    }

    /// The slot an `index` bucket points to (`None` for an empty bucket).
    fn slot(&self, bucket: u64) -> Option<&Slot> {
        let i = ((bucket as u32) as usize).checked_sub(1)?;
        self.slots.get(i)
    }

    /// The value of `key` and the line it was read from (0 when not a file).
    pub(crate) fn get(&self, key: &str) -> Option<(&str, u32)> {
        let mask = self.index.len() - 1;
        let h = hash(key.as_bytes());
        let tag = h & !0xffff_ffff;
        let mut pos = h as usize & mask;
        loop {
            let at = self.index[pos];
            if at == 0 {
                return None;
            }
            if at & !0xffff_ffff == tag
                && let Some(slot) = self.slot(at)
                && slice(&self.text, slot.key) == key
            {
                let value = match slot.val {
                    Val::Span(a, b) => slice(&self.text, (a, b)),
                    Val::Arena(a, b) => slice(&self.arena, (a, b)),
                };
                return Some((value, slot.line));
            }
            pos = (pos + 1) & mask;
        }
    }

    /// The keys of this layer (each once), in no particular order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.index
            .iter()
            .filter_map(|&i| self.slot(i))
            .map(|slot| slice(&self.text, slot.key))
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

/// Not API: for the fuzz targets (`fuzz/fuzz_targets/dotenv_parse.rs`),
/// which build no files. Builds the layer that loading `text` as a dotenv
/// file builds (no environment), and returns every key it serves with its
/// value and line, sorted by key. Reached as `envcloak::dotenv::layer_entries`;
/// may change or go away in any release.
#[doc(hidden)]
pub fn layer_entries(text: &str) -> Result<Vec<(String, String, u32)>, Error> {
    let layer = Layer::from_dotenv(
        Kind::Dotenv,
        Path::new(".env").into(),
        Zeroizing::new(text.to_owned()),
        &|_| None,
    )?;
    let mut entries: Vec<(String, String, u32)> = layer
        .keys()
        .filter_map(|key| {
            let (value, line) = layer.get(key)?;
            Some((key.to_owned(), value.to_owned(), line))
        })
        .collect();
    entries.sort_unstable();
    Ok(entries)
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == Kind::Environment {
            return write!(f, "{} ({} variables)", self.name, self.keys().count());
        }
        let mut keys: Vec<&str> = self.keys().collect();
        keys.sort_unstable();
        write!(f, "{} {:?}", self.name, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> Layer {
        let env = |_: &str| None;
        Layer::from_dotenv(
            Kind::Dotenv,
            Path::new(".env").into(),
            Zeroizing::new(text.to_owned()),
            &env,
        )
        .unwrap()
    }

    #[test]
    fn empty_values_before_comments_are_empty_spans() {
        for text in [
            "A=#note\nB=x\n",
            "A=   # optional\nB=x\n",
            "\u{feff}A=#note\nB=x\n",
            "\u{feff}A=   # optional\r\nB=x",
        ] {
            let l = layer(text);
            assert_eq!(l.get("A"), Some(("", 1)), "{text:?}");
            assert_eq!(l.get("B"), Some(("x", 2)), "{text:?}");
        }
    }

    #[test]
    fn verbatim_values_after_a_bom_are_spans_of_the_text() {
        let l = layer("\u{feff}KEY=plain value # c\nQ=\"quoted\\n\"\nE=${KEY}!\n");
        assert_eq!(l.get("KEY"), Some(("plain value", 1)));
        assert_eq!(l.get("Q"), Some(("quoted\n", 2)));
        assert_eq!(l.get("E"), Some(("plain value!", 3)));
        let mut keys: Vec<&str> = l.keys().collect();
        keys.sort_unstable();
        assert_eq!(keys, ["E", "KEY", "Q"]);
        assert!(l.slots.iter().any(|s| matches!(s.val, Val::Span(..))));
    }
}
