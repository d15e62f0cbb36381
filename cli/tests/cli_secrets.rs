//! End-to-end tests of the `envcloak` binary's secret commands: keygen,
//! token, encrypt, decrypt, edit, set, unset, get, ls, run, rotate.
//!
//! Every test drives the real binary in its own temporary directory, with
//! an empty environment except `PATH`, `HOME` (the temporary directory) and
//! the variables the test gives. The test process's own environment is
//! never changed. Each test checks what a user sees: the exact standard
//! output, the file/key/line named on stderr, the exit code, file modes —
//! and that secret canaries appear nowhere except where the user asked for
//! them (`decrypt`, `get`, `ls --show`, the child of `run`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

/// A secret value that must only ever be printed on request.
const CANARY: &str = "CANARY_7f3a9";

mod common;

use common::Project;

/// A Fernet key made independently of envcloak.
fn other_key() -> String {
    fernet::Fernet::generate_key()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[track_caller]
fn assert_fernet_key(text: &str) {
    assert_eq!(text.len(), 44, "key length: {text:?}");
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='),
        "not URL-safe base64: {text:?}"
    );
    assert_eq!(URL_SAFE.decode(text).expect("base64").len(), 32);
    assert!(fernet::Fernet::new(text).is_some());
}

fn is_urlsafe_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

// ---------------------------------------------------------------------------
// keygen
// ---------------------------------------------------------------------------

#[test]
fn keygen_prints_a_fresh_fernet_key() {
    let p = Project::new();
    let a = p.envcloak(&["keygen"]).run().ok();
    let b = p.envcloak(&["keygen"]).run().ok();
    let key = a.stdout().strip_suffix('\n').expect("one line");
    assert!(!key.contains('\n'));
    assert_fernet_key(key);
    assert_ne!(a.stdout(), b.stdout(), "two keys must differ");
    assert_eq!(a.stderr, "");
    assert!(!p.exists(".env.key"), "plain keygen writes nothing");
}

#[test]
fn keygen_write_creates_a_private_gitignored_key_and_never_overwrites() {
    let p = Project::new();
    p.git_init();
    let out = p.envcloak(&["keygen", "--write"]).run().ok();
    assert_eq!(out.stdout(), "", "--write must not print the key");
    out.stderr_says(&[".env.key"]);

    let key = p.read_string(".env.key");
    assert_fernet_key(key.strip_suffix('\n').expect("ends with a newline"));
    out.hides(key.trim_end());
    assert_eq!(p.mode(".env.key"), 0o600);
    assert!(
        p.read_string(".gitignore")
            .lines()
            .any(|l| l.trim() == ".env.key"),
        ".gitignore: {:?}",
        p.read_string(".gitignore")
    );
    p.command("git", &["check-ignore", "-q", ".env.key"])
        .run()
        .code(0);

    // A second --write refuses and leaves the key alone.
    let again = p.envcloak(&["keygen", "--write"]).run().fails(2);
    again.error_says(&[".env.key", "already exists"]);
    assert_eq!(p.read_string(".env.key"), key);
    assert_eq!(p.mode(".env.key"), 0o600);
}

#[test]
fn keygen_write_leaves_an_ignoring_gitignore_alone() {
    let p = Project::new();
    p.git_init();
    p.write(
        ".gitignore",
        "target/\n.env.*\n.envcloak-tmp-*\n.envcloak.lock\n",
    );
    p.envcloak(&["keygen", "--write"]).run().ok();
    assert_eq!(
        p.read_string(".gitignore"),
        "target/\n.env.*\n.envcloak-tmp-*\n.envcloak.lock\n"
    );
    // Without the temp-file and lock patterns, only those are added: a
    // killed write's leftover (which may hold the key) is never committed,
    // and the lock file never shows in `git status`.
    std::fs::remove_file(p.p(".env.key")).unwrap();
    p.write(".gitignore", "target/\n.env.*\n");
    p.envcloak(&["keygen", "--write"]).run().ok();
    assert_eq!(
        p.read_string(".gitignore"),
        "target/\n.env.*\n.envcloak.lock\n.envcloak-tmp-*\n"
    );
    p.command("git", &["check-ignore", "-q", ".env.key"])
        .run()
        .code(0);
}

// ---------------------------------------------------------------------------
// token
// ---------------------------------------------------------------------------

#[test]
fn token_formats_and_sizes() {
    let p = Project::new();

    let hex = p.envcloak(&["token"]).run().ok();
    let t = hex.stdout().strip_suffix('\n').unwrap();
    assert_eq!(t.len(), 64);
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let hex2 = p.envcloak(&["token"]).run().ok();
    assert_ne!(hex.stdout(), hex2.stdout());

    let t = p.envcloak(&["token", "3", "--hex"]).run().ok();
    assert_eq!(t.stdout().len(), 7);

    let url = p.envcloak(&["token", "16", "--urlsafe"]).run().ok();
    let t = url.stdout().strip_suffix('\n').unwrap();
    assert_eq!(t.len(), 22, "{t:?}");
    assert!(t.bytes().all(is_urlsafe_char), "{t:?}");
    assert_eq!(URL_SAFE_NO_PAD.decode(t).unwrap().len(), 16);

    for n in [16usize, 32, 33] {
        let out = p
            .envcloak(&["token", &n.to_string(), "--base64"])
            .run()
            .ok();
        let t = out.stdout().strip_suffix('\n').unwrap();
        assert_eq!(STANDARD.decode(t).unwrap().len(), n, "{t:?}");
    }

    let zero = p.envcloak(&["token", "0"]).run().fails(2);
    zero.error_says(&["bytes"]);
    p.envcloak(&["token", "--hex", "--urlsafe"]).run().fails(2);
}

// ---------------------------------------------------------------------------
// encrypt / decrypt
// ---------------------------------------------------------------------------

/// Plaintext with the shapes a real `.env` has; decrypt must give it back
/// byte for byte.
const PLAIN: &str = "\u{feff}# database\r\nDATABASE_URL=postgres://u:p@localhost/db\r\n\n\
    export SECRET_KEY=CANARY_7f3a9\n  # indented comment\n\
    MULTI=\"line one\nline two\"\nHOSTS=.localhost, .example.com # inline\n\
    UNICODE='héllo ✓ 日本'\nLAST=no-newline";

#[test]
fn encrypt_creates_a_key_and_one_fernet_token_that_decrypts_byte_for_byte() {
    let p = Project::new();
    p.write(".env", PLAIN);
    let out = p.envcloak(&["encrypt"]).run().ok();
    assert_eq!(out.stdout(), "");
    out.hides(CANARY);
    out.stderr_says(&[".env.key", ".env.enc"]);

    assert_eq!(p.mode(".env.key"), 0o600);
    let key = p.key();
    assert_fernet_key(&key);
    out.hides(&key);

    // One line: a Fernet token that an independent implementation opens.
    let file = p.read_string(".env.enc");
    let token = file.strip_suffix('\n').expect("ends with a newline");
    assert!(!token.contains(['\n', '\r']), "one line: {file:?}");
    assert!(token.starts_with("gAAAAA"), "{token:?}");
    assert!(!file.contains(CANARY));
    let opened = fernet::Fernet::new(&key).unwrap().decrypt(token).unwrap();
    assert_eq!(opened, PLAIN.as_bytes());

    let dec = p.envcloak(&["decrypt"]).run().ok();
    assert_eq!(dec.stdout, PLAIN.as_bytes());
    assert_eq!(dec.stderr, "", "decrypt to stdout is quiet");

    // -f names the file (a positional is a usage error, see
    // decrypt_names_its_input_with_f_only in ci_formats.rs); -f and
    // --key-file agree with the defaults.
    let by_flag = p
        .envcloak(&["decrypt", "-f", ".env.enc", "--key-file", ".env.key"])
        .run()
        .ok();
    assert_eq!(by_flag.stdout, PLAIN.as_bytes());
}

#[test]
fn encrypt_again_reuses_the_key() {
    let p = Project::new();
    let key = p.encrypt_env("A=1\n");
    p.write(".env", "A=2\n");
    let out = p.envcloak(&["encrypt"]).run().ok();
    assert_eq!(p.key(), key);
    assert!(!out.stderr.contains("created"), "{}", out.stderr);
    p.assert_plaintext("A=2\n");
}

#[test]
fn encrypt_refuses_invalid_dotenv_without_quoting_it() {
    let p = Project::new();
    p.write(".env", format!("A=1\nB=2\n1BAD={CANARY}\n"));
    let out = p.envcloak(&["encrypt"]).run().fails(2);
    out.error_says(&[".env:3"]).hides(CANARY);
    assert!(!p.exists(".env.enc"));
}

/// Values that stress every output format.
const TRICKY: &str = "SQ=\"it's \\\"quoted\\\"\"\nSPACES='two  spaces  here'\n\
    DOLLAR='$HOME and ${PATH} $1 `echo no` $(echo no)'\nNL=\"line1\\nline2\"\n\
    UNI='héllo ✓ 日本'\nBS='back\\slash'\nHASH='a #b'\nEMPTY=\nSECRET=CANARY_7f3a9\n";

fn tricky_values() -> BTreeMap<String, String> {
    [
        ("SQ", "it's \"quoted\""),
        ("SPACES", "two  spaces  here"),
        ("DOLLAR", "$HOME and ${PATH} $1 `echo no` $(echo no)"),
        ("NL", "line1\nline2"),
        ("UNI", "héllo ✓ 日本"),
        ("BS", "back\\slash"),
        ("HASH", "a #b"),
        ("EMPTY", ""),
        ("SECRET", CANARY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn decrypt_format_json_is_the_map_of_values() {
    let p = Project::new();
    p.encrypt_env(TRICKY);
    let out = p.envcloak(&["decrypt", "--format", "json"]).run().ok();
    let map: BTreeMap<String, String> = serde_json::from_str(out.stdout()).expect("JSON object");
    assert_eq!(map, tricky_values());
}

#[test]
fn decrypt_format_shell_evaluates_to_the_values() {
    let p = Project::new();
    p.encrypt_env(TRICKY);
    let shell = p.envcloak(&["decrypt", "--format", "shell"]).run().ok();
    assert!(
        shell.stdout().lines().all(|l| !l.is_empty()),
        "{}",
        shell.stdout()
    );
    for (key, value) in tricky_values() {
        let out = p
            .sh(&format!(
                "eval \"$(\"$EC\" decrypt --format shell)\" && printf %s \"${key}\""
            ))
            .run()
            .ok();
        assert_eq!(out.stdout(), value, "{key}");
        assert_eq!(out.stderr, "", "{key}: the eval ran something");
    }
    // Exported: visible to a child of the evaluating shell.
    let out = p
        .sh("eval \"$(\"$EC\" decrypt --format shell)\" && sh -c 'printf %s \"$SQ\"'")
        .run()
        .ok();
    assert_eq!(out.stdout(), "it's \"quoted\"");
}

#[test]
fn decrypt_to_a_file_is_private_and_never_overwrites_without_force() {
    let p = Project::new();
    p.encrypt_env(TRICKY);
    std::fs::remove_file(p.p(".env")).unwrap();

    let out = p.envcloak(&["decrypt", "-o", "out.env"]).run().ok();
    assert_eq!(out.stdout(), "");
    out.hides(CANARY);
    assert_eq!(p.read_string("out.env"), TRICKY);
    assert_eq!(p.mode("out.env"), 0o600);

    p.write_mode("existing.env", "OLD=1\n", 0o644);
    let refused = p
        .envcloak(&["decrypt", "-o", "existing.env"])
        .run()
        .fails(2);
    refused
        .error_says(&["existing.env", "already exists"])
        .stderr_says(&["--force"])
        .hides(CANARY);
    assert_eq!(p.read_string("existing.env"), "OLD=1\n");

    p.envcloak(&["decrypt", "-o", "existing.env", "--force"])
        .run()
        .ok();
    assert_eq!(p.read_string("existing.env"), TRICKY);
    assert_eq!(
        p.mode("existing.env"),
        0o600,
        "--force output is private too"
    );

    // The plaintext .env is protected the same way.
    p.write(".env", "LOCAL=1\n");
    p.envcloak(&["decrypt", "-o", ".env"]).run().fails(2);
    assert_eq!(p.read_string(".env"), "LOCAL=1\n");
}

#[test]
fn decrypt_format_json_to_a_file() {
    let p = Project::new();
    p.encrypt_env(TRICKY);
    p.envcloak(&["decrypt", "--format", "json", "-o", "out.json"])
        .run()
        .ok();
    let map: BTreeMap<String, String> = serde_json::from_str(&p.read_string("out.json")).unwrap();
    assert_eq!(map, tricky_values());
    assert_eq!(p.mode("out.json"), 0o600);
}

// ---------------------------------------------------------------------------
// Where keys come from
// ---------------------------------------------------------------------------

#[test]
fn envcloak_key_variable_encrypts_and_decrypts_without_a_key_file() {
    let p = Project::new();
    let key = other_key();
    p.write(".env", format!("SECRET={CANARY}\n"));
    let out = p
        .envcloak(&["encrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    out.hides(CANARY).hides(&key);
    assert!(!p.exists(".env.key"), "a key was found: none is created");
    let token = p.read_string(".env.enc");
    assert_eq!(
        fernet::Fernet::new(&key)
            .unwrap()
            .decrypt(token.trim_end())
            .unwrap(),
        format!("SECRET={CANARY}\n").as_bytes()
    );

    let dec = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert_eq!(dec.stdout(), format!("SECRET={CANARY}\n"));

    // ENVCLOAK_KEY wins over a .env.key that holds another key.
    p.write_mode(".env.key", format!("{}\n", other_key()), 0o600);
    let dec = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert_eq!(dec.stdout(), format!("SECRET={CANARY}\n"));
    // ... and an empty ENVCLOAK_KEY counts as unset (falls back to .env.key).
    p.envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", "")
        .run()
        .fails(2)
        .error_says(&["authentication failed"]);
}

#[test]
fn key_file_variable_command_and_flag() {
    let p = Project::new();
    let key = p.encrypted_only(&format!("SECRET={CANARY}\n"));
    p.mkdir("keys");
    std::fs::rename(p.p(".env.key"), p.p("keys/team.key")).unwrap();
    let expected = format!("SECRET={CANARY}\n");

    // Nothing found now.
    p.envcloak(&["decrypt"]).run().fails(2);

    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_FILE", p.p("keys/team.key"))
        .run()
        .ok();
    assert_eq!(out.stdout(), expected);
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_FILE", "keys/team.key")
        .run()
        .ok();
    assert_eq!(out.stdout(), expected);

    let out = p
        .envcloak(&["decrypt", "--key-file", "keys/team.key"])
        .run()
        .ok();
    assert_eq!(out.stdout(), expected);

    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_CMD", format!("printf %s '{key}'"))
        .run()
        .ok();
    assert_eq!(out.stdout(), expected);
    // With a trailing newline, as `op read` or `vault kv get` print it.
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_CMD", "cat keys/team.key")
        .run()
        .ok();
    assert_eq!(out.stdout(), expected);
}

#[test]
fn key_command_that_fails_or_prints_nothing_is_a_clear_error() {
    let p = Project::new();
    let key = p.encrypted_only("A=1\n");
    std::fs::remove_file(p.p(".env.key")).unwrap();

    let failing = p
        .envcloak(&["decrypt"])
        .env(
            "ENVCLOAK_KEY_CMD",
            "echo 'vault: permission denied' >&2; exit 4",
        )
        .run()
        .fails(2);
    failing.error_says(&["ENVCLOAK_KEY_CMD", "failed"]);
    // The command's own stderr is passed through so the user sees why.
    failing.stderr_says(&["vault: permission denied"]);

    let silent = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_CMD", "true")
        .run()
        .fails(2);
    silent.error_says(&["ENVCLOAK_KEY_CMD", "nothing"]);

    let garbage = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_CMD", format!("printf %s '{}'", &key[..40]))
        .run()
        .fails(2);
    garbage.error_says(&["ENVCLOAK_KEY_CMD"]).hides(&key[..40]);
}

#[test]
fn key_files_readable_by_others_are_refused_with_the_fix() {
    let p = Project::new();
    let key = p.encrypted_only(&format!("SECRET={CANARY}\n"));

    for mode in [0o644, 0o640, 0o604, 0o660] {
        p.chmod(".env.key", mode);
        let out = p.envcloak(&["decrypt"]).run().fails(2);
        out.error_says(&[".env.key", "chmod 600"])
            .hides(&key)
            .hides(CANARY);
    }
    p.chmod(".env.key", 0o400);
    p.envcloak(&["decrypt"]).run().ok();

    p.write_mode("loose.key", format!("{key}\n"), 0o644);
    p.envcloak(&["decrypt", "--key-file", "loose.key"])
        .run()
        .fails(2)
        .error_says(&["loose.key", "chmod 600"]);
    p.envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_FILE", "loose.key")
        .run()
        .fails(2)
        .error_says(&["loose.key", "chmod 600"]);
}

// ---------------------------------------------------------------------------
// Failures: wrong key, no key, damaged files
// ---------------------------------------------------------------------------

#[test]
fn wrong_key_is_an_authentication_error_and_changes_nothing() {
    let p = Project::new();
    p.encrypted_only(&format!("SECRET={CANARY}\n"));
    let before = p.read(".env.enc");
    let wrong = other_key();

    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &wrong)
        .run()
        .fails(2);
    out.error_says(&[".env.enc", "authentication failed"])
        .stderr_says(&["hint: "])
        .hides(&wrong);

    for args in [
        &["set", "SECRET", "x"][..],
        &["unset", "SECRET"],
        &["rotate", "--write"],
        &["get", "SECRET"],
        &["run", "--", "true"],
    ] {
        let out = p.envcloak(args).env("ENVCLOAK_KEY", &wrong).run().fails(2);
        out.error_says(&["authentication failed"]).hides(CANARY);
    }
    assert_eq!(p.read(".env.enc"), before);
}

#[test]
fn missing_key_lists_where_it_looked_and_hints() {
    let p = Project::new();
    p.encrypted_only(&format!("SECRET={CANARY}\n"));
    std::fs::remove_file(p.p(".env.key")).unwrap();

    let out = p.envcloak(&["decrypt"]).run().fails(2);
    out.error_says(&[
        ".env.enc",
        "no key",
        "ENVCLOAK_KEY",
        "ENVCLOAK_KEY_FILE",
        "ENVCLOAK_KEY_CMD",
        ".env.key",
    ]);
    let hint = out
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint:\n{}", out.stderr));
    assert!(
        hint.contains("keygen") || hint.contains("ENVCLOAK_KEY"),
        "{hint}"
    );
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);

    // With a profile, the profile's variable and key file are listed too.
    std::fs::rename(p.p(".env.enc"), p.p(".env.production.enc")).unwrap();
    let out = p
        .envcloak(&["decrypt", "--profile", "production"])
        .run()
        .fails(2);
    out.error_says(&[
        ".env.production.enc",
        "ENVCLOAK_KEY_PRODUCTION",
        ".env.production.key",
        ".env.key",
    ]);
}

#[test]
fn missing_file_names_it_and_hints() {
    let p = Project::new();
    p.write_mode(".env.key", format!("{}\n", other_key()), 0o600);
    let out = p.envcloak(&["decrypt"]).run().fails(2);
    out.error_says(&[".env.enc"]).stderr_says(&["hint: "]);
}

#[test]
fn damaged_files_and_bad_keys_are_one_line_errors() {
    let p = Project::new();
    let key = p.encrypted_only(&format!("SECRET={CANARY}\n"));
    let good = p.read_string(".env.enc");
    let token = good.trim_end();

    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("truncated", token.as_bytes()[..60].to_vec(), &["truncated"]),
        (
            "cut at a block boundary",
            format!("{}\n", &token[..token.len() - 24]).into_bytes(),
            &["truncated"],
        ),
        ("empty", Vec::new(), &["empty"]),
        ("blank", b"\n  \n".to_vec(), &["empty"]),
        (
            "random bytes",
            (0..200u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            &["not a fernet token"],
        ),
        (
            "plaintext by mistake",
            format!("SECRET={CANARY}\n").into_bytes(),
            &["not a fernet token"],
        ),
        (
            "wrong version",
            format!("A{}\n", &token[1..]).into_bytes(),
            &["not a fernet token"],
        ),
        (
            "bad password header",
            format!("envcloak:pbkdf2-sha256:10:abc\n{token}\n").into_bytes(),
            &["header"],
        ),
    ];
    for (name, contents, needles) in cases {
        p.write(".env.enc", &contents);
        let out = p.envcloak(&["decrypt"]).run();
        let out = out.fails(2);
        let line = out.error();
        assert!(line.starts_with("error: .env.enc: "), "{name}: {line}");
        for n in needles {
            assert!(line.contains(n), "{name}: {line:?} should say {n:?}");
        }
        out.hides(CANARY).hides(&key);
    }

    // The standard base64 alphabet (a token pasted through a tool that
    // "fixed" it) is accepted.
    let standard = token.replace('-', "+").replace('_', "/");
    p.write(".env.enc", format!("{standard}\n"));
    p.assert_plaintext(&format!("SECRET={CANARY}\n"));

    // A CRLF, extra blank lines or spaces around the token are fine.
    p.write(".env.enc", format!("\n  {token}  \r\n\r\n"));
    p.assert_plaintext(&format!("SECRET={CANARY}\n"));

    // Keys of a bad length, from the variable and from a file.
    p.write(".env.enc", &good);
    for bad in [
        URL_SAFE.encode([7u8; 30]),
        URL_SAFE.encode([7u8; 33]),
        "c2hvcnQ=".to_owned(),
        URL_SAFE.encode([7u8; 48]),
    ] {
        let out = p
            .envcloak(&["decrypt"])
            .env("ENVCLOAK_KEY", &bad)
            .run()
            .fails(2);
        out.error_says(&["ENVCLOAK_KEY", "32 bytes"])
            .hides(&bad)
            .hides(CANARY);
    }
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", "not a key at all!")
        .run()
        .fails(2);
    out.error_says(&["ENVCLOAK_KEY", "base64"]);
    // A key cut short: refused, and never echoed.
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &key[..40])
        .run()
        .fails(2);
    out.error_says(&["ENVCLOAK_KEY"]).hides(&key[..40]);
    p.write_mode(".env.key", format!("{}\n", &key[..40]), 0o600);
    let out = p.envcloak(&["decrypt"]).run().fails(2);
    out.error_says(&[".env.key"]).hides(&key[..40]);
}

#[test]
fn every_modified_byte_is_refused_without_leaking() {
    let p = Project::new();
    // 36 bytes of plaintext: a 105-byte token, 140 base64 characters with
    // no padding, so that every character carries signed bits.
    let plain = format!("SECRET={CANARY}\nDEBUG=true\nX=12\n");
    assert_eq!(plain.len(), 36);
    p.encrypted_only(&plain);
    let original = p.read(".env.enc");
    assert_eq!(
        original.len(),
        141,
        "{:?}",
        String::from_utf8_lossy(&original)
    );

    for i in 0..original.len() {
        let mut damaged = original.clone();
        damaged[i] = if original[i] == b'A' { b'B' } else { b'A' };
        p.write(".env.enc", &damaged);
        let out = p.envcloak(&["decrypt"]).run();
        assert_eq!(
            out.code, 2,
            "byte {i} changed: exit code {}; stderr: {}",
            out.code, out.stderr
        );
        assert!(out.stdout.is_empty(), "byte {i} changed: plaintext printed");
        let line = out.error();
        assert!(line.starts_with("error: .env.enc: "), "byte {i}: {line}");
        out.hides(CANARY);
    }
    p.write(".env.enc", &original);
    p.assert_plaintext(&plain);
}

#[test]
fn decrypt_with_ttl_refuses_an_old_file_and_accepts_a_fresh_one() {
    let p = Project::new();
    let key = other_key();
    p.write_mode(".env.key", format!("{key}\n"), 0o600);
    let f = fernet::Fernet::new(&key).unwrap();
    let plain = format!("SECRET={CANARY}\n");

    p.write(
        ".env.enc",
        format!("{}\n", f.encrypt_at_time(plain.as_bytes(), now() - 3600)),
    );
    let out = p.envcloak(&["decrypt", "--ttl", "1"]).run().fails(2);
    out.error_says(&[".env.enc", "expired"]).hides(CANARY);
    // Its own hint, never "the file is damaged".
    out.stderr_says(&["hint: the file is older than --ttl allows"]);
    assert!(!out.stderr.contains("damaged"), "{}", out.stderr);
    let out = p.envcloak(&["decrypt", "--ttl", "60"]).run().fails(2);
    out.error_says(&["expired"]);
    let out = p.envcloak(&["decrypt", "--ttl", "86400"]).run().ok();
    assert_eq!(out.stdout(), plain);
    // Without a TTL, age does not matter.
    p.assert_plaintext(&plain);

    // A file dated in the future (a laptop clock ahead of CI): accepted
    // without a TTL, as Python's cryptography does; a clock error with one.
    p.write(
        ".env.enc",
        format!("{}\n", f.encrypt_at_time(plain.as_bytes(), now() + 86_400)),
    );
    p.assert_plaintext(&plain);
    let out = p.envcloak(&["decrypt", "--ttl", "60"]).run().fails(2);
    out.error_says(&["future"]).hides(CANARY);
    out.stderr_says(&["hint: this machine's clock is behind"]);
    assert!(!out.stderr.contains("damaged"), "{}", out.stderr);

    // A forged huge timestamp never panics.
    p.write(
        ".env.enc",
        format!("{}\n", f.encrypt_at_time(plain.as_bytes(), u64::MAX)),
    );
    p.envcloak(&["decrypt", "--ttl", "18446744073709551615"])
        .run();
    p.assert_plaintext(&plain);

    // A wrong key is reported as such, never as "expired".
    p.write(
        ".env.enc",
        format!("{}\n", f.encrypt_at_time(plain.as_bytes(), now() - 3600)),
    );
    p.envcloak(&["decrypt", "--ttl", "1"])
        .env("ENVCLOAK_KEY", other_key())
        .run()
        .fails(2)
        .error_says(&["authentication failed"]);
}

#[test]
fn decrypt_with_ttl_on_a_file_made_seconds_ago() {
    let p = Project::new();
    let plain = "A=1\n";
    p.encrypt_env(plain);
    let out = p.envcloak(&["decrypt", "--ttl", "3600"]).run().ok();
    assert_eq!(out.stdout(), plain);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    p.envcloak(&["decrypt", "--ttl", "1"])
        .run()
        .fails(2)
        .error_says(&["expired"]);
}

// ---------------------------------------------------------------------------
// set / unset / get
// ---------------------------------------------------------------------------

const ENTRIES: &str = "# Team configuration\n\
    FIRST=1\n\
    \n\
    # the second one\n\
    SECOND=two # inline comment\n\
    THIRD='three'\n\
    LAST=end\n";

#[test]
fn set_replaces_in_place_and_appends_keeping_comments_and_order() {
    let p = Project::new();
    p.encrypted_only(ENTRIES);

    let out = p.envcloak(&["set", "SECOND", CANARY]).run().ok();
    assert_eq!(out.stdout(), "");
    out.hides(CANARY).stderr_says(&["SECOND"]);
    p.assert_plaintext(&format!(
        "# Team configuration\nFIRST=1\n\n# the second one\nSECOND={CANARY}\nTHIRD='three'\nLAST=end\n"
    ));

    let out = p.envcloak(&["set", "NEW", "fresh value"]).run().ok();
    out.hides("fresh value");
    p.assert_plaintext(&format!(
        "# Team configuration\nFIRST=1\n\n# the second one\nSECOND={CANARY}\nTHIRD='three'\nLAST=end\nNEW='fresh value'\n"
    ));
    assert_eq!(
        p.envcloak(&["get", "NEW"]).run().ok().stdout(),
        "fresh value\n"
    );
    assert_eq!(
        p.envcloak(&["get", "SECOND"]).run().ok().stdout(),
        format!("{CANARY}\n")
    );
}

#[test]
fn set_reads_the_value_from_stdin() {
    let p = Project::new();
    p.encrypted_only(ENTRIES);

    let out = p
        .envcloak(&["set", "TOKEN"])
        .stdin(format!("{CANARY}\n"))
        .run()
        .ok();
    out.hides(CANARY);
    assert_eq!(
        p.envcloak(&["get", "TOKEN"]).run().ok().stdout(),
        format!("{CANARY}\n"),
        "one trailing newline is dropped"
    );

    // Only one newline is dropped; inner newlines and CRLF handling.
    p.envcloak(&["set", "PEM"])
        .stdin("-----BEGIN-----\nabc\n-----END-----\n\n")
        .run()
        .ok();
    let json = p.envcloak(&["decrypt", "--format", "json"]).run().ok();
    let map: BTreeMap<String, String> = serde_json::from_str(json.stdout()).unwrap();
    assert_eq!(map["PEM"], "-----BEGIN-----\nabc\n-----END-----\n");

    p.envcloak(&["set", "WIN"]).stdin("value\r\n").run().ok();
    assert_eq!(p.envcloak(&["get", "WIN"]).run().ok().stdout(), "value\n");

    // Empty stdin (a producer that failed: `op read … | envcloak set K`)
    // changes nothing; an empty value is set only when asked for.
    p.envcloak(&["set", "TOKEN"])
        .stdin("")
        .run()
        .fails(2)
        .error_says(&["standard input was empty", "TOKEN was not changed"]);
    p.envcloak(&["set", "TOKEN"]).stdin("\n").run().fails(2);
    assert_eq!(
        p.envcloak(&["get", "TOKEN"]).run().ok().stdout(),
        format!("{CANARY}\n")
    );
    p.envcloak(&["set", "BLANK", ""]).run().ok();
    assert_eq!(p.envcloak(&["get", "BLANK"]).run().ok().stdout(), "\n");
}

#[test]
fn awkward_values_round_trip_through_set_and_get() {
    let p = Project::new();
    p.encrypted_only("KEEP=1\n");
    let values: &[(&str, &str)] = &[
        ("NEWLINES", "line 1\nline 2\n\nline 4"),
        ("QUOTES", "it's \"double\" and 'single'"),
        ("HASH", "value #not a comment"),
        ("HASH_START", "#starts"),
        ("DOLLAR", "$HOME ${PATH} $$ \\$ $"),
        ("UNICODE", "héllo ✓ 日本 🦀"),
        ("BACKSLASH", "C:\\path\\n\\t"),
        ("SPACES", "  leading and trailing  "),
        ("EQUALS", "a=b=c"),
        ("TAB", "a\tb"),
        ("CR", "a\rb"),
        ("SECRET", CANARY),
    ];
    for (k, v) in values {
        p.envcloak(&["set", k, v]).run().ok().hides(CANARY);
    }
    for (k, v) in values {
        let out = p.envcloak(&["get", k]).run().ok();
        assert_eq!(out.stdout(), format!("{v}\n"), "{k}");
    }
    let json = p.envcloak(&["decrypt", "--format", "json"]).run().ok();
    let map: BTreeMap<String, String> = serde_json::from_str(json.stdout()).unwrap();
    for (k, v) in values {
        assert_eq!(map[*k], *v, "{k}");
    }
    assert_eq!(map["KEEP"], "1");
    assert_eq!(map.len(), values.len() + 1);

    // The same values through stdin.
    for (k, v) in values {
        let name = format!("STDIN_{k}");
        p.envcloak(&["set", &name]).stdin(*v).run().ok();
        let out = p.envcloak(&["get", &name]).run().ok();
        assert_eq!(out.stdout(), format!("{v}\n"), "{name}");
    }
}

#[test]
fn set_refuses_a_bad_key_name() {
    let p = Project::new();
    p.encrypted_only(ENTRIES);
    let before = p.read(".env.enc");
    for bad in ["1ABC", "A-B", "A B", ""] {
        p.envcloak(&["set", bad, CANARY])
            .run()
            .fails(2)
            .error_says(&["not a valid key"])
            .hides(CANARY);
    }
    assert_eq!(p.read(".env.enc"), before);
}

#[test]
fn unset_removes_one_entry_and_a_missing_key_exits_1() {
    let p = Project::new();
    p.encrypted_only(ENTRIES);

    let out = p.envcloak(&["unset", "SECOND"]).run().ok();
    assert_eq!(out.stdout(), "");
    out.stderr_says(&["SECOND"]);
    p.assert_plaintext(
        "# Team configuration\nFIRST=1\n\n# the second one\nTHIRD='three'\nLAST=end\n",
    );

    let before = p.read(".env.enc");
    let out = p.envcloak(&["unset", "NOT_THERE"]).run().fails(1);
    out.error_says(&["NOT_THERE", ".env.enc"]);
    assert_eq!(p.read(".env.enc"), before, "nothing rewritten");

    p.envcloak(&["get", "SECOND"])
        .run()
        .fails(1)
        .error_says(&["SECOND"]);
}

#[test]
fn unset_removes_a_multiline_value_whole_and_every_duplicate() {
    let p = Project::new();
    p.encrypted_only("A=1\nPEM=\"-----BEGIN-----\nxyz\n-----END-----\"\nB=2\nA=3\n");
    p.envcloak(&["unset", "PEM"]).run().ok();
    p.assert_plaintext("A=1\nB=2\nA=3\n");
    p.envcloak(&["unset", "A"]).run().ok();
    p.assert_plaintext("B=2\n");
    p.envcloak(&["get", "A"]).run().fails(1);
}

#[test]
fn get_prints_only_the_value_and_a_missing_key_exits_1() {
    let p = Project::new();
    p.encrypted_only(&format!("SECRET={CANARY}\nPORT=8080\n"));
    let out = p.envcloak(&["get", "SECRET"]).run().ok();
    assert_eq!(out.stdout(), format!("{CANARY}\n"));
    assert_eq!(out.stderr, "");

    let out = p.envcloak(&["get", "NOPE"]).run().fails(1);
    out.error_says(&["NOPE", "not set"]).hides(CANARY);
}

#[test]
fn ls_redacts_unless_asked() {
    let p = Project::new();
    p.encrypted_only(&format!("SECRET={CANARY}\nPORT=8080\n"));
    p.write(".env", "LOCAL=dev-value-91c\n");

    let out = p.envcloak(&["ls"]).run().ok();
    out.hides(CANARY).hides("dev-value-91c");
    for k in ["SECRET", "PORT", "LOCAL"] {
        assert!(out.stdout().contains(k), "{}", out.stdout());
    }
    assert!(out.stdout().contains(".env.enc"), "{}", out.stdout());
    assert!(out.stdout().contains(".env:1"), "{}", out.stdout());

    let json = p.envcloak(&["ls", "--format", "json"]).run().ok();
    json.hides(CANARY);
    let rows: Vec<serde_json::Value> = serde_json::from_str(json.stdout()).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.get("value").is_none()));

    let shown = p.envcloak(&["ls", "--show"]).run().ok();
    assert!(shown.stdout().contains(CANARY));
    assert!(!shown.stderr.contains(CANARY));

    // Without a key, ls still lists .env and says why .env.enc was skipped.
    std::fs::remove_file(p.p(".env.key")).unwrap();
    let out = p.envcloak(&["ls"]).run().ok();
    assert!(out.stdout().contains("LOCAL"));
    assert!(!out.stdout().contains("SECRET"));
    out.stderr_says(&[".env.enc", "no key"]);
}

// ---------------------------------------------------------------------------
// edit
// ---------------------------------------------------------------------------

/// A project with `.env.enc`, a TMPDIR inside it, and a log directory.
fn edit_project() -> (Project, PathBuf) {
    let p = Project::new();
    p.encrypted_only(&format!("# config\nSECRET={CANARY}\nDEBUG=true\n"));
    let tmp = p.mkdir("tmp");
    p.mkdir("log");
    (p, tmp)
}

#[track_caller]
fn assert_empty_dir(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}

#[test]
fn edit_re_encrypts_what_the_editor_saved_through_a_private_temp_file() {
    let (p, tmp) = edit_project();
    let log = p.p("log");
    let editor = p.script(
        "editor.sh",
        &format!(
            "set -e\nprintf %s \"$1\" > {log}/path\n\
             stat -c %a \"$1\" > {log}/file-mode\n\
             stat -c %a \"$(dirname \"$1\")\" > {log}/dir-mode\n\
             sed -i 's/^DEBUG=true$/DEBUG=false/' \"$1\"\n\
             printf 'ADDED=yes\\n' >> \"$1\"",
            log = log.display()
        ),
    );
    let key_before = p.read(".env.key");
    let out = p
        .envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .ok();
    assert_eq!(out.stdout(), "");
    out.hides(CANARY).stderr_says(&[".env.enc"]);

    p.assert_plaintext(&format!(
        "# config\nSECRET={CANARY}\nDEBUG=false\nADDED=yes\n"
    ));
    assert_eq!(p.read(".env.key"), key_before);
    assert!(!p.read_string(".env.enc").contains(CANARY));

    let path = p.read_string("log/path");
    assert!(
        Path::new(&path).starts_with(&tmp),
        "the temp file {path} is not under TMPDIR"
    );
    assert!(path.contains("envcloak-edit-"), "{path}");
    assert_eq!(p.read_string("log/file-mode").trim(), "600");
    assert_empty_dir(&tmp);
    assert!(!p.exists(".env"), "no plaintext left in the project");
    // The directory holding the plaintext is private too (as sops and
    // `git commit -e` do it): others may not even list it.
    assert_eq!(
        p.read_string("log/dir-mode").trim(),
        "700",
        "the envcloak-edit-* directory must be mode 0700"
    );
}

#[test]
fn edit_with_invalid_syntax_saves_nothing() {
    let (p, tmp) = edit_project();
    let editor = p.script(
        "editor.sh",
        &format!("printf '1BAD=%s\\n' '{CANARY}-typed' >> \"$1\""),
    );
    let before = p.read(".env.enc");
    let out = p
        .envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .fails(2);
    // The syntax problem (file and line) is reported, then "not saved".
    out.stderr_says(&[".env.enc:4", "not saved"]).hides(CANARY);
    assert_eq!(p.read(".env.enc"), before);
    assert_empty_dir(&tmp);
}

#[test]
fn edit_with_a_failing_editor_saves_nothing() {
    let (p, tmp) = edit_project();
    let editor = p.script("editor.sh", "printf 'X=1\\n' >> \"$1\"; exit 3");
    let before = p.read(".env.enc");
    let out = p
        .envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .fails(2);
    out.error_says(&["editor", ".env.enc", "unchanged"])
        .hides(CANARY);
    assert_eq!(p.read(".env.enc"), before);
    assert_empty_dir(&tmp);

    // An editor that deletes the file: an error, nothing saved.
    let rm = p.script("rm.sh", "rm -f \"$1\"");
    let out = p
        .envcloak(&["edit"])
        .env("EDITOR", rm.as_os_str())
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .fails(2);
    out.error();
    out.hides(CANARY);
    assert_eq!(p.read(".env.enc"), before);
    assert_empty_dir(&tmp);

    // An editor that does not exist: same.
    let out = p
        .envcloak(&["edit"])
        .env("EDITOR", p.p("no-such-editor").as_os_str())
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .fails(2);
    out.hides(CANARY);
    assert_eq!(p.read(".env.enc"), before);
    assert_empty_dir(&tmp);
}

#[test]
fn edit_without_changes_keeps_the_file_and_visual_beats_editor() {
    let (p, tmp) = edit_project();
    let before = p.read(".env.enc");
    let noop = p.script("noop.sh", "true");
    let failing = p.script("fail.sh", "exit 1");
    let out = p
        .envcloak(&["edit"])
        .env("VISUAL", noop.as_os_str())
        .env("EDITOR", failing.as_os_str())
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .ok();
    out.stderr_says(&["no changes"]);
    assert_eq!(p.read(".env.enc"), before, "not re-encrypted");
    assert_empty_dir(&tmp);

    // EDITOR with arguments, as people set it (`code --wait`).
    let out = p
        .envcloak(&["edit"])
        .env("EDITOR", "sed -i s/^DEBUG=true$/DEBUG=off/")
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .ok();
    out.hides(CANARY);
    p.assert_plaintext(&format!("# config\nSECRET={CANARY}\nDEBUG=off\n"));
    assert_empty_dir(&tmp);
}

// ---------------------------------------------------------------------------
// rotate
// ---------------------------------------------------------------------------

#[test]
fn rotate_write_keeps_the_old_key_until_drop_old() {
    let p = Project::new();
    let plain = format!("SECRET={CANARY}\n");
    let old_key = p.encrypted_only(&plain);
    std::fs::copy(p.p(".env.enc"), p.p("old.enc")).unwrap();

    let out = p.envcloak(&["rotate", "--write"]).run().ok();
    assert_eq!(out.stdout(), "", "--write prints no key");
    out.hides(CANARY).hides(&old_key);

    let ring = p.key();
    let keys: Vec<&str> = ring.split(',').collect();
    assert_eq!(keys.len(), 2, "{ring:?}");
    assert_fernet_key(keys[0]);
    assert_ne!(keys[0], old_key);
    assert_eq!(keys[1], old_key, "new key first, old key second");
    assert_eq!(p.mode(".env.key"), 0o600);
    out.hides(keys[0]);

    assert_ne!(p.read(".env.enc"), p.read("old.enc"));
    p.assert_plaintext(&plain);
    // The new file is sealed with the new key.
    let new_only = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", keys[0])
        .run()
        .ok();
    assert_eq!(new_only.stdout(), plain);
    p.envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &old_key)
        .run()
        .fails(2)
        .error_says(&["authentication failed"]);
    // An old copy (another branch, a backup) still opens with the keyring.
    let old_copy = p.envcloak(&["decrypt", "-f", "old.enc"]).run().ok();
    assert_eq!(old_copy.stdout(), plain);

    let new_key = keys[0].to_owned();
    p.envcloak(&["rotate", "--drop-old", "--write"]).run().ok();
    assert_eq!(p.key(), new_key);
    assert_eq!(p.mode(".env.key"), 0o600);
    p.assert_plaintext(&plain);
    p.envcloak(&["decrypt", "-f", "old.enc"])
        .run()
        .fails(2)
        .error_says(&["old.enc", "authentication failed"]);
}

#[test]
fn rotate_without_write_prints_the_new_keyring_once() {
    let p = Project::new();
    let plain = format!("SECRET={CANARY}\n");
    let old_key = p.encrypted_only(&plain);
    // The key comes from a CI secret (ENVCLOAK_KEY), not from a file.
    std::fs::remove_file(p.p(".env.key")).unwrap();

    let out = p
        .envcloak(&["rotate"])
        .env("ENVCLOAK_KEY", &old_key)
        .run()
        .ok();
    out.hides(CANARY);
    let ring = out.stdout().strip_suffix('\n').expect("one line");
    assert!(!ring.contains('\n'));
    let keys: Vec<&str> = ring.split(',').collect();
    assert_eq!(keys.len(), 2, "{ring:?}");
    assert_fernet_key(keys[0]);
    assert_eq!(keys[1], old_key);
    assert!(
        !out.stderr.contains(keys[0]),
        "the key is shown on stdout only"
    );
    out.stderr_says(&["shown once", "ENVCLOAK_KEY"]);

    let dec = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", ring)
        .run()
        .ok();
    assert_eq!(dec.stdout(), plain);
    let dec = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", keys[0])
        .run()
        .ok();
    assert_eq!(dec.stdout(), plain);
}

#[test]
fn rotate_without_write_refuses_when_the_key_is_stored_in_a_file() {
    // Printing a new keyring and re-encrypting would leave .env.key unable
    // to open the file: refuse, and change nothing.
    let p = Project::new();
    let plain = format!("SECRET={CANARY}\n");
    let old_key = p.encrypted_only(&plain);
    let before = p.read(".env.enc");
    let out = p.envcloak(&["rotate"]).run().fails(2);
    out.hides(CANARY)
        .error_says(&[".env.key", "would no longer open"])
        .stderr_says(&["rotate --write"]);
    assert_eq!(p.key(), old_key);
    assert_eq!(p.read(".env.enc"), before);
    p.assert_plaintext(&plain);
}

// ---------------------------------------------------------------------------
// Password mode
// ---------------------------------------------------------------------------

#[test]
fn password_mode_round_trip_and_errors() {
    let p = Project::new();
    let password = "CANARY_pw_51d";
    let plain = format!("SECRET={CANARY}\n");
    p.write(".env", &plain);

    let out = p
        .envcloak(&["encrypt", "--password", "--iterations", "600000"])
        .env("ENVCLOAK_PASSWORD", password)
        .run()
        .ok();
    out.hides(password).hides(CANARY);
    assert!(!p.exists(".env.key"), "password mode makes no key file");
    let file = p.read_string(".env.enc");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 2, "{file:?}");
    assert!(
        lines[0].starts_with("envcloak:pbkdf2-sha256:600000:"),
        "{file:?}"
    );
    assert!(lines[1].starts_with("gAAAAA"), "{file:?}");
    assert!(file.ends_with('\n'));
    std::fs::remove_file(p.p(".env")).unwrap();

    let dec = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_PASSWORD", password)
        .run()
        .ok();
    assert_eq!(dec.stdout(), plain);
    dec.hides(password);

    let wrong = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_PASSWORD", "not-the-password")
        .run()
        .fails(2);
    wrong
        .error_says(&[".env.enc", "authentication failed"])
        .hides(CANARY)
        .hides("not-the-password");

    // No password and no terminal to ask on.
    let none = p.envcloak(&["decrypt"]).run().fails(2);
    none.stderr_says(&["ENVCLOAK_PASSWORD"]).error();

    // A key is no substitute for the password.
    let keyed = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", other_key())
        .run()
        .fails(2);
    keyed.stderr_says(&["ENVCLOAK_PASSWORD"]);
}

#[test]
fn password_mode_refuses_too_few_iterations() {
    let p = Project::new();
    p.write(".env", "A=1\n");
    let out = p
        .envcloak(&["encrypt", "--password", "--iterations", "1000"])
        .env("ENVCLOAK_PASSWORD", "pw")
        .run()
        .fails(2);
    out.error_says(&["600000"]);
    assert!(!p.exists(".env.enc"));
    let out = p.envcloak(&["encrypt", "--password"]).run().fails(2);
    out.stderr_says(&["ENVCLOAK_PASSWORD"]);
    assert!(!p.exists(".env.enc"));
}

// ---------------------------------------------------------------------------
// run
// ---------------------------------------------------------------------------

#[test]
fn run_layers_environment_over_dotenv_over_encrypted_and_writes_nothing() {
    let p = Project::new();
    p.write(
        "enc-source",
        format!("SECRET={CANARY}\nLAYER_A=from-enc\nLAYER_B=from-enc\nLAYER_C=from-enc\n"),
    );
    p.envcloak(&["encrypt", "enc-source"]).run().ok();
    std::fs::remove_file(p.p("enc-source")).unwrap();
    p.write(
        ".env",
        "FROM_DOTENV=dotenv only\nLAYER_A=from-dotenv\nLAYER_B=from-dotenv\n",
    );
    let tmp = p.mkdir("tmp");
    let before = p.listing();
    let env_enc = p.read(".env.enc");

    let script = "printf '%s|%s|%s|%s|%s' \"$SECRET\" \"$FROM_DOTENV\" \"$LAYER_A\" \"$LAYER_B\" \"$LAYER_C\"";
    let out = p
        .envcloak(&["run", "--", "sh", "-c", script])
        .env("LAYER_B", "from-env")
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .ok();
    assert_eq!(
        out.stdout(),
        format!("{CANARY}|dotenv only|from-dotenv|from-env|from-enc")
    );
    assert!(!out.stderr.contains(CANARY), "{}", out.stderr);

    // An empty variable in the environment counts as set.
    let out = p
        .envcloak(&["run", "--", "sh", "-c", "printf '[%s]' \"$LAYER_A\""])
        .env("LAYER_A", "")
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .ok();
    assert_eq!(out.stdout(), "[]");

    // Arguments reach the command untouched, hyphens included.
    let out = p
        .envcloak(&[
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s,' \"$@\"",
            "sh",
            "--flag",
            "-x",
            "a b",
        ])
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .ok();
    assert_eq!(out.stdout(), "--flag,-x,a b,");

    // Exit codes pass through.
    for code in [0, 1, 7, 42, 255] {
        p.envcloak(&["run", "--", "sh", "-c", &format!("exit {code}")])
            .env("TMPDIR", tmp.as_os_str())
            .run()
            .code(code)
            .hides(CANARY);
    }
    let missing = p
        .envcloak(&["run", "--", "envcloak-no-such-command-e4"])
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .fails(127);
    missing
        .error_says(&["envcloak-no-such-command-e4", "not found"])
        .hides(CANARY);
    p.write_mode("not-executable", "#!/bin/sh\n", 0o644);
    p.envcloak(&["run", "--", "./not-executable"])
        .env("TMPDIR", tmp.as_os_str())
        .run()
        .fails(126);
    std::fs::remove_file(p.p("not-executable")).unwrap();

    assert_eq!(p.listing(), before, "run created or removed files");
    assert_eq!(p.read(".env.enc"), env_enc);
}

#[test]
fn run_without_a_key_warns_and_still_runs_with_dotenv() {
    let p = Project::new();
    p.encrypted_only(&format!("SECRET={CANARY}\n"));
    std::fs::remove_file(p.p(".env.key")).unwrap();
    p.write(".env", "LOCAL=1\n");
    let out = p
        .envcloak(&[
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s/%s' \"$LOCAL\" \"${SECRET-unset}\"",
        ])
        .run()
        .ok();
    assert_eq!(out.stdout(), "1/unset");
    out.stderr_says(&[".env.enc", "no key"]);
}

#[test]
fn run_gives_the_child_the_values_but_not_the_key() {
    let p = Project::new();
    let key = p.encrypted_only(&format!("SECRET={CANARY}\n"));
    std::fs::remove_file(p.p(".env.key")).unwrap();
    let show =
        "printf '%s/%s/%s' \"$SECRET\" \"${ENVCLOAK_KEY-none}\" \"${ENVCLOAK_PASSWORD-none}\"";
    let out = p
        .envcloak(&["run", "--", "sh", "-c", show])
        .env("ENVCLOAK_KEY", &key)
        .env("ENVCLOAK_PASSWORD", "pw")
        .run()
        .ok();
    assert_eq!(out.stdout(), format!("{CANARY}/none/none"));
    // --pass-key keeps them, for a child that runs envcloak itself.
    let out = p
        .envcloak(&["run", "--pass-key", "--", "sh", "-c", show])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert_eq!(out.stdout(), format!("{CANARY}/{key}/none"));
}

#[test]
fn run_requires_a_command() {
    let p = Project::new();
    p.envcloak(&["run"]).run().fails(2);
}

// ---------------------------------------------------------------------------
// Guard rails
// ---------------------------------------------------------------------------

#[test]
fn encrypt_never_replaces_an_encrypted_file_that_no_key_opens() {
    // A newcomer clones the repository (with the team's .env.enc, without
    // the key), writes a .env and runs `encrypt`: the team's file must not
    // be silently replaced by one under a brand-new key.
    let p = Project::new();
    p.encrypted_only(&format!("SECRET={CANARY}\n"));
    std::fs::remove_file(p.p(".env.key")).unwrap();
    let team_file = p.read(".env.enc");
    p.write(".env", "MINE=1\n");

    let out = p.envcloak(&["encrypt"]).run().fails(2);
    out.error_says(&[".env.enc"]).hides(CANARY);
    assert_eq!(p.read(".env.enc"), team_file, ".env.enc was replaced");
    assert!(
        !p.exists(".env.key"),
        "a new key was made for an existing file"
    );
}

#[test]
fn decrypt_format_shell_is_valid_sh_even_with_dotted_keys() {
    // Keys may contain '.', which is no shell variable name: `export A.B=..`
    // makes POSIX sh abort the whole eval. Either such keys are left out
    // (and named on stderr), or the command refuses clearly.
    let p = Project::new();
    p.encrypt_env("APP.NAME=x\nOTHER=y\n");
    let out = p.envcloak(&["decrypt", "--format", "shell"]).run();
    if out.code == 0 {
        for line in out.stdout().lines() {
            let name = line
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .map(|(n, _)| n)
                .unwrap_or_else(|| panic!("not an export line: {line:?}"));
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !name.starts_with(|c: char| c.is_ascii_digit()),
                "`{line}` is not valid sh"
            );
        }
        let eval = p
            .sh("eval \"$(\"$EC\" decrypt --format shell)\" && printf %s \"$OTHER\"")
            .run()
            .ok();
        assert_eq!(eval.stdout(), "y");
    } else {
        out.fails(2).error_says(&["APP.NAME"]);
    }
}

#[test]
fn decrypted_text_that_is_not_dotenv_is_named_by_line_without_values() {
    let p = Project::new();
    let key = other_key();
    p.write_mode(".env.key", format!("{key}\n"), 0o600);
    let f = fernet::Fernet::new(&key).unwrap();

    p.write(
        ".env.enc",
        f.encrypt(format!("A=1\nB=2\n1BAD={CANARY}\n").as_bytes()),
    );
    // The dotenv form is shown as it is (so the file can be repaired), with
    // a warning naming the line; formats that need parsing refuse.
    let out = p.envcloak(&["decrypt"]).run().ok();
    assert!(out.stdout().contains(CANARY));
    assert!(
        out.stderr.contains(".env.enc:3") && !out.stderr.contains(CANARY),
        "{}",
        out.stderr
    );
    let out = p.envcloak(&["decrypt", "--format", "json"]).run().fails(2);
    out.error_says(&[".env.enc:3"]).hides(CANARY);

    // Not UTF-8: said so, with a real line number (not `:0:`).
    p.write(".env.enc", f.encrypt(b"A=1\nB=\xff\xfe\n"));
    let out = p.envcloak(&["decrypt"]).run().fails(2);
    let line = out.error();
    assert!(line.contains("UTF-8"), "{line}");
    assert!(
        !line.contains(".env.enc:0:"),
        "line 0 does not exist: {line}"
    );
}

#[test]
fn set_on_a_missing_file_says_how_to_create_it() {
    let p = Project::new();
    p.write_mode(".env.key", format!("{}\n", other_key()), 0o600);
    let out = p.envcloak(&["set", "A", "1"]).run().fails(2);
    out.error_says(&[".env.enc"])
        .stderr_says(&["hint: ", "envcloak encrypt"]);
    assert!(!p.exists(".env.enc"));
}

#[test]
fn a_keyring_with_one_bad_key_names_its_position() {
    let p = Project::new();
    let key = p.encrypted_only("A=1\n");
    let ring = format!("{key},{}", URL_SAFE.encode([1u8; 20]));
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &ring)
        .run()
        .fails(2);
    out.error_says(&["ENVCLOAK_KEY", "key 2"]).hides(&key);
    // A keyring whose second key opens the file works.
    let ring = format!("{},{key}", other_key());
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &ring)
        .run()
        .ok();
    assert_eq!(out.stdout(), "A=1\n");
}

// ---------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------

#[test]
fn every_command_has_help_with_examples() {
    let p = Project::new();
    let top = p.envcloak(&["--help"]).run().ok();
    assert!(top.stdout().contains("Example"), "{}", top.stdout());
    for sub in [
        "keygen", "token", "encrypt", "decrypt", "edit", "set", "unset", "get", "ls", "run",
        "rotate", "check", "init",
    ] {
        let out = p.envcloak(&[sub, "--help"]).run().ok();
        assert!(
            out.stdout().contains("Example"),
            "`{sub} --help` has no example:\n{}",
            out.stdout()
        );
        // The project options, on every command that uses them (token
        // takes none: tests/completions.rs).
        if sub != "token" {
            assert!(out.stdout().contains("--key-file"), "{sub}");
        }
        let help = p.envcloak(&["help", sub]).run().ok();
        assert_eq!(help.stdout(), out.stdout(), "{sub}");
    }
    p.envcloak(&["--version"]).run().ok();
    p.envcloak(&["no-such-command"]).run().fails(2);
}

#[test]
fn edit_interrupted_by_a_signal_wipes_the_temp_file_and_saves_nothing() {
    let (p, tmp) = edit_project();
    // The editor's parent is `sh -c`, whose parent is envcloak: signal it,
    // as a Ctrl-C or a closed terminal would, while the editor still runs.
    for sig in ["INT", "TERM", "HUP"] {
        let editor = p.script(
            "signal.sh",
            &format!(
                "printf 'X=1\\n' >> \"$1\"; gp=$(awk '{{print $4}}' /proc/$PPID/stat); kill -{sig} \"$gp\"; sleep 0.3"
            ),
        );
        let before = p.read(".env.enc");
        let out = p
            .envcloak(&["edit"])
            .env("EDITOR", editor.as_os_str())
            .env("TMPDIR", tmp.as_os_str())
            .run()
            .fails(130);
        out.error_says(&["interrupted", "unchanged"]).hides(CANARY);
        assert_eq!(p.read(".env.enc"), before, "SIG{sig}");
        assert_empty_dir(&tmp);
    }
}

#[test]
fn encrypt_ignores_the_plaintext_and_leaves_an_unchanged_file_alone() {
    let p = Project::new();
    p.git_init();
    p.write(".env", format!("SECRET={CANARY}\n"));
    p.envcloak(&["encrypt"]).run().ok();
    p.command("git", &["check-ignore", "-q", ".env"])
        .run()
        .code(0);
    let first = p.read(".env.enc");
    // Nothing changed: the committed file stays byte for byte (no git noise).
    let out = p.envcloak(&["encrypt"]).run().ok();
    out.stderr_says(&["up to date"]).hides(CANARY);
    assert_eq!(p.read(".env.enc"), first);
    // A change re-encrypts.
    p.write(".env", format!("SECRET={CANARY}\nMORE=1\n"));
    p.envcloak(&["encrypt"]).run().ok();
    assert_ne!(p.read(".env.enc"), first);
}

#[test]
fn rotate_write_refuses_when_the_key_comes_from_the_environment() {
    let p = Project::new();
    let key = p.encrypted_only(&format!("SECRET={CANARY}\n"));
    std::fs::remove_file(p.p(".env.key")).unwrap();
    let before = p.read(".env.enc");
    let out = p
        .envcloak(&["rotate", "--write"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .fails(2);
    out.error_says(&["ENVCLOAK_KEY", "precedence"])
        .stderr_says(&["without --write"])
        .hides(CANARY);
    assert_eq!(p.read(".env.enc"), before);
    assert!(!p.exists(".env.key"));
}

#[test]
fn key_equals_value_arguments_are_refused_without_echoing_the_value() {
    let p = Project::new();
    p.encrypted_only("A=1\n");
    for args in [
        &["set", "DB_PASSWORD=CANARY_7f3a9"][..],
        &["unset", "DB_PASSWORD=CANARY_7f3a9"],
        &["get", "DB_PASSWORD=CANARY_7f3a9"],
    ] {
        let out = p.envcloak(args).run().fails(2);
        out.error_says(&["separate arguments"]).hides(CANARY);
    }
    p.assert_plaintext("A=1\n");
}

#[test]
fn encrypt_password_never_replaces_a_key_mode_file() {
    let p = Project::new();
    p.encrypted_only(&format!("SECRET={CANARY}\n"));
    let before = p.read(".env.enc");
    p.write(".env", "MINE=1\n");
    let out = p
        .envcloak(&["encrypt", "--password", "--iterations", "600000"])
        .env("ENVCLOAK_PASSWORD", "pw-pw-pw")
        .run()
        .fails(2);
    out.error_says(&["encrypted with a key"]).hides(CANARY);
    assert_eq!(p.read(".env.enc"), before);
}
