//! Load + first lookup, plaintext `.env` and encrypted `.env.enc`, for
//! 10 to 100,000 variables, each against its baselines in the same group.
//!
//! `cargo bench --bench load`; figures and ratios in BENCHMARKS.md
//! (`python3 benches/report.py` turns criterion's output into the tables).

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use envcloak::crypto::{self, Keyring};
use envcloak::{Config, ExposeSecret, SecretString};

/// Large files take tens of milliseconds an iteration: fewer, flat samples
/// keep the whole run within a few minutes.
fn size_settings(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
    if n >= 10_000 {
        group.sample_size(10).sampling_mode(SamplingMode::Flat);
    } else {
        group.sample_size(50).sampling_mode(SamplingMode::Auto);
    }
    group.throughput(Throughput::Elements(n as u64));
}

/// `.env`: envcloak vs dotenvy's `from_path_iter` into a map vs config-rs's
/// `Environment` source given the same variables.
fn load_env(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("load_env");
    for n in common::SIZES {
        let path = common::write_dotenv(dir.path(), n);
        let key = common::lookup_key(n);
        let want = common::lookup_value(n);
        let text = std::fs::read_to_string(&path).expect("read back");

        let envcloak_load = |path: &Path, key: &str| -> String {
            let cfg = Config::builder()
                .file(path)
                .process_env(false)
                .build()
                .expect("envcloak loads the file");
            cfg.get::<String>(key).expect("the key is there")
        };
        let cfg = Config::builder()
            .file(&path)
            .process_env(false)
            .build()
            .expect("envcloak loads the file");
        common::check_same_reading(&cfg, &text);
        drop(cfg);
        assert_eq!(envcloak_load(&path, &key), want);

        let dotenvy_load = |path: &Path, key: &str| -> String {
            let map: HashMap<String, String> = dotenvy::from_path_iter(path)
                .expect("dotenvy opens the file")
                .map(|item| item.expect("dotenvy reads the file"))
                .collect();
            map.get(key).expect("the key is there").clone()
        };
        assert_eq!(dotenvy_load(&path, &key), want);

        // config-rs lower-cases keys; its Map is a HashMap<String, String>.
        let map: config_rs::Map<String, String> = common::dotenvy_map(&text).into_iter().collect();
        let lower = key.to_lowercase();
        let config_rs_load = |map: config_rs::Map<String, String>, key: &str| -> String {
            let cfg = config_rs::Config::builder()
                .add_source(config_rs::Environment::default().source(Some(map)))
                .build()
                .expect("config-rs builds");
            cfg.get_string(key).expect("the key is there")
        };
        assert_eq!(config_rs_load(map.clone(), &lower), want);

        size_settings(&mut group, n);
        group.bench_with_input(BenchmarkId::new("envcloak", n), &n, |b, _| {
            b.iter(|| envcloak_load(black_box(&path), black_box(&key)))
        });
        group.bench_with_input(BenchmarkId::new("dotenvy", n), &n, |b, _| {
            b.iter(|| dotenvy_load(black_box(&path), black_box(&key)))
        });
        // The map is cloned outside the timing: config-rs is timed on its
        // own work (build + get_string), with no file to read or parse.
        group.bench_with_input(BenchmarkId::new("config_rs_env", n), &n, |b, _| {
            b.iter_batched(
                || map.clone(),
                |m| config_rs_load(m, black_box(&lower)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// `.env.enc`: envcloak (decrypt + parse + lookup) vs the fernet crate's
/// bare `Fernet::decrypt` of the same token, and that plus dotenvy's parse
/// of the plaintext into a map and one lookup.
fn load_env_enc(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key_text = fernet::Fernet::generate_key();
    let secret = SecretString::from(key_text.as_str());
    let ring = Keyring::parse(&key_text).expect("a fernet key");
    let mut group = c.benchmark_group("load_env_enc");
    for n in common::SIZES {
        let text = common::dotenv_text(n);
        let path = dir.path().join(format!("vars_{n}.env.enc"));
        // As `envcloak encrypt` writes it: one token and a newline.
        std::fs::write(&path, crypto::encrypt(&ring, text.as_bytes()) + "\n")
            .expect("write .env.enc");
        let key = common::lookup_key(n);
        let want = common::lookup_value(n);

        let envcloak_load = |path: &Path, key: &str| -> String {
            let cfg = Config::builder()
                .encrypted_file(path)
                .key(&secret)
                .expect("the key parses")
                .process_env(false)
                .build()
                .expect("envcloak opens the file");
            cfg.get::<String>(key).expect("the key is there")
        };
        let cfg = Config::builder()
            .encrypted_file(&path)
            .key(&secret)
            .expect("the key parses")
            .process_env(false)
            .build()
            .expect("envcloak opens the file");
        common::check_same_reading(&cfg, &text);
        drop(cfg);
        assert_eq!(envcloak_load(&path, &key), want);

        let fernet_decrypt = |path: &Path| -> Vec<u8> {
            let token = std::fs::read_to_string(path).expect("read .env.enc");
            let f = fernet::Fernet::new(secret.expose_secret()).expect("a fernet key");
            f.decrypt(token.trim_end()).expect("fernet decrypts")
        };
        assert_eq!(fernet_decrypt(&path), text.as_bytes());
        let fernet_dotenvy = |path: &Path, key: &str| -> String {
            let plain = fernet_decrypt(path);
            let map: HashMap<String, String> = dotenvy::from_read_iter(&plain[..])
                .map(|item| item.expect("dotenvy reads the plaintext"))
                .collect();
            map.get(key).expect("the key is there").clone()
        };
        assert_eq!(fernet_dotenvy(&path, &key), want);

        size_settings(&mut group, n);
        group.bench_with_input(BenchmarkId::new("envcloak", n), &n, |b, _| {
            b.iter(|| envcloak_load(black_box(&path), black_box(&key)))
        });
        group.bench_with_input(BenchmarkId::new("fernet_dotenvy", n), &n, |b, _| {
            b.iter(|| fernet_dotenvy(black_box(&path), black_box(&key)))
        });
        group.bench_with_input(BenchmarkId::new("fernet_bare", n), &n, |b, _| {
            b.iter(|| fernet_decrypt(black_box(&path)))
        });
    }
    group.finish();
}

/// The floor of linear work on this machine: read the file, check UTF-8,
/// count its lines, zeroize it. No parser does less; its ratio between
/// 100,000 and 1,000 variables shows what the memory hierarchy alone costs.
fn linear_floor(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("linear_floor");
    for n in [1_000, 100_000] {
        let path = common::write_dotenv(dir.path(), n);
        size_settings(&mut group, n);
        group.bench_with_input(
            BenchmarkId::new("read_utf8_lines_zeroize", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let bytes = std::fs::read(black_box(&path)).expect("read");
                    let text = zeroize::Zeroizing::new(String::from_utf8(bytes).expect("UTF-8"));
                    text.lines().count()
                })
            },
        );
    }
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
    targets = load_env, load_env_enc, linear_floor
}
criterion_main!(benches);
