//! [`FromValue`], the casting trait, and its implementations.
//!
//! Casting follows python-decouple with the sharp edges removed: booleans
//! take decouple's spellings, numbers and booleans ignore surrounding ASCII
//! whitespace, strings are taken exactly, and a failed cast says why without
//! ever quoting the value.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::{IntErrorKind, ParseIntError};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{SecretBox, SecretString};
use serde::de::DeserializeOwned;
use zeroize::Zeroize;

/// Why a value did not cast. Holds a reason only, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CastError {
    reason: Cow<'static, str>,
}

impl CastError {
    /// A cast error with this reason. The reason must not quote the value.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        CastError {
            reason: reason.into(),
        }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for CastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for CastError {}

/// A type that a configuration value can be cast to.
///
/// Implement it for your own types, or use the one-line routes:
/// [`from_str_value!`](crate::from_str_value) for a type with [`FromStr`],
/// [`Parsed<T>`] at the call site, or
/// [`Config::get_with`](crate::Config::get_with) with a closure.
///
/// ```
/// use envcloak::{CastError, FromValue};
///
/// struct Port(u16);
///
/// impl FromValue for Port {
///     fn expected() -> std::borrow::Cow<'static, str> {
///         "port number".into()
///     }
///     fn from_value(raw: &str) -> Result<Self, CastError> {
///         match u16::from_value(raw)? {
///             0 => Err(CastError::new("port 0 is not allowed")),
///             p => Ok(Port(p)),
///         }
///     }
/// }
/// ```
pub trait FromValue: Sized {
    /// What the value should look like, for error messages (`u16`, `bool`, ...).
    fn expected() -> Cow<'static, str>;

    /// Casts a raw value. The error must not contain `raw`.
    fn from_value(raw: &str) -> Result<Self, CastError>;

    /// The value to use when no layer has the key; `None` makes it an
    /// [`Error::Missing`](crate::Error::Missing). `Option<T>` returns `Some(None)`.
    fn when_missing() -> Option<Self> {
        None
    }
}

impl FromValue for String {
    fn expected() -> Cow<'static, str> {
        "string".into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        Ok(raw.to_owned())
    }
}

/// python-decouple's boolean spellings; an empty value is `false`.
impl FromValue for bool {
    fn expected() -> Cow<'static, str> {
        "bool".into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        let v = raw.trim_ascii();
        const TRUE: [&str; 6] = ["y", "yes", "t", "true", "on", "1"];
        const FALSE: [&str; 6] = ["n", "no", "f", "false", "off", "0"];
        if v.is_empty() || FALSE.iter().any(|s| s.eq_ignore_ascii_case(v)) {
            Ok(false)
        } else if TRUE.iter().any(|s| s.eq_ignore_ascii_case(v)) {
            Ok(true)
        } else {
            Err(CastError::new(
                "not a boolean (use one of: true false yes no on off y n t f 1 0)",
            ))
        }
    }
}

fn int_error<T: fmt::Display>(e: &ParseIntError, min: T, max: T) -> CastError {
    match e.kind() {
        IntErrorKind::Empty => CastError::new("empty value"),
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
            CastError::new(format!("out of range ({min} to {max})"))
        }
        _ => CastError::new("not a valid integer"),
    }
}

macro_rules! ints {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn expected() -> Cow<'static, str> {
                stringify!($t).into()
            }
            fn from_value(raw: &str) -> Result<Self, CastError> {
                let v = raw.trim_ascii();
                v.parse().map_err(|e| {
                    // "-1" as an unsigned type is out of range, not "not a number".
                    let negative = v
                        .strip_prefix('-')
                        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
                    if negative && <$t>::MIN == 0 {
                        CastError::new(format!("out of range ({} to {})", <$t>::MIN, <$t>::MAX))
                    } else {
                        int_error(&e, <$t>::MIN, <$t>::MAX)
                    }
                })
            }
        }
    )*};
}
ints!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

macro_rules! floats {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn expected() -> Cow<'static, str> {
                stringify!($t).into()
            }
            fn from_value(raw: &str) -> Result<Self, CastError> {
                let v = raw.trim_ascii();
                if v.is_empty() {
                    return Err(CastError::new("empty value"));
                }
                v.parse().map_err(|_| CastError::new("not a valid number"))
            }
        }
    )*};
}
floats!(f32, f64);

impl FromValue for char {
    fn expected() -> Cow<'static, str> {
        "char".into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        let mut chars = raw.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            (None, _) => Err(CastError::new("empty value")),
            _ => Err(CastError::new("more than one character")),
        }
    }
}

impl FromValue for PathBuf {
    fn expected() -> Cow<'static, str> {
        "path".into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        Ok(PathBuf::from(raw))
    }
}

macro_rules! addrs {
    ($($t:ty => $name:literal),*) => {$(
        impl FromValue for $t {
            fn expected() -> Cow<'static, str> {
                $name.into()
            }
            fn from_value(raw: &str) -> Result<Self, CastError> {
                raw.trim_ascii()
                    .parse()
                    .map_err(|_| CastError::new(concat!("not a valid ", $name)))
            }
        }
    )*};
}
addrs!(IpAddr => "IP address", Ipv4Addr => "IPv4 address", Ipv6Addr => "IPv6 address",
       SocketAddr => "socket address (host:port)");

/// `30s`, `5m`, `250ms`, `1h30m`, `2d`, or plain (possibly fractional) seconds.
/// Units: `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`.
impl FromValue for Duration {
    fn expected() -> Cow<'static, str> {
        "duration".into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        parse_duration(raw.trim_ascii()).ok_or_else(|| {
            CastError::new("not a duration (examples: 30s, 5m, 250ms, 1h30m, or seconds)")
        })
    }
}

fn parse_duration(v: &str) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut total = Duration::ZERO;
    let mut rest = v;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at_checked(num_len)?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at_checked(unit_len)?;
        let n: f64 = num.parse().ok()?;
        let secs_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        total = total.checked_add(Duration::try_from_secs_f64(n * secs_per_unit).ok()?)?;
        rest = tail;
    }
    Some(total)
}

/// Absent is `None`; a present value (even empty) is cast to `T`.
impl<T: FromValue> FromValue for Option<T> {
    fn expected() -> Cow<'static, str> {
        T::expected()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        T::from_value(raw).map(Some)
    }
    fn when_missing() -> Option<Self> {
        Some(None)
    }
}

impl FromValue for SecretString {
    fn expected() -> Cow<'static, str> {
        "string".into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        Ok(SecretString::from(raw))
    }
}

/// A secret of any castable type: `SecretBox<u64>`, `SecretBox<Vec<u8>>`...
impl<T: FromValue + Zeroize> FromValue for SecretBox<T> {
    fn expected() -> Cow<'static, str> {
        T::expected()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        T::from_value(raw).map(|v| SecretBox::new(Box::new(v)))
    }
}

impl FromValue for Vec<u8> {
    fn expected() -> Cow<'static, str> {
        "bytes".into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        Ok(raw.as_bytes().to_vec())
    }
}

/// A comma-separated list: `"a, b,c"` -> `["a", "b", "c"]`.
///
/// Items are trimmed, empty items dropped, and double quotes group an item
/// that holds the delimiter (`"a, b", c` -> `["a, b", "c"]`). Each item is
/// cast to `T`. For another delimiter use [`Csv::parse_with`] through
/// [`Config::get_with`](crate::Config::get_with).
///
/// ```
/// use envcloak::{Csv, FromValue};
/// let hosts = Csv::<String>::from_value(".localhost, .herokuapp.com,,")?;
/// assert_eq!(hosts[..], [".localhost", ".herokuapp.com"]);
/// let ports = Csv::<u16>::from_value("80, 443")?;
/// assert_eq!(ports.into_inner(), vec![80, 443]);
/// # Ok::<(), envcloak::CastError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Csv<T>(pub Vec<T>);

impl<T> Csv<T> {
    /// The items.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T: FromValue> Csv<T> {
    /// Splits `raw` on `delimiter` with the rules of [`Csv`] and casts each item.
    pub fn parse_with(raw: &str, delimiter: char) -> Result<Self, CastError> {
        let mut out = Vec::with_capacity(raw.matches(delimiter).count() + 1);
        for_each_item(raw, delimiter, |item| {
            let value = T::from_value(item)
                .map_err(|e| CastError::new(format!("item {}: {}", out.len() + 1, e.reason())))?;
            out.push(value);
            Ok(())
        })?;
        Ok(Csv(out))
    }
}

/// Splits a list: trims items, drops empty ones, double quotes group.
#[cfg_attr(not(feature = "config-rs"), allow(dead_code))]
pub(crate) fn split_list(raw: &str, delimiter: char) -> Result<Vec<String>, CastError> {
    let mut items = Vec::new();
    for_each_item(raw, delimiter, |item| {
        items.push(item.to_owned());
        Ok(())
    })?;
    Ok(items)
}

/// Calls `f` with each item of a list (trimmed, non-empty, quotes
/// removed). An item without quotes is a slice of `raw`: no copy.
fn for_each_item(
    raw: &str,
    delimiter: char,
    mut f: impl FnMut(&str) -> Result<(), CastError>,
) -> Result<(), CastError> {
    let mut scratch = String::new();
    let mut start = 0;
    let mut quoted = false;
    let mut in_quotes = false;
    let mut emit = |piece: &str, quoted: bool, scratch: &mut String| {
        let item = if quoted {
            scratch.clear();
            scratch.extend(piece.chars().filter(|&c| c != '"'));
            scratch.trim()
        } else {
            piece.trim()
        };
        if item.is_empty() { Ok(()) } else { f(item) }
    };
    for (i, c) in raw.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
            quoted = true;
        } else if c == delimiter && !in_quotes {
            emit(raw.get(start..i).unwrap_or_default(), quoted, &mut scratch)?;
            start = i + c.len_utf8();
            quoted = false;
        }
    }
    if in_quotes {
        return Err(CastError::new("unterminated double quote in list"));
    }
    emit(raw.get(start..).unwrap_or_default(), quoted, &mut scratch)
}

impl<T: FromValue> FromValue for Csv<T> {
    fn expected() -> Cow<'static, str> {
        format!("comma-separated list of {}", T::expected()).into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        Self::parse_with(raw, ',')
    }
}

impl<T> Deref for Csv<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for Csv<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T> IntoIterator for Csv<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A JSON value deserialized into `T`.
///
/// ```
/// use envcloak::{FromValue, Json};
/// let limits = Json::<Vec<u32>>::from_value("[1, 2, 3]")?;
/// assert_eq!(*limits, vec![1, 2, 3]);
/// # Ok::<(), envcloak::CastError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The deserialized value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: DeserializeOwned> FromValue for Json<T> {
    fn expected() -> Cow<'static, str> {
        format!("JSON {}", short_type_name::<T>()).into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        serde_json::from_str(raw).map(Json).map_err(|e| {
            // serde_json's own messages quote the input; keep only the class and position.
            let what = match e.classify() {
                serde_json::error::Category::Syntax => "invalid JSON syntax",
                serde_json::error::Category::Eof => "JSON ends too early",
                serde_json::error::Category::Data => "JSON does not match the expected type",
                serde_json::error::Category::Io => "JSON could not be read",
            };
            CastError::new(format!("{what} at line {} column {}", e.line(), e.column()))
        })
    }
}

pub(crate) fn short_type_name<T>() -> String {
    // "alloc::vec::Vec<u32>" -> "Vec<u32>"
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    for part in full.split_inclusive(['<', '>', ',', ' ']) {
        out.push_str(part.rsplit("::").next().unwrap_or(part));
    }
    out
}

/// Any type with [`FromStr`], cast at the call site:
/// `let level: Parsed<Level> = config("LOG_LEVEL")?;`. The value is trimmed
/// of surrounding ASCII whitespace first. The `FromStr` error message is not
/// shown (it could quote the value); the expected type is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed<T>(pub T);

impl<T> Parsed<T> {
    /// The parsed value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Parsed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromStr> FromValue for Parsed<T> {
    fn expected() -> Cow<'static, str> {
        short_type_name::<T>().into()
    }
    fn from_value(raw: &str) -> Result<Self, CastError> {
        raw.trim_ascii()
            .parse()
            .map(Parsed)
            .map_err(|_| CastError::new(format!("not a valid {}", short_type_name::<T>())))
    }
}

/// Implements [`FromValue`] for types that implement [`FromStr`], in one line.
///
/// ```
/// #[derive(Debug, PartialEq)]
/// enum Level { Debug, Info }
///
/// impl std::str::FromStr for Level {
///     type Err = ();
///     fn from_str(s: &str) -> Result<Self, ()> {
///         match s { "debug" => Ok(Level::Debug), "info" => Ok(Level::Info), _ => Err(()) }
///     }
/// }
///
/// envcloak::from_str_value!(Level);
///
/// use envcloak::FromValue;
/// assert_eq!(Level::from_value("info"), Ok(Level::Info));
/// assert!(Level::from_value("loud").is_err());
/// ```
#[macro_export]
macro_rules! from_str_value {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::FromValue for $t {
            fn expected() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($t))
            }
            fn from_value(raw: &str) -> ::std::result::Result<Self, $crate::CastError> {
                <$crate::Parsed<$t> as $crate::FromValue>::from_value(raw).map(|p| p.0)
            }
        }
    )+};
}

/// A custom cast for [`Config::get_with`](crate::Config::get_with): any
/// `Fn(&str) -> Result<T, CastError>`, or [`Choices`].
pub trait Cast<T> {
    /// What the value should look like, for error messages.
    fn expected(&self) -> Cow<'static, str>;
    /// Casts the raw value; the error must not contain it.
    fn cast(&self, raw: &str) -> Result<T, CastError>;
}

impl<T, F> Cast<T> for F
where
    F: Fn(&str) -> Result<T, CastError>,
{
    fn expected(&self) -> Cow<'static, str> {
        short_type_name::<T>().into()
    }
    fn cast(&self, raw: &str) -> Result<T, CastError> {
        self(raw)
    }
}

/// A value restricted to a set, like decouple's `Choices`; the error lists
/// the allowed values. Matching is exact after trimming ASCII whitespace.
///
/// ```
/// use envcloak::{Choices, Config};
/// let cfg = Config::builder().environment([("APP_ENV", "staging")]).build()?;
/// let env = cfg.get_with("APP_ENV", Choices::new(["dev", "staging", "prod"]))?;
/// assert_eq!(env, "staging");
/// # Ok::<(), envcloak::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Choices<'a> {
    allowed: Vec<&'a str>,
}

impl<'a> Choices<'a> {
    /// The allowed values.
    pub fn new(allowed: impl IntoIterator<Item = &'a str>) -> Self {
        Choices {
            allowed: allowed.into_iter().collect(),
        }
    }
}

impl Cast<String> for Choices<'_> {
    fn expected(&self) -> Cow<'static, str> {
        format!("one of: {}", self.allowed.join(", ")).into()
    }
    fn cast(&self, raw: &str) -> Result<String, CastError> {
        let v = raw.trim_ascii();
        match self.allowed.iter().find(|a| **a == v) {
            Some(a) => Ok((*a).to_owned()),
            None => Err(CastError::new("not one of the allowed values")),
        }
    }
}

/// Deserializes a [`SecretString`] field (secrecy gives `Deserialize` to
/// `SecretBox<T>` for sized `T` only): `#[serde(deserialize_with =
/// "envcloak::secret_string")]`.
pub fn secret_string<'de, D>(
    deserializer: D,
) -> std::result::Result<secrecy::SecretString, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let s: zeroize::Zeroizing<String> =
        zeroize::Zeroizing::new(serde::Deserialize::deserialize(deserializer)?);
    Ok(secrecy::SecretString::from(s.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn bools_take_decouples_spellings_in_any_case() {
        for s in ["y", "YES", "t", "True", "on", "1", " tRuE\t"] {
            assert_eq!(bool::from_value(s), Ok(true), "{s}");
        }
        for s in ["n", "No", "f", "FALSE", "off", "0", "", "  "] {
            assert_eq!(bool::from_value(s), Ok(false), "{s:?}");
        }
        for s in ["2", "yess", "enabled", "-1", "tru e"] {
            assert!(bool::from_value(s).is_err(), "{s}");
        }
    }

    #[test]
    fn numbers_trim_and_report_range() {
        assert_eq!(u16::from_value(" 8080 "), Ok(8080));
        assert_eq!(
            u16::from_value("70000").unwrap_err().reason(),
            "out of range (0 to 65535)"
        );
        assert_eq!(
            i8::from_value("-129").unwrap_err().reason(),
            "out of range (-128 to 127)"
        );
        assert_eq!(u8::from_value("").unwrap_err().reason(), "empty value");
        assert_eq!(f64::from_value(" 1.5 "), Ok(1.5));
        assert!(f64::from_value("1.5x").is_err());
    }

    #[test]
    fn strings_are_exact() {
        assert_eq!(String::from_value("  a  ").unwrap(), "  a  ");
        assert_eq!(
            SecretString::from_value(" s ").unwrap().expose_secret(),
            " s "
        );
    }

    #[test]
    fn durations() {
        let d = |s| Duration::from_value(s).unwrap();
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("5m"), Duration::from_secs(300));
        assert_eq!(d("250ms"), Duration::from_millis(250));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d("12"), Duration::from_secs(12));
        assert_eq!(d("1.5"), Duration::from_millis(1500));
        for bad in ["", "5x", "-1", "m", "1e400"] {
            assert!(Duration::from_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_quotes_spaces_and_empty_items() {
        let v = |s| Csv::<String>::from_value(s).unwrap().into_inner();
        assert_eq!(v("a, b,c"), ["a", "b", "c"]);
        assert_eq!(v(" a ,, ,b,"), ["a", "b"]);
        assert_eq!(v(r#""a, b", c"#), ["a, b", "c"]);
        assert!(v("").is_empty());
        assert_eq!(Csv::<u8>::parse_with("1;2", ';').unwrap().0, [1, 2]);
        assert_eq!(
            Csv::<u8>::from_value("1, x").unwrap_err().reason(),
            "item 2: not a valid integer"
        );
        assert!(Csv::<String>::from_value("\"open").is_err());
    }

    #[test]
    fn json_errors_do_not_quote_the_input() {
        let e = Json::<Vec<u32>>::from_value(r#"["CANARY"]"#).unwrap_err();
        assert!(!e.reason().contains("CANARY"), "{e}");
        assert_eq!(Json::<Vec<u32>>::expected(), "JSON Vec<u32>");
    }

    #[test]
    fn choices_list_allowed_values() {
        let c = Choices::new(["a", "b"]);
        assert_eq!(c.cast(" b ").unwrap(), "b");
        assert!(c.cast("c").is_err());
        assert_eq!(c.expected(), "one of: a, b");
    }
}
