//! One source of truth between `.env` and `.env.enc` (DESIGN §2, last
//! paragraph): `.env` ranks above `.env.enc` on purpose, and every
//! override is visible.
//!
//! - `init` writes to `.env` only the keys no other layer supplies, and
//!   leaves the others as comments naming their source;
//! - `set` / `unset` warn, with file and line, when a higher layer hides
//!   the key they changed;
//! - `ls` marks shadowed keys and `ls --all` lists every definition;
//! - `check` reports `shadowed`;
//! - `encrypt` summarises what it changes by key and refuses to drop keys
//!   only `.env.enc` holds without `--prune`; `--dry-run` writes nothing.
//!
//! Every test drives the real binary in its own directory with an empty
//! environment, and checks that the canary values it planted appear in no
//! output unless the user asked for values.

use serde_json::json;

mod common;

use common::{Out, Project};

/// A tag no output may contain: `CANARY_<random>_<what>`.
fn canary(what: &str) -> String {
    let mut buf = [0u8; 6];
    getrandom::getrandom(&mut buf).unwrap();
    let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    format!("CANARY_{hex}_{what}")
}

/// Writes `plaintext` as the encrypted file `name` with `key` (through
/// `encrypt`), leaving no plaintext behind.
fn encrypt_as(p: &Project, name: &str, plaintext: &str, key: &str) {
    p.write("plain.tmp", plaintext);
    p.envcloak(&["encrypt", "plain.tmp", "-f", name])
        .env("ENVCLOAK_KEY", key)
        .run()
        .ok();
    std::fs::remove_file(p.p("plain.tmp")).unwrap();
}

/// The `envcloak: ` lines of stderr, without the prefix.
fn notes(out: &Out) -> Vec<&str> {
    out.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("envcloak: "))
        .collect()
}

/// The `envcloak: warning: ` lines of stderr, without the prefix.
fn warnings(out: &Out) -> Vec<&str> {
    notes(out)
        .into_iter()
        .filter_map(|l| l.strip_prefix("warning: "))
        .collect()
}

// ---------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------

const EXAMPLE: &str = "\
# Signs sessions.
# @generate fernet
SECRET_KEY=
# @generate hex:16
API_TOKEN=
DATABASE_URL=postgres://localhost/app
# @optional @type bool
DEBUG=false
MAIL_PASSWORD=
";

/// A project with [`EXAMPLE`] and a team `.env.enc` holding SECRET_KEY,
/// DATABASE_URL and TEAM_ONLY (canaries); returns the key and the canaries.
fn team_project(p: &Project) -> (String, [String; 3]) {
    p.write(".env.example", EXAMPLE);
    let c = [canary("secret"), canary("db"), canary("team_only")];
    let key = p.encrypt_with_env_key(&format!(
        "SECRET_KEY={}\nDATABASE_URL=postgres://app:{}@db/app\nTEAM_ONLY={}\n",
        c[0], c[1], c[2]
    ));
    (key, c)
}

#[test]
fn init_with_the_team_key_leaves_what_env_enc_supplies_as_comments() {
    let p = Project::new();
    let (key, canaries) = team_project(&p);
    let out = p.envcloak(&["init"]).env("ENVCLOAK_KEY", &key).run().ok();
    out.stdout_is(&[
        "created .env from .env.example",
        "generated: API_TOKEN (hex:16)",
        "left as comments, another layer supplies them: SECRET_KEY (.env.enc), DATABASE_URL (.env.enc)",
        "still needs a value: MAIL_PASSWORD",
        "next: fill them in .env, then run 'envcloak check'",
    ]);
    let text = p.read_string(".env");
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("API_TOKEN="))
        .expect("API_TOKEN is live")
        .to_owned();
    assert_eq!(token.len(), 32, "a fresh hex:16 value");
    assert_eq!(
        text.replace(&token, "<generated>"),
        "\
# Signs sessions.
# @generate fernet
# SECRET_KEY comes from .env.enc; uncomment to override
# SECRET_KEY=
# @generate hex:16
API_TOKEN=<generated>
# DATABASE_URL comes from .env.enc; uncomment to override
# DATABASE_URL=postgres://localhost/app
# @optional @type bool
DEBUG=false
MAIL_PASSWORD=
"
    );
    // No team value in the file or the output, no secret generated for a
    // commented key.
    for c in &canaries {
        out.hides(c);
        assert!(!text.contains(c.as_str()));
    }
    out.hides(&token);
    // The team's values are what the app gets.
    let get = |k: &str| {
        p.envcloak(&["get", k])
            .env("ENVCLOAK_KEY", &key)
            .run()
            .ok()
            .stdout()
            .to_owned()
    };
    assert_eq!(get("SECRET_KEY"), format!("{}\n", canaries[0]));
    assert!(get("DATABASE_URL").contains(&canaries[1]));
    assert_eq!(get("API_TOKEN"), format!("{token}\n"));
    // And nothing is shadowed.
    let doc = p
        .envcloak(&["check", "--format", "json"])
        .env("ENVCLOAK_KEY", &key)
        .run();
    for c in &canaries {
        doc.hides(c);
    }
    let doc = doc.json();
    let kinds: Vec<&str> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"shadowed"), "{doc:#}");
}

#[test]
fn init_without_the_key_writes_every_key_and_says_what_they_will_hide() {
    let p = Project::new();
    let (key, canaries) = team_project(&p);
    let out = p.envcloak(&["init"]).run().ok();
    // Every key live: init cannot know what .env.enc supplies.
    let text = p.read_string(".env");
    let entries: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
        .map(Result::unwrap)
        .collect();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "SECRET_KEY",
            "API_TOKEN",
            "DATABASE_URL",
            "DEBUG",
            "MAIL_PASSWORD"
        ]
    );
    assert!(!text.contains("comes from"));
    // Said clearly, naming the file, where keys were looked for, the keys
    // and what to do; never a value.
    let w = warnings(&out);
    assert_eq!(w.len(), 2, "{}", out.stderr);
    assert_eq!(
        w[0],
        ".env.enc could not be read, so init cannot tell which keys it supplies: \
         .env.enc: no key found (looked in ENVCLOAK_KEY, ENVCLOAK_KEY_FILE, ENVCLOAK_KEY_CMD, .env.key, .env.key.age)"
    );
    assert_eq!(
        w[1],
        ".env now sets SECRET_KEY, API_TOKEN, DATABASE_URL, DEBUG, MAIL_PASSWORD; \
         once the key is here, these hide the values .env.enc has for them"
    );
    out.stderr_says(&["'envcloak init --force'", "kept as a backup", "shadowed"]);
    for (_, v) in &entries {
        if !v.is_empty() {
            out.hides(v);
        }
    }
    for c in &canaries {
        out.hides(c);
    }

    // With the key, check names each key .env now hides.
    let check = p
        .envcloak(&["check", "--format", "json"])
        .env("ENVCLOAK_KEY", &key)
        .run();
    for c in &canaries {
        check.hides(c);
    }
    let shadowed: Vec<String> = check.json()["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "shadowed")
        .map(|p| p["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        shadowed,
        [".env:6 hides .env.enc:2", ".env:3 hides .env.enc:1"]
    );

    // What the message said to do: init --force with the key, keeping a backup.
    let out = p
        .envcloak(&["init", "--force"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert!(
        out.stdout()
            .starts_with("kept the old .env as .env.backup-")
    );
    assert!(
        p.read_string(".env")
            .contains("# SECRET_KEY comes from .env.enc")
    );
    for c in &canaries {
        out.hides(c);
    }
}

#[test]
fn init_with_a_wrong_key_writes_nothing() {
    let p = Project::new();
    let (_key, canaries) = team_project(&p);
    let before = p.listing();
    let wrong = p.keygen();
    let out = p
        .envcloak(&["init"])
        .env("ENVCLOAK_KEY", &wrong)
        .run()
        .fails_with(2, &[".env.enc", "authentication failed", "ENVCLOAK_KEY"]);
    for c in &canaries {
        out.hides(c);
    }
    out.hides(&wrong);
    assert_eq!(p.listing(), before, "no .env, no .gitignore, no lock file");
}

#[test]
fn init_leaves_keys_the_environment_supplies_as_comments() {
    let p = Project::new();
    p.write(
        ".env.example",
        "DATABASE_URL=\n# @generate hex:8\nTOKEN=\nPORT=8000\n",
    );
    let (db, token) = (canary("env_db"), canary("env_token"));
    let out = p
        .envcloak(&["init"])
        .env("DATABASE_URL", &db)
        .env("TOKEN", &token)
        .run()
        .ok();
    out.stdout_is(&[
        "created .env from .env.example",
        "left as comments, another layer supplies them: DATABASE_URL (environment), TOKEN (environment)",
        "every required key has a value",
    ]);
    out.hides(&db).hides(&token);
    let env = "comes from the process environment, which wins over this file; uncomment for when it is unset";
    assert_eq!(
        p.read_string(".env"),
        format!(
            "# DATABASE_URL {env}\n# DATABASE_URL=\n# @generate hex:8\n# TOKEN {env}\n# TOKEN=\nPORT=8000\n"
        )
    );

    // init --encrypt keeps its meaning: the encrypted file gets every key.
    let q = Project::new();
    q.write(".env.example", "DATABASE_URL=\n# @generate hex:8\nTOKEN=\n");
    let key = q.keygen();
    let out = q
        .envcloak(&["init", "--encrypt"])
        .env("ENVCLOAK_KEY", &key)
        .env("DATABASE_URL", &db)
        .run()
        .ok();
    out.hides(&db);
    assert!(!out.stdout().contains("left as comments"));
    let plain = q
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok()
        .stdout()
        .to_owned();
    assert!(
        plain.starts_with("DATABASE_URL=\n# @generate hex:8\nTOKEN="),
        "{plain}"
    );
    assert_eq!(plain.lines().nth(2).unwrap().len(), "TOKEN=".len() + 16);
}

// ---------------------------------------------------------------------------
// set, unset
// ---------------------------------------------------------------------------

#[test]
fn set_and_unset_warn_with_file_and_line_when_a_higher_layer_hides_the_key() {
    let p = Project::new();
    let key = p.encrypt_with_env_key("A=1\nB=1\nC=1\nD=1\nE=1\n");
    p.write(".env", "# local\nA=dotenv\n");
    p.write(".env.staging", "\nB=staging\n");
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut r = p.envcloak(args).env("ENVCLOAK_KEY", &key);
        for (k, v) in envs {
            r = r.env(k, v);
        }
        r.run().ok()
    };
    let value = canary("value");

    // .env wins over .env.enc.
    let out = run(&["set", "A", &value], &[]);
    assert_eq!(
        warnings(&out),
        ["A is also set at .env:2, which wins over .env.enc; remove it there to use this value"]
    );
    out.hides(&value).hides("dotenv");
    // The change is made all the same.
    let plain = run(&["decrypt"], &[]).stdout().to_owned();
    assert!(plain.starts_with(&format!("A={value}\n")), "set happened");

    // The environment wins over everything.
    let out = run(&["set", "C", &value], &[("C", "from-env")]);
    assert_eq!(
        warnings(&out),
        [
            "C is also set in the process environment, which wins over .env.enc; unset C to use this value"
        ]
    );
    out.hides(&value).hides("from-env");

    // .env.<profile> too, for the file it sits above.
    let out = run(
        &["set", "B", &value, "-f", ".env.enc", "--profile", "staging"],
        &[],
    );
    assert_eq!(
        warnings(&out),
        [
            "B is also set at .env.staging:2, which wins over .env.enc; remove it there to use this value"
        ]
    );
    // And .env.<profile>.enc over .env.enc.
    encrypt_as(&p, ".env.staging.enc", "X=0\nE=staging-enc\n", &key);
    let out = run(
        &["set", "E", &value, "-f", ".env.enc", "--profile", "staging"],
        &[],
    );
    assert_eq!(
        warnings(&out),
        [
            "E is also set at .env.staging.enc:2, which wins over .env.enc; remove it there to use this value"
        ]
    );
    out.hides("staging-enc");
    // The profile's own file is not above itself.
    let out = run(&["set", "X", &value, "--profile", "staging"], &[]);
    assert!(warnings(&out).is_empty(), "{}", out.stderr);

    // Several at once, highest first.
    let out = run(&["set", "A", &value], &[("A", "from-env")]);
    assert_eq!(warnings(&out).len(), 2, "{}", out.stderr);
    assert!(warnings(&out)[0].starts_with("A is also set in the process environment"));
    assert!(warnings(&out)[1].starts_with("A is also set at .env:2"));

    // Nothing above: no warning.
    let out = run(&["set", "D", &value], &[]);
    assert!(warnings(&out).is_empty(), "{}", out.stderr);

    // unset: the key stays set where it wins.
    let out = run(&["unset", "A"], &[]);
    assert_eq!(
        warnings(&out),
        ["A is still set at .env:2, which wins over .env.enc; remove it there too to unset it"]
    );
    let out = run(&["unset", "C"], &[("C", "from-env")]);
    assert_eq!(
        warnings(&out),
        [
            "C is still set in the process environment, which wins over .env.enc; unset C too to unset it"
        ]
    );
    let plain = run(&["decrypt"], &[]).stdout().to_owned();
    assert!(!plain.contains("A=") && !plain.contains("C="), "{plain}");
}

// ---------------------------------------------------------------------------
// ls
// ---------------------------------------------------------------------------

/// `.env.enc` (X C B A), `.env` (A B), and A in the environment, with
/// canary values; returns the key and the values by layer.
fn layered(p: &Project) -> (String, [String; 3]) {
    let v = [canary("env"), canary("dotenv"), canary("enc")];
    let key = p.encrypt_with_env_key(&format!("X={e}x\nC={e}c\nB={e}b\nA={e}a\n", e = v[2]));
    p.write(".env", format!("# local\nA={d}a\nB={d}b\n", d = v[1]));
    (key, v)
}

#[test]
fn ls_marks_shadowed_keys_and_all_lists_every_definition() {
    let p = Project::new();
    let (key, v) = layered(&p);
    let ls = |args: &[&str]| {
        let mut a = vec!["ls"];
        a.extend_from_slice(args);
        p.envcloak(&a)
            .env("ENVCLOAK_KEY", &key)
            .env("A", format!("{}a", v[0]))
            .env("ONLY_ENV", "not-listed")
            .run()
            .ok()
    };
    let hidden = |out: &Out| {
        for c in &v {
            out.hides(c);
        }
        out.hides("not-listed");
    };

    let out = ls(&[]);
    out.stdout_is(&[
        "A  environment  ****  (hides .env:2, .env.enc:4)",
        "B  .env:3       ****  (hides .env.enc:3)",
        "C  .env.enc:2   ****",
        "X  .env.enc:1   ****",
    ]);
    hidden(&out);

    let out = ls(&["--all"]);
    out.stdout_is(&[
        "A  environment  ****  (hides .env:2, .env.enc:4)",
        "A  .env:2       ****  (hidden by environment)",
        "A  .env.enc:4   ****  (hidden by environment)",
        "B  .env:3       ****  (hides .env.enc:3)",
        "B  .env.enc:3   ****  (hidden by .env:3)",
        "C  .env.enc:2   ****",
        "X  .env.enc:1   ****",
    ]);
    hidden(&out);

    // --show: each definition's own value.
    let (e, d, n) = (&v[0], &v[1], &v[2]);
    ls(&["--all", "--show"]).stdout_is(&[
        &format!("A  environment  {e}a  (hides .env:2, .env.enc:4)"),
        &format!("A  .env:2       {d}a  (hidden by environment)"),
        &format!("A  .env.enc:4   {n}a  (hidden by environment)"),
        &format!("B  .env:3       {d}b  (hides .env.enc:3)"),
        &format!("B  .env.enc:3   {n}b  (hidden by .env:3)"),
        &format!("C  .env.enc:2   {n}c"),
        &format!("X  .env.enc:1   {n}x"),
    ]);

    // JSON keeps its shape without --all.
    let out = ls(&["--format", "json"]);
    hidden(&out);
    assert_eq!(
        out.json(),
        json!([
            {"key": "A", "source": "environment"},
            {"key": "B", "source": ".env:3"},
            {"key": "C", "source": ".env.enc:2"},
            {"key": "X", "source": ".env.enc:1"},
        ])
    );
    // --all: an entry for every definition, each saying whether it wins.
    let out = ls(&["--all", "--format", "json"]);
    hidden(&out);
    assert_eq!(
        out.json(),
        json!([
            {"key": "A", "source": "environment", "wins": true},
            {"key": "A", "source": ".env:2", "wins": false},
            {"key": "A", "source": ".env.enc:4", "wins": false},
            {"key": "B", "source": ".env:3", "wins": true},
            {"key": "B", "source": ".env.enc:3", "wins": false},
            {"key": "C", "source": ".env.enc:2", "wins": true},
            {"key": "X", "source": ".env.enc:1", "wins": true},
        ])
    );
    let doc = ls(&["--all", "--show", "--format", "json"]).json();
    let values: Vec<(&str, &str, bool)> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["source"].as_str().unwrap(),
                o["value"].as_str().unwrap(),
                o["wins"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        values,
        [
            ("environment", format!("{e}a").as_str(), true),
            (".env:2", format!("{d}a").as_str(), false),
            (".env.enc:4", format!("{n}a").as_str(), false),
            (".env:3", format!("{d}b").as_str(), true),
            (".env.enc:3", format!("{n}b").as_str(), false),
            (".env.enc:2", format!("{n}c").as_str(), true),
            (".env.enc:1", format!("{n}x").as_str(), true),
        ]
    );

    // Without the key, nothing is known to be hidden.
    let out = p.envcloak(&["ls", "--all"]).run().ok();
    out.stdout_is(&["A  .env:2  ****", "B  .env:3  ****"]);
    hidden(&out);
}

// ---------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------

#[test]
fn check_reports_shadowed_definitions_as_warnings() {
    let p = Project::new();
    p.write(".env.example", "A=\nB=\nDEBUG=\n");
    let (a, debug) = (canary("a"), canary("debug"));
    let key = p.encrypt_with_env_key(&format!("A={a}\nDEBUG={debug}\n"));
    p.write(".env", "# local\n\nDEBUG=local\nB=1\n");
    let check = |args: &[&str], envs: &[(&str, &str)]| {
        let mut c = vec!["check"];
        c.extend_from_slice(args);
        let mut r = p.envcloak(&c).env("ENVCLOAK_KEY", &key);
        for (k, v) in envs {
            r = r.env(k, v);
        }
        let out = r.run();
        out.hides(&a).hides(&debug).hides("local").hides("from-env");
        out
    };
    let line = "warning: .env.enc:2: DEBUG: .env:3 hides .env.enc:2";
    check(&[], &[])
        .code(0)
        .stdout_is(&[line, "0 error(s), 1 warning(s)"]);
    check(&["--strict"], &[])
        .code(1)
        .stdout_is(&[line, "0 error(s), 1 warning(s)"]);
    // The environment overriding a file is deliberate (CI, deployments):
    // not a `shadowed` problem, so `--strict` in CI does not fail on it.
    check(&["--strict"], &[("A", "from-env"), ("DEBUG", "from-env")])
        .code(0)
        .stdout_is(&["ok: 3 keys of .env.example are set"]);

    let problem = json!({
        "severity": "warning",
        "kind": "shadowed",
        "file": ".env.enc",
        "line": 2,
        "key": "DEBUG",
        "message": ".env:3 hides .env.enc:2",
    });
    let doc = check(&["--format", "json"], &[]).code(0).json();
    assert_eq!(
        doc,
        json!({"ok": true, "errors": 0, "warnings": 1, "problems": [problem]})
    );
    let doc = check(&["--strict", "--format", "json"], &[]).code(1).json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["problems"], json!([problem]));

    // Without the key, .env.enc is not read (and A is missing): nothing is
    // known to be hidden.
    let out = p.envcloak(&["check"]).run().code(1);
    assert!(!out.stdout().contains("hides"), "{}", out.stdout());
}

#[test]
fn check_through_the_library_lists_the_same_shadows() {
    let p = Project::new();
    p.write(".env.example", "A=\n");
    p.write(".env", "A=1\n");
    p.write(".env.dev", "A=2\n");
    let report = envcloak::check::check(
        &envcloak::check::CheckOptions::new(p.path())
            .profile("dev")
            .process_env(false),
    )
    .unwrap();
    let shadows: Vec<String> = report
        .problems
        .iter()
        .filter(|p| p.kind == "shadowed")
        .map(|prob| {
            prob.to_string()
                .replace(&format!("{}/", p_dir(&prob.file)), "")
        })
        .collect();
    assert_eq!(shadows, ["warning: .env:1: A: .env.dev:1 hides .env:1"]);
}

/// The directory of a problem's file, to show it relative.
fn p_dir(file: &Option<std::path::PathBuf>) -> String {
    file.as_ref()
        .and_then(|f| f.parent())
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// encrypt
// ---------------------------------------------------------------------------

#[test]
fn encrypt_summarises_by_key_and_refuses_to_drop_keys_only_env_enc_has() {
    let p = Project::new();
    let team = canary("team_only");
    let local = canary("local");
    let new_a = canary("new_a");
    p.write(".env", format!("A=1\nB={local}\n"));
    p.envcloak(&["encrypt"]).run().ok();
    p.envcloak(&["set", "TEAM_ONLY", &team]).run().ok();
    p.write(".env", format!("A={new_a}\nB={local}\nC=3\n"));
    let before = p.read(".env.enc");

    // Refused: TEAM_ONLY would go. The summary comes first, names only.
    let out = p.envcloak(&["encrypt"]).run().fails_with(
        2,
        &[
            "TEAM_ONLY would be removed from .env.enc",
            "not in .env",
            "nothing was written",
        ],
    );
    assert_eq!(
        notes(&out),
        [
            "changes to .env.enc:",
            "  added    C",
            "  changed  A",
            "  removed  TEAM_ONLY",
        ]
    );
    out.stderr_says(&["hint: ", "--prune", "'envcloak decrypt'", "'envcloak set'"]);
    out.hides(&team).hides(&local).hides(&new_a);
    assert_eq!(p.read(".env.enc"), before, "unchanged byte for byte");

    // --dry-run: the same summary on stdout, nothing written anywhere.
    let listing = p.listing();
    let out = p.envcloak(&["encrypt", "--dry-run"]).run().ok();
    out.stdout_is(&[
        "changes to .env.enc:",
        "  added    C",
        "  changed  A",
        "  removed  TEAM_ONLY",
        "without --prune, encrypt would refuse: TEAM_ONLY only in .env.enc",
    ]);
    assert_eq!(notes(&out), ["dry run: nothing was written"]);
    out.hides(&team).hides(&local).hides(&new_a);
    assert_eq!(p.read(".env.enc"), before);
    assert_eq!(p.listing(), listing);
    let out = p.envcloak(&["encrypt", "--dry-run", "--prune"]).run().ok();
    assert!(!out.stdout().contains("would refuse"), "{}", out.stdout());
    assert_eq!(p.read(".env.enc"), before);

    // --prune: written, with the summary.
    let out = p.envcloak(&["encrypt", "--prune"]).run().ok();
    assert_eq!(
        notes(&out)[..4],
        [
            "changes to .env.enc:",
            "  added    C",
            "  changed  A",
            "  removed  TEAM_ONLY",
        ]
    );
    out.hides(&team).hides(&local).hides(&new_a);
    p.assert_plaintext(&format!("A={new_a}\nB={local}\nC=3\n"));

    // Nothing to change: as before, the file is left alone.
    let before = p.read(".env.enc");
    let out = p.envcloak(&["encrypt"]).run().ok();
    assert_eq!(notes(&out), [".env.enc is already up to date"]);
    assert_eq!(p.read(".env.enc"), before);
    let out = p.envcloak(&["encrypt", "--dry-run"]).run().ok();
    out.stdout_is(&[".env.enc is already up to date"]);

    // Only comments or order changed: written, and said so.
    p.write(".env", format!("# reordered\nC=3\nB={local}\nA={new_a}\n"));
    let out = p.envcloak(&["encrypt"]).run().ok();
    assert_eq!(
        notes(&out)[0],
        "changes to .env.enc: no key added, changed or removed (comments, blank lines or order only)"
    );
    assert_ne!(p.read(".env.enc"), before);
}

#[test]
fn encrypt_dry_run_of_a_new_file_creates_nothing() {
    let p = Project::new();
    p.git_init();
    let secret = canary("new");
    p.write(".env", format!("A={secret}\nB=2\n"));
    let before = p.listing();
    let out = p.envcloak(&["encrypt", "--dry-run"]).run().ok();
    out.stdout_is(&[
        ".env.enc does not exist yet: encrypt would create it",
        "changes to .env.enc:",
        "  added    A",
        "  added    B",
    ]);
    out.hides(&secret);
    assert_eq!(
        p.listing(),
        before,
        "no .env.enc, no key file, no lock file, no .gitignore"
    );
}

#[test]
fn encrypt_over_a_file_that_is_not_dotenv_needs_prune() {
    let p = Project::new();
    let key = p.keygen();
    // A conflict left in the encrypted text (as a merge could leave it).
    let f = fernet::Fernet::new(&key).unwrap();
    p.write(
        ".env.enc",
        f.encrypt(b"A=1\n<<<<<<< yours\nB=2\n=======\nB=3\n>>>>>>> theirs\n"),
    );
    p.write(".env", "A=1\nB=4\n");
    let before = p.read(".env.enc");
    p.envcloak(&["encrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .fails_with(
            2,
            &[
                ".env.enc",
                "cannot be compared by key",
                "nothing was written",
            ],
        )
        .stderr_says(&["envcloak edit", "--prune"]);
    assert_eq!(p.read(".env.enc"), before);
    p.envcloak(&["encrypt", "--prune"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    let plain = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok()
        .stdout()
        .to_owned();
    assert_eq!(plain, "A=1\nB=4\n");
}

// ---------------------------------------------------------------------------
// The story
// ---------------------------------------------------------------------------

/// "set and encrypt undo each other": a developer keeps `.env` and
/// encrypts it; later `set` changes `.env.enc` directly; the next
/// `encrypt` used to put `.env`'s value back without a word. Now every
/// step says what hides what.
#[test]
fn set_and_encrypt_no_longer_undo_each_other_silently() {
    let p = Project::new();
    p.write(".env.example", "DEBUG=\nPORT=\n");
    p.write(".env", "DEBUG=true\nPORT=8000\n");
    p.envcloak(&["encrypt"]).run().ok();

    // The team changes DEBUG in .env.enc: told that .env hides it.
    let out = p.envcloak(&["set", "DEBUG", "false"]).run().ok();
    assert_eq!(
        warnings(&out),
        [
            "DEBUG is also set at .env:1, which wins over .env.enc; remove it there to use this value"
        ]
    );
    assert_eq!(p.envcloak(&["get", "DEBUG"]).run().ok().stdout(), "true\n");
    p.envcloak(&["ls"])
        .run()
        .ok()
        .has_line("DEBUG  .env:1  ****  (hides .env.enc:1)");
    p.envcloak(&["check"])
        .run()
        .ok()
        .has_line("warning: .env.enc:1: DEBUG: .env:1 hides .env.enc:1");

    // encrypt puts .env's value back, and now says so.
    let out = p.envcloak(&["encrypt"]).run().ok();
    assert_eq!(
        notes(&out)[..2],
        ["changes to .env.enc:", "  changed  DEBUG"]
    );
    assert!(!out.stderr.contains("false"));
    p.assert_plaintext("DEBUG=true\nPORT=8000\n");
}

/// `--help` shows the new options, with examples.
#[test]
fn help_shows_the_new_options_with_examples() {
    let p = Project::new();
    for (cmd, needles) in [
        ("ls", &["--all", "envcloak ls --all"][..]),
        (
            "encrypt",
            &["--prune", "--dry-run", "envcloak encrypt --dry-run"],
        ),
        ("check", &["shadowed"]),
        ("init", &["comment"]),
    ] {
        let out = p.envcloak(&[cmd, "--help"]).run().ok();
        for n in needles {
            assert!(
                out.stdout().contains(n),
                "{cmd} --help lacks {n:?}:\n{}",
                out.stdout()
            );
        }
    }
}

#[test]
fn a_key_file_made_by_hand_is_kept_out_of_git_by_encrypt_and_set() {
    // A key copied from a teammate or a password manager, not made by
    // `keygen --write`: `encrypt` (and `set`) make sure git ignores it.
    for first in ["encrypt", "set"] {
        let p = Project::new();
        p.git_init();
        let value = canary("hand");
        if first == "encrypt" {
            let key = p.keygen();
            p.write_mode(".env.key", format!("{key}\n"), 0o600);
            p.write(".env", format!("A={value}\n"));
            p.envcloak(&["encrypt"]).run().ok().hides(&value);
        } else {
            let key = p.encrypt_with_env_key(&format!("A={value}\n"));
            std::fs::remove_file(p.p(".gitignore")).ok();
            p.write_mode(".env.key", format!("{key}\n"), 0o600);
            assert!(!p.ignored(".env.key"));
            p.envcloak(&["set", "B", "x"]).run().ok().hides(&value);
        }
        assert!(p.ignored(".env.key"), "{first}: .env.key is not ignored");
        let staged = p.command("git", &["add", "-A", "--dry-run"]).run().ok();
        assert!(
            !staged.stdout().contains(".env.key"),
            "{first}: {}",
            staged.stdout()
        );
    }
}
