//! Fail closed in CI (issue 14): with `CI` set, an encrypted file that no
//! key opens stops `run` (before the command starts), `get` and `ls`, and
//! the library's builder; `check` and `init` keep reporting it instead.
//! `run --require-key` asks for the same outside CI, `--no-require-key`
//! turns it off.

mod common;

use common::Project;

const SECRET: &str = "s3cr3t-database-password";

/// A project whose only layer with DATABASE_URL is `.env.enc`, and a plain
/// `.env` with DEBUG; returns it and the key (given through ENVCLOAK_KEY,
/// no key file).
fn project() -> (Project, String) {
    let p = Project::new();
    let key = p.encrypt_with_env_key(&format!(
        "DATABASE_URL=postgres://app:{SECRET}@db/app\nAPI_TOKEN={SECRET}-token\n"
    ));
    p.write(".env", "DEBUG=true\n");
    (p, key)
}

/// `run` of a command that leaves a file behind if it starts.
fn run_marker(flags: &[&str]) -> Vec<String> {
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "sh", "-c", "touch started"]);
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn run_in_ci_without_a_key_refuses_to_start_the_command() {
    let (p, _key) = project();
    for ci in ["true", "1", "yes", "TRUE", "gitlab"] {
        let a = run_marker(&[]);
        let out = p
            .envcloak(&args(&a))
            .env("CI", ci)
            .run()
            .fails_with(2, &[".env.enc", "no key found", "ENVCLOAK_KEY"]);
        out.stderr_says(&["--no-require-key", "the command was not started"]);
        out.hides(SECRET);
        assert!(!p.exists("started"), "CI={ci}: the command must not start");
    }
}

#[test]
fn an_empty_key_variable_is_no_key() {
    // A missing or misnamed CI secret expands to an empty variable.
    let (p, _key) = project();
    let a = run_marker(&[]);
    p.envcloak(&args(&a))
        .env("CI", "true")
        .env("ENVCLOAK_KEY", "")
        .run()
        .fails_with(2, &["no key found"]);
    assert!(!p.exists("started"));
}

#[test]
fn outside_ci_run_warns_and_starts_the_command() {
    let (p, _key) = project();
    for ci in [None, Some(""), Some("false"), Some("0"), Some("FALSE")] {
        let a = run_marker(&[]);
        let mut r = p.envcloak(&args(&a));
        if let Some(ci) = ci {
            r = r.env("CI", ci);
        }
        let out = r.run().ok();
        out.stderr_says(&[".env.enc not read: no key"]);
        assert!(p.exists("started"), "CI={ci:?}: the command runs");
        std::fs::remove_file(p.p("started")).unwrap();
    }
}

#[test]
fn require_key_and_no_require_key_override_the_default() {
    let (p, _key) = project();
    // --require-key outside CI.
    let a = run_marker(&["--require-key"]);
    p.envcloak(&args(&a))
        .run()
        .fails_with(2, &[".env.enc", "no key found"]);
    assert!(!p.exists("started"));
    // --no-require-key in CI: a warning, and the command runs.
    let a = run_marker(&["--no-require-key"]);
    p.envcloak(&args(&a))
        .env("CI", "true")
        .run()
        .ok()
        .stderr_says(&["not read: no key"]);
    assert!(p.exists("started"));
    std::fs::remove_file(p.p("started")).unwrap();
    // The last of the two wins.
    let a = run_marker(&["--no-require-key", "--require-key"]);
    p.envcloak(&args(&a)).run().fails(2);
    assert!(!p.exists("started"));
    let a = run_marker(&["--require-key", "--no-require-key"]);
    p.envcloak(&args(&a)).env("CI", "true").run().ok();
    assert!(p.exists("started"));
}

#[test]
fn run_in_ci_with_the_key_gives_the_values() {
    let (p, key) = project();
    let out = p
        .envcloak(&["run", "--", "sh", "-c", "printf %s \"$API_TOKEN|$DEBUG\""])
        .env("CI", "true")
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert_eq!(out.stdout(), format!("{SECRET}-token|true"));
    assert_eq!(out.stderr, "");
}

#[test]
fn a_wrong_key_is_an_error_in_ci_and_out() {
    let (p, _key) = project();
    let other = p.keygen();
    for ci in [Some("true"), None] {
        let a = run_marker(&["--no-require-key"]);
        let mut r = p.envcloak(&args(&a)).env("ENVCLOAK_KEY", &other);
        if let Some(ci) = ci {
            r = r.env("CI", ci);
        }
        r.run()
            .fails_with(2, &[".env.enc", "authentication failed"])
            .hides(SECRET);
        assert!(!p.exists("started"));
    }
}

#[test]
fn get_and_ls_fail_closed_in_ci() {
    let (p, key) = project();
    // A key of .env (readable) and one of .env.enc: both refused in CI,
    // since the configuration is incomplete.
    for a in [&["get", "DEBUG"][..], &["get", "DATABASE_URL"], &["ls"]] {
        p.envcloak(a)
            .env("CI", "true")
            .run()
            .fails_with(2, &[".env.enc", "no key found"])
            .stderr_says(&["hint: set ENVCLOAK_KEY"]);
    }
    // With the key they work.
    let out = p
        .envcloak(&["get", "API_TOKEN"])
        .env("CI", "true")
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert_eq!(out.stdout(), format!("{SECRET}-token\n"));
    p.envcloak(&["ls"])
        .env("CI", "true")
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok()
        .hides(SECRET);
    // Outside CI, as before: get of an encrypted key is "not set" (exit 1)
    // and says why; ls lists what it can and notes the file.
    p.envcloak(&["get", "DATABASE_URL"])
        .run()
        .fails_with(1, &["DATABASE_URL: not set", ".env.enc not read: no key"]);
    p.envcloak(&["ls"])
        .run()
        .ok()
        .stderr_says(&[".env.enc not read: no key"]);
}

#[test]
fn check_in_ci_reports_the_missing_key_instead_of_failing_to_run() {
    let (p, key) = project();
    p.write(".env.example", "DEBUG=\nDATABASE_URL=\nAPI_TOKEN=\n");
    // Reported (the unread file as a warning, the keys it would supply as
    // missing): exit 1, never "could not run" (2), so the report is there
    // to read.
    let out = p.envcloak(&["check"]).env("CI", "true").run().code(1);
    assert!(
        out.stdout().contains(".env.enc: not read: no key"),
        "{}",
        out.stdout()
    );
    out.hides(SECRET);
    let out = p
        .envcloak(&["check", "--strict", "--format", "json"])
        .env("CI", "true")
        .run()
        .code(1);
    let report = out.json();
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"no-key"), "{kinds:?}");
    // With the key, the same check is clean of it.
    let out = p
        .envcloak(&["check", "--format", "json"])
        .env("CI", "true")
        .env("ENVCLOAK_KEY", &key)
        .run();
    assert!(!out.stdout().contains("no-key"), "{}", out.stdout());
}

#[test]
fn init_in_ci_without_a_key_still_writes_env() {
    let (p, _key) = project();
    std::fs::remove_file(p.p(".env")).unwrap();
    p.write(
        ".env.example",
        "DEBUG=\n# @generate hex:8\nSESSION_SECRET=\n",
    );
    p.envcloak(&["init"])
        .env("CI", "true")
        .run()
        .ok()
        .stderr_says(&[".env.enc could not be read"]);
    assert!(p.read_string(".env").contains("SESSION_SECRET="));
}

// ---------------------------------------------------------------------------
// The library: ConfigBuilder::require_key and its CI default
// ---------------------------------------------------------------------------

#[test]
fn the_builder_fails_closed_when_ci_is_set_in_its_environment() {
    use envcloak::{Config, Error, ExposeSecret, SecretString};
    let (p, key) = project();
    let err = Config::builder()
        .dir(p.path())
        .environment([("CI", "true")])
        .build()
        .unwrap_err();
    let Error::KeyNotFound { path, looked } = &err else {
        panic!("expected KeyNotFound, got {err}");
    };
    assert_eq!(path, &p.p(".env.enc"));
    assert!(looked.iter().any(|l| l == "ENVCLOAK_KEY"), "{looked:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(".env.enc") && msg.contains("ENVCLOAK_KEY"),
        "{msg}"
    );
    assert!(!msg.contains(SECRET) && !format!("{err:?}").contains(SECRET));

    // CI unset, empty, false or 0: skipped, and a missing key's error says so.
    for env in [
        vec![],
        vec![("CI", "")],
        vec![("CI", "false")],
        vec![("CI", "0")],
    ] {
        let cfg = Config::builder()
            .dir(p.path())
            .environment(env.clone())
            .build()
            .unwrap_or_else(|e| panic!("{env:?}: {e}"));
        assert_eq!(cfg.skipped_encrypted(), [p.p(".env.enc")]);
        let e = cfg.get::<String>("API_TOKEN").unwrap_err().to_string();
        assert!(e.contains("not read: no key"), "{e}");
    }
    // The switch wins over CI, both ways.
    Config::builder()
        .dir(p.path())
        .environment([("CI", "true")])
        .require_key(false)
        .build()
        .unwrap();
    assert!(matches!(
        Config::builder()
            .dir(p.path())
            .environment([("CI", "false")])
            .require_key(true)
            .build(),
        Err(Error::KeyNotFound { .. })
    ));
    // With the key, in CI, the values are there.
    let cfg = Config::builder()
        .dir(p.path())
        .environment([("CI", "true"), ("ENVCLOAK_KEY", key.as_str())])
        .build()
        .unwrap();
    let token: SecretString = cfg.get("API_TOKEN").unwrap();
    assert_eq!(token.expose_secret(), format!("{SECRET}-token"));
    // Without an environment (isolated), CI is not read: the default is off.
    let cfg = Config::builder().isolated().dir(p.path()).build().unwrap();
    assert_eq!(cfg.skipped_encrypted().len(), 1);
}

#[test]
fn the_builder_in_ci_refuses_a_password_file_without_its_password() {
    use envcloak::{Config, Error};
    let p = Project::new();
    p.write("plain.env", format!("A={SECRET}\n"));
    p.envcloak(&[
        "encrypt",
        "plain.env",
        "--password",
        "--iterations",
        "600000",
    ])
    .env("ENVCLOAK_PASSWORD", "correct horse battery")
    .run()
    .ok();
    let err = Config::builder()
        .dir(p.path())
        .environment([("CI", "true")])
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Decrypt { .. }), "{err}");
    assert!(err.to_string().contains("password"), "{err}");
    // Given the password, it opens.
    let cfg = Config::builder()
        .dir(p.path())
        .environment([
            ("CI", "true"),
            ("ENVCLOAK_PASSWORD", "correct horse battery"),
        ])
        .build()
        .unwrap();
    assert_eq!(cfg.get::<String>("A").unwrap(), SECRET);
}
