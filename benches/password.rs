//! Password mode, on its own (PBKDF2 is slow on purpose, so it is kept out
//! of the goals): one load of a 100-variable password-mode `.env.enc` at
//! 600,000 PBKDF2-HMAC-SHA256 iterations, against the bare steps it is made
//! of (PBKDF2 of the same password and salt, Fernet decrypt, dotenvy parse).
//!
//! `cargo bench --bench password`; figures in BENCHMARKS.md.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use envcloak::crypto::{self, MIN_ITERATIONS};
use envcloak::{Config, SecretString};

const N: usize = 100;
const PASSWORD: &str = "correct horse battery staple";

fn password(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = common::dotenv_text(N);
    let path = dir.path().join("password.env.enc");
    assert_eq!(MIN_ITERATIONS, 600_000);
    let contents = crypto::encrypt_with_password(PASSWORD.as_bytes(), text.as_bytes(), 600_000);
    std::fs::write(&path, &contents).expect("write the password file");
    let key = common::lookup_key(N);
    let want = common::lookup_value(N);

    let envcloak_load = || -> String {
        let cfg = Config::builder()
            .encrypted_file(&path)
            .password(SecretString::from(PASSWORD))
            .process_env(false)
            .build()
            .expect("envcloak opens the file");
        cfg.get::<String>(black_box(&key))
            .expect("the key is there")
    };
    assert_eq!(envcloak_load(), want);

    let bare = || -> String {
        let contents = std::fs::read_to_string(&path).expect("read the file");
        let (header, token) = contents.split_once('\n').expect("header line");
        let header = crypto::PasswordHeader::parse(header).expect("header");
        let mut derived = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            PASSWORD.as_bytes(),
            &header.salt,
            header.iterations,
            &mut derived,
        );
        let fkey = base64::engine::general_purpose::URL_SAFE.encode(derived);
        let plain = fernet::Fernet::new(&fkey)
            .expect("a fernet key")
            .decrypt(token.trim_end())
            .expect("fernet decrypts");
        let map: HashMap<String, String> = dotenvy::from_read_iter(&plain[..])
            .map(|item| item.expect("dotenvy reads the plaintext"))
            .collect();
        map.get(black_box(key.as_str()))
            .expect("the key is there")
            .clone()
    };
    assert_eq!(bare(), want);

    let mut group = c.benchmark_group("password_pbkdf2_600k");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.bench_function("envcloak", |b| b.iter(envcloak_load));
    group.bench_function("pbkdf2_fernet_dotenvy", |b| b.iter(bare));
    group.finish();
}

fn settings() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = settings();
    targets = password
}
criterion_main!(benches);
