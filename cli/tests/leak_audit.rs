//! Leak audit: canary secrets placed everywhere a secret can live — `.env`,
//! `.env.enc`, the process environment, `ENVCLOAK_KEY`, key files,
//! `NAME_FILE` files, a secrets directory, `.env.example`, the password, the
//! editor, `set`'s argument and standard input — then every command of the
//! CLI and every library error path, in success and failure modes.
//!
//! A canary may appear only where the user asked for it: `decrypt`'s
//! standard output, `get KEY`'s standard output for that key, `ls --show`,
//! the output of `run`'s child, and the keys that `keygen`, `token` and
//! `rotate` print (rotate prints the whole keyring — the new key and the
//! old ones it keeps — for the user to store). Never on standard error,
//! never in any other command's output, never in an error's `Display` or
//! `Debug`, never in a panic (no stderr ever contains "panicked").
//!
//! Each canary is checked whole and by its distinctive tail, and every
//! output is also searched for the common `CANARY` prefix once the canaries
//! allowed there are removed, so a partly quoted value is caught too. Keys
//! are checked whole, unpadded and by their first 20 characters.
//!
//! "Unreadable file" modes use directories, FIFOs are left to
//! `tests/limits.rs`; `chmod 000` cases run too but as root they read fine
//! (the audit then only checks that nothing leaks).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use envcloak::crypto::{self, Key, Keyring};
use envcloak::{Choices, Config, Csv, Error, ExposeSecret, Json, Parsed, SecretBox, SecretString};

const BIN: &str = env!("CARGO_BIN_EXE_envcloak");

// ---------------------------------------------------------------------------
// Canaries: one per place, so a leak says where it came from.
// ---------------------------------------------------------------------------

const C_DOTENV: &str = "CANARY_dotenv_q7x2Lk9w";
const C_ENC: &str = "CANARY_enc_z9k4Pm2r";
const C_ENC_DB: &str = "CANARY_encdb_h3n8Vt5y";
const C_ENV: &str = "CANARY_procenv_m3p8Qs1d";
const C_NAMEFILE: &str = "CANARY_namefile_r5t1Wx6c";
const C_SECRETSDIR: &str = "CANARY_secretsdir_b2g7Jn4e";
const C_EXAMPLE: &str = "CANARY_example_w2v6Hy3u";
const C_BADLINE: &str = "CANARY_badline_h8j3Zc7a";
const C_TYPE: &str = "CANARY_type_n4b7Fd2s";
const C_KEYSTR: &str = "CANARY_keystr_f6g1Rk8m";
const C_KEYFILE: &str = "CANARY_keyfile_d2s9Lp5v";
const C_PASSWORD: &str = "CANARY_password_y1u5Tg3b";
const C_EDITOR: &str = "CANARY_editor_t3r8Mw6n";
const C_STDIN: &str = "CANARY_stdin_k5l2Qa9z";
const C_ARG: &str = "CANARY_arg_p9o3Xe4h";
/// Numeric canaries, for casts whose error could quote a number.
const C_NUM: &str = "918273645546372819";
const C_NEG: &str = "-604917355281";

const ALL_CANARIES: [&str; 17] = [
    C_DOTENV,
    C_ENC,
    C_ENC_DB,
    C_ENV,
    C_NAMEFILE,
    C_SECRETSDIR,
    C_EXAMPLE,
    C_BADLINE,
    C_TYPE,
    C_KEYSTR,
    C_KEYFILE,
    C_PASSWORD,
    C_EDITOR,
    C_STDIN,
    C_ARG,
    C_NUM,
    C_NEG,
];

/// Two real keys, themselves secrets: the project's and a wrong one.
fn key_a() -> &'static str {
    static K: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    K.get_or_init(|| Key::generate().to_base64().to_string())
}

fn key_b() -> &'static str {
    static K: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    K.get_or_init(|| Key::generate().to_base64().to_string())
}

/// The forms of a key to look for.
fn key_forms(key: &str) -> Vec<String> {
    vec![
        key.to_owned(),
        key.trim_end_matches('=').to_owned(),
        key[..20].to_owned(),
    ]
}

fn tail(canary: &str) -> &str {
    &canary[canary.len() - 8..]
}

/// Where `text` shows a secret that is not in `allowed`, if anywhere.
fn leaks(text: &str, allowed: &[&str], extra_keys: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text.to_owned();
    for a in allowed {
        rest = rest.replace(a, "<allowed>");
    }
    for c in ALL_CANARIES {
        if rest.contains(c) || rest.contains(tail(c)) {
            found.push(c.to_owned());
        }
    }
    if rest.contains("CANARY") && found.is_empty() {
        found.push("a CANARY fragment".to_owned());
    }
    let mut keys = vec![key_a().to_owned(), key_b().to_owned()];
    keys.extend(extra_keys.iter().cloned());
    for k in keys {
        if key_forms(&k).iter().any(|f| rest.contains(f.as_str())) {
            found.push(format!("key {}...", &k[..6]));
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

const DOTENV: &str = "# local overrides, never committed\n\
                      LOCAL_SECRET=CANARY_dotenv_q7x2Lk9w\n\
                      PORT=8000\n\
                      SHARED=dotenv-wins\n";

const ENC: &str = "ENC_SECRET=CANARY_enc_z9k4Pm2r\n\
                   DATABASE_URL=postgres://app:CANARY_encdb_h3n8Vt5y@db/app\n\
                   SHARED=enc-loses\n";

const EXAMPLE: &str = "# The local secret\n\
                       # @required\n\
                       LOCAL_SECRET=\n\
                       # @type int\n\
                       PORT=8000\n\
                       ENC_SECRET=\n\
                       DATABASE_URL=\n\
                       # @generate hex:16\n\
                       SESSION_KEY=\n\
                       # @optional\n\
                       STRIPE_KEY=sk_live_CANARY_example_w2v6Hy3u\n";

/// What exit code a command must end with.
#[derive(Debug, Clone, Copy)]
enum Exit {
    Ok,
    Code(i32),
    /// Any failure (non-zero).
    Fail,
    /// Success or failure: the mode is about leaks only.
    Any,
}

struct Project {
    dir: tempfile::TempDir,
    /// Environment variables every command gets, besides PATH/HOME/NO_COLOR.
    env: Vec<(String, String)>,
}

impl Project {
    /// An empty project directory (outside target/, whose parents hold a
    /// `.git` that project-root discovery would find).
    fn empty() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("envcloak-leak-")
            .tempdir()
            .unwrap();
        Project {
            dir,
            env: Vec::new(),
        }
    }

    /// `.env`, `.env.enc` (KEY_A), `.env.example`, a `NAME_FILE` target,
    /// and an environment holding a canary and `DB_PASS_FILE`.
    fn standard() -> Project {
        let mut p = Project::empty();
        p.write(".env", DOTENV);
        p.write(".env.example", EXAMPLE);
        p.seal(".env.enc", ENC, key_a());
        p.write("db_pass.txt", format!("{C_NAMEFILE}\n"));
        let file = p.p("db_pass.txt").display().to_string();
        p.env.push(("ENV_SECRET".into(), C_ENV.into()));
        p.env.push(("DB_PASS_FILE".into(), file));
        p
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.p(name), contents).unwrap();
    }

    fn write_mode(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) {
        self.write(name, contents);
        std::fs::set_permissions(self.p(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn remove(&self, name: &str) {
        let p = self.p(name);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else if p.exists() {
            std::fs::remove_file(p).unwrap();
        }
    }

    /// Encrypts `plaintext` with `key` into `name`, as `envcloak encrypt` would.
    fn seal(&self, name: &str, plaintext: impl AsRef<[u8]>, key: &str) {
        let ring = Keyring::parse(key).unwrap();
        let mut token = crypto::encrypt(&ring, plaintext.as_ref());
        token.push('\n');
        self.write(name, token);
    }

    fn with_env(mut self, k: &str, v: &str) -> Project {
        self.env.push((k.into(), v.into()));
        self
    }

    fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.into(), v.into()));
    }

    fn unset_env(&mut self, k: &str) {
        self.env.retain(|(n, _)| n != k);
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// The CLI's commands, for the per-command counts.
const COMMANDS: [&str; 13] = [
    "keygen", "token", "encrypt", "decrypt", "edit", "set", "unset", "get", "ls", "run", "rotate",
    "check", "init",
];

/// Runs commands and collects every leak, panic and wrong exit code.
#[derive(Default)]
struct Audit {
    runs: usize,
    failures: Vec<String>,
    /// Keys made during the audit (keygen, rotate): secrets from then on.
    made_keys: Vec<String>,
    /// Runs per command name.
    per_command: BTreeMap<String, usize>,
}

impl Audit {
    fn run(
        &mut self,
        p: &Project,
        label: &str,
        args: &[&str],
        exit: Exit,
        allowed: &[&str],
    ) -> Output {
        self.run_with(p, label, p.command(args), None, exit, allowed)
    }

    fn run_stdin(
        &mut self,
        p: &Project,
        label: &str,
        args: &[&str],
        stdin: &str,
        exit: Exit,
        allowed: &[&str],
    ) -> Output {
        self.run_with(p, label, p.command(args), Some(stdin), exit, allowed)
    }

    fn run_with(
        &mut self,
        _p: &Project,
        label: &str,
        mut cmd: Command,
        stdin: Option<&str>,
        exit: Exit,
        allowed: &[&str],
    ) -> Output {
        let name = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .find(|a| COMMANDS.contains(&a.as_str()))
            .unwrap_or_default();
        *self.per_command.entry(name).or_default() += 1;
        self.runs += 1;
        let out = match stdin {
            None => cmd.output().unwrap(),
            Some(input) => {
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
        };
        self.inspect(label, &out, exit, allowed);
        out
    }

    fn inspect(&mut self, label: &str, out: &Output, exit: Exit, allowed: &[&str]) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        let exit_ok = match exit {
            Exit::Ok => code == Some(0),
            Exit::Code(c) => code == Some(c),
            Exit::Fail => code.is_some_and(|c| c != 0),
            Exit::Any => code.is_some(),
        };
        let mut problems = Vec::new();
        if !exit_ok {
            problems.push(format!("exit {code:?}, expected {exit:?}"));
        }
        if stderr.contains("panicked") || stdout.contains("panicked") {
            problems.push("PANIC".to_owned());
        }
        let on_stdout = leaks(&stdout, allowed, &self.made_keys);
        if !on_stdout.is_empty() {
            problems.push(format!("stdout leaks {on_stdout:?}"));
        }
        let on_stderr = leaks(&stderr, &[], &self.made_keys);
        if !on_stderr.is_empty() {
            problems.push(format!("stderr leaks {on_stderr:?}"));
        }
        if !problems.is_empty() {
            self.failures.push(format!(
                "[{label}] {}\n  stdout: {stdout:?}\n  stderr: {stderr:?}",
                problems.join("; ")
            ));
        }
    }

    fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} commands run ({:?}); {} failures",
            self.runs,
            self.per_command,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} commands leaked, panicked or ended wrongly:\n{}",
            self.failures.len(),
            self.runs,
            self.failures.join("\n")
        );
    }
}

/// Every value a full configuration holds, for `ls --show`.
const FILE_VALUES: [&str; 3] = [C_DOTENV, C_ENC, C_ENC_DB];

// ---------------------------------------------------------------------------
// CLI: success modes
// ---------------------------------------------------------------------------

#[test]
fn cli_success_modes_print_secrets_only_where_asked() {
    let mut a = Audit::default();
    let mut p = Project::standard();
    p.write_mode(".env.key", format!("{}\n", key_a()), 0o600);

    // Reading.
    a.run(&p, "decrypt", &["decrypt"], Exit::Ok, &[C_ENC, C_ENC_DB]);
    a.run(
        &p,
        "decrypt json",
        &["decrypt", "--format", "json"],
        Exit::Ok,
        &[C_ENC, C_ENC_DB],
    );
    a.run(
        &p,
        "decrypt shell",
        &["decrypt", "--format", "shell"],
        Exit::Ok,
        &[C_ENC, C_ENC_DB],
    );
    a.run(
        &p,
        "decrypt ttl",
        &["decrypt", "--ttl", "3600"],
        Exit::Ok,
        &[C_ENC, C_ENC_DB],
    );
    a.run(
        &p,
        "decrypt -o",
        &["decrypt", "-o", "plain.out"],
        Exit::Ok,
        &[],
    );
    a.run(
        &p,
        "decrypt -o exists",
        &["decrypt", "-o", "plain.out"],
        Exit::Code(2),
        &[],
    );
    let out = a.run(&p, "get enc", &["get", "ENC_SECRET"], Exit::Ok, &[C_ENC]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{C_ENC}\n"));
    a.run(
        &p,
        "get dotenv",
        &["get", "LOCAL_SECRET"],
        Exit::Ok,
        &[C_DOTENV],
    );
    a.run(&p, "get env", &["get", "ENV_SECRET"], Exit::Ok, &[C_ENV]);
    let out = a.run(
        &p,
        "get NAME_FILE",
        &["get", "DB_PASS"],
        Exit::Ok,
        &[C_NAMEFILE],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{C_NAMEFILE}\n")
    );
    a.run(&p, "get port", &["get", "PORT"], Exit::Ok, &[]);
    a.run(&p, "get missing", &["get", "NOPE"], Exit::Code(1), &[]);
    a.run(&p, "ls", &["ls"], Exit::Ok, &[]);
    a.run(&p, "ls json", &["ls", "--format", "json"], Exit::Ok, &[]);
    a.run(&p, "ls --show", &["ls", "--show"], Exit::Ok, &FILE_VALUES);
    a.run(
        &p,
        "ls --show json",
        &["ls", "--show", "--format", "json"],
        Exit::Ok,
        &FILE_VALUES,
    );
    let child = "printf '%s|%s|%s\\n' \"$ENC_SECRET\" \"$LOCAL_SECRET\" \"$ENV_SECRET\"";
    let out = a.run(
        &p,
        "run child prints",
        &["run", "--", "sh", "-c", child],
        Exit::Ok,
        &[C_ENC, C_DOTENV, C_ENV],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{C_ENC}|{C_DOTENV}|{C_ENV}\n")
    );
    a.run(&p, "run silent", &["run", "--", "true"], Exit::Ok, &[]);
    a.run(
        &p,
        "run exit 3",
        &["run", "--", "sh", "-c", "exit 3"],
        Exit::Code(3),
        &[],
    );
    a.run(
        &p,
        "run not found",
        &["run", "--", "no-such-program-xyz"],
        Exit::Code(127),
        &[],
    );
    a.run(&p, "check", &["check"], Exit::Any, &[]);
    a.run(
        &p,
        "check json",
        &["check", "--format", "json"],
        Exit::Any,
        &[],
    );
    a.run(&p, "check strict", &["check", "--strict"], Exit::Any, &[]);

    // Keys and tokens: whatever they print is theirs to print.
    let out = a.run(&p, "keygen", &["keygen"], Exit::Ok, &[]);
    let made = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(made.len(), 44, "{out:?}");
    a.made_keys.push(made);
    a.run(
        &p,
        "keygen --write exists",
        &["keygen", "--write"],
        Exit::Code(2),
        &[],
    );
    for args in [
        &["token"][..],
        &["token", "16", "--urlsafe"][..],
        &["token", "8", "--base64"][..],
        &["token", "4", "--hex"][..],
    ] {
        a.run(&p, "token", args, Exit::Ok, &[]);
    }
    a.run(&p, "token 0", &["token", "0"], Exit::Code(2), &[]);
    a.run(&p, "token huge", &["token", "99999999"], Exit::Code(2), &[]);

    // Writing: set (argument, stdin), unset, edit.
    a.run(&p, "set arg", &["set", "NEW_ARG", C_ARG], Exit::Ok, &[]);
    a.run_stdin(
        &p,
        "set stdin",
        &["set", "NEW_STDIN"],
        C_STDIN,
        Exit::Ok,
        &[],
    );
    a.run(&p, "get set arg", &["get", "NEW_ARG"], Exit::Ok, &[C_ARG]);
    a.run(
        &p,
        "get set stdin",
        &["get", "NEW_STDIN"],
        Exit::Ok,
        &[C_STDIN],
    );
    a.run(
        &p,
        "set bad key",
        &["set", "BAD KEY", C_ARG],
        Exit::Code(2),
        &[],
    );
    a.run(
        &p,
        "set bad key 2",
        &["set", "1X", C_ARG],
        Exit::Code(2),
        &[],
    );
    a.run(&p, "unset", &["unset", "NEW_ARG"], Exit::Ok, &[]);
    a.run(
        &p,
        "unset missing",
        &["unset", "NEW_ARG"],
        Exit::Code(1),
        &[],
    );

    let log = p.p("editor.log");
    let editor = |name: &str, body: &str| -> String {
        let path = p.p(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"$1\" >> '{}'\n{body}\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        path.display().to_string()
    };
    let append = editor(
        "ed-append.sh",
        &format!("printf 'EDITED=%s\\n' '{C_EDITOR}' >> \"$1\""),
    );
    let broken = editor(
        "ed-broken.sh",
        &format!("printf 'BROKEN %s\\n' '{C_EDITOR}' >> \"$1\""),
    );
    let failing = editor("ed-fail.sh", "exit 1");
    let noop = editor("ed-noop.sh", "true");
    for (label, ed, exit) in [
        ("edit append", &append, Exit::Ok),
        ("edit broken", &broken, Exit::Code(2)),
        ("edit failing editor", &failing, Exit::Code(2)),
        ("edit no change", &noop, Exit::Ok),
    ] {
        let mut cmd = p.command(&["edit"]);
        cmd.env("EDITOR", ed);
        a.run_with(&p, label, cmd, None, exit, &[]);
    }
    a.run(&p, "get edited", &["get", "EDITED"], Exit::Ok, &[C_EDITOR]);
    // The editor's temporary files are gone.
    for tmp in std::fs::read_to_string(&log).unwrap().lines() {
        assert!(!Path::new(tmp).exists(), "edit left {tmp} behind");
    }

    // Rotation: the printed keyring is the new key and the old one (printed
    // only when the key comes from a variable: a key file would be left
    // unable to open the file, so that is refused).
    p.set_env("ENVCLOAK_KEY", key_a());
    let out = a.run(&p, "rotate print", &["rotate"], Exit::Ok, &[key_a()]);
    let ring = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let ring_keys: Vec<String> = ring.split(',').map(str::to_owned).collect();
    assert_eq!(ring_keys.len(), 2, "{out:?}");
    assert_eq!(ring_keys[1], key_a());
    a.made_keys.push(ring_keys[0].clone());
    // The printed keyring is what opens the file now.
    p.set_env("ENVCLOAK_KEY", &ring);
    a.run(
        &p,
        "decrypt after rotate",
        &["decrypt"],
        Exit::Ok,
        &[C_ENC, C_ENC_DB, C_STDIN, C_EDITOR],
    );
    p.unset_env("ENVCLOAK_KEY");
    std::fs::write(p.p(".env.key"), format!("{ring}\n")).unwrap();
    a.run(&p, "rotate --write", &["rotate", "--write"], Exit::Ok, &[]);
    a.run(
        &p,
        "rotate --drop-old --write",
        &["rotate", "--drop-old", "--write"],
        Exit::Ok,
        &[],
    );
    let left = std::fs::read_to_string(p.p(".env.key")).unwrap();
    a.made_keys.push(left.trim().to_owned());
    a.run(
        &p,
        "decrypt after drop",
        &["decrypt"],
        Exit::Ok,
        &[C_ENC, C_ENC_DB, C_STDIN, C_EDITOR],
    );

    // Encrypt and init in fresh projects.
    let q = Project::empty();
    q.write(".env", DOTENV);
    a.run(&q, "encrypt creates key", &["encrypt"], Exit::Ok, &[]);
    a.run(&q, "encrypt again", &["encrypt"], Exit::Ok, &[]);
    a.made_keys.push(
        std::fs::read_to_string(q.p(".env.key"))
            .unwrap()
            .trim()
            .to_owned(),
    );
    a.run(
        &q,
        "get via new key",
        &["get", "LOCAL_SECRET"],
        Exit::Ok,
        &[C_DOTENV],
    );
    let mut q = q.with_env("ENVCLOAK_PASSWORD", C_PASSWORD);
    q.remove(".env.enc");
    a.run(
        &q,
        "encrypt --password",
        &["encrypt", "--password", "--iterations", "600000"],
        Exit::Ok,
        &[],
    );
    a.run(&q, "decrypt password", &["decrypt"], Exit::Ok, &[C_DOTENV]);
    q.remove(".env");
    a.run(
        &q,
        "get password",
        &["get", "LOCAL_SECRET"],
        Exit::Ok,
        &[C_DOTENV],
    );
    q.set_env("ENVCLOAK_PASSWORD", "wrong-password");
    a.run(
        &q,
        "decrypt wrong password",
        &["decrypt"],
        Exit::Code(2),
        &[],
    );
    a.run(
        &q,
        "get wrong password",
        &["get", "LOCAL_SECRET"],
        Exit::Code(2),
        &[],
    );
    q.unset_env("ENVCLOAK_PASSWORD");
    a.run(&q, "decrypt no password", &["decrypt"], Exit::Code(2), &[]);

    let r = Project::empty();
    r.write(".env.example", EXAMPLE);
    a.run(&r, "init", &["init"], Exit::Ok, &[]);
    a.run(&r, "init exists", &["init"], Exit::Code(2), &[]);
    a.run(&r, "init --force", &["init", "--force"], Exit::Ok, &[]);
    a.run(&r, "init --encrypt", &["init", "--encrypt"], Exit::Ok, &[]);
    a.made_keys.push(
        std::fs::read_to_string(r.p(".env.key"))
            .unwrap()
            .trim()
            .to_owned(),
    );
    a.run(&r, "check after init", &["check"], Exit::Any, &[]);
    a.run(
        &r,
        "check json after init",
        &["check", "--format", "json"],
        Exit::Any,
        &[],
    );
    a.run(
        &r,
        "ls --show after init",
        &["ls", "--show"],
        Exit::Ok,
        &[C_EXAMPLE],
    );
    // init copied the example's value into .env (the user's own file).
    assert!(
        std::fs::read_to_string(r.p(".env"))
            .unwrap()
            .contains(C_EXAMPLE)
    );

    a.finish("CLI success modes");
}

// ---------------------------------------------------------------------------
// CLI: missing key, wrong key, bad key material
// ---------------------------------------------------------------------------

/// Every command that touches `.env.enc`, with a label.
fn enc_commands() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("decrypt", vec!["decrypt"]),
        ("decrypt json", vec!["decrypt", "--format", "json"]),
        ("get enc", vec!["get", "ENC_SECRET"]),
        ("ls", vec!["ls"]),
        ("ls json", vec!["ls", "--format", "json"]),
        ("set", vec!["set", "X", C_ARG]),
        ("unset", vec!["unset", "ENC_SECRET"]),
        ("rotate", vec!["rotate"]),
        ("rotate --write", vec!["rotate", "--write"]),
        ("edit", vec!["edit"]),
        ("check", vec!["check"]),
        ("check json", vec!["check", "--format", "json"]),
        ("run", vec!["run", "--", "true"]),
    ]
}

#[test]
fn cli_key_failures_never_show_values_or_keys() {
    let mut a = Audit::default();

    // No key anywhere: .env.enc is skipped by the layered commands and
    // refused by the commands that must open it.
    let p = Project::standard();
    for (label, args) in enc_commands() {
        a.run(
            &p,
            &format!("no key: {label}"),
            &args,
            Exit::Fail.or_any(label),
            &[],
        );
    }
    a.run(
        &p,
        "no key: get dotenv",
        &["get", "LOCAL_SECRET"],
        Exit::Ok,
        &[C_DOTENV],
    );
    a.run(
        &p,
        "no key: ls --show",
        &["ls", "--show"],
        Exit::Ok,
        &[C_DOTENV],
    );
    a.run(&p, "no key: encrypt", &["encrypt"], Exit::Code(2), &[]);

    // Wrong key, from each place a key can come from.
    let mut variants: Vec<(String, Project)> = Vec::new();
    variants.push((
        "ENVCLOAK_KEY".into(),
        Project::standard().with_env("ENVCLOAK_KEY", key_b()),
    ));
    let p = Project::standard();
    p.write_mode(".env.key", format!("{}\n", key_b()), 0o600);
    variants.push((".env.key".into(), p));
    let p = Project::standard();
    p.write_mode("other.key", key_b(), 0o600);
    let file = p.p("other.key").display().to_string();
    variants.push((
        "ENVCLOAK_KEY_FILE".into(),
        p.with_env("ENVCLOAK_KEY_FILE", &file),
    ));
    let p = Project::standard();
    let cmd = format!("printf '%s' '{}'", key_b());
    variants.push((
        "ENVCLOAK_KEY_CMD".into(),
        p.with_env("ENVCLOAK_KEY_CMD", &cmd),
    ));
    for (place, p) in &variants {
        for (label, args) in enc_commands() {
            a.run(
                p,
                &format!("wrong key in {place}: {label}"),
                &args,
                Exit::Code(2),
                &[],
            );
        }
        for (label, args) in [
            ("get dotenv", vec!["get", "LOCAL_SECRET"]),
            ("ls --show", vec!["ls", "--show"]),
            (
                "run child",
                vec!["run", "--", "sh", "-c", "echo $ENC_SECRET"],
            ),
        ] {
            a.run(
                p,
                &format!("wrong key in {place}: {label}"),
                &args,
                Exit::Code(2),
                &[],
            );
        }
    }

    // Key material that is not a key: a canary as ENVCLOAK_KEY, inside a
    // keyring, as a key file's contents (by every route), a key file that
    // others can read, a key command that prints a canary or fails.
    let mut bad: Vec<(String, Project)> = Vec::new();
    bad.push((
        "canary ENVCLOAK_KEY".into(),
        Project::standard().with_env("ENVCLOAK_KEY", C_KEYSTR),
    ));
    bad.push((
        "keyring with a canary".into(),
        Project::standard().with_env("ENVCLOAK_KEY", &format!("{},{C_KEYSTR}", key_a())),
    ));
    // The profile key opens the profile's own file (.env.production.enc).
    let p = Project::standard()
        .with_env("ENVCLOAK_PROFILE", "production")
        .with_env("ENVCLOAK_KEY_PRODUCTION", C_KEYSTR);
    p.write(
        ".env.production.enc",
        std::fs::read(p.p(".env.enc")).unwrap(),
    );
    bad.push(("canary ENVCLOAK_KEY_production".into(), p));
    let p = Project::standard();
    p.write_mode(".env.key", format!("{C_KEYFILE}\n"), 0o600);
    bad.push(("canary .env.key".into(), p));
    let p = Project::standard();
    p.write_mode(".env.key", format!("{}\n", key_a()), 0o644);
    bad.push(("loose .env.key holding the key".into(), p));
    let p = Project::standard();
    p.write_mode(
        ".env.key",
        [C_KEYFILE.as_bytes(), b"\xff\xfe"].concat(),
        0o600,
    );
    bad.push(("non-UTF-8 .env.key".into(), p));
    let p = Project::standard();
    p.write_mode("k.txt", format!("{C_KEYFILE}\n"), 0o600);
    let file = p.p("k.txt").display().to_string();
    bad.push((
        "canary ENVCLOAK_KEY_FILE".into(),
        p.with_env("ENVCLOAK_KEY_FILE", &file),
    ));
    let p = Project::standard();
    std::fs::create_dir(p.p("keydir")).unwrap();
    let file = p.p("keydir").display().to_string();
    bad.push((
        "directory ENVCLOAK_KEY_FILE".into(),
        p.with_env("ENVCLOAK_KEY_FILE", &file),
    ));
    let p = Project::standard();
    let file = p.p("absent.key").display().to_string();
    bad.push((
        "missing ENVCLOAK_KEY_FILE".into(),
        p.with_env("ENVCLOAK_KEY_FILE", &file),
    ));
    bad.push((
        "KEY_CMD prints a canary".into(),
        Project::standard().with_env("ENVCLOAK_KEY_CMD", &format!("echo {C_KEYSTR}")),
    ));
    bad.push((
        "KEY_CMD fails".into(),
        Project::standard().with_env("ENVCLOAK_KEY_CMD", "exit 3"),
    ));
    for (place, p) in &bad {
        for (label, args) in enc_commands() {
            let exit = if label.starts_with("check") {
                Exit::Any
            } else {
                Exit::Code(2)
            };
            a.run(p, &format!("{place}: {label}"), &args, exit, &[]);
        }
        a.run(
            p,
            &format!("{place}: encrypt"),
            &["encrypt"],
            Exit::Any,
            &[],
        );
        a.run(
            p,
            &format!("{place}: keygen --write"),
            &["keygen", "--write"],
            Exit::Any,
            &[],
        );
    }
    // --key-file with a canary, a loose file, a directory.
    let p = Project::standard();
    p.write_mode("k1", format!("{C_KEYFILE}\n"), 0o600);
    p.write_mode("k2", format!("{}\n", key_a()), 0o640);
    std::fs::create_dir(p.p("k3")).unwrap();
    for k in ["k1", "k2", "k3"] {
        for (label, args) in enc_commands() {
            let mut args = args.clone();
            args.splice(0..0, ["--key-file", k]);
            let exit = if label.starts_with("check") {
                Exit::Any
            } else {
                Exit::Code(2)
            };
            a.run(&p, &format!("--key-file {k}: {label}"), &args, exit, &[]);
        }
    }
    a.finish("CLI key failures");
}

impl Exit {
    /// `check` reports problems with exit 1 or refuses with 2; `ls` and
    /// `run` skip an encrypted file they have no key for and succeed.
    fn or_any(self, label: &str) -> Exit {
        if label.starts_with("check") || label.starts_with("ls") || label.starts_with("run") {
            Exit::Any
        } else {
            self
        }
    }
}

// ---------------------------------------------------------------------------
// CLI: bad syntax on canary lines, type errors, unreadable files
// ---------------------------------------------------------------------------

/// Lines that fail to parse, each holding a canary.
fn bad_lines() -> Vec<String> {
    let c = C_BADLINE;
    vec![
        format!("BROKEN {c}"),
        format!("{c}"),
        format!("QUOTED=\"{c}"),
        format!("SINGLE='{c}"),
        format!("ESCAPE=\"{c}\\q\""),
        format!("BAD-KEY={c}"),
        format!("1KEY={c}"),
        format!("DANGLING={c}\\"),
        format!("EXPANSION=${{{c}"),
        format!("export {c} {c}"),
        format!("{c}=\"ok\" trailing\"open"),
    ]
}

#[test]
fn cli_syntax_and_type_errors_never_quote_the_line() {
    let mut a = Audit::default();
    let layered: Vec<(&str, Vec<&str>)> = vec![
        ("get", vec!["get", "LOCAL_SECRET"]),
        ("ls", vec!["ls"]),
        ("ls --show", vec!["ls", "--show"]),
        ("run", vec!["run", "--", "sh", "-c", "echo RAN"]),
        ("check", vec!["check"]),
        ("check json", vec!["check", "--format", "json"]),
    ];
    for line in bad_lines() {
        // In .env (before and after good lines).
        let mut p = Project::standard();
        p.write(".env", format!("{DOTENV}{line}\nAFTER=1\n"));
        p.set_env("ENVCLOAK_KEY", key_a());
        for (label, args) in &layered {
            let exit = if label.starts_with("check") {
                Exit::Code(1)
            } else {
                Exit::Code(2)
            };
            let out = a.run(&p, &format!(".env `{line}`: {label}"), args, exit, &[]);
            assert!(!String::from_utf8_lossy(&out.stdout).contains("RAN"));
        }
        a.run(
            &p,
            &format!(".env `{line}`: encrypt"),
            &["encrypt"],
            Exit::Code(2),
            &[],
        );

        // Inside .env.enc: decrypt shows the text as it is (asked for);
        // everything else refuses without quoting it.
        let mut p = Project::standard();
        p.seal(".env.enc", format!("{ENC}{line}\n"), key_a());
        p.set_env("ENVCLOAK_KEY", key_a());
        a.run(
            &p,
            &format!(".env.enc `{line}`: decrypt"),
            &["decrypt"],
            Exit::Ok,
            &[C_ENC, C_ENC_DB, C_BADLINE],
        );
        for (label, args) in layered.iter().chain(&[
            ("decrypt json", vec!["decrypt", "--format", "json"]),
            ("decrypt shell", vec!["decrypt", "--format", "shell"]),
            ("set", vec!["set", "X", C_ARG]),
            ("unset", vec!["unset", "ENC_SECRET"]),
            ("rotate", vec!["rotate", "--write"]),
            ("edit", vec!["edit"]),
        ]) {
            let mut cmd = p.command(args);
            cmd.env("EDITOR", "true");
            a.run_with(
                &p,
                &format!(".env.enc `{line}`: {label}"),
                cmd,
                None,
                Exit::Any,
                &[],
            );
        }

        // In .env.example.
        let p = Project::standard();
        p.write(".env.example", format!("{EXAMPLE}{line}\n"));
        p.remove(".env");
        for (label, args) in [
            ("check", vec!["check"]),
            ("check json", vec!["check", "--format", "json"]),
            ("init", vec!["init"]),
        ] {
            a.run(
                &p,
                &format!(".env.example `{line}`: {label}"),
                &args,
                Exit::Fail,
                &[],
            );
        }
    }
    // Bad directives whose word is a canary (the comment is part of the
    // line: a Parse error never quotes it).
    for directive in [
        format!("# @type {C_BADLINE}"),
        format!("# @generate {C_BADLINE}"),
        format!("# @{C_BADLINE}"),
    ] {
        let p = Project::standard();
        p.write(".env.example", format!("{directive}\nA=\n"));
        for (label, args) in [
            ("check", vec!["check"]),
            ("check json", vec!["check", "--format", "json"]),
            ("init", vec!["init", "--force"]),
        ] {
            a.run(
                &p,
                &format!("`{directive}`: {label}"),
                &args,
                Exit::Fail,
                &[],
            );
        }
    }

    // Type errors on canary values, in .env and in .env.enc.
    let example = "# @type int\nT_INT=\n# @type float\nT_FLOAT=\n# @type bool\nT_BOOL=\n\
                   # @type url\nT_URL=\n# @type json\nT_JSON=\n# @type csv\nT_CSV=\n\
                   # @type int\nT_BIG=\n# @type int\nT_NEG=\n";
    let values = format!(
        "T_INT={C_TYPE}\nT_FLOAT={C_TYPE}\nT_BOOL={C_TYPE}\nT_URL={C_TYPE}\n\
         T_JSON='{{\"a\": {C_TYPE}}}'\nT_CSV='\"{C_TYPE}'\nT_BIG={C_NUM}{C_NUM}\nT_NEG=x{C_NEG}\n"
    );
    let mut p = Project::empty();
    p.write(".env.example", example);
    p.write(".env", &values);
    a.run(&p, "types in .env: check", &["check"], Exit::Code(1), &[]);
    let out = a.run(
        &p,
        "types in .env: check json",
        &["check", "--format", "json"],
        Exit::Code(1),
        &[],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["errors"], 8, "{json:#}");
    p.remove(".env");
    p.seal(".env.enc", &values, key_a());
    p.set_env("ENVCLOAK_KEY", key_a());
    a.run(
        &p,
        "types in .env.enc: check",
        &["check"],
        Exit::Code(1),
        &[],
    );
    a.run(
        &p,
        "types in .env.enc: check json",
        &["check", "--format", "json"],
        Exit::Code(1),
        &[],
    );
    // The same values through the environment.
    let mut p = Project::empty();
    p.write(".env.example", example);
    for (k, v) in [("T_INT", C_TYPE), ("T_BOOL", C_TYPE), ("T_BIG", C_NUM)] {
        p.set_env(k, v);
    }
    a.run(&p, "types in env: check", &["check"], Exit::Code(1), &[]);

    // Unreadable and odd files.
    let mut cases: Vec<(&str, Project)> = Vec::new();
    let p = Project::standard();
    p.write(
        ".env",
        [format!("A={C_BADLINE}\n").as_bytes(), b"B=\xff\xfe\n"].concat(),
    );
    cases.push(("non-UTF-8 .env", p));
    let p = Project::standard();
    p.seal(
        ".env.enc",
        [format!("A={C_BADLINE}\n").as_bytes(), b"B=\xff\n"].concat(),
        key_a(),
    );
    cases.push(("non-UTF-8 plaintext in .env.enc", p));
    let p = Project::standard();
    p.remove(".env");
    std::fs::create_dir(p.p(".env")).unwrap();
    cases.push((".env is a directory", p));
    let p = Project::standard();
    p.remove(".env.enc");
    std::fs::create_dir(p.p(".env.enc")).unwrap();
    cases.push((".env.enc is a directory", p));
    let p = Project::standard();
    p.remove(".env.example");
    std::fs::create_dir(p.p(".env.example")).unwrap();
    cases.push((".env.example is a directory", p));
    let p = Project::standard();
    p.write_mode(".env", DOTENV, 0o000);
    p.write_mode(".env.enc", std::fs::read(p.p(".env.enc")).unwrap(), 0o000);
    cases.push(("chmod 000 files", p));
    let mut p = Project::standard();
    std::fs::create_dir(p.p("dir")).unwrap();
    let dir = p.p("dir").display().to_string();
    p.set_env("DB_PASS_FILE", &dir);
    cases.push(("NAME_FILE is a directory", p));
    let mut p = Project::standard();
    p.write("bin.txt", [C_NAMEFILE.as_bytes(), b"\xff"].concat());
    let file = p.p("bin.txt").display().to_string();
    p.set_env("DB_PASS_FILE", &file);
    cases.push(("NAME_FILE not UTF-8", p));
    let mut p = Project::standard();
    let file = p.p("absent.txt").display().to_string();
    p.set_env("DB_PASS_FILE", &file);
    cases.push(("NAME_FILE missing", p));
    let p = Project::standard().with_env("ENVCLOAK_PROFILE", "../../etc");
    cases.push(("bad profile", p));
    for (what, mut p) in cases {
        p.set_env("ENVCLOAK_KEY", key_a());
        for (label, args) in [
            ("decrypt", vec!["decrypt"]),
            ("get", vec!["get", "LOCAL_SECRET"]),
            ("get NAME_FILE", vec!["get", "DB_PASS"]),
            ("ls", vec!["ls"]),
            ("run", vec!["run", "--", "true"]),
            ("check", vec!["check"]),
            ("check json", vec!["check", "--format", "json"]),
            ("encrypt", vec!["encrypt"]),
            ("set", vec!["set", "X", C_ARG]),
            ("init", vec!["init"]),
        ] {
            // Whatever succeeds prints what it was asked for; the audit is
            // about what failures show.
            let allowed: &[&str] = match label {
                "decrypt" => &[C_ENC, C_ENC_DB, C_BADLINE],
                "get" => &[C_DOTENV],
                "get NAME_FILE" => &[C_NAMEFILE],
                _ => &[],
            };
            a.run(&p, &format!("{what}: {label}"), &args, Exit::Any, allowed);
        }
    }
    a.finish("CLI syntax, type and file errors");
}

/// Not a leak, but found by the audit: with a key that does not open the
/// team's `.env.enc`, `encrypt` must not replace it (the file is the team's
/// and the key is wrong) — as it already refuses when there is no key.
#[test]
fn encrypt_with_a_wrong_key_does_not_replace_the_teams_file() {
    let p = Project::standard().with_env("ENVCLOAK_KEY", key_b());
    let before = std::fs::read(p.p(".env.enc")).unwrap();
    let out = p.command(&["encrypt"]).output().unwrap();
    let after = std::fs::read(p.p(".env.enc")).unwrap();
    assert!(
        before == after && out.status.code() == Some(2),
        "envcloak encrypt with a key that does not open the existing .env.enc \
         replaced it (exit {:?}, stderr {:?}); teammates holding the real key \
         can no longer open the committed file",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// Library: every error variant, Display and Debug
// ---------------------------------------------------------------------------

/// Collects errors and `Debug` texts, and checks none shows a secret.
#[derive(Default)]
struct Shown {
    checked: usize,
    variants: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Shown {
    fn error(&mut self, label: &str, e: &Error) {
        let variant = match e {
            Error::Missing { .. } => "Missing",
            Error::Invalid { .. } => "Invalid",
            Error::Parse { .. } => "Parse",
            Error::Decrypt { .. } => "Decrypt",
            Error::KeyNotFound { .. } => "KeyNotFound",
            Error::Key { .. } => "Key",
            Error::Deserialize { .. } => "Deserialize",
            Error::Check { .. } => "Check",
            Error::Io { .. } => "Io",
            _ => "other",
        };
        *self.variants.entry(variant).or_default() += 1;
        self.text(label, &format!("{e}\n{e:?}\n{e:#?}"));
        if format!("{e}").contains('\n') {
            self.failures
                .push(format!("[{label}] multi-line Display: {e}"));
        }
    }

    fn result<T>(&mut self, label: &str, r: Result<T, Error>) {
        match r {
            Ok(_) => self.failures.push(format!("[{label}] expected an error")),
            Err(e) => self.error(label, &e),
        }
    }

    fn text(&mut self, label: &str, text: &str) {
        self.checked += 1;
        if std::env::var_os("LEAK_AUDIT_VERBOSE").is_some() {
            eprintln!("[{label}] {}", text.lines().next().unwrap_or_default());
        }
        let found = leaks(text, &[], &[]);
        if !found.is_empty() || text.contains("panicked") {
            self.failures
                .push(format!("[{label}] shows {found:?}: {text}"));
        }
    }

    fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} texts checked; errors by variant: {:?}",
            self.checked, self.variants
        );
        assert!(
            self.failures.is_empty(),
            "{what}: {} leaks:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// A `FromStr` type whose own error quotes the input, as many do.
#[derive(Debug)]
struct Level;

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Err(format!("unknown level {s:?}"))
    }
}

#[derive(Debug)]
struct Mode;

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Err(format!("bad mode {s}"))
    }
}

envcloak::from_str_value!(Mode);

#[test]
fn library_errors_never_show_values() {
    let mut s = Shown::default();
    let c = C_TYPE;
    let num_big = format!("{C_NUM}{C_NUM}");
    let env = [
        ("S", c.to_owned()),
        ("BIG", num_big.clone()),
        ("NUM", C_NUM.to_owned()),
        ("NEG", C_NEG.to_owned()),
        ("PADDED", format!("  {c}  ")),
        ("LIST", format!("80, {c}, 443")),
        ("NUMLIST", format!("1, {C_NUM}")),
        ("QUOTED_LIST", format!("\"{c}, 1")),
        ("JSON", format!("{{\"a\": \"{c}\"}}")),
        ("JSON_BAD", format!("[{c}]")),
        ("JSON_NUM", format!("[{C_NUM}{C_NUM}]")),
        ("DUR", format!("{C_NUM}{C_NUM}h")),
    ];
    let empty = tempfile::tempdir().unwrap();
    let cfg = Config::builder()
        .dir(empty.path())
        .environment(env.iter().map(|(k, v)| (*k, v.as_str())))
        .build()
        .unwrap();
    s.text("Config Debug (environment)", &format!("{cfg:?} {cfg:#?}"));

    macro_rules! invalid {
        ($($t:ty),* $(,)?) => {$(
            for key in ["S", "BIG", "NUM", "NEG", "PADDED", "LIST", "JSON", "DUR"] {
                if let Err(e) = cfg.get::<$t>(key) {
                    s.error(concat!("get::<", stringify!($t), ">"), &e);
                }
            }
        )*};
    }
    invalid!(
        u8,
        u16,
        u32,
        u64,
        u128,
        usize,
        i8,
        i16,
        i32,
        i64,
        i128,
        isize,
        f32,
        f64,
        bool,
        char,
        std::net::IpAddr,
        std::net::Ipv4Addr,
        std::net::Ipv6Addr,
        std::net::SocketAddr,
        std::time::Duration,
        Option<u16>,
        Option<bool>,
        Csv<u16>,
        Csv<bool>,
        Csv<String>,
        Json<Vec<u32>>,
        Json<std::collections::HashMap<String, u8>>,
        Json<u8>,
        Parsed<u16>,
    );
    for key in [
        "S",
        "LIST",
        "NUMLIST",
        "QUOTED_LIST",
        "JSON_BAD",
        "JSON_NUM",
        "BIG",
    ] {
        s.result("Csv<u8>", cfg.get::<Csv<u8>>(key));
        s.result("Json<Vec<u8>>", cfg.get::<Json<Vec<u8>>>(key));
        s.result("SecretBox<u64>", cfg.get::<SecretBox<u64>>(key));
        s.result("Parsed<Level>", cfg.get::<Parsed<Level>>(key));
        s.result("from_str_value Mode", cfg.get::<Mode>(key));
        s.result(
            "Choices",
            cfg.get_with(key, Choices::new(["dev", "staging", "prod"])),
        );
        s.result(
            "Csv::parse_with",
            cfg.get_with(key, |raw: &str| Csv::<u16>::parse_with(raw, ';')),
        );
    }
    // Secrets print redacted.
    let secret: SecretString = cfg.get("S").unwrap();
    s.text("SecretString Debug", &format!("{secret:?}"));
    let boxed: SecretBox<String> = cfg.get("S").unwrap();
    s.text("SecretBox Debug", &format!("{boxed:?}"));
    assert_eq!(secret.expose_secret(), c);

    // Missing, with a skipped encrypted file and canaries everywhere else.
    let p = Project::standard();
    let cfg = Config::builder()
        .dir(p.dir.path())
        .environment([("ENV_SECRET", C_ENV)])
        .build()
        .unwrap();
    s.result("Missing", cfg.get::<String>("NOPE"));
    s.result(
        "Missing SecretString",
        cfg.get::<SecretString>("ENC_SECRET"),
    );
    s.result(
        "Missing get_with",
        cfg.get_with("NOPE", Choices::new(["a"])),
    );
    s.text("Config Debug (.env, skipped .env.enc)", &format!("{cfg:?}"));
    s.text("source_of", &format!("{:?}", cfg.source_of("LOCAL_SECRET")));
    s.text("keys", &format!("{:?}", cfg.keys()));
    s.text("layer_names", &format!("{:?}", cfg.layer_names()));

    // A full configuration: every layer, every Debug.
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("SD_SECRET"), C_SECRETSDIR).unwrap();
    let builder = Config::builder()
        .dir(p.dir.path())
        .environment([
            ("ENV_SECRET", C_ENV),
            ("DB_PASS_FILE", p.p("db_pass.txt").to_str().unwrap()),
        ])
        .key(&SecretString::from(key_a()))
        .unwrap()
        .password(SecretString::from(C_PASSWORD))
        .secrets_dir(secrets.path());
    s.text("ConfigBuilder Debug", &format!("{builder:?} {builder:#?}"));
    let cfg = builder.build().unwrap();
    s.text("Config Debug (all layers)", &format!("{cfg:?} {cfg:#?}"));
    assert_eq!(cfg.get::<String>("SD_SECRET").unwrap(), C_SECRETSDIR);
    for key in [
        "ENV_SECRET",
        "DB_PASS",
        "SD_SECRET",
        "LOCAL_SECRET",
        "ENC_SECRET",
        "DATABASE_URL",
    ] {
        s.result("Invalid u16 from every layer", cfg.get::<u16>(key));
        s.result("Invalid bool from every layer", cfg.get::<bool>(key));
        s.result(
            "Invalid Json from every layer",
            cfg.get::<Json<Vec<u8>>>(key),
        );
        s.text(
            "source_of every layer",
            &format!("{:?}", cfg.source_of(key)),
        );
    }
    let mut cmd = Command::new("true");
    cfg.apply_to(&mut cmd).unwrap();
    s.text("keys (all layers)", &format!("{:?}", cfg.keys()));

    // Key material types.
    let ring = Keyring::parse(&format!("{},{}", key_a(), key_b())).unwrap();
    s.text("Keyring Debug", &format!("{ring:?} {ring:#?}"));
    s.text("Key Debug", &format!("{:?}", ring.first()));
    s.text(
        "Sealer Debug",
        &format!(
            "{:?} {:?}",
            envcloak::vault::Sealer::Keys(ring.clone()),
            envcloak::vault::Sealer::Password {
                password: zeroize::Zeroizing::new(C_PASSWORD.to_owned()),
                iterations: 600_000,
                salt: Some(C_PASSWORD.as_bytes().to_vec()),
            }
        ),
    );
    let entries = envcloak::dotenv::parse(DOTENV).unwrap();
    s.text("dotenv Entry Debug", &format!("{entries:?} {entries:#?}"));
    for bad in [
        C_KEYSTR,
        &format!("{},{C_KEYSTR}", key_a()),
        &format!("{C_KEYSTR}AAAA"),
    ] {
        match Keyring::parse(bad) {
            Ok(_) => s.failures.push("a canary parsed as a key".into()),
            Err(e) => s.text("KeyError", &format!("{e} {e:?}")),
        }
        s.result(
            "builder.key",
            Config::builder().key(&SecretString::from(bad)),
        );
    }

    // Parse: every bad line, in .env and .env.enc.
    for line in bad_lines() {
        let q = Project::empty();
        q.write(".env", format!("{DOTENV}{line}\nAFTER=1\n"));
        s.result(
            &format!("Parse .env `{line}`"),
            Config::builder()
                .dir(q.dir.path())
                .process_env(false)
                .build(),
        );
        s.result(
            &format!("dotenv::parse `{line}`"),
            envcloak::dotenv::parse(&format!("{line}\n")).map_err(|e| Error::Parse {
                path: ".env".into(),
                line: e.line,
                reason: e.to_string().into(),
            }),
        );
        if let Err(e) = envcloak::dotenv::parse(&format!("{line}\n")) {
            s.text("ParseError", &format!("{e} {e:?}"));
        }
        q.remove(".env");
        q.seal(".env.enc", format!("{ENC}{line}\n"), key_a());
        s.result(
            &format!("Parse .env.enc `{line}`"),
            Config::builder()
                .dir(q.dir.path())
                .environment([("ENVCLOAK_KEY", key_a())])
                .build(),
        );
        s.result(
            "vault::validate",
            envcloak::vault::validate(Path::new(".env.enc"), &format!("{line}\n")),
        );
        q.write(".env.example", format!("{EXAMPLE}{line}\n"));
        s.result(
            "Example::load",
            envcloak::example::Example::load(q.p(".env.example")),
        );
    }
    let q = Project::empty();
    q.write(
        ".env",
        [format!("A={C_BADLINE}\n").as_bytes(), b"\xff\n"].concat(),
    );
    s.result(
        "Parse non-UTF-8 .env",
        Config::builder()
            .dir(q.dir.path())
            .process_env(false)
            .build(),
    );
    q.remove(".env");
    q.seal(
        ".env.enc",
        [format!("A={C_BADLINE}\n").as_bytes(), b"\xff\n"].concat(),
        key_a(),
    );
    s.result(
        "Parse non-UTF-8 .env.enc",
        Config::builder()
            .dir(q.dir.path())
            .environment([("ENVCLOAK_KEY", key_a())])
            .build(),
    );
    q.write(".env.example", format!("# @type {C_BADLINE}\nA=\n"));
    s.result(
        "Parse bad directive",
        envcloak::example::Example::load(q.p(".env.example")),
    );
    q.write(".env.example", format!("# @generate {C_BADLINE}\nA=\n"));
    s.result(
        "Parse bad generate",
        envcloak::example::Example::load(q.p(".env.example")),
    );
    q.write(".env.example", format!("# @{C_BADLINE}\nA=\n"));
    s.result(
        "Parse unknown directive",
        envcloak::example::Example::load(q.p(".env.example")),
    );

    // Decrypt: wrong key, tampered, truncated, password mode.
    let p = Project::standard();
    let build = |key: &str| {
        Config::builder()
            .dir(p.dir.path())
            .environment([("ENVCLOAK_KEY", key)])
            .build()
    };
    s.result("Decrypt wrong key", build(key_b()));
    let good = std::fs::read(p.p(".env.enc")).unwrap();
    let mut bad = good.clone();
    bad[40] = if bad[40] == b'A' { b'B' } else { b'A' };
    p.write(".env.enc", &bad);
    s.result("Decrypt tampered", build(key_a()));
    p.write(".env.enc", &good[..good.len() / 2]);
    s.result("Decrypt truncated", build(key_a()));
    p.write(".env.enc", format!("{C_BADLINE}\n"));
    s.result("Decrypt not a token", build(key_a()));
    p.write(".env.enc", "\n");
    s.result("Decrypt empty", build(key_a()));
    p.write(
        ".env.enc",
        format!("envcloak:pbkdf2-sha256:1:{C_BADLINE}\n{C_BADLINE}\n"),
    );
    s.result("Decrypt bad header", build(key_a()));
    p.write(
        ".env.enc",
        crypto::encrypt_with_password(C_PASSWORD.as_bytes(), ENC.as_bytes(), 600_000),
    );
    s.result("Decrypt password file, wrong password", {
        Config::builder()
            .dir(p.dir.path())
            .environment([("ENVCLOAK_PASSWORD", C_KEYSTR)])
            .build()
    });
    p.write(".env.enc", &good);
    // Made at least a second ago: expired with a TTL of zero.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.result(
        "Decrypt expired",
        Config::builder()
            .dir(p.dir.path())
            .environment([("ENVCLOAK_KEY", key_a())])
            .ttl(std::time::Duration::ZERO)
            .build(),
    );

    // KeyNotFound: an explicit encrypted file, no key anywhere.
    s.result(
        "KeyNotFound",
        envcloak::keys::require(&envcloak::keys::Search {
            env: &|_| None,
            profile: Some("production"),
            encrypted: &p.p(".env.enc"),
        }),
    );

    // Key: every route, canary contents, loose permissions, key commands.
    let kf = p.p("canary.key");
    std::fs::write(&kf, format!("{C_KEYFILE}\n")).unwrap();
    std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let loose = p.p("loose.key");
    std::fs::write(&loose, key_a()).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let kf_s = kf.display().to_string();
    let loose_s = loose.display().to_string();
    let cmd_canary = format!("echo {C_KEYSTR}");
    let cmd_key_b = format!("echo {}", key_b());
    // ENVCLOAK_KEY_PRODUCTION opens .env.production.enc (only).
    std::fs::copy(p.p(".env.enc"), p.p(".env.production.enc")).unwrap();
    for (label, env) in [
        ("ENVCLOAK_KEY canary", vec![("ENVCLOAK_KEY", C_KEYSTR)]),
        (
            "ENVCLOAK_KEY keyring canary",
            vec![("ENVCLOAK_KEY", &*format!("{},{C_KEYSTR}", key_a()))],
        ),
        (
            "ENVCLOAK_KEY_FILE canary",
            vec![("ENVCLOAK_KEY_FILE", kf_s.as_str())],
        ),
        (
            "ENVCLOAK_KEY_FILE loose",
            vec![("ENVCLOAK_KEY_FILE", loose_s.as_str())],
        ),
        (
            "ENVCLOAK_KEY_CMD canary",
            vec![("ENVCLOAK_KEY_CMD", cmd_canary.as_str())],
        ),
        (
            "ENVCLOAK_KEY_CMD fails",
            vec![("ENVCLOAK_KEY_CMD", "exit 7")],
        ),
        (
            "ENVCLOAK_KEY_CMD wrong key",
            vec![("ENVCLOAK_KEY_CMD", cmd_key_b.as_str())],
        ),
        (
            "profile key canary",
            vec![
                ("ENVCLOAK_PROFILE", "production"),
                ("ENVCLOAK_KEY_PRODUCTION", C_KEYSTR),
            ],
        ),
        ("bad profile", vec![("ENVCLOAK_PROFILE", "../etc")]),
    ] {
        s.result(
            label,
            Config::builder().dir(p.dir.path()).environment(env).build(),
        );
    }
    s.result(
        "builder key_file canary",
        Config::builder()
            .dir(p.dir.path())
            .process_env(false)
            .key_file(&kf)
            .build(),
    );
    s.result(
        "builder key_file loose",
        Config::builder()
            .dir(p.dir.path())
            .process_env(false)
            .key_file(&loose)
            .build(),
    );
    s.result("read_key_file canary", envcloak::keys::read_key_file(&kf));
    s.result("read_key_file loose", envcloak::keys::read_key_file(&loose));
    let q = Project::standard();
    q.write_mode(".env.key", format!("{C_KEYFILE}\n"), 0o600);
    s.result(
        ".env.key canary",
        Config::builder()
            .dir(q.dir.path())
            .process_env(false)
            .build(),
    );
    q.write_mode(".env.key", key_a(), 0o604);
    s.result(
        ".env.key loose",
        Config::builder()
            .dir(q.dir.path())
            .process_env(false)
            .build(),
    );

    // Io: NAME_FILE to a directory and to nothing, explicit files missing,
    // .env a directory, a directory inside a secrets dir.
    let q = Project::standard();
    std::fs::create_dir(q.p("adir")).unwrap();
    for (label, target) in [
        ("NAME_FILE dir", q.p("adir")),
        ("NAME_FILE missing", q.p("none")),
    ] {
        let cfg = Config::builder()
            .dir(q.dir.path())
            .environment([
                ("ENVCLOAK_KEY", key_a()),
                ("DB_PASS_FILE", target.to_str().unwrap()),
            ])
            .build()
            .unwrap();
        s.result(label, cfg.get::<String>("DB_PASS"));
        s.result(label, cfg.get_raw("DB_PASS"));
        let mut cmd = Command::new("true");
        s.result(
            label,
            cfg.apply_to(&mut cmd)
                .and_then(|_| cfg.get::<SecretString>("DB_PASS")),
        );
        // Whole-struct deserialization skips a `*_FILE` variable whose file
        // cannot be read (tools set many: SSL_CERT_FILE, ...): no error, no
        // value, and certainly no leak.
        let all = cfg
            .deserialize::<std::collections::HashMap<String, String>>()
            .expect("a stray *_FILE does not fail deserialize");
        assert!(!all.contains_key("db_pass"), "{label}");
    }
    s.result(
        "explicit file missing",
        Config::builder()
            .dir(q.dir.path())
            .file(q.p("nope.env"))
            .process_env(false)
            .build(),
    );
    s.result(
        "explicit encrypted file missing",
        Config::builder()
            .dir(q.dir.path())
            .encrypted_file(q.p("nope.enc"))
            .process_env(false)
            .build(),
    );
    s.result(
        "vault::read missing",
        envcloak::vault::read(&q.p("nope.enc")),
    );
    s.result("vault::read dir", envcloak::vault::read(&q.p("adir")));
    q.remove(".env");
    std::fs::create_dir(q.p(".env")).unwrap();
    s.result(
        ".env dir",
        Config::builder()
            .dir(q.dir.path())
            .process_env(false)
            .build(),
    );
    let sd = tempfile::tempdir().unwrap();
    std::fs::write(sd.path().join("OK"), C_SECRETSDIR).unwrap();
    std::fs::create_dir(sd.path().join("SUB")).unwrap();
    s.result(
        "secrets dir with a directory",
        Config::builder()
            .dir(empty.path())
            .process_env(false)
            .secrets_dir(sd.path())
            .build(),
    );
    s.result(
        "secrets dir missing",
        Config::builder()
            .dir(empty.path())
            .process_env(false)
            .secrets_dir(q.p("nope"))
            .build(),
    );
    let sd = tempfile::tempdir().unwrap();
    std::fs::write(
        sd.path().join("BIN"),
        [C_SECRETSDIR.as_bytes(), b"\xff"].concat(),
    )
    .unwrap();
    s.result(
        "secrets dir non-UTF-8 file",
        Config::builder()
            .dir(empty.path())
            .process_env(false)
            .secrets_dir(sd.path())
            .build(),
    );

    // Check.
    let q = Project::empty();
    q.write(
        ".env.example",
        "# @type int\nPORT=\n# @type bool\nDEBUG=\n# @type url\nURL=\n# @type json\nJ=\n\
         # @type float\nF=\n# @type csv\nL=\nREQUIRED=\n",
    );
    let cfg = Config::builder()
        .dir(q.dir.path())
        .environment([
            ("PORT", C_TYPE),
            ("DEBUG", C_TYPE),
            ("URL", C_TYPE),
            ("J", C_TYPE),
            ("F", C_NUM),
            ("L", &*format!("\"{C_TYPE}")),
            ("REQUIRED", "   "),
        ])
        .build()
        .unwrap();
    s.result("Check", cfg.check_against(q.p(".env.example")));
    for p in envcloak::example::check_config(
        &cfg,
        &envcloak::example::Example::load(q.p(".env.example")).unwrap(),
    ) {
        s.text("check_config Problem", &format!("{p} {p:?}"));
    }

    s.finish("library errors");
}

// ---------------------------------------------------------------------------
// Library: Deserialize through config-rs
// ---------------------------------------------------------------------------

mod typed {
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Port {
        pub port: u16,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Flag {
        pub debug: bool,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub enum Kind {
        Dev,
        Prod,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct WithEnum {
        pub kind: Kind,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Lists {
        pub ports: Vec<u16>,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Nested {
        pub db: Db,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Db {
        pub port: u16,
        pub url: String,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Floats {
        pub ratio: f64,
        pub small: i8,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Chars {
        pub c: char,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Missing {
        pub not_there: String,
    }
    /// A type whose own deserialization error quotes the value.
    #[derive(Debug)]
    pub struct Quoting;
    impl<'de> Deserialize<'de> for Quoting {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            Err(serde::de::Error::custom(format!("cannot use {s} here")))
        }
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Custom {
        pub token: Quoting,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    pub struct Tuple {
        pub pair: (u8, u8),
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    #[serde(deny_unknown_fields)]
    pub struct Strict {
        pub port: Option<u16>,
    }
}

#[test]
fn library_deserialize_errors_never_show_values() {
    let mut s = Shown::default();
    let c = C_TYPE;
    let env: Vec<(&str, String)> = vec![
        ("PORT", c.into()),
        ("DEBUG", c.into()),
        ("KIND", c.into()),
        ("PORTS", format!("80, {c}")),
        ("DB__PORT", C_NUM.into()),
        ("DB__URL", C_ENC_DB.into()),
        ("RATIO", c.into()),
        ("SMALL", C_NEG.into()),
        ("C", c.into()),
        ("TOKEN", C_ENC.into()),
        ("PAIR", format!("1, {c}")),
        ("APP_PORT", C_NUM.into()),
        ("OTHER", C_ENV.into()),
    ];
    let empty = tempfile::tempdir().unwrap();
    let cfg = Config::builder()
        .dir(empty.path())
        .environment(env.iter().map(|(k, v)| (*k, v.as_str())))
        .build()
        .unwrap();
    s.result("Port", cfg.deserialize::<typed::Port>());
    s.result("Flag", cfg.deserialize::<typed::Flag>());
    s.result("WithEnum", cfg.deserialize::<typed::WithEnum>());
    s.result("Lists", cfg.deserialize::<typed::Lists>());
    s.result("Nested", cfg.deserialize::<typed::Nested>());
    s.result("Floats", cfg.deserialize::<typed::Floats>());
    s.result("Chars", cfg.deserialize::<typed::Chars>());
    s.result("Missing", cfg.deserialize::<typed::Missing>());
    s.result("Custom", cfg.deserialize::<typed::Custom>());
    s.result("Tuple", cfg.deserialize::<typed::Tuple>());
    s.result("Strict", cfg.deserialize::<typed::Strict>());
    s.result("prefixed", cfg.deserialize_prefixed::<typed::Port>("APP_"));
    s.result(
        "map of u8",
        cfg.deserialize::<std::collections::HashMap<String, u8>>(),
    );
    // The same from files.
    let p = Project::standard();
    p.write(
        ".env",
        env.iter()
            .map(|(k, v)| format!("{k}='{v}'\n"))
            .collect::<String>(),
    );
    let cfg = Config::builder()
        .dir(p.dir.path())
        .environment([("ENVCLOAK_KEY", key_a())])
        .build()
        .unwrap();
    s.result("Port from .env", cfg.deserialize::<typed::Port>());
    s.result("Nested from .env", cfg.deserialize::<typed::Nested>());
    s.result("Custom from .env", cfg.deserialize::<typed::Custom>());
    s.result("WithEnum from .env", cfg.deserialize::<typed::WithEnum>());
    s.finish("library Deserialize errors");
}

/// The detector itself: whole canaries, tails, fragments, keys, and what
/// `allowed` lets through.
#[test]
fn the_leak_detector_finds_what_it_should() {
    assert!(leaks("nothing here", &[], &[]).is_empty());
    assert_eq!(leaks(&format!("x {C_DOTENV} y"), &[], &[]), [C_DOTENV]);
    assert!(leaks(&format!("x {C_DOTENV} y"), &[C_DOTENV], &[]).is_empty());
    assert_eq!(leaks(&format!("..{}", tail(C_ENC)), &[], &[]), [C_ENC]);
    assert_eq!(leaks("CANARY_other", &[], &[]), ["a CANARY fragment"]);
    assert_eq!(leaks(&format!("{C_NUM}0"), &[], &[]), [C_NUM]);
    assert_eq!(leaks(&key_a()[..20], &[], &[]).len(), 1);
    assert_eq!(leaks(key_a().trim_end_matches('='), &[], &[]).len(), 1);
    assert!(leaks(key_a(), &[key_a()], &[]).is_empty());
    let made = Key::generate().to_base64().to_string();
    assert_eq!(leaks(&made, &[], std::slice::from_ref(&made)).len(), 1);
    // Another canary is still caught next to an allowed one.
    assert_eq!(
        leaks(&format!("{C_ENC} {C_DOTENV}"), &[C_ENC], &[]),
        [C_DOTENV]
    );
}
