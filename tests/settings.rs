//! Typed settings: whole structs through serde and config-rs, `Config` as a
//! config-rs `Source`, and secrets directories.

use envcloak::crypto::{Key, Keyring};
use envcloak::{Config, Error, ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;

const CANARY: &str = "CANARY_s3tt1ngs_VALUE";

#[derive(Debug, Deserialize)]
struct Settings {
    debug: bool,
    port: u16,
    allowed_hosts: Vec<String>,
    db: Db,
    #[serde(default = "default_workers")]
    workers: u16,
    sentry_dsn: Option<String>,
    #[serde(default)]
    features: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Db {
    url: String,
    #[serde(deserialize_with = "envcloak::secret_string")]
    password: SecretString,
    token: SecretBox<String>,
    pool: Option<u32>,
}

fn default_workers() -> u16 {
    4
}

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn nested_lists_options_defaults_secrets_and_case() {
    let dir = dir_with(&[(
        ".env",
        concat!(
            "debug=Y\n",
            "Port= 8080 \n",
            "ALLOWED_HOSTS='.localhost, \"a,b\",, .example.com'\n",
            "DB__URL=postgres://db/app\n",
            "db__password=pa ss\n",
            "DB__TOKEN=tok\n",
        ),
    )]);
    let cfg = Config::builder()
        .dir(dir.path())
        .environment([("DB__POOL", "10")])
        .build()
        .unwrap();
    let s: Settings = cfg.deserialize().unwrap();
    assert!(s.debug);
    assert_eq!(s.port, 8080);
    assert_eq!(s.allowed_hosts, [".localhost", "a,b", ".example.com"]);
    assert_eq!(s.db.url, "postgres://db/app");
    assert_eq!(s.db.password.expose_secret(), "pa ss");
    assert_eq!(s.db.token.expose_secret(), "tok");
    assert_eq!(s.db.pool, Some(10));
    assert_eq!(s.workers, 4);
    assert_eq!(s.sentry_dsn, None);
    assert!(s.features.is_empty());
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("pa ss") && !shown.contains("tok\""),
        "{shown}"
    );
}

#[test]
fn every_decouple_bool_spelling_and_empty() {
    #[derive(Debug, Deserialize)]
    struct B {
        flag: bool,
    }
    for (raw, want) in [
        ("y", true),
        ("T", true),
        ("on", true),
        ("1", true),
        ("YES", true),
        ("n", false),
        ("f", false),
        ("Off", false),
        ("0", false),
        ("", false),
    ] {
        let cfg = Config::builder()
            .environment([("FLAG", raw)])
            .build()
            .unwrap();
        assert_eq!(cfg.deserialize::<B>().unwrap().flag, want, "{raw:?}");
    }
    let cfg = Config::builder()
        .environment([("FLAG", "maybe")])
        .build()
        .unwrap();
    let e = cfg.deserialize::<B>().unwrap_err();
    assert!(e.to_string().starts_with("flag: expected a boolean"), "{e}");
}

#[test]
fn prefixes_pick_and_strip() {
    #[derive(Deserialize)]
    struct App {
        name: String,
        db: AppDb,
    }
    #[derive(Deserialize)]
    struct AppDb {
        port: u16,
    }
    let cfg = Config::builder()
        .environment([
            ("APP_NAME", "envcloak"),
            ("app_DB__PORT", "5432"),
            ("NAME", "not this one"),
            ("OTHER_NAME", "nor this"),
        ])
        .build()
        .unwrap();
    let app: App = cfg.deserialize_prefixed("APP_").unwrap();
    assert_eq!(app.name, "envcloak");
    assert_eq!(app.db.port, 5432);
}

#[test]
fn values_from_the_encrypted_file() {
    #[derive(Deserialize)]
    struct S {
        api: Api,
    }
    #[derive(Deserialize)]
    struct Api {
        key: SecretBox<String>,
        hosts: Vec<String>,
    }
    let key = Key::generate();
    let ring = Keyring::new(vec![key.clone()]).unwrap();
    let token = envcloak::crypto::encrypt(&ring, b"API__KEY=from-enc\nAPI__HOSTS=a, b\n");
    let dir = dir_with(&[(".env.enc", &token)]);
    let cfg = Config::builder()
        .dir(dir.path())
        .environment([("ENVCLOAK_KEY", key.to_base64().as_str())])
        .build()
        .unwrap();
    let s: S = cfg.deserialize().unwrap();
    assert_eq!(s.api.key.expose_secret(), "from-enc");
    assert_eq!(s.api.hosts, ["a", "b"]);
}

#[test]
fn a_wrong_type_names_field_key_and_source_without_the_value() {
    #[derive(Debug, Deserialize)]
    struct S {
        #[allow(dead_code)]
        db: PortOnly,
    }
    #[derive(Debug, Deserialize)]
    struct PortOnly {
        #[allow(dead_code)]
        port: u16,
    }
    let dir = dir_with(&[(".env", &format!("# db\nDB__PORT={CANARY}\n"))]);
    let cfg = Config::builder()
        .dir(dir.path())
        .environment([("X", "1")])
        .build()
        .unwrap();
    let e = cfg.deserialize::<S>().unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(matches!(e, Error::Deserialize { .. }));
    assert!(
        !shown.contains(CANARY) && !shown.contains("s3tt1ngs"),
        "{shown}"
    );
    let msg = e.to_string();
    assert!(msg.starts_with("db.port: expected an integer"), "{msg}");
    assert!(msg.contains("key DB__PORT"), "{msg}");
    assert!(msg.ends_with(".env:2)"), "{msg}");
}

#[test]
fn enums_lists_and_missing_fields_never_quote_values() {
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Dev,
        Prod,
    }
    #[derive(Debug, Deserialize)]
    struct S {
        #[allow(dead_code)]
        mode: Mode,
    }
    let cfg = Config::builder()
        .environment([("MODE", CANARY)])
        .build()
        .unwrap();
    let e = cfg.deserialize::<S>().unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(shown.contains("mode"), "{shown}");
    let _ = (Mode::Dev, Mode::Prod);

    #[derive(Debug, Deserialize)]
    struct L {
        #[allow(dead_code)]
        ports: Vec<u16>,
    }
    let cfg = Config::builder()
        .environment([("PORTS", format!("80, {CANARY}"))])
        .build()
        .unwrap();
    let e = cfg.deserialize::<L>().unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(shown.contains("ports"), "{shown}");

    #[derive(Debug, Deserialize)]
    struct M {
        #[allow(dead_code)]
        required_thing: String,
    }
    let cfg = Config::builder()
        .environment([("X", CANARY)])
        .build()
        .unwrap();
    let e = cfg.deserialize::<M>().unwrap_err();
    assert!(e.to_string().contains("required_thing"), "{e}");
    assert!(!format!("{e:?}").contains(CANARY));
}

fn toml_file(
    dir: &std::path::Path,
    text: &str,
) -> config_rs::File<config_rs::FileSourceFile, config_rs::FileFormat> {
    let p = dir.join("settings.toml");
    std::fs::write(&p, text).unwrap();
    config_rs::File::from(p)
}

#[test]
fn config_rs_source_precedence_against_toml() {
    let dir = dir_with(&[(".env", "DB__URL=postgres://from-dotenv\nDEBUG=true\n")]);
    let toml = "debug = false\nname = \"app\"\n[db]\nurl = \"postgres://from-toml\"\npool = 5\n";
    let envcloak = || {
        Config::builder()
            .dir(dir.path())
            .environment([("X", "1")])
            .build()
            .unwrap()
    };
    // envcloak added after the TOML file overrides it.
    let s = config_rs::Config::builder()
        .add_source(toml_file(dir.path(), toml))
        .add_source(envcloak())
        .build()
        .unwrap();
    assert_eq!(s.get_string("db.url").unwrap(), "postgres://from-dotenv");
    assert!(s.get_bool("debug").unwrap());
    assert_eq!(s.get_int("db.pool").unwrap(), 5);
    assert_eq!(s.get_string("name").unwrap(), "app");
    // Added before, the TOML file wins.
    let s = config_rs::Config::builder()
        .add_source(envcloak())
        .add_source(toml_file(dir.path(), toml))
        .build()
        .unwrap();
    assert_eq!(s.get_string("db.url").unwrap(), "postgres://from-toml");
    assert!(!s.get_bool("debug").unwrap());
}

#[test]
fn config_rs_errors_point_at_the_dotenv_line() {
    let dir = dir_with(&[(".env", "A=1\nDB__PORT=not-a-port\n")]);
    let cfg = Config::builder()
        .dir(dir.path())
        .environment([("X", "1")])
        .build()
        .unwrap();
    let s = config_rs::Config::builder()
        .add_source(cfg)
        .build()
        .unwrap();
    let e = s.get::<u16>("db.port").unwrap_err().to_string();
    assert!(e.contains(".env:2"), "{e}");
    assert!(e.contains("db.port"), "{e}");
}

#[test]
fn source_debug_shows_no_value() {
    let cfg = Config::builder()
        .environment([("SECRET", CANARY)])
        .build()
        .unwrap();
    let s = config_rs::Config::builder()
        .add_source(cfg)
        .build()
        .unwrap();
    let built = format!("{:?}", s.get_string("secret").map(|_| ()));
    assert!(!built.contains(CANARY));
}

#[test]
fn secrets_directory_values_precedence_and_bad_entries() {
    #[derive(Deserialize)]
    struct S {
        db_password: SecretBox<String>,
        api_token: String,
    }
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("run-secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("DB_PASSWORD"), "from-secrets\n").unwrap();
    std::fs::write(secrets.join("API_TOKEN"), "two\nlines\n").unwrap();
    // Kubernetes keeps the real files in ..data: not keys.
    std::fs::create_dir(secrets.join("..data")).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "DB_PASSWORD=from-dotenv\nAPI_TOKEN=x\n",
    )
    .unwrap();
    let cfg = Config::builder()
        .dir(dir.path())
        .secrets_dir(&secrets)
        .environment([("X", "1")])
        .build()
        .unwrap();
    let s: S = cfg.deserialize().unwrap();
    assert_eq!(s.db_password.expose_secret(), "from-secrets");
    assert_eq!(s.api_token, "two\nlines");

    let cfg = Config::builder()
        .dir(dir.path())
        .secrets_dir(&secrets)
        .environment([("DB_PASSWORD", "from-env")])
        .build()
        .unwrap();
    assert_eq!(cfg.get::<String>("DB_PASSWORD").unwrap(), "from-env");

    std::fs::create_dir(secrets.join("NESTED")).unwrap();
    let e = Config::builder()
        .dir(dir.path())
        .secrets_dir(&secrets)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(e.to_string().contains("NESTED"), "{e}");
    std::fs::remove_dir(secrets.join("NESTED")).unwrap();

    let e = Config::builder()
        .secrets_dir(dir.path().join("missing-dir"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("missing-dir"), "{e}");
}

#[test]
fn unrelated_file_variables_do_not_break_deserialize() {
    #[derive(Debug, Deserialize)]
    struct S {
        port: u16,
        db_password: Option<String>,
    }
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "from-file\n").unwrap();
    let cfg = Config::builder()
        .environment([
            ("PORT", "80"),
            // Set by other tools; the file is not there.
            ("TF_CLI_CONFIG_FILE", "/nonexistent/envcloak/terraformrc"),
            ("DB_PASSWORD_FILE", pw.to_str().unwrap()),
        ])
        .build()
        .unwrap();
    let s: S = cfg.deserialize().unwrap();
    assert_eq!(s.port, 80);
    assert_eq!(s.db_password.as_deref(), Some("from-file"));
    // A direct look-up still says what is wrong with the file.
    let e = cfg.get::<String>("TF_CLI_CONFIG").unwrap_err();
    assert!(e.to_string().contains("terraformrc"), "{e}");
}

#[test]
fn list_items_and_missing_renamed_fields_say_where() {
    #[derive(Debug, Deserialize)]
    struct S {
        #[allow(dead_code)]
        ports: Vec<u8>,
    }
    let dir = dir_with(&[(".env", "PORTS=80, 443,8080\n")]);
    let cfg = Config::builder()
        .dir(dir.path())
        .environment([("X", "1")])
        .build()
        .unwrap();
    let e = cfg.deserialize::<S>().unwrap_err().to_string();
    assert!(
        e.starts_with("ports[1]: out of range for an unsigned 8 bit integer"),
        "{e}"
    );
    assert!(e.contains("key PORTS") && e.ends_with(".env:1)"), "{e}");
    assert!(!e.contains("443"), "{e}");

    #[derive(Debug, Deserialize)]
    struct R {
        #[allow(dead_code)]
        #[serde(rename = "PORT_ONE")]
        port_one: u16,
    }
    let cfg = Config::builder()
        .environment([("PORT_ONE", "1")])
        .build()
        .unwrap();
    let e = cfg.deserialize::<R>().unwrap_err().to_string();
    assert!(e.contains("PORT_ONE") && e.contains("lowercase"), "{e}");
}

#[test]
fn config_rs_errors_can_be_redacted() {
    let dir = dir_with(&[(".env", &format!("DB__PORT={CANARY}\n"))]);
    let cfg = Config::builder()
        .dir(dir.path())
        .environment([("X", "1")])
        .build()
        .unwrap();
    let built = config_rs::Config::builder()
        .add_source(cfg.clone())
        .build()
        .unwrap();
    let raw = built.get::<u16>("db.port").unwrap_err();
    let e = cfg.redact_config_error(raw);
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(
        shown.contains("db.port") && shown.contains("key DB__PORT"),
        "{shown}"
    );
}

#[test]
fn values_with_quotes_or_short_values_never_reach_messages() {
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Dev,
    }
    #[derive(Debug, Deserialize)]
    struct C {
        #[allow(dead_code)]
        c: char,
    }
    #[derive(Debug, Deserialize)]
    struct M {
        #[allow(dead_code)]
        mode: Mode,
    }
    let _ = Mode::Dev;
    for value in [
        "q\"SECRETCHARS",
        "x\"y\"LEAKEDTAIL",
        "back`tick`LEAK",
        "sl\\ash\\LEAK",
        "pin",
        "ab",
        "SEC, expected nothing",
    ] {
        let cfg = Config::builder()
            .environment([("C", value), ("MODE", value)])
            .build()
            .unwrap();
        for e in [
            cfg.deserialize::<C>().unwrap_err(),
            cfg.deserialize::<M>().unwrap_err(),
        ] {
            let shown = format!("{e} {e:?}");
            for part in ["SECRET", "LEAK", "pin", "ab ", "SEC,", "nothing"] {
                if value.contains(part.trim()) {
                    assert!(
                        !shown.contains(part.trim()),
                        "{value:?} leaked {part:?}: {shown}"
                    );
                }
            }
        }
    }
}
