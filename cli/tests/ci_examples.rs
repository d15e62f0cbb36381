//! The ready-made CI files in `examples/ci/` (issue 14): their shell steps,
//! taken from the parsed YAML, run here with the built `envcloak` first on
//! PATH, so that a broken recipe fails envcloak's own CI.
//!
//! What stands in for the CI system:
//! - GitHub Actions: each step's `run:` script runs under
//!   `bash --noprofile --norc -eo pipefail` (GitHub's `bash` shell) with the
//!   workflow's, job's and step's `env:` (`${{ secrets.NAME }}` replaced by
//!   the secret, or by an empty string when the secret does not exist, as
//!   GitHub does), `CI=true`, and a fresh `GITHUB_ENV` file per step whose
//!   entries (both syntaxes, parsed from the documented grammar) are in the
//!   environment of every later step. `uses:` steps (checkout) are skipped:
//!   the project directory is the checkout. The job stops at the first
//!   failing step.
//! - GitLab CI: each job in stage order runs its `before_script` (or the
//!   `default:` one) and `script` lines as one `bash -eo pipefail` script,
//!   with the global and job `variables`, `CI=true`, and `ENVCLOAK_KEY` as
//!   the project's CI/CD variable when the test has one.
//! - `cargo` is a stub script first on PATH: `cargo install ...` checks
//!   that it installs `envcloak-cli` with `--locked` and does nothing (the
//!   binary under test is already on PATH); `cargo test` stands for the
//!   project's tests: it fails unless the decrypted DATABASE_URL is in its
//!   environment and the key is not, and records that it ran.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BIN, Project};

const DATABASE_URL: &str = "postgres://app:s3cr3t-pw@db.internal/app";
const API_TOKEN: &str = "tok-\"quoted\" $dollar #hash \\ unicode ✓";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ci")
}

fn yaml(name: &str) -> serde_norway::Value {
    let text = std::fs::read_to_string(examples().join(name)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn str_of(v: &serde_norway::Value) -> String {
    match v {
        serde_norway::Value::String(s) => s.clone(),
        serde_norway::Value::Number(n) => n.to_string(),
        serde_norway::Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A `map:` of scalars as pairs (empty when absent).
fn pairs(v: &serde_norway::Value) -> Vec<(String, String)> {
    v.as_mapping()
        .map(|m| m.iter().map(|(k, v)| (str_of(k), str_of(v))).collect())
        .unwrap_or_default()
}

/// A checked-out project: `.env.example`, `.env.enc` and a `.gitignore`,
/// committed; the key is returned (a CI secret, never in the directory).
/// A `bin/cargo` stub (see the module docs) and `cargo.log` it writes to.
fn checkout() -> (Project, String) {
    let p = Project::new();
    p.git_init();
    p.write(
        ".env.example",
        "DATABASE_URL=\nAPI_TOKEN=\n# @optional\nDEBUG=\n",
    );
    let key = p.encrypt_with_env_key(&format!(
        "DATABASE_URL={DATABASE_URL}\nAPI_TOKEN='{API_TOKEN}'\n"
    ));
    p.write(
        ".gitignore",
        ".env\n.env.key\n.envcloak.lock\n.envcloak-tmp-*\nbin/\ncargo.log\n",
    );
    p.commit(&[".env.example", ".env.enc", ".gitignore"]);
    p.script(
        "bin/cargo",
        r#"log="$(dirname "$0")/../cargo.log"
case "$1" in
  install)
    case " $* " in *" --locked "*) ;; *) echo "stub cargo: install without --locked" >&2; exit 98;; esac
    case " $* " in *" envcloak-cli "*) ;; *) echo "stub cargo: not envcloak-cli" >&2; exit 98;; esac
    echo "install" >> "$log" ;;
  test)
    [ "$DATABASE_URL" = "postgres://app:s3cr3t-pw@db.internal/app" ] || { echo "stub cargo test: DATABASE_URL missing" >&2; exit 101; }
    [ -z "${ENVCLOAK_KEY+x}" ] || { echo "stub cargo test: the key reached the tests" >&2; exit 102; }
    echo "test" >> "$log" ;;
  *) echo "stub cargo: unexpected $1" >&2; exit 99 ;;
esac"#,
    );
    (p, key)
}

/// PATH with the stub and the built binary first.
fn path(p: &Project) -> std::ffi::OsString {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let mut dirs = vec![p.p("bin"), bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// What a step printed and its exit code.
struct Step {
    name: String,
    code: i32,
    stdout: String,
    stderr: String,
}

fn shell(p: &Project, script: &str, env: &[(String, String)]) -> (i32, String, String) {
    p.write(".step.sh", script);
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", ".step.sh"])
        .current_dir(p.path())
        .env_clear()
        .env("PATH", path(p))
        .env("HOME", p.path())
        .env("CI", "true")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    std::fs::remove_file(p.p(".step.sh")).unwrap();
    (
        out.status.code().expect("not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------
// GitHub Actions
// ---------------------------------------------------------------------------

/// `${{ secrets.NAME }}` as GitHub expands it; other expressions are not
/// used by the example.
fn expand(value: &str, secrets: &BTreeMap<&str, &str>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expr = rest[start + 3..end].trim();
        let name = expr
            .strip_prefix("secrets.")
            .unwrap_or_else(|| panic!("unsupported expression {expr}"));
        out.push_str(secrets.get(name).copied().unwrap_or(""));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A `$GITHUB_ENV` file's entries: `NAME=value` lines and `NAME<<DELIMITER`
/// heredocs (the documented grammar of GitHub's environment files).
fn github_env_entries(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        match (line.find('='), line.find("<<")) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_owned(), line[e + 1..].to_owned()));
            }
            (_, Some(h)) => {
                let delimiter = &line[h + 2..];
                let mut value = Vec::new();
                for l in lines.by_ref() {
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                out.push((line[..h].to_owned(), value.join("\n")));
            }
            _ => panic!("invalid GITHUB_ENV line"),
        }
    }
    out
}

/// Runs the one job of the workflow, step by step, as described in the
/// module docs. With `keep_going`, later steps run after a failure too
/// (to see each one fail closed).
fn run_github(p: &Project, secrets: &BTreeMap<&str, &str>, keep_going: bool) -> Vec<Step> {
    let wf = yaml("github-actions.yml");
    let jobs = wf["jobs"].as_mapping().unwrap();
    assert_eq!(jobs.len(), 1, "one job");
    let job = jobs.values().next().unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs(&wf["env"]).into_iter().chain(pairs(&job["env"])) {
        env.push((k, expand(&v, secrets)));
    }
    let mut exported: Vec<(String, String)> = Vec::new();
    let mut steps = Vec::new();
    for step in job["steps"].as_sequence().unwrap() {
        let Some(script) = step.get("run") else {
            assert!(step.get("uses").is_some(), "a step runs or uses");
            continue;
        };
        let name = step.get("name").map(str_of).unwrap_or_default();
        let github_env = p.p(".github_env");
        std::fs::write(&github_env, "").unwrap();
        let mut step_env = env.clone();
        step_env.extend(exported.iter().cloned());
        for (k, v) in pairs(&step["env"]) {
            step_env.push((k, expand(&v, secrets)));
        }
        step_env.push(("GITHUB_ENV".into(), github_env.display().to_string()));
        step_env.push(("GITHUB_ACTIONS".into(), "true".into()));
        let (code, stdout, stderr) = shell(p, &str_of(script), &step_env);
        exported.extend(github_env_entries(
            &std::fs::read_to_string(&github_env).unwrap(),
        ));
        std::fs::remove_file(&github_env).unwrap();
        steps.push(Step {
            name,
            code,
            stdout,
            stderr,
        });
        if code != 0 && !keep_going {
            break;
        }
    }
    steps
}

fn step<'a>(steps: &'a [Step], says: &str) -> &'a Step {
    steps
        .iter()
        .find(|s| s.name.contains(says))
        .unwrap_or_else(|| panic!("no step named like {says:?}"))
}

fn cargo_log(p: &Project) -> String {
    std::fs::read_to_string(p.p("cargo.log")).unwrap_or_default()
}

#[test]
fn github_workflow_steps_run_and_pass_values_on() {
    let text = std::fs::read_to_string(examples().join("github-actions.yml")).unwrap();
    for needed in [
        "cargo install --locked",
        "envcloak check --strict",
        "envcloak run -- cargo test",
        "envcloak decrypt --format github",
    ] {
        assert!(text.contains(needed), "the workflow has {needed:?}");
    }
    let (p, key) = checkout();
    let secrets = BTreeMap::from([("ENVCLOAK_KEY", key.as_str())]);
    let steps = run_github(&p, &secrets, false);
    for s in &steps {
        assert_eq!(
            s.code, 0,
            "step {:?} failed\n--- stdout:\n{}\n--- stderr:\n{}",
            s.name, s.stdout, s.stderr
        );
    }
    assert_eq!(steps.len(), 5, "every run: step ran");
    assert_eq!(cargo_log(&p), "install\ntest\n");
    // The step that passes values on prints only masks.
    let pass = step(&steps, "Pass the values");
    let mut masks: Vec<&str> = pass.stdout.lines().collect();
    masks.sort();
    let want_api = format!("::add-mask::{API_TOKEN}");
    let mut want = vec![
        want_api.as_str(),
        "::add-mask::postgres://app:s3cr3t-pw@db.internal/app",
    ];
    want.sort();
    assert_eq!(masks, want);
    // The later step sees the values.
    let later = step(&steps, "A later step");
    assert_eq!(
        later.stdout,
        format!("DATABASE_URL has {} characters\n", DATABASE_URL.len())
    );
    // No step printed a value other than as a mask, and none wrote a
    // plaintext file into the checkout.
    for s in &steps {
        let printed = format!("{}{}", s.stdout, s.stderr);
        let printed = printed.replace("::add-mask::", "\n");
        if s.name.contains("Pass the values") {
            continue;
        }
        assert!(
            !printed.contains("s3cr3t-pw"),
            "step {:?} printed a value",
            s.name
        );
    }
    assert!(!p.exists(".env"));
}

#[test]
fn github_workflow_fails_closed_without_the_key() {
    let (p, _key) = checkout();
    // The secret does not exist: GitHub expands it to an empty string.
    let steps = run_github(&p, &BTreeMap::new(), false);
    let last = steps.last().unwrap();
    assert!(
        last.name.contains("Check the configuration"),
        "{}",
        last.name
    );
    assert_eq!(last.code, 1, "check --strict fails:\n{}", last.stdout);
    assert!(last.stdout.contains("no key"), "{}", last.stdout);
    // Each later envcloak step fails closed on its own too.
    let steps = run_github(&p, &BTreeMap::new(), true);
    let test = step(&steps, "Test with");
    assert_eq!(test.code, 2, "{}", test.stderr);
    assert!(test.stderr.contains("no key found"), "{}", test.stderr);
    assert_eq!(step(&steps, "Pass the values").code, 2);
    assert_ne!(step(&steps, "A later step").code, 0);
    assert_eq!(cargo_log(&p), "install\ninstall\n", "cargo test never ran");
}

// ---------------------------------------------------------------------------
// GitLab CI
// ---------------------------------------------------------------------------

const GITLAB_RESERVED: [&str; 10] = [
    "stages",
    "variables",
    "default",
    "include",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

fn lines_of(v: Option<&serde_norway::Value>) -> Vec<String> {
    v.and_then(|v| v.as_sequence())
        .map(|s| s.iter().map(str_of).collect())
        .unwrap_or_default()
}

/// Runs every job in stage order (each on its own: GitLab jobs share no
/// environment), as described in the module docs.
fn run_gitlab(p: &Project, key: Option<&str>) -> Vec<Step> {
    let ci = yaml("gitlab-ci.yml");
    let stages: Vec<String> = lines_of(ci.get("stages"));
    let mut jobs: Vec<(usize, String, &serde_norway::Value)> = ci
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (str_of(k), v))
        .filter(|(k, _)| !k.starts_with('.') && !GITLAB_RESERVED.contains(&k.as_str()))
        .map(|(k, v)| {
            let stage = v.get("stage").map(str_of).unwrap_or_else(|| "test".into());
            let at = stages
                .iter()
                .position(|s| *s == stage)
                .unwrap_or_else(|| panic!("{k}: stage {stage} not in stages"));
            (at, k, v)
        })
        .collect();
    jobs.sort_by_key(|(at, ..)| *at);
    let default_before = lines_of(ci.get("default").and_then(|d| d.get("before_script")));
    let mut out = Vec::new();
    for (_, name, job) in jobs {
        let mut env = pairs(&ci["variables"]);
        env.extend(pairs(&job["variables"]));
        env.push(("GITLAB_CI".into(), "true".into()));
        if let Some(key) = key {
            env.push(("ENVCLOAK_KEY".into(), key.to_owned()));
        }
        let mut script = match job.get("before_script") {
            Some(_) => lines_of(job.get("before_script")),
            None => default_before.clone(),
        };
        script.extend(lines_of(job.get("script")));
        let (code, stdout, stderr) = shell(p, &script.join("\n"), &env);
        out.push(Step {
            name,
            code,
            stdout,
            stderr,
        });
    }
    out
}

#[test]
fn gitlab_jobs_run_with_the_values_in_each_job() {
    let text = std::fs::read_to_string(examples().join("gitlab-ci.yml")).unwrap();
    for needed in [
        "cargo install --locked",
        "envcloak check --strict",
        "envcloak run -- cargo test",
        "artifacts:reports:dotenv",
    ] {
        assert!(text.contains(needed), "the GitLab file has {needed:?}");
    }
    let ci = yaml("gitlab-ci.yml");
    assert!(
        !format!("{ci:?}").contains("artifacts"),
        "no job keeps values in an artifact"
    );
    let (p, key) = checkout();
    let jobs = run_gitlab(&p, Some(&key));
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["check", "test", "deploy"]);
    for j in &jobs {
        assert_eq!(
            j.code, 0,
            "job {} failed\n--- stdout:\n{}\n--- stderr:\n{}",
            j.name, j.stdout, j.stderr
        );
        assert!(!j.stdout.contains("s3cr3t-pw") && !j.stderr.contains("s3cr3t-pw"));
    }
    assert_eq!(cargo_log(&p), "install\ninstall\ntest\ninstall\n");
    assert_eq!(
        jobs[2].stdout,
        format!("DATABASE_URL has {} characters\n", DATABASE_URL.len())
    );
}

#[test]
fn gitlab_jobs_fail_closed_without_the_key() {
    let (p, _key) = checkout();
    let jobs = run_gitlab(&p, None);
    let codes: Vec<(&str, i32)> = jobs.iter().map(|j| (j.name.as_str(), j.code)).collect();
    assert_eq!(codes, [("check", 1), ("test", 2), ("deploy", 2)]);
    assert!(
        jobs[1].stderr.contains("no key found"),
        "{}",
        jobs[1].stderr
    );
    assert!(!cargo_log(&p).contains("test"), "cargo test never ran");
}
