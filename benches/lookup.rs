//! Lookups per second on a loaded `Config` of 100 variables, per type, each
//! against a baseline in the same group: the same key in dotenvy's
//! `HashMap<String, String>`, converted with the standard library.
//!
//! `cargo bench --bench lookup`; figures in BENCHMARKS.md.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use envcloak::{Config, Csv, ExposeSecret, SecretString};

const N: usize = 100;

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = common::write_dotenv(dir.path(), N);
    let text = std::fs::read_to_string(&path).expect("read back");
    let cfg = Config::builder()
        .file(&path)
        .process_env(false)
        .build()
        .expect("envcloak loads the file");
    common::check_same_reading(&cfg, &text);
    let map: HashMap<String, String> = common::dotenvy_map(&text);

    // Block 5 of the generated file: SVC0005_DEBUG=false, _PORT=5005, ...
    let (k_string, k_bool, k_u16, k_csv, k_secret) = (
        "SVC0005_HOST",
        "SVC0005_DEBUG",
        "SVC0005_PORT",
        "SVC0005_HOSTS",
        "SVC0005_SECRET",
    );
    assert_eq!(cfg.get::<u16>(k_u16).unwrap(), 5005);
    assert!(!cfg.get::<bool>(k_bool).unwrap());
    assert_eq!(cfg.get::<Csv<String>>(k_csv).unwrap().len(), 3);

    macro_rules! pair {
        ($group:literal, $key:expr, $ours:expr, $base:expr) => {{
            let mut group = c.benchmark_group($group);
            group.throughput(Throughput::Elements(1));
            group.bench_function("envcloak", |b| b.iter(|| $ours(&cfg, black_box($key))));
            group.bench_function("hashmap_std", |b| b.iter(|| $base(&map, black_box($key))));
            group.finish();
        }};
    }

    pair!(
        "lookup_string",
        k_string,
        |cfg: &Config, k| cfg.get::<String>(k).unwrap(),
        |m: &HashMap<String, String>, k| m.get(k).unwrap().clone()
    );
    pair!(
        "lookup_bool",
        k_bool,
        |cfg: &Config, k| cfg.get::<bool>(k).unwrap(),
        |m: &HashMap<String, String>, k| m.get(k).unwrap().parse::<bool>().unwrap()
    );
    pair!(
        "lookup_u16",
        k_u16,
        |cfg: &Config, k| cfg.get::<u16>(k).unwrap(),
        |m: &HashMap<String, String>, k| m.get(k).unwrap().parse::<u16>().unwrap()
    );
    pair!(
        "lookup_csv_string",
        k_csv,
        |cfg: &Config, k| cfg.get::<Csv<String>>(k).unwrap(),
        |m: &HashMap<String, String>, k| m
            .get(k)
            .unwrap()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect::<Vec<String>>()
    );
    pair!(
        "lookup_secret_string",
        k_secret,
        |cfg: &Config, k| cfg.get::<SecretString>(k).unwrap(),
        |m: &HashMap<String, String>, k| SecretString::from(m.get(k).unwrap().as_str())
    );
    // Keep the secret's type honest: it is the value, behind expose_secret.
    assert_eq!(
        cfg.get::<SecretString>(k_secret).unwrap().expose_secret(),
        map[k_secret]
    );
}

fn settings() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = settings();
    targets = lookups
}
criterion_main!(benches);
