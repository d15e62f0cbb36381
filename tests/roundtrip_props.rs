//! Property tests of the round trips the CLI and the loader rely on:
//!
//! - `dotenv::set_entry` / `remove_entry` / `quote` against `dotenv::parse`,
//!   for any valid key and any string value, inside a random existing file
//!   (comments, blank lines, `export`, spaces around `=`, inline comments,
//!   CRLF, a BOM, raw multi-line double-quoted values);
//! - a whole file written with `quote`, parsed, re-written and parsed again
//!   (what `encrypt` of a parsed file and `set` rely on);
//! - `crypto::encrypt` / `crypto::decrypt` for any plaintext and keyrings of
//!   1 to 4 keys;
//! - a `.env` written with `quote` read back through `Config`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use envcloak::Config;
use envcloak::crypto::{self, DecryptError, Key, Keyring};
use envcloak::dotenv::{self, is_valid_key, parse, quote, remove_entry, set_entry};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// A valid dotenv key: a letter or `_`, then letters, digits, `_` or `.`.
fn key() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.]{0,10}"
}

/// Keys from a small alphabet, so that files often hold duplicates and the
/// key being set or removed is often already there.
fn small_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("A".to_owned()),
        Just("B".to_owned()),
        Just("export".to_owned()),
        Just("_x.y".to_owned()),
        key(),
    ]
}

/// Any string, with the characters dotenv treats specially made likely.
fn value() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("$".to_owned()),
        Just("${A}".to_owned()),
        Just("$A".to_owned()),
        Just("#".to_owned()),
        Just(" #".to_owned()),
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just("\r\n".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("=".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("\u{2028}".to_owned()),
        Just("ü€😀".to_owned()),
        Just("\0".to_owned()),
        "[a-z0-9]{1,4}",
    ];
    prop_oneof![
        3 => proptest::collection::vec(special, 0..8).prop_map(|v| v.concat()),
        1 => any::<String>(),
        1 => "[ -~]{0,12}",
    ]
}

/// How one entry of an existing file is written.
#[derive(Debug, Clone)]
struct Style {
    export: bool,
    spaces_around_equals: bool,
    inline_comment: bool,
    /// A raw multi-line double-quoted value (only for values it can hold).
    raw_double: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(export, spaces_around_equals, inline_comment, raw_double)| Style {
            export,
            spaces_around_equals,
            inline_comment,
            raw_double,
        },
    )
}

#[derive(Debug, Clone)]
enum Line {
    Entry(String, String, Style),
    Comment(String),
    Blank,
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => (small_key(), value(), style()).prop_map(|(k, v, s)| Line::Entry(k, v, s)),
        1 => "[ -~]{0,10}".prop_map(Line::Comment),
        1 => Just(Line::Blank),
    ]
}

/// A random existing dotenv file and the entries it holds.
#[derive(Debug, Clone)]
struct File {
    text: String,
    entries: Vec<(String, String)>,
}

fn file() -> impl Strategy<Value = File> {
    (
        proptest::collection::vec(line(), 0..12),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, crlf, bom, final_newline)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            let mut entries = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                match l {
                    Line::Entry(k, v, s) => {
                        if s.export && k != "export" {
                            text.push_str("export ");
                        }
                        text.push_str(k);
                        text.push_str(if s.spaces_around_equals { " = " } else { "=" });
                        let raw_ok = !v.contains(['"', '\\', '$', '\r']);
                        if s.raw_double && raw_ok {
                            text.push('"');
                            text.push_str(v);
                            text.push('"');
                        } else {
                            text.push_str(&quote(v));
                        }
                        if s.inline_comment {
                            text.push_str(" # note");
                        }
                        entries.push((k.clone(), v.clone()));
                    }
                    Line::Comment(c) => {
                        text.push('#');
                        text.push_str(c);
                    }
                    Line::Blank => {}
                }
                if i + 1 < lines.len() || final_newline {
                    text.push_str(eol);
                }
            }
            File { text, entries }
        })
}

/// 32 random bytes as a Fernet key.
fn fernet_key() -> impl Strategy<Value = Key> {
    proptest::array::uniform32(any::<u8>())
        .prop_map(|bytes| Key::parse(&URL_SAFE.encode(bytes)).expect("32 bytes are a fernet key"))
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn pairs(text: &str) -> Vec<(String, String)> {
    parse(text)
        .unwrap_or_else(|e| panic!("does not parse ({e}): {text:?}"))
        .into_iter()
        .map(|e| (e.key.to_owned(), e.value.into_owned()))
        .collect()
}

/// A whole file written with `quote`, one `K=<quoted>` line each.
fn write_quoted(entries: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        out.push_str(k);
        out.push('=');
        out.push_str(&quote(v));
        out.push('\n');
    }
    out
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // No persistence files in the source tree: failures print the
        // minimal input, which is what to copy into a unit test.
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    }
}

// ---------------------------------------------------------------------------
// dotenv
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_files_parse_to_their_entries(f in file()) {
        prop_assert_eq!(pairs(&f.text), f.entries);
    }

    #[test]
    fn quote_round_trips_any_value(v in value(), crlf in any::<bool>(), newline in any::<bool>()) {
        let eol = match (newline, crlf) {
            (false, _) => "",
            (true, false) => "\n",
            (true, true) => "\r\n",
        };
        let text = format!("K={}{eol}", quote(&v));
        prop_assert_eq!(pairs(&text), vec![("K".to_owned(), v)], "text {:?}", text);
    }

    #[test]
    fn set_entry_sets_exactly_and_keeps_the_rest(
        f in file(),
        k in small_key(),
        v in value(),
        pick in any::<Index>(),
        use_existing in any::<bool>(),
    ) {
        // Half the time, set a key the file already has.
        let k = if use_existing && !f.entries.is_empty() {
            f.entries[pick.index(f.entries.len())].0.clone()
        } else {
            k
        };
        prop_assume!(is_valid_key(&k));
        let new = set_entry(&f.text, &k, &v).expect("set_entry on a valid file");
        let got = pairs(&new);

        // Expected: the last entry for k replaced in place, or appended.
        let mut expected = f.entries.clone();
        match expected.iter().rposition(|(key, _)| *key == k) {
            Some(i) => expected[i].1 = v.clone(),
            None => expected.push((k.clone(), v.clone())),
        }
        prop_assert_eq!(&got, &expected, "set {:?} in {:?} gave {:?}", k, f.text, new);
        let last = got.iter().rev().find(|(key, _)| *key == k).map(|(_, v)| v);
        prop_assert_eq!(last, Some(&v));

        // Setting it again to the same value changes nothing more.
        let again = set_entry(&new, &k, &v).unwrap();
        prop_assert_eq!(pairs(&again), expected);
    }

    #[test]
    fn remove_entry_removes_all_and_keeps_the_rest(
        f in file(),
        k in small_key(),
        pick in any::<Index>(),
        use_existing in any::<bool>(),
    ) {
        let k = if use_existing && !f.entries.is_empty() {
            f.entries[pick.index(f.entries.len())].0.clone()
        } else {
            k
        };
        let (new, removed) = remove_entry(&f.text, &k).expect("remove_entry on a valid file");
        let expected: Vec<(String, String)> =
            f.entries.iter().filter(|(key, _)| *key != k).cloned().collect();
        prop_assert_eq!(removed, f.entries.len() - expected.len());
        prop_assert_eq!(pairs(&new), expected, "remove {:?} from {:?} gave {:?}", k, f.text, new);
        if removed == 0 {
            prop_assert_eq!(&new, &f.text);
        }
    }

    #[test]
    fn set_then_remove_round_trip(f in file(), k in key(), v in value()) {
        // A key the file does not have: set appends it, remove takes it away.
        prop_assume!(!f.entries.iter().any(|(key, _)| *key == k));
        let with = set_entry(&f.text, &k, &v).unwrap();
        let (without, removed) = remove_entry(&with, &k).unwrap();
        prop_assert_eq!(removed, 1);
        prop_assert_eq!(pairs(&without), f.entries);
    }

    #[test]
    fn quoted_file_rewrites_to_the_same_list(
        entries in proptest::collection::vec((small_key(), value()), 0..16),
    ) {
        let first = write_quoted(&entries);
        let parsed = pairs(&first);
        prop_assert_eq!(&parsed, &entries);
        let second = write_quoted(&parsed);
        prop_assert_eq!(pairs(&second), parsed);
        prop_assert_eq!(second, first);
    }
}

// ---------------------------------------------------------------------------
// crypto
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn encrypt_decrypt_round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..4096),
        ring_keys in proptest::collection::vec(fernet_key(), 1..=4),
        others in proptest::collection::vec(fernet_key(), 0..=3),
        position in any::<Index>(),
    ) {
        let first = ring_keys[0].clone();
        prop_assume!(others.iter().all(|k| *k != first));
        let ring = Keyring::new(ring_keys.clone()).unwrap();
        let token = crypto::encrypt(&ring, &plaintext);

        // The same ring, and a trailing newline as in a file.
        let opened = crypto::decrypt(&ring, token.as_bytes(), None).unwrap();
        prop_assert_eq!(&opened[..], &plaintext[..]);
        let opened = crypto::decrypt(&ring, format!("{token}\n").as_bytes(), None).unwrap();
        prop_assert_eq!(&opened[..], &plaintext[..]);

        // Any ring that holds the first key, in any position.
        let mut other_ring = others.clone();
        other_ring.insert(position.index(others.len() + 1), first.clone());
        let other_ring = Keyring::new(other_ring).unwrap();
        let opened = crypto::decrypt(&other_ring, token.as_bytes(), None).unwrap();
        prop_assert_eq!(&opened[..], &plaintext[..]);

        // The first key alone.
        let alone = Keyring::from(first.clone());
        let opened = crypto::decrypt(&alone, token.as_bytes(), None).unwrap();
        prop_assert_eq!(&opened[..], &plaintext[..]);

        // A ring without it: authentication fails. The other keys of the
        // encrypting ring do not help either.
        let mut without: Vec<Key> = others.clone();
        without.extend(ring_keys[1..].iter().filter(|k| **k != first).cloned());
        if !without.is_empty() {
            let without = Keyring::new(without).unwrap();
            prop_assert_eq!(
                crypto::decrypt(&without, token.as_bytes(), None).unwrap_err(),
                DecryptError::Authentication
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..config() })]

    #[test]
    fn config_reads_back_every_quoted_value(
        map in proptest::collection::btree_map(key(), value(), 0..12),
    ) {
        // Keys that name a key source are left out: they are not values.
        let map: BTreeMap<String, String> =
            map.into_iter().filter(|(k, _)| !k.starts_with("ENVCLOAK")).collect();
        let entries: Vec<(String, String)> = map.clone().into_iter().collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), write_quoted(&entries)).unwrap();
        let cfg = Config::builder()
            .dir(dir.path())
            .process_env(false)
            .build()
            .expect("a .env written with quote loads");
        for (k, v) in &map {
            let got: String = cfg.get(k).unwrap_or_else(|e| panic!("{k}: {e}"));
            prop_assert_eq!(&got, v, "key {}", k);
        }
    }
}

#[test]
fn strategies_cover_the_sharp_edges() {
    // A fixed example of each edge the strategies aim at, so a change to the
    // strategies cannot quietly drop them.
    for v in [
        "",
        " lead and trail ",
        "a'b\"c",
        "\\n literal",
        "$HOME ${A} $",
        "# not a comment",
        "x #y",
        "line\nbreak",
        "cr\ronly",
        "crlf\r\n",
        "ü€😀\u{2028}\u{a0}",
        "nul\0byte",
    ] {
        let text = set_entry("A=1\n# c\nB='2'\n", "B", v).unwrap();
        assert_eq!(
            pairs(&text),
            vec![("A".into(), "1".into()), ("B".into(), v.into())],
            "{text:?}"
        );
        let _ = dotenv::quote(v);
    }
}
