//! The AWS recipes of the README ("Keys in a secret
//! manager"), tested for real: a Fernet key stored in Secrets Manager and
//! in SSM Parameter Store (SecureString) with the real `aws` CLI, against
//! moto's server on 127.0.0.1, then `envcloak run` and `envcloak get` with
//! `ENVCLOAK_KEY_CMD` set to the recipe's exact command.
//!
//! Also the ways it goes wrong: a missing secret, a call IAM denies, an
//! unreachable endpoint, and a recipe without `--with-decryption`. Each is
//! one `error:` line that names `ENVCLOAK_KEY_CMD`, exit 2, and the child
//! of `run` never starts; the key and the command's output never appear in
//! envcloak's own message (the `aws` CLI's own stderr is passed through, so
//! the user sees AWS's reason).
//!
//! Needs `ENVCLOAK_TEST_AWS_VENV` (see `tests/support/aws.rs`): skipped with
//! a note without it, a failure in CI.

#[path = "../../tests/support/aws.rs"]
mod aws;
mod common;

use common::{Project, Run};

/// The team's configuration, only in `.env.enc`.
const PLAINTEXT: &str = "\
DATABASE_URL=postgres://app:db-pass-5Rw8@db.internal:5432/app
API_TOKEN=tok_live_7Hq2vX9pLm4cZ
";
const DATABASE_URL: &str = "postgres://app:db-pass-5Rw8@db.internal:5432/app";
const API_TOKEN: &str = "tok_live_7Hq2vX9pLm4cZ";

/// Prints both values, one per line, from `run`'s child.
const PRINT_BOTH: &str = r#"printf '%s\n' "$DATABASE_URL" "$API_TOKEN""#;

/// A project whose `.env.enc` holds [`PLAINTEXT`], with no key anywhere in
/// it; its key is in `.env.key` only for as long as `store` runs (the
/// recipes store the key from that file), then removed. Returns the key.
fn project_with_key_stored(store: impl FnOnce(&Project)) -> (Project, String) {
    let p = Project::new();
    let key = p.encrypt_with_env_key(PLAINTEXT);
    p.write_mode(".env.key", format!("{key}\n"), 0o600);
    store(&p);
    std::fs::remove_file(p.p(".env.key")).unwrap();
    let names = p.names();
    assert!(
        names.contains(&".env.enc".to_owned())
            && !names.iter().any(|n| n == ".env" || n.ends_with(".key")),
        "the encrypted file, and no plaintext or key file: {names:?}"
    );
    (p, key)
}

/// `run` with the environment of a user whose `aws` talks to `endpoint`,
/// and `ENVCLOAK_KEY_CMD`.
fn with_aws<'a>(run: Run<'a>, venv: &std::path::Path, endpoint: &str, cmd: &str) -> Run<'a> {
    let mut run = run
        .env("PATH", aws::path_with(venv))
        .env("ENVCLOAK_KEY_CMD", cmd);
    for (name, value) in aws::aws_env(endpoint) {
        run = run.env(name, value);
    }
    run
}

/// `run` and `get` with the key command give the encrypted values, and
/// without it they do not (so the key really came from the command).
fn assert_values_arrive(p: &Project, venv: &std::path::Path, endpoint: &str, cmd: &str, key: &str) {
    let run = p.envcloak(&["run", "--", "sh", "-c", PRINT_BOTH]);
    let out = with_aws(run, venv, endpoint, cmd).run().ok();
    out.stdout_is(&[DATABASE_URL, API_TOKEN]).hides(key);
    assert!(!out.stderr.contains("error"), "{}", out.stderr);

    let get = p.envcloak(&["get", "API_TOKEN"]);
    let out = with_aws(get, venv, endpoint, cmd).run().ok();
    out.stdout_is(&[API_TOKEN]).hides(key);

    // The control: the same project without the key command has no key.
    let out = p.envcloak(&["get", "API_TOKEN"]).run();
    assert_ne!(out.code, 0);
    out.hides(API_TOKEN).hides(key);
}

/// What envcloak says when the key command exits non-zero (the `aws` CLI
/// exits 255 on a service or connection error).
const CMD_FAILED: &str = "error: key from ENVCLOAK_KEY_CMD: the command failed (exit status: 255)";

/// `run` (whose child must not start) and `get` both fail with exit 2 and
/// the one error line `error`; neither the key, nor a value, nor `hidden`
/// is in envcloak's output. Returns `get`'s stderr.
fn assert_key_cmd_fails(
    p: &Project,
    venv: &std::path::Path,
    endpoint: &str,
    cmd: &str,
    env: &[(&str, &str)],
    hidden: &[&str],
    error: &str,
) -> String {
    let run = p.envcloak(&["run", "--", "sh", "-c", "touch child-ran"]);
    let mut run = with_aws(run, venv, endpoint, cmd);
    for (name, value) in env {
        run = run.env(name, *value);
    }
    let out = run.run().fails(2);
    assert_eq!(out.error(), error, "stderr:\n{}", out.stderr);
    assert!(
        !p.exists("child-ran"),
        "run started the command without a key"
    );
    for h in hidden.iter().chain(&[DATABASE_URL, API_TOKEN]) {
        out.hides(h);
    }

    let get = p.envcloak(&["get", "API_TOKEN"]);
    let mut get = with_aws(get, venv, endpoint, cmd);
    for (name, value) in env {
        get = get.env(name, *value);
    }
    let out = get.run().fails(2);
    assert_eq!(out.error(), error, "stderr:\n{}", out.stderr);
    for h in hidden.iter().chain(&[DATABASE_URL, API_TOKEN]) {
        out.hides(h);
    }
    out.stderr
}

#[test]
fn secrets_manager_recipe_gives_run_and_get_the_key() {
    let Some(venv) = aws::venv() else { return };
    let moto = aws::Moto::start(venv);
    let (p, key) = project_with_key_stored(|p| {
        moto.aws(
            p.path(),
            &[
                "secretsmanager",
                "create-secret",
                "--name",
                "myapp/envcloak-key",
                "--secret-string",
                "file://.env.key",
            ],
        );
    });
    let cmd = aws::secrets_manager_cmd("myapp/envcloak-key");
    assert_eq!(
        cmd,
        "aws secretsmanager get-secret-value --secret-id myapp/envcloak-key --query SecretString --output text"
    );
    assert_values_arrive(&p, venv, &moto.endpoint, &cmd, &key);
}

#[test]
fn ssm_securestring_recipe_gives_run_and_get_the_key() {
    let Some(venv) = aws::venv() else { return };
    let moto = aws::Moto::start(venv);
    let (p, key) = project_with_key_stored(|p| {
        moto.aws(
            p.path(),
            &[
                "ssm",
                "put-parameter",
                "--name",
                "/myapp/envcloak-key",
                "--type",
                "SecureString",
                "--value",
                "file://.env.key",
            ],
        );
    });
    let cmd = aws::ssm_cmd("/myapp/envcloak-key");
    assert_eq!(
        cmd,
        "aws ssm get-parameter --name /myapp/envcloak-key --with-decryption --query Parameter.Value --output text"
    );
    assert_values_arrive(&p, venv, &moto.endpoint, &cmd, &key);

    // Without --with-decryption the parameter's value is not the key (moto
    // returns it marked with the KMS key, AWS the ciphertext): a clear
    // error that does not repeat what the command printed.
    let without = cmd.replace(" --with-decryption", "");
    let stderr = assert_key_cmd_fails(
        &p,
        venv,
        &moto.endpoint,
        &without,
        &[],
        &[&key],
        "error: key from ENVCLOAK_KEY_CMD: the key is not valid base64: \
         a fernet key is 44 characters of url-safe base64, as `envcloak keygen` prints",
    );
    assert!(!stderr.contains("kms:"), "{stderr}");
}

#[test]
fn missing_secret_is_a_clear_error_naming_the_key_command() {
    let Some(venv) = aws::venv() else { return };
    let moto = aws::Moto::start(venv);
    let (p, key) = project_with_key_stored(|p| {
        moto.aws(
            p.path(),
            &[
                "secretsmanager",
                "create-secret",
                "--name",
                "myapp/envcloak-key",
                "--secret-string",
                "file://.env.key",
            ],
        );
    });
    let cmd = aws::secrets_manager_cmd("myapp/no-such-key");
    let stderr = assert_key_cmd_fails(&p, venv, &moto.endpoint, &cmd, &[], &[&key], CMD_FAILED);
    // envcloak's line says what failed; the aws CLI's own line says why.
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");

    let cmd = aws::ssm_cmd("/myapp/no-such-key");
    let stderr = assert_key_cmd_fails(&p, venv, &moto.endpoint, &cmd, &[], &[&key], CMD_FAILED);
    assert!(stderr.contains("ParameterNotFound"), "{stderr}");
}

#[test]
fn denied_call_is_a_clear_error_naming_the_key_command() {
    let Some(venv) = aws::venv() else { return };
    let moto = aws::Moto::start(venv);
    let (p, key) = project_with_key_stored(|p| {
        moto.aws(
            p.path(),
            &[
                "secretsmanager",
                "create-secret",
                "--name",
                "myapp/envcloak-key",
                "--secret-string",
                "file://.env.key",
            ],
        );
    });
    // The recipe's policy, and a user without it.
    let (app_id, app_secret) = moto.iam_user(p.path(), "app", &["secretsmanager:GetSecretValue"]);
    let (other_id, other_secret) =
        moto.iam_user(p.path(), "other", &["secretsmanager:ListSecrets"]);
    moto.enforce_iam();
    let cmd = aws::secrets_manager_cmd("myapp/envcloak-key");

    // The user with the policy gets the key: IAM is checked, not broken.
    let get = p.envcloak(&["get", "API_TOKEN"]);
    let out = with_aws(get, venv, &moto.endpoint, &cmd)
        .env("AWS_ACCESS_KEY_ID", &app_id)
        .env("AWS_SECRET_ACCESS_KEY", &app_secret)
        .run()
        .ok();
    out.stdout_is(&[API_TOKEN]).hides(&key);

    let creds = [
        ("AWS_ACCESS_KEY_ID", other_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", other_secret.as_str()),
    ];
    let stderr = assert_key_cmd_fails(
        &p,
        venv,
        &moto.endpoint,
        &cmd,
        &creds,
        &[&key, &other_secret, &app_secret],
        CMD_FAILED,
    );
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(
        stderr.contains("not authorized to perform: secretsmanager:GetSecretValue"),
        "{stderr}"
    );
}

#[test]
fn unreachable_endpoint_is_a_clear_error_naming_the_key_command() {
    let Some(venv) = aws::venv() else { return };
    let p = Project::new();
    let key = p.encrypt_with_env_key(PLAINTEXT);
    // Nothing listens there; one attempt, a short connect timeout.
    let endpoint = aws::closed_endpoint();
    let cmd = format!(
        "{} --cli-connect-timeout 2",
        aws::secrets_manager_cmd("myapp/envcloak-key")
    );
    let stderr = assert_key_cmd_fails(&p, venv, &endpoint, &cmd, &[], &[&key], CMD_FAILED);
    assert!(
        stderr.contains("Could not connect to the endpoint URL"),
        "{stderr}"
    );
}
