//! The loader through the public API: python-decouple parity for casting
//! and precedence, provenance, discovery, and that no value ever reaches an
//! error message or a `Debug` print.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use envcloak::{
    Choices, Config, Csv, Error, ExposeSecret, Json, Origin, Parsed, SecretBox, SecretString,
};

/// A config over an explicit environment and an optional `.env` text, in a
/// fresh directory (returned so it outlives the config).
fn cfg(env: &[(&str, &str)], dotenv: Option<&str>) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    if let Some(text) = dotenv {
        std::fs::write(dir.path().join(".env"), text).unwrap();
    }
    let c = Config::builder()
        .dir(dir.path())
        .environment(env.iter().copied())
        .build()
        .unwrap();
    (dir, c)
}

fn env(pairs: &[(&str, &str)]) -> Config {
    cfg(pairs, None).1
}

#[test]
fn every_bool_spelling_in_every_case() {
    for (raw, want) in [
        ("y", true),
        ("yes", true),
        ("t", true),
        ("true", true),
        ("on", true),
        ("1", true),
        ("n", false),
        ("no", false),
        ("f", false),
        ("false", false),
        ("off", false),
        ("0", false),
    ] {
        for spelled in [raw.to_owned(), raw.to_uppercase(), capitalize(raw)] {
            let c = env(&[("B", &spelled)]);
            assert_eq!(c.get::<bool>("B").unwrap(), want, "{spelled}");
        }
        let c = env(&[("B", &format!("  {raw}\t"))]);
        assert_eq!(c.get::<bool>("B").unwrap(), want, "padded {raw}");
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[test]
fn empty_bool_is_false_and_invalid_bools_fail() {
    assert!(!env(&[("B", "")]).get::<bool>("B").unwrap());
    for bad in ["2", "yep", "truee", "o", "nope", "-"] {
        let e = env(&[("B", bad)]).get::<bool>("B").unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{bad}");
        assert!(
            e.to_string()
                .starts_with("B: expected bool (from process environment): not a boolean")
        );
    }
}

#[test]
fn numbers_out_of_range_say_so() {
    let c = env(&[
        ("P", "65536"),
        ("N", "-1"),
        ("I", "9999999999"),
        ("F", "nan?"),
    ]);
    assert_eq!(
        c.get::<u16>("P").unwrap_err().to_string(),
        "P: expected u16 (from process environment): out of range (0 to 65535)"
    );
    assert!(
        c.get::<u32>("N")
            .unwrap_err()
            .to_string()
            .contains("out of range")
    );
    assert!(
        c.get::<i32>("I")
            .unwrap_err()
            .to_string()
            .contains("out of range")
    );
    assert!(c.get::<u64>("I").is_ok());
    assert!(c.get::<f64>("F").is_err());
}

#[test]
fn env_beats_dotenv_even_when_empty() {
    let (_d, c) = cfg(
        &[("A", "from-env"), ("E", "")],
        Some("A=from-file\nE=file\nF=only-file\n"),
    );
    assert_eq!(c.get::<String>("A").unwrap(), "from-env");
    assert_eq!(c.get::<String>("E").unwrap(), "");
    assert_eq!(c.get::<String>("F").unwrap(), "only-file");
    assert_eq!(c.source_of("E"), Some(Origin::Environment));
    assert_eq!(
        c.source_of("F").unwrap().to_string().rsplit('/').next(),
        Some(".env:3")
    );
}

#[test]
fn missing_key_with_and_without_default() {
    let c = env(&[]);
    let e = c.get::<String>("NOPE").unwrap_err();
    assert!(matches!(e, Error::Missing { .. }));
    assert_eq!(e.key(), Some("NOPE"));
    assert_eq!(c.get_or("NOPE", 8000u16).unwrap(), 8000);
    assert!(!c.get_or("NOPE", false).unwrap());
    // A default is returned as given, never cast or validated.
    assert_eq!(c.get_or("NOPE", String::from(" raw ")).unwrap(), " raw ");
    // A present value that does not cast is still an error despite a default.
    assert!(env(&[("P", "x")]).get_or("P", 1u8).is_err());
}

#[test]
fn option_is_none_when_absent_and_cast_when_present() {
    let c = env(&[("P", "80"), ("E", "")]);
    assert_eq!(c.get::<Option<u16>>("P").unwrap(), Some(80));
    assert_eq!(c.get::<Option<u16>>("NOPE").unwrap(), None);
    assert_eq!(c.get::<Option<String>>("E").unwrap(), Some(String::new()));
    assert!(c.get::<Option<u16>>("E").is_err());
}

#[test]
fn csv_spaces_empty_items_quotes_and_types() {
    let (_d, c) = cfg(
        &[],
        Some(concat!(
            "ALLOWED_HOSTS=.localhost, .herokuapp.com\n",
            "EMPTY=a,,b, ,\n",
            "QUOTED='\"a, b\", c'\n",
            "PORTS=80, 443 ,8080\n",
            "BAD=1,two\n",
        )),
    );
    let hosts: Csv<String> = c.get("ALLOWED_HOSTS").unwrap();
    assert_eq!(hosts[..], [".localhost", ".herokuapp.com"]);
    assert_eq!(
        c.get::<Csv<String>>("EMPTY").unwrap().into_inner(),
        ["a", "b"]
    );
    assert_eq!(c.get::<Csv<String>>("QUOTED").unwrap()[..], ["a, b", "c"]);
    assert_eq!(c.get::<Csv<u16>>("PORTS").unwrap()[..], [80, 443, 8080]);
    let e = c.get::<Csv<u16>>("BAD").unwrap_err().to_string();
    assert!(e.contains("expected comma-separated list of u16"), "{e}");
    assert!(e.contains("item 2: not a valid integer"), "{e}");
}

#[test]
fn choices_list_the_allowed_values() {
    let c = env(&[("MODE", "prod"), ("BAD", "qa")]);
    let allowed = ["dev", "staging", "prod"];
    assert_eq!(c.get_with("MODE", Choices::new(allowed)).unwrap(), "prod");
    let e = c.get_with("BAD", Choices::new(allowed)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "BAD: expected one of: dev, staging, prod (from process environment): not one of the allowed values"
    );
    assert_eq!(
        c.get_with_or("NOPE", Choices::new(allowed), "dev".into())
            .unwrap(),
        "dev"
    );
}

#[test]
fn keys_are_case_sensitive() {
    let c = env(&[("Key", "1")]);
    assert_eq!(c.get::<u8>("Key").unwrap(), 1);
    assert!(matches!(c.get::<u8>("KEY"), Err(Error::Missing { .. })));
    assert!(matches!(c.get::<u8>("key"), Err(Error::Missing { .. })));
}

#[test]
fn last_duplicate_wins_with_its_line() {
    let (_d, c) = cfg(&[], Some("A=1\nB=x\nA=2\n"));
    assert_eq!(c.get::<u8>("A").unwrap(), 2);
    match c.source_of("A") {
        Some(Origin::Dotenv { line, .. }) => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_types() {
    let c = env(&[
        ("IP", " 10.0.0.1 "),
        ("SOCK", "127.0.0.1:8080"),
        ("T", "5m"),
        ("MS", "250ms"),
        ("PLAIN", "30"),
        ("J", r#"{"a": [1, 2]}"#),
        ("C", "x"),
        ("PATH_", "/tmp/x"),
        ("SECRET_NUM", "42"),
        ("LEVEL", "info"),
    ]);
    assert_eq!(c.get::<IpAddr>("IP").unwrap().to_string(), "10.0.0.1");
    assert_eq!(c.get::<SocketAddr>("SOCK").unwrap().port(), 8080);
    assert_eq!(c.get::<Duration>("T").unwrap(), Duration::from_secs(300));
    assert_eq!(c.get::<Duration>("MS").unwrap(), Duration::from_millis(250));
    assert_eq!(c.get::<Duration>("PLAIN").unwrap(), Duration::from_secs(30));
    let j: Json<std::collections::HashMap<String, Vec<u8>>> = c.get("J").unwrap();
    assert_eq!(j["a"], [1, 2]);
    assert_eq!(c.get::<char>("C").unwrap(), 'x');
    assert_eq!(
        c.get::<std::path::PathBuf>("PATH_").unwrap(),
        Path::new("/tmp/x")
    );
    let n: SecretBox<u64> = c.get("SECRET_NUM").unwrap();
    assert_eq!(*n.expose_secret(), 42);
    let level: Parsed<Level> = c.get("LEVEL").unwrap();
    assert_eq!(*level, Level::Info);
    assert_eq!(c.get::<Level>("LEVEL").unwrap(), Level::Info);
}

#[derive(Debug, PartialEq)]
enum Level {
    Debug,
    Info,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            other => Err(format!("unknown level {other}")),
        }
    }
}

envcloak::from_str_value!(Level);

#[test]
fn name_file_indirection() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("db_password");
    std::fs::write(&secret, "pa ss\n").unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "DB_PASSWORD=from-dotenv\nOTHER=1\n",
    )
    .unwrap();
    let c = Config::builder()
        .dir(dir.path())
        .environment([("DB_PASSWORD_FILE", secret.to_str().unwrap())])
        .build()
        .unwrap();
    let pw: SecretString = c.get("DB_PASSWORD").unwrap();
    assert_eq!(pw.expose_secret(), "pa ss");
    assert_eq!(
        c.source_of("DB_PASSWORD").unwrap().to_string(),
        format!("DB_PASSWORD_FILE ({})", secret.display())
    );
    // The variable itself beats its _FILE.
    let c = Config::builder()
        .dir(dir.path())
        .environment([
            ("DB_PASSWORD", "env"),
            ("DB_PASSWORD_FILE", secret.to_str().unwrap()),
        ])
        .build()
        .unwrap();
    assert_eq!(c.get::<String>("DB_PASSWORD").unwrap(), "env");
    // A _FILE naming a missing file is an error naming the file.
    let c = Config::builder()
        .dir(dir.path())
        .environment([("X_FILE", "/nonexistent/envcloak")])
        .build()
        .unwrap();
    let e = c.get::<String>("X").unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("/nonexistent/envcloak"));
}

#[test]
fn profile_file_sits_above_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "A=base\nB=base\n").unwrap();
    std::fs::write(dir.path().join(".env.production"), "A=prod\n").unwrap();
    let c = Config::builder()
        .dir(dir.path())
        .environment([("ENVCLOAK_PROFILE", "production")])
        .build()
        .unwrap();
    assert_eq!(c.get::<String>("A").unwrap(), "prod");
    assert_eq!(c.get::<String>("B").unwrap(), "base");
    let c = Config::builder()
        .dir(dir.path())
        .environment([("X", "1")])
        .build()
        .unwrap();
    assert_eq!(c.get::<String>("A").unwrap(), "base");
}

#[test]
fn expansion_uses_the_given_environment_first() {
    let (_d, c) = cfg(
        &[("HOST", "db.env")],
        Some("HOST=db.file\nPORT=5432\nURL=${HOST}:$PORT\n"),
    );
    assert_eq!(c.get::<String>("URL").unwrap(), "db.env:5432");
}

#[test]
fn discovery_from_a_subdirectory_and_stops_at_git_root() {
    let top = tempfile::tempdir().unwrap();
    // An outer .env that must never be read: the .git below stops the walk.
    std::fs::write(top.path().join(".env"), "OUTER=1\n").unwrap();
    let repo = top.path().join("repo");
    let sub = repo.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::create_dir(repo.join(".git")).unwrap();
    let c = Config::builder()
        .discover_from(&sub)
        .environment([("X", "1")])
        .build()
        .unwrap();
    assert!(matches!(
        c.get::<String>("OUTER"),
        Err(Error::Missing { .. })
    ));

    std::fs::write(repo.join(".env"), "INNER=yes\n").unwrap();
    let c = Config::builder()
        .discover_from(&sub)
        .environment([("X", "1")])
        .build()
        .unwrap();
    assert!(c.get::<bool>("INNER").unwrap());
    assert_eq!(
        c.source_of("INNER").unwrap().to_string(),
        format!("{}:1", repo.join(".env").display())
    );
}

#[test]
fn syntax_errors_fail_the_load_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "A=1\n\nB C=CANARY_SYNTAX\n").unwrap();
    let e = Config::builder()
        .dir(dir.path())
        .environment([("X", "1")])
        .build()
        .unwrap_err();
    match &e {
        Error::Parse { line, path, .. } => {
            assert_eq!(*line, 3);
            assert!(path.ends_with(".env"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            .ends_with(".env:3: expected '=' after the key"),
        "{e}"
    );
}

#[test]
fn explicit_files_must_exist() {
    let e = Config::builder()
        .file("/nonexistent/envcloak/.env")
        .environment([("X", "1")])
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
}

#[test]
fn secrets_directory_layer() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("DB_PASSWORD"), "s3\n").unwrap();
    std::fs::write(secrets.join("TOKEN"), "t\n\n").unwrap();
    std::fs::write(dir.path().join(".env"), "DB_PASSWORD=dotenv\n").unwrap();
    let c = Config::builder()
        .dir(dir.path())
        .secrets_dir(&secrets)
        .environment([("TOKEN", "env")])
        .build()
        .unwrap();
    assert_eq!(c.get::<String>("DB_PASSWORD").unwrap(), "s3");
    assert_eq!(c.get::<String>("TOKEN").unwrap(), "env");
    assert_eq!(
        c.source_of("DB_PASSWORD").unwrap().to_string(),
        format!("secrets dir {}", secrets.join("DB_PASSWORD").display())
    );
    std::fs::create_dir(secrets.join("nested")).unwrap();
    let e = Config::builder()
        .dir(dir.path())
        .secrets_dir(&secrets)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("nested"), "{e}");
}

#[test]
fn get_with_a_closure() {
    let c = env(&[("RATIO", "3/4")]);
    let ratio = c
        .get_with("RATIO", |raw: &str| {
            let (a, b) = raw
                .split_once('/')
                .ok_or(envcloak::CastError::new("want a/b"))?;
            Ok::<_, envcloak::CastError>((
                a.parse::<u8>().unwrap_or(0),
                b.parse::<u8>().unwrap_or(0),
            ))
        })
        .unwrap();
    assert_eq!(ratio, (3, 4));
}

/// Canary values must appear in no Display or Debug of any error.
const CANARY: &str = "CANARY_c4n4ry_VALUE";

fn assert_clean(what: &str, e: &Error) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(CANARY), "{what} leaked: {shown}");
    assert!(!shown.contains("c4n4ry"), "{what} leaked a part: {shown}");
}

#[test]
fn no_error_path_shows_a_value() {
    let c = CANARY.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, &c).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("FILE_V={c}\nJ=[\"{c}\"]\n"),
    )
    .unwrap();
    let cfg = Config::builder()
        .dir(dir.path())
        .environment([
            ("V", c.as_str()),
            ("IND_FILE", file.to_str().unwrap()),
            ("Q", &format!("\"{c}")),
        ])
        .build()
        .unwrap();
    macro_rules! each_type {
        ($key:expr) => {
            assert_clean("bool", &cfg.get::<bool>($key).unwrap_err());
            assert_clean("u16", &cfg.get::<u16>($key).unwrap_err());
            assert_clean("i64", &cfg.get::<i64>($key).unwrap_err());
            assert_clean("f64", &cfg.get::<f64>($key).unwrap_err());
            assert_clean("char", &cfg.get::<char>($key).unwrap_err());
            assert_clean("ip", &cfg.get::<IpAddr>($key).unwrap_err());
            assert_clean("sock", &cfg.get::<SocketAddr>($key).unwrap_err());
            assert_clean("dur", &cfg.get::<Duration>($key).unwrap_err());
            assert_clean("csv", &cfg.get::<Csv<u16>>($key).unwrap_err());
            assert_clean("json", &cfg.get::<Json<Vec<u8>>>($key).unwrap_err());
            assert_clean("parsed", &cfg.get::<Parsed<Level>>($key).unwrap_err());
            assert_clean("from_str", &cfg.get::<Level>($key).unwrap_err());
            assert_clean("secret box", &cfg.get::<SecretBox<u32>>($key).unwrap_err());
            assert_clean(
                "choices",
                &cfg.get_with($key, Choices::new(["a"])).unwrap_err(),
            );
            assert_clean("default", &cfg.get_or($key, 1u8).unwrap_err());
        };
    }
    each_type!("V");
    each_type!("IND");
    each_type!("FILE_V");
    assert_clean("json data", &cfg.get::<Json<Vec<u8>>>("J").unwrap_err());
    assert_clean("csv quote", &cfg.get::<Csv<String>>("Q").unwrap_err());
    assert_clean("missing", &cfg.get::<String>("NOT_THERE").unwrap_err());

    // Syntax errors never quote the line.
    for bad in [
        format!("A {c}\n"),
        format!("A='{c}\n"),
        format!("A=\"{c}\\q\"\n"),
        format!("A=${{{c}\n"),
        format!("A={c}\\\n"),
        format!("{c}-X=1\n"),
    ] {
        std::fs::write(dir.path().join(".env"), &bad).unwrap();
        let e = Config::builder()
            .dir(dir.path())
            .environment([("X", "1")])
            .build()
            .unwrap_err();
        assert_clean("parse", &e);
    }
    // A bad key (not base64, wrong length) never echoes the key.
    std::fs::write(dir.path().join(".env"), "A=1\n").unwrap();
    std::fs::write(dir.path().join(".env.enc"), "gAAAAAB\n").unwrap();
    for key in [c.clone(), format!("{c}{c}{c}{c}")] {
        let e = Config::builder()
            .dir(dir.path())
            .environment([("ENVCLOAK_KEY", key.as_str())])
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Key { .. }), "{e:?}");
        assert_clean("key", &e);
    }
}

#[test]
fn debug_of_secrets_and_config_shows_no_value() {
    let (_d, c) = cfg(
        &[("S", CANARY)],
        Some(&format!("F={CANARY}\nQ=\"{CANARY}\\n\"\n")),
    );
    let s: SecretString = c.get("S").unwrap();
    let list: Csv<SecretString> = c.get("F").unwrap();
    let boxed: SecretBox<String> = c.get("Q").unwrap();
    for shown in [
        format!("{s:?}"),
        format!("{list:?}"),
        format!("{boxed:?}"),
        format!("{c:?}"),
        format!("{c:#?}"),
    ] {
        assert!(!shown.contains(CANARY), "{shown}");
    }
    let dbg = format!("{c:?}");
    assert!(dbg.contains("\"F\"") && dbg.contains("\"Q\""), "{dbg}");
    assert!(dbg.contains("process environment"), "{dbg}");
    assert_eq!(s.expose_secret(), CANARY);
}

#[test]
fn config_is_send_and_sync_and_reads_from_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Config>();
    let (_d, c) = cfg(&[("N", "7")], Some("M=8\n"));
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                for _ in 0..1000 {
                    assert_eq!(c.get::<u8>("N").unwrap(), 7);
                    assert_eq!(c.get::<u8>("M").unwrap(), 8);
                }
            });
        }
    });
}

/// The library never mutates the process environment (unsound with threads,
/// `unsafe` in edition 2024) and has no unsafe code at all.
#[test]
fn no_set_var_and_no_unsafe_in_the_sources() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for needle in ["set_var(", "remove_var(", "unsafe {", "unsafe fn"] {
            assert!(!text.contains(needle), "{} contains {needle}", f.display());
        }
    }
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(lib.contains("#![forbid(unsafe_code)]"));
}

/// With a profile, `ENVCLOAK_KEY_<PROFILE>` opens the profile's file and
/// `ENVCLOAK_KEY` keeps opening `.env.enc`.
#[test]
fn profile_keys_open_their_own_files() {
    use envcloak::crypto::{Key, Keyring, encrypt};
    let base = Key::generate();
    let staging = Key::generate();
    let dir = tempfile::tempdir().unwrap();
    let seal =
        |key: &Key, text: &str| encrypt(&Keyring::new(vec![key.clone()]).unwrap(), text.as_bytes());
    std::fs::write(dir.path().join(".env.enc"), seal(&base, "A=base\nB=base\n")).unwrap();
    std::fs::write(
        dir.path().join(".env.staging.enc"),
        seal(&staging, "A=staging\n"),
    )
    .unwrap();
    let cfg = Config::builder()
        .dir(dir.path())
        .profile("staging")
        .environment([
            ("ENVCLOAK_KEY", base.to_base64().as_str()),
            ("ENVCLOAK_KEY_STAGING", staging.to_base64().as_str()),
        ])
        .build()
        .unwrap();
    assert_eq!(cfg.get::<String>("A").unwrap(), "staging");
    assert_eq!(cfg.get::<String>("B").unwrap(), "base");
    // Only the profile key: .env.enc is skipped (no key), and says so.
    let cfg = Config::builder()
        .dir(dir.path())
        .profile("staging")
        .environment([("ENVCLOAK_KEY_STAGING", staging.to_base64().as_str())])
        .build()
        .unwrap();
    assert_eq!(cfg.get::<String>("A").unwrap(), "staging");
    let e = cfg.get::<String>("B").unwrap_err().to_string();
    assert!(e.contains(".env.enc not read: no key"), "{e}");
}

#[test]
fn an_isolated_builder_reads_only_what_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("app.env");
    std::fs::write(&named, "A=1\n").unwrap();
    // A broken .env beside it is never read: it was not named.
    std::fs::write(dir.path().join(".env"), "BROKEN LINE\n").unwrap();
    let cfg = envcloak::Config::builder()
        .isolated()
        .file(&named)
        .build()
        .unwrap();
    assert_eq!(cfg.get::<u8>("A").unwrap(), 1);
    assert_eq!(cfg.layer_names(), [named.display().to_string()]);
    // The process environment is not read (PATH is set in every test run).
    assert!(cfg.get::<Option<String>>("PATH").unwrap().is_none());
    // Given a directory, it reads that directory's files.
    let err = envcloak::Config::builder()
        .isolated()
        .dir(dir.path())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains(".env:1"), "{err}");
}
