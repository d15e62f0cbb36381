//! Crash safety of every command that writes: `encrypt`, `set`,
//! `rotate --write` and `init --force`, each run through the real binary on
//! a multi-megabyte file and killed with SIGKILL (`Child::kill`) at a random
//! moment, many times over.
//!
//! The contract (DESIGN §3, README "All writes are atomic"): an interrupted
//! command leaves the old file whole. After every kill this test checks:
//!
//! - the target file is byte for byte the old version, or a complete new
//!   version (`.env.enc` decrypts to the expected new plaintext; `.env` is
//!   the whole `init` output);
//! - for `rotate --write`, `.env.key` and `.env.enc` are never inconsistent:
//!   the key file present (old or new) opens the `.env.enc` present (the key
//!   is written first);
//! - no `.envcloak-tmp-*` leftover holds a secret: plaintext (a canary of the
//!   `.env`) or a key that opens the `.env.enc` present. Leftovers themselves
//!   are allowed after SIGKILL (no cleanup can run); what they hold is not.
//!   Every leftover seen is classified and counted in the output;
//! - the system temporary directory (TMPDIR, a directory of the test) holds
//!   no plaintext.
//!
//! Half of the kills use a delay drawn uniformly within 1.2 × a calibrated
//! full run; the other half wait until a temporary file appears in the
//! project directory and then kill within the rest of the run, so that many
//! land mid-write (between create, write, fsync and rename).
//!
//! The random seed is printed; `ENVCLOAK_CRASH_SEED=<n>` replays one run's
//! delays (timing still varies).

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use envcloak::crypto::{self, Key, Keyring};
use envcloak::dotenv;
use envcloak::example::{Example, init_text};

const BIN: &str = env!("CARGO_BIN_EXE_envcloak");
/// In the first, a middle and the last entry of every plaintext `.env`.
const CANARY: &str = "CANARY_crash_5e1d9b";
/// Approximate size of each large file (the `.env`; its token is 4/3 of
/// that). Half a megabyte keeps the test near a minute on two shared cores
/// with an unoptimized binary: a full `set` decrypts, parses twice and
/// encrypts, and the writes (several hundred kilobytes, fsync, rename) take
/// milliseconds on ext4. `ENVCLOAK_CRASH_SIZE=<bytes>` runs it larger
/// (4 MiB was run by hand when the test was written).
const SIZE: usize = 512 * 1024;
/// Kills per command: runs go on until this many were killed (not
/// finished first), up to `MAX_RUNS`.
const KILLS: usize = 50;
const MAX_RUNS: usize = 3 * KILLS;
const TMP_PREFIX: &str = ".envcloak-tmp-";

// ---------------------------------------------------------------------------
// Randomness (no dependency): xorshift64*
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn duration_below(&mut self, d: Duration) -> Duration {
        Duration::from_nanos(self.below(d.as_nanos() as u64 + 1))
    }
    fn word(&mut self, len: usize) -> String {
        const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| ALPHA[self.below(ALPHA.len() as u64) as usize] as char)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Large files
// ---------------------------------------------------------------------------

/// A dotenv text of about `size` bytes in many styles (bare, single- and
/// double-quoted, escaped newlines, comments, `export`), with the canary in
/// the first, a middle and the last entry.
fn size() -> usize {
    std::env::var("ENVCLOAK_CRASH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SIZE)
}

fn big_dotenv(rng: &mut Rng, size: usize) -> String {
    let mut out = format!("SECRET_FIRST={CANARY}_first\n");
    let mut i = 0usize;
    let mut middle_done = false;
    while out.len() < size {
        i += 1;
        if i.is_multiple_of(50) {
            out.push_str(&format!("# section {i}\n"));
        }
        if !middle_done && out.len() > size / 2 {
            out.push_str(&format!("export SECRET_MIDDLE='{CANARY} middle'\n"));
            middle_done = true;
        }
        let len = 20 + rng.below(200) as usize;
        let w = rng.word(len);
        let value = match rng.below(5) {
            0 => w,
            1 => format!("{} {}", w, rng.word(8)),
            2 => format!("it's {w}"),
            3 => format!("line one {w}\nline two $HOME \"q\""),
            _ => format!("#{w} \\ {w}"),
        };
        out.push_str(&format!("KEY_{i:07}={}\n", dotenv::quote(&value)));
    }
    out.push_str(&format!("SECRET_LAST=\"{CANARY}\\nlast\"\n"));
    out
}

/// A `.env.example` of about `size` bytes: one generated key and a few
/// hundred keys with long values (`Example::parse` is quadratic in the
/// number of keys, so size comes from the values). No canary: examples are
/// committed.
fn big_example(rng: &mut Rng, size: usize) -> String {
    let mut out =
        String::from("# The signing secret.\n# @required\n# @generate hex:16\nGEN_SECRET=\n\n");
    let mut i = 0usize;
    while out.len() < size {
        i += 1;
        out.push_str(&format!(
            "# Example value {i}.\n# @optional\nEX_{i:05}={}\n",
            rng.word(8000)
        ));
    }
    out
}

// ---------------------------------------------------------------------------
// The lab: a project directory, HOME and TMPDIR, all inside one temp dir
// ---------------------------------------------------------------------------

struct Lab {
    _root: tempfile::TempDir,
    proj: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    stderr: PathBuf,
}

impl Lab {
    fn new(name: &str) -> Lab {
        // Under the system temp dir (not target/, whose parents hold the
        // crate's `.git`, which project-root discovery would find).
        let root = tempfile::Builder::new()
            .prefix(&format!("envcloak-crash-{name}-"))
            .tempdir()
            .expect("temp dir");
        let proj = root.path().join("proj");
        let home = root.path().join("home");
        let tmp = root.path().join("tmp");
        for d in [&proj, &home, &tmp] {
            std::fs::create_dir(d).unwrap();
        }
        let stderr = root.path().join("stderr.txt");
        Lab {
            proj,
            home,
            tmp,
            stderr,
            _root: root,
        }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.proj.join(name)
    }

    fn read(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.p(name)).ok()
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.p(name), contents).unwrap();
    }

    fn write_private(&self, name: &str, contents: impl AsRef<[u8]>) {
        use std::os::unix::fs::PermissionsExt;
        self.write(name, contents);
        std::fs::set_permissions(self.p(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The binary with an empty environment but PATH, HOME, TMPDIR and `env`.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(&self.proj)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.stderr).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    fn temp_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.proj)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(TMP_PREFIX))
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    }

    fn has_temp_file(&self) -> bool {
        std::fs::read_dir(&self.proj)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(TMP_PREFIX))
            })
            .unwrap_or(false)
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Running and killing
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Plan {
    /// Kill this long after the process started.
    After(Duration),
    /// Kill this long after a temporary file first appears in the project
    /// directory (or never, if the process ends first).
    AfterTemp(Duration),
}

#[derive(Debug)]
enum Shot {
    /// Killed by SIGKILL.
    Killed,
    /// Exited on its own before the kill, successfully.
    Completed,
    /// Exited on its own with a failure (a product bug here).
    Failed(String),
}

fn wait_killed(mut child: Child, lab: &Lab) -> Shot {
    let _ = child.kill();
    let status = child.wait().expect("wait");
    if status.signal() == Some(9) {
        Shot::Killed
    } else if status.success() {
        Shot::Completed
    } else {
        Shot::Failed(format!("{status}: {}", lab.stderr_text().trim()))
    }
}

fn shoot(lab: &Lab, mut cmd: Command, plan: Plan) -> Shot {
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn envcloak");
    let deadline = start + Duration::from_secs(30);
    match plan {
        Plan::After(d) => {
            // Sleep in short steps so that a process that ends early is
            // noticed (and its exit code checked) without waiting.
            let until = start + d;
            loop {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                if child.try_wait().expect("try_wait").is_some() {
                    break;
                }
                std::thread::sleep((until - now).min(Duration::from_micros(500)));
            }
        }
        Plan::AfterTemp(d) => loop {
            if child.try_wait().expect("try_wait").is_some() || Instant::now() > deadline {
                break;
            }
            if lab.has_temp_file() {
                std::thread::sleep(d);
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        },
    }
    wait_killed(child, lab)
}

/// Runs `cmd` to the end; returns its duration and when a temp file was
/// first seen.
fn calibrate(lab: &Lab, mut cmd: Command) -> (Duration, Option<Duration>) {
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn envcloak");
    let mut first_temp = None;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(
                status.success(),
                "calibration run failed: {}",
                lab.stderr_text()
            );
            break;
        }
        if first_temp.is_none() && lab.has_temp_file() {
            first_temp = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    (start.elapsed(), first_temp)
}

// ---------------------------------------------------------------------------
// Bookkeeping
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    name: String,
    killed: usize,
    completed: usize,
    outcomes: BTreeMap<String, usize>,
    leftovers: BTreeMap<String, usize>,
    violations: Vec<String>,
    /// Time spent running (and killing) the command, and in the rest.
    running: Duration,
    started: Option<Instant>,
    total: Duration,
}

impl Tally {
    fn new(name: &str) -> Tally {
        Tally {
            name: name.into(),
            started: Some(Instant::now()),
            ..Tally::default()
        }
    }

    fn outcome(&mut self, what: impl Into<String>) {
        *self.outcomes.entry(what.into()).or_default() += 1;
    }

    fn violation(&mut self, i: usize, plan: Plan, what: impl Into<String>) {
        self.violations
            .push(format!("{} #{i} ({plan:?}): {}", self.name, what.into()));
    }

    fn shot(&mut self, i: usize, plan: Plan, shot: &Shot, took: Duration) {
        self.running += took;
        match shot {
            Shot::Killed => self.killed += 1,
            Shot::Completed => self.completed += 1,
            Shot::Failed(why) => self.violation(i, plan, format!("the command failed: {why}")),
        }
    }

    /// Stops the clock of the scenario.
    fn done(mut self) -> Tally {
        self.total = self.started.map(|s| s.elapsed()).unwrap_or_default();
        self
    }

    fn report(&self) {
        eprintln!(
            "{}: {} killed, {} completed before the kill; outcomes {:?}; temp leftovers {:?}; {} violation(s); {:.1?} in all, {:.1?} of it running the command",
            self.name,
            self.killed,
            self.completed,
            self.outcomes,
            self.leftovers,
            self.violations.len(),
            self.total,
            self.running,
        );
    }
}

/// Classifies (and removes) every `.envcloak-tmp-*` left in the project
/// directory, and looks for plaintext in TMPDIR. A leftover holding the
/// canary is a violation; so is one holding a key that opens `enc` (the
/// encrypted file present) unless it is as protected as `.env.key`.
fn inspect_leftovers(lab: &Lab, t: &mut Tally, i: usize, plan: Plan, enc: Option<&[u8]>) {
    for path in lab.temp_files() {
        let bytes = std::fs::read(&path).unwrap_or_default();
        let mut kind = classify(&bytes, enc);
        // A leftover of `rotate --write` holds what `.env.key` beside it
        // holds. It is acceptable only as protected as `.env.key` itself:
        // mode 0600 and ignored by git (the next write sweeps it later).
        if kind == "SECRET: a key that opens the .env.enc present" {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            let gitignore = std::fs::read_to_string(path.parent().unwrap().join(".gitignore"))
                .unwrap_or_default();
            if mode == 0o600 && gitignore.lines().any(|l| l.trim() == ".envcloak-tmp-*") {
                kind = "key material, as protected as .env.key (0600, gitignored)".into();
            }
        }
        if kind.starts_with("SECRET") {
            t.violation(
                i,
                plan,
                format!(
                    "{} ({} bytes) left behind holds {kind}",
                    path.file_name().unwrap().to_string_lossy(),
                    bytes.len()
                ),
            );
        }
        *t.leftovers.entry(kind).or_default() += 1;
        std::fs::remove_file(&path).unwrap();
    }
    let mut in_tmp = Vec::new();
    files_under(&lab.tmp, &mut in_tmp);
    for f in in_tmp {
        let bytes = std::fs::read(&f).unwrap_or_default();
        *t.leftovers.entry("file in TMPDIR".to_owned()).or_default() += 1;
        if contains(&bytes, CANARY.as_bytes()) {
            t.violation(
                i,
                plan,
                format!("{} in TMPDIR holds plaintext", f.display()),
            );
        }
        let _ = std::fs::remove_file(&f);
    }
}

fn classify(bytes: &[u8], enc: Option<&[u8]>) -> String {
    if bytes.is_empty() {
        return "empty".into();
    }
    if contains(bytes, CANARY.as_bytes()) {
        return "SECRET: plaintext of the .env (canary)".into();
    }
    let text = String::from_utf8_lossy(bytes);
    // Any complete key in it (a keyring may be cut short).
    let keys: Vec<Key> = text
        .split(',')
        .filter_map(|item| Key::parse(item).ok())
        .collect();
    if !keys.is_empty() {
        let opens = enc.is_some_and(|enc| {
            crypto::decrypt(&Keyring::new(keys.clone()).unwrap(), enc, None).is_ok()
        });
        return if opens {
            "SECRET: a key that opens the .env.enc present".into()
        } else {
            "keys that open nothing present".into()
        };
    }
    if text.starts_with("gAAAAA") {
        return "ciphertext (a fernet token)".into();
    }
    if text.contains("GEN_SECRET=") || text.contains("EX_0") {
        return "the new .env being written by init (never installed)".into();
    }
    format!("other ({} bytes)", bytes.len())
}

fn plan_for(rng: &mut Rng, i: usize, full: Duration, first_temp: Option<Duration>) -> Plan {
    match first_temp {
        Some(t) if i % 2 == 1 => {
            let rest = full.saturating_sub(t).mul_f64(1.2);
            Plan::AfterTemp(rng.duration_below(rest))
        }
        _ => Plan::After(rng.duration_below(full.mul_f64(1.2))),
    }
}

fn seed() -> u64 {
    std::env::var("ENVCLOAK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

fn decrypts_to(ring: &Keyring, enc: &[u8], expected: &str) -> Result<(), String> {
    match crypto::decrypt(ring, enc, None) {
        Ok(pt) if pt[..] == *expected.as_bytes() => Ok(()),
        Ok(pt) => Err(format!(
            "decrypts, but to {} bytes that are not the expected {} bytes",
            pt.len(),
            expected.len()
        )),
        Err(e) => Err(format!("does not decrypt ({e}); {} bytes", enc.len())),
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// `encrypt`: `.env` -> `.env.enc` with `ENVCLOAK_KEY`. Before each run
/// `.env.enc` is reset to a token of another plaintext.
fn scenario_encrypt(rng: &mut Rng) -> Tally {
    let mut t = Tally::new("encrypt");
    let lab = Lab::new("encrypt");
    let key = Key::generate();
    let ring = Keyring::from(key.clone());
    let key_b64 = key.to_base64();
    let env = [("ENVCLOAK_KEY", key_b64.as_str())];
    let new_plain = big_dotenv(rng, size());
    let old_plain = dotenv::set_entry(&new_plain, "VERSION", "old").unwrap();
    let old_enc = format!("{}\n", crypto::encrypt(&ring, old_plain.as_bytes())).into_bytes();
    lab.write(".env", &new_plain);
    lab.write(".env.enc", &old_enc);

    let (full, first_temp) = calibrate(&lab, lab.command(&["encrypt", "--prune"], &env));
    eprintln!("encrypt: a full run takes {full:?}, first temp file at {first_temp:?}");
    decrypts_to(&ring, &lab.read(".env.enc").unwrap(), &new_plain).expect("calibration output");

    for i in 0..MAX_RUNS {
        if t.killed >= KILLS {
            break;
        }
        lab.write(".env.enc", &old_enc);
        let plan = plan_for(rng, i, full, first_temp);
        let run = Instant::now();
        let shot = shoot(&lab, lab.command(&["encrypt", "--prune"], &env), plan);
        t.shot(i, plan, &shot, run.elapsed());
        let now = lab.read(".env.enc");
        match &now {
            None => t.violation(i, plan, ".env.enc is gone"),
            Some(b) if *b == old_enc => t.outcome("old"),
            Some(b) => match decrypts_to(&ring, b, &new_plain) {
                Ok(()) => t.outcome("new"),
                Err(e) => t.violation(i, plan, format!(".env.enc torn: {e}")),
            },
        }
        if lab.read(".env").as_deref() != Some(new_plain.as_bytes()) {
            t.violation(i, plan, ".env was changed");
        }
        inspect_leftovers(&lab, &mut t, i, plan, now.as_deref());
    }
    t.done()
}

/// `set KEY VALUE` on a large `.env.enc`, reset before each run.
fn scenario_set(rng: &mut Rng) -> Tally {
    let mut t = Tally::new("set");
    let lab = Lab::new("set");
    let key = Key::generate();
    let ring = Keyring::from(key.clone());
    let key_b64 = key.to_base64();
    let env = [("ENVCLOAK_KEY", key_b64.as_str())];
    let old_plain = big_dotenv(rng, size());
    let new_value = "new value with 'quotes' and $signs # and more";
    let new_plain = dotenv::set_entry(&old_plain, "KEY_0000100", new_value).unwrap();
    assert_ne!(old_plain, new_plain);
    let old_enc = format!("{}\n", crypto::encrypt(&ring, old_plain.as_bytes())).into_bytes();
    lab.write(".env.enc", &old_enc);
    let args = ["set", "KEY_0000100", new_value];

    let (full, first_temp) = calibrate(&lab, lab.command(&args, &env));
    eprintln!("set: a full run takes {full:?}, first temp file at {first_temp:?}");
    decrypts_to(&ring, &lab.read(".env.enc").unwrap(), &new_plain).expect("calibration output");

    for i in 0..MAX_RUNS {
        if t.killed >= KILLS {
            break;
        }
        lab.write(".env.enc", &old_enc);
        let plan = plan_for(rng, i, full, first_temp);
        let run = Instant::now();
        let shot = shoot(&lab, lab.command(&args, &env), plan);
        t.shot(i, plan, &shot, run.elapsed());
        let now = lab.read(".env.enc");
        match &now {
            None => t.violation(i, plan, ".env.enc is gone"),
            Some(b) if *b == old_enc => t.outcome("old"),
            Some(b) => match decrypts_to(&ring, b, &new_plain) {
                Ok(()) => t.outcome("new"),
                Err(e) => t.violation(i, plan, format!(".env.enc torn: {e}")),
            },
        }
        inspect_leftovers(&lab, &mut t, i, plan, now.as_deref());
    }
    t.done()
}

/// `rotate --write` with the key in `.env.key`, run again and again: the
/// keyring grows by one key per completed key write.
fn scenario_rotate(rng: &mut Rng) -> Tally {
    let mut t = Tally::new("rotate --write");
    let lab = Lab::new("rotate");
    let plain = big_dotenv(rng, size());
    let first = Keyring::from(Key::generate());
    let reset = |lab: &Lab| {
        lab.write_private(".env.key", format!("{}\n", first.to_base64().as_str()));
        lab.write(
            ".env.enc",
            format!("{}\n", crypto::encrypt(&first, plain.as_bytes())),
        );
    };
    reset(&lab);
    let args = ["rotate", "--write"];

    let (full, first_temp) = calibrate(&lab, lab.command(&args, &[]));
    eprintln!("rotate --write: a full run takes {full:?}, first temp file at {first_temp:?}");
    let ring = Keyring::parse(std::str::from_utf8(&lab.read(".env.key").unwrap()).unwrap())
        .expect("calibration output");
    decrypts_to(
        &Keyring::from(ring.first().clone()),
        &lab.read(".env.enc").unwrap(),
        &plain,
    )
    .expect("calibration output");

    for i in 0..MAX_RUNS {
        if t.killed >= KILLS {
            break;
        }
        let old_key = lab.read(".env.key").unwrap();
        let old_enc = lab.read(".env.enc").unwrap();
        let old_ring = Keyring::parse(std::str::from_utf8(&old_key).unwrap()).unwrap();
        let plan = plan_for(rng, i, full, first_temp);
        let run = Instant::now();
        let shot = shoot(&lab, lab.command(&args, &[]), plan);
        t.shot(i, plan, &shot, run.elapsed());

        let (Some(key_now), Some(enc_now)) = (lab.read(".env.key"), lab.read(".env.enc")) else {
            t.violation(i, plan, ".env.key or .env.enc is gone");
            reset(&lab);
            continue;
        };
        let ring_now = std::str::from_utf8(&key_now)
            .ok()
            .and_then(|s| Keyring::parse(s).ok());
        let key_state = match &ring_now {
            _ if key_now == old_key => "old",
            Some(r) if r.len() == old_ring.len() + 1 && r.keys()[1..] == *old_ring.keys() => "new",
            _ => {
                t.violation(
                    i,
                    plan,
                    format!(
                        ".env.key torn: {} bytes, neither the old keyring nor new,old",
                        key_now.len()
                    ),
                );
                "torn"
            }
        };
        // The pair must be consistent: the key file present opens the file
        // present. An unchanged file was opened by the old keyring in the
        // previous round (or at the start), and every keyring that passes
        // the check above holds the old keys; a changed file must open with
        // the first key of the keyring present, to the same plaintext.
        let enc_state = if enc_now == old_enc {
            "old"
        } else {
            let first = ring_now.as_ref().map(|r| Keyring::from(r.first().clone()));
            match first.map(|r| decrypts_to(&r, &enc_now, &plain)) {
                Some(Ok(())) => "new",
                other => {
                    let with_old = decrypts_to(&old_ring, &enc_now, &plain);
                    t.violation(
                        i,
                        plan,
                        format!(
                            "inconsistent pair (key {key_state}): .env.enc changed and the first key of .env.key does not open it ({other:?}); with the old keyring: {with_old:?}"
                        ),
                    );
                    "torn"
                }
            }
        };
        t.outcome(format!("key {key_state}, file {enc_state}"));
        inspect_leftovers(&lab, &mut t, i, plan, Some(&enc_now));
        if key_state == "torn" || enc_state == "torn" {
            reset(&lab);
        }
    }
    t.done()
}

/// `init --force` over a large `.env` from a large `.env.example`; `.env` is
/// reset and backups removed before each run.
fn scenario_init(rng: &mut Rng) -> Tally {
    let mut t = Tally::new("init --force");
    let lab = Lab::new("init");
    let old_env = big_dotenv(rng, size());
    let example = big_example(rng, size());
    lab.write(".env.example", &example);
    lab.write_private(".env", &old_env);
    // The expected output, with the generated value normalised.
    let parsed = Example::parse(lab.p(".env.example"), example.clone()).unwrap();
    let template = init_text(&parsed).unwrap();
    let normalise = |text: &str| dotenv::set_entry(text, "GEN_SECRET", "x").ok();
    let expected = normalise(&template.text).unwrap();
    let args = ["init", "--force"];

    let (full, first_temp) = calibrate(&lab, lab.command(&args, &[]));
    eprintln!("init --force: a full run takes {full:?}, first temp file at {first_temp:?}");

    let backups = |lab: &Lab| -> Vec<PathBuf> {
        std::fs::read_dir(&lab.proj)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".env.backup-"))
            .map(|e| e.path())
            .collect()
    };
    let is_new = |text: &[u8]| -> Result<(), String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_owned())?;
        let entries = dotenv::parse(text).map_err(|e| format!("does not parse: {e}"))?;
        let generated = entries
            .iter()
            .find(|e| e.key == "GEN_SECRET")
            .ok_or("no GEN_SECRET")?;
        if generated.value.len() != 32 || !generated.value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("GEN_SECRET is not 32 hex digits".into());
        }
        if normalise(text).as_deref() != Some(expected.as_str()) {
            return Err(format!(
                "{} bytes, not the {} bytes init makes",
                text.len(),
                template.text.len()
            ));
        }
        Ok(())
    };
    for b in backups(&lab) {
        std::fs::remove_file(b).unwrap();
    }
    is_new(&lab.read(".env").unwrap()).expect("calibration output");

    let mut backups_seen = 0;
    for i in 0..MAX_RUNS {
        if t.killed >= KILLS {
            break;
        }
        lab.write(".env", &old_env);
        let plan = plan_for(rng, i, full, first_temp);
        let run = Instant::now();
        let shot = shoot(&lab, lab.command(&args, &[]), plan);
        t.shot(i, plan, &shot, run.elapsed());
        match lab.read(".env") {
            None => t.violation(i, plan, ".env is gone"),
            Some(b) if b == old_env.as_bytes() => t.outcome("old"),
            Some(b) => match is_new(&b) {
                Ok(()) => t.outcome("new"),
                Err(e) => t.violation(i, plan, format!(".env torn: {e}")),
            },
        }
        // A backup is a deliberate plaintext copy (0600, gitignored); it
        // must be whole.
        for b in backups(&lab) {
            backups_seen += 1;
            if std::fs::read(&b).unwrap() != old_env.as_bytes() {
                t.violation(i, plan, format!("backup {} is not whole", b.display()));
            }
            std::fs::remove_file(b).unwrap();
        }
        inspect_leftovers(&lab, &mut t, i, plan, None);
    }
    eprintln!("init --force: {backups_seen} complete backups seen (removed after each run)");
    t.done()
}

#[test]
fn killed_writers_leave_old_or_new_files_and_no_secrets_behind() {
    let started = Instant::now();
    let seed = seed();
    eprintln!("crash_safety: seed {seed} (ENVCLOAK_CRASH_SEED={seed} to replay the delays)");
    let mut rng = Rng(seed);
    let tallies = [
        scenario_encrypt(&mut rng),
        scenario_set(&mut rng),
        scenario_rotate(&mut rng),
        scenario_init(&mut rng),
    ];
    let mut violations = Vec::new();
    let mut kills = 0;
    for t in &tallies {
        t.report();
        kills += t.killed;
        violations.extend(t.violations.iter().cloned());
    }
    let runs: usize = tallies.iter().map(|t| t.killed + t.completed).sum();
    eprintln!(
        "crash_safety: {kills} processes killed of {runs} runs in {:?}",
        started.elapsed()
    );
    assert!(
        violations.is_empty(),
        "{} violation(s) of crash safety:\n{}",
        violations.len(),
        violations.join("\n")
    );
    // Enough kills must have landed (not every run finished first).
    for t in &tallies {
        assert!(
            t.killed >= KILLS,
            "{}: only {} runs were killed",
            t.name,
            t.killed
        );
    }
}
