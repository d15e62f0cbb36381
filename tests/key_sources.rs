//! Where keys come from, and the token formats they open (issue 11, §5 and
//! §6): the key command's timeout and its background processes, one run per
//! process, key files with one key per line, comments, a byte order mark and
//! CRLF, the owner of a key file, the profile variable of a profile with
//! `-`, variables that are not UTF-8, wrapped tokens (with Python's
//! `cryptography` when `$ENVCLOAK_TEST_PYTHON` or `python3` has it), a salt
//! in the standard base64 alphabet, and the wrong-password message.
//!
//! Every test works in its own temporary directory and passes its
//! environment through `Search::env` or the builder; nothing calls
//! `set_var`. Key commands are made unique per test (they name the test's
//! directory), since a command runs once per process.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use envcloak::crypto::{self, DecryptError, Key, Keyring};
use envcloak::keys::{self, Found, Search};
use envcloak::{Config, Error, SecretString};

fn fixture(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "keys",
        name,
    ]
    .iter()
    .collect()
}

/// An environment made of `vars` only.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn find_with(dir: &Path, vars: &[(&str, &str)]) -> envcloak::Result<Option<Found>> {
    let env = env_of(vars);
    let encrypted = dir.join(".env.enc");
    keys::find(&Search {
        env: &env,
        profile: None,
        encrypted: &encrypted,
    })
}

#[cfg(unix)]
fn write_private(path: &Path, contents: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Says loudly that a test did not run (the harness captures `eprintln!`
/// of passing tests).
fn skip_note(what: &str) {
    let _ = writeln!(std::io::stderr().lock(), "\n=== SKIPPING {what} ===\n");
}

fn key_error(result: envcloak::Result<Option<Found>>) -> (String, String) {
    match result {
        Err(Error::Key { origin, reason }) => (origin.into(), reason.into()),
        other => panic!("expected Error::Key, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// ENVCLOAK_KEY_CMD
// ---------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn key_cmd_is_stopped_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!("sleep 5 2>/dev/null # {}", dir.path().display());
    let (origin, reason) = key_error(find_with(
        dir.path(),
        &[
            ("ENVCLOAK_KEY_CMD", &cmd),
            ("ENVCLOAK_KEY_CMD_TIMEOUT", "1"),
        ],
    ));
    assert_eq!(origin, "ENVCLOAK_KEY_CMD");
    assert!(
        reason.starts_with(
            "the command did not finish within 1 s and was stopped; set ENVCLOAK_KEY_CMD_TIMEOUT"
        ),
        "{reason}"
    );
    assert!(reason.contains("default 30"), "{reason}");
}

#[test]
fn key_cmd_timeout_must_be_a_number_of_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!("echo never run # {}", dir.path().display());
    for bad in ["thirty", "-17", "0", "9e9", "30 sec", "inf"] {
        let result = find_with(
            dir.path(),
            &[
                ("ENVCLOAK_KEY_CMD", &cmd),
                ("ENVCLOAK_KEY_CMD_TIMEOUT", bad),
            ],
        );
        let msg = format!("{:?}", result.as_ref().map(|_| ()));
        let (origin, reason) = key_error(result);
        assert_eq!(origin, "ENVCLOAK_KEY_CMD_TIMEOUT");
        assert!(reason.starts_with("not a number of seconds"), "{reason}");
        if bad.len() > 2 {
            assert!(!reason.contains(bad) && !msg.contains(bad), "{msg}");
        }
    }
}

/// The command exits at once but leaves a background process holding its
/// standard output for 20 s. The key is returned while that process still
/// runs (it has not yet touched its marker file); before the fix the
/// look-up waited for it. (Its standard error goes to /dev/null, so that it
/// does not hold the test harness's pipe too.)
#[cfg(unix)]
#[test]
fn key_cmd_does_not_wait_for_background_processes() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let k = key.to_base64();
    let d = dir.path().display();
    for (i, cmd) in [
        format!(
            "echo {}; (sleep 20; touch {d}/done0) 2>/dev/null &",
            k.as_str()
        ),
        format!(
            "((sleep 20; touch {d}/done1) 2>/dev/null &); echo {}",
            k.as_str()
        ),
        format!(
            "printf %s {}; sleep 20 >/dev/null 2>&1 & (sleep 20; touch {d}/done2) 2>/dev/null &",
            k.as_str()
        ),
    ]
    .iter()
    .enumerate()
    {
        let found = find_with(dir.path(), &[("ENVCLOAK_KEY_CMD", cmd)])
            .unwrap()
            .expect("a key");
        assert_eq!(found.keyring.first(), &key, "command {i}");
        assert_eq!(found.keyring.len(), 1);
        assert_eq!(found.origin, "ENVCLOAK_KEY_CMD");
        assert!(
            !dir.path().join(format!("done{i}")).exists(),
            "command {i}: the look-up waited for the background process"
        );
    }
}

#[cfg(unix)]
#[test]
fn key_cmd_runs_once_per_process() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let count = dir.path().join("count");
    let cmd = format!(
        "echo run >> {}; echo {}",
        count.display(),
        key.to_base64().as_str()
    );
    let profile_enc = dir.path().join(".env.staging.enc");
    let env = env_of(&[("ENVCLOAK_KEY_CMD", &cmd)]);
    // Two look-ups, as `check` makes, another file, and four threads at once.
    for _ in 0..2 {
        let found = find_with(dir.path(), &[("ENVCLOAK_KEY_CMD", &cmd)])
            .unwrap()
            .unwrap();
        assert_eq!(found.keyring.first(), &key);
    }
    let found = keys::require(&Search {
        env: &env,
        profile: Some("staging"),
        encrypted: &profile_enc,
    })
    .unwrap();
    assert_eq!(found.keyring.first(), &key);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let found = find_with(dir.path(), &[("ENVCLOAK_KEY_CMD", &cmd)]).unwrap();
                assert_eq!(found.unwrap().keyring.first(), &key);
            });
        }
    });
    assert_eq!(std::fs::read_to_string(&count).unwrap(), "run\n");

    // A failure is remembered too: the command is not run again.
    let failing_count = dir.path().join("failing");
    let failing = format!("echo run >> {}; exit 3", failing_count.display());
    for _ in 0..3 {
        let (origin, reason) = key_error(find_with(dir.path(), &[("ENVCLOAK_KEY_CMD", &failing)]));
        assert_eq!(origin, "ENVCLOAK_KEY_CMD");
        assert!(reason.contains("the command failed"), "{reason}");
    }
    assert_eq!(std::fs::read_to_string(&failing_count).unwrap(), "run\n");
}

// ---------------------------------------------------------------------------
// Key files and variables
// ---------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn key_files_hold_one_key_per_line_comments_bom_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture: BOM, CRLF, comment lines, a blank line, an inline comment.
    let text = std::fs::read(fixture("keyring.key")).unwrap();
    assert!(text.starts_with(b"\xef\xbb\xbf#") && text.windows(2).any(|w| w == b"\r\n"));
    let dot_key = dir.path().join(".env.key");
    write_private(&dot_key, &text);
    let found = find_with(dir.path(), &[]).unwrap().unwrap();
    assert_eq!(found.keyring.len(), 2);
    assert_eq!(found.origin, dot_key.display().to_string());
    // The token in wrapped.env.enc was made with the second key.
    let wrapped = std::fs::read(fixture("wrapped.env.enc")).unwrap();
    assert_eq!(
        &crypto::decrypt(&found.keyring, &wrapped, None).unwrap()[..],
        b"FROM_PYTHON=wrapped token\nSECOND=2\n"
    );

    // The same keys by ENVCLOAK_KEY_FILE, and in ENVCLOAK_KEY one per line.
    let named = dir.path().join("team.key");
    write_private(&named, &text);
    let by_file = find_with(
        dir.path(),
        &[("ENVCLOAK_KEY_FILE", &named.display().to_string())],
    )
    .unwrap()
    .unwrap();
    assert_eq!(by_file.keyring, found.keyring);
    let joined = found.keyring.to_base64();
    let per_line = joined.replace(',', "\n");
    let by_var = find_with(dir.path(), &[("ENVCLOAK_KEY", &per_line)])
        .unwrap()
        .unwrap();
    assert_eq!(by_var.keyring, found.keyring);
    let by_var = find_with(dir.path(), &[("ENVCLOAK_KEY", &joined)])
        .unwrap()
        .unwrap();
    assert_eq!(by_var.keyring, found.keyring);

    // A bad line: the position, never the text.
    let a = Key::generate().to_base64();
    let bad = format!("# keys\r\n{}\r\n{}\r\n", a.as_str(), &a[..30]);
    write_private(&dot_key, &bad);
    let (origin, reason) = key_error(find_with(dir.path(), &[]));
    assert_eq!(origin, dot_key.display().to_string());
    assert!(reason.starts_with("key 2 of the keyring"), "{reason}");
    assert!(!reason.contains(&a[..8]), "{reason}");
    // Comments only: empty. UTF-16: said so.
    write_private(&dot_key, "\u{feff}# no key yet\r\n\r\n");
    let (_, reason) = key_error(find_with(dir.path(), &[]));
    assert!(reason.starts_with("the key is empty"), "{reason}");
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(a.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    write_private(&dot_key, utf16);
    let (_, reason) = key_error(find_with(dir.path(), &[]));
    assert!(reason.contains("UTF-16"), "{reason}");
}

/// OpenSSH refuses a key file that another user owns (they could replace
/// the key); so does envcloak. Root's files and one's own are accepted.
#[cfg(unix)]
#[test]
fn key_files_owned_by_another_user_are_refused() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let path = dir.path().join("shared.key");
    write_private(&path, format!("{}\n", key.to_base64().as_str()));
    let me = std::fs::metadata(&path).unwrap().uid();
    // One's own file.
    assert_eq!(keys::read_key_file(&path).unwrap().first(), &key);
    // A root-owned file (only root can give a file away).
    match std::os::unix::fs::chown(&path, Some(0), None) {
        Ok(()) => assert_eq!(keys::read_key_file(&path).unwrap().first(), &key),
        Err(e) => skip_note(&format!(
            "the root-owned key file case: chown to root failed ({e})"
        )),
    }
    // Another user's file.
    if let Err(e) = std::os::unix::fs::chown(&path, Some(12345), None) {
        skip_note(&format!(
            "key_files_owned_by_another_user_are_refused: cannot chown a file to uid 12345 \
             ({e}); run the tests as root to cover it"
        ));
        return;
    }
    let err = keys::read_key_file(&path).unwrap_err();
    let Error::Key { origin, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(&**origin, path.display().to_string());
    assert!(
        reason.contains("owned by another user (uid 12345)"),
        "{reason}"
    );
    assert!(reason.contains(&format!("(uid {me})")), "{reason}");
    assert!(
        reason.contains(&format!("chown {me} {}", path.display())),
        "{reason}"
    );
    assert!(!format!("{err} {err:?}").contains(&key.to_base64()[..10]));
    // The same through ENVCLOAK_KEY_FILE and as .env.key.
    let (origin, _) = key_error(find_with(
        dir.path(),
        &[("ENVCLOAK_KEY_FILE", &path.display().to_string())],
    ));
    assert_eq!(origin, path.display().to_string());
    std::fs::rename(&path, dir.path().join(".env.key")).unwrap();
    let (_, reason) = key_error(find_with(dir.path(), &[]));
    assert!(reason.contains("uid 12345"), "{reason}");
    // Loose permissions are still refused for one's own file.
    let loose = dir.path().join("loose.key");
    write_private(&loose, key.to_base64().as_str());
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let err = keys::read_key_file(&loose).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn profile_key_variable_uses_underscores() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let k = key.to_base64();
    let encrypted = dir.path().join(".env.my-app.enc");
    let env = env_of(&[
        ("ENVCLOAK_KEY_MY_APP", k.as_str()),
        ("ENVCLOAK_KEY", "not even a key"),
    ]);
    let search = Search {
        env: &env,
        profile: Some("my-app"),
        encrypted: &encrypted,
    };
    let found = keys::require(&search).unwrap();
    assert_eq!(found.origin, "ENVCLOAK_KEY_MY_APP");
    assert_eq!(found.keyring.first(), &key);
    assert_eq!(keys::places(&search)[0], "ENVCLOAK_KEY_MY_APP");
    assert_eq!(keys::key_vars(&search)[0], "ENVCLOAK_KEY_MY_APP");
    // The dashed name, which no shell can export, is not read.
    let env = env_of(&[("ENVCLOAK_KEY_MY-APP", k.as_str())]);
    let search = Search {
        env: &env,
        profile: Some("my-app"),
        encrypted: &encrypted,
    };
    assert!(keys::find(&search).unwrap().is_none());
    assert!(
        !keys::places(&search)
            .iter()
            .any(|p| p.contains('-') && p.starts_with("ENVCLOAK"))
    );

    // Through the loader.
    std::fs::write(
        &encrypted,
        crypto::encrypt(&Keyring::from(key), b"WHO=my-app\n"),
    )
    .unwrap();
    let cfg = Config::builder()
        .dir(dir.path())
        .profile("my-app")
        .environment([("ENVCLOAK_KEY_MY_APP", k.as_str())])
        .build()
        .unwrap();
    assert_eq!(cfg.get::<String>("WHO").unwrap(), "my-app");
}

/// A key variable holding bytes that are not UTF-8 is an error naming the
/// variable, not "unset" (which would fall through to a lower source).
/// Checked in a child copy of this test binary, whose real environment has
/// such variables: the test itself never calls `set_var`.
#[cfg(unix)]
#[test]
fn key_variables_that_are_not_utf8_are_errors() {
    use std::os::unix::ffi::OsStrExt as _;
    const CHILD: &str = "ENVCLOAK_TEST_KEY_SOURCES_CHILD";
    let encrypted = Path::new(".env.my-app.enc");
    let env = |_: &str| None;
    let search = Search {
        env: &env,
        profile: Some("my-app"),
        encrypted,
    };
    if let Some(name) = std::env::var_os(CHILD) {
        let name = name.into_string().unwrap();
        let err = keys::check_process_env_utf8(&search).unwrap_err();
        let Error::Key { origin, reason } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(&**origin, name);
        assert!(reason.starts_with("not valid UTF-8"), "{reason}");
        assert!(!format!("{err} {err:?}").contains("canary"), "{err:?}");
        let err = keys::process_env_var(&name).unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
        assert_eq!(
            keys::process_env_var(CHILD).unwrap().as_deref(),
            Some(&*name)
        );
        return;
    }
    for name in [
        "ENVCLOAK_KEY",
        "ENVCLOAK_KEY_MY_APP",
        "ENVCLOAK_KEY_FILE",
        "ENVCLOAK_KEY_CMD",
    ] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "key_variables_that_are_not_utf8_are_errors",
                "--nocapture",
            ])
            .env(CHILD, name)
            .env(name, std::ffi::OsStr::from_bytes(b"canary\xff\xfe"))
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // In this process none of them is set (or they are UTF-8).
    keys::check_process_env_utf8(&search).unwrap();
}

// ---------------------------------------------------------------------------
// Token formats
// ---------------------------------------------------------------------------

#[test]
fn wrapped_tokens_open_through_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let k = key.to_base64();
    let token = crypto::encrypt(&Keyring::from(key), b"WRAPPED=yes\nOTHER=value\n");
    let lines: Vec<&str> = token
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    for (i, contents) in [
        format!("{}\n", lines.join("\n")),
        format!("{}\r\n", lines.join("\r\n")),
        format!("  {}\n", lines.join("\n  ")),
        format!("{}\n", lines.join(" ")),
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(dir.path().join(".env.enc"), contents).unwrap();
        let cfg = Config::builder()
            .dir(dir.path())
            .environment([("ENVCLOAK_KEY", k.as_str())])
            .build()
            .unwrap_or_else(|e| panic!("variant {i}: {e}"));
        assert_eq!(cfg.get::<String>("WRAPPED").unwrap(), "yes");
    }
    // Two tokens in one file are refused as such.
    std::fs::write(dir.path().join(".env.enc"), format!("{token}\n{token}\n")).unwrap();
    let err = Config::builder()
        .dir(dir.path())
        .environment([("ENVCLOAK_KEY", k.as_str())])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Decrypt {
                kind: DecryptError::TrailingData,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn password_file_with_standard_alphabet_salt_and_wrapped_token_opens() {
    // Made by Python (tests/fixtures/keys/make.py): salt with `+/`, token
    // wrapped at 76 columns, CRLF.
    let contents = std::fs::read(fixture("password-std-salt.env.enc")).unwrap();
    let (header, _) = crypto::split_file(&contents).unwrap();
    let header = header.unwrap();
    assert_eq!(header.iterations, crypto::MIN_ITERATIONS);
    let first_line = contents.split(|&b| b == b'\n').next().unwrap();
    assert!(first_line.contains(&b'+') || first_line.contains(&b'/'));
    assert_eq!(
        &crypto::decrypt_with_password(b"correct horse battery staple", &contents, None).unwrap()[..],
        b"FROM_PYTHON=password mode\n"
    );
}

#[test]
fn wrong_password_says_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = crypto::encrypt_with_password(b"right", b"A=1\n", crypto::MIN_ITERATIONS);
    std::fs::write(dir.path().join(".env.enc"), &file).unwrap();
    let err = Config::builder()
        .dir(dir.path())
        .process_env(false)
        .password(SecretString::from("wrong"))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Decrypt {
                kind: DecryptError::WrongPassword,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("wrong password"), "{msg}");
    assert!(!msg.contains("wrong key"), "{msg}");
}

#[test]
fn too_few_iterations_is_not_called_damage() {
    let header = "envcloak:pbkdf2-sha256:1000:AAECAwQFBgcICQoLDA0ODw==";
    let token = crypto::encrypt(&Keyring::from(Key::generate()), b"A=1\n");
    let contents = format!("{header}\n{token}\n");
    assert_eq!(
        crypto::decrypt_with_password(b"pw", contents.as_bytes(), None).unwrap_err(),
        DecryptError::TooFewIterations { iterations: 1000 }
    );
    let err = crypto::split_file(contents.as_bytes()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("below the floor of 600000"), "{msg}");
}

// ---------------------------------------------------------------------------
// Python
// ---------------------------------------------------------------------------

/// The Python interpreter (`$ENVCLOAK_TEST_PYTHON`, default `python3`) if it
/// can import `cryptography`; otherwise a loud skip note, or a failure in CI.
fn python() -> Option<&'static str> {
    static PYTHON: OnceLock<Option<String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python =
                std::env::var("ENVCLOAK_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
            let ok = Command::new(&python)
                .args(["-c", "import cryptography.fernet"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return Some(python);
            }
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must provide python with cryptography (ENVCLOAK_TEST_PYTHON)"
            );
            skip_note(&format!(
                "python interop in key_sources: `{python}` cannot import cryptography"
            ));
            None
        })
        .as_deref()
}

/// Python wraps a token with `textwrap` (which also breaks after `-`), and
/// envcloak opens it; envcloak's token wrapped the same way opens in Python.
#[test]
fn python_textwrapped_tokens_open_both_ways() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let ring = Keyring::from(key.clone());
    let plaintext = b"FROM=python\nLONG=a value long enough for a token of several lines\n";
    let script = r#"
import os, sys, textwrap
from cryptography.fernet import Fernet
f = Fernet(os.environb[b'ENVCLOAK_TEST_KEY'])
mine, theirs, out = sys.argv[1:4]
token = f.encrypt(open(mine, 'rb').read()).decode()
for width in (64, 70, 76):
    with open(f"{out}.{width}", 'w') as w:
        w.write(textwrap.fill(token, width) + "\n")
sys.stdout.buffer.write(f.decrypt(open(theirs, 'rb').read()))
"#;
    let mine = dir.path().join("plain");
    let theirs = dir.path().join("theirs.enc");
    let out = dir.path().join("wrapped");
    std::fs::write(&mine, plaintext).unwrap();
    let token = crypto::encrypt(&ring, plaintext);
    let wrapped: Vec<&str> = token
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    std::fs::write(&theirs, format!("{}\r\n", wrapped.join("\r\n"))).unwrap();
    let run = Command::new(py)
        .arg("-c")
        .arg(script)
        .args([&mine, &theirs, &out])
        .env("ENVCLOAK_TEST_KEY", key.to_base64().as_str())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(run.stdout, plaintext);
    for width in [64, 70, 76] {
        let contents = std::fs::read(format!("{}.{width}", out.display())).unwrap();
        assert!(contents.iter().filter(|&&b| b == b'\n').count() > 1);
        assert_eq!(
            &crypto::decrypt(&ring, &contents, None).unwrap()[..],
            plaintext,
            "width {width}"
        );
    }
}
