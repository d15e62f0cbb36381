//! `envcloak::example`: `.env.example` parsing (directives in the comment
//! block above a key) and `init_text`.
//!
//! - `Example::parse(".env.example", text)` never panics; it fails only with
//!   `Error::Parse` naming `.env.example` and a line of the text; when it
//!   succeeds, each key is a valid dotenv key listed once, at the line
//!   `dotenv::parse` gives for its last entry.
//! - `init_text` never panics and, on an example that parsed, succeeds; its
//!   output parses with `dotenv::parse`, keeps every key of the example,
//!   and gives each `@generate` key a value of the kind asked for (a Fernet
//!   key, 2N hex digits, or N bytes of unpadded URL-safe base64).
#![no_main]

use envcloak::Error;
use envcloak::crypto::Key;
use envcloak::dotenv;
use envcloak::example::{self, Example, Generate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1;
    let example = match Example::parse(".env.example", text.to_owned()) {
        Ok(example) => example,
        Err(Error::Parse { path, line, .. }) => {
            assert_eq!(path.to_str(), Some(".env.example"));
            assert!(line >= 1 && line as usize <= lines, "error on line {line} of {lines}");
            return;
        }
        Err(e) => panic!("Example::parse: unexpected error {e:?}"),
    };

    let entries = dotenv::parse(text).expect("Example::parse accepted a text dotenv rejects");
    for (i, k) in example.keys.iter().enumerate() {
        assert!(dotenv::is_valid_key(&k.key), "{:?}", k.key);
        assert!(
            example.keys[..i].iter().all(|other| other.key != k.key),
            "{:?} listed twice",
            k.key
        );
        let last = entries.iter().rev().find(|e| e.key == k.key).expect("key from the text");
        assert_eq!(last.line, k.line, "{:?}", k.key);
    }
    assert!(
        entries.iter().all(|e| example.get(e.key).is_some()),
        "a key of the text is missing from the example"
    );

    let init = example::init_text(&example)
        .unwrap_or_else(|e| panic!("init_text failed on an example that parsed: {e}"));
    let out = dotenv::parse(&init.text)
        .unwrap_or_else(|e| panic!("init_text output does not parse: {e}"));
    for k in &example.keys {
        let value = &out
            .iter()
            .rev()
            .find(|e| e.key == k.key)
            .unwrap_or_else(|| panic!("init_text dropped {:?}", k.key))
            .value;
        if let Some(g) = k.generate {
            let ok = match g {
                Generate::Fernet => Key::parse(value).is_ok(),
                Generate::Hex(n) => {
                    value.len() == 2 * n && value.bytes().all(|b| b.is_ascii_hexdigit())
                }
                Generate::Urlsafe(n) => {
                    value.len() == (4 * n).div_ceil(3)
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }
            };
            assert!(ok, "{:?}: the generated value is not {g}", k.key);
            assert!(init.generated.iter().any(|(key, gen_)| *key == k.key && *gen_ == g));
        }
    }
    for key in &init.needs_value {
        let k = example.get(key).expect("needs_value names a key of the example");
        assert!(k.required && k.generate.is_none(), "{key:?}");
    }
});
