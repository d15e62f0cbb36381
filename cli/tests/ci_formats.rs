//! `decrypt --format github|docker|k8s` (issue 14), each read back the way
//! its platform reads it, and compared with what `envcloak run` gives a
//! command — values with quotes, `$`, `#`, newlines, backslashes, unicode
//! and expansion. Also: `decrypt` names its input with `-f` only.
//!
//! The readers below are written from each platform's documentation:
//! - GitHub, "Workflow commands for GitHub Actions", environment files: a
//!   line `{name}={value}`, or a multi-line value as `{name}<<{delimiter}`,
//!   the value's lines, and a line `{delimiter}`; `::add-mask::{value}`
//!   masks a single line of the log (command data escapes `%` as `%25`).
//! - Docker, `docker run --env-file`: `VAR=VAL` lines, `#` comment lines,
//!   blank lines ignored, the value passed through untouched; read as
//!   docker's own parser (`opts.ParseEnvFile`) does: Go's line scanner
//!   (which drops a `\r` before `\n`), leading whitespace trimmed, a
//!   variable name without whitespace.
//! - Kubernetes: a v1 Secret, `data` values in standard base64; parsed as
//!   YAML (serde_norway).

mod common;

use std::collections::BTreeMap;

use base64::Engine as _;
use common::{Out, Project};

/// Every shape of value the formats must carry, in dotenv syntax, and the
/// environment variable it expands.
const PLAIN: &str = r#"DQ="say \"hi\" and 'yo'"
SQ='$NOT_EXPANDED #kept \n stays'
HASH="a # b"
UNQ_HASH=a#b
INLINE=value # a comment
WIN_PATH='C:\Users\app\new'
DQ_BACKSLASH="a\\b"
TAB="a\tb"
UNICODE=héllo wörld ✓ 日本
EMPTY=
PERCENT=100%25 %0A
REF=${UNICODE}-ref
FROM_ENV=$OUTSIDE
SPACES="  padded  "
EQUALS=a=b=c
DELIM_LIKE=ENVCLOAK_EOF_0123
"#;

/// Values with newlines (not for docker).
const MULTILINE: &str = r#"MULTI="line1\nline2"
MULTI_RAW="first
  second
"
BLANK_LINES="a\n\n\nb\n"
"#;

const OUTSIDE: &str = "from the environment $HOME";

/// The keys of a dotenv text, in order.
fn keys_of(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_quote = false;
    for line in text.lines() {
        if !in_quote && let Some((k, v)) = line.split_once('=') {
            keys.push(k.to_owned());
            in_quote = v.starts_with('"') && (v.len() == 1 || !v.ends_with('"'));
        } else if in_quote && line.ends_with('"') {
            in_quote = false;
        }
    }
    keys
}

/// A project with `.env.enc` holding `plain`; returns it and the key.
fn project(plain: &str) -> (Project, String) {
    let p = Project::new();
    let key = p.encrypt_with_env_key(plain);
    (p, key)
}

/// What `envcloak run` puts in a command's environment for `keys`.
fn run_values(p: &Project, key: &str, keys: &[String]) -> BTreeMap<String, String> {
    let out = p
        .envcloak(&["run", "--", "env", "-0"])
        .env("ENVCLOAK_KEY", key)
        .env("OUTSIDE", OUTSIDE)
        .run()
        .ok();
    let all = env0(&out.stdout);
    let picked: BTreeMap<String, String> = keys
        .iter()
        .map(|k| {
            let v = all
                .get(k)
                .unwrap_or_else(|| panic!("run did not give {k}"))
                .clone();
            (k.clone(), v)
        })
        .collect();
    picked
}

/// `env -0` output as a map.
fn env0(bytes: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn decrypt(p: &Project, key: &str, args: &[&str]) -> Out {
    let mut a = vec!["decrypt"];
    a.extend_from_slice(args);
    p.envcloak(&a)
        .env("ENVCLOAK_KEY", key)
        .env("OUTSIDE", OUTSIDE)
        .run()
}

// ---------------------------------------------------------------------------
// Readers, from the platforms' documented syntax
// ---------------------------------------------------------------------------

/// A GitHub environment file (`$GITHUB_ENV`), as the runner reads it:
/// `NAME=value` lines and `NAME<<DELIMITER` heredocs; every entry, in
/// order. Panics on a heredoc without its closing delimiter (the runner's
/// "Matching delimiter not found").
fn parse_github_env(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_owned(), line[e + 1..].to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                assert!(
                    !name.is_empty() && !delimiter.is_empty(),
                    "bad line {line:?}"
                );
                let mut value: Vec<&str> = Vec::new();
                loop {
                    let l = lines
                        .next()
                        .unwrap_or_else(|| panic!("matching delimiter not found for {name}"));
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                out.push((name.to_owned(), value.join("\n")));
            }
            _ => panic!("invalid line {line:?}"),
        }
    }
    out
}

/// A docker `--env-file`, read as docker's `parseKeyValueFile` reads it.
fn parse_docker_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (i, raw) in body.split('\n').enumerate() {
        // bufio.ScanLines: one trailing \r dropped; lines under 64 KiB.
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        assert!(raw.len() < 64 * 1024, "line {}: token too long", i + 1);
        let raw = if i == 0 {
            raw.strip_prefix('\u{feff}').unwrap_or(raw)
        } else {
            raw
        };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (variable, value) = line.split_once('=').unwrap_or_else(|| {
            panic!(
                "line {}: no '=' (docker would read the host's value)",
                i + 1
            )
        });
        let variable = variable.trim_start_matches([' ', '\t']);
        assert!(
            !variable.is_empty() && !variable.contains([' ', '\t']),
            "line {}: bad variable name",
            i + 1
        );
        out.push((variable.to_owned(), value.to_owned()));
    }
    out
}

/// The `::add-mask::` lines of `--format github`'s stdout, unescaped as the
/// runner unescapes command data. Every line must be one.
fn masks(out: &Out) -> Vec<String> {
    out.stdout()
        .lines()
        .map(|l| {
            let data = l
                .strip_prefix("::add-mask::")
                .unwrap_or_else(|| panic!("not a mask line on stdout: {l:?}"));
            data.replace("%0D", "\r")
                .replace("%0A", "\n")
                .replace("%25", "%")
        })
        .collect()
}

/// A Secret manifest's `data`, decoded, after checking the envelope.
fn parse_secret(text: &str, name: &str, namespace: Option<&str>) -> BTreeMap<String, String> {
    let doc: serde_json::Value = serde_norway::from_str(text).expect("valid YAML");
    assert_eq!(doc["apiVersion"], "v1");
    assert_eq!(doc["kind"], "Secret");
    assert_eq!(doc["type"], "Opaque");
    assert_eq!(doc["metadata"]["name"], name);
    match namespace {
        Some(ns) => assert_eq!(doc["metadata"]["namespace"], ns),
        None => assert!(doc["metadata"].get("namespace").is_none()),
    }
    doc["data"]
        .as_object()
        .expect("data is a map")
        .iter()
        .map(|(k, v)| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().expect("a string"))
                .expect("standard base64");
            (k.clone(), String::from_utf8(b).unwrap())
        })
        .collect()
}

fn map(entries: Vec<(String, String)>) -> BTreeMap<String, String> {
    entries.into_iter().collect()
}

// ---------------------------------------------------------------------------
// Round trips: every format gives run's values
// ---------------------------------------------------------------------------

#[test]
fn every_format_gives_the_values_run_gives() {
    let plain = format!("{PLAIN}{MULTILINE}");
    let keys = keys_of(&plain);
    assert_eq!(keys.len(), 19, "{keys:?}");
    let (p, key) = project(&plain);
    let expected = run_values(&p, &key, &keys);
    // The shapes are really there.
    assert_eq!(expected["DQ"], "say \"hi\" and 'yo'");
    assert_eq!(expected["SQ"], "$NOT_EXPANDED #kept \\n stays");
    assert_eq!(expected["INLINE"], "value");
    assert_eq!(expected["UNQ_HASH"], "a#b");
    assert_eq!(expected["WIN_PATH"], "C:\\Users\\app\\new");
    assert_eq!(expected["REF"], "héllo wörld ✓ 日本-ref");
    assert_eq!(expected["FROM_ENV"], OUTSIDE);
    assert_eq!(expected["MULTI_RAW"], "first\n  second\n");
    assert_eq!(expected["BLANK_LINES"], "a\n\n\nb\n");

    // json
    let out = decrypt(&p, &key, &["--format", "json"]).ok();
    let json: BTreeMap<String, String> = serde_json::from_str(out.stdout()).unwrap();
    assert_eq!(json, expected, "json");

    // shell, evaluated by sh
    let out = p
        .sh("eval \"$(\"$EC\" decrypt --format shell)\" && env -0")
        .env("ENVCLOAK_KEY", &key)
        .env("OUTSIDE", OUTSIDE)
        .run()
        .ok();
    let all = env0(&out.stdout);
    for (k, v) in &expected {
        assert_eq!(all.get(k), Some(v), "shell: {k}");
    }

    // k8s
    let out = decrypt(&p, &key, &["--format", "k8s", "--name", "app-secrets"]).ok();
    assert_eq!(
        parse_secret(out.stdout(), "app-secrets", None),
        expected,
        "k8s"
    );

    // github
    p.write("github_env", "EARLIER=from another step\n");
    let out = p
        .envcloak(&["decrypt", "--format", "github"])
        .env("ENVCLOAK_KEY", &key)
        .env("OUTSIDE", OUTSIDE)
        .env("GITHUB_ENV", p.p("github_env"))
        .run()
        .ok();
    let entries = parse_github_env(&p.read_string("github_env"));
    assert_eq!(entries[0], ("EARLIER".into(), "from another step".into()));
    assert_eq!(map(entries[1..].to_vec()), expected, "github");
    assert_eq!(entries.len(), 1 + keys.len());
    // One mask per non-blank line of every value, and nothing else.
    let mut want: Vec<String> = expected
        .values()
        .flat_map(|v| v.split(['\n', '\r']))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let mut got = masks(&out);
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(out.stdout().contains("::add-mask::100%2525 %250A"));
}

#[test]
fn docker_env_file_round_trip() {
    let keys = keys_of(PLAIN);
    let (p, key) = project(PLAIN);
    let expected = run_values(&p, &key, &keys);
    let out = decrypt(&p, &key, &["--format", "docker"]).ok();
    assert_eq!(out.stderr, "");
    let entries = parse_docker_env_file(out.stdout());
    assert_eq!(
        entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        keys,
        "file order"
    );
    assert_eq!(map(entries), expected);
    // Literal: no quotes added, no escapes.
    out.has_line("SPACES=  padded  ")
        .has_line("DQ=say \"hi\" and 'yo'")
        .has_line("WIN_PATH=C:\\Users\\app\\new")
        .has_line("EMPTY=");
    // -o writes the same text, privately.
    decrypt(&p, &key, &["--format", "docker", "-o", "app.env"]).ok();
    assert_eq!(p.read_string("app.env"), out.stdout());
    assert_eq!(p.mode("app.env"), 0o600);
}

// ---------------------------------------------------------------------------
// github
// ---------------------------------------------------------------------------

#[test]
fn github_uses_a_fresh_delimiter_that_no_value_contains() {
    let (p, key) = project("A=ENVCLOAK_EOF_\nB=\"x\ny\"\n");
    let mut delimiters = Vec::new();
    for _ in 0..2 {
        p.write("github_env", "");
        p.envcloak(&["decrypt", "--format", "github"])
            .env("ENVCLOAK_KEY", &key)
            .env("GITHUB_ENV", p.p("github_env"))
            .run()
            .ok();
        let text = p.read_string("github_env");
        let first = text.lines().next().unwrap();
        let d = first.strip_prefix("A<<").unwrap().to_owned();
        assert!(d.len() >= 16, "{d}");
        assert!(!"ENVCLOAK_EOF_".contains(&d) && !"x\ny".contains(&d));
        // Every entry uses it, on lines of their own.
        assert_eq!(text.lines().filter(|l| *l == d).count(), 2);
        assert_eq!(
            parse_github_env(&text),
            [
                ("A".to_owned(), "ENVCLOAK_EOF_".to_owned()),
                ("B".to_owned(), "x\ny".to_owned())
            ]
        );
        delimiters.push(d);
    }
    assert_ne!(delimiters[0], delimiters[1], "random per run");
}

#[test]
fn github_appends_whole_blocks_while_others_append() {
    let (p, key) = project("A=1\nB=\"two\nlines\"\nC=three\n");
    p.write("github_env", "");
    let runs: Vec<_> = (0..6)
        .map(|_| {
            p.envcloak(&["decrypt", "--format", "github"])
                .env("ENVCLOAK_KEY", &key)
                .env("GITHUB_ENV", p.p("github_env"))
                .spawn()
        })
        .collect();
    for r in runs {
        r.wait().ok();
    }
    let entries = parse_github_env(&p.read_string("github_env"));
    assert_eq!(entries.len(), 18);
    for chunk in entries.chunks(3) {
        assert_eq!(
            chunk,
            [
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "two\nlines".to_owned()),
                ("C".to_owned(), "three".to_owned())
            ]
        );
    }
}

#[test]
fn github_without_a_github_env_file_prints_nothing_and_fails() {
    let (p, key) = project("TOKEN=hunter2-token\n");
    p.envcloak(&["decrypt", "--format", "github"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .fails_with(2, &["GITHUB_ENV is not set"])
        .hides("hunter2");
    for (env, says) in [
        ("/dev/stdout", "not a regular file"),
        ("missing/file", "missing/file"),
        ("", "GITHUB_ENV is not set"),
    ] {
        p.envcloak(&["decrypt", "--format", "github"])
            .env("ENVCLOAK_KEY", &key)
            .env("GITHUB_ENV", env)
            .run()
            .fails_with(2, &[says])
            .hides("hunter2");
    }
    assert!(!p.exists("missing"));
    // -o does not apply.
    p.write("github_env", "");
    p.envcloak(&["decrypt", "--format", "github", "-o", "out.env"])
        .env("ENVCLOAK_KEY", &key)
        .env("GITHUB_ENV", p.p("github_env"))
        .run()
        .fails_with(2, &["-o does not apply"]);
    assert!(!p.exists("out.env"));
    assert_eq!(p.read_string("github_env"), "");
}

// ---------------------------------------------------------------------------
// docker
// ---------------------------------------------------------------------------

#[test]
fn docker_refuses_a_value_it_cannot_hold_and_names_the_key() {
    for (plain, key_name) in [
        (
            "OK=1\nPEM=\"-----BEGIN-----\nhunter2body\n-----END-----\"\n",
            "PEM",
        ),
        ("CR=\"hunter2body\\r\"\n", "CR"),
    ] {
        let (p, key) = project(plain);
        decrypt(&p, &key, &["--format", "docker"])
            .fails_with(2, &[key_name, "docker"])
            .hides("hunter2body");
        decrypt(&p, &key, &["--format", "docker", "-o", "app.env"]).fails(2);
        assert!(!p.exists("app.env"), "nothing written");
    }
    // A line docker's scanner cannot read.
    let big = "x".repeat(70 * 1024);
    let (p, key) = project(&format!("BIG={big}\n"));
    decrypt(&p, &key, &["--format", "docker"]).fails_with(2, &["BIG", "64 KiB"]);
}

// ---------------------------------------------------------------------------
// k8s
// ---------------------------------------------------------------------------

#[test]
fn k8s_manifest_with_namespace_and_to_a_file() {
    let (p, key) = project("DB_URL=postgres://u:p@db/app\nyes=1\n_123=x\n");
    let out = decrypt(
        &p,
        &key,
        &[
            "--format",
            "k8s",
            "--name",
            "app.secrets",
            "--namespace",
            "prod-1",
        ],
    )
    .ok();
    let data = parse_secret(out.stdout(), "app.secrets", Some("prod-1"));
    assert_eq!(data["DB_URL"], "postgres://u:p@db/app");
    assert_eq!(
        data["yes"], "1",
        "a key YAML 1.1 reads as a bool stays a string"
    );
    // Keys in file order.
    let text = out.stdout();
    assert!(text.find("\"DB_URL\"") < text.find("\"yes\""));
    assert!(!text.contains("postgres://"), "values only in base64");
    decrypt(
        &p,
        &key,
        &["--format", "k8s", "--name", "app", "-o", "secret.yaml"],
    )
    .ok();
    parse_secret(&p.read_string("secret.yaml"), "app", None);
    assert_eq!(p.mode("secret.yaml"), 0o600);
    // An empty file is an empty Secret.
    let (p, key) = project("# nothing yet\n");
    let out = decrypt(&p, &key, &["--format", "k8s", "--name", "app"]).ok();
    assert!(parse_secret(out.stdout(), "app", None).is_empty());
}

#[test]
fn k8s_checks_names_and_keys() {
    let (p, key) = project("A=hunter2value\n");
    // --name is required.
    let out = decrypt(&p, &key, &["--format", "k8s"]).fails(2);
    assert!(out.stderr.contains("--name"), "{}", out.stderr);
    for bad in ["My_App", "-app", "app-", "", &"a".repeat(254)] {
        decrypt(&p, &key, &["--format", "k8s", "--name", bad])
            .fails(2)
            .hides("hunter2");
    }
    decrypt(
        &p,
        &key,
        &["--format", "k8s", "--name", "app", "--namespace", "a.b"],
    )
    .fails_with(2, &["--namespace"]);
    // Only for k8s.
    decrypt(&p, &key, &["--format", "json", "--name", "app"]).fails_with(2, &["--format k8s"]);
    // A key Kubernetes refuses: too long for a Secret key (a valid dotenv key).
    let long = format!("K{}", "x".repeat(253));
    let (p, key) = project(&format!("{long}=hunter2value\n"));
    decrypt(&p, &key, &["--format", "k8s", "--name", "app"])
        .fails_with(2, &[&long, "Kubernetes Secret"])
        .hides("hunter2");
}

// ---------------------------------------------------------------------------
// decrypt names its input with -f only
// ---------------------------------------------------------------------------

#[test]
fn decrypt_names_its_input_with_f_only() {
    let (p, key) = project("A=1\n");
    std::fs::rename(p.p(".env.enc"), p.p("team.enc")).unwrap();
    let canary = "team-QX7ZV9KW.enc";
    let out = p
        .envcloak(&["decrypt", canary])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .fails(2);
    assert!(
        out.stderr.starts_with("error: unexpected extra argument"),
        "{}",
        out.stderr
    );
    out.stderr_says(&[
        "hint: name the encrypted file with -f: envcloak decrypt -f FILE",
        "Usage: envcloak decrypt [OPTIONS]",
    ]);
    out.hides("QX7ZV9KW");
    let out = p
        .envcloak(&["decrypt", "-f", "team.enc"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert_eq!(out.stdout(), "A=1\n");
    // The help names no positional.
    let help = p.envcloak(&["decrypt", "--help"]).run().ok();
    assert!(
        help.stdout()
            .contains("Usage: envcloak decrypt [OPTIONS]\n")
    );
    assert!(help.stdout().contains("--format github"));
}
