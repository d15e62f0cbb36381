//! Throughput of the redact filter (the core of `envcloak redact` and
//! `run --redact`), without process start-up or pipes:
//!
//!   cargo bench -p envcloak-cli --bench redact
//!
//! 16 MB of log-like text (the shape `benches/redact_vs_cat.sh` uses; one
//! loaded value in about one line in 500) through a redactor holding 1,000
//! values of 6 to 40 characters, read in the filter's own 256 KiB chunks
//! and written to a writer that discards them. `copy` is the floor in the
//! same run: the same bytes read in the same chunks into the same writer.
//! The whole-process figure against `cat` is `benches/redact_vs_cat.sh`.

use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[allow(dead_code)]
#[path = "../src/redact/filter.rs"]
mod filter;

/// A small deterministic generator (xorshift64), so that the data is the
/// same in every run without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// `n` distinct values of 6 to 40 characters (hex, base64-ish, words).
fn values(rng: &mut Rng, n: usize) -> Vec<String> {
    let alphabets: [&[u8]; 3] = [
        b"0123456789abcdef",
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        b"abcdefghijklmnopqrstuvwxyz-",
    ];
    let mut out = std::collections::BTreeSet::new();
    while out.len() < n {
        let a = *rng.pick(&alphabets);
        let len = 6 + rng.below(35);
        out.insert((0..len).map(|_| *rng.pick(a) as char).collect::<String>());
    }
    out.into_iter().collect()
}

/// About `size` bytes of log lines, one in about 500 carrying a value.
fn log_text(rng: &mut Rng, size: usize, values: &[String]) -> Vec<u8> {
    use std::fmt::Write as _;
    let levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
    let paths = ["/api/v1/users", "/api/v1/orders", "/healthz", "/login"];
    let words = [
        "request",
        "completed",
        "cache",
        "miss",
        "retrying",
        "connection",
        "pool",
        "upstream",
        "timeout",
        "user",
        "session",
        "refreshed",
        "query",
        "rows",
    ];
    let mut s = String::with_capacity(size + 512);
    while s.len() < size {
        let _ = write!(
            s,
            "2026-11-30T{:02}:{:02}:{:02}.{:03}Z {:5} [worker-{}]",
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            rng.pick(&levels),
            1 + rng.below(16)
        );
        for _ in 0..3 + rng.below(7) {
            s.push(' ');
            let word = words[rng.below(words.len())];
            s.push_str(word);
        }
        let _ = write!(
            s,
            " id={:016x} path={}/{} status={} took={}ms",
            rng.next(),
            rng.pick(&paths),
            rng.below(100_000),
            rng.pick(&[200, 200, 200, 201, 304, 404, 500]),
            1 + rng.below(2000)
        );
        if rng.below(500) == 0 {
            s.push_str(" token=");
            s.push_str(&values[rng.below(values.len())]);
        }
        s.push('\n');
    }
    s.into_bytes()
}

/// A writer that keeps nothing but cannot be optimized away (unlike
/// `io::sink()`, which `io::copy` skips).
struct Discard;

impl io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        black_box(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x2026_1130_dead_beef);
    let values = values(&mut rng, 1000);
    let data = log_text(&mut rng, 16_000_000, &values);
    let pairs: Vec<(String, &str)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("SECRET_{i:04}"), v.as_str()))
        .collect();
    let redactor = filter::Redactor::new(pairs.iter().map(|(k, v)| (k, v))).unwrap();

    let mut g = c.benchmark_group("redact_16MB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("copy", |b| {
        let mut buf = vec![0u8; filter::CHUNK];
        b.iter(|| {
            let mut input = black_box(&data[..]);
            loop {
                let n = io::Read::read(&mut input, &mut buf).unwrap();
                if n == 0 {
                    break;
                }
                io::Write::write_all(&mut Discard, &buf[..n]).unwrap();
            }
        })
    });
    g.bench_function("1000_values", |b| {
        b.iter(|| redactor.stream(black_box(&data[..]), Discard).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
