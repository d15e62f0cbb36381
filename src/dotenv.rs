//! envcloak's own dotenv reader and writer.
//!
//! # Syntax
//!
//! One `KEY=value` entry a line (`export KEY=value` too); blank lines and
//! lines starting with `#` are skipped; LF or CRLF line ends; a UTF-8 BOM at
//! the start is skipped. Keys start with an ASCII letter or `_` and hold
//! letters, digits, `_` and `.`; the last entry for a key wins.
//!
//! - **Unquoted** (`A=a b`): the value runs to the end of the line or to a
//!   `#` that follows whitespace (any Unicode whitespace: a no-break space
//!   before `#` starts a comment too); whitespace around it is dropped, inner
//!   spaces are kept (`ALLOWED_HOSTS=.localhost, .herokuapp.com`). Quotes
//!   inside it are ordinary characters (`JSON={"a":1}`, `A=it's`): only a
//!   quote that opens the value makes it quoted. A backslash is itself
//!   (`A=C:\dir`), except `\$`, a literal `$`, and a backslash that ends
//!   the line, an error (a shell would continue the line; envcloak does
//!   not). `A=` and `A=  # note` are empty.
//! - **Single quotes** (`A='x'`): literal, may span lines.
//! - **Double quotes** (`A="x"`): the escapes `\n \t \r \" \' \\ \$` and `\ `
//!   (another is an error), expansion, may span lines (CRLF read as `\n`).
//! - After a closing quote only blanks and a `#` comment may follow, with or
//!   without a blank before the `#` (`A="x" # note`, `A="x"#note`); other
//!   text (`A="x"y`) is an error rather than a guess.
//! - **Expansion**, outside single quotes: `$NAME` (ASCII letters, digits,
//!   `_`) and `${NAME}` read the environment given to [`parse_with_env`],
//!   then the file's earlier entries; an unknown name is empty; a `$` not
//!   followed by a name is itself.
//!   - `${NAME:-word}` is `word` when `NAME` is unset or empty, `${NAME-word}`
//!     only when it is unset, as a shell reads them. `word` may hold
//!     expansions (`${A:-${B}/x}`, nested at most [`MAX_NESTING`] deep) and
//!     the escapes of where it stands (in double quotes, theirs; unquoted,
//!     `\$`); it ends at the first `}` not part of an expansion and cannot
//!     span lines.
//!   - `${NAME:?message}` (unset or empty) and `${NAME?message}` (unset)
//!     make the whole parse fail with
//!     [`ParseErrorKind::RequiredVariable`], which names `NAME` and the line
//!     and never shows the message (it is the file's text). Only
//!     [`parse_with_env`] (loading) checks it; [`parse`], without an
//!     environment, reads it as `${NAME}`.
//!   - Any other `${...}` (`${A:=x}`, `${A:+x}`) looks up everything up to
//!     the `}` as one name, as dotenvy does: usually empty.
//!   - Expansions copy at most [`MAX_EXPANSION`] bytes in one file, defaults
//!     included.
//!
//! Errors carry the line and what is wrong, never the line's text.
//!
//! # Differences from dotenvy
//!
//! The syntax is dotenv's as dotenvy 0.15.7 reads it, with line numbers,
//! without ever copying a line into an error, and with the differences
//! below; where dotenvy differs from python-dotenv and node dotenv (with
//! dotenv-expand), envcloak reads files as their majority does. For every
//! input dotenvy accepts, both return the same entries except in these
//! documented cases (the differential tests in
//! `tests/dotenv_differential.rs` hold us to it):
//!
//! | input | dotenvy 0.15.7 | envcloak |
//! |---|---|---|
//! | `A=a b` (inner spaces, unquoted) | error | `a b` |
//! | a backslash in an unquoted value (`A=C:\dir`, `A=x\ `) | an escape: `\n` a newline, `\ ` a space, others an error | itself, except `\$`: a `$` (python-dotenv and node keep backslashes; node reads `\$` as `$`) |
//! | `A=x\` (backslash at end of line) | backslash dropped | error (python-dotenv and node keep it; a shell continues the line) |
//! | a quote inside an unquoted value (`A=a"b c"d`, `JSON={"a":1}`, `A=it's`) | opens a quoted part and is dropped (`ab cd`); an error when unbalanced | kept: `a"b c"d`, as python-dotenv and node read it |
//! | text after a closing quote (`A="x"y`, `A='a'"b"`) | joined to the value (`xy`) | an error (python-dotenv rejects the line too; node keeps `"x"y`) |
//! | `#` right after a closing quote (`A="x"#c`) | part of the value (`x#c`) | starts a comment: `x`, as python-dotenv and node read it |
//! | two or more blanks before `#`, one of them not a space or tab (`A=x\u{a0}\u{a0}#c`) | part of the value, or an error | starts a comment, as python-dotenv and node read it |
//! | `${A:-default}`, `${A-default}` | empty (reads a variable named `A:-default`) | the default when `A` is unset (`:-` also when empty), as a shell and dotenv-expand read it |
//! | `${A:?message}`, `${A?message}` | empty | an error naming `A` when it is unset (`:?` also when empty), as a shell reads it |
//! | `A="x\ty"` (`\t`, `\r` escapes) | error | tab, carriage return |
//! | `$MY_VAR` (underscore in a bare name) | expands `$MY`, then `_VAR` | expands `MY_VAR`, as a shell does |
//! | non-ASCII letters after a bare name (`$Bü`) | part of the name | end the name |
//! | `$` not followed by an ASCII letter or `_` (`cost$`, `a$ b`, `$5`) | expands a name, usually to nothing | a literal `$` |
//! | a quote, backslash or `$` right after a bare `$NAME` | copied verbatim (so `"$B"` never closes) | read as usual |
//! | `\'` inside single quotes (`'C:\'`) | escapes the quote; reads on to the end of the file | a backslash, then the closing quote |
//! | a quote in a comment that follows `=` directly or two or more blanks (`A=1  # don't`) | opens a quoted value: the lines up to the next quote are dropped | part of the comment, which ends at the line's end |
//! | CRLF inside a multi-line quoted value | keeps `\r\n` | `\n` |
//! | a UTF-8 BOM (through `from_path_iter`) | error | skipped |
//! | trailing spaces on the last line, no newline | error | ignored |
//!
//! # Where envcloak reads stricter than python-dotenv and node, on purpose
//!
//! On real-world files the majority of python-dotenv, node dotenv (with
//! dotenv-expand) and dotenvy is the yardstick. In these cases dotenvy and
//! envcloak agree against the other two, by design:
//!
//! - `A='${X}'`: python-dotenv and node expand `X`; envcloak keeps `${X}`
//!   as written. Single quotes are literal, as in a shell; write `"${X}"`
//!   to expand.
//! - A line that is not `KEY=value` (`/* ... */`, `KEY: value`, a bare
//!   `KEY`, `MY-KEY=1`): they skip it (or read it) silently; envcloak fails
//!   the whole file, naming the line. A dropped line is a missing secret
//!   found in production.
//! - `A="a\qb"` (an unknown escape in double quotes) and `A=${B` (an
//!   unterminated expansion): they keep the text as written; envcloak
//!   reports the line rather than guess what was meant.
//!
//! Unicode whitespace is `char::is_whitespace` (as in dotenvy);
//! python-dotenv's `\s` also counts U+001C to U+001F before a `#`.
//!
//! ```
//! let entries = envcloak::dotenv::parse("# db\nexport HOST=localhost\nURL=\"http://${HOST}:${PORT:-5432}\"\n")?;
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

#[doc(hidden)]
pub use crate::layer::layer_entries;

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
    /// and `value` is borrowed from it. `None` when `value` is an owned
    /// string (escapes, expansions, a quoted value over several lines). An
    /// empty value (`A=`, `A=  # comment`) has an empty range where it would
    /// start. Tools that need the value's place in the file (the loader
    /// keeps values as spans of the text) use this rather than work it out
    /// from the borrowed `&str`.
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
    /// A backslash at the end of an unquoted value's line: line continuation
    /// is not supported.
    #[error("backslash at the end of a line (line continuation is not supported; quote the value)")]
    DanglingBackslash,
    /// `${` without a closing `}` on the same line.
    #[error("unterminated ${{...}} expansion")]
    UnterminatedExpansion,
    /// Expansions in one file copied more than [`MAX_EXPANSION`] bytes
    /// (a chain like `B=${A}${A}`, `C=${B}${B}`, ... doubles at every line).
    #[error("expansions copy more than 64 MiB in this file; refusing to go on")]
    ExpansionTooLarge,
    /// `${NAME:?message}` with `NAME` unset or empty, or `${NAME?message}`
    /// with `NAME` unset. The error names the variable, never the message
    /// (it is the file's text, and could be a secret) nor a value.
    #[error("required variable {name} is {}", if *.empty { "empty" } else { "not set" })]
    RequiredVariable {
        /// The variable.
        name: VarName,
        /// Set but empty (`${NAME:?...}` refuses that too).
        empty: bool,
    },
    /// Text after the closing quote of a value, other than blanks and a
    /// `#` comment (`A="x"y`): quote the whole value.
    #[error(
        "text after the closing {0} quote (quote the whole value; only a '#' comment may follow)"
    )]
    TextAfterQuote(QuoteKind),
    /// `${NAME:-...}` defaults nested more than [`MAX_NESTING`] deep.
    #[error("${{...}} defaults nested more than 16 deep")]
    ExpansionTooDeep,
    /// A line that starts with a git-style conflict marker (`<<<<<<<`,
    /// `=======`, `|||||||` or `>>>>>>>`): a merge left both versions of
    /// an entry in the file. `key` is the first key of the conflict block,
    /// when there is one. [`Error::parse`](crate::Error) turns this into
    /// [`Error::Conflict`](crate::Error::Conflict).
    #[error("unresolved merge conflict{}", key.map(|k| format!(" over {k}")).unwrap_or_default())]
    ConflictMarker {
        /// The first key between this marker and the end of its block.
        key: Option<VarName>,
    },
}

/// Whether `line` starts with a git-style conflict marker: seven of `<`,
/// `=`, `|` or `>`, then the end of the line or a blank (`<<<<<<< ours`,
/// `=======`, `>>>>>>> theirs`).
///
/// ```
/// assert!(envcloak::dotenv::is_conflict_marker("<<<<<<< ours"));
/// assert!(envcloak::dotenv::is_conflict_marker("======="));
/// assert!(!envcloak::dotenv::is_conflict_marker("A=<<<<<<<"));
/// ```
pub fn is_conflict_marker(line: &str) -> bool {
    let b = line.as_bytes();
    let Some(&c) = b.first() else {
        return false;
    };
    matches!(c, b'<' | b'=' | b'|' | b'>')
        && b.len() >= 7
        && b.iter().take(7).all(|&x| x == c)
        && b.get(7).is_none_or(|x| x.is_ascii_whitespace())
}

/// The first key defined in `text` on the lines after its first one, up to
/// the end of a conflict block (a `>>>>>>>` line): the key a conflict
/// marker on the first line is about.
fn conflict_key(text: &str) -> Option<VarName> {
    for line in text.lines().skip(1) {
        if line.starts_with(">>>>>>>") {
            return None;
        }
        let l = line.trim_start();
        let l = l.strip_prefix("export ").map_or(l, str::trim_start);
        let end = l.bytes().position(|b| !is_key_byte(b)).unwrap_or(l.len());
        let (key, rest) = l.split_at(end);
        if is_valid_key(key) && rest.trim_start().starts_with('=') {
            return Some(VarName::new(key));
        }
    }
    None
}

/// How deep `${A:-${B:-...}}` defaults may nest.
pub const MAX_NESTING: usize = 16;

/// The name of a variable in a [`ParseErrorKind`], held inline so that the
/// kind stays `Copy`: the name's first [`VarName::MAX`] bytes (names are
/// ASCII), marked when it was longer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarName {
    bytes: [u8; VarName::MAX],
    len: u8,
    truncated: bool,
}

impl VarName {
    /// The longest name held in full.
    pub const MAX: usize = 64;

    /// Holds `name` (its first [`VarName::MAX`] bytes, cut at a character
    /// boundary).
    pub const fn new(name: &str) -> VarName {
        let src = name.as_bytes();
        let mut len = if src.len() < VarName::MAX {
            src.len()
        } else {
            VarName::MAX
        };
        // Back off UTF-8 continuation bytes (0b10xx_xxxx) to a boundary.
        while len > 0 && len < src.len() && src[len] & 0xc0 == 0x80 {
            len -= 1;
        }
        let mut bytes = [0; VarName::MAX];
        let mut i = 0;
        while i < len {
            bytes[i] = src[i];
            i += 1;
        }
        VarName {
            bytes,
            len: len as u8,
            truncated: len < src.len(),
        }
    }

    /// The name (its first [`VarName::MAX`] bytes).
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Whether the name was longer than [`VarName::MAX`] bytes.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
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

impl QuoteKind {
    fn byte(self) -> u8 {
        match self {
            QuoteKind::Single => b'\'',
            QuoteKind::Double => b'"',
        }
    }
}

impl fmt::Display for QuoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuoteKind::Single => "single",
            QuoteKind::Double => "double",
        })
    }
}

/// Parses dotenv text (see the [module docs](self) for the syntax).
/// `${VAR}` and `$VAR` expand from earlier entries only.
///
/// Without an environment there is nothing to check `${VAR:?message}`
/// against (the variable may come from the process environment where the
/// file is loaded), so `parse` reads it as `${VAR}`; [`parse_with_env`],
/// which loading uses, fails on it. Tools that check, rewrite or encrypt a
/// file (`set_entry`, `remove_entry`) use `parse`.
pub fn parse(text: &str) -> Result<Vec<Entry<'_>>, ParseError> {
    parse_text(text, &|_| None, false)
}

/// Parses dotenv text; `${VAR}` and `$VAR` look in `env` first (as dotenvy
/// reads the process environment first), then in earlier entries; an unknown
/// name expands to nothing, or to the default of `${VAR:-word}`, and fails
/// `${VAR:?message}` ([`ParseErrorKind::RequiredVariable`]).
///
/// ```
/// use envcloak::dotenv::{parse_with_env, ParseErrorKind};
/// let env = |name: &str| (name == "HOST").then(|| "db.internal".to_owned());
/// let e = parse_with_env("URL=postgres://${HOST}:${PORT:-5432}\n", &env)?;
/// assert_eq!(e[0].value, "postgres://db.internal:5432");
/// let err = parse_with_env("A=1\nKEY=${API_KEY:?ask the team}\n", &env).unwrap_err();
/// assert_eq!(err.line, 2);
/// assert_eq!(err.to_string(), "line 2: required variable API_KEY is not set");
/// assert!(matches!(err.kind, ParseErrorKind::RequiredVariable { empty: false, .. }));
/// # Ok::<(), envcloak::dotenv::ParseError>(())
/// ```
pub fn parse_with_env<'a>(
    text: &'a str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Entry<'a>>, ParseError> {
    parse_text(text, env, true)
}

fn parse_text<'a>(
    text: &'a str,
    env: &dyn Fn(&str) -> Option<String>,
    check_required: bool,
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
        depth: 0,
        check_required,
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
    /// Bytes copied by expansions so far (defaults included).
    expanded: usize,
    /// How deep the `${NAME:-...}` being read is nested.
    depth: usize,
    /// Whether `${NAME:?...}` fails (with an environment to check against).
    check_required: bool,
}

/// What surrounds a `$` expansion, which decides the escapes of a default
/// (`${A:-word}`): those of a double-quoted value, or only `\$` outside
/// quotes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Unquoted,
    Double,
}

/// The operator of a `${NAME...}` expansion.
#[derive(Clone, Copy)]
enum Op {
    /// `${NAME}`
    Plain,
    /// `${NAME:-word}` (`or_empty`) or `${NAME-word}`.
    Default { or_empty: bool },
    /// `${NAME:?message}` (`or_empty`) or `${NAME?message}`.
    Required { or_empty: bool },
}

/// The value a name expands to.
enum Found {
    Env(String),
    Entry(usize),
    Unset,
}

fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// Whitespace inside a line: any Unicode whitespace but the line ends (as
/// dotenvy, python-dotenv and node skip it, and take it before `#` for the
/// start of a comment).
fn is_inline_space(c: char) -> bool {
    c.is_whitespace() && c != '\n' && c != '\r'
}

impl<'a> Parser<'a, '_> {
    /// `text[range]`. Ranges come from the parser's own scanning and always
    /// fall on character boundaries; should one not, the result is empty
    /// rather than a panic (whose message would quote the text).
    fn slice(&self, range: Range<usize>) -> &'a str {
        debug_assert!(self.text.get(range.clone()).is_some(), "{range:?}");
        self.text.get(range).unwrap_or_default()
    }

    /// The bytes from `from` on.
    fn bytes_from(&self, from: usize) -> &'a [u8] {
        self.bytes.get(from..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos.checked_add(ahead)?).copied()
    }

    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line,
            kind,
        }
    }

    fn newline(&mut self) {
        self.pos += 1;
        self.line = self.line.saturating_add(1);
    }

    /// True at `\n`, `\r\n` or the end of the text.
    fn at_eol(&self) -> bool {
        match self.peek() {
            None | Some(b'\n') => true,
            Some(b'\r') => matches!(self.peek_at(1), None | Some(b'\n')),
            _ => false,
        }
    }

    /// Skips whitespace other than line ends (Unicode whitespace too, as
    /// dotenvy does).
    fn skip_blanks(&mut self) {
        let rest = self.slice(self.pos..self.text.len());
        let kept = rest.trim_start_matches(is_inline_space);
        self.pos += rest.len() - kept.len();
    }

    fn skip_to_eol(&mut self) {
        let rest = self.bytes_from(self.pos);
        self.pos += memchr(b'\n', rest).unwrap_or(rest.len());
    }

    /// Whether the character before `at` is whitespace inside the line, so
    /// that a `#` at `at` starts a comment.
    fn space_before(&self, at: usize) -> bool {
        self.slice(0..at)
            .chars()
            .next_back()
            .is_some_and(is_inline_space)
    }

    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Ok(()),
                Some(b'\n') => self.newline(),
                Some(b'\r') if self.at_eol() => self.pos += 1,
                Some(b'#') => self.skip_to_eol(),
                Some(b'<' | b'=' | b'|' | b'>')
                    if is_conflict_marker(self.slice(self.pos..self.text.len())) =>
                {
                    let key = conflict_key(self.slice(self.pos..self.text.len()));
                    return Err(self.err(ParseErrorKind::ConflictMarker { key }));
                }
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
        Ok(self.slice(start..self.pos))
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
        let (value, value_span) = match self.peek() {
            Some(b'#') => {
                let at = self.pos;
                self.skip_to_eol();
                (Cow::Borrowed(self.slice(at..at)), Some(at..at))
            }
            Some(b'\'') => self.quoted_value(QuoteKind::Single)?,
            Some(b'"') => self.quoted_value(QuoteKind::Double)?,
            _ => self.unquoted_value()?,
        };
        self.skip_to_eol();
        let mut end = self.pos;
        if end > start && self.bytes.get(end - 1) == Some(&b'\r') {
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

    /// A value that does not open with a quote: up to the end of the line
    /// or a `#` after whitespace, trailing whitespace dropped. Quotes are
    /// plain characters in it; `$NAME`, `${...}` expand and `\$` is a `$`;
    /// any other backslash is itself, but one that ends the line is an error.
    ///
    /// The fast path: without `$` or `\` the value is borrowed from the text
    /// as it stands.
    fn unquoted_value(&mut self) -> Result<(Cow<'a, str>, Option<Range<usize>>), ParseError> {
        let start = self.pos;
        let rest = self.bytes_from(start);
        let mut end = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            match b {
                b'\n' => {
                    end = i;
                    break;
                }
                b'$' | b'\\' => return Ok((Cow::Owned(self.unquoted_owned()?), None)),
                b'#' if self.space_before(start + i) => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        self.pos = start + end;
        self.skip_to_eol();
        let len = self.slice(start..start + end).trim_end().len();
        let range = start..start + len;
        Ok((Cow::Borrowed(self.slice(range.clone())), Some(range)))
    }

    /// [`Parser::unquoted_value`] with expansions or backslashes: read into
    /// a new string.
    fn unquoted_owned(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        // Where the literal text at the end of `out` starts: only that part
        // loses trailing whitespace (an expanded value keeps its own).
        let mut tail = 0;
        let mut after_space = false;
        while !self.at_eol() {
            match self.peek() {
                Some(b'#') if after_space => {
                    self.skip_to_eol();
                    break;
                }
                Some(b'$') => {
                    self.expansion(&mut out, true, Context::Unquoted)?;
                    tail = out.len();
                    after_space = false;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    if self.peek() == Some(b'$') {
                        out.push('$');
                        self.pos += 1;
                        tail = out.len();
                    } else if self.at_eol() {
                        // A shell would continue the line; dotenvy drops the
                        // backslash, python-dotenv and node keep it.
                        return Err(self.err(ParseErrorKind::DanglingBackslash));
                    } else {
                        out.push('\\');
                    }
                    after_space = false;
                }
                _ => {
                    // A run up to the next byte that needs a look; at least
                    // one byte (a `#` not after a blank, a lone `\r`: ASCII).
                    let start = self.pos;
                    let run = self
                        .bytes_from(start)
                        .iter()
                        .position(|b| matches!(b, b'\n' | b'\r' | b'$' | b'\\' | b'#'))
                        .unwrap_or(self.bytes.len() - start)
                        .max(1);
                    let run = self.slice(start..start + run);
                    out.push_str(run);
                    self.pos += run.len().max(1);
                    after_space = run.chars().next_back().is_some_and(is_inline_space);
                }
            }
        }
        let keep = tail + out.get(tail..).unwrap_or_default().trim_end().len();
        out.truncate(keep);
        Ok(out)
    }

    /// A value that opens with a quote: the quoted text, then only blanks
    /// and a comment may follow on the line of the closing quote.
    ///
    /// The fast path: a value closed on its line with nothing to unescape or
    /// expand is borrowed from the text.
    fn quoted_value(
        &mut self,
        kind: QuoteKind,
    ) -> Result<(Cow<'a, str>, Option<Range<usize>>), ParseError> {
        let quote = kind.byte();
        let start = self.pos + 1;
        let stop = self.bytes_from(start).iter().position(|&b| {
            b == quote
                || b == b'\n'
                || b == b'\r'
                || (kind == QuoteKind::Double && (b == b'\\' || b == b'$'))
        });
        let value = match stop {
            Some(i) if self.bytes.get(start + i) == Some(&quote) => {
                let range = start..start + i;
                self.pos = range.end + 1;
                (Cow::Borrowed(self.slice(range.clone())), Some(range))
            }
            _ => {
                let mut out = String::new();
                self.quoted(kind, &mut out)?;
                (Cow::Owned(out), None)
            }
        };
        self.skip_blanks();
        match self.peek() {
            Some(b'#') => self.skip_to_eol(),
            _ if self.at_eol() => {}
            _ => return Err(self.err(ParseErrorKind::TextAfterQuote(kind))),
        }
        Ok(value)
    }

    /// Reads the escape after a backslash (the backslash already consumed).
    fn escape(&mut self) -> Result<char, ParseError> {
        let c = match self.peek() {
            Some(b'n') => '\n',
            Some(b't') => '\t',
            Some(b'r') => '\r',
            Some(b @ (b'\\' | b'\'' | b'"' | b'$' | b' ')) => b as char,
            _ => return Err(self.err(ParseErrorKind::InvalidEscape)),
        };
        self.pos += 1;
        Ok(c)
    }

    /// The quoted text (at its opening quote) into `out`.
    fn quoted(&mut self, kind: QuoteKind, out: &mut String) -> Result<(), ParseError> {
        let open_line = self.line;
        let quote = kind.byte();
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
                    self.newline();
                    out.push('\n');
                }
                b'\r' if self.peek_at(1) == Some(b'\n') => self.pos += 1,
                b'\\' if kind == QuoteKind::Double => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                b'$' if kind == QuoteKind::Double => {
                    self.expansion(out, true, Context::Double)?;
                }
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
                        // A lone '\r' that does not end the line.
                        self.pos += 1;
                    }
                    out.push_str(self.slice(start..self.pos));
                }
            }
        }
    }

    /// `$NAME` or `${...}` (the `$` not yet consumed); a `$` not followed by
    /// a name is a literal `$`. With `emit` false the expansion is only read
    /// (the unused default of `${A:-word}`): nothing is looked up or copied.
    fn expansion(&mut self, out: &mut String, emit: bool, ctx: Context) -> Result<(), ParseError> {
        self.pos += 1;
        match self.peek() {
            Some(b'{') => self.braced(out, emit, ctx),
            Some(b) if is_key_start(b) => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    self.pos += 1;
                }
                if emit {
                    let found = self.find(self.slice(start..self.pos));
                    self.push_found(out, &found)?;
                }
                Ok(())
            }
            _ => {
                if emit {
                    out.push('$');
                }
                Ok(())
            }
        }
    }

    /// `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:?message}`,
    /// `${NAME?message}` (at the `{`). Anything else up to the next `}` is
    /// looked up as one name, as dotenvy does (`${A:=x}` reads a variable
    /// named `A:=x`, which is never set).
    fn braced(&mut self, out: &mut String, emit: bool, ctx: Context) -> Result<(), ParseError> {
        let name_start = self.pos + 1;
        self.pos = name_start;
        if self.peek().is_some_and(is_key_start) {
            while self.peek().is_some_and(is_key_byte) {
                self.pos += 1;
            }
        }
        let name = self.slice(name_start..self.pos);
        let op = match (self.peek(), self.peek_at(1)) {
            _ if name.is_empty() => None,
            (Some(b'}'), _) => Some((Op::Plain, 1)),
            (Some(b':'), Some(b'-')) => Some((Op::Default { or_empty: true }, 2)),
            (Some(b'-'), _) => Some((Op::Default { or_empty: false }, 1)),
            (Some(b':'), Some(b'?')) => Some((Op::Required { or_empty: true }, 2)),
            (Some(b'?'), _) => Some((Op::Required { or_empty: false }, 1)),
            _ => None,
        };
        let Some((op, len)) = op else {
            // dotenvy's reading: everything up to `}` on this line.
            let rest = self.bytes_from(name_start);
            return match rest.iter().position(|&b| b == b'}' || b == b'\n') {
                Some(i) if rest.get(i) == Some(&b'}') => {
                    self.pos = name_start + i + 1;
                    if emit {
                        let found = self.find(self.slice(name_start..name_start + i));
                        self.push_found(out, &found)?;
                    }
                    Ok(())
                }
                _ => Err(self.err(ParseErrorKind::UnterminatedExpansion)),
            };
        };
        self.pos += len;
        let found = match op {
            Op::Plain => {
                if emit {
                    let found = self.find(name);
                    self.push_found(out, &found)?;
                }
                return Ok(());
            }
            _ if !emit => return self.word(out, false, ctx),
            _ => self.find(name),
        };
        let unset = matches!(found, Found::Unset);
        let empty = !unset && self.found_str(&found).is_empty();
        match op {
            Op::Default { or_empty } if unset || (or_empty && empty) => self.word(out, true, ctx),
            Op::Required { or_empty } if self.check_required && (unset || (or_empty && empty)) => {
                // Read to the end first: a syntax error is reported as such.
                self.word(out, false, ctx)?;
                Err(self.err(ParseErrorKind::RequiredVariable {
                    name: VarName::new(name),
                    empty,
                }))
            }
            _ => {
                self.word(out, false, ctx)?;
                self.push_found(out, &found)
            }
        }
    }

    /// The word of `${NAME:-word}` or `${NAME:?word}`, up to its `}` on the
    /// same line, into `out` when `emit`. It may hold expansions (read the
    /// same way, nested up to [`MAX_NESTING`] deep) and the escapes of its
    /// context; it cannot hold a `}`.
    fn word(&mut self, out: &mut String, emit: bool, ctx: Context) -> Result<(), ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(ParseErrorKind::ExpansionTooDeep));
        }
        self.depth += 1;
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ if self.at_eol() => return Err(self.err(ParseErrorKind::UnterminatedExpansion)),
                Some(b'$') => self.expansion(out, emit, ctx)?,
                Some(b'\\') if ctx == Context::Double => {
                    self.pos += 1;
                    let c = self.escape()?;
                    self.push_literal(out, emit, c.encode_utf8(&mut [0; 4]))?;
                }
                Some(b'\\') if self.peek_at(1) == Some(b'$') => {
                    self.pos += 2;
                    self.push_literal(out, emit, "$")?;
                }
                _ => {
                    let start = self.pos;
                    let run = self
                        .bytes_from(start)
                        .iter()
                        .skip(1)
                        .position(|b| matches!(b, b'}' | b'$' | b'\\' | b'\n' | b'\r'))
                        .map_or(self.bytes.len() - start, |i| i + 1);
                    let run = self.slice(start..start + run);
                    self.pos += run.len().max(1);
                    self.push_literal(out, emit, run)?;
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Counts `n` more bytes against [`MAX_EXPANSION`].
    fn charge(&mut self, n: usize) -> Result<(), ParseError> {
        self.expanded = self.expanded.saturating_add(n);
        if self.expanded > MAX_EXPANSION {
            return Err(self.err(ParseErrorKind::ExpansionTooLarge));
        }
        Ok(())
    }

    /// Text of a default into `out` (when `emit`); it counts as expansion.
    fn push_literal(&mut self, out: &mut String, emit: bool, s: &str) -> Result<(), ParseError> {
        if emit {
            self.charge(s.len())?;
            out.push_str(s);
        }
        Ok(())
    }

    /// Looks `name` up: `env` first, then earlier entries.
    fn find(&mut self, name: &str) -> Found {
        if let Some(v) = (self.env)(name) {
            return Found::Env(v);
        }
        match self.lookup(name) {
            Some(i) => Found::Entry(i),
            None => Found::Unset,
        }
    }

    fn found_str<'s>(&'s self, found: &'s Found) -> &'s str {
        match found {
            Found::Env(v) => v,
            Found::Entry(i) => self.entries.get(*i).map_or("", |e| &e.value),
            Found::Unset => "",
        }
    }

    /// The value `found` stands for into `out`; it counts as expansion.
    fn push_found(&mut self, out: &mut String, found: &Found) -> Result<(), ParseError> {
        let n = self.found_str(found).len();
        self.charge(n)?;
        out.push_str(self.found_str(found));
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
            let nearby = self.entries.get(from..).unwrap_or_default();
            if let Some(i) = nearby.iter().rposition(|e| e.key == name) {
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
    b.first().is_some_and(|&c| is_key_start(c)) && b.iter().all(|&c| is_key_byte(c))
}

/// Returns `text` with `key` set to `value`: the last entry for `key` is
/// rewritten in place (every other line, comment and the order kept), or
/// `KEY=value` is appended. Fails with `text`'s syntax error, or with the
/// new text's when the change makes it unreadable (later expansions of the
/// new value past [`MAX_EXPANSION`]): the result always parses.
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
    let out = match found.and_then(|e| Some((body.get(..e.span.start)?, body.get(e.span.end..)?))) {
        Some((before, after)) => format!("{bom}{before}{line}{after}"),
        None => {
            let sep = if body.is_empty() || body.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            format!("{bom}{body}{sep}{line}\n")
        }
    };
    // A new value can push later expansions past the budget.
    parse(&out)?;
    Ok(out)
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
/// and how many entries were removed. Like [`set_entry`], fails rather than
/// return a text that does not parse.
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
    if removed > 0 {
        // An unset key can bring in a default that pushes later expansions
        // past the budget.
        parse(&out)?;
    }
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
    fn conflict_markers_fail_naming_the_line_and_the_key() {
        let text =
            "A=1\n<<<<<<< ours\nexport B=ours-value\n=======\nB=theirs-value\n>>>>>>> theirs\n";
        let e = err(text);
        assert_eq!(e.line, 2);
        assert!(
            matches!(e.kind, ParseErrorKind::ConflictMarker { key: Some(k) } if k.as_str() == "B")
        );
        assert_eq!(e.to_string(), "line 2: unresolved merge conflict over B");
        // Ours removed it: the key is on their side.
        let e = err("<<<<<<< ours\n=======\nC=1\n>>>>>>> theirs\n");
        assert!(
            matches!(e.kind, ParseErrorKind::ConflictMarker { key: Some(k) } if k.as_str() == "C")
        );
        // A stray separator or end marker, and diff3's base marker.
        for (text, line) in [
            ("A=1\n=======\n", 2),
            (">>>>>>> x\n", 1),
            ("||||||| base\n", 1),
        ] {
            let e = err(text);
            assert_eq!(e.line, line, "{text:?}");
            assert!(
                matches!(e.kind, ParseErrorKind::ConflictMarker { .. }),
                "{text:?}"
            );
        }
        // Not markers: inside a quoted value, or longer/shorter runs.
        assert_eq!(one("A=\"x\n<<<<<<< ours\n\""), "x\n<<<<<<< ours\n");
        assert!(is_conflict_marker("<<<<<<<"));
        assert!(!is_conflict_marker("<<<<<<"));
        assert!(!is_conflict_marker("<<<<<<<<"));
        assert!(!is_conflict_marker("==="));
        // The error that loading returns.
        let e = crate::Error::parse(".env.enc", err(text));
        assert_eq!(
            e.to_string(),
            "unresolved merge conflict at .env.enc:2 (key B)"
        );
        assert!(!e.to_string().contains("value"));
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
        assert_eq!(one("A=a\"b c\"d"), "a\"b c\"d");
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
                    // The same bytes, not a copy (nor a static empty string).
                    assert!(
                        std::ptr::eq(v.as_bytes(), &body.as_bytes()[r.clone()]),
                        "{text:?}"
                    );
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

    fn with_env(text: &str, env: &[(&str, &str)]) -> Result<Vec<(String, String)>, ParseError> {
        let lookup = |k: &str| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        };
        parse_with_env(text, &lookup).map(|entries| {
            entries
                .into_iter()
                .map(|e| (e.key.to_owned(), e.value.into_owned()))
                .collect()
        })
    }

    fn last(text: &str) -> String {
        pairs(text).pop().unwrap().1
    }

    #[test]
    fn unicode_whitespace_before_hash_starts_a_comment() {
        for space in ['\u{a0}', '\u{2003}', '\u{3000}', '\u{202f}', '\t', ' '] {
            assert_eq!(one(&format!("A=a{space}#c\n")), "a", "{space:?}");
            assert_eq!(one(&format!("A=a b{space}# c")), "a b", "{space:?}");
            assert_eq!(one(&format!("A=\"x\"{space}#c\n")), "x", "{space:?}");
            assert_eq!(one(&format!("A='x'{space}#c\n")), "x", "{space:?}");
            assert_eq!(one(&format!("A={space}#c\n")), "", "{space:?}");
            // The slow path (an expansion) reads comments the same way.
            assert_eq!(last(&format!("B=1\nA=$B{space}#c\n")), "1", "{space:?}");
            assert_eq!(
                last(&format!("B=1\nA=x\\y{space}#c\n")),
                "x\\y",
                "{space:?}"
            );
        }
        assert_eq!(one("A=a\u{a0}b\n"), "a\u{a0}b");
        assert_eq!(one("A=a#b\u{a0}\n"), "a#b");
        assert_eq!(last("B=1\nA=$B#c\n"), "1#c");
    }

    #[test]
    fn quotes_inside_an_unquoted_value_are_kept() {
        assert_eq!(
            one(r#"ROCKET_TLS={certs="a",key="b"}"#),
            r#"{certs="a",key="b"}"#
        );
        assert_eq!(one(r#"JSON={"host":"x"} # c"#), r#"{"host":"x"}"#);
        assert_eq!(one("A=a'b c'd\n"), "a'b c'd");
        assert_eq!(one("A=it's\n"), "it's");
        assert_eq!(one("A=a\"b\n"), "a\"b");
        assert_eq!(one("A=x #'\nB=y\n".split_once('\n').unwrap().0), "x");
        assert_eq!(
            last("H=h\nA=x\"$H\"${H}'$H'\n"),
            "x\"h\"h'h'",
            "quotes around expansions stay too"
        );
    }

    #[test]
    fn only_a_comment_may_follow_a_closing_quote() {
        for (text, kind) in [
            ("A=\"x\"y\n", QuoteKind::Double),
            ("A='x'y\n", QuoteKind::Single),
            ("A=\"x\" y\n", QuoteKind::Double),
            ("A=\"a\"b\"c\"\n", QuoteKind::Double),
            ("A=\"x\"\"y\"\n", QuoteKind::Double),
        ] {
            assert_eq!(
                err(text),
                ParseError {
                    line: 1,
                    kind: ParseErrorKind::TextAfterQuote(kind)
                },
                "{text:?}"
            );
        }
        assert_eq!(err("A=1\nB=\"one\ntwo\"three\n").line, 3);
        assert_eq!(one("A=\"x\"#c\n"), "x");
        assert_eq!(one("A='x'#c\n"), "x");
        assert_eq!(one("A=\"x\"  # c\r\n"), "x");
        assert_eq!(one("A=\"x\"   \n"), "x");
    }

    #[test]
    fn backslashes_in_unquoted_values_are_literal_but_for_dollar() {
        assert_eq!(one(r"A=C:\Users\x"), r"C:\Users\x");
        assert_eq!(one(r"A=a\nb\t"), r"a\nb\t");
        assert_eq!(one("A=x\\ \n"), "x\\");
        assert_eq!(one("A=x\\ # c\n"), "x\\");
        assert_eq!(err("A=x\\\n").kind, ParseErrorKind::DanglingBackslash);
        assert_eq!(err("A=1\nA=x\\\r\n").line, 2);
        assert_eq!(err("A=x\\").kind, ParseErrorKind::DanglingBackslash);
        assert_eq!(one(r#"A=a\"b\'c"#), r#"a\"b\'c"#);
        assert_eq!(one(r"A=^\d+\.\d+$"), r"^\d+\.\d+$");
        assert_eq!(last("B=1\nA=a\\$B\n"), "a$B");
        assert_eq!(last("B=1\nA=a\\${B}\n"), "a${B}");
        assert_eq!(last("B=1\nA=a\\\\$B\n"), "a\\$B");
        assert_eq!(last("B=1\nA=$B\\ \n"), "1\\");
        // Double quotes keep their escapes.
        assert_eq!(one(r#"A="a\nb\\""#), "a\nb\\");
    }

    #[test]
    fn defaults_read_as_a_shell_reads_them() {
        let env: &[(&str, &str)] = &[("SET", "s"), ("EMPTY", "")];
        let v = |text: &str| with_env(text, env).unwrap().pop().unwrap().1;
        assert_eq!(v("A=${NOPE:-d}"), "d");
        assert_eq!(v("A=${NOPE-d}"), "d");
        assert_eq!(v("A=${EMPTY:-d}"), "d");
        assert_eq!(v("A=${EMPTY-d}"), "");
        assert_eq!(v("A=${SET:-d}"), "s");
        assert_eq!(v("A=${SET-d}"), "s");
        assert_eq!(v("B=\nA=${B:-d}/${B-d}"), "d/");
        assert_eq!(v("B=b\nA=${B:-d}"), "b");
        assert_eq!(v("A=${NOPE:-}x"), "x");
        assert_eq!(v("A=${NOPE:-a b}"), "a b");
        assert_eq!(v("A=${NOPE:-a #b} # c"), "a #b");
        assert_eq!(v("A=\"${NOPE:-a b}\""), "a b");
        assert_eq!(v("A=\"${NOPE:-a\\\"b\\n}\""), "a\"b\n");
        assert_eq!(v("A=${NOPE:-x:y-z?}"), "x:y-z?");
        assert_eq!(v("A=${NOPE:-\\$SET}"), "$SET");
        assert_eq!(v("A=${NOPE:-C:\\dir}"), "C:\\dir");
        assert_eq!(v("A='${NOPE:-d}'"), "${NOPE:-d}");
        // Defaults expand, and nest.
        assert_eq!(v("A=${NOPE:-$SET}"), "s");
        assert_eq!(v("A=${NOPE:-${SET}x}"), "sx");
        assert_eq!(v("A=${NOPE:-${ALSO:-${SET}}!}"), "s!");
        assert_eq!(v("B=b\nA=${NOPE-pre$B.post}"), "preb.post");
        // An unused default is read, not evaluated.
        assert_eq!(v("A=${SET:-${NOPE:?m}}"), "s");
        // Keys with dots are names too.
        assert_eq!(v("A.b=1\nC=${A.b:-x}${Z.z:-y}"), "1y");
        // Other operators: dotenvy's reading, one (unset) name.
        assert_eq!(v("A=${SET:=x}|${SET:+x}|${SET+x}|${ x}|${}"), "||||");
        assert_eq!(
            err("A=${NOPE:-x\n").kind,
            ParseErrorKind::UnterminatedExpansion
        );
        assert_eq!(
            err("A=\"${NOPE:-x\ny}\"\n").kind,
            ParseErrorKind::UnterminatedExpansion
        );
        assert_eq!(err("A=${NOPE:-${B}\n").line, 1);
        assert_eq!(
            err("A=\"${NOPE:-\\q}\"").kind,
            ParseErrorKind::InvalidEscape
        );
    }

    #[test]
    fn required_variables_fail_naming_the_variable_only() {
        let env: &[(&str, &str)] = &[("SET", "s3cr3t"), ("EMPTY", "")];
        let e = with_env("X=1\nA=${DATABASE_URL:?hunter2 is the password}\n", env).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(matches!(
            e.kind,
            ParseErrorKind::RequiredVariable { name, empty: false } if name.as_str() == "DATABASE_URL"
        ));
        assert_eq!(
            e.to_string(),
            "line 2: required variable DATABASE_URL is not set"
        );
        assert!(!format!("{e:?}").contains("hunter2"));
        let e = with_env("A=${EMPTY:?m}", env).unwrap_err();
        assert_eq!(e.to_string(), "line 1: required variable EMPTY is empty");
        let e = with_env("B=\nA=\"${B?m} ${NOPE?m}\"", env).unwrap_err();
        assert_eq!(e.to_string(), "line 2: required variable NOPE is not set");
        assert_eq!(
            with_env("A=${SET:?m}${EMPTY?m}", env).unwrap()[0].1,
            "s3cr3t"
        );
        // A syntax error in the message is reported as such.
        assert_eq!(
            with_env("A=${NOPE:?m", env).unwrap_err().kind,
            ParseErrorKind::UnterminatedExpansion
        );
        let long = "N".repeat(100);
        let e = with_env(&format!("A=${{{long}:?m}}"), env).unwrap_err();
        let ParseErrorKind::RequiredVariable { name, .. } = e.kind else {
            panic!("{e:?}");
        };
        assert_eq!(
            (name.as_str().len(), name.is_truncated()),
            (VarName::MAX, true)
        );
        assert!(
            e.to_string()
                .ends_with(&format!("{}... is not set", &long[..VarName::MAX]))
        );
    }

    #[test]
    fn without_an_environment_required_variables_read_as_plain_expansions() {
        assert_eq!(
            pairs("A=${NOPE:?m}\nB=${A?m}x\n"),
            [("A".into(), "".into()), ("B".into(), "x".into())]
        );
        assert_eq!(last("S=s\nA=${S:?m}\n"), "s");
        // So tools can rewrite a file whose variables come from where it is
        // loaded.
        let text = "URL=${DATABASE_URL:?set it}\nA=1\n";
        assert_eq!(
            set_entry(text, "A", "2").unwrap(),
            "URL=${DATABASE_URL:?set it}\nA=2\n"
        );
        assert_eq!(
            remove_entry(text, "A").unwrap().0,
            "URL=${DATABASE_URL:?set it}\n"
        );
        // Syntax is still checked.
        assert_eq!(
            err("A=${NOPE:?m\n").kind,
            ParseErrorKind::UnterminatedExpansion
        );
    }

    #[test]
    fn writers_refuse_a_text_that_would_not_parse() {
        // 20 doublings of A0: under the budget with 16 bytes, over with 64.
        let mut text = String::from("A0=0123456789abcdef\n");
        for i in 1..=20 {
            text.push_str(&format!("A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
        }
        parse(&text).unwrap();
        let e = set_entry(&text, "A0", &"x".repeat(64)).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::ExpansionTooLarge);
        // Unsetting a key can bring in a large default.
        let text = text.replacen(
            "A1=${A0}${A0}",
            "A1=${NOPE:-${A0}${A0}${A0}${A0}${A0}${A0}${A0}${A0}}",
            1,
        );
        let text = format!("NOPE=x\n{text}");
        parse(&text).unwrap();
        let e = remove_entry(&text, "NOPE").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::ExpansionTooLarge);
    }

    #[test]
    fn defaults_nest_only_so_deep() {
        let nested = |n: usize| format!("A={}x{}\n", "${N:-".repeat(n), "}".repeat(n));
        assert_eq!(one(&nested(MAX_NESTING)), "x");
        assert_eq!(
            err(&nested(MAX_NESTING + 1)).kind,
            ParseErrorKind::ExpansionTooDeep
        );
        assert_eq!(err(&nested(100_000)).kind, ParseErrorKind::ExpansionTooDeep);
    }

    #[test]
    fn defaults_count_against_the_expansion_budget() {
        let mut text = String::from("A0=0123456789abcdef\n");
        for i in 1..64 {
            text.push_str(&format!("A{i}=${{NOPE:-${{A{}}}${{A{}}}}}\n", i - 1, i - 1));
        }
        let e = err(&text);
        assert_eq!(e.kind, ParseErrorKind::ExpansionTooLarge);
        assert!(e.line > 20 && e.line < 30, "{}", e.line);
        // Long literal defaults count too.
        let big = "x".repeat(1 << 20);
        let text = format!("A=${{N:-{big}}}\n").repeat(65);
        assert_eq!(err(&text).kind, ParseErrorKind::ExpansionTooLarge);
    }

    #[test]
    fn quoted_values_on_one_line_are_borrowed() {
        let e = parse("A='x y'\nB=\"p q\" # c\nC=\"a\\nb\"\nD=''\n").unwrap();
        assert_eq!(e[0].value, "x y");
        assert!(matches!(e[0].value, Cow::Borrowed(_)));
        assert_eq!(e[1].value_span, Some(11..14));
        assert!(matches!(e[2].value, Cow::Owned(_)));
        assert_eq!(
            (e[3].value.as_ref(), e[3].value_span.clone()),
            ("", Some(32..32))
        );
        for text in [
            "A='x y'\nB=\"p q\" # c\nC=\"a\\nb\"\nD=''\n",
            "\u{feff}A='multi\nline'\nB=\"x\"\r\nC='$x'\n",
            "J={\"a\":1}\nK=a'b'c\nL=x\\y\nM=${J:-d}\n",
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
            "a\"b c\"d",
            "{\"host\":\"x\"}",
            "x\u{a0}#c",
            "x #c",
            "\u{a0}",
            "${A:-x}",
            "${A:?m}",
            "\\$A",
            "\"x\"y",
            "'x'y",
            "C:\\dir\\",
            "it's ${A} \\n",
        ] {
            let text = format!("K={}\n", quote(v));
            assert_eq!(one(&text), v, "{text:?}");
        }
    }
}
