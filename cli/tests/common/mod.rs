//! The harness shared by the CLI test files: a temporary project
//! directory, the real binary run in it with an empty environment (only
//! `PATH`, `HOME` = the project, and what the test gives), and what it
//! printed.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_envcloak");

/// A temporary project directory; the current directory of every command.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        // Under the system temp dir (not target/, whose parents hold the
        // crate's own `.git`, which project-root discovery would find).
        let dir = tempfile::Builder::new()
            .prefix("envcloak-cli-")
            .tempdir()
            .expect("temp dir");
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn p(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        let path = self.p(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
    }

    pub fn write_mode(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) {
        self.write(name, contents);
        self.chmod(name, mode);
    }

    pub fn chmod(&self, name: &str, mode: u32) {
        std::fs::set_permissions(self.p(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn mkdir(&self, name: &str) -> PathBuf {
        let p = self.p(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.p(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    pub fn read_string(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).unwrap()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.p(name).exists()
    }

    pub fn mode(&self, name: &str) -> u32 {
        std::fs::metadata(self.p(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    /// An executable shell script (for EDITOR and friends).
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        self.write_mode(name, format!("#!/bin/sh\n{body}\n"), 0o755);
        self.p(name)
    }

    /// `envcloak ARGS` in this directory.
    pub fn envcloak(&self, args: &[&str]) -> Run<'_> {
        self.command(BIN, args)
    }

    /// `sh -c SCRIPT` in this directory, with `$EC` naming the binary.
    pub fn sh(&self, script: &str) -> Run<'_> {
        self.command("sh", &["-c", script]).env("EC", BIN)
    }

    pub fn command(&self, program: &str, args: &[&str]) -> Run<'_> {
        Run {
            project: self,
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
            envs: Vec::new(),
            stdin: None,
        }
    }

    /// `git init` (quietly, with no user or system configuration).
    pub fn git_init(&self) {
        let out = self.command("git", &["init", "-q"]).run();
        assert_eq!(out.code, 0, "git init: {}", out.stderr);
    }

    /// Every path under the project, relative, for before/after comparisons.
    pub fn listing(&self) -> BTreeSet<PathBuf> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf());
                if entry.file_type().unwrap().is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(self.path(), self.path(), &mut out);
        out
    }

    /// File names directly in the project directory, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// `git ARGS`, which must succeed.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> Out {
        self.command("git", args).run().code(0)
    }

    /// `git add` the given files and commit them.
    pub fn commit(&self, files: &[&str]) {
        let mut args = vec!["add", "-f", "--"];
        args.extend_from_slice(files);
        self.git(&args);
        self.git(&["commit", "-q", "-m", "test"]);
    }

    /// Whether git ignores `name`.
    pub fn ignored(&self, name: &str) -> bool {
        self.command("git", &["check-ignore", "-q", "--no-index", "--", name])
            .run()
            .code
            == 0
    }

    /// A fresh Fernet key, printed by `envcloak keygen`.
    pub fn keygen(&self) -> String {
        let out = self.envcloak(&["keygen"]).run().code(0);
        out.stdout().trim_end().to_owned()
    }

    /// Writes `plaintext` as `.env.enc` with `envcloak encrypt` and a fresh
    /// key given through `ENVCLOAK_KEY`; leaves no plaintext and no key file
    /// behind. Returns the key.
    pub fn encrypt_with_env_key(&self, plaintext: &str) -> String {
        let key = self.keygen();
        self.write("plain.tmp", plaintext);
        self.envcloak(&["encrypt", "plain.tmp"])
            .env("ENVCLOAK_KEY", &key)
            .run()
            .code(0);
        std::fs::remove_file(self.p("plain.tmp")).unwrap();
        assert!(self.exists(".env.enc"));
        assert!(!self.exists(".env.key"), "a key was given: no key file");
        key
    }

    /// `.env` -> `.env.enc` with a new `.env.key`; returns the key.
    pub fn encrypt_env(&self, plaintext: &str) -> String {
        self.write(".env", plaintext);
        self.envcloak(&["encrypt"]).run().ok();
        self.key()
    }

    /// Like [`encrypt_env`], then removes `.env` so that `.env.enc` is the
    /// only layer (`get`, `run`).
    pub fn encrypted_only(&self, plaintext: &str) -> String {
        let key = self.encrypt_env(plaintext);
        std::fs::remove_file(self.p(".env")).unwrap();
        key
    }

    /// The contents of `.env.key` without the newline.
    pub fn key(&self) -> String {
        self.read_string(".env.key").trim_end().to_owned()
    }

    /// `decrypt` (with whatever key the directory holds) must give `expected`.
    #[track_caller]
    pub fn assert_plaintext(&self, expected: &str) {
        let out = self.envcloak(&["decrypt"]).run().ok();
        assert_eq!(out.stdout(), expected);
    }
}

/// A command about to run.
pub struct Run<'a> {
    project: &'a Project,
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl Run<'_> {
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    #[track_caller]
    pub fn run(self) -> Out {
        self.spawn().wait()
    }

    /// Starts the command without waiting for it (for commands that run
    /// side by side); [`Pending::wait`] collects what it printed.
    #[track_caller]
    pub fn spawn(self) -> Pending {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(self.project.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.project.path())
            // git: no user or system configuration, no repository above.
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env(
                "GIT_CEILING_DIRECTORIES",
                self.project.path().parent().unwrap_or(self.project.path()),
            )
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!(
            "`{} {}`",
            Path::new(&self.program)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
        if let Some(input) = &self.stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input).unwrap();
        }
        Pending { what, child }
    }
}

/// A command started by [`Run::spawn`].
pub struct Pending {
    pub what: String,
    pub child: std::process::Child,
}

impl Pending {
    /// Waits for the command; it must not have been killed or panicked.
    #[track_caller]
    pub fn wait(self) -> Out {
        let what = self.what;
        let output = self.child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let Some(code) = output.status.code() else {
            panic!(
                "{what} was killed by a signal ({:?}); stderr:\n{stderr}",
                output.status
            );
        };
        assert!(
            !stderr.contains("panicked"),
            "{what} panicked; stderr:\n{stderr}"
        );
        Out {
            what,
            code,
            stdout: output.stdout,
            stderr,
        }
    }
}

/// What a command printed, and its exit code.
pub struct Out {
    pub what: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn stdout(&self) -> &str {
        std::str::from_utf8(&self.stdout)
            .unwrap_or_else(|_| panic!("{}: standard output is not UTF-8", self.what))
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            code,
            "{}: exit code\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what,
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        self.code(0)
    }

    /// Exit code `code`, and nothing on standard output.
    #[track_caller]
    pub fn fails(self, code: i32) -> Self {
        let out = self.code(code);
        assert!(
            out.stdout.is_empty(),
            "{}: printed on stdout while failing: {:?}",
            out.what,
            String::from_utf8_lossy(&out.stdout)
        );
        out
    }

    /// `secret` is in neither standard output nor standard error.
    #[track_caller]
    pub fn hides(&self, secret: &str) -> &Self {
        assert!(
            !String::from_utf8_lossy(&self.stdout).contains(secret),
            "{}: a secret is on stdout",
            self.what
        );
        assert!(
            !self.stderr.contains(secret),
            "{}: a secret is on stderr:\n{}",
            self.what,
            self.stderr
        );
        self
    }

    /// The one `error: ...` line of stderr (there must be exactly one).
    #[track_caller]
    pub fn error(&self) -> &str {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{}: expected one `error:` line; stderr:\n{}",
            self.what,
            self.stderr
        );
        lines[0]
    }

    /// The error line contains every one of `needles`.
    #[track_caller]
    pub fn error_says(&self, needles: &[&str]) -> &Self {
        let line = self.error();
        for n in needles {
            assert!(
                line.contains(n),
                "{}: the error line does not mention {n:?}:\n{line}\n--- whole stderr:\n{}",
                self.what,
                self.stderr
            );
        }
        self
    }

    /// stderr contains every one of `needles` (anywhere).
    #[track_caller]
    pub fn stderr_says(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "{}: stderr does not mention {n:?}:\n{}",
                self.what,
                self.stderr
            );
        }
        self
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout().lines().collect()
    }

    /// Standard output is exactly these lines.
    #[track_caller]
    pub fn stdout_is(&self, lines: &[&str]) -> &Self {
        assert_eq!(
            self.lines(),
            lines,
            "{}: standard output\n--- stderr:\n{}",
            self.what,
            self.stderr
        );
        self
    }

    /// Standard output has this exact line.
    #[track_caller]
    pub fn has_line(&self, line: &str) -> &Self {
        assert!(
            self.stdout().lines().any(|l| l == line),
            "{}: no line {line:?} on standard output:\n{}\n--- stderr:\n{}",
            self.what,
            self.stdout(),
            self.stderr
        );
        self
    }

    /// The problem lines of `check`'s text output (without the summary).
    pub fn problem_lines(&self) -> Vec<&str> {
        let lines = self.lines();
        let n = lines.len().saturating_sub(1);
        lines[..n].to_vec()
    }

    /// Exit code `code`, nothing on stdout, and one `error: ` line on stderr
    /// that contains every one of `needles`.
    #[track_caller]
    pub fn fails_with(self, code: i32, needles: &[&str]) -> Self {
        let out = self.fails(code);
        out.error_says(needles);
        out
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout())
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{}", self.what, self.stdout()))
    }
}
