//! Real-world `.env` files through the public API: the loader
//! (`Config::builder()`) and `envcloak::dotenv::parse`.
//!
//! Each case here was found reading real files (issue 11); each asserts the
//! exact value the user gets, and that loading never panics.

use std::path::Path;

use envcloak::dotenv;
use envcloak::{Config, Error};

/// A config over `.env` holding `text`, in a fresh directory, with an empty
/// process environment.
fn load(dir: &Path, text: &str) -> Result<Config, Error> {
    std::fs::write(dir.join(".env"), text).unwrap();
    Config::builder()
        .dir(dir)
        .environment(std::iter::empty::<(&str, &str)>())
        .build()
}

fn loaded(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), text).unwrap_or_else(|e| panic!("{text:?} does not load: {e}"))
}

fn get(c: &Config, key: &str) -> String {
    c.get::<String>(key)
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// `(key, value)` pairs as `dotenv::parse` reads them.
fn parsed(text: &str) -> Vec<(String, String)> {
    dotenv::parse(text)
        .unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
        .into_iter()
        .map(|e| (e.key.to_owned(), e.value.into_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

// An empty value followed by a comment used to panic while building the
// layer, with a message that quoted the start of the file (secrets included).

#[test]
fn empty_value_before_a_comment_loads_as_empty() {
    for text in [
        "A=#note\n",
        "A=   # optional\n",
        "A=\t#\n",
        "A=\u{a0}# after a no-break space\n",
        "export A= # exported\r\n",
    ] {
        let c = loaded(&format!("SECRET_KEY=s3cr3t-canary-value\n{text}B=after\n"));
        assert_eq!(get(&c, "A"), "", "{text:?}");
        assert_eq!(get(&c, "B"), "after", "{text:?}");
        assert_eq!(get(&c, "SECRET_KEY"), "s3cr3t-canary-value", "{text:?}");
    }
    // At the end of a file without a newline.
    for text in ["A=#", "A=   #", "A= # last"] {
        let c = loaded(&format!("SECRET_KEY=s3cr3t-canary-value\n{text}"));
        assert_eq!(get(&c, "A"), "", "{text:?}");
    }
}

#[test]
fn empty_value_before_a_comment_after_a_bom_loads_as_empty() {
    let c = loaded("\u{feff}TOKEN=abc\nA=   # optional\nB=x\n");
    assert_eq!(get(&c, "TOKEN"), "abc");
    assert_eq!(get(&c, "A"), "");
    assert_eq!(get(&c, "B"), "x");
}

#[test]
fn empty_value_before_a_comment_parses_as_empty() {
    assert_eq!(
        parsed("A=#note\nB=   # optional\nC=x\n"),
        pairs(&[("A", ""), ("B", ""), ("C", "x")])
    );
}

/// The shipped `.env.sample` shape that first showed the panic: many
/// entries, some empty with a comment, some secret.
#[test]
fn a_sample_file_with_optional_entries_loads() {
    let text = "\
# Required
DATABASE_URL=postgres://app:pw@localhost/app
SECRET_KEY=0123456789abcdef0123456789abcdef

# Optional
SENTRY_DSN=   # optional
REDIS_URL=#redis://localhost:6379
EMAIL_HOST=smtp.example.com # the relay
";
    let c = loaded(text);
    assert_eq!(get(&c, "DATABASE_URL"), "postgres://app:pw@localhost/app");
    assert_eq!(get(&c, "SENTRY_DSN"), "");
    assert_eq!(get(&c, "REDIS_URL"), "");
    assert_eq!(get(&c, "EMAIL_HOST"), "smtp.example.com");
    assert_eq!(
        c.get::<Option<String>>("SENTRY_DSN").unwrap(),
        Some(String::new())
    );
}
