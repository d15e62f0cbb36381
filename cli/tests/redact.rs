//! End-to-end tests of `envcloak redact` and `run --redact` through the
//! real binary: which values are replaced (and by what), which are left
//! alone, streaming (split values, prompts without a newline), multi-line,
//! unicode and binary input, and for `run --redact` the separation of
//! stdout and stderr, exit codes and signals.
//!
//! Every canary is checked twice: present in what went in, absent from what
//! came out — so that no test passes because the value was never there.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::Project;

/// `input` holds `canary`, `output` does not.
#[track_caller]
fn hidden(canary: &str, input: &[u8], output: &[u8]) {
    let (i, o) = (
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(output),
    );
    assert!(i.contains(canary), "the canary is not in the input");
    assert!(!o.contains(canary), "the canary went through:\n{o}");
}

/// `envcloak redact ARGS` with `input` on stdin: its standard output.
#[track_caller]
fn redact(p: &Project, args: &[&str], input: &str) -> String {
    let mut all = vec!["redact"];
    all.extend_from_slice(args);
    let out = p.envcloak(&all).stdin(input).run().ok();
    out.stdout().to_owned()
}

/// `envcloak ARGS` in the project with the harness's isolated environment
/// (plus `envs`), every standard stream a pipe we hold: for tests that
/// write and read while it runs.
fn spawn(p: &Project, args: &[&str], envs: &[(&str, &str)]) -> Child {
    Command::new(common::BIN)
        .args(args)
        .current_dir(p.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", p.path())
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start envcloak")
}

/// Waits for `child`. A watchdog, not a timing assertion: a child still
/// running after a minute is killed and the test fails instead of hanging.
#[track_caller]
fn wait(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..6000 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("the command did not end");
}

/// Reads standard output in a thread: `next` hands over what arrives. A
/// watchdog, not a timing assertion: if nothing arrives for a minute the
/// child is killed and the test fails instead of hanging.
struct Reader {
    rx: mpsc::Receiver<Vec<u8>>,
}

impl Reader {
    fn new(child: &mut Child) -> Reader {
        let mut r = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            loop {
                let mut buf = [0u8; 4096];
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Reader { rx }
    }

    /// Collects output until it ends with `suffix` (the whole of it).
    #[track_caller]
    fn until(&self, child: &mut Child, suffix: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        while !got.ends_with(suffix) {
            match self.rx.recv_timeout(Duration::from_secs(60)) {
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "waited for {:?}, got only {:?}",
                        String::from_utf8_lossy(suffix),
                        String::from_utf8_lossy(&got)
                    );
                }
            }
        }
        got
    }

    /// Everything left, once the child has closed its standard output.
    fn rest(self) -> Vec<u8> {
        self.rx.into_iter().flatten().collect()
    }
}

#[test]
fn values_are_replaced_with_the_key_name() {
    let p = Project::new();
    p.write(
        ".env",
        "DB_PASSWORD=CANARY_db_7f3a9\nAPI_TOKEN=tok-CANARY-91b2\n",
    );
    let input = "connect with CANARY_db_7f3a9 (token tok-CANARY-91b2), again CANARY_db_7f3a9\n";
    let out = redact(&p, &[], input);
    assert_eq!(
        out,
        "connect with [REDACTED:DB_PASSWORD] (token [REDACTED:API_TOKEN]), again [REDACTED:DB_PASSWORD]\n"
    );
    hidden("CANARY_db_7f3a9", input.as_bytes(), out.as_bytes());
    hidden("tok-CANARY-91b2", input.as_bytes(), out.as_bytes());
}

#[test]
fn values_under_six_characters_are_left_alone() {
    let p = Project::new();
    p.write(
        ".env",
        "PORT=8000\nUSER=admin\nSIX=abcdef\nWIDE=ñññçç\nWIDE6=ñññççç\n",
    );
    let input = "port 8000 user admin six abcdef wide ñññçç wide6 ñññççç\n";
    let out = redact(&p, &[], input);
    assert_eq!(
        out, "port 8000 user admin six [REDACTED:SIX] wide ñññçç wide6 [REDACTED:WIDE6]\n",
        "counted in characters, not bytes"
    );
}

#[test]
fn public_keys_are_left_alone() {
    let p = Project::new();
    p.write(
        ".env",
        "DATABASE_HOST=db.internal.example\nSERVICE_URL=https://svc.example\nSECRET=CANARY_s3cr3t_77\n",
    );
    let input = "db.internal.example https://svc.example CANARY_s3cr3t_77\n";
    // Without any marking, all three are hidden: the markings below matter.
    assert_eq!(
        redact(&p, &[], input),
        "[REDACTED:DATABASE_HOST] [REDACTED:SERVICE_URL] [REDACTED:SECRET]\n"
    );
    p.write(
        ".env.example",
        "# where the database is\n# @public\nDATABASE_HOST=\nSERVICE_URL=\nSECRET=\n",
    );
    assert_eq!(
        redact(&p, &[], input),
        "db.internal.example [REDACTED:SERVICE_URL] [REDACTED:SECRET]\n"
    );
    let out = redact(&p, &["--public", "SERVICE_URL"], input);
    assert_eq!(
        out,
        "db.internal.example https://svc.example [REDACTED:SECRET]\n"
    );
    hidden("CANARY_s3cr3t_77", input.as_bytes(), out.as_bytes());
    // `check` knows the directive too.
    p.envcloak(&["check"]).run().ok();
}

#[test]
fn a_broken_example_makes_nothing_public() {
    let p = Project::new();
    p.write(".env", "HOST=db.internal.example\n");
    p.write(".env.example", "# @pubilc\nHOST=\n");
    let out = p
        .envcloak(&["redact"])
        .stdin("db.internal.example\n")
        .run()
        .ok();
    assert_eq!(out.stdout(), "[REDACTED:HOST]\n");
    out.stderr_says(&[".env.example", "@pubilc"]);
}

#[test]
fn a_public_flag_never_echoes_a_value() {
    let p = Project::new();
    p.write(".env", "SECRET=CANARY_s3cr3t_77\n");
    // (No stdin: it fails before reading any.)
    p.envcloak(&["redact", "--public", "SECRET=CANARY_s3cr3t_77"])
        .run()
        .fails(2)
        .hides("CANARY_s3cr3t_77");
}

#[test]
fn the_longest_of_overlapping_values_wins() {
    let p = Project::new();
    p.write(
        ".env",
        "SHORT=secret-value\nLONG=secret-value-longer\nTAIL=value-longer-tail\n",
    );
    let input =
        "a secret-value-longer b secret-value c value-longer-tail d secret-value-longer-tail\n";
    let out = redact(&p, &[], input);
    assert_eq!(
        out,
        "a [REDACTED:LONG] b [REDACTED:SHORT] c [REDACTED:TAIL] d [REDACTED:LONG]-tail\n"
    );
}

#[test]
fn a_value_split_across_two_writes_is_found() {
    let p = Project::new();
    p.write(".env", "TOKEN=CANARY_split_0123456789\n");
    let mut child = spawn(&p, &["redact"], &[]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"before CANARY_split_").unwrap();
    stdin.flush().unwrap();
    // Most likely two reads on the other side; the assertion holds either way.
    std::thread::sleep(Duration::from_millis(200));
    stdin.write_all(b"0123456789 after\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "before [REDACTED:TOKEN] after\n"
    );
    hidden(
        "CANARY_split_0123456789",
        b"before CANARY_split_0123456789 after",
        &out.stdout,
    );
}

#[test]
fn output_streams_before_stdin_closes() {
    let p = Project::new();
    p.write(".env", "TOKEN=CANARY_stream_42\n");
    let mut child = spawn(&p, &["redact"], &[]);
    let reader = Reader::new(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"first CANARY_stream_42\n").unwrap();
    stdin.flush().unwrap();
    let first = reader.until(&mut child, b"\n");
    assert_eq!(first, b"first [REDACTED:TOKEN]\n");
    // A prompt without a newline comes out too: nothing in it can begin
    // the value. "CANARY_s" could, and waits for what follows.
    stdin.write_all(b"password> ").unwrap();
    stdin.flush().unwrap();
    assert_eq!(reader.until(&mut child, b"> "), b"password> ");
    stdin.write_all(b"x CANARY_s").unwrap();
    stdin.flush().unwrap();
    assert_eq!(reader.until(&mut child, b"x "), b"x ");
    stdin.write_all(b"tream_42 done").unwrap();
    drop(stdin);
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(0));
    assert_eq!(reader.rest(), b"[REDACTED:TOKEN] done");
}

#[test]
fn a_closed_stdout_ends_redact_like_sigpipe() {
    let p = Project::new();
    p.write(".env", "TOKEN=CANARY_pipe_77\n");
    let out = p
        .sh("yes 'line CANARY_pipe_77' | { \"$EC\" redact; echo $? >code; } | head -n 2")
        .run()
        .ok();
    assert_eq!(
        out.stdout(),
        "line [REDACTED:TOKEN]\nline [REDACTED:TOKEN]\n"
    );
    assert_eq!(p.read_string("code"), "141\n");
    assert!(!out.stderr.contains("CANARY_pipe_77"));
}

#[test]
fn a_multi_line_value_is_replaced_whole() {
    let p = Project::new();
    p.write(
        ".env",
        "CERT=\"-----BEGIN KEY-----\\nCANARY_line_2_abc\\n-----END KEY-----\"\nLINE=CANARY_line_2_abc\n",
    );
    let input = "cert:\n-----BEGIN KEY-----\nCANARY_line_2_abc\n-----END KEY-----\nalone: CANARY_line_2_abc\n";
    let out = redact(&p, &[], input);
    assert_eq!(out, "cert:\n[REDACTED:CERT]\nalone: [REDACTED:LINE]\n");
    hidden("CANARY_line_2_abc", input.as_bytes(), out.as_bytes());
}

#[test]
fn unicode_values_and_text() {
    let p = Project::new();
    p.write(".env", "PASS=pässwörd-ünïcode-🔑\nJA=秘密のパスワード\n");
    let input = "🙂 login: pässwörd-ünïcode-🔑! 日本語: 秘密のパスワード。\n";
    let out = redact(&p, &[], input);
    assert_eq!(out, "🙂 login: [REDACTED:PASS]! 日本語: [REDACTED:JA]。\n");
    hidden("pässwörd-ünïcode-🔑", input.as_bytes(), out.as_bytes());
    hidden("秘密のパスワード", input.as_bytes(), out.as_bytes());
}

#[test]
fn binary_input_passes_through_byte_for_byte() {
    let p = Project::new();
    p.write(".env", "TOKEN=CANARY_bin_9876\n");
    let mut input: Vec<u8> = (0..=255u8).collect();
    input.extend_from_slice(b"\xffCANARY_bin_9876\x00\xfe");
    let out = p.envcloak(&["redact"]).stdin(input.clone()).run().ok();
    let mut expected: Vec<u8> = (0..=255u8).collect();
    expected.extend_from_slice(b"\xff[REDACTED:TOKEN]\x00\xfe");
    assert_eq!(out.stdout, expected);
    hidden("CANARY_bin_9876", &input, &out.stdout);
}

#[test]
fn values_from_the_encrypted_file_and_dotenv() {
    let p = Project::new();
    let key = p.encrypt_with_env_key("ENC_SECRET=CANARY_enc_5521\nSHARED=from-enc-000\n");
    p.write(
        ".env",
        "LOCAL_SECRET=CANARY_env_8812\nSHARED=from-dotenv-111\n",
    );
    let input = "enc CANARY_enc_5521 env CANARY_env_8812 shared from-dotenv-111 from-enc-000\n";
    let out = p
        .envcloak(&["redact"])
        .env("ENVCLOAK_KEY", &key)
        .stdin(input)
        .run()
        .ok();
    // SHARED's effective value is .env's; .env.enc's is not loaded.
    assert_eq!(
        out.stdout(),
        "enc [REDACTED:ENC_SECRET] env [REDACTED:LOCAL_SECRET] shared [REDACTED:SHARED] from-enc-000\n"
    );
    hidden("CANARY_enc_5521", input.as_bytes(), &out.stdout);
    hidden("CANARY_env_8812", input.as_bytes(), &out.stdout);
    // Without the key, .env.enc is not read, and envcloak says so.
    let out = p.envcloak(&["redact"]).stdin(input).run().ok();
    assert!(out.stdout().contains("CANARY_enc_5521"));
    out.stderr_says(&[".env.enc", "not read", "not redacted"]);
}

#[test]
fn an_environment_override_of_a_file_key_is_redacted() {
    let p = Project::new();
    p.write(".env", "DB_PASSWORD=CANARY_file_111\n");
    let input = "file CANARY_file_111 env CANARY_environ_222\n";
    let out = p
        .envcloak(&["redact"])
        .env("DB_PASSWORD", "CANARY_environ_222")
        .stdin(input)
        .run()
        .ok();
    assert_eq!(
        out.stdout(),
        "file CANARY_file_111 env [REDACTED:DB_PASSWORD]\n",
        "the effective value is the environment's"
    );
    hidden("CANARY_environ_222", input.as_bytes(), &out.stdout);
}

#[test]
fn redact_help_has_examples() {
    let p = Project::new();
    let out = p.envcloak(&["redact", "--help"]).run().ok();
    assert!(out.stdout().contains("Examples:"), "{}", out.stdout());
    assert!(out.stdout().contains("--public"));
    let out = p.envcloak(&["run", "--help"]).run().ok();
    assert!(out.stdout().contains("--redact"));
}

// ---------------------------------------------------------------------------
// run --redact
// ---------------------------------------------------------------------------

#[test]
fn run_redact_filters_stdout_and_stderr_separately() {
    let p = Project::new();
    p.write(".env", "SECRET=CANARY_run_4242\nHOST=db.internal.example\n");
    let script = "echo \"out $SECRET\"; echo \"err $SECRET\" >&2; echo \"host $HOST\"";
    let out = p
        .envcloak(&[
            "run", "--redact", "--public", "HOST", "--", "sh", "-c", script,
        ])
        .run()
        .ok();
    assert_eq!(
        out.stdout(),
        "out [REDACTED:SECRET]\nhost db.internal.example\n"
    );
    assert_eq!(out.stderr, "err [REDACTED:SECRET]\n");
    out.hides("CANARY_run_4242");
    // Without --redact the child prints the value: the filter hid it.
    let plain = p.envcloak(&["run", "--", "sh", "-c", script]).run().ok();
    assert!(plain.stdout().contains("CANARY_run_4242"));
    assert!(plain.stderr.contains("CANARY_run_4242"));
}

#[test]
fn run_redact_passes_exit_codes_through() {
    let p = Project::new();
    p.write(".env", "SECRET=CANARY_run_4242\n");
    for code in [0, 3] {
        let out = p
            .envcloak(&[
                "run",
                "--redact",
                "--",
                "sh",
                "-c",
                &format!("echo $SECRET; exit {code}"),
            ])
            .run()
            .code(code);
        assert_eq!(out.stdout(), "[REDACTED:SECRET]\n");
    }
    p.envcloak(&["run", "--redact", "--", "no-such-command-here"])
        .run()
        .fails_with(127, &["command not found"]);
}

#[test]
fn run_redact_reports_a_signal_like_a_shell() {
    let p = Project::new();
    p.write(".env", "SECRET=CANARY_run_4242\n");
    let out = p
        .envcloak(&[
            "run",
            "--redact",
            "--",
            "sh",
            "-c",
            "echo $SECRET; kill -TERM $$",
        ])
        .run()
        .code(143);
    assert_eq!(out.stdout(), "[REDACTED:SECRET]\n");
}

#[test]
fn run_redact_forwards_sigterm_to_the_command() {
    let p = Project::new();
    p.write(".env", "SECRET=CANARY_term_3131\n");
    let script = "trap 'kill $pid; echo \"got TERM $SECRET\"; exit 7' TERM; \
                  sleep 1000 >/dev/null 2>&1 & pid=$!; echo \"ready $SECRET\"; wait $pid";
    let mut child = spawn(&p, &["run", "--redact", "--", "sh", "-c", script], &[]);
    let reader = Reader::new(&mut child);
    let ready = reader.until(&mut child, b"\n");
    assert_eq!(ready, b"ready [REDACTED:SECRET]\n");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(7), "stderr: {stderr}");
    assert_eq!(reader.rest(), b"got TERM [REDACTED:SECRET]\n");
    assert!(!stderr.contains("CANARY_term_3131"));
}

#[test]
fn public_needs_redact_on_run() {
    let p = Project::new();
    p.envcloak(&["run", "--public", "HOST", "--", "true"])
        .run()
        .fails(2);
}

#[test]
fn run_redact_keeps_the_first_line_prompt() {
    // The command's output is streamed too: its first line arrives while
    // it still waits for input.
    let p = Project::new();
    p.write(".env", "SECRET=CANARY_prompt_55\n");
    let script = "printf 'name? '; read name; echo \"hello $name $SECRET\"";
    let mut child = spawn(&p, &["run", "--redact", "--", "sh", "-c", script], &[]);
    let reader = Reader::new(&mut child);
    assert_eq!(reader.until(&mut child, b"? "), b"name? ");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"ann\n").unwrap();
    drop(stdin);
    assert_eq!(wait(&mut child).code(), Some(0));
    assert_eq!(reader.rest(), b"hello ann [REDACTED:SECRET]\n");
}
