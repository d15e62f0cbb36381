//! Resource limits: huge files, huge values, many keys, hostile `${...}`
//! expansion, and files that are not regular files (FIFOs, directories) —
//! through the library and through the binary.
//!
//! Every case runs in a child process under a watchdog and a memory cap, so
//! that a regression can neither hang the suite nor take the machine down:
//!
//! - the binary is started as `sh -c 'ulimit -v 4 GiB; exec envcloak ...'`;
//! - library cases run in this test binary itself, started again in the
//!   same way with `LIMITS_CASE=<case>` (the `library_case` test, ignored
//!   in a normal run, is the entry point);
//! - the watchdog kills a child that has not ended after 60 s, and the test
//!   fails saying it hung (or, with a signal, that it crashed — an
//!   allocation failure under the cap aborts).
//!
//! There are no timing assertions: elapsed times are printed (run with
//! `--nocapture` to see them). Generated files live in temporary
//! directories (the largest is 100 MB).

use std::ffi::OsStr;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use envcloak::crypto::{self, Key, Keyring};
use envcloak::{Config, Error};

const BIN: &str = env!("CARGO_BIN_EXE_envcloak");
/// A child that runs longer than this is killed and the test fails.
const WATCHDOG: Duration = Duration::from_secs(60);
/// Address-space cap of every child, in KiB (4 GiB).
const MEMORY_CAP_KIB: u64 = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Children under a watchdog
// ---------------------------------------------------------------------------

struct Outcome {
    label: String,
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
    timed_out: bool,
    limit: Duration,
}

impl Outcome {
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// What is wrong if the child hung, crashed or panicked.
    fn trouble(&self) -> Option<String> {
        if self.timed_out {
            return Some(format!(
                "{}: still running after {:?}, killed (a hang)\nstderr: {}",
                self.label, self.limit, self.stderr
            ));
        }
        if self.code().is_none() {
            return Some(format!(
                "{}: killed by a signal ({:?}) — a crash, or an allocation failure under the \
                 {} GiB cap\nstderr: {}",
                self.label,
                self.status,
                MEMORY_CAP_KIB >> 20,
                self.stderr
            ));
        }
        if self.stderr.contains("panicked") {
            return Some(format!("{}: panicked\nstderr: {}", self.label, self.stderr));
        }
        None
    }

    /// What is wrong unless the child ended with a non-zero code, naming
    /// `file`, with at most one `error:` line and no panic.
    fn refusal_trouble(&self, file: &str) -> Option<String> {
        if let Some(t) = self.trouble() {
            return Some(t);
        }
        let all = format!("{}{}", self.stdout(), self.stderr);
        if self.code() == Some(0) || !all.contains(file) {
            return Some(format!(
                "{}: expected a refusal naming {file}, got exit {:?}\nstdout: {}\nstderr: {}",
                self.label,
                self.code(),
                self.stdout(),
                self.stderr
            ));
        }
        if self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count()
            > 1
        {
            return Some(format!(
                "{}: more than one error line: {}",
                self.label, self.stderr
            ));
        }
        None
    }

    /// Fails the test if the child hung, crashed or panicked.
    fn assert_ended_cleanly(&self) {
        if let Some(t) = self.trouble() {
            panic!("{t}");
        }
    }

    /// Fails the test unless the child was refused cleanly, naming `file`.
    fn assert_refused(&self, file: &str) {
        if let Some(t) = self.refusal_trouble(file) {
            panic!("{t}");
        }
    }
}

/// Runs `program args` under the memory cap and a watchdog that kills it
/// after `limit`.
fn supervise(
    label: &str,
    limit: Duration,
    program: &Path,
    args: &[&OsStr],
    dir: &Path,
    env: &[(&str, &OsStr)],
) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_CAP_KIB} && exec \"$@\""))
        .arg("sh")
        .arg(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    // The watchdog: poll until the child ends or its time is up.
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let stdout = out_reader.join().unwrap();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    eprintln!(
        "{label}: exit {:?} in {elapsed:.2?}{}",
        status.and_then(|s| s.code()),
        if timed_out {
            " (KILLED by the watchdog)"
        } else {
            ""
        }
    );
    Outcome {
        label: label.to_owned(),
        status,
        stdout,
        stderr,
        elapsed,
        timed_out,
        limit,
    }
}

/// Runs the `envcloak` binary in `dir`.
fn envcloak(label: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    envcloak_within(WATCHDOG, label, dir, args, env)
}

/// Like [`envcloak`], with another watchdog limit.
fn envcloak_within(
    limit: Duration,
    label: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Outcome {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
    supervise(label, limit, Path::new(BIN), &args, dir, &env)
}

/// Runs library case `case` in a child copy of this test binary.
fn library(case: &str, dir: &Path, env: &[(&str, &str)]) -> Outcome {
    library_within(WATCHDOG, case, dir, env)
}

/// Like [`library`], with another watchdog limit.
fn library_within(limit: Duration, case: &str, dir: &Path, env: &[(&str, &str)]) -> Outcome {
    let exe = std::env::current_exe().unwrap();
    let args: Vec<&OsStr> = ["library_case", "--exact", "--ignored", "--nocapture"]
        .iter()
        .map(OsStr::new)
        .collect();
    let mut full: Vec<(&str, &OsStr)> = vec![
        ("LIMITS_CASE", OsStr::new(case)),
        ("LIMITS_DIR", dir.as_os_str()),
    ];
    full.extend(env.iter().map(|(k, v)| (*k, OsStr::new(v))));
    let out = supervise(&format!("library {case}"), limit, &exe, &args, dir, &full);
    for line in out.stderr.lines().filter(|l| l.starts_with("case:")) {
        eprintln!("  {line}");
    }
    out
}

/// What is wrong unless a library case ended with its own assertions passed.
fn library_trouble(out: &Outcome) -> Option<String> {
    if let Some(t) = out.trouble() {
        return Some(t);
    }
    if out.code() != Some(0) || !out.stdout().contains("1 passed") {
        return Some(format!(
            "{}: the case failed (exit {:?})\nstdout: {}\nstderr: {}",
            out.label,
            out.code(),
            out.stdout(),
            out.stderr
        ));
    }
    None
}

/// A library case must end with its own assertions passed.
fn assert_library_ok(out: &Outcome) {
    if let Some(t) = library_trouble(out) {
        panic!("{t}");
    }
}

fn project() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("envcloak-limits-")
        .tempdir()
        .unwrap()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

// ---------------------------------------------------------------------------
// Generated files
// ---------------------------------------------------------------------------

const BIG_LINES: usize = 1_000_000;

/// `K0000000=...`: 1,000,000 lines of exactly 100 bytes (100 MB); every
/// tenth value is double-quoted with an escape, the others plain.
fn write_big_dotenv(path: &Path) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for i in 0..BIG_LINES {
        let key = format!("K{i:07}=");
        let room = 100 - key.len() - 1;
        if i % 10 == 0 {
            // "q...q\nr...r": quotes (2) and the escape (2) included.
            let r = room - 2 - 40 - 2;
            write!(w, "{key}\"{}\\n{}\"", "q".repeat(40), "r".repeat(r)).unwrap();
        } else {
            write!(w, "{key}{}", "v".repeat(room)).unwrap();
        }
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
}

fn big_plain_value() -> String {
    "v".repeat(100 - 9 - 1)
}

fn big_quoted_value() -> String {
    format!("{}\n{}", "q".repeat(40), "r".repeat(100 - 9 - 1 - 44))
}

const TEN_MB: usize = 10 * 1000 * 1000;

fn write_ten_mb_line(path: &Path) {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "BEFORE=1").unwrap();
    writeln!(w, "BIG={}", "b".repeat(TEN_MB)).unwrap();
    writeln!(
        w,
        "QUOTED=\"{}\\n{}\"",
        "c".repeat(TEN_MB / 2),
        "d".repeat(TEN_MB / 2)
    )
    .unwrap();
    writeln!(w, "AFTER=2").unwrap();
    w.flush().unwrap();
}

const MANY_KEYS: usize = 1_000_000;

fn write_million_keys(path: &Path) {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..MANY_KEYS {
        writeln!(w, "KEY_{i}={i}").unwrap();
    }
    w.flush().unwrap();
}

fn linear_chain(lines: usize) -> String {
    let mut s = String::from("A0=x\n");
    for i in 1..lines {
        s.push_str(&format!("A{i}=${{A{}}}x\n", i - 1));
    }
    s
}

fn doubling_chain(lines: usize) -> String {
    let mut s = String::from("A0=x\n");
    for i in 1..lines {
        s.push_str(&format!("A{i}=${{A{0}}}${{A{0}}}\n", i - 1));
    }
    s
}

// ---------------------------------------------------------------------------
// Library cases, run in the child
// ---------------------------------------------------------------------------

/// Entry point of the library cases: does nothing unless started by
/// [`library`] with `LIMITS_CASE` set.
#[test]
#[ignore = "entry point of the library cases, started in a memory-capped child by the other tests"]
fn library_case() {
    let Ok(case) = std::env::var("LIMITS_CASE") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("LIMITS_DIR").unwrap());
    let started = Instant::now();
    let plain = || Config::builder().dir(&dir).process_env(false).build();
    let with_env = |vars: &[(&str, String)]| {
        Config::builder()
            .dir(&dir)
            .environment(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .build()
    };
    let report = |what: &str| eprintln!("case: {case}: {what} ({:.2?})", started.elapsed());
    match case.as_str() {
        "big" => {
            let cfg = plain().unwrap();
            report("loaded 100 MB");
            assert_eq!(cfg.get::<String>("K0999999").unwrap(), big_plain_value());
            assert_eq!(cfg.get::<String>("K0500000").unwrap(), big_quoted_value());
            assert_eq!(cfg.get::<String>("K0000001").unwrap(), big_plain_value());
            assert!(cfg.source_of("K0999999").is_some());
            report("looked up");
        }
        "ten_mb_line" => {
            let cfg = plain().unwrap();
            report("loaded");
            assert_eq!(cfg.get::<String>("BIG").unwrap().len(), TEN_MB);
            assert_eq!(cfg.get::<String>("QUOTED").unwrap().len(), TEN_MB + 1);
            assert_eq!(cfg.get::<u8>("AFTER").unwrap(), 2);
        }
        "ten_mb_line_encrypted" => {
            let key = std::fs::read_to_string(dir.join("key.txt")).unwrap();
            let cfg = with_env(&[("ENVCLOAK_KEY", key)]).unwrap();
            report("decrypted and loaded");
            assert_eq!(cfg.get::<String>("BIG").unwrap().len(), TEN_MB);
        }
        "million_keys" => {
            let cfg = plain().unwrap();
            report("loaded");
            assert_eq!(cfg.get::<u32>("KEY_999999").unwrap(), 999_999);
            assert_eq!(cfg.get::<u32>("KEY_0").unwrap(), 0);
            assert_eq!(cfg.keys().len(), MANY_KEYS);
            report("listed");
        }
        "linear_chain_short" => {
            let cfg = plain().unwrap();
            assert_eq!(cfg.get::<String>("A1999").unwrap(), "x".repeat(2000));
        }
        "linear_chain_long" => match plain() {
            Ok(cfg) => {
                assert_eq!(cfg.get::<String>("A99999").unwrap(), "x".repeat(100_000));
                report("loaded, all 100,000 values expanded (5 GB of copies)");
            }
            Err(e @ Error::Parse { .. }) => {
                assert_clear_expansion_error(&e, ".env");
                report(&format!("refused: {e}"));
            }
            Err(e) => panic!("neither loaded nor refused with a Parse error: {e:?}"),
        },
        "doubling" => {
            let e = plain().expect_err("2^40 bytes of expansion accepted");
            assert_clear_expansion_error(&e, ".env");
            report(&format!("refused: {e}"));
        }
        "doubling_encrypted" => {
            let key = std::fs::read_to_string(dir.join("key.txt")).unwrap();
            let e = with_env(&[("ENVCLOAK_KEY", key)]).expect_err("accepted");
            assert_clear_expansion_error(&e, ".env.enc");
            report(&format!("refused: {e}"));
        }
        "doubling_from_environment" => {
            // A 1 MiB environment variable expanded 100 times per line.
            let e = with_env(&[("BIG", "e".repeat(1 << 20))]).expect_err("accepted");
            assert_clear_expansion_error(&e, ".env");
            report(&format!("refused: {e}"));
        }
        "many_expansions_one_line" => match plain() {
            Ok(cfg) => {
                assert_eq!(cfg.get::<String>("B").unwrap().len(), 1024 * 100_000);
                report("loaded");
            }
            Err(e) => {
                assert_clear_expansion_error(&e, ".env");
                report(&format!("refused: {e}"));
            }
        },
        "nested" => match plain() {
            Ok(cfg) => report(&format!(
                "loaded; A is {} bytes",
                cfg.get::<String>("A").unwrap().len()
            )),
            Err(e @ Error::Parse { .. }) => report(&format!("refused: {e}")),
            Err(e) => panic!("{e:?}"),
        },
        "key_file_env" | "key_file_beside" | "key_file_builder" => {
            let target = dir.join(std::env::var("LIMITS_TARGET").unwrap());
            let result = match case.as_str() {
                "key_file_env" => with_env(&[("ENVCLOAK_KEY_FILE", target.display().to_string())]),
                "key_file_beside" => plain(),
                _ => Config::builder()
                    .dir(&dir)
                    .process_env(false)
                    .key_file(&target)
                    .build(),
            };
            let e = result.expect_err("a key file that is not a regular file was used");
            assert!(matches!(e, Error::Key { .. } | Error::Io { .. }), "{e:?}");
            assert!(
                e.to_string().contains(&*target.display().to_string()),
                "{e}"
            );
            report(&format!("refused: {e}"));
        }
        "not_regular" => {
            let name = std::env::var("LIMITS_TARGET").unwrap();
            let key = std::fs::read_to_string(dir.join("key.txt")).unwrap_or_default();
            let e = with_env(&[("ENVCLOAK_KEY", key)]).expect_err("built");
            assert!(matches!(e, Error::Io { .. } | Error::Parse { .. }), "{e:?}");
            assert!(e.to_string().contains(&name), "{e}");
            report(&format!("refused: {e}"));
        }
        "example_not_regular" => {
            let cfg = Config::builder()
                .dir(&dir)
                .process_env(false)
                .build()
                .unwrap();
            let e = envcloak::example::Example::load(dir.join(".env.example"))
                .map(|_| ())
                .expect_err("loaded");
            report(&format!("Example::load refused: {e}"));
            let e = cfg
                .check_against(dir.join(".env.example"))
                .expect_err("checked");
            report(&format!("check_against refused: {e}"));
        }
        "name_file_fifo" => {
            let path = dir.join("fifo").display().to_string();
            let cfg = with_env(&[("SECRET_FILE", path.clone())]).unwrap();
            let e = cfg.get::<String>("SECRET").expect_err("read a FIFO");
            assert!(e.to_string().contains(&path), "{e}");
            report(&format!("refused: {e}"));
        }
        "secrets_dir_fifo" => {
            let e = Config::builder()
                .dir(&dir)
                .process_env(false)
                .secrets_dir(dir.join("secrets"))
                .build()
                .expect_err("read a FIFO");
            report(&format!("refused: {e}"));
        }
        other => panic!("unknown case {other}"),
    }
}

/// A Parse error for `file` (by name), with a line, whose reason says it is
/// about expansion — and that never shows a value.
fn assert_clear_expansion_error(e: &Error, file: &str) {
    match e {
        Error::Parse { path, line, reason } => {
            assert!(path.ends_with(file), "{e:?}");
            assert!(*line > 0, "{e:?}");
            assert!(reason.to_lowercase().contains("expansion"), "{e}");
            assert!(e.to_string().len() < 200, "{e}");
        }
        other => panic!("expected a Parse error about expansion in {file}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Big inputs
// ---------------------------------------------------------------------------

#[test]
fn a_100_mb_dotenv_loads_and_get_works() {
    let dir = project();
    let started = Instant::now();
    write_big_dotenv(&dir.path().join(".env"));
    let size = std::fs::metadata(dir.path().join(".env")).unwrap().len();
    assert_eq!(size, 100 * BIG_LINES as u64);
    eprintln!("generated {size} bytes in {:.2?}", started.elapsed());
    assert_library_ok(&library("big", dir.path(), &[]));
    for key in ["K0999999", "K0500000"] {
        let out = envcloak(
            &format!("get {key} (100 MB)"),
            dir.path(),
            &["get", key],
            &[],
        );
        out.assert_ended_cleanly();
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        let want = if key == "K0500000" {
            big_quoted_value()
        } else {
            big_plain_value()
        };
        assert_eq!(out.stdout(), format!("{want}\n"));
        eprintln!("envcloak get {key}: {:.2?}", out.elapsed);
    }
}

#[test]
fn a_10_mb_value_loads_prints_and_encrypts() {
    let dir = project();
    write_ten_mb_line(&dir.path().join(".env"));
    assert_library_ok(&library("ten_mb_line", dir.path(), &[]));
    let out = envcloak("get BIG (10 MB)", dir.path(), &["get", "BIG"], &[]);
    out.assert_ended_cleanly();
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.len(), TEN_MB + 1);
    assert!(out.stdout[..TEN_MB].iter().all(|&b| b == b'b'));
    let out = envcloak("get QUOTED (10 MB)", dir.path(), &["get", "QUOTED"], &[]);
    assert_eq!(out.stdout.len(), TEN_MB + 2);
    // A single environment variable is limited by the kernel (128 KiB on
    // Linux): run refuses before starting the child, naming the key.
    let out = envcloak(
        "run with a 10 MB variable",
        dir.path(),
        &["run", "--", "sh", "-c", "echo ${#BIG}"],
        &[],
    );
    out.assert_ended_cleanly();
    eprintln!(
        "  run: exit {:?}, stderr: {}",
        out.code(),
        out.stderr.trim()
    );
    assert!(
        out.code() == Some(2)
            && out
                .stderr
                .starts_with("error: BIG: too large for an environment variable")
            && out.stdout.is_empty(),
        "run with a 10 MB value: exit {:?}, stdout {:?}, stderr {}",
        out.code(),
        out.stdout(),
        out.stderr
    );

    // Encrypted: encrypt, decrypt, get, library.
    let key = Key::generate().to_base64().to_string();
    std::fs::write(dir.path().join("key.txt"), &key).unwrap();
    let env = [("ENVCLOAK_KEY", key.as_str())];
    let out = envcloak("encrypt 10 MB", dir.path(), &["encrypt"], &env);
    out.assert_ended_cleanly();
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    std::fs::rename(dir.path().join(".env"), dir.path().join("plain.bak")).unwrap();
    let out = envcloak("decrypt 10 MB", dir.path(), &["decrypt"], &env);
    out.assert_ended_cleanly();
    assert_eq!(
        out.stdout,
        std::fs::read(dir.path().join("plain.bak")).unwrap()
    );
    let out = envcloak("get BIG from .env.enc", dir.path(), &["get", "BIG"], &env);
    assert_eq!(out.stdout.len(), TEN_MB + 1);
    assert_library_ok(&library("ten_mb_line_encrypted", dir.path(), &[]));
}

#[test]
fn a_million_keys_load_get_and_ls() {
    let dir = project();
    write_million_keys(&dir.path().join(".env"));
    assert_library_ok(&library("million_keys", dir.path(), &[]));
    let out = envcloak("get (1M keys)", dir.path(), &["get", "KEY_765432"], &[]);
    out.assert_ended_cleanly();
    assert_eq!(out.stdout(), "765432\n");
    let out = envcloak("ls (1M keys)", dir.path(), &["ls"], &[]);
    out.assert_ended_cleanly();
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout().lines().count(), MANY_KEYS);
}

// ---------------------------------------------------------------------------
// Expansion
// ---------------------------------------------------------------------------

#[test]
fn a_short_expansion_chain_still_works() {
    let dir = project();
    std::fs::write(dir.path().join(".env"), linear_chain(2000)).unwrap();
    assert_library_ok(&library("linear_chain_short", dir.path(), &[]));
    let out = envcloak("get A1999", dir.path(), &["get", "A1999"], &[]);
    out.assert_ended_cleanly();
    assert_eq!(out.stdout(), format!("{}\n", "x".repeat(2000)));
}

/// 100,000 lines `A{i}=${A{i-1}}x`: 1.6 MB of text whose values add up to
/// 5 GB. Either every value is right, or a clear Parse error — never an
/// exhausted memory or a hang.
#[test]
fn a_100k_line_expansion_chain_loads_or_is_refused_clearly() {
    let dir = project();
    std::fs::write(dir.path().join(".env"), linear_chain(100_000)).unwrap();
    assert_library_ok(&library("linear_chain_long", dir.path(), &[]));
    let out = envcloak("get A99999 (chain)", dir.path(), &["get", "A99999"], &[]);
    out.assert_ended_cleanly();
    match out.code() {
        Some(0) => assert_eq!(out.stdout().len(), 100_001),
        _ => {
            out.assert_refused(".env:");
            assert!(out.stderr.contains("expansion"), "{}", out.stderr);
        }
    }
}

/// `A{i}=${A{i-1}}${A{i-1}}` for 40 lines would be 2^40 bytes: refused with
/// a Parse error, from `.env`, from `.env.enc`, and from the environment.
#[test]
fn a_doubling_expansion_chain_is_refused_with_a_parse_error() {
    let dir = project();
    std::fs::write(dir.path().join(".env"), doubling_chain(40)).unwrap();
    assert_library_ok(&library("doubling", dir.path(), &[]));
    for args in [
        &["get", "A39"][..],
        &["ls"][..],
        &["run", "--", "sh", "-c", "echo RAN"][..],
        &["encrypt"][..],
    ] {
        let out = envcloak(
            &format!("{} (doubling)", args[0]),
            dir.path(),
            args,
            &[("ENVCLOAK_KEY", Key::generate().to_base64().as_str())],
        );
        out.assert_refused(".env:");
        assert!(out.stderr.contains("expansion"), "{}", out.stderr);
        assert!(!out.stdout().contains("RAN"));
    }
    let out = envcloak("check (doubling)", dir.path(), &["check"], &[]);
    out.assert_ended_cleanly();

    // The same text encrypted.
    let dir = project();
    let key = Key::generate();
    let ring = Keyring::from(key.clone());
    std::fs::write(
        dir.path().join(".env.enc"),
        crypto::encrypt(&ring, doubling_chain(40).as_bytes()),
    )
    .unwrap();
    std::fs::write(dir.path().join("key.txt"), key.to_base64().as_str()).unwrap();
    assert_library_ok(&library("doubling_encrypted", dir.path(), &[]));
    let env = [("ENVCLOAK_KEY", key.to_base64().to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for args in [&["get", "A39"][..], &["decrypt", "--format", "json"][..]] {
        let out = envcloak(
            &format!("{} (doubling, .env.enc)", args[0]),
            dir.path(),
            args,
            &env,
        );
        out.assert_refused(".env.enc:");
    }

    // A large environment variable expanded many times.
    let dir = project();
    let line = format!("A={}\n", "${BIG}".repeat(100));
    std::fs::write(dir.path().join(".env"), line.repeat(10)).unwrap();
    assert_library_ok(&library("doubling_from_environment", dir.path(), &[]));
}

/// One line with 100,000 expansions of a 1 KiB value (100 MB), and one
/// with `${` nested 100,000 deep.
#[test]
fn many_or_deeply_nested_expansions_in_one_line_end_cleanly() {
    let dir = project();
    let text = format!("A={}\nB={}\n", "a".repeat(1024), "$A".repeat(100_000));
    std::fs::write(dir.path().join(".env"), text).unwrap();
    assert_library_ok(&library("many_expansions_one_line", dir.path(), &[]));
    let out = envcloak("get B (100k expansions)", dir.path(), &["get", "B"], &[]);
    out.assert_ended_cleanly();

    let dir = project();
    let text = format!(
        "X=1\nA={}X{}\nB=\"{}\"\n",
        "${".repeat(100_000),
        "}".repeat(100_000),
        "${X}".repeat(100_000)
    );
    std::fs::write(dir.path().join(".env"), text).unwrap();
    assert_library_ok(&library("nested", dir.path(), &[]));
    let out = envcloak("get A (nested)", dir.path(), &["get", "A"], &[]);
    out.assert_ended_cleanly();
}

// ---------------------------------------------------------------------------
// Files that are not regular files
// ---------------------------------------------------------------------------

/// Makes `path` a FIFO or a directory.
fn make_special(path: &Path, fifo: bool) {
    if fifo {
        mkfifo(path);
    } else {
        std::fs::create_dir(path).unwrap();
    }
}

fn kind(fifo: bool) -> &'static str {
    if fifo { "FIFO" } else { "directory" }
}

/// A project with `.env` and a `.env.enc` that `key` opens.
fn project_with_enc(key: &str) -> tempfile::TempDir {
    let dir = project();
    std::fs::write(dir.path().join(".env"), "A=1\n").unwrap();
    let ring = Keyring::parse(key).unwrap();
    std::fs::write(
        dir.path().join(".env.enc"),
        crypto::encrypt(&ring, b"B=2\nSECRET=enc\n"),
    )
    .unwrap();
    dir
}

/// Commands that must look for a key.
const KEY_COMMANDS: [&[&str]; 7] = [
    &["decrypt"],
    &["get", "B"],
    &["ls"],
    &["run", "--", "sh", "-c", "echo RAN"],
    &["set", "C", "3"],
    &["rotate"],
    &["encrypt"],
];

#[test]
fn a_key_file_that_is_a_fifo_or_a_directory_is_refused_without_hanging() {
    let mut troubles = Vec::new();
    for fifo in [true, false] {
        let key = Key::generate().to_base64().to_string();

        // ENVCLOAK_KEY_FILE, --key-file and the builder's key_file.
        let dir = project_with_enc(&key);
        make_special(&dir.path().join("special.key"), fifo);
        let target = dir.path().join("special.key").display().to_string();
        for case in ["key_file_env", "key_file_builder"] {
            let out = library_within(QUICK, case, dir.path(), &[("LIMITS_TARGET", "special.key")]);
            troubles.extend(library_trouble(&out));
        }
        for args in KEY_COMMANDS {
            let out = envcloak_within(
                QUICK,
                &format!("{} with ENVCLOAK_KEY_FILE a {}", args[0], kind(fifo)),
                dir.path(),
                args,
                &[("ENVCLOAK_KEY_FILE", &target)],
            );
            troubles.extend(out.refusal_trouble("special.key"));
            let mut full = vec!["--key-file", target.as_str()];
            full.extend_from_slice(args);
            let out = envcloak_within(
                QUICK,
                &format!("{} --key-file a {}", args[0], kind(fifo)),
                dir.path(),
                &full,
                &[],
            );
            troubles.extend(out.refusal_trouble("special.key"));
        }

        // .env.key beside .env.enc.
        let dir = project_with_enc(&key);
        make_special(&dir.path().join(".env.key"), fifo);
        let out = library_within(
            QUICK,
            "key_file_beside",
            dir.path(),
            &[("LIMITS_TARGET", ".env.key")],
        );
        troubles.extend(library_trouble(&out));
        for args in KEY_COMMANDS.iter().chain(&[&["keygen", "--write"][..]]) {
            let out = envcloak_within(
                QUICK,
                &format!("{} with .env.key a {}", args[0], kind(fifo)),
                dir.path(),
                args,
                &[],
            );
            troubles.extend(out.refusal_trouble(".env.key"));
        }
    }
    assert!(
        troubles.is_empty(),
        "{} problem(s):\n{}",
        troubles.len(),
        troubles.join("\n")
    );
}

/// A refusal of a file that is not a regular file takes no time; a hang
/// is killed after this.
const QUICK: Duration = Duration::from_secs(10);

/// A fresh project in which `name` is a FIFO or a directory, with
/// `key.txt` holding the key of its `.env.enc`.
fn special_project(name: &str, fifo: bool) -> (tempfile::TempDir, String) {
    let key = Key::generate().to_base64().to_string();
    let dir = project_with_enc(&key);
    std::fs::write(dir.path().join(".env.example"), "A=\nB=\n").unwrap();
    std::fs::write(dir.path().join("key.txt"), &key).unwrap();
    let path = dir.path().join(name);
    if path.exists() {
        std::fs::remove_file(&path).unwrap();
    }
    make_special(&path, fifo);
    (dir, key)
}

/// Every command that reads `name`, with `name` a FIFO or a directory: a
/// clear error naming it, no hang; the library too. Each command runs in
/// its own project, all at once, so that hangs cost one watchdog period.
fn special_file_case(name: &str, fifo: bool, commands: &[&[&str]]) {
    let mut troubles = Vec::new();
    let (dir, _) = special_project(name, fifo);
    let out = if name == ".env.example" {
        library_within(QUICK, "example_not_regular", dir.path(), &[])
    } else {
        library_within(QUICK, "not_regular", dir.path(), &[("LIMITS_TARGET", name)])
    };
    troubles.extend(library_trouble(&out));
    let results: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = commands
            .iter()
            .map(|args| {
                s.spawn(move || {
                    let (dir, key) = special_project(name, fifo);
                    let out = envcloak_within(
                        QUICK,
                        &format!("{} with {name} a {}", args.join(" "), kind(fifo)),
                        dir.path(),
                        args,
                        &[("ENVCLOAK_KEY", &key), ("EDITOR", "true")],
                    );
                    if out.stdout().contains("RAN") {
                        return Some(format!("{}: the child ran", out.label));
                    }
                    out.refusal_trouble(name)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    troubles.extend(results.into_iter().flatten());
    assert!(
        troubles.is_empty(),
        "with {name} a {}: {} problem(s):\n{}",
        kind(fifo),
        troubles.len(),
        troubles.join("\n")
    );
}

#[test]
fn a_dotenv_that_is_a_fifo_is_refused_without_hanging() {
    special_file_case(
        ".env",
        true,
        &[
            &["get", "A"],
            &["ls"],
            &["run", "--", "sh", "-c", "echo RAN"],
            &["check"],
            &["encrypt"],
        ],
    );
}

#[test]
fn a_dotenv_that_is_a_directory_is_refused() {
    special_file_case(
        ".env",
        false,
        &[
            &["get", "A"],
            &["ls"],
            &["run", "--", "sh", "-c", "echo RAN"],
            &["check"],
            &["encrypt"],
        ],
    );
}

const ENC_COMMANDS: [&[&str]; 11] = [
    &["decrypt"],
    &["get", "A"],
    &["ls"],
    &["run", "--", "sh", "-c", "echo RAN"],
    &["set", "C", "3"],
    &["unset", "A"],
    &["edit"],
    &["rotate"],
    &["check"],
    &["encrypt"],
    &["init", "--encrypt", "--force"],
];

#[test]
fn an_encrypted_file_that_is_a_directory_is_refused() {
    special_file_case(".env.enc", false, &ENC_COMMANDS);
}

#[test]
fn an_encrypted_file_that_is_a_fifo_is_refused_without_hanging() {
    special_file_case(".env.enc", true, &ENC_COMMANDS);
}

#[test]
fn an_example_that_is_a_fifo_or_a_directory_is_refused_without_hanging() {
    for fifo in [false, true] {
        special_file_case(
            ".env.example",
            fifo,
            &[
                &["check"],
                &["check", "--format", "json"],
                &["init", "--force"],
            ],
        );
    }
}

#[test]
fn name_file_and_secrets_dir_fifos_are_refused_without_hanging() {
    let dir = project();
    mkfifo(&dir.path().join("fifo"));
    assert_library_ok(&library("name_file_fifo", dir.path(), &[]));
    let fifo = dir.path().join("fifo").display().to_string();
    let out = envcloak(
        "get with SECRET_FILE a FIFO",
        dir.path(),
        &["get", "SECRET"],
        &[("SECRET_FILE", &fifo)],
    );
    out.assert_refused("fifo");
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    mkfifo(&dir.path().join("secrets").join("TOKEN"));
    assert_library_ok(&library("secrets_dir_fifo", dir.path(), &[]));
}
