//! End-to-end tests of what the `envcloak` binary does around its commands:
//! usage errors that never repeat an argument (any could be a secret), a
//! closed standard output (exit 141, no panic, the work still done), and
//! the panic hook (no payload, exit 70).
//!
//! Every test drives the real binary in its own temporary directory, with
//! an empty environment except `PATH`, `HOME` (the temporary directory) and
//! the variables the test gives.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_envcloak");

/// Text that must never be printed back. Its 3-character windows appear in
/// no message of envcloak's, so a fragment of it is caught too.
const CANARY: &str = "QX7ZV9KW";

/// A temporary project directory; the current directory of every command.
fn project() -> tempfile::TempDir {
    // Under the system temp dir, not target/ (whose parents hold the
    // crate's `.git`, which project-root discovery would find).
    tempfile::Builder::new()
        .prefix("envcloak-usage-")
        .tempdir()
        .expect("temp dir")
}

/// `envcloak ARGS` in `dir`, with only `PATH`, `HOME` and `env`.
fn envcloak<S: AsRef<OsStr>>(dir: &Path, args: &[S], env: &[(&str, &str)]) -> Command {
    envcloak_as(BIN.as_ref(), dir, args, env)
}

/// [`envcloak`] started through `program` (a link to the binary).
fn envcloak_as<S: AsRef<OsStr>>(
    program: &Path,
    dir: &Path,
    args: &[S],
    env: &[(&str, &str)],
) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to the end, capturing both outputs.
fn run(mut cmd: Command) -> Output {
    cmd.output().expect("run envcloak")
}

/// Runs `cmd` with its standard output on a pipe whose read end is closed
/// before the child starts, so its first write fails with EPIPE.
fn run_closed_stdout(mut cmd: Command) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped());
    let out = cmd.output().expect("run envcloak");
    assert!(out.stdout.is_empty());
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exit code, stdout and stderr, for assertion messages.
fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Asserts that `word` is nowhere in stdout or stderr.
fn absent(out: &Output, word: &str) {
    let both = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!both.contains(word), "'{word}' was printed:\n{}", show(out));
}

/// Asserts that no 3-character piece of `secret` (built on [`CANARY`]) is
/// in stdout or stderr.
fn hides(out: &Output, secret: &str) {
    let both = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let chars: Vec<char> = secret.chars().collect();
    for w in chars.windows(3) {
        let piece: String = w.iter().collect();
        assert!(
            !both.contains(&piece),
            "'{piece}' (from '{secret}') was printed:\n{}",
            show(out)
        );
    }
}

/// Asserts a usage error: exit 2, nothing on stdout, no panic, no
/// fragment of `secret`, and stderr holding every one of `expected`.
fn usage_error(out: &Output, secret: &str, expected: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "{}", show(out));
    assert!(out.stdout.is_empty(), "{}", show(out));
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{}", show(out));
    hides(out, secret);
    for e in expected {
        assert!(err.contains(e), "stderr lacks '{e}':\n{}", show(out));
    }
}

/// `envcloak ARGS` in a fresh directory, expected to be a usage error
/// that shows no piece of [`CANARY`] and none of the arguments holding it.
fn usage_case(args: &[&str], expected: &[&str]) {
    let dir = project();
    let out = run(envcloak(dir.path(), args, &[]));
    usage_error(&out, CANARY, expected);
    for a in args.iter().filter(|a| a.contains(CANARY)) {
        absent(&out, a);
    }
}

// ---------------------------------------------------------------------------
// Usage errors never repeat an argument
// ---------------------------------------------------------------------------

#[test]
fn set_with_a_value_like_a_long_option_is_not_echoed() {
    let value = format!("--s3cr3t{CANARY}");
    usage_case(
        &["set", "K", &value],
        &[
            "error: unexpected argument",
            "envcloak set KEY -- -value",
            "Usage: envcloak set",
            "'envcloak set --help'",
        ],
    );
}

#[test]
fn set_with_a_value_like_short_options_is_not_echoed() {
    // `token --urlsafe` output starts with '-' about once in 64 tries: such
    // a value right after KEY is taken as the value (tests/cli_hardening.rs
    // sets it); here, with no .env.enc to set it in, it is not echoed.
    for value in [
        format!("-{CANARY}"),
        format!("-x{CANARY}"),
        format!("-abc{CANARY}"),
        format!("-h{CANARY}"),
        format!("-f{CANARY}"),
    ] {
        let dir = project();
        let out = run(envcloak(dir.path(), &["set", "K", &value], &[]));
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        hides(&out, CANARY);
        absent(&out, &value);
    }
}

#[test]
fn set_with_an_unquoted_value_of_several_words_is_not_echoed() {
    let words = ["correct", "horse", "battery", CANARY];
    let mut args = vec!["set", "PASS"];
    args.extend(words);
    let dir = project();
    let out = run(envcloak(dir.path(), &args, &[]));
    usage_error(
        &out,
        CANARY,
        &["unexpected extra argument", "quote", "Usage: envcloak set"],
    );
    for w in &words[..3] {
        absent(&out, w);
    }
    // And with three words only: the first extra one is named by nobody.
    usage_case(
        &["set", "K", "a", &format!("b{CANARY}"), "c"],
        &["unexpected extra argument", "Usage: envcloak set"],
    );
}

#[test]
fn encrypt_password_with_a_value_is_not_echoed() {
    let arg = format!("--password=hunter2{CANARY}");
    let dir = project();
    let out = run(envcloak(dir.path(), &["encrypt", &arg], &[]));
    usage_error(
        &out,
        CANARY,
        &["'--password' takes no value", "Usage: envcloak encrypt"],
    );
    absent(&out, "hunter2");
}

#[test]
fn an_unknown_option_is_not_echoed_and_a_near_miss_is_suggested() {
    let arg = format!("--{CANARY}");
    usage_case(
        &["decrypt", &arg],
        &["unexpected argument", "Usage: envcloak decrypt"],
    );
    // A near miss: the suggestion comes from the definitions.
    let dir = project();
    let out = run(envcloak(dir.path(), &["decrypt", "--formt", "json"], &[]));
    usage_error(
        &out,
        CANARY,
        &["unexpected argument", "did you mean '--format'?"],
    );
    absent(&out, "formt");
    // An option of a subcommand given before it.
    let out = run(envcloak(dir.path(), &["--format", "json", "decrypt"], &[]));
    usage_error(&out, CANARY, &["did you mean 'envcloak decrypt --format'?"]);
}

#[test]
fn run_with_an_unknown_option_is_refused_unechoed() {
    for arg in [format!("--passkey{CANARY}"), format!("-{CANARY}")] {
        usage_case(
            &["run", &arg, "--", "true"],
            &["unexpected argument", "Usage: envcloak run"],
        );
    }
}

#[test]
fn an_invalid_format_is_not_echoed() {
    for args in [
        vec!["decrypt", "--format", CANARY],
        vec!["decrypt", "--format=jsonQX7ZV9KW"],
    ] {
        usage_case(
            &args,
            &[
                "invalid value for '--format <FORMAT>'",
                "possible values: dotenv, json, shell",
                "Usage: envcloak decrypt",
            ],
        );
    }
    usage_case(
        &["ls", "--format", CANARY],
        &["invalid value for '--format <FORMAT>'", "possible values: "],
    );
    let dir = project();
    let out = run(envcloak(dir.path(), &["decrypt", "--format", "jsn"], &[]));
    usage_error(&out, CANARY, &["did you mean 'json'?"]);
    absent(&out, "jsn");
}

#[test]
fn an_invalid_number_is_not_echoed() {
    usage_case(
        &["token", CANARY],
        &["invalid value for '[BYTES]'", "Usage: envcloak token"],
    );
}

#[test]
fn an_unknown_command_is_not_echoed() {
    usage_case(
        &[CANARY],
        &[
            "unrecognized command",
            "Usage: envcloak [OPTIONS] <COMMAND>",
        ],
    );
    usage_case(
        &["--profile", "dev", CANARY, "K"],
        &["unrecognized command"],
    );
    usage_case(&["help", CANARY], &["unrecognized command"]);
    let dir = project();
    let out = run(envcloak(dir.path(), &["decrypy"], &[]));
    usage_error(&out, CANARY, &["did you mean", "'decrypt'"]);
    absent(&out, "decrypy");
}

#[test]
fn an_argument_that_is_not_utf8_is_not_echoed() {
    let mut value = CANARY.as_bytes().to_vec();
    value.push(0xff);
    let dir = project();
    let args = [
        OsString::from("set"),
        OsString::from("K"),
        OsString::from_vec(value),
    ];
    let out = run(envcloak(dir.path(), &args, &[]));
    usage_error(&out, CANARY, &["not valid UTF-8", "Usage: envcloak set"]);
}

#[test]
fn the_usage_line_does_not_take_the_name_from_argv0() {
    let dir = project();
    let link = dir.path().join(format!("{CANARY}-tool"));
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = run(envcloak_as(&link, dir.path(), &["set", "K", "--nope"], &[]));
    usage_error(&out, CANARY, &["Usage: envcloak set"]);
}

#[test]
fn errors_without_user_input_still_name_the_argument() {
    usage_case(
        &["set"],
        &["required argument missing: <KEY>", "Usage: envcloak set"],
    );
    usage_case(
        &["token", "5", "--hex", "--urlsafe"],
        &[
            "'--hex' cannot be used with '--urlsafe'",
            "Usage: envcloak token",
        ],
    );
    usage_case(
        &["decrypt", "--format"],
        &["a value is required for '--format <FORMAT>'"],
    );
    usage_case(&["-f"], &["a value is required for '--file <FILE>'"]);
    // No command: the help, on stderr.
    let dir = project();
    let out = run(envcloak(dir.path(), &[] as &[&str], &[]));
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("Usage: envcloak [OPTIONS] <COMMAND>"));
}

#[test]
fn help_and_version_still_work() {
    let dir = project();
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["set", "--help"],
        &["help", "set"],
    ] {
        let out = run(envcloak(dir.path(), args, &[]));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("Usage: envcloak"), "{}", show(&out));
        assert!(out.stderr.is_empty(), "{}", show(&out));
    }
    let out = run(envcloak(dir.path(), &["set", "--help"], &[]));
    assert!(text(&out.stdout).contains("Usage: envcloak set [OPTIONS] <KEY> [VALUE]"));
    for flag in ["--version", "-V"] {
        let out = run(envcloak(dir.path(), &[flag], &[]));
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_eq!(
            text(&out.stdout),
            format!("envcloak {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn a_value_starting_with_dash_goes_after_double_dash() {
    let dir = project();
    let value = format!("-{CANARY}");
    let ok = |args: &[&str]| {
        let out = run(envcloak(dir.path(), args, &[]));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
        out
    };
    ok(&["keygen", "--write"]);
    std::fs::write(dir.path().join(".env"), "A=1\n").unwrap();
    ok(&["encrypt"]);
    let out = ok(&["set", "K", "--", &value]);
    hides(&out, &value);
    let out = ok(&["get", "K"]);
    assert_eq!(text(&out.stdout), format!("{value}\n"));
}

// ---------------------------------------------------------------------------
// A closed standard output
// ---------------------------------------------------------------------------

/// Asserts the quiet exit of a command whose stdout was closed.
fn closed_quietly(out: &Output) {
    assert_eq!(out.status.code(), Some(141), "{}", show(out));
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{}", show(out));
    assert!(!err.contains("internal error"), "{}", show(out));
}

#[test]
fn help_and_version_on_a_closed_stdout_exit_141() {
    let dir = project();
    for args in [&["--help"][..], &["set", "--help"], &["--version"]] {
        let out = run_closed_stdout(envcloak(dir.path(), args, &[]));
        closed_quietly(&out);
        assert!(out.stderr.is_empty(), "{}", show(&out));
    }
}

#[test]
fn a_usage_error_on_a_closed_stdout_keeps_its_code() {
    let dir = project();
    let out = run_closed_stdout(envcloak(dir.path(), &["set", "K", "--nope"], &[]));
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn help_on_a_full_stdout_names_standard_output() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let dir = project();
    let mut cmd = envcloak(dir.path(), &["--help"], &[]);
    cmd.stdout(full);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains("standard output"), "{}", show(&out));
    assert!(!err.contains("panicked"), "{}", show(&out));
}

#[test]
fn keygen_and_token_on_a_closed_stdout_exit_141() {
    let dir = project();
    for args in [
        &["keygen"][..],
        &["token"],
        &["token", "100000"],
        &["token", "16", "--urlsafe"],
    ] {
        let out = run_closed_stdout(envcloak(dir.path(), args, &[]));
        closed_quietly(&out);
    }
    // --write still writes its file.
    let out = run_closed_stdout(envcloak(dir.path(), &["keygen", "--write"], &[]));
    assert!(matches!(out.status.code(), Some(0 | 141)), "{}", show(&out));
    assert!(dir.path().join(".env.key").is_file(), "{}", show(&out));
}

#[test]
fn project_commands_on_a_closed_stdout_exit_141_and_finish_their_work() {
    let dir = project();
    let p = dir.path();
    std::fs::write(
        p.join(".env.example"),
        "# @required\nDATABASE_URL=postgres://localhost/app\n\n# @generate hex:16\nAPI_TOKEN=\n",
    )
    .unwrap();
    std::fs::write(
        p.join(".env"),
        "DATABASE_URL=postgres://db/app\nAPI_TOKEN=abc\n",
    )
    .unwrap();
    for args in [&["keygen", "--write"][..], &["encrypt"]] {
        let out = run(envcloak(p, args, &[]));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
    }
    for args in [
        &["ls"][..],
        &["ls", "--show", "--format", "json"],
        &["get", "DATABASE_URL"],
        &["decrypt"],
        &["decrypt", "--format", "json"],
        &["check"],
    ] {
        let out = run_closed_stdout(envcloak(p, args, &[]));
        closed_quietly(&out);
    }
    // init --force: the backup is made and the new .env still written.
    let out = run_closed_stdout(envcloak(p, &["init", "--force"], &[]));
    closed_quietly(&out);
    let names: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with(".env.backup-")),
        "{names:?}"
    );
    let env = std::fs::read_to_string(p.join(".env")).unwrap();
    assert!(!env.contains("API_TOKEN=abc"), "a new .env: {env}");
}

#[test]
fn rotate_on_a_closed_stdout_changes_nothing() {
    // The new keyring printed to nobody must not seal the file.
    let dir = project();
    let p = dir.path();
    let key = run(envcloak(p, &["keygen"], &[]));
    let key = text(&key.stdout).trim().to_owned();
    std::fs::write(p.join(".env"), "A=1\n").unwrap();
    let env = [("ENVCLOAK_KEY", key.as_str())];
    let out = run(envcloak(p, &["encrypt"], &env));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let before = std::fs::read(p.join(".env.enc")).unwrap();
    let out = run_closed_stdout(envcloak(p, &["rotate"], &env));
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("standard output"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read(p.join(".env.enc")).unwrap(), before);
}

// ---------------------------------------------------------------------------
// The panic hook
// ---------------------------------------------------------------------------

/// Runs the debug-only panic trigger (`ENVCLOAK_TEST_PANIC`) and checks
/// that only the location is printed, the exit code is 70 and the Drops
/// ran (the trigger leaves a temp file that only its Drop removes).
#[cfg(debug_assertions)]
fn panics_quietly(trigger: &str) {
    let dir = project();
    let payload = format!("{trigger}{CANARY}");
    let out = run(envcloak(
        dir.path(),
        &["keygen"],
        &[("ENVCLOAK_TEST_PANIC", &payload)],
    ));
    assert_eq!(out.status.code(), Some(70), "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    hides(&out, CANARY);
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{}", show(&out));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{}", show(&out));
    let line = lines[0];
    assert!(
        line.starts_with("envcloak: internal error (a bug in envcloak) at ")
            && line.ends_with("; please report it"),
        "{line}"
    );
    assert!(line.contains("src/main.rs:"), "{line}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "a Drop did not run: {left:?}");
}

#[test]
#[cfg(debug_assertions)]
fn a_panic_prints_no_payload_and_exits_70() {
    panics_quietly("");
}

#[test]
#[cfg(debug_assertions)]
fn a_panic_in_another_thread_prints_no_payload_either() {
    panics_quietly("thread:");
}
