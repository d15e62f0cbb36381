//! Heap allocations per lookup on a loaded `Config` (100 variables), counted
//! by a `#[global_allocator]` that wraps the system allocator.
//!
//! The goal: a lookup allocates nothing beyond the value it returns —
//! 0 for `bool` and `u16`, 1 for `String` and `SecretString` (the returned
//! buffer). Other types are listed for information.
//!
//! `cargo bench --bench alloc_count` prints a markdown table (it does not
//! time anything, and never fails on a count).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use envcloak::{Config, Csv, SecretString};

/// The system allocator, counting allocations (including reallocations,
/// which may move) and the bytes they ask for.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters are plain atomics and never affect the result.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUNDS: u64 = 1_000;

/// Allocations, reallocations and bytes per call of `f`, averaged over
/// `ROUNDS` calls after one warm-up call. The result is dropped inside the
/// loop, so only allocations are counted, never frees.
fn per_call<T>(mut f: impl FnMut() -> T) -> (f64, f64, f64) {
    black_box(f());
    let (a0, r0, b0) = (
        ALLOCS.load(Relaxed),
        REALLOCS.load(Relaxed),
        BYTES.load(Relaxed),
    );
    for _ in 0..ROUNDS {
        black_box(f());
    }
    let per = |x: u64| x as f64 / ROUNDS as f64;
    (
        per(ALLOCS.load(Relaxed) - a0),
        per(REALLOCS.load(Relaxed) - r0),
        per(BYTES.load(Relaxed) - b0),
    )
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = common::write_dotenv(dir.path(), 100);
    let cfg = Config::builder()
        .file(&path)
        .process_env(false)
        .build()
        .expect("envcloak loads the file");

    // (type, key, allocations the returned value needs, lookup)
    type Row<'a> = (&'a str, &'a str, u64, Box<dyn FnMut() + 'a>);
    let cfg = &cfg;
    let rows: Vec<Row<'_>> = vec![
        (
            "bool",
            "SVC0005_DEBUG",
            0,
            Box::new(move || {
                let _ = black_box(cfg.get::<bool>("SVC0005_DEBUG").unwrap());
            }),
        ),
        (
            "u16",
            "SVC0005_PORT",
            0,
            Box::new(move || {
                let _ = black_box(cfg.get::<u16>("SVC0005_PORT").unwrap());
            }),
        ),
        (
            "SecretString",
            "SVC0005_SECRET",
            1,
            Box::new(move || {
                let _ = black_box(cfg.get::<SecretString>("SVC0005_SECRET").unwrap());
            }),
        ),
        (
            "String",
            "SVC0005_HOST",
            1,
            Box::new(move || {
                let _ = black_box(cfg.get::<String>("SVC0005_HOST").unwrap());
            }),
        ),
        (
            "Option<u16> (present)",
            "SVC0005_PORT",
            0,
            Box::new(move || {
                let _ = black_box(cfg.get::<Option<u16>>("SVC0005_PORT").unwrap());
            }),
        ),
        (
            "u16 via get_or (absent)",
            "NOT_THERE",
            0,
            Box::new(move || {
                let _ = black_box(cfg.get_or::<u16>("NOT_THERE", 8000).unwrap());
            }),
        ),
        (
            "Duration",
            "SVC0005_TIMEOUT",
            0,
            Box::new(move || {
                let _ = black_box(cfg.get::<Duration>("SVC0005_TIMEOUT").unwrap());
            }),
        ),
        (
            "Csv<String> (3 items)",
            "SVC0005_HOSTS",
            // The Vec and its three Strings.
            4,
            Box::new(move || {
                let _ = black_box(cfg.get::<Csv<String>>("SVC0005_HOSTS").unwrap());
            }),
        ),
    ];

    println!("Allocations per lookup on a loaded Config (100 variables), {ROUNDS} calls each:\n");
    println!(
        "| type | key | allocs/call | reallocs/call | bytes/call | the returned value needs | nothing beyond it? |"
    );
    println!("|---|---|---:|---:|---:|---:|---|");
    for (i, (ty, key, needs, mut f)) in rows.into_iter().enumerate() {
        let (allocs, reallocs, bytes) = per_call(&mut f);
        let ok = if allocs + reallocs <= needs as f64 {
            "yes"
        } else {
            "NO"
        };
        // The first four rows are the goal's; the rest are for information.
        let scope = if i < 4 { "" } else { " (info)" };
        println!(
            "| `{ty}` | `{key}` | {allocs:.2} | {reallocs:.2} | {bytes:.1} | {needs} | {ok}{scope} |"
        );
    }
}
