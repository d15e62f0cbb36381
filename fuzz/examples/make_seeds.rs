//! Writes the generated seeds of `corpus/token_decrypt/` and
//! `corpus/password_header/`: real tokens under the fuzz keyring (made with
//! `envcloak::crypto::encrypt`, and with the `fernet` crate for chosen
//! timestamps), a password-mode file, and damaged variants.
//!
//! Run from `fuzz/`: `cargo run --release --example make_seeds`. Tokens have
//! random IVs, so a run rewrites those files with new (equally good) bytes.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use envcloak::crypto::{self, Key, Keyring, MIN_ITERATIONS};

const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM=";
/// Not in the fuzz keyring: its tokens fail authentication.
const K3: &str = "yMnKy8zNzs_Q0dLT1NXW19jZ2tvc3d7f4OHi4-Tl5uc=";

const PLAINTEXT: &[u8] = b"# app\nDEBUG=false\nSECRET_KEY='s3cr3t value'\nURL=\"postgres://u@h/db\"\n";

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let tokens = Path::new("corpus/token_decrypt");
    let headers = Path::new("corpus/password_header");
    fs::create_dir_all(tokens).unwrap();
    fs::create_dir_all(headers).unwrap();

    let ring = |k: &str| Keyring::from(Key::parse(k).unwrap());
    let t1 = crypto::encrypt(&ring(K1), PLAINTEXT);
    write(tokens, "key1-newline", format!("{t1}\n"));
    write(tokens, "key1-crlf-indented", format!("  {t1}\r\n"));
    let standard = t1.replace('-', "+").replace('_', "/");
    write(tokens, "key1-standard-alphabet-no-padding", standard.trim_end_matches('='));
    write(tokens, "key2-second-in-ring", crypto::encrypt(&ring(K2), b"A=1\n"));
    write(tokens, "key1-empty-plaintext", crypto::encrypt(&ring(K1), b""));
    write(tokens, "key3-not-in-ring", crypto::encrypt(&ring(K3), PLAINTEXT));
    let fernet = fernet::Fernet::new(K1).unwrap();
    for (name, ts) in [
        ("key1-at-epoch", 0),
        ("key1-at-1700000000", 1_700_000_000),
        ("key1-at-u64-max", u64::MAX),
        ("key1-at-u64-max-minus-60", u64::MAX - 60),
    ] {
        write(tokens, name, fernet.encrypt_at_time(b"A=1\n", ts));
    }
    // Damaged: cut short, a flipped byte, a bad version byte, garbage.
    write(tokens, "truncated", &t1[..t1.len() / 2]);
    let mut raw = base64::engine::general_purpose::URL_SAFE.decode(&t1).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 1;
    write(tokens, "flipped-byte", base64::engine::general_purpose::URL_SAFE.encode(&raw));
    raw[0] = 0x81;
    write(tokens, "bad-version", base64::engine::general_purpose::URL_SAFE.encode(&raw));
    write(tokens, "not-base64", "this is not a token\n");
    write(tokens, "blank", " \n\t\r\n");

    let file = crypto::encrypt_with_password(b"correct horse", PLAINTEXT, MIN_ITERATIONS);
    write(tokens, "password-file", &file);
    write(headers, "password-file", &file);
    let header_line = file.lines().next().unwrap();
    write(headers, "header-crlf", format!("{header_line}\r\n"));
}
