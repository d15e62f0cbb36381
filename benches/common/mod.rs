//! Shared by the benchmarks: realistic generated `.env` files.
//!
//! A file of `n` variables (`n` a multiple of 10) is `n / 10` blocks, one per
//! service, each a comment line, ten variables and a blank line:
//!
//! ```text
//! # --- service 0003: billing settings ---
//! SVC0003_HOST=db-3.internal.example.com
//! SVC0003_PORT=5003
//! SVC0003_DEBUG=false
//! SVC0003_NAME="Service number 3 (staging)"
//! SVC0003_SECRET=Xb2...                       (43 URL-safe base64 characters)
//! SVC0003_URL="postgres://app:${SVC0003_SECRET}@${SVC0003_HOST}:5432/app_3"
//! export SVC0003_TIMEOUT=30s # seconds
//! SVC0003_GREETING='Hello $USER, this stays literal'
//! SVC0003_HOSTS=a3.example.com,b3.example.com,c3.example.com
//! SVC0003_CALLBACK=https://${SVC0003_HOST}/callback?id=3
//! ```
//!
//! That is bare values (5), double quotes (2, one with expansions), single
//! quotes (1), `export` with an inline comment (1), an unquoted expansion (1),
//! and comments and blank lines. Every line is in the syntax that envcloak and
//! dotenvy 0.15.7 read alike, and python-dotenv reads the same values too;
//! `benches/cli.sh` writes the same shape in shell.

// Each bench binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The file sizes of the load benchmarks (variables per file).
pub const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];

const WORDS: [&str; 8] = [
    "billing", "search", "auth", "mailer", "cache", "api", "worker", "metrics",
];

/// A deterministic pseudo-random generator (xorshift64*), so every run and
/// every bench binary sees the same files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The dotenv text of `n` variables (`n` must be a multiple of 10).
pub fn dotenv_text(n: usize) -> String {
    assert!(n > 0 && n.is_multiple_of(10), "n must be a multiple of 10");
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(n * 64);
    for b in 0..n / 10 {
        let k = format!("SVC{b:04}");
        let secret: String = (0..43)
            .map(|_| B64[(rng.next() % 64) as usize] as char)
            .collect();
        let debug = if b % 3 == 0 { "true" } else { "false" };
        let word = WORDS[b % WORDS.len()];
        let _ = write!(
            out,
            "# --- service {b:04}: {word} settings ---\n\
             {k}_HOST=db-{b}.internal.example.com\n\
             {k}_PORT={port}\n\
             {k}_DEBUG={debug}\n\
             {k}_NAME=\"Service number {b} ({word}, staging)\"\n\
             {k}_SECRET={secret}\n\
             {k}_URL=\"postgres://app:${{{k}_SECRET}}@${{{k}_HOST}}:5432/app_{b}\"\n\
             export {k}_TIMEOUT=30s # seconds\n\
             {k}_GREETING='Hello $USER, this stays literal'\n\
             {k}_HOSTS=a{b}.example.com,b{b}.example.com,c{b}.example.com\n\
             {k}_CALLBACK=https://${{{k}_HOST}}/callback?id={b}\n\
             \n",
            port = 5000 + b % 1000,
        );
    }
    out
}

/// The key looked up after each load: a bare value in the middle block.
pub fn lookup_key(n: usize) -> String {
    format!("SVC{:04}_HOST", n / 10 / 2)
}

/// The value [`lookup_key`] holds.
pub fn lookup_value(n: usize) -> String {
    format!("db-{}.internal.example.com", n / 10 / 2)
}

/// Writes `dir/vars_<n>.env` and returns its path.
pub fn write_dotenv(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join(format!("vars_{n}.env"));
    std::fs::write(&path, dotenv_text(n)).expect("writing the generated .env");
    path
}

/// dotenvy's reading of `text`: the map the baselines build.
pub fn dotenvy_map(text: &str) -> HashMap<String, String> {
    dotenvy::from_read_iter(text.as_bytes())
        .map(|item| item.expect("dotenvy reads the generated file"))
        .collect()
}

/// Checks, outside any timing, that envcloak and dotenvy read the generated
/// file alike (so both sides of a ratio do the same work), and that nothing
/// but the given file is loaded.
pub fn check_same_reading(cfg: &envcloak::Config, text: &str) {
    let map = dotenvy_map(text);
    let keys = cfg.keys();
    assert_eq!(keys.len(), map.len(), "envcloak and dotenvy: key counts");
    for (key, _) in keys {
        let ours: String = cfg.get(&key).expect("envcloak reads every key");
        assert_eq!(Some(&ours), map.get(&key), "envcloak and dotenvy differ");
    }
    assert_eq!(
        cfg.layer_names().len(),
        1,
        "the benchmark config must read one file only (is there a .env in the current directory?)"
    );
}
