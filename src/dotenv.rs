//! envcloak's own dotenv reader and writer.
//!
//! The syntax is dotenv's as dotenvy 0.15.7 reads it, with line numbers,
//! without ever copying a line into an error, and with the differences
//! below. For every input dotenvy accepts, both return the same entries
//! except in these documented cases (the differential tests in
//! `tests/dotenv_differential.rs` hold us to it):
//!
//! | input | dotenvy 0.15.7 | envcloak |
//! |---|---|---|
//! | `A=a b` (inner spaces, unquoted) | error | `a b` |
//! | `A=x\` (backslash at end of line) | backslash dropped | error |
//! | `A="x\ty"` (`\t`, `\r` escapes) | error | tab, carriage return |
//! | `$MY_VAR` (underscore in a bare name) | expands `$MY`, then `_VAR` | expands `MY_VAR`, as a shell does |
//! | non-ASCII letters after a bare name (`$Bü`) | part of the name | end the name |
//! | `$` not followed by an ASCII letter or `_` (`cost$`, `a$ b`, `$5`) | expands a name, usually to nothing | a literal `$` |
//! | a quote, backslash or `$` right after a bare `$NAME` | copied verbatim (so `"$B"` never closes) | read as usual |
//! | an escaped space at the end of a line (`A=x\ `) | trimmed | kept |
//! | `\'` inside single quotes (`'C:\'`) | escapes the quote; reads on to the end of the file | a backslash, then the closing quote |
//! | a quote in a comment that follows `=` directly or two or more blanks (`A=1  # don't`) | opens a quoted value: the lines up to the next quote are dropped | part of the comment, which ends at the line's end |
//! | CRLF inside a multi-line quoted value | keeps `\r\n` | `\n` |
//! | a UTF-8 BOM (through `from_path_iter`) | error | skipped |
//! | trailing spaces on the last line, no newline | error | ignored |
//!
//! ```
//! let entries = envcloak::dotenv::parse("# db\nexport HOST=localhost\nURL=\"http://${HOST}:5432\"\n")?;
//! assert_eq!(entries[0].key, "HOST");
//! assert_eq!(entries[1].value, "http://localhost:5432");
//! assert_eq!(entries[1].line, 3);
//! # Ok::<(), envcloak::dotenv::ParseError>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

/// One `KEY=value` entry of a dotenv text.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key, borrowed from the text.
    pub key: &'a str,
    /// The value after quotes, escapes and expansion; borrowed when the text
    /// holds it verbatim.
    pub value: Cow<'a, str>,
    /// The 1-based line the entry starts on.
    pub line: u32,
    /// Byte range in the text (after a leading BOM, if any) from the key
    /// (after any `export `) to the end
    /// of the entry's last line (before its newline); tools that rewrite one
    /// entry replace this range.
    pub span: Range<usize>,
    /// Where the text holds `value` verbatim: a byte range in the text
    /// (after a leading BOM, as `span`) with `text[value_span] == value`,
    /// and `value` is borrowed from it. `None` when the value was unquoted
    /// across lines, unescaped or expanded into an owned string. An empty
    /// value (`A=`, `A=  # comment`) has an empty range where it would start.
    pub value_span: Option<Range<usize>>,
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("value", &"<redacted>")
            .field("line", &self.line)
            .finish()
    }
}

/// A syntax error: the line and what is wrong, never the line's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: u32,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// The kinds of dotenv syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A key must start with a letter or `_` and hold only letters, digits, `_` and `.`.
    #[error("invalid key: keys start with a letter or '_' and hold letters, digits, '_' or '.'")]
    InvalidKey,
    /// The key is not followed by `=`.
    #[error("expected '=' after the key")]
    MissingEquals,
    /// A quoted value is never closed.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(QuoteKind),
    /// An escape other than `\n \t \r \" \' \\ \$` and `\ `.
    #[error("unknown escape sequence (use \\n \\t \\r \\\" \\' \\\\ \\$)")]
    InvalidEscape,
    /// A backslash at the end of a line: line continuation is not supported.
    #[error("backslash at the end of a line (line continuation is not supported; quote the value)")]
    DanglingBackslash,
    /// `${` without a closing `}` on the same line.
    #[error("unterminated ${{...}} expansion")]
    UnterminatedExpansion,
    /// Expansions in one file copied more than [`MAX_EXPANSION`] bytes
    /// (a chain like `B=${A}${A}`, `C=${B}${B}`, ... doubles at every line).
    #[error("expansions copy more than 64 MiB in this file; refusing to go on")]
    ExpansionTooLarge,
}

/// The most bytes `${VAR}` expansions may copy in one file: enough for any
/// real file, and a bound on memory for a hostile one.
pub const MAX_EXPANSION: usize = 64 << 20;

/// Which quote was left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteKind {
    /// `'...'`
    Single,
    /// `"..."`
    Double,
}

impl fmt::Display for QuoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuoteKind::Single => "single",
            QuoteKind::Double => "double",
        })
    }
}

/// Parses dotenv text. `${VAR}` and `$VAR` expand from earlier entries only.
pub fn parse(text: &str) -> Result<Vec<Entry<'_>>, ParseError> {
    parse_with_env(text, &|_| None)
}

/// Parses dotenv text; `${VAR}` and `$VAR` look in `env` first (as dotenvy
/// reads the process environment first), then in earlier entries; an unknown
/// name expands to nothing.
pub fn parse_with_env<'a>(
    text: &'a str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Entry<'a>>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        env,
        entries: Vec::with_capacity(text.len() / 32),
        index: None,
        expanded: 0,
    };
    p.run()?;
    Ok(p.entries)
}

struct Parser<'a, 'e> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: u32,
    env: &'e dyn Fn(&str) -> Option<String>,
    entries: Vec<Entry<'a>>,
    /// Key -> index of its last entry; built on the first expansion only.
    index: Option<HashMap<&'a str, usize, BuildHasherDefault<FxHasher>>>,
    /// Bytes copied by expansions so far.
    expanded: usize,
}

fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl<'a> Parser<'a, '_> {
    /// `text[range]`. Ranges come from the parser's own scanning and always
    /// fall on character boundaries; should one not, the result is empty
    /// rather than a panic (whose message would quote the text).
    fn slice(&self, range: Range<usize>) -> &'a str {
        debug_assert!(self.text.get(range.clone()).is_some(), "{range:?}");
        self.text.get(range).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line,
            kind,
        }
    }

    /// True at `\n`, `\r\n` or the end of the text.
    fn at_eol(&self) -> bool {
        match self.peek() {
            None | Some(b'\n') => true,
            Some(b'\r') => matches!(self.bytes.get(self.pos + 1), None | Some(b'\n')),
            _ => false,
        }
    }

    /// Skips whitespace other than line ends (Unicode whitespace too, as
    /// dotenvy does).
    fn skip_blanks(&mut self) {
        let rest = &self.text[self.pos..];
        let kept = rest.trim_start_matches(|c: char| c.is_whitespace() && c != '\n' && c != '\r');
        self.pos += rest.len() - kept.len();
    }

    fn skip_to_eol(&mut self) {
        match memchr(b'\n', &self.bytes[self.pos..]) {
            Some(i) => self.pos += i,
            None => self.pos = self.bytes.len(),
        }
    }

    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Ok(()),
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                }
                Some(b'\r') if self.at_eol() => self.pos += 1,
                Some(b'#') => self.skip_to_eol(),
                Some(_) => self.entry()?,
            }
        }
    }

    fn key(&mut self) -> Result<&'a str, ParseError> {
        let start = self.pos;
        if !self.peek().is_some_and(is_key_start) {
            return Err(self.err(ParseErrorKind::InvalidKey));
        }
        while self.peek().is_some_and(is_key_byte) {
            self.pos += 1;
        }
        Ok(&self.text[start..self.pos])
    }

    fn expect_equals(&mut self) -> Result<(), ParseError> {
        if self.peek() == Some(b'=') {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(ParseErrorKind::MissingEquals))
        }
    }

    /// A key must end at `=`, a blank or the end of the line: `A-B=1` is a
    /// bad key, not a missing `=`.
    fn key_end(&self) -> Result<(), ParseError> {
        match self.peek() {
            Some(b'=' | b' ' | b'\t') => Ok(()),
            _ if self.at_eol() => Ok(()),
            _ => Err(self.err(ParseErrorKind::InvalidKey)),
        }
    }

    fn entry(&mut self) -> Result<(), ParseError> {
        let line = self.line;
        let mut start = self.pos;
        let mut key = self.key()?;
        self.key_end()?;
        self.skip_blanks();
        if key == "export" && self.peek() != Some(b'=') {
            start = self.pos;
            key = self.key()?;
            self.key_end()?;
            self.skip_blanks();
        }
        self.expect_equals()?;
        self.skip_blanks();
        let (value, value_span) = if self.peek() == Some(b'#') {
            let at = self.pos;
            self.skip_to_eol();
            (Cow::Borrowed(self.slice(at..at)), Some(at..at))
        } else if let Some(range) = self.plain_value() {
            (Cow::Borrowed(self.slice(range.clone())), Some(range))
        } else {
            (Cow::Owned(self.value()?), None)
        };
        self.skip_to_eol();
        let mut end = self.pos;
        if end > start && self.bytes[end - 1] == b'\r' {
            end -= 1;
        }
        if let Some(index) = &mut self.index {
            index.insert(key, self.entries.len());
        }
        self.entries.push(Entry {
            key,
            value,
            line,
            span: start..end,
            value_span,
        });
        Ok(())
    }

    /// The fast path: a value with no quotes, escapes or expansions is
    /// borrowed from the text as it stands; returns its range.
    fn plain_value(&mut self) -> Option<Range<usize>> {
        let rest = &self.bytes[self.pos..];
        let mut end = rest.len();
        let mut next = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            match b {
                b'\n' => {
                    end = i;
                    next = i;
                    break;
                }
                b'\'' | b'"' | b'\\' | b'$' => return None,
                b'#' if i > 0 && is_blank(rest[i - 1]) => {
                    end = i;
                    next = i + memchr(b'\n', &rest[i..]).unwrap_or(rest.len() - i);
                    break;
                }
                _ => {}
            }
        }
        let start = self.pos;
        self.pos += next;
        let len = self.slice(start..start + end).trim_end().len();
        Some(start..start + len)
    }

    /// The general path: quotes, escapes and expansions, concatenated.
    fn value(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        // Where the unquoted text at the end of `out` starts: only that part
        // loses trailing whitespace.
        let mut tail = 0;
        loop {
            if self.at_eol() {
                break;
            }
            let b = self.bytes[self.pos];
            match b {
                b' ' | b'\t' => {
                    let start = self.pos;
                    self.skip_blanks();
                    if self.at_eol() {
                        break;
                    }
                    if self.peek() == Some(b'#') {
                        self.skip_to_eol();
                        break;
                    }
                    out.push_str(&self.text[start..self.pos]);
                }
                b'\'' => {
                    self.quoted(QuoteKind::Single, &mut out)?;
                    tail = out.len();
                }
                b'"' => {
                    self.quoted(QuoteKind::Double, &mut out)?;
                    tail = out.len();
                }
                b'\\' => {
                    self.pos += 1;
                    if self.at_eol() {
                        return Err(self.err(ParseErrorKind::DanglingBackslash));
                    }
                    self.escape(&mut out)?;
                    tail = out.len();
                }
                b'$' => {
                    self.expansion(&mut out)?;
                    tail = out.len();
                }
                _ => {
                    let start = self.pos;
                    while self.peek().is_some_and(|b| {
                        !matches!(
                            b,
                            b' ' | b'\t' | b'\'' | b'"' | b'\\' | b'$' | b'\n' | b'\r'
                        )
                    }) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        // A lone '\r' that does not end the line.
                        self.pos += 1;
                    }
                    out.push_str(&self.text[start..self.pos]);
                }
            }
        }
        let keep = tail + out[tail..].trim_end().len();
        out.truncate(keep);
        Ok(out)
    }

    /// Reads the escape after a backslash (the backslash already consumed).
    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let c = match self.peek() {
            Some(b'n') => '\n',
            Some(b't') => '\t',
            Some(b'r') => '\r',
            Some(b @ (b'\\' | b'\'' | b'"' | b'$' | b' ')) => b as char,
            _ => return Err(self.err(ParseErrorKind::InvalidEscape)),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    fn quoted(&mut self, kind: QuoteKind, out: &mut String) -> Result<(), ParseError> {
        let open_line = self.line;
        let quote = match kind {
            QuoteKind::Single => b'\'',
            QuoteKind::Double => b'"',
        };
        self.pos += 1;
        loop {
            let Some(b) = self.peek() else {
                return Err(ParseError {
                    line: open_line,
                    kind: ParseErrorKind::UnterminatedQuote(kind),
                });
            };
            match b {
                _ if b == quote => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                    out.push('\n');
                }
                b'\r' if self.bytes.get(self.pos + 1) == Some(&b'\n') => self.pos += 1,
                b'\\' if kind == QuoteKind::Double => {
                    self.pos += 1;
                    self.escape(out)?;
                }
                b'$' if kind == QuoteKind::Double => self.expansion(out)?,
                _ => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| {
                        c != quote
                            && c != b'\n'
                            && c != b'\r'
                            && (kind == QuoteKind::Single || (c != b'\\' && c != b'$'))
                    }) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        self.pos += 1;
                    }
                    out.push_str(&self.text[start..self.pos]);
                }
            }
        }
    }

    /// `$NAME` or `${NAME}` (the `$` not yet consumed); a `$` not followed by
    /// a name is a literal `$`.
    fn expansion(&mut self, out: &mut String) -> Result<(), ParseError> {
        self.pos += 1;
        let name = match self.peek() {
            Some(b'{') => {
                let start = self.pos + 1;
                let rest = &self.bytes[start..];
                let close = rest.iter().position(|&b| b == b'}' || b == b'\n');
                match close {
                    Some(i) if rest[i] == b'}' => {
                        self.pos = start + i + 1;
                        &self.text[start..start + i]
                    }
                    _ => return Err(self.err(ParseErrorKind::UnterminatedExpansion)),
                }
            }
            Some(b) if is_key_start(b) => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    self.pos += 1;
                }
                &self.text[start..self.pos]
            }
            _ => {
                out.push('$');
                return Ok(());
            }
        };
        let env_value = (self.env)(name);
        let value: &str = match &env_value {
            Some(v) => v,
            None => match self.lookup(name) {
                Some(i) => &self.entries[i].value,
                None => "",
            },
        };
        self.expanded += value.len();
        if self.expanded > MAX_EXPANSION {
            return Err(self.err(ParseErrorKind::ExpansionTooLarge));
        }
        out.push_str(value);
        Ok(())
    }

    /// The last entry named `name`. Expansions nearly always name a key a
    /// few lines up, so the last [`NEARBY`] entries are scanned first; the
    /// index over every entry is built only for a reference further back
    /// (or an unknown name), once, and kept up to date from then on.
    fn lookup(&mut self, name: &str) -> Option<usize> {
        const NEARBY: usize = 32;
        if self.index.is_none() {
            let from = self.entries.len().saturating_sub(NEARBY);
            if let Some(i) = self.entries[from..].iter().rposition(|e| e.key == name) {
                return Some(from + i);
            }
            if from == 0 {
                return None;
            }
        }
        let entries = &self.entries;
        let index = self.index.get_or_insert_with(|| {
            // Sized for the whole file at once: no rehashing as it grows.
            let mut m = HashMap::with_capacity_and_hasher(entries.capacity(), Default::default());
            m.extend(entries.iter().enumerate().map(|(i, e)| (e.key, i)));
            m
        });
        index.get(name).copied()
    }
}

/// FxHash-style hashing for the expansion index: keys come from the user's
/// own file, so speed matters more than resistance to crafted collisions.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Whether `key` is a valid dotenv key: a letter or `_`, then letters,
/// digits, `_` or `.`.
pub fn is_valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty() && is_key_start(b[0]) && b.iter().all(|&c| is_key_byte(c))
}

/// Returns `text` with `key` set to `value`: the last entry for `key` is
/// rewritten in place (every other line, comment and the order kept), or
/// `KEY=value` is appended.
///
/// ```
/// let text = "# db\nHOST=old # note\nPORT=1\n";
/// let new = envcloak::dotenv::set_entry(text, "HOST", "db.internal")?;
/// assert_eq!(new, "# db\nHOST=db.internal\nPORT=1\n");
/// assert_eq!(envcloak::dotenv::set_entry("A=1", "B", "two words")?, "A=1\nB='two words'\n");
/// # Ok::<(), envcloak::dotenv::ParseError>(())
/// ```
pub fn set_entry(text: &str, key: &str, value: &str) -> Result<String, ParseError> {
    if !is_valid_key(key) {
        return Err(ParseError {
            line: 0,
            kind: ParseErrorKind::InvalidKey,
        });
    }
    let entries = parse(text)?;
    let line = format!("{key}={}", quote(value));
    let (bom, body) = split_bom(text);
    let found = entries.iter().rev().find(|e| e.key == key);
    // The span comes from the parser; should it ever not fit the text, the
    // entry is appended rather than the text sliced out of bounds.
    if let Some((before, after)) =
        found.and_then(|e| Some((body.get(..e.span.start)?, body.get(e.span.end..)?)))
    {
        return Ok(format!("{bom}{before}{line}{after}"));
    }
    let sep = if body.is_empty() || body.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    Ok(format!("{bom}{body}{sep}{line}\n"))
}

/// `(bom, body)`: a leading UTF-8 BOM (or nothing) and the text after it,
/// to which the parser's offsets refer.
fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    }
}

/// Returns `text` without any entry for `key` (their whole lines removed),
/// and how many entries were removed.
///
/// ```
/// let (new, n) = envcloak::dotenv::remove_entry("A=1\nB=\"x\ny\"\nC=3\n", "B")?;
/// assert_eq!((new.as_str(), n), ("A=1\nC=3\n", 1));
/// # Ok::<(), envcloak::dotenv::ParseError>(())
/// ```
pub fn remove_entry(text: &str, key: &str) -> Result<(String, usize), ParseError> {
    let (bom, body) = split_bom(text);
    let entries = parse(text)?;
    let mut out = String::with_capacity(text.len());
    out.push_str(bom);
    let mut kept_from = 0;
    let mut removed = 0;
    for e in entries.iter().filter(|e| e.key == key) {
        // Spans come from the parser and are in order; `get` keeps a bug
        // from becoming a panic.
        let (Some(head), Some(tail)) = (body.get(..e.span.start), body.get(e.span.end..)) else {
            continue;
        };
        let line_start = head.rfind('\n').map_or(0, |i| i + 1);
        let line_end = tail.find('\n').map_or(body.len(), |i| e.span.end + i + 1);
        let Some(kept) = body.get(kept_from..line_start) else {
            continue;
        };
        out.push_str(kept);
        kept_from = line_end;
        removed += 1;
    }
    out.push_str(body.get(kept_from..).unwrap_or_default());
    Ok((out, removed))
}

/// Writes `value` so that [`parse`] reads it back exactly: bare when it is
/// made of safe characters, in single quotes when it can be, otherwise in
/// double quotes with `\\ \" \$ \n \r` escaped.
///
/// ```
/// use envcloak::dotenv::quote;
/// assert_eq!(quote("abc123"), "abc123");
/// assert_eq!(quote("two words"), "'two words'");
/// assert_eq!(quote("it's\n$HOME"), "\"it's\\n\\$HOME\"");
/// ```
pub fn quote(value: &str) -> Cow<'_, str> {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"_-./:@,+=%^~".contains(&b);
    if value.bytes().all(safe) {
        return Cow::Borrowed(value);
    }
    if !value.contains(['\'', '\n', '\r']) {
        return Cow::Owned(format!("'{value}'"));
    }
    let mut out = String::with_capacity(value.len() + 8);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key.to_owned(), e.value.into_owned()))
            .collect()
    }

    fn one(text: &str) -> String {
        let p = pairs(text);
        assert_eq!(p.len(), 1, "{text:?}");
        p[0].1.clone()
    }

    fn err(text: &str) -> ParseError {
        parse(text).unwrap_err()
    }

    #[test]
    fn unquoted_values_keep_inner_spaces_and_drop_comments() {
        assert_eq!(
            one("ALLOWED_HOSTS=.localhost, .herokuapp.com\n"),
            ".localhost, .herokuapp.com"
        );
        assert_eq!(one("A=a b  # note"), "a b");
        assert_eq!(one("A=a#b"), "a#b");
        assert_eq!(one("A=   "), "");
        assert_eq!(one("A=#comment"), "");
        assert_eq!(one("A= x \r\n"), "x");
    }

    #[test]
    fn quotes_escapes_and_multiline() {
        assert_eq!(one(r#"A='lit $HOME \n'"#), r"lit $HOME \n");
        assert_eq!(one(r#"A="a\nb\t\"c\" \\ \$""#), "a\nb\t\"c\" \\ $");
        assert_eq!(one("A=\"one\ntwo\"\n"), "one\ntwo");
        assert_eq!(one("A=\"one\r\ntwo\"\r\n"), "one\ntwo");
        assert_eq!(one("A=a\"b c\"d"), "ab cd");
        assert_eq!(one("A=\"x\" # c"), "x");
    }

    #[test]
    fn lines_are_counted_across_multiline_values() {
        let e = parse("A=\"1\n2\n3\"\n\n# c\nB=x\n").unwrap();
        assert_eq!((e[0].line, e[1].line), (1, 6));
        assert_eq!(err("A=1\nB=\"open\nC=2\n").line, 2);
    }

    #[test]
    fn expansion_reads_env_first_then_earlier_entries() {
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        let e = parse_with_env("A=x\nB=${A}/$HOME/$MY_VAR/${NOPE}/cost$\n", &env).unwrap();
        assert_eq!(e[1].value, "x//home/u///cost$");
        assert_eq!(one("A='$x'"), "$x");
    }

    #[test]
    fn export_bom_and_keys() {
        assert_eq!(
            pairs("\u{feff}export A=1\nexport=2\nexport  B.c=3\n"),
            vec![
                ("A".into(), "1".into()),
                ("export".into(), "2".into()),
                ("B.c".into(), "3".into())
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_kind() {
        assert_eq!(err("A=1\nB\n").kind, ParseErrorKind::MissingEquals);
        assert_eq!(err("A=1\nB-C=2").kind, ParseErrorKind::InvalidKey);
        assert_eq!(err("1A=2").kind, ParseErrorKind::InvalidKey);
        assert_eq!(
            err("A='x").kind,
            ParseErrorKind::UnterminatedQuote(QuoteKind::Single)
        );
        assert_eq!(err(r#"A="\q""#).kind, ParseErrorKind::InvalidEscape);
        assert_eq!(err("A=x\\\n").kind, ParseErrorKind::DanglingBackslash);
        assert_eq!(err("A=${X\n").kind, ParseErrorKind::UnterminatedExpansion);
        assert_eq!(err("\n\nA=${X").line, 3);
    }

    #[test]
    fn doubling_expansions_are_refused_not_exhausting_memory() {
        let mut text = String::from("A0=0123456789abcdef\n");
        for i in 1..64 {
            text.push_str(&format!("A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
        }
        let e = err(&text);
        assert_eq!(e.kind, ParseErrorKind::ExpansionTooLarge);
        assert!(e.line > 20 && e.line < 30, "{}", e.line);
    }

    #[test]
    fn expansion_finds_near_and_far_keys_and_the_last_duplicate() {
        let mut text = String::from("FIRST=far\nDUP=old\n");
        for i in 0..100 {
            text.push_str(&format!("K{i}=v{i}\n"));
        }
        text.push_str("DUP=new\nA=${FIRST}/${K99}/${DUP}/${NOPE}/${K3}\nDUP=newest\nB=$DUP\n");
        let e = parse(&text).unwrap();
        let get = |k: &str| {
            e.iter()
                .rev()
                .find(|x| x.key == k)
                .unwrap()
                .value
                .to_string()
        };
        assert_eq!(get("A"), "far/v99/new//v3");
        assert_eq!(get("B"), "newest");
    }

    /// `value_span` is set exactly when the value is borrowed, and points at
    /// it in the text after the BOM.
    fn check_value_spans(text: &str) {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        for e in parse(text).unwrap() {
            match (&e.value_span, &e.value) {
                (Some(r), Cow::Borrowed(v)) => {
                    assert_eq!(body.get(r.clone()), Some(*v), "{text:?} {:?}", e.key);
                    assert_eq!(v.as_ptr(), body[r.clone()].as_ptr(), "{text:?}");
                }
                (None, Cow::Owned(_)) => {}
                _ => panic!("{text:?} {:?}: value_span and Cow disagree", e.key),
            }
        }
    }

    #[test]
    fn empty_value_before_a_comment_is_an_empty_span_in_the_text() {
        let e = parse("A=#note\nB=   # optional\n").unwrap();
        assert_eq!(
            (e[0].value.as_ref(), e[0].value_span.clone()),
            ("", Some(2..2))
        );
        assert_eq!(
            (e[1].value.as_ref(), e[1].value_span.clone()),
            ("", Some(13..13))
        );
        for text in [
            "A=#note\n",
            "A=   # optional\nB=x\n",
            "\u{feff}A=#note\nB=  y z  # c\r\nC=\"q\"\nD=$B\n",
            "A=\nB=\r\nC=",
            "export  K=v # c",
        ] {
            check_value_spans(text);
        }
    }

    #[test]
    fn plain_values_are_borrowed() {
        let e = parse("A=hello world\n").unwrap();
        assert!(matches!(e[0].value, Cow::Borrowed(_)));
    }

    #[test]
    fn quote_round_trips() {
        for v in [
            "",
            "plain",
            "two words",
            "it's",
            "a\nb",
            "\"q\"",
            "$HOME",
            "#x",
            " lead",
            "tab\t",
            "back\\slash",
            "mix 'a' \"b\" $c\r\n",
            "ünï €",
        ] {
            let text = format!("K={}\n", quote(v));
            assert_eq!(one(&text), v, "{text:?}");
        }
    }
}
