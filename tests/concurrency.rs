//! Thread safety: many threads building and reading their own `Config`
//! (plaintext `.env` over an encrypted `.env.enc`, the key given through
//! `.environment(...)`), one `Config` shared by all threads, and the
//! process-wide `envcloak::config` called from every thread at once. Plus a
//! check that the crate has no `unsafe` code.
//!
//! This file is its own test process, so the process-wide configuration is
//! built here for the first time, by whichever thread gets there first.

use std::path::Path;
use std::sync::Barrier;

use envcloak::crypto::{self, Key, Keyring};
use envcloak::{Config, Csv, Error, ExposeSecret, Origin, SecretString};

const THREADS: usize = 16;
const ROUNDS: usize = 8;
const READS: usize = 400;

fn assert_send_sync<T: Send + Sync>() {}

/// A project directory for thread `n`: a `.env` and an `.env.enc` whose
/// values name the thread, so a mix-up between threads shows.
fn project(n: usize) -> (tempfile::TempDir, String) {
    let dir = tempfile::Builder::new()
        .prefix("envcloak-conc-")
        .tempdir()
        .unwrap();
    let key = Key::generate();
    let ring = Keyring::from(key.clone());
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "# thread {n}\nPLAIN=plain-{n}\nSHARED=from-dotenv-{n}\nPORT={}\nHOSTS='a{n}.example, b{n}.example'\n",
            8000 + n
        ),
    )
    .unwrap();
    let secret = format!(
        "SECRET=\"secret {n} with 'quotes'\\nand a newline\"\nSHARED=from-enc-{n}\nONLY_ENC=enc-{n}\nDEBUG=yes\n"
    );
    std::fs::write(
        dir.path().join(".env.enc"),
        format!("{}\n", crypto::encrypt(&ring, secret.as_bytes())),
    )
    .unwrap();
    (dir, key.to_base64().to_string())
}

fn build(dir: &Path, key: &str, n: usize) -> Config {
    Config::builder()
        .dir(dir)
        .environment([
            ("ENVCLOAK_KEY", key.to_owned()),
            ("FROM_ENV", format!("env-{n}")),
        ])
        .build()
        .unwrap_or_else(|e| panic!("thread {n}: {e}"))
}

fn check(cfg: &Config, n: usize) {
    assert_eq!(cfg.get::<String>("PLAIN").unwrap(), format!("plain-{n}"));
    // .env sits above .env.enc.
    assert_eq!(
        cfg.get::<String>("SHARED").unwrap(),
        format!("from-dotenv-{n}")
    );
    assert_eq!(cfg.get::<String>("ONLY_ENC").unwrap(), format!("enc-{n}"));
    assert_eq!(cfg.get::<String>("FROM_ENV").unwrap(), format!("env-{n}"));
    assert_eq!(cfg.get::<u16>("PORT").unwrap(), 8000 + n as u16);
    assert!(cfg.get::<bool>("DEBUG").unwrap());
    let hosts: Csv<String> = cfg.get("HOSTS").unwrap();
    assert_eq!(
        hosts.into_inner(),
        vec![format!("a{n}.example"), format!("b{n}.example")]
    );
    let secret: SecretString = cfg.get("SECRET").unwrap();
    assert_eq!(
        secret.expose_secret(),
        format!("secret {n} with 'quotes'\nand a newline")
    );
    assert_eq!(cfg.get::<Option<String>>("NOPE").unwrap(), None);
    assert!(matches!(
        cfg.get::<String>("NOPE"),
        Err(Error::Missing { .. })
    ));
    assert_eq!(cfg.get_or("NOPE", 7u8).unwrap(), 7);
    assert_eq!(cfg.source_of("FROM_ENV"), Some(Origin::Environment));
}

#[test]
fn threads_build_and_read_their_own_configs_and_the_global_one() {
    assert_send_sync::<Config>();
    let path = std::env::var("PATH").expect("tests run with PATH set");
    let projects: Vec<(tempfile::TempDir, String)> = (0..THREADS).map(project).collect();
    // One configuration shared by every thread as well.
    let shared = build(projects[0].0.path(), &projects[0].1, 0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for (n, (dir, key)) in projects.iter().enumerate() {
            let (barrier, shared, path) = (&barrier, &shared, &path);
            s.spawn(move || {
                barrier.wait();
                for round in 0..ROUNDS {
                    // Every thread asks for the global configuration at the
                    // same moment in the first round: one builds it, the
                    // others wait for it and read the same value.
                    assert_eq!(
                        envcloak::config::<String>("PATH").unwrap(),
                        *path,
                        "thread {n}"
                    );
                    let own = build(dir.path(), key, n);
                    for i in 0..READS {
                        check(&own, n);
                        if i.is_multiple_of(8) {
                            check(shared, 0);
                        }
                        if i.is_multiple_of(4) {
                            assert_eq!(envcloak::config::<String>("PATH").unwrap(), *path);
                            assert_eq!(
                                envcloak::config_or("ENVCLOAK_TEST_SURELY_UNSET_C9", round)
                                    .unwrap(),
                                round
                            );
                        }
                    }
                }
            });
        }
    });
}

#[test]
fn a_wrong_key_fails_closed_in_every_thread() {
    let (dir, _) = project(99);
    let wrong = Key::generate().to_base64().to_string();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..10 {
                    let err = Config::builder()
                        .dir(dir.path())
                        .environment([("ENVCLOAK_KEY", wrong.as_str())])
                        .build()
                        .unwrap_err();
                    assert!(matches!(err, Error::Decrypt { .. }), "{err}");
                }
            });
        }
    });
}

#[test]
fn the_crate_has_no_unsafe_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(
        lib.lines().any(|l| l.trim() == "#![forbid(unsafe_code)]"),
        "src/lib.rs must keep #![forbid(unsafe_code)]"
    );
    // The attribute covers the library; the binary is its own crate, so
    // every source file under src/ is also searched for the keyword.
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 5, "found only {files:?}");
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if has_unsafe_keyword(code) {
                found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "unsafe code in src/:\n{}",
        found.join("\n")
    );
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `unsafe` as a whole word (so `unsafe_code` in the attribute does not count).
fn has_unsafe_keyword(code: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices("unsafe").any(|(i, w)| {
        let before = code[..i].chars().next_back();
        let after = code[i + w.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[test]
fn the_keyword_search_finds_unsafe() {
    assert!(has_unsafe_keyword("unsafe { x }"));
    assert!(has_unsafe_keyword("pub unsafe fn f()"));
    assert!(has_unsafe_keyword("unsafe impl Send for X {}"));
    assert!(!has_unsafe_keyword("#![forbid(unsafe_code)]"));
    assert!(!has_unsafe_keyword("let not_unsafe = 1;"));
}
