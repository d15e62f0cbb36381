//! Tamper audit of `.env.enc`: every one-byte change, every one-bit flip of
//! the decoded token and every truncation of a real encrypted file must be
//! refused — by the library with the right [`DecryptError`], and by the
//! binary's `decrypt` and `run` with exit code 2, one error line, nothing on
//! standard output and no child process started.
//!
//! The file is made by the real `envcloak encrypt` from ~200 bytes of dotenv
//! text (five entries, one of them a canary secret). Three families of
//! variants:
//!
//! - **substitution**: each byte of the file in turn replaced by a different
//!   character of the URL-safe base64 alphabet (the trailing newline and the
//!   `=` padding included);
//! - **bit flip**: the token decoded, one bit of one byte flipped, re-encoded
//!   (URL-safe, padded, trailing newline) — every bit for the library, bit
//!   `i % 8` of byte `i` for the binary;
//! - **truncation**: the file cut to every length `0..len`.
//!
//! The expected refusal of each variant comes from the token format (the
//! Fernet spec and DESIGN §3), not from envcloak's code: empty -> `Empty`;
//! not URL-safe base64 (padding optional, canonical trailing bits) ->
//! `NotBase64`; first byte not 0x80 -> `BadVersion`; shorter than 73 bytes or
//! not a whole number of AES blocks -> `Truncated`; otherwise
//! `Authentication`.
//!
//! A few variants are *the same token* written differently: cutting only the
//! trailing newline or the `=` padding (both documented as accepted), or
//! changing only the unused low bits of the last base64 character (Python
//! ignores them; envcloak requires canonical bits). For those, both
//! outcomes are correct — the original plaintext, exactly, or a
//! `NotBase64` refusal — and the test checks it is one of the two; never a
//! partial value. Their number is printed.
//!
//! Every variant goes through the library and through both binary commands
//! (about 2,000 processes of the debug binary; ~10 s on two cores).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use envcloak::crypto::DecryptError;
use envcloak::{Config, Error};

const BIN: &str = env!("CARGO_BIN_EXE_envcloak");
const CANARY: &str = "CANARY_tamper_5e1d0c9b77";
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The dotenv text inside the encrypted file: five entries, ~200 bytes.
fn plaintext() -> String {
    format!(
        "# service configuration\n\
         DATABASE_URL=postgres://app:{CANARY}@db.internal:5432/app\n\
         API_TOKEN={CANARY}\n\
         PORT=8080\n\
         DEBUG=false\n\
         ALLOWED_HOSTS=.localhost, .example.com\n"
    )
}

/// URL-safe base64 as the token format has it: padding optional,
/// canonical trailing bits.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Like [`STRICT`], ignoring non-canonical trailing bits, as Python's
/// `base64.urlsafe_b64decode` does: two texts that decode to the same bytes
/// here are the same token.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// What a variant must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Refused with this error.
    Reject(DecryptError),
    /// The original token written differently: the original plaintext, or
    /// a `NotBase64` refusal.
    SameToken,
}

/// The expected outcome for file contents `bytes`, from the token format.
fn expect(bytes: &[u8], original: &[u8]) -> Expect {
    let text = bytes.trim_ascii();
    if text.is_empty() {
        return Expect::Reject(DecryptError::Empty);
    }
    if LENIENT.decode(text).is_ok_and(|raw| raw == original) {
        return Expect::SameToken;
    }
    let Ok(raw) = STRICT.decode(text) else {
        return Expect::Reject(DecryptError::NotBase64);
    };
    if raw.first() != Some(&0x80) {
        return Expect::Reject(if raw.is_empty() {
            DecryptError::Truncated
        } else {
            DecryptError::BadVersion
        });
    }
    // Version 1 + timestamp 8 + IV 16 + HMAC 32, and at least one AES block.
    if raw.len() < 73 || (raw.len() - 57) % 16 != 0 {
        return Expect::Reject(DecryptError::Truncated);
    }
    Expect::Reject(DecryptError::Authentication)
}

struct Variant {
    family: &'static str,
    /// Byte offset (substitution, bit flip) or length (truncation).
    at: usize,
    bytes: Vec<u8>,
    expect: Expect,
}

impl Variant {
    fn label(&self) -> String {
        format!("{} at {} ({:?})", self.family, self.at, self.expect)
    }
}

/// A project directory holding a real `.env.enc` made by `envcloak encrypt`,
/// and no `.env`.
struct Fixture {
    dir: tempfile::TempDir,
    key: String,
    /// The file as written.
    file: Vec<u8>,
    /// The decoded token.
    raw: Vec<u8>,
}

fn envcloak(dir: &Path, key: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("ENVCLOAK_KEY", key)
        .stdin(Stdio::null());
    cmd
}

fn fixture() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("envcloak-tamper-")
        .tempdir()
        .unwrap();
    let key = String::from_utf8(
        envcloak(dir.path(), "")
            .arg("keygen")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let text = plaintext();
    assert!((180..=240).contains(&text.len()), "{}", text.len());
    std::fs::write(dir.path().join(".env"), &text).unwrap();
    let out = envcloak(dir.path(), &key).arg("encrypt").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    let file = std::fs::read(dir.path().join(".env.enc")).unwrap();
    let raw = URL_SAFE.decode(file.trim_ascii()).unwrap();
    assert_eq!(raw[0], 0x80);
    // The untouched file opens, through both paths.
    let out = envcloak(dir.path(), &key).arg("decrypt").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{out:?}");
    Fixture {
        dir,
        key,
        file,
        raw,
    }
}

/// Every variant of the three families.
fn variants(fx: &Fixture) -> Vec<Variant> {
    let mut out = Vec::new();
    for i in 0..fx.file.len() {
        let mut bytes = fx.file.clone();
        let orig = bytes[i];
        let start = ALPHABET.iter().position(|&c| c == orig).unwrap_or(0);
        // Spread the replacements over the alphabet; never the same byte.
        let mut j = (start + 1 + 7 * i) % 64;
        if ALPHABET[j] == orig {
            j = (j + 1) % 64;
        }
        bytes[i] = ALPHABET[j];
        let expect = expect(&bytes, &fx.raw);
        out.push(Variant {
            family: "substitution",
            at: i,
            bytes,
            expect,
        });
    }
    for i in 0..fx.raw.len() {
        let mut raw = fx.raw.clone();
        raw[i] ^= 1 << (i % 8);
        let mut bytes = URL_SAFE.encode(&raw).into_bytes();
        bytes.push(b'\n');
        let expect = expect(&bytes, &fx.raw);
        out.push(Variant {
            family: "bit flip",
            at: i,
            bytes,
            expect,
        });
    }
    for len in 0..fx.file.len() {
        let bytes = fx.file[..len].to_vec();
        let expect = expect(&bytes, &fx.raw);
        out.push(Variant {
            family: "truncation",
            at: len,
            bytes,
            expect,
        });
    }
    out
}

/// Checks a library result against the expectation; `Err` describes a
/// mismatch.
fn check_library(result: Result<Config, Error>, expect: &Expect) -> Result<(), String> {
    match (result, expect) {
        (Err(e @ Error::Decrypt { .. }), want) => {
            let Error::Decrypt { kind, path, .. } = &e else {
                unreachable!()
            };
            let shown = format!("{e} {e:?}");
            if shown.contains(CANARY) {
                return Err(format!("the error shows the canary: {shown}"));
            }
            if !path.ends_with(".env.enc") {
                return Err(format!("wrong path in {e:?}"));
            }
            match want {
                Expect::Reject(k) if k == kind => Ok(()),
                Expect::SameToken if *kind == DecryptError::NotBase64 => Ok(()),
                _ => Err(format!("got {kind:?}")),
            }
        }
        (Err(e), _) => Err(format!("got a non-Decrypt error: {e:?}")),
        (Ok(cfg), Expect::SameToken) => {
            let token: String = cfg.get("API_TOKEN").map_err(|e| e.to_string())?;
            let port: u16 = cfg.get("PORT").map_err(|e| e.to_string())?;
            if token == CANARY && port == 8080 {
                Ok(())
            } else {
                Err("opened, with different values".to_owned())
            }
        }
        (Ok(_), Expect::Reject(_)) => Err("accepted".to_owned()),
    }
}

/// Checks a refusal by the binary: exit 2, nothing on stdout, one `error:`
/// line naming the expected reason (plus at most one `hint:` line), no
/// panic, no canary, no key.
fn check_refusal(out: &Output, kind: &DecryptError, key: &str) -> Result<(), String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = |what: &str| Err(format!("{what}: {out:?}"));
    if out.status.code() != Some(2) {
        return why("exit code is not 2");
    }
    if !stdout.is_empty() {
        return why("something on stdout");
    }
    if stderr.contains("panicked") {
        return why("panic");
    }
    if stderr.contains(CANARY) || stderr.contains(key) {
        return why("secret on stderr");
    }
    let lines: Vec<&str> = stderr.lines().collect();
    let errors = lines.iter().filter(|l| l.starts_with("error: ")).count();
    let hints = lines.iter().filter(|l| l.starts_with("hint: ")).count();
    if errors != 1 || hints > 1 || lines.len() != errors + hints || !lines[0].starts_with("error: ")
    {
        return why("not one error line (and at most one hint)");
    }
    if !lines[0].contains(&kind.to_string()) || !lines[0].contains(".env.enc") {
        return why(&format!("the error does not say '{kind}' about .env.enc"));
    }
    Ok(())
}

fn check_decrypt(out: &Output, expect: &Expect, key: &str) -> Result<(), String> {
    match expect {
        Expect::Reject(kind) => check_refusal(out, kind, key),
        Expect::SameToken if out.status.success() => {
            if out.stdout == plaintext().as_bytes() {
                Ok(())
            } else {
                Err(format!("opened, with other text: {out:?}"))
            }
        }
        Expect::SameToken => check_refusal(out, &DecryptError::NotBase64, key),
    }
}

fn check_run(out: &Output, expect: &Expect, key: &str) -> Result<(), String> {
    let ran = String::from_utf8_lossy(&out.stdout).contains("RAN");
    match expect {
        Expect::Reject(kind) => {
            if ran {
                return Err(format!("the child ran: {out:?}"));
            }
            check_refusal(out, kind, key)
        }
        Expect::SameToken if out.status.success() => {
            if out.stdout == format!("RAN {CANARY}\n").as_bytes() {
                Ok(())
            } else {
                Err(format!("ran, with other values: {out:?}"))
            }
        }
        Expect::SameToken => {
            if ran {
                return Err(format!("the child ran: {out:?}"));
            }
            check_refusal(out, &DecryptError::NotBase64, key)
        }
    }
}

fn summary(variants: &[Variant]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for v in variants {
        *counts
            .entry((v.family, format!("{:?}", v.expect)))
            .or_insert(0) += 1;
    }
    counts
        .iter()
        .map(|((f, e), n)| format!("  {f:<12} {e:<35} {n}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The library: every variant, plus every bit of every token byte.
#[test]
fn library_refuses_every_tampered_file() {
    let fx = fixture();
    let mut all = variants(&fx);
    for i in 0..fx.raw.len() {
        for bit in 0..8 {
            if bit == i % 8 {
                continue; // already in `variants`
            }
            let mut raw = fx.raw.clone();
            raw[i] ^= 1 << bit;
            let mut bytes = URL_SAFE.encode(&raw).into_bytes();
            bytes.push(b'\n');
            let expect = expect(&bytes, &fx.raw);
            all.push(Variant {
                family: "bit flip",
                at: i,
                bytes,
                expect,
            });
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("envcloak-tamper-lib-")
        .tempdir()
        .unwrap();
    let enc = dir.path().join(".env.enc");
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut same_opened = 0;
    for v in &all {
        std::fs::write(&enc, &v.bytes).unwrap();
        let result = Config::builder()
            .dir(dir.path())
            .environment([("ENVCLOAK_KEY", fx.key.as_str())])
            .build();
        if v.expect == Expect::SameToken && result.is_ok() {
            same_opened += 1;
        }
        if let Err(why) = check_library(result, &v.expect) {
            failures.push(format!("{}: {why}", v.label()));
        }
    }
    eprintln!(
        "library: {} variants of a {}-byte file ({}-byte token) in {:.2?}; \
         {same_opened} same-token variants opened\n{}",
        all.len(),
        fx.file.len(),
        fx.raw.len(),
        started.elapsed(),
        summary(&all)
    );
    assert!(
        failures.is_empty(),
        "{} of {} variants not refused as expected:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    // Every refusal kind the format allows was exercised.
    for kind in [
        DecryptError::Empty,
        DecryptError::NotBase64,
        DecryptError::BadVersion,
        DecryptError::Truncated,
        DecryptError::Authentication,
    ] {
        assert!(
            all.iter().any(|v| v.expect == Expect::Reject(kind.clone())),
            "no variant expects {kind:?}"
        );
    }
}

/// The binary: `decrypt` and `run -- sh -c 'echo RAN ...'` on every
/// variant (substitutions, one bit flip per byte, truncations).
#[test]
fn binary_refuses_every_tampered_file_and_never_runs_the_child() {
    let fx = fixture();
    let all = variants(&fx);
    let started = Instant::now();
    // Two workers, each in its own directory (copies of the key only).
    let chunks: Vec<&[Variant]> = all.chunks(all.len().div_ceil(2)).collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let key = fx.key.clone();
                s.spawn(move || {
                    let dir = tempfile::Builder::new()
                        .prefix("envcloak-tamper-bin-")
                        .tempdir()
                        .unwrap();
                    let enc = dir.path().join(".env.enc");
                    let mut failures = Vec::new();
                    for v in *chunk {
                        std::fs::write(&enc, &v.bytes).unwrap();
                        let out = envcloak(dir.path(), &key).arg("decrypt").output().unwrap();
                        if let Err(why) = check_decrypt(&out, &v.expect, &key) {
                            failures.push(format!("decrypt, {}: {why}", v.label()));
                        }
                        let out = envcloak(dir.path(), &key)
                            .args(["run", "--", "sh", "-c", "echo RAN $API_TOKEN"])
                            .output()
                            .unwrap();
                        if let Err(why) = check_run(&out, &v.expect, &key) {
                            failures.push(format!("run, {}: {why}", v.label()));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    eprintln!(
        "binary: {} variants x 2 commands = {} processes in {:.2?}",
        all.len(),
        2 * all.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The untouched file still opens (the fixture was not damaged).
    let out = envcloak(fx.dir.path(), &fx.key)
        .args(["run", "--", "sh", "-c", "echo RAN $API_TOKEN"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("RAN {CANARY}\n")
    );
}

/// The oracle itself, on hand-made cases.
#[test]
fn expectations_follow_the_token_format() {
    let raw: Vec<u8> = std::iter::once(0x80).chain(1..=88u8).collect(); // 89 bytes
    let text = URL_SAFE.encode(&raw);
    assert_eq!(expect(b"", &raw), Expect::Reject(DecryptError::Empty));
    assert_eq!(expect(b" \n", &raw), Expect::Reject(DecryptError::Empty));
    assert_eq!(expect(text.as_bytes(), &raw), Expect::SameToken);
    assert_eq!(
        expect(text.trim_end_matches('=').as_bytes(), &raw),
        Expect::SameToken
    );
    assert_eq!(
        expect(b"not base64!", &raw),
        Expect::Reject(DecryptError::NotBase64)
    );
    assert_eq!(
        expect(URL_SAFE.encode([0x81; 89]).as_bytes(), &raw),
        Expect::Reject(DecryptError::BadVersion)
    );
    assert_eq!(
        expect(URL_SAFE.encode(&raw[..88]).as_bytes(), &raw),
        Expect::Reject(DecryptError::Truncated)
    );
    let mut other = raw.clone();
    other[40] ^= 1;
    assert_eq!(
        expect(URL_SAFE.encode(&other).as_bytes(), &raw),
        Expect::Reject(DecryptError::Authentication)
    );
}
