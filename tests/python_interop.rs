//! Interoperability with Python's `cryptography` package: tokens, keyrings
//! (MultiFernet) and password-mode files go both ways.
//!
//! The interpreter is `$ENVCLOAK_TEST_PYTHON` (default `python3`). If it
//! cannot `import cryptography`, the tests are skipped with a loud note —
//! except in CI (`CI` set), where that is a failure: CI must provide it.
//!
//! Data goes through temporary files; keys and passwords go to the child
//! process through its own environment (never `std::env::set_var`).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use envcloak::crypto::{self, DecryptError, Key, Keyring};

/// The Python interpreter to use, or `None` (after a skip note) when it
/// cannot import `cryptography` outside CI.
fn python() -> Option<&'static str> {
    static PYTHON: OnceLock<Option<String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python =
                std::env::var("ENVCLOAK_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
            let probe = Command::new(&python)
                .args(["-c", "import cryptography.fernet"])
                .output();
            let problem = match probe {
                Ok(out) if out.status.success() => return Some(python),
                Ok(out) => format!(
                    "`{python} -c 'import cryptography'` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => format!("cannot run `{python}`: {e}"),
            };
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI must provide python with cryptography; .ci/run creates it \
                     (set ENVCLOAK_TEST_PYTHON to its interpreter). {problem}"
                );
            }
            // Straight to the stderr handle: the test harness captures
            // `eprintln!` of passing tests, and this note must be seen.
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n==================================================================\n\
                 SKIPPING python interop tests: {problem}\n\
                 Install it (`pip install cryptography`) or point ENVCLOAK_TEST_PYTHON\n\
                 at an interpreter that has it to run them.\n\
                 ==================================================================\n"
            );
            None
        })
        .as_deref()
}

/// Runs `script` with `args` and extra environment variables; panics with
/// Python's stderr if it fails.
fn run_python(python: &str, script: &str, args: &[&Path], env: &[(&str, &[u8])]) -> Output {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(script).args(args);
    for (name, value) in env {
        cmd.env(name, os_str(value));
    }
    let out = cmd.output().expect("run python");
    assert!(
        out.status.success(),
        "python failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[cfg(unix)]
fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(bytes)
}

#[cfg(not(unix))]
fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(std::str::from_utf8(bytes).expect("utf-8 test value"))
}

/// Dotenv-like text with a few awkward bytes.
const PLAINTEXT: &[u8] =
    b"SECRET_KEY=s3cr3t\nDATABASE_URL=postgres://u:p@localhost/db\nGREETING=\"h\xc3\xa9llo \xe2\x82\xac\"\r\nNUL=\x00\xff\n";

const PY_DECRYPT: &str = r#"
import os, sys
from cryptography.fernet import Fernet
data = open(sys.argv[1], 'rb').read()
sys.stdout.buffer.write(Fernet(os.environb[b'ENVCLOAK_TEST_KEY']).decrypt(data))
"#;

const PY_ENCRYPT: &str = r#"
import os, sys
from cryptography.fernet import Fernet
data = open(sys.argv[1], 'rb').read()
token = Fernet(os.environb[b'ENVCLOAK_TEST_KEY']).encrypt(data)
open(sys.argv[2], 'wb').write(token + b'\n')
"#;

#[test]
fn envcloak_token_decrypts_in_python() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env.enc");
    let key = Key::generate();
    let token = crypto::encrypt(&Keyring::from(key.clone()), PLAINTEXT);
    std::fs::write(&path, format!("{token}\n")).unwrap();
    let out = run_python(
        py,
        PY_DECRYPT,
        &[&path],
        &[("ENVCLOAK_TEST_KEY", key.to_base64().as_bytes())],
    );
    assert_eq!(out.stdout, PLAINTEXT);
}

#[test]
fn python_token_decrypts_in_envcloak() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("plain"), dir.path().join(".env.enc"));
    std::fs::write(&src, PLAINTEXT).unwrap();
    let key = Key::generate();
    run_python(
        py,
        PY_ENCRYPT,
        &[&src, &dst],
        &[("ENVCLOAK_TEST_KEY", key.to_base64().as_bytes())],
    );
    let contents = std::fs::read(&dst).unwrap();
    let ring = Keyring::from(key);
    assert_eq!(
        &crypto::decrypt(&ring, &contents, None).unwrap()[..],
        PLAINTEXT
    );
    assert_eq!(
        &crypto::decrypt(&ring, &contents, Some(Duration::from_secs(3600))).unwrap()[..],
        PLAINTEXT
    );
    assert_eq!(
        crypto::decrypt(&Keyring::from(Key::generate()), &contents, None).unwrap_err(),
        DecryptError::Authentication
    );
}

#[test]
fn python_generated_key_works_in_envcloak_and_back() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join(".env.key");
    run_python(
        py,
        "import sys\nfrom cryptography.fernet import Fernet\n\
         open(sys.argv[1], 'wb').write(Fernet.generate_key() + b'\\n')",
        &[&key_path],
        &[],
    );
    let text = std::fs::read_to_string(&key_path).unwrap();
    let key = Key::parse(&text).expect("python's key parses");
    assert_eq!(key.to_base64().as_str(), text.trim_end());
    let enc = dir.path().join(".env.enc");
    std::fs::write(&enc, crypto::encrypt(&Keyring::from(key), PLAINTEXT)).unwrap();
    let out = run_python(
        py,
        PY_DECRYPT,
        &[&enc],
        &[("ENVCLOAK_TEST_KEY", text.trim_end().as_bytes())],
    );
    assert_eq!(out.stdout, PLAINTEXT);
}

#[test]
fn future_dated_python_token_is_accepted_without_ttl() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("plain"), dir.path().join(".env.enc"));
    std::fs::write(&src, PLAINTEXT).unwrap();
    let key = Key::generate();
    // An hour ahead: a laptop whose clock runs fast, read by a CI runner.
    run_python(
        py,
        r#"
import os, sys, time
from cryptography.fernet import Fernet
f = Fernet(os.environb[b'ENVCLOAK_TEST_KEY'])
data = open(sys.argv[1], 'rb').read()
token = f.encrypt_at_time(data, int(time.time()) + 3600)
f.decrypt(token)  # Python itself accepts it without a TTL
open(sys.argv[2], 'wb').write(token + b'\n')
"#,
        &[&src, &dst],
        &[("ENVCLOAK_TEST_KEY", key.to_base64().as_bytes())],
    );
    let contents = std::fs::read(&dst).unwrap();
    let ring = Keyring::from(key);
    assert_eq!(
        &crypto::decrypt(&ring, &contents, None).unwrap()[..],
        PLAINTEXT
    );
    assert!(matches!(
        crypto::decrypt(&ring, &contents, Some(Duration::from_secs(60))).unwrap_err(),
        DecryptError::ClockSkew { .. }
    ));
}

#[test]
fn keyrings_interoperate_with_multifernet() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (new, old) = (Key::generate(), Key::generate());
    let rotated = Keyring::new(vec![new.clone(), old.clone()]).unwrap();
    let keys = rotated.to_base64();

    // envcloak encrypts with the first key; Python's MultiFernet over the
    // same comma-separated list opens it, the old key alone does not.
    let ours = dir.path().join("ours.enc");
    std::fs::write(&ours, format!("{}\n", crypto::encrypt(&rotated, PLAINTEXT))).unwrap();
    let out = run_python(
        py,
        r#"
import os, sys
from cryptography.fernet import Fernet, MultiFernet, InvalidToken
keys = os.environb[b'ENVCLOAK_TEST_KEYS'].split(b',')
data = open(sys.argv[1], 'rb').read()
mf = MultiFernet([Fernet(k) for k in keys])
plain = mf.decrypt(data)
Fernet(keys[0]).decrypt(data)
try:
    Fernet(keys[1]).decrypt(data)
    raise SystemExit('the old key alone opened a token made with the new one')
except InvalidToken:
    pass
sys.stdout.buffer.write(plain)
"#,
        &[&ours],
        &[("ENVCLOAK_TEST_KEYS", keys.as_bytes())],
    );
    assert_eq!(out.stdout, PLAINTEXT);

    // Python makes a token with the old key, and rotates another to the new
    // one; envcloak's keyring opens both, the new key alone only the
    // rotated one.
    let (src, by_old, by_rotate) = (
        dir.path().join("plain"),
        dir.path().join("old.enc"),
        dir.path().join("rotated.enc"),
    );
    std::fs::write(&src, PLAINTEXT).unwrap();
    run_python(
        py,
        r#"
import os, sys
from cryptography.fernet import Fernet, MultiFernet
new, old = os.environb[b'ENVCLOAK_TEST_KEYS'].split(b',')
data = open(sys.argv[1], 'rb').read()
by_old = Fernet(old).encrypt(data)
rotated = MultiFernet([Fernet(new), Fernet(old)]).rotate(by_old)
open(sys.argv[2], 'wb').write(by_old + b'\n')
open(sys.argv[3], 'wb').write(rotated + b'\n')
"#,
        &[&src, &by_old, &by_rotate],
        &[("ENVCLOAK_TEST_KEYS", keys.as_bytes())],
    );
    let by_old = std::fs::read(&by_old).unwrap();
    let by_rotate = std::fs::read(&by_rotate).unwrap();
    assert_eq!(
        &crypto::decrypt(&rotated, &by_old, None).unwrap()[..],
        PLAINTEXT
    );
    assert_eq!(
        &crypto::decrypt(&rotated, &by_rotate, None).unwrap()[..],
        PLAINTEXT
    );
    let only_new = Keyring::from(new);
    assert_eq!(
        &crypto::decrypt(&only_new, &by_rotate, None).unwrap()[..],
        PLAINTEXT
    );
    assert_eq!(
        crypto::decrypt(&only_new, &by_old, None).unwrap_err(),
        DecryptError::Authentication
    );
}

/// A password with non-ASCII characters, as UTF-8 bytes.
const PASSWORD: &[u8] = "correct horse ✓ battery staple".as_bytes();
/// Low enough to keep the test quick in debug builds, and the floor a file
/// may record.
const ITERATIONS: u32 = crypto::MIN_ITERATIONS;

#[test]
fn derive_key_matches_python_pbkdf2hmac() {
    let Some(py) = python() else { return };
    let cases: &[(&[u8], &[u8], u32)] = &[
        (PASSWORD, b"0123456789abcdef", 1),
        (b"", b"0123456789abcdef", 2),
        (b"pw", &[0u8; 64], 1000),
        (PASSWORD, &[0xffu8; 16], 4096),
    ];
    for &(password, salt, iterations) in cases {
        let out = run_python(
            py,
            r#"
import os, sys, base64
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
salt = base64.urlsafe_b64decode(os.environb[b'ENVCLOAK_TEST_SALT'])
n = int(os.environ['ENVCLOAK_TEST_ITERATIONS'])
kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=n)
sys.stdout.buffer.write(base64.urlsafe_b64encode(kdf.derive(os.environb[b'ENVCLOAK_TEST_PASSWORD'])))
"#,
            &[],
            &[
                ("ENVCLOAK_TEST_PASSWORD", password),
                ("ENVCLOAK_TEST_SALT", b64_url(salt).as_bytes()),
                (
                    "ENVCLOAK_TEST_ITERATIONS",
                    iterations.to_string().as_bytes(),
                ),
            ],
        );
        let ours = crypto::derive_key(password, salt, iterations).to_base64();
        assert_eq!(
            ours.as_bytes(),
            &out.stdout[..],
            "iterations {iterations}, salt {} bytes",
            salt.len()
        );
    }
}

fn b64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

#[test]
fn envcloak_password_file_decrypts_in_python() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env.enc");
    std::fs::write(
        &path,
        crypto::encrypt_with_password(PASSWORD, PLAINTEXT, ITERATIONS),
    )
    .unwrap();
    // Python follows the header it finds: KDF name, iterations, salt.
    let out = run_python(
        py,
        r#"
import os, sys, base64
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
header, token = open(sys.argv[1], 'rb').read().split(b'\n', 1)
magic, kdf, iterations, salt = header.decode('ascii').split(':')
assert (magic, kdf) == ('envcloak', 'pbkdf2-sha256'), header
assert int(iterations) == 600000, iterations
salt = base64.urlsafe_b64decode(salt)
assert len(salt) == 16, len(salt)
key = base64.urlsafe_b64encode(PBKDF2HMAC(
    algorithm=hashes.SHA256(), length=32, salt=salt, iterations=int(iterations),
).derive(os.environb[b'ENVCLOAK_TEST_PASSWORD']))
sys.stdout.buffer.write(Fernet(key).decrypt(token))
"#,
        &[&path],
        &[("ENVCLOAK_TEST_PASSWORD", PASSWORD)],
    );
    assert_eq!(out.stdout, PLAINTEXT);
}

#[test]
fn python_password_file_decrypts_in_envcloak() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("plain"), dir.path().join(".env.enc"));
    std::fs::write(&src, PLAINTEXT).unwrap();
    run_python(
        py,
        r#"
import os, sys, base64
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
salt = os.urandom(16)
n = int(os.environ['ENVCLOAK_TEST_ITERATIONS'])
key = base64.urlsafe_b64encode(PBKDF2HMAC(
    algorithm=hashes.SHA256(), length=32, salt=salt, iterations=n,
).derive(os.environb[b'ENVCLOAK_TEST_PASSWORD']))
token = Fernet(key).encrypt(open(sys.argv[1], 'rb').read())
header = 'envcloak:pbkdf2-sha256:%d:%s' % (n, base64.urlsafe_b64encode(salt).decode('ascii'))
open(sys.argv[2], 'wb').write(header.encode('ascii') + b'\n' + token + b'\n')
"#,
        &[&src, &dst],
        &[
            ("ENVCLOAK_TEST_PASSWORD", PASSWORD),
            (
                "ENVCLOAK_TEST_ITERATIONS",
                ITERATIONS.to_string().as_bytes(),
            ),
        ],
    );
    let contents = std::fs::read(&dst).unwrap();
    let (header, _) = crypto::split_file(&contents).unwrap();
    let header = header.expect("python's file has a header");
    assert_eq!(header.iterations, ITERATIONS);
    assert_eq!(header.salt.len(), 16);
    assert_eq!(
        &crypto::decrypt_with_password(PASSWORD, &contents, None).unwrap()[..],
        PLAINTEXT
    );
    // A wrong password says "password", not "key" (issue 11).
    assert_eq!(
        crypto::decrypt_with_password(b"not the password", &contents, None).unwrap_err(),
        DecryptError::WrongPassword
    );
}
