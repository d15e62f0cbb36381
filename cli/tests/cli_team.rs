//! End-to-end tests of the `envcloak` binary's team workflow: `check` and
//! `init` around `.env.example` (DESIGN §4, §5), and `get` / `ls`.
//!
//! Every test drives the real binary in its own temporary directory (its
//! current directory and `HOME`), with an empty environment except `PATH`,
//! the git identity/config variables, and what the test gives. The test
//! process's own environment is never changed. Tests that need git make
//! their own repository. Each test checks what a user sees: exact lines on
//! standard output, `file:line`, exit codes (0 clean, 1 problems, 2 could
//! not run), file modes — and that secret canaries appear nowhere except
//! where the user asked for them (`get KEY`, `ls --show`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

mod common;

use common::{Out, Project};

/// A random string for canaries.
fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Entries of a dotenv file, read by an independent parser (dotenvy).
fn dotenv_entries(text: &str) -> BTreeMap<String, String> {
    dotenvy::from_read_iter(text.as_bytes())
        .map(|r| r.expect("dotenvy parses the file"))
        .collect()
}

/// `check` summary line.
fn summary(errors: usize, warnings: usize) -> String {
    format!("{errors} error(s), {warnings} warning(s)")
}

/// A `check --format json` problem rendered the way the text output shows it.
fn render_problem(p: &Value) -> String {
    let mut s = String::new();
    if p["severity"] == "warning" {
        s.push_str("warning: ");
    } else {
        assert_eq!(p["severity"], "error", "{p}");
    }
    match (p["file"].as_str(), p["line"].as_u64()) {
        (Some(f), Some(l)) => s.push_str(&format!("{f}:{l}: ")),
        (Some(f), None) => s.push_str(&format!("{f}: ")),
        _ => {}
    }
    if let Some(k) = p["key"].as_str() {
        s.push_str(&format!("{k}: "));
    }
    s.push_str(p["message"].as_str().expect("message is a string"));
    s
}

/// Kinds of the problems of a `check --format json` document, in order.
fn kinds(doc: &Value) -> Vec<String> {
    doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// check: a clean project
// ---------------------------------------------------------------------------

const TYPED_EXAMPLE: &str = "\
# Where the data lives.
DATABASE_URL=postgres://localhost/app
# @type int
PORT=8000
# @optional @type bool
DEBUG=false
# @type float
RATIO=0.5
# @type url
PUBLIC_URL=
# @type csv
ALLOWED_HOSTS=localhost
# @type json
FEATURES=
";

const TYPED_ENV: &str = "\
DATABASE_URL=postgres://db.internal/app
PORT=8080
DEBUG=true
RATIO=2.5
PUBLIC_URL=https://app.example.com/
ALLOWED_HOSTS=a.example.com, b.example.com
FEATURES='{\"beta\": [1, 2]}'
";

#[test]
fn check_clean_project_passes_and_prints_ok() {
    let p = Project::new();
    p.git_init();
    p.write(".gitignore", ".env\n.env.key\n");
    p.write(".env.example", TYPED_EXAMPLE);
    p.commit(&[".gitignore", ".env.example"]);
    p.write(".env", TYPED_ENV);
    p.chmod(".env", 0o600);

    let out = p.envcloak(&["check"]).run().code(0);
    out.stdout_is(&["ok: 7 keys of .env.example are set"]);
    assert_eq!(out.stderr, "");
    p.envcloak(&["check", "--strict"])
        .run()
        .code(0)
        .stdout_is(&["ok: 7 keys of .env.example are set"]);

    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(0)
        .json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["errors"], 0);
    assert_eq!(doc["warnings"], 0);
    assert_eq!(doc["problems"], Value::Array(vec![]));
}

// ---------------------------------------------------------------------------
// check: each problem kind
// ---------------------------------------------------------------------------

#[test]
fn check_required_key_missing_names_its_example_line() {
    let p = Project::new();
    p.write(
        ".env.example",
        "# The database\nDATABASE_URL=\n\n# @optional\nOPTIONAL_KEY=\n# @required\nSECRET_KEY=\n",
    );
    p.write(".env", "DATABASE_URL=postgres://localhost/app\n");
    let out = p.envcloak(&["check"]).run().code(1);
    out.stdout_is(&[
        ".env.example:7: SECRET_KEY: required but not set",
        &summary(1, 0),
    ]);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    let prob = &doc["problems"][0];
    assert_eq!(prob["kind"], "missing");
    assert_eq!(prob["severity"], "error");
    assert_eq!(prob["file"], ".env.example");
    assert_eq!(prob["line"], 7);
    assert_eq!(prob["key"], "SECRET_KEY");
}

#[test]
fn check_required_key_empty_names_its_env_line() {
    let p = Project::new();
    p.write(".env.example", "A=\nB=\n# @optional\nC=\n");
    p.write(".env", "# comment\nA=1\n\nB=\nC=\n");
    let out = p.envcloak(&["check"]).run().code(1);
    out.stdout_is(&[
        ".env:4: B: required but empty (from .env:4)",
        &summary(1, 0),
    ]);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(kinds(&doc), ["empty"]);
    assert_eq!(doc["problems"][0]["line"], 4);
}

#[test]
fn check_type_violations_name_their_env_line() {
    let p = Project::new();
    p.write(
        ".env.example",
        "# @type int\nPORT=8000\n# @type bool\nDEBUG=false\n# @type float\nRATIO=0.5\n\
         # @type url\nPUBLIC_URL=\n# @type csv\nHOSTS=\n# @type json\nFEATURES=\n",
    );
    p.write(
        ".env",
        "PORT=eighty\nDEBUG=maybe\nRATIO=fast\nPUBLIC_URL=localhost:8000\nHOSTS='a,\"b'\nFEATURES='{broken'\n",
    );
    let out = p.envcloak(&["check"]).run().code(1);
    let problems = out.problem_lines();
    let expected = [
        ".env:1: PORT: expected int (from .env:1): ",
        ".env:2: DEBUG: expected bool (from .env:2): ",
        ".env:3: RATIO: expected float (from .env:3): ",
        ".env:4: PUBLIC_URL: expected url (from .env:4): ",
        ".env:5: HOSTS: expected csv (from .env:5): ",
        ".env:6: FEATURES: expected json (from .env:6): ",
    ];
    assert_eq!(problems.len(), expected.len(), "{}", out.stdout());
    for (line, prefix) in problems.iter().zip(expected) {
        assert!(line.starts_with(prefix), "{line:?} vs {prefix:?}");
        assert!(line.len() > prefix.len(), "a reason follows: {line:?}");
    }
    out.has_line(&summary(6, 0));
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(kinds(&doc), ["type"; 6]);
}

#[test]
fn check_extra_key_is_a_warning_that_fails_only_with_strict() {
    let p = Project::new();
    p.write(".env.example", "A=\n");
    p.write(".env", "A=1\nLEFTOVER=x\n");
    let expected = [
        "warning: .env:2: LEFTOVER: not in .env.example",
        &summary(0, 1),
    ];
    p.envcloak(&["check"]).run().code(0).stdout_is(&expected);
    p.envcloak(&["check", "--strict"])
        .run()
        .code(1)
        .stdout_is(&expected);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(0)
        .json();
    assert_eq!(doc["ok"], true);
    assert_eq!(kinds(&doc), ["extra"]);
    assert_eq!(doc["problems"][0]["severity"], "warning");
    let doc = p
        .envcloak(&["check", "--strict", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(doc["ok"], false);
}

#[test]
fn check_duplicate_key_warns_at_the_second_definition() {
    let p = Project::new();
    p.write(".env.example", "A=\nB=\n");
    p.write(".env", "A=1\nB=2\n# again\nA=3\n");
    let expected = [
        "warning: .env:4: A: defined again (first on line 1); the last one wins",
        &summary(0, 1),
    ];
    p.envcloak(&["check"]).run().code(0).stdout_is(&expected);
    p.envcloak(&["check", "--strict"])
        .run()
        .code(1)
        .stdout_is(&expected);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(0)
        .json();
    assert_eq!(kinds(&doc), ["duplicate"]);
    assert_eq!(doc["problems"][0]["line"], 4);
}

#[test]
fn check_syntax_error_in_env_names_its_line() {
    let p = Project::new();
    p.write(".env.example", "A=\nB=\n");
    p.write(".env", "A=1\n\nB=\"unterminated\n");
    let out = p.envcloak(&["check"]).run().code(1);
    let problems = out.problem_lines();
    assert!(
        problems[0].starts_with(".env:3: "),
        "first problem names .env:3: {}",
        out.stdout()
    );
    assert!(problems[0].contains("unterminated"), "{}", out.stdout());
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    let first = &doc["problems"][0];
    assert_eq!(first["kind"], "syntax");
    assert_eq!(first["file"], ".env");
    assert_eq!(first["line"], 3);
}

#[test]
fn check_env_not_ignored_by_git_is_an_error() {
    let p = Project::new();
    p.git_init();
    p.write(".gitignore", ".env.key\n");
    p.write(".env.example", "A=\n");
    p.commit(&[".gitignore", ".env.example"]);
    p.write(".env", "A=1\n");
    p.envcloak(&["check"]).run().code(1).stdout_is(&[
        ".env: is not ignored by git: add '.env' to .gitignore",
        &summary(1, 0),
    ]);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(kinds(&doc), ["not-ignored"]);
    assert_eq!(doc["problems"][0]["severity"], "error");
    assert_eq!(doc["problems"][0]["line"], Value::Null);
}

#[test]
fn check_env_tracked_by_git_is_an_error_even_if_ignored_later() {
    let p = Project::new();
    p.git_init();
    p.write(".env.example", "A=\n");
    p.write(".env", "A=1\n");
    p.commit(&[".env.example", ".env"]);
    // Ignored afterwards: git keeps tracking it.
    p.write(".gitignore", ".env\n.env.key\n");
    p.commit(&[".gitignore"]);
    assert!(p.ignored(".env"), "the pattern matches .env");
    p.envcloak(&["check"]).run().code(1).stdout_is(&[
        ".env: is committed to git: run 'git rm --cached .env', and rotate every secret it held",
        &summary(1, 0),
    ]);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(kinds(&doc), ["tracked"]);
}

#[test]
fn check_key_file_readable_by_others_is_a_permissions_error() {
    let p = Project::new();
    p.write(".env.example", "A=\n");
    p.write(".env", "A=1\n");
    let key = p.keygen();
    p.write(".env.key", format!("{key}\n"));
    p.chmod(".env.key", 0o644);
    let out = p.envcloak(&["check"]).run().code(1);
    out.stdout_is(&[
        ".env.key: permissions 0644 are too open: group or others can read the key; run 'chmod 600 .env.key'",
        &summary(1, 0),
    ]);
    out.hides(&key);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(kinds(&doc), ["permissions"]);
    assert_eq!(doc["problems"][0]["file"], ".env.key");

    p.chmod(".env.key", 0o600);
    p.envcloak(&["check"]).run().code(0);
}

/// The usual case: `.env.key` is there because `.env.enc` is. `check` should
/// still list the permissions problem (exit 1), not stop (exit 2).
#[test]
fn check_key_file_readable_by_others_beside_env_enc_is_reported() {
    let p = Project::new();
    p.write(".env.example", "A=\n");
    let key = p.encrypt_with_env_key("A=1\n");
    p.write(".env.key", format!("{key}\n"));
    p.chmod(".env.key", 0o644);
    let out = p.envcloak(&["check"]).run();
    out.hides(&key);
    let out = out.code(1);
    out.has_line(
        ".env.key: permissions 0644 are too open: group or others can read the key; run 'chmod 600 .env.key'",
    );
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert!(kinds(&doc).iter().any(|k| k == "permissions"), "{doc:#}");
}

#[test]
fn check_flags_real_secrets_in_example_but_not_placeholders() {
    let p = Project::new();
    p.write(
        ".env.example",
        "\
# Stripe
STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc
PLACEHOLDER=changeme
EMPTY=
DATABASE_URL=postgres://localhost/app
# A leaked token
GITHUB_TOKEN=8e1f0c4b9a27d3e56f18c0b2a94d7e3516bf08ca
",
    );
    p.write(
        ".env",
        "STRIPE_KEY=x\nPLACEHOLDER=x\nEMPTY=x\nDATABASE_URL=x\nGITHUB_TOKEN=x\n",
    );
    let out = p.envcloak(&["check"]).run().code(1);
    out.stdout_is(&[
        ".env.example:2: STRIPE_KEY: looks like a real secret: .env.example is committed; use a placeholder",
        ".env.example:7: GITHUB_TOKEN: looks like a real secret: .env.example is committed; use a placeholder",
        &summary(2, 0),
    ]);
    out.hides("sk_live_4eC39HqLyjWDarjtT1zdp7dc")
        .hides("8e1f0c4b9a27d3e56f18c0b2a94d7e3516bf08ca");
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(kinds(&doc), ["secret-in-example", "secret-in-example"]);
    assert_eq!(doc["problems"][0]["line"], 2);
    assert_eq!(doc["problems"][1]["line"], 7);
}

/// Random 40-character hex strings (like `secrets.token_hex(20)`, a GitHub
/// OAuth token, an API secret): every one is a real secret, whatever the
/// letter counts happen to be. A deterministic generator keeps the test
/// reproducible.
#[test]
fn check_flags_every_random_40_char_hex_in_example() {
    let mut state: u64 = 0x5eed_f00d_c0ff_ee42;
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let values: Vec<String> = (0..40)
        .map(|_| {
            (0..20)
                .map(|_| format!("{:02x}", next() as u8))
                .collect::<String>()
        })
        .collect();
    let p = Project::new();
    let example: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("TOKEN_{i}={v}\n"))
        .collect();
    let env: String = (0..values.len())
        .map(|i| format!("TOKEN_{i}=x\n"))
        .collect();
    p.write(".env.example", &example);
    p.write(".env", env);
    let out = p.envcloak(&["check"]).run().code(1);
    let missed: Vec<&String> = values
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            !out.stdout()
                .lines()
                .any(|l| l.starts_with(&format!(".env.example:{}: TOKEN_{i}: ", i + 1)))
        })
        .map(|(_, v)| v)
        .collect();
    assert!(
        missed.is_empty(),
        "{} of {} random 40-char hex values in .env.example were not flagged, e.g. {:?}",
        missed.len(),
        values.len(),
        missed
    );
}

#[test]
fn check_unknown_directive_names_its_example_line() {
    let p = Project::new();
    p.write(".env.example", "# The key\n# @requird\nA=\n");
    p.write(".env", "A=1\n");
    let out = p.envcloak(&["check"]).run().code(1);
    let problems = out.problem_lines();
    assert_eq!(problems.len(), 1, "{}", out.stdout());
    assert!(
        problems[0].starts_with(".env.example:2: unknown directive @requird"),
        "{}",
        out.stdout()
    );
    out.has_line(&summary(1, 0));
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(doc["problems"][0]["file"], ".env.example");
    assert_eq!(doc["problems"][0]["line"], 2);
}

#[test]
fn check_without_example_could_not_run() {
    let p = Project::new();
    p.write(".env", "A=1\n");
    p.envcloak(&["check"])
        .run()
        .fails_with(2, &[".env.example", "not found"]);
    p.envcloak(&["check", "--format", "json"])
        .run()
        .fails_with(2, &[".env.example"]);
}

#[test]
fn check_counts_values_from_the_environment() {
    let p = Project::new();
    p.write(".env.example", "A=\n# @type int\nPORT=\n");
    p.write(".env", "PORT=8000\n");
    // A required key set only in the environment is fine.
    p.envcloak(&["check"])
        .env("A", "from-env")
        .run()
        .code(0)
        .stdout_is(&["ok: 2 keys of .env.example are set"]);
    // Without it, it is missing.
    p.envcloak(&["check"])
        .run()
        .code(1)
        .has_line(".env.example:1: A: required but not set");
    // The environment wins over .env, and its value is checked too.
    p.envcloak(&["check"])
        .env("A", "x")
        .env("PORT", "eighty")
        .run()
        .code(1)
        .has_line(
            ".env.example:3: PORT: expected int (from process environment): not a valid integer",
        );
}

#[test]
fn check_counts_values_from_env_enc_when_a_key_is_given() {
    let p = Project::new();
    p.write(".env.example", "A=\n# @type int\nPORT=\n");
    let key = p.encrypt_with_env_key("A=secret\nPORT=8000\n");
    p.envcloak(&["check"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .code(0)
        .stdout_is(&["ok: 2 keys of .env.example are set"]);

    std::fs::remove_file(p.p(".env.enc")).unwrap();
    let key = p.encrypt_with_env_key("A=secret\n\nPORT=eighty\nA=again\n");
    let out = p
        .envcloak(&["check"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .code(1);
    out.stdout_is(&[
        "warning: .env.enc:4: A: defined again (first on line 1); the last one wins",
        ".env.enc:3: PORT: expected int (from .env.enc:3): not a valid integer",
        &summary(1, 1),
    ]);
}

#[test]
fn check_without_a_key_reports_env_enc_as_no_key() {
    let p = Project::new();
    p.write(".env.example", "A=\nB=\n");
    p.encrypt_with_env_key("A=1\nB=2\n");
    p.write(".env", "A=1\n");
    let no_key = "warning: .env.enc: not read: no key (set ENVCLOAK_KEY or create .env.key); its keys were not checked";
    // B is only in .env.enc, which could not be read.
    let out = p.envcloak(&["check"]).run().code(1);
    out.stdout_is(&[
        no_key,
        ".env.example:2: B: required but not set (an encrypted file was not read: no key)",
        &summary(1, 1),
    ]);
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(kinds(&doc), ["no-key", "missing"]);
    assert_eq!(doc["problems"][0]["severity"], "warning");
    assert_eq!(doc["problems"][0]["file"], ".env.enc");

    // With .env complete, the unread file is only a warning.
    p.write(".env", "A=1\nB=2\n");
    p.envcloak(&["check"])
        .run()
        .code(0)
        .stdout_is(&[no_key, &summary(0, 1)]);
    p.envcloak(&["check", "--strict"]).run().code(1);
}

/// `@optional`: "may be absent or empty" (DESIGN §5, src/example.rs), also
/// when it has a `@type`. `init` leaves such keys empty, says "every
/// required key has a value", and `check` must then pass.
#[test]
fn check_optional_typed_key_may_be_empty() {
    let p = Project::new();
    p.write(
        ".env.example",
        "# Workers (default: the number of CPUs)\n# @optional\n# @type int\nWORKERS=\n\
         # @optional @type url\nSENTRY_DSN=\n",
    );
    p.envcloak(&["init"]).run().code(0).stdout_is(&[
        "created .env from .env.example",
        "every required key has a value",
    ]);
    let out = p.envcloak(&["check"]).run();
    out.code(0)
        .stdout_is(&["ok: 2 keys of .env.example are set"]);
}

// ---------------------------------------------------------------------------
// check --format json
// ---------------------------------------------------------------------------

#[test]
fn check_json_lists_the_same_problems_as_text() {
    // A project with many kinds of problem at once.
    let kitchen_sink = Project::new();
    {
        let p = &kitchen_sink;
        p.git_init();
        p.write(
            ".env.example",
            "# @type int\nPORT=\nDATABASE_URL=\nSTRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc\nMISSING=\n",
        );
        p.commit(&[".env.example"]);
        p.write(
            ".env",
            "PORT=abc\nDATABASE_URL=\nSTRIPE_KEY=x\nEXTRA=1\nEXTRA=2\n",
        );
        let key = p.keygen();
        p.write(".env.key", format!("{key}\n"));
        p.chmod(".env.key", 0o644);
    }
    // Syntax errors stop the comparison with the example.
    let syntax = Project::new();
    syntax.write(".env.example", "A=\n");
    syntax.write(".env", "A=1\nB='open\n");
    // An unread .env.enc.
    let no_key = Project::new();
    no_key.write(".env.example", "A=\n");
    no_key.encrypt_with_env_key("A=1\n");

    for (p, expected_kinds) in [
        (
            &kitchen_sink,
            &[
                "duplicate",
                "secret-in-example",
                "type",
                "empty",
                "missing",
                "extra",
                "not-ignored",
                "not-ignored",
                "permissions",
            ][..],
        ),
        (&syntax, &["syntax", "syntax"][..]),
        (&no_key, &["no-key", "missing"][..]),
    ] {
        for strict in [false, true] {
            let mut args = vec!["check"];
            if strict {
                args.push("--strict");
            }
            let text = p.envcloak(&args).run();
            args.extend(["--format", "json"]);
            let json = p.envcloak(&args).run();
            assert_eq!(text.code, json.code, "same exit code");
            assert_eq!(text.code, 1);
            let doc = json.json();
            let problems = doc["problems"].as_array().expect("problems[]");
            for prob in problems {
                for field in ["severity", "kind", "file", "line", "key", "message"] {
                    assert!(prob.get(field).is_some(), "{field} missing in {prob}");
                }
            }
            let mut sorted_kinds = kinds(&doc);
            sorted_kinds.sort();
            let mut want: Vec<String> = expected_kinds.iter().map(|k| k.to_string()).collect();
            want.sort();
            assert_eq!(sorted_kinds, want, "{doc:#}");

            let rendered: Vec<String> = problems.iter().map(render_problem).collect();
            assert_eq!(text.problem_lines(), rendered, "text and JSON differ");
            let errors = problems.iter().filter(|p| p["severity"] == "error").count();
            let warnings = problems.len() - errors;
            assert_eq!(doc["errors"], errors);
            assert_eq!(doc["warnings"], warnings);
            assert_eq!(doc["ok"], false);
            text.has_line(&summary(errors, warnings));
        }
    }
}

// ---------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------

const FULL_EXAMPLE: &str = "\
# Example configuration for the app.

# The database to use.
# @required
DATABASE_URL=postgres://localhost/app

# The session signing key.
# @generate fernet
SECRET_KEY=

# @generate hex:16
API_TOKEN=

# Protects forms.
# @required @generate urlsafe:24
CSRF_SECRET=changeme

# @optional @type bool
DEBUG=false

# @type int
PORT=8000

# @type float
RATIO=0.5

# The public address.
# @type url
PUBLIC_URL=

# @optional
# @type csv
ALLOWED_HOSTS=localhost,127.0.0.1

# @type json
FEATURES='{\"a\": 1}'

# Required, no default
MAIL_PASSWORD=
";

const GENERATED: [&str; 3] = ["SECRET_KEY", "API_TOKEN", "CSRF_SECRET"];

/// Checks the generated values of a file made from [`FULL_EXAMPLE`] and that
/// every other line is the example's; returns the generated values.
#[track_caller]
fn assert_made_from_full_example(text: &str) -> Vec<String> {
    let ex: Vec<&str> = FULL_EXAMPLE.lines().collect();
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), ex.len(), "same lines as the example:\n{text}");
    assert!(text.ends_with('\n'));
    for (e, g) in ex.iter().zip(&got) {
        match GENERATED.iter().find(|k| e.starts_with(&format!("{k}="))) {
            Some(k) => assert!(g.starts_with(&format!("{k}=")), "{g:?} in place of {e:?}"),
            None => assert_eq!(g, e, "a line of the example changed"),
        }
    }
    let entries = dotenv_entries(text);

    let fernet_key = &entries["SECRET_KEY"];
    let f = fernet::Fernet::new(fernet_key).expect("SECRET_KEY is a Fernet key");
    let token = f.encrypt(b"round trip");
    assert_eq!(f.decrypt(&token).expect("decrypts"), b"round trip");

    let hex = &entries["API_TOKEN"];
    assert_eq!(hex.len(), 32, "hex:16 is 32 characters: {hex:?}");
    assert!(
        hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "lowercase hex: {hex:?}"
    );

    let urlsafe = &entries["CSRF_SECRET"];
    assert!(
        urlsafe
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe base64 without padding: {urlsafe:?}"
    );
    assert_eq!(
        URL_SAFE_NO_PAD.decode(urlsafe).expect("base64").len(),
        24,
        "urlsafe:24 is 24 bytes"
    );
    GENERATED.iter().map(|k| entries[*k].clone()).collect()
}

const INIT_STDOUT: [&str; 4] = [
    "created .env from .env.example",
    "generated: SECRET_KEY (fernet), API_TOKEN (hex:16), CSRF_SECRET (urlsafe:24)",
    "still needs a value: PUBLIC_URL, MAIL_PASSWORD",
    "next: fill them in .env, then run 'envcloak check'",
];

#[test]
fn init_generates_values_and_keeps_the_example() {
    let p = Project::new();
    p.git_init();
    p.write(".env.example", FULL_EXAMPLE);
    p.commit(&[".env.example"]);

    let out = p.envcloak(&["init"]).run().code(0);
    out.stdout_is(&INIT_STDOUT);
    let text = p.read_string(".env");
    let values = assert_made_from_full_example(&text);
    for v in &values {
        out.hides(v);
    }
    assert_ne!(values[0], values[1]);
    assert_eq!(p.mode(".env"), 0o600);
    assert!(p.ignored(".env"), ".env must be ignored by git");

    // Filled in, the new file passes check.
    let filled = text
        .replace("PUBLIC_URL=\n", "PUBLIC_URL=https://app.example.com\n")
        .replace("MAIL_PASSWORD=\n", "MAIL_PASSWORD=hunter2hunter2\n");
    p.write(".env", &filled);
    let out = p.envcloak(&["check"]).run();
    for v in &values {
        out.hides(v);
    }
    // .env.key is not ignored yet (a warning only).
    out.code(0).stdout_is(&[
        "warning: .env.key: is not ignored by git: add '.env.key' to .gitignore",
        &summary(0, 1),
    ]);
}

#[test]
fn init_generates_different_values_each_run() {
    let a = Project::new();
    let b = Project::new();
    for p in [&a, &b] {
        p.write(".env.example", FULL_EXAMPLE);
        p.envcloak(&["init"]).run().code(0);
    }
    let va = assert_made_from_full_example(&a.read_string(".env"));
    let vb = assert_made_from_full_example(&b.read_string(".env"));
    for (x, y) in va.iter().zip(&vb) {
        assert_ne!(x, y, "two runs generated the same value");
    }
    // And with --force in the same project.
    a.envcloak(&["init", "--force"]).run().code(0);
    let vc = assert_made_from_full_example(&a.read_string(".env"));
    for (x, y) in va.iter().zip(&vc) {
        assert_ne!(x, y, "--force generated the same value again");
    }
}

#[test]
fn init_keeps_an_existing_env() {
    let p = Project::new();
    p.write(".env.example", FULL_EXAMPLE);
    let old = b"DATABASE_URL=postgres://me@localhost/mine\r\nMAIL_PASSWORD=mine\n# no newline";
    p.write(".env", old);
    p.chmod(".env", 0o640);
    let before = p.names();
    p.envcloak(&["init"])
        .run()
        .fails_with(2, &[".env", "already exists"])
        .hides("mine");
    assert_eq!(p.read(".env"), old, ".env unchanged");
    assert_eq!(p.mode(".env"), 0o640, "mode unchanged");
    assert_eq!(p.names(), before, "no file created");
}

#[test]
fn init_force_keeps_a_private_backup_of_the_old_env() {
    let p = Project::new();
    p.git_init();
    p.write(".env.example", FULL_EXAMPLE);
    p.commit(&[".env.example"]);
    let old: &[u8] = b"DATABASE_URL=postgres://me:pw@localhost/mine\r\n\
                       export SECRET_KEY=\"old secret\"\n\n# trailing, no newline \xe2\x9c\x93";
    p.write(".env", old);

    let out = p.envcloak(&["init", "--force"]).run().code(0);
    out.hides("old secret").hides("me:pw");
    let backups: Vec<String> = p
        .names()
        .into_iter()
        .filter(|n| n.starts_with(".env.backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "one backup: {:?}", p.names());
    let backup = &backups[0];
    let stamp = backup.strip_prefix(".env.backup-").unwrap().as_bytes();
    assert!(
        stamp.len() == 16
            && stamp[..8].iter().all(u8::is_ascii_digit)
            && stamp[8] == b'T'
            && stamp[9..15].iter().all(u8::is_ascii_digit)
            && stamp[15] == b'Z',
        "timestamp YYYYMMDDTHHMMSSZ: {backup}"
    );
    assert_eq!(p.read(backup), old, "the backup holds the old bytes");
    assert_eq!(p.mode(backup), 0o600);
    assert!(
        p.ignored(backup),
        "the backup holds secrets: ignored by git"
    );
    let mut expected = vec![format!("kept the old .env as {backup}")];
    expected.extend(INIT_STDOUT.iter().map(|s| s.to_string()));
    assert_eq!(out.lines(), expected);

    let new = p.read_string(".env");
    assert_made_from_full_example(&new);
    assert_eq!(p.mode(".env"), 0o600);
}

/// `--force` twice in a row (a script, a user pressing up-arrow): both
/// old versions are kept and the second run replaces `.env` too.
#[test]
fn init_force_twice_keeps_both_backups() {
    let p = Project::new();
    p.write(".env.example", "# @generate hex:8\nTOKEN=\n");
    p.write(".env", "TOKEN=first\n");
    p.envcloak(&["init", "--force"]).run().code(0);
    let second = p.read(".env");
    p.envcloak(&["init", "--force"]).run().code(0);
    assert_ne!(
        p.read(".env"),
        second,
        "the second --force wrote a new .env"
    );
    let backups: Vec<Vec<u8>> = p
        .names()
        .into_iter()
        .filter(|n| n.starts_with(".env.backup-"))
        .map(|n| p.read(&n))
        .collect();
    assert_eq!(backups.len(), 2, "{:?}", p.names());
    assert!(backups.contains(&b"TOKEN=first\n".to_vec()));
    assert!(backups.contains(&second));
}

#[test]
fn init_without_a_usable_example_could_not_run() {
    let p = Project::new();
    p.envcloak(&["init"]).run().fails_with(2, &[".env.example"]);
    assert!(!p.exists(".env"));
    p.write(".env.example", "A=1\nB=\"CANARY_open\n");
    p.envcloak(&["init"])
        .run()
        .fails_with(2, &[".env.example:2"])
        .hides("CANARY_open");
    assert!(!p.exists(".env"));
    p.write(".env.example", "# @generate hex:0\nA=\n");
    p.envcloak(&["init"])
        .run()
        .fails_with(2, &[".env.example:1", "@generate"]);
    assert!(!p.exists(".env"));
}

#[test]
fn init_encrypt_writes_env_enc_and_a_key_but_no_env() {
    // No key anywhere: a new .env.key is made.
    let p = Project::new();
    p.git_init();
    p.write(".env.example", FULL_EXAMPLE);
    let out = p.envcloak(&["init", "--encrypt"]).run().code(0);
    assert_eq!(out.lines()[0], "created .env.enc from .env.example");
    assert!(p.exists(".env.enc"));
    assert!(!p.exists(".env"), "no plaintext .env");
    assert_eq!(p.mode(".env.key"), 0o600);
    assert!(p.ignored(".env.key"));
    let plain = p.envcloak(&["decrypt"]).run().code(0).stdout().to_owned();
    let values = assert_made_from_full_example(&plain);
    for v in &values {
        out.hides(v);
    }
    assert!(!p.read_string(".env.enc").contains(&values[0]));

    // A key in the environment: no key file.
    let q = Project::new();
    q.write(".env.example", FULL_EXAMPLE);
    let key = q.keygen();
    let out = q
        .envcloak(&["init", "--encrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .code(0);
    out.hides(&key);
    assert!(q.exists(".env.enc"));
    assert!(!q.exists(".env"));
    assert!(!q.exists(".env.key"), "the key came from ENVCLOAK_KEY");
    let plain = q
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .code(0)
        .stdout()
        .to_owned();
    assert_made_from_full_example(&plain);

    // An existing .env.key is used, not replaced.
    let r = Project::new();
    r.write(".env.example", FULL_EXAMPLE);
    let key = r.keygen();
    r.write(".env.key", format!("{key}\n"));
    r.chmod(".env.key", 0o600);
    r.envcloak(&["init", "--encrypt"]).run().code(0).hides(&key);
    assert_eq!(r.read_string(".env.key"), format!("{key}\n"));
    assert!(!r.exists(".env"));
    let plain = r
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .code(0)
        .stdout()
        .to_owned();
    assert_made_from_full_example(&plain);
}

// ---------------------------------------------------------------------------
// get, ls
// ---------------------------------------------------------------------------

/// `.env.enc` (A B C X), `.env` (A B), environment (A); returns the key.
fn layered(p: &Project) -> String {
    let key = p.encrypt_with_env_key("X=enc-x\nC=enc-c\nB=enc-b\nA=enc-a\n");
    p.write(".env", "# local\nA=dotenv-a\nB=dotenv-b\n");
    key
}

#[test]
fn get_prints_the_effective_value() {
    let p = Project::new();
    let key = layered(&p);
    let get = |k: &str| {
        p.envcloak(&["get", k])
            .env("ENVCLOAK_KEY", &key)
            .env("A", "env-a")
            .run()
            .code(0)
            .stdout()
            .to_owned()
    };
    assert_eq!(get("A"), "env-a\n", "environment > .env > .env.enc");
    assert_eq!(get("B"), "dotenv-b\n", ".env > .env.enc");
    assert_eq!(get("C"), "enc-c\n", ".env.enc");
}

#[test]
fn get_of_a_missing_key_exits_1() {
    let p = Project::new();
    let key = layered(&p);
    let out = p
        .envcloak(&["get", "NOPE"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .fails_with(1, &["NOPE", "not set"]);
    for v in ["enc-", "dotenv-"] {
        out.hides(v);
    }
    // Without a key, the message says why .env.enc was not searched.
    p.envcloak(&["get", "C"])
        .run()
        .fails_with(1, &["C", "not set", ".env.enc", "no key"]);
}

#[test]
fn ls_lists_keys_and_sources_with_values_hidden() {
    let p = Project::new();
    let key = layered(&p);
    let ls = |args: &[&str]| {
        let mut a = vec!["ls"];
        a.extend_from_slice(args);
        p.envcloak(&a)
            .env("ENVCLOAK_KEY", &key)
            .env("A", "env-a")
            .env("ONLY_ENV", "not-listed")
            .run()
            .code(0)
    };
    let rows = |out: &Out| -> Vec<Vec<String>> {
        out.stdout()
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    };

    // A key that hides another layer's definition says which (DESIGN §2).
    let out = ls(&[]);
    assert_eq!(
        rows(&out),
        [
            &[
                "A",
                "environment",
                "****",
                "(hides",
                ".env:2,",
                ".env.enc:4)"
            ][..],
            &["B", ".env:3", "****", "(hides", ".env.enc:3)"],
            &["C", ".env.enc:2", "****"],
            &["X", ".env.enc:1", "****"],
        ],
        "{}",
        out.stdout()
    );
    for v in ["env-a", "dotenv-", "enc-", "not-listed"] {
        out.hides(v);
    }

    let out = ls(&["--show"]);
    assert_eq!(
        rows(&out),
        [
            &[
                "A",
                "environment",
                "env-a",
                "(hides",
                ".env:2,",
                ".env.enc:4)"
            ][..],
            &["B", ".env:3", "dotenv-b", "(hides", ".env.enc:3)"],
            &["C", ".env.enc:2", "enc-c"],
            &["X", ".env.enc:1", "enc-x"],
        ]
    );

    let out = ls(&["--format", "json"]);
    for v in ["env-a", "dotenv-", "enc-"] {
        out.hides(v);
    }
    let doc = out.json();
    assert_eq!(
        doc,
        serde_json::json!([
            {"key": "A", "source": "environment"},
            {"key": "B", "source": ".env:3"},
            {"key": "C", "source": ".env.enc:2"},
            {"key": "X", "source": ".env.enc:1"},
        ])
    );
    let doc = ls(&["--show", "--format", "json"]).json();
    assert_eq!(doc[0]["value"], "env-a");
    assert_eq!(doc[1]["value"], "dotenv-b");
    assert_eq!(doc[2]["value"], "enc-c");

    // Without a key: .env.enc is skipped, said so on stderr.
    let out = p.envcloak(&["ls"]).run().code(0);
    assert_eq!(
        out.lines(),
        ["A  .env:2  ****", "B  .env:3  ****"],
        "{}",
        out.stdout()
    );
    assert!(out.stderr.contains(".env.enc not read: no key"));
}

// ---------------------------------------------------------------------------
// Leak check
// ---------------------------------------------------------------------------

#[test]
fn canaries_appear_only_where_asked_for() {
    let tag = format!("CANARY_{}", random_hex(8));
    let c = |what: &str| format!("{tag}_{what}");
    let p = Project::new();
    p.git_init();
    p.write(
        ".env.example",
        format!(
            "# @type int\nPORT=\n# @type json\nFEATURES=\n# @type url\nPUBLIC_URL=\n\
             # @type bool\nDEBUG=\n# @type float\nRATIO=\n# @type csv\nHOSTS=\n\
             API_KEY=\nDB_PASSWORD=\nTOKEN=\nMISSING_ONE=\n# Leaked into the example\n\
             STRIPE_KEY=sk_live_{}\n",
            c("example")
        ),
    );
    p.commit(&[".env.example"]);
    let key = p.encrypt_with_env_key(&format!(
        "PUBLIC_URL={}\nDB_PASSWORD={}\nENC_ONLY={}\nDB_PASSWORD={}\n",
        c("enc_url"),
        c("enc_pw"),
        c("enc_only"),
        c("enc_pw2")
    ));
    let dotenv = format!(
        "PORT={}\nFEATURES={}\nDEBUG={}\nRATIO={}\nHOSTS='{},\"x'\nAPI_KEY={}\n\
         EXTRA_SECRET={}\nAPI_KEY=\n",
        c("port"),
        c("json"),
        c("debug"),
        c("ratio"),
        c("csv"),
        c("api"),
        c("extra"),
    );
    p.write(".env", &dotenv);
    let environ = [("TOKEN", c("environ")), ("RATIO", c("environ_ratio"))];

    let run = |args: &[&str], key: Option<&str>| -> Out {
        let mut r = p.envcloak(args);
        for (k, v) in &environ {
            r = r.env(k, v);
        }
        if let Some(key) = key {
            r = r.env("ENVCLOAK_KEY", key);
        }
        r.run()
    };
    let must_hide = |out: &Out| {
        out.hides(&tag);
    };

    // check, text and JSON, with and without the key: failing on types.
    for key in [Some(key.as_str()), None] {
        for args in [
            &["check"][..],
            &["check", "--strict"],
            &["check", "--format", "json"],
            &["check", "--strict", "--format", "json"],
        ] {
            let out = run(args, key).code(1);
            must_hide(&out);
        }
    }
    // The failures were really found (not a vacuous pass).
    let out = run(&["check"], Some(key.as_str()));
    for l in [
        ".env:1: PORT: expected int (from .env:1): not a valid integer",
        ".env.example:10: RATIO: expected float (from process environment): not a valid number",
        ".env:2: FEATURES: expected json (from .env:2): not valid JSON",
        ".env.enc:1: PUBLIC_URL: expected url (from .env.enc:1): not a URL (scheme://...)",
        ".env:8: API_KEY: required but empty (from .env:8)",
        ".env.example:18: STRIPE_KEY: looks like a real secret: .env.example is committed; use a placeholder",
        "warning: .env:7: EXTRA_SECRET: not in .env.example",
        "warning: .env.enc:4: DB_PASSWORD: defined again (first on line 2); the last one wins",
    ] {
        out.has_line(l);
    }
    for args in [
        &["ls"][..],
        &["ls", "--format", "json"],
        &["get", "MISSING_ONE"],
        &["get", "ENC_ONLY_TYPO"],
    ] {
        must_hide(&run(args, Some(key.as_str())));
        must_hide(&run(args, None));
    }
    run(&["get", "MISSING_ONE"], Some(key.as_str())).fails_with(1, &["MISSING_ONE"]);
    // Asked for: the canaries are really there.
    assert_eq!(
        run(&["get", "ENC_ONLY"], Some(key.as_str()))
            .code(0)
            .stdout(),
        format!("{}\n", c("enc_only"))
    );
    assert_eq!(
        run(&["get", "TOKEN"], Some(key.as_str())).code(0).stdout(),
        format!("{}\n", c("environ"))
    );
    let shown = run(&["ls", "--show"], Some(key.as_str()))
        .code(0)
        .stdout()
        .to_owned();
    for what in ["enc_url", "enc_pw2", "enc_only", "port", "extra"] {
        assert!(shown.contains(&c(what)), "ls --show shows {what}");
    }

    // Commands that fail: a wrong key, a key that is itself a canary.
    let wrong = fernet::Fernet::generate_key();
    for args in [&["check"][..], &["ls"], &["get", "PORT"], &["decrypt"]] {
        must_hide(&run(args, Some(wrong.as_str())).code(2));
        // `check` reports an unusable key as a problem (exit 1) and goes on.
        let unusable = if args == ["check"] { 1 } else { 2 };
        must_hide(&run(args, Some(c("as_key").as_str())).code(unusable));
    }
    // init refuses to overwrite, then replaces with a backup.
    must_hide(&run(&["init"], Some(key.as_str())).code(2));
    must_hide(&run(&["init", "--force"], Some(key.as_str())).code(0));

    // Syntax errors on lines holding canaries: the line is never quoted.
    for broken in [
        format!("A=1\n{}\n", c("bare")),
        format!("A=1\nB=\"{}\n", c("open_quote")),
        format!("A=1\nB={}\\\n", c("backslash")),
        format!("A=1\nB=\"{}\\q\"\n", c("escape")),
    ] {
        p.write(".env", &broken);
        for args in [
            &["check"][..],
            &["check", "--format", "json"],
            &["ls"],
            &["ls", "--show"],
            &["get", "A"],
            &["run", "--", "true"],
        ] {
            let out = run(args, Some(key.as_str()));
            assert_ne!(out.code, 0, "{}: a broken .env", out.what);
            must_hide(&out);
        }
    }
}

#[test]
fn check_reports_example_values_that_break_their_own_type() {
    let p = Project::new();
    p.write(
        ".env.example",
        "# @type json\nFLAGS={beta: false}\n# @type json\nGOOD='{\"a\": 1}'\n# @type json\nBARE={\"a\": [1, 2]}\n",
    );
    p.write(
        ".env",
        "FLAGS='{\"beta\": false}'\nGOOD='{\"a\": 2}'\nBARE={\"b\": 3}\n",
    );
    let out = p.envcloak(&["check"]).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout()
            .contains(".env.example:2: FLAGS: the example's own value is not a valid json"),
        "{}",
        out.stdout()
    );
    assert!(!out.stdout().contains("GOOD"), "{}", out.stdout());
    // Unquoted JSON keeps its inner quotes (as python-dotenv and node read it).
    assert!(!out.stdout().contains("BARE"), "{}", out.stdout());
}

#[test]
fn check_keeps_the_profile_when_its_key_is_unusable() {
    let p = Project::new();
    p.write(".env.example", "DB_URL=\nSECRET=\n");
    p.write(".env.staging", "SECRET=from-plain-file\n");
    let enc = p
        .envcloak(&["encrypt", ".env.staging", "--profile", "staging"])
        .run();
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    p.write(".env.staging", "DB_URL=postgres://db/app\nSECRET=x\n");
    p.chmod(".env.staging.key", 0o644);
    let out = p.envcloak(&["check", "--profile", "staging"]).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout().contains("permissions"), "{}", out.stdout());
    assert!(
        !out.stdout().contains("DB_URL: required"),
        "{}",
        out.stdout()
    );
}

#[test]
fn init_encrypt_force_keeps_the_new_encrypted_file_committable() {
    let p = Project::new();
    p.write(".env.example", "# @generate hex:8\nTOKEN=\n");
    assert_eq!(p.envcloak(&["init", "--encrypt"]).run().code, 0);
    let out = p.envcloak(&["init", "--encrypt", "--force"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mode = |name: &str| std::fs::metadata(p.p(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(".env.enc"), 0o644);
    let backup = std::fs::read_dir(p.p("."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(".env.enc.backup-"))
        .expect("a backup");
    assert_eq!(mode(&backup), 0o600);
}

#[test]
fn a_program_gets_the_same_check_as_the_tool_through_the_library() {
    let p = Project::new();
    p.git_init();
    p.write(".env.example", TYPED_EXAMPLE);
    // Several kinds of problem at once: a type error, a missing key, an
    // extra key, a duplicate, an unignored .env and a loose key file.
    p.write(
        ".env",
        "PORT=eighty\nDEBUG=yes\nDEBUG=no\nEXTRA=1\nRATIO=2.5\nPUBLIC_URL=https://x.example/\n",
    );
    p.write(".env.key", "not-a-key\n");
    p.chmod(".env.key", 0o644);
    let tool = p
        .envcloak(&["check", "--strict", "--format", "json"])
        .run()
        .code(1)
        .json();
    let report = envcloak::check::check(
        &envcloak::check::CheckOptions::new(p.path())
            .strict(true)
            .process_env(false),
    )
    .unwrap();
    assert!(!report.ok());
    // The tool names files relative to the project; the library as given.
    let prefix = format!("{}/", p.path().display());
    let lib = serde_json::to_string(&report).unwrap().replace(&prefix, "");
    let lib: Value = serde_json::from_str(&lib).unwrap();
    assert_eq!(lib, tool);
    assert!(kinds(&tool).len() >= 5, "{tool:#}");
}
