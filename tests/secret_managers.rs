//! The library's side of the AWS Secrets Manager recipe
//! (the README): a `Config` built with
//! `ENVCLOAK_KEY_CMD` in the environment given to the builder opens
//! `.env.enc` with the key the real `aws` CLI fetches from moto's server on
//! 127.0.0.1; a missing secret is an [`Error::Key`] from `ENVCLOAK_KEY_CMD`.
//! The tool's side, and the other error cases, are in
//! `cli/tests/secret_managers.rs`.
//!
//! The builder's environment is where envcloak reads `ENVCLOAK_KEY_CMD`;
//! the command itself runs with the process environment (the test's), so
//! it sets its own with `env -i`: the `aws` CLI then sees the emulator's
//! endpoint and dummy credentials and nothing of the developer's AWS
//! configuration. Nothing calls `std::env::set_var`.
//!
//! Needs `ENVCLOAK_TEST_AWS_VENV` (see `tests/support/aws.rs`): skipped with
//! a note without it, a failure in CI.

#[path = "support/aws.rs"]
mod aws;

use std::path::Path;

use envcloak::crypto::{self, Key, Keyring};
use envcloak::{Config, Error, ExposeSecret as _, SecretString};

const PLAINTEXT: &str = "\
DATABASE_URL=postgres://app:db-pass-5Rw8@db.internal:5432/app
API_TOKEN=tok_live_7Hq2vX9pLm4cZ
";

/// `cmd` run in an environment made only of what the `aws` CLI needs to
/// reach `moto` (`env -i`), as a shell command line.
fn in_aws_env(moto: &aws::Moto, venv: &Path, cmd: &str) -> String {
    let mut vars = vec![
        ("PATH", format!("{}/bin:/usr/bin:/bin", venv.display())),
        ("HOME", moto.home().display().to_string()),
    ];
    vars.extend(aws::aws_env(&moto.endpoint));
    let assignments: Vec<String> = vars
        .iter()
        .map(|(name, value)| format!("{name}='{value}'"))
        .collect();
    format!("env -i {} {cmd}", assignments.join(" "))
}

#[test]
fn config_opens_env_enc_with_a_key_from_secrets_manager() {
    let Some(venv) = aws::venv() else { return };
    let moto = aws::Moto::start(venv);
    let dir = tempfile::Builder::new()
        .prefix("envcloak-sm-")
        .tempdir()
        .unwrap();
    let key = Key::generate();
    let keyring = Keyring::new(vec![key.clone()]).unwrap();
    std::fs::write(
        dir.path().join(".env.enc"),
        crypto::encrypt(&keyring, PLAINTEXT.as_bytes()),
    )
    .unwrap();
    // Stored from a file, as the recipe does, then removed: the key is
    // only in the secret manager.
    let stored = dir.path().join("stored.key");
    std::fs::write(&stored, key.to_base64().as_bytes()).unwrap();
    moto.aws(
        dir.path(),
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            "myapp/envcloak-key",
            "--secret-string",
            "file://stored.key",
        ],
    );
    std::fs::remove_file(&stored).unwrap();

    let cmd = in_aws_env(&moto, venv, &aws::secrets_manager_cmd("myapp/envcloak-key"));
    let config = Config::builder()
        .dir(dir.path())
        .environment([("ENVCLOAK_KEY_CMD", cmd.as_str())])
        .build()
        .unwrap();
    let token: SecretString = config.get("API_TOKEN").unwrap();
    assert_eq!(token.expose_secret(), "tok_live_7Hq2vX9pLm4cZ");
    let url: String = config.get("DATABASE_URL").unwrap();
    assert_eq!(url, "postgres://app:db-pass-5Rw8@db.internal:5432/app");
    assert_eq!(
        config.source_of("API_TOKEN").unwrap().to_string(),
        format!("{}:2", dir.path().join(".env.enc").display())
    );

    // The control: without the command there is no key, and no value
    // (or no `Config` at all, where a missing key fails closed).
    let built = Config::builder()
        .dir(dir.path())
        .environment([("UNRELATED", "1")])
        .build();
    match built {
        Ok(config) => {
            let err = config.get::<SecretString>("API_TOKEN").unwrap_err();
            let Error::Missing { skipped, .. } = &err else {
                panic!("expected Error::Missing, got {err:?}");
            };
            assert_eq!(skipped, &[dir.path().join(".env.enc")]);
        }
        Err(err) => assert!(matches!(err, Error::KeyNotFound { .. }), "{err:?}"),
    }

    // A secret that does not exist: the command fails, and the error says
    // which source failed, without the command's output or the key. (The
    // aws CLI's own message is silenced here only to keep the test's
    // output clean; envcloak passes it through.)
    let cmd = in_aws_env(
        &moto,
        venv,
        &format!(
            "{} 2>/dev/null",
            aws::secrets_manager_cmd("myapp/no-such-key")
        ),
    );
    let err = Config::builder()
        .dir(dir.path())
        .environment([("ENVCLOAK_KEY_CMD", cmd.as_str())])
        .build()
        .unwrap_err();
    let Error::Key { origin, reason } = &err else {
        panic!("expected Error::Key, got {err:?}");
    };
    assert_eq!(&**origin, "ENVCLOAK_KEY_CMD");
    assert_eq!(&**reason, "the command failed (exit status: 255)");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(key.to_base64().as_str()), "{shown}");
    assert!(!shown.contains("tok_live"), "{shown}");
}
