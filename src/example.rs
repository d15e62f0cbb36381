//! `.env.example`: the committed list of what an app needs, with directives
//! that `check` and `init` use (DESIGN §5).
//!
//! A comment block directly above a key (no blank line between) describes
//! it; lines of that block may carry directives:
//!
//! ```text
//! # The session signing key.
//! # @required
//! # @generate fernet
//! SECRET_KEY=
//!
//! # @optional @type bool
//! DEBUG=false
//! ```
//!
//! | directive | meaning |
//! |---|---|
//! | `@required` | must be set and non-empty (the default for every key) |
//! | `@optional` | may be absent or empty |
//! | `@type bool\|int\|float\|url\|csv\|json` | the value must cast to this type |
//! | `@generate fernet\|hex:N\|urlsafe:N` | `init` fills it with a fresh Fernet key or N random bytes |
//! | `@public` | not a secret: `envcloak redact` leaves its value alone |
//!
//! Apps can run the same check at start-up:
//!
//! ```no_run
//! let cfg = envcloak::Config::auto()?;
//! cfg.check_against(".env.example")?;   // every problem listed at once
//! # Ok::<(), envcloak::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::cast::{Csv, FromValue};
use crate::config::Config;
use crate::crypto::{self, Key};
use crate::dotenv;
use crate::error::{Error, Origin, Result};

/// The type a `@type` directive asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// decouple's booleans.
    Bool,
    /// A signed 64-bit integer.
    Int,
    /// A float.
    Float,
    /// A URL with a scheme: `postgres://...`, `https://...`.
    Url,
    /// A comma-separated list (quotes balanced).
    Csv,
    /// Any JSON value.
    Json,
}

impl ValueType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bool" => ValueType::Bool,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "url" => ValueType::Url,
            "csv" => ValueType::Csv,
            "json" => ValueType::Json,
            _ => return None,
        })
    }

    /// The directive's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Url => "url",
            ValueType::Csv => "csv",
            ValueType::Json => "json",
        }
    }

    /// Checks a value; the error is a reason that never quotes the value.
    pub fn check(self, value: &str) -> std::result::Result<(), String> {
        let r = match self {
            ValueType::Bool => bool::from_value(value).map(drop),
            ValueType::Int => i64::from_value(value).map(drop),
            ValueType::Float => f64::from_value(value).map(drop),
            ValueType::Csv => Csv::<String>::from_value(value).map(drop),
            ValueType::Json => serde_json::from_str::<serde_json::Value>(value)
                .map(drop)
                .map_err(|_| crate::CastError::new("not valid JSON")),
            ValueType::Url => {
                if looks_like_url(value.trim()) {
                    Ok(())
                } else {
                    Err(crate::CastError::new("not a URL (scheme://...)"))
                }
            }
        };
        r.map_err(|e| e.reason().to_owned())
    }
}

fn looks_like_url(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        && !rest.is_empty()
        && !rest.chars().any(char::is_whitespace)
}

/// What `@generate` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generate {
    /// A Fernet key (32 bytes, URL-safe base64).
    Fernet,
    /// N random bytes as hex (2N characters).
    Hex(usize),
    /// N random bytes as URL-safe base64 without padding.
    Urlsafe(usize),
}

impl Generate {
    fn parse(s: &str) -> Option<Self> {
        if s == "fernet" {
            return Some(Generate::Fernet);
        }
        let (kind, n) = s.split_once(':')?;
        let n: usize = n.parse().ok().filter(|n| (1..=1024).contains(n))?;
        match kind {
            "hex" => Some(Generate::Hex(n)),
            "urlsafe" => Some(Generate::Urlsafe(n)),
            _ => None,
        }
    }

    /// A fresh value.
    pub fn value(self) -> zeroize::Zeroizing<String> {
        match self {
            Generate::Fernet => Key::generate().to_base64(),
            Generate::Hex(n) => crypto::token_hex(n),
            Generate::Urlsafe(n) => crypto::token_urlsafe(n),
        }
    }
}

impl fmt::Display for Generate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generate::Fernet => f.write_str("fernet"),
            Generate::Hex(n) => write!(f, "hex:{n}"),
            Generate::Urlsafe(n) => write!(f, "urlsafe:{n}"),
        }
    }
}

/// One key of `.env.example`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleKey {
    /// The key.
    pub key: String,
    /// Its line in `.env.example`.
    pub line: u32,
    /// `false` with `@optional`.
    pub required: bool,
    /// `@type`, if given.
    pub ty: Option<ValueType>,
    /// `@generate`, if given.
    pub generate: Option<Generate>,
    /// `true` with `@public`: not a secret, `redact` leaves its value alone.
    pub public: bool,
    /// The comment text above the key, directives removed.
    pub description: String,
}

/// A parsed `.env.example`.
#[derive(Debug, Clone)]
pub struct Example {
    /// The file.
    pub path: PathBuf,
    /// Its text (keys and placeholder values; no real secrets).
    pub text: String,
    /// Its keys in file order (a duplicated key appears once, at its last line).
    pub keys: Vec<ExampleKey>,
}

impl Example {
    /// Reads and parses `.env.example`. Syntax errors and unknown directives
    /// are [`Error::Parse`] with the line.
    pub fn load(path: impl AsRef<Path>) -> Result<Example> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::io(path, std::io::Error::other("not a regular file")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Example::parse(path, text)
    }

    /// Parses the text of a `.env.example` read from `path`.
    pub fn parse(path: impl Into<PathBuf>, text: String) -> Result<Example> {
        let path = path.into();
        let parse_err = |line: u32, reason: String| Error::Parse {
            path: path.clone(),
            line,
            reason: reason.into(),
        };
        let entries = dotenv::parse(&text).map_err(|e| parse_err(e.line, e.kind.to_string()))?;
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let lines: Vec<&str> = body.lines().collect();
        let mut keys: Vec<ExampleKey> = Vec::new();
        let mut last = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            last.insert(e.key, i);
        }
        for (i, e) in entries.iter().enumerate() {
            if last.get(e.key) != Some(&i) {
                continue;
            }
            let mut k = ExampleKey {
                key: e.key.to_owned(),
                line: e.line,
                required: true,
                ty: None,
                generate: None,
                public: false,
                description: String::new(),
            };
            // The comment block directly above the key, top to bottom.
            let above = lines
                .get(..(e.line as usize).saturating_sub(1))
                .unwrap_or_default();
            let first = above
                .iter()
                .rposition(|l| !l.trim_start().starts_with('#'))
                .map_or(0, |i| i + 1);
            let mut description = Vec::new();
            for (i, raw) in above.get(first..).unwrap_or_default().iter().enumerate() {
                let line_no = (first + i + 1) as u32;
                let comment = raw.trim_start().trim_start_matches('#').trim();
                if !comment.starts_with('@') {
                    description.push(comment);
                    continue;
                }
                let mut words = comment.split_whitespace();
                while let Some(word) = words.next() {
                    match word {
                        "@required" => k.required = true,
                        "@optional" => k.required = false,
                        "@public" => k.public = true,
                        "@type" => {
                            k.ty =
                                Some(words.next().and_then(ValueType::parse).ok_or_else(|| {
                                    parse_err(
                                        line_no,
                                        "@type takes one of bool, int, float, url, csv, json"
                                            .into(),
                                    )
                                })?);
                        }
                        "@generate" => {
                            k.generate =
                                Some(words.next().and_then(Generate::parse).ok_or_else(|| {
                                    parse_err(
                                        line_no,
                                        "@generate takes fernet, hex:N or urlsafe:N (N from 1 to 1024)"
                                            .into(),
                                    )
                                })?);
                        }
                        other if other.starts_with('@') => {
                            // Name a misspelt directive (`@requird`), but never
                            // echo anything that could be a value.
                            let word = other.get(1..).unwrap_or_default();
                            let shown = if word.len() <= 16
                                && word.bytes().all(|b| b.is_ascii_lowercase())
                            {
                                format!(" @{word}")
                            } else {
                                String::new()
                            };
                            return Err(parse_err(
                                line_no,
                                format!(
                                    "unknown directive{shown} (use @required, @optional, @type, @generate, @public)"
                                ),
                            ));
                        }
                        _ => {}
                    }
                }
            }
            k.description = description.join(" ").trim().to_owned();
            keys.push(k);
        }
        Ok(Example { path, text, keys })
    }

    /// The key named `key`, if the example has it.
    pub fn get(&self, key: &str) -> Option<&ExampleKey> {
        self.keys.iter().find(|k| k.key == key)
    }

    /// The keys by name, for repeated look-ups.
    fn by_name(&self) -> HashMap<&str, &ExampleKey> {
        self.keys.iter().map(|k| (k.key.as_str(), k)).collect()
    }
}

/// How serious a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Fails `check` only with `--strict`.
    Warning,
    /// Fails `check`.
    Error,
}

/// One finding of a check: where, which key, what — never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// A stable short name: `missing`, `empty`, `type`, `extra`, `duplicate`,
    /// `syntax`, `not-ignored`, `tracked`, `permissions`, `secret-in-example`,
    /// `no-key`, `shadowed` (a higher layer hides this definition: `.env:4`
    /// hides `.env.enc:2`, or the environment hides a file's).
    pub kind: &'static str,
    /// The file the problem is in or about.
    pub file: Option<PathBuf>,
    /// The line, where there is one.
    pub line: Option<u32>,
    /// The key, where there is one.
    pub key: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            _ => {}
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Compares the effective configuration with the example: required keys
/// missing or empty, values that do not cast to their `@type` (errors), and
/// keys that files define but the example does not list (warnings).
pub fn check_config(cfg: &Config, example: &Example) -> Vec<Problem> {
    let mut problems = Vec::new();
    let at_example = |k: &ExampleKey| (Some(example.path.clone()), Some(k.line));
    for k in &example.keys {
        let value = match cfg.get_raw(&k.key) {
            Ok(v) => v,
            Err(e) => {
                problems.push(Problem {
                    severity: Severity::Error,
                    kind: "unreadable",
                    file: None,
                    line: None,
                    key: Some(k.key.clone()),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let origin = cfg.source_of(&k.key);
        let (file, line) = match &origin {
            Some(
                crate::Origin::Dotenv { path, line } | crate::Origin::Encrypted { path, line },
            ) => (Some(path.to_path_buf()), Some(*line)),
            _ => at_example(k),
        };
        use secrecy::ExposeSecret;
        match value {
            None if k.required => {
                let (file, line) = at_example(k);
                let mut message = "required but not set".to_owned();
                if !cfg.skipped_encrypted().is_empty() {
                    message.push_str(" (an encrypted file was not read: no key)");
                }
                problems.push(Problem {
                    severity: Severity::Error,
                    kind: "missing",
                    file,
                    line,
                    key: Some(k.key.clone()),
                    message,
                });
            }
            None => {}
            Some(v) if v.expose_secret().trim().is_empty() && k.required => {
                problems.push(Problem {
                    severity: Severity::Error,
                    kind: "empty",
                    file,
                    line,
                    key: Some(k.key.clone()),
                    message: format!(
                        "required but empty (from {})",
                        origin.map(|o| o.to_string()).unwrap_or_default()
                    ),
                });
            }
            // An optional key may be empty, whatever its type.
            Some(v) if v.expose_secret().trim().is_empty() => {}
            Some(v) => {
                if let Some(ty) = k.ty
                    && let Err(reason) = ty.check(v.expose_secret())
                {
                    problems.push(Problem {
                        severity: Severity::Error,
                        kind: "type",
                        file,
                        line,
                        key: Some(k.key.clone()),
                        message: format!(
                            "expected {} (from {}): {reason}",
                            ty.name(),
                            origin.map(|o| o.to_string()).unwrap_or_default()
                        ),
                    });
                }
            }
        }
    }
    let known = example.by_name();
    for (key, origin) in cfg.keys() {
        if known.contains_key(key.as_str()) {
            continue;
        }
        let (file, line) = match &origin {
            crate::Origin::Dotenv { path, line } | crate::Origin::Encrypted { path, line } => {
                (Some(path.to_path_buf()), Some(*line))
            }
            _ => (None, None),
        };
        problems.push(Problem {
            severity: Severity::Warning,
            kind: "extra",
            file,
            line,
            key: Some(key),
            message: format!("not in {}", example.path.display()),
        });
    }
    problems
}

/// Whether a value in `.env.example` looks like a real secret rather than a
/// placeholder: a known token prefix, a private key, or a long
/// high-entropy string.
pub fn looks_like_secret(value: &str) -> bool {
    let v = value.trim();
    const PREFIXES: [&str; 14] = [
        "sk_live_",
        "rk_live_",
        "sk_test_",
        "ghp_",
        "gho_",
        "ghs_",
        "ghu_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "glpat-",
        "AKIA",
        "AIza",
        "-----BEGIN",
    ];
    if PREFIXES.iter().any(|p| v.starts_with(p)) && v.len() >= 12 {
        return true;
    }
    // A URL: a password in it (scheme://user:pass@host), or a token in its
    // path or query (webhook URLs).
    if let Some((_, rest)) = v.split_once("://") {
        let auth = rest.split('/').next().unwrap_or("");
        // Local-development passwords (`postgres://postgres:postgres@localhost`)
        // are placeholders too.
        const DEV: [&str; 10] = [
            "password", "pass", "postgres", "mysql", "root", "admin", "guest", "test", "local",
            "dev",
        ];
        let password = auth
            .rsplit_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(user, pw)| {
                let lower = pw.to_ascii_lowercase();
                pw.len() >= 6
                    && pw != user
                    && !placeholder(pw)
                    && !pw.starts_with('$')
                    && !DEV.iter().any(|d| lower.contains(d))
            });
        let token_in_path = rest
            .split(['/', '?', '&', '=', '#'])
            .skip(1)
            .any(|part| !part.contains("://") && looks_like_secret(part));
        return password || token_in_path;
    }
    if v.len() < 20 || placeholder(v) {
        return false;
    }
    // Random hex (tokens, `@generate hex:N`) has at most 4 bits per
    // character, often measured lower: judge it by length instead.
    if v.len() >= 24 && v.bytes().all(|b| b.is_ascii_hexdigit()) && entropy(v) > 2.5 {
        return true;
    }
    !v.contains(char::is_whitespace) && entropy(v) > 3.5
}

/// Words that mark a value as a placeholder, not a secret.
fn placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    [
        "change",
        "example",
        "xxx",
        "your",
        "placeholder",
        "dummy",
        "todo",
        "replace",
        "<",
        "secret",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// The text of a new `.env` made from the example: comments and order
/// kept, `@generate` keys filled with fresh values, other values as the
/// example has them; keys another layer supplies (with [`init_text_with`])
/// left as comments. Its `Debug` leaves the text out.
pub struct Init {
    /// The new file's text (holds fresh secrets).
    pub text: zeroize::Zeroizing<String>,
    /// Keys that were generated, with what made them.
    pub generated: Vec<(String, Generate)>,
    /// Required keys whose value is still empty.
    pub needs_value: Vec<String>,
    /// Keys another layer supplies, in the example's order, with where
    /// from: written as comments (the example's placeholder, never a
    /// value), so that the new file does not hide that layer.
    pub supplied: Vec<(String, Origin)>,
}

/// Makes the new `.env` text from `example`, every key live.
pub fn init_text(example: &Example) -> Result<Init> {
    make_init(example, &|_| None)
}

/// Makes the new `.env` text from `example`, beside the layers of
/// `others` (the environment, `.env.enc`, ... — without the file being
/// made): a key that `others` supplies is left as a comment naming where
/// it comes from, followed by the example's entry commented out (its
/// placeholder, never a value from `others`, never a generated secret), so
/// that `.env` does not hide the team's value. The other keys are as
/// [`init_text`] writes them.
///
/// ```
/// use envcloak::Config;
/// use envcloak::example::{init_text_with, Example};
/// let example = Example::parse(".env.example", "# @generate hex:16\nSECRET_KEY=\nPORT=8000\n".into())?;
/// // The other layers: here an environment that sets SECRET_KEY.
/// let others = Config::builder().isolated().environment([("SECRET_KEY", "s3cr3t")]).build()?;
/// let made = init_text_with(&example, &others)?;
/// assert_eq!(
///     made.text.as_str(),
///     concat!(
///         "# @generate hex:16\n",
///         "# SECRET_KEY comes from the process environment, which wins over this file; ",
///         "uncomment for when it is unset\n",
///         "# SECRET_KEY=\n",
///         "PORT=8000\n",
///     )
/// );
/// assert!(made.generated.is_empty(), "no secret generated for a commented key");
/// assert_eq!(made.supplied, [("SECRET_KEY".to_owned(), envcloak::Origin::Environment)]);
/// # Ok::<(), envcloak::Error>(())
/// ```
pub fn init_text_with(example: &Example, others: &Config) -> Result<Init> {
    make_init(example, &|key| others.source_of(key))
}

/// The comment above a key that `init` leaves to another layer.
fn supplied_note(key: &str, origin: &Origin) -> String {
    let file_name = |path: &Path| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    match origin {
        Origin::Dotenv { path, .. } | Origin::Encrypted { path, .. } => {
            format!(
                "# {key} comes from {}; uncomment to override",
                file_name(path)
            )
        }
        Origin::SecretsDir { path } => format!(
            "# {key} comes from the secrets directory {}, which wins over this file; uncomment for when it is unset",
            path.parent()
                .map_or_else(|| path.display().to_string(), file_name)
        ),
        Origin::FileIndirection { var, .. } => format!(
            "# {key} comes from the file {var} names, which wins over this file; uncomment for when it is unset"
        ),
        _ => format!(
            "# {key} comes from the process environment, which wins over this file; uncomment for when it is unset"
        ),
    }
}

fn make_init(example: &Example, supplied: &dyn Fn(&str) -> Option<Origin>) -> Result<Init> {
    let parse_err = |e: dotenv::ParseError| Error::parse(example.path.clone(), e);
    // The parser skips one BOM; its spans are offsets into `body`.
    let body = example
        .text
        .strip_prefix('\u{feff}')
        .unwrap_or(&example.text);
    let bom = if body.len() < example.text.len() {
        "\u{feff}"
    } else {
        ""
    };
    let entries = dotenv::parse(&example.text).map_err(parse_err)?;
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        last.insert(e.key, i);
    }
    let by_name = example.by_name();
    let from: HashMap<&str, Origin> = example
        .keys
        .iter()
        .filter_map(|k| Some((k.key.as_str(), supplied(&k.key)?)))
        .collect();
    // One pass over the entries, in order: a supplied key's entries become
    // comments (every one of them, so that no earlier duplicate stays
    // live), a generated value replaces its key's last entry.
    let mut text = zeroize::Zeroizing::new(String::with_capacity(example.text.len() + 256));
    text.push_str(bom);
    let mut generated = Vec::new();
    let mut kept_from = 0;
    for (i, e) in entries.iter().enumerate() {
        let is_last = last.get(e.key) == Some(&i);
        let (range, replacement) = if let Some(origin) = from.get(e.key) {
            // Whole lines, from the start of the entry's first line (an
            // `export ` stays in the comment).
            let start = body
                .get(..e.span.start)
                .and_then(|s| s.rfind('\n'))
                .map_or(0, |i| i + 1);
            let mut out = String::new();
            if is_last {
                out.push_str(&supplied_note(e.key, origin));
                out.push('\n');
            }
            let lines = body.get(start..e.span.end).unwrap_or_default();
            for (n, line) in lines.split('\n').enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                out.push_str("# ");
                out.push_str(line);
            }
            (start..e.span.end, zeroize::Zeroizing::new(out))
        } else if is_last
            && let Some(k) = by_name.get(e.key)
            && let Some(g) = k.generate
        {
            let value = g.value();
            generated.push((k.key.clone(), g));
            let entry = format!("{}={}", k.key, dotenv::quote(&value));
            (e.span.clone(), zeroize::Zeroizing::new(entry))
        } else {
            continue;
        };
        // Spans come from the parser, in order: `get` keeps a bug from
        // becoming a panic, whose message would quote the text.
        let Some(kept) = body.get(kept_from..range.start) else {
            return Err(Error::Parse {
                path: example.path.clone(),
                line: e.line,
                reason: "internal error: an entry outside the text (a bug in envcloak; please report it)".into(),
            });
        };
        text.push_str(kept);
        text.push_str(&replacement);
        kept_from = range.end;
    }
    text.push_str(body.get(kept_from..).unwrap_or_default());
    let values: HashMap<&str, &str> = entries.iter().map(|e| (e.key, e.value.as_ref())).collect();
    let needs_value = example
        .keys
        .iter()
        .filter(|k| k.required && k.generate.is_none() && !from.contains_key(k.key.as_str()))
        .filter(|k| {
            values
                .get(k.key.as_str())
                .is_none_or(|v| v.trim().is_empty())
        })
        .map(|k| k.key.clone())
        .collect();
    let supplied = example
        .keys
        .iter()
        .filter_map(|k| Some((k.key.clone(), from.get(k.key.as_str())?.clone())))
        .collect();
    Ok(Init {
        text,
        generated,
        needs_value,
        supplied,
    })
}

impl Config {
    /// Checks this configuration against a `.env.example`: every required
    /// key set and non-empty, every `@type` respected. All problems are
    /// returned at once in [`Error::Check`]; warnings (keys the example
    /// does not list) do not fail it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let example = dir.path().join(".env.example");
    /// std::fs::write(&example, "# @type int\nPORT=8000\nSECRET_KEY=\n")?;
    /// let cfg = envcloak::Config::builder().environment([("PORT", "eighty")]).build()?;
    /// let err = cfg.check_against(&example).unwrap_err();
    /// assert!(err.to_string().contains("PORT: expected int"));
    /// assert!(err.to_string().contains("SECRET_KEY: required but not set"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_against(&self, example: impl AsRef<Path>) -> Result<()> {
        let example = Example::load(example)?;
        let problems: Vec<String> = check_config(self, &example)
            .into_iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.to_string())
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Check {
                example: example.path,
                problems,
            })
        }
    }
}

/// What [`init`] and [`init_encrypted`] did.
#[derive(Debug)]
pub struct Initialized {
    /// What was made: the new text (fresh secrets), the keys generated,
    /// the required keys still empty.
    pub made: Init,
    /// Where the replaced file was kept (with `force`): a private hard
    /// link, no copy of its contents made.
    pub backup: Option<PathBuf>,
    /// Patterns added to `.gitignore` on the way.
    pub ignored: Vec<String>,
}

impl fmt::Debug for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Init")
            .field("text", &"<redacted>")
            .field("generated", &self.generated)
            .field("needs_value", &self.needs_value)
            .field("supplied", &self.supplied)
            .finish()
    }
}

fn already_exists(target: &Path) -> Error {
    Error::io(
        target,
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "already exists; nothing changed",
        ),
    )
}

/// Checks `target` before [`init`] replaces it: there is none, or `force`
/// and a regular file.
fn may_replace(target: &Path, force: bool) -> Result<bool> {
    match std::fs::symlink_metadata(target) {
        Err(_) => Ok(false),
        Ok(_) if !force => Err(already_exists(target)),
        Ok(_) if !std::fs::metadata(target).is_ok_and(|m| m.is_file()) => Err(Error::io(
            target,
            std::io::Error::other("not a regular file; nothing changed"),
        )),
        Ok(_) => Ok(true),
    }
}

/// Keeps `target` as a private backup beside it before it is replaced.
fn keep_backup(target: &Path, ignored: &mut Vec<String>) -> Result<PathBuf> {
    let backup = crate::fsio::backup_name(target);
    if !crate::gitignore::is_ignored(&backup) {
        ignored.extend(crate::gitignore::add_patterns(
            &crate::fsio::parent_dir(&backup),
            &["*.backup-*".to_owned()],
        )?);
    }
    if !crate::fsio::backup(target, &backup)? {
        return Err(already_exists(&backup));
    }
    Ok(backup)
}

/// Writes a newcomer's `.env` (plaintext, mode 0600, kept out of git) at
/// `target` from `example`, with fresh values for its `@generate` keys,
/// under the write lock. An existing `target` is an error
/// ([`std::io::ErrorKind::AlreadyExists`]) unless `force`, and then it is
/// first kept as a private backup.
///
/// ```
/// use envcloak::example::{init, Example};
/// use envcloak::fsio::LockOptions;
/// # let dir = tempfile::tempdir()?;
/// let text = "# @generate hex:16\nSECRET_KEY=\nDEBUG=false\n";
/// let example = Example::parse(dir.path().join(".env.example"), text.into())?;
/// let done = init(&example, &dir.path().join(".env"), false, &LockOptions::from_env()?)?;
/// assert_eq!(done.made.generated.len(), 1);
/// assert!(init(&example, &dir.path().join(".env"), false, &LockOptions::from_env()?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init(
    example: &Example,
    target: &Path,
    force: bool,
    lock: &crate::fsio::LockOptions<'_>,
) -> Result<Initialized> {
    write_init(example, target, force, None, lock)
}

/// Like [`init`], beside the layers of `others` (see [`init_text_with`]):
/// the keys they supply are written as comments naming their source, so
/// the new `.env` hides none of them. `others` holds what the new file
/// sits beside, never the file itself: the environment, and the
/// encrypted files that a key opened (an encrypted file skipped for want
/// of a key, [`Config::skipped_encrypted`], supplies nothing, so its keys
/// are written live — say so to the user).
///
/// ```
/// use envcloak::Config;
/// use envcloak::example::{init_with, Example};
/// use envcloak::fsio::LockOptions;
/// # let dir = tempfile::tempdir()?;
/// let example = Example::parse(dir.path().join(".env.example"), "DATABASE_URL=\nDEBUG=false\n".into())?;
/// let others = Config::builder().isolated().environment([("DATABASE_URL", "postgres://db/app")]).build()?;
/// let done = init_with(&example, &dir.path().join(".env"), false, &others, &LockOptions::from_env()?)?;
/// assert!(done.made.needs_value.is_empty(), "DATABASE_URL comes from the environment");
/// let text = std::fs::read_to_string(dir.path().join(".env"))?;
/// assert!(text.contains("# DATABASE_URL=\n") && text.ends_with("\nDEBUG=false\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init_with(
    example: &Example,
    target: &Path,
    force: bool,
    others: &Config,
    lock: &crate::fsio::LockOptions<'_>,
) -> Result<Initialized> {
    write_init(example, target, force, Some(others), lock)
}

fn write_init(
    example: &Example,
    target: &Path,
    force: bool,
    others: Option<&Config>,
    lock: &crate::fsio::LockOptions<'_>,
) -> Result<Initialized> {
    may_replace(target, force)?;
    // The target's directory and the .gitignore beside it (another
    // directory when the target is a link), locked up front in order.
    let gitignore = crate::fsio::parent_dir(target).join(".gitignore");
    let _guards = crate::fsio::lock_all_with(&[target, &gitignore], lock)?;
    let replacing = may_replace(target, force)?;
    let made = match others {
        Some(others) => init_text_with(example, others)?,
        None => init_text(example)?,
    };
    let mut ignored = crate::gitignore::ensure_ignored(target)?;
    let real = crate::fsio::resolve(target)?;
    if real != target && crate::gitignore::in_work_tree(&crate::fsio::parent_dir(&real)) {
        ignored.extend(crate::gitignore::ensure_ignored(&real)?);
    }
    let backup = replacing
        .then(|| keep_backup(target, &mut ignored))
        .transpose()?;
    crate::fsio::write_atomic(target, made.text.as_bytes(), Some(0o600))?;
    Ok(Initialized {
        made,
        backup,
        ignored,
    })
}

/// Like [`init`], but writes the encrypted file at `target`. An existing
/// one (with `force`) is replaced only when `access` opens it, and is
/// sealed the same way; a new one is sealed with what `new` returns (a
/// keyring found, a key file just made). The new file is 0644: it is meant
/// to be committed.
pub fn init_encrypted<E: From<Error>>(
    example: &Example,
    target: &Path,
    force: bool,
    access: &crate::vault::Access,
    lock: &crate::fsio::LockOptions<'_>,
    new: impl FnOnce() -> std::result::Result<crate::vault::Sealer, E>,
) -> std::result::Result<Initialized, E> {
    may_replace(target, force)?;
    let gitignore = crate::fsio::parent_dir(target).join(".gitignore");
    let guards = crate::fsio::lock_all_with(&[target, &gitignore], lock)?;
    let guard = guards
        .iter()
        .find(|g| g.check_covers(target).is_ok())
        .ok_or_else(|| Error::io(target, std::io::Error::other("no lock covers the file")))?;
    let replacing = may_replace(target, force)?;
    let made = init_text(example)?;
    let mut ignored = Vec::new();
    let (sealer, backup) = if replacing {
        let opened = crate::vault::open_with(target, access, None)?;
        (opened.sealer, Some(keep_backup(target, &mut ignored)?))
    } else {
        (new()?, None)
    };
    crate::vault::seal(target, &made.text, &sealer, guard)?;
    // The private backup shared the old file's inode (and so its 0600).
    #[cfg(unix)]
    if replacing {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(target, e))?;
    }
    Ok(Initialized {
        made,
        backup,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str) -> Example {
        Example::parse(".env.example", text.to_owned()).unwrap()
    }

    #[test]
    fn directives_and_descriptions() {
        let e = ex(
            "# The signing key.\n# @required\n# @generate fernet\nSECRET_KEY=\n\n# Debug mode\n# @optional @type bool\nDEBUG=false\nPLAIN=x\n",
        );
        let s = e.get("SECRET_KEY").unwrap();
        assert_eq!(
            (s.line, s.required, s.generate),
            (4, true, Some(Generate::Fernet))
        );
        assert_eq!(s.description, "The signing key.");
        let d = e.get("DEBUG").unwrap();
        assert_eq!((d.required, d.ty), (false, Some(ValueType::Bool)));
        assert_eq!(d.description, "Debug mode");
        let p = e.get("PLAIN").unwrap();
        assert_eq!((p.required, p.ty, p.generate), (true, None, None));
    }

    #[test]
    fn bad_directives_name_the_line() {
        for (text, line) in [
            ("# @type integer\nA=1\n", 1),
            ("\n# @generate hex:0\nA=\n", 2),
            ("# @generate base32:8\nA=\n", 1),
            ("# ok\n# @requird\nA=\n", 2),
        ] {
            match Example::parse(".env.example", text.to_owned()) {
                Err(Error::Parse { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn secret_detection() {
        for s in [
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "AKIAIOSFODNN7EXAMPLX",
            "8f3a9c2d7e1b4f6a0c5d9e2b7a1f4c8d",
            "postgres://app:Xk9#mQ2$vL7pR4@db.example.com/app",
            "postgres://admin:s3cr3tP4ss@db.acme.io/prod",
            "https://bob:hunter2hunter2@api.acme.io/v1",
            "https://hooks.example.com/services/T0A1B2C3/B4D5E6F7/q8W2xZ7pL0mN4vB6cX9kR3tY",
        ] {
            assert!(looks_like_secret(s), "{s}");
        }
        for s in [
            "",
            "changeme",
            "postgres://localhost:5432/app",
            "postgres://app:app@localhost:5432/app",
            "postgres://app:changeme@localhost/app",
            "postgres://postgres:postgres@localhost:5432/app",
            "mysql://root:password123@127.0.0.1/db",
            "postgres://user:${DB_PASSWORD}@db/app",
            "your-api-key-here-please-change",
            "false",
            "https://example.com/a/very/long/path/that/is/fine",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(!looks_like_secret(s), "{s}");
        }
    }

    #[test]
    fn init_generates_and_keeps_the_rest() {
        let e = ex(
            "# top\n# @generate hex:16\nTOKEN=\nURL=postgres://localhost/app\n# @required\nAPI_KEY=\n# @optional\nOPT=\n",
        );
        let init = init_text(&e).unwrap();
        let entries = dotenv::parse(&init.text).unwrap();
        assert_eq!(entries[0].key, "TOKEN");
        assert_eq!(entries[0].value.len(), 32);
        assert!(entries[0].value.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(init.text.starts_with("# top\n# @generate hex:16\nTOKEN="));
        assert!(
            init.text.ends_with(
                "URL=postgres://localhost/app\n# @required\nAPI_KEY=\n# @optional\nOPT=\n"
            )
        );
        assert_eq!(
            init.generated,
            vec![("TOKEN".to_owned(), Generate::Hex(16))]
        );
        assert_eq!(init.needs_value, vec!["API_KEY".to_owned()]);
    }

    /// The other layers for `init_text_with`: an environment of these keys.
    fn others(keys: &[&str]) -> Config {
        Config::builder()
            .isolated()
            .environment(keys.iter().map(|k| (*k, "CANARY_value")))
            .build()
            .unwrap()
    }

    #[test]
    fn init_leaves_supplied_keys_as_comments() {
        let e = ex(concat!(
            "\u{feff}# top\n",
            "A=1\n",
            "# @generate hex:16\n",
            "TOKEN=\n",
            "export  MULTI=\"one\n",
            "two\" # note\n",
            "# @required\n",
            "NEEDED=\n",
            "A=again\n",
            "LAST=x",
        ));
        let init = init_text_with(&e, &others(&["A", "TOKEN", "MULTI", "NEEDED"])).unwrap();
        let env = "which wins over this file; uncomment for when it is unset";
        assert_eq!(
            init.text.as_str(),
            format!(
                "\u{feff}# top\n\
                 # A=1\n\
                 # @generate hex:16\n\
                 # TOKEN comes from the process environment, {env}\n\
                 # TOKEN=\n\
                 # MULTI comes from the process environment, {env}\n\
                 # export  MULTI=\"one\n\
                 # two\" # note\n\
                 # @required\n\
                 # NEEDED comes from the process environment, {env}\n\
                 # NEEDED=\n\
                 # A comes from the process environment, {env}\n\
                 # A=again\n\
                 LAST=x"
            )
        );
        assert!(!init.text.contains("CANARY"));
        assert!(init.generated.is_empty(), "nothing generated for a comment");
        assert!(init.needs_value.is_empty(), "{:?}", init.needs_value);
        let supplied: Vec<&str> = init.supplied.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            supplied,
            ["TOKEN", "MULTI", "NEEDED", "A"],
            "the example's order"
        );
        // What is left parses, and defines only the live key.
        let entries = dotenv::parse(&init.text).unwrap();
        let keys: Vec<&str> = entries.iter().map(|e| e.key).collect();
        assert_eq!(keys, ["LAST"]);
    }

    #[test]
    fn init_generates_only_live_keys_and_names_file_sources() {
        let e = ex("# @generate hex:16\nTOKEN=\n# @generate fernet\nSECRET_KEY=\nDB=\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env.local"), "SECRET_KEY=CANARY_team\n").unwrap();
        let local = Config::builder()
            .isolated()
            .file(dir.path().join(".env.local"))
            .build()
            .unwrap();
        let init = init_text_with(&e, &local).unwrap();
        assert_eq!(
            init.generated,
            vec![("TOKEN".to_owned(), Generate::Hex(16))]
        );
        assert!(
            init.text.contains(
                "# @generate fernet\n# SECRET_KEY comes from .env.local; uncomment to override\n# SECRET_KEY=\nDB=\n"
            ),
            "{}",
            init.text.as_str()
        );
        assert!(!init.text.contains("CANARY"));
        assert_eq!(init.needs_value, ["DB"]);
        // Nothing supplied: the same as init_text.
        let plain = init_text_with(&e, &others(&[])).unwrap();
        assert!(plain.supplied.is_empty());
        assert_eq!(plain.generated.len(), 2);
    }
}
