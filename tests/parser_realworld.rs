//! Real-world `.env` files through the public API: the loader
//! (`Config::builder()`) and `envcloak::dotenv::parse`.
//!
//! Each case here was found reading real files (issue 11); each asserts the
//! exact value the user gets, and that loading never panics.

use std::path::Path;

use envcloak::dotenv;
use envcloak::{Config, Error, Origin};

/// A config over `.env` holding `text`, in a fresh directory, with an empty
/// process environment.
fn load(dir: &Path, text: &str) -> Result<Config, Error> {
    std::fs::write(dir.join(".env"), text).unwrap();
    Config::builder()
        .dir(dir)
        .environment(std::iter::empty::<(&str, &str)>())
        .build()
}

fn loaded(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), text).unwrap_or_else(|e| panic!("{text:?} does not load: {e}"))
}

fn get(c: &Config, key: &str) -> String {
    c.get::<String>(key)
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// `(key, value)` pairs as `dotenv::parse` reads them.
fn parsed(text: &str) -> Vec<(String, String)> {
    dotenv::parse(text)
        .unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
        .into_iter()
        .map(|e| (e.key.to_owned(), e.value.into_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

// An empty value followed by a comment used to panic while building the
// layer, with a message that quoted the start of the file (secrets included).

#[test]
fn empty_value_before_a_comment_loads_as_empty() {
    for text in [
        "A=#note\n",
        "A=   # optional\n",
        "A=\t#\n",
        "A=\u{a0}# after a no-break space\n",
        "export A= # exported\r\n",
    ] {
        let c = loaded(&format!("SECRET_KEY=s3cr3t-canary-value\n{text}B=after\n"));
        assert_eq!(get(&c, "A"), "", "{text:?}");
        assert_eq!(get(&c, "B"), "after", "{text:?}");
        assert_eq!(get(&c, "SECRET_KEY"), "s3cr3t-canary-value", "{text:?}");
    }
    // At the end of a file without a newline.
    for text in ["A=#", "A=   #", "A= # last"] {
        let c = loaded(&format!("SECRET_KEY=s3cr3t-canary-value\n{text}"));
        assert_eq!(get(&c, "A"), "", "{text:?}");
    }
}

#[test]
fn empty_value_before_a_comment_after_a_bom_loads_as_empty() {
    let c = loaded("\u{feff}TOKEN=abc\nA=   # optional\nB=x\n");
    assert_eq!(get(&c, "TOKEN"), "abc");
    assert_eq!(get(&c, "A"), "");
    assert_eq!(get(&c, "B"), "x");
}

#[test]
fn empty_value_before_a_comment_parses_as_empty() {
    assert_eq!(
        parsed("A=#note\nB=   # optional\nC=x\n"),
        pairs(&[("A", ""), ("B", ""), ("C", "x")])
    );
}

/// The shipped `.env.sample` shape that first showed the panic: many
/// entries, some empty with a comment, some secret.
#[test]
fn a_sample_file_with_optional_entries_loads() {
    let text = "\
# Required
DATABASE_URL=postgres://app:pw@localhost/app
SECRET_KEY=0123456789abcdef0123456789abcdef

# Optional
SENTRY_DSN=   # optional
REDIS_URL=#redis://localhost:6379
EMAIL_HOST=smtp.example.com # the relay
";
    let c = loaded(text);
    assert_eq!(get(&c, "DATABASE_URL"), "postgres://app:pw@localhost/app");
    assert_eq!(get(&c, "SENTRY_DSN"), "");
    assert_eq!(get(&c, "REDIS_URL"), "");
    assert_eq!(get(&c, "EMAIL_HOST"), "smtp.example.com");
    assert_eq!(
        c.get::<Option<String>>("SENTRY_DSN").unwrap(),
        Some(String::new())
    );
}

// What real files write, read as python-dotenv, node dotenv (+ dotenv-expand)
// and dotenvy read it by majority (DESIGN.md §2).

#[test]
fn unicode_whitespace_before_hash_starts_a_comment() {
    let c = loaded(
        "A=value\u{a0}# after a no-break space\n\
         B=two words\u{2003}# after an em space\n\
         C=\"quoted\"\u{a0}#c\n\
         D=a#b\n\
         E=x\u{a0}y\n",
    );
    assert_eq!(get(&c, "A"), "value");
    assert_eq!(get(&c, "B"), "two words");
    assert_eq!(get(&c, "C"), "quoted");
    assert_eq!(get(&c, "D"), "a#b");
    assert_eq!(get(&c, "E"), "x\u{a0}y");
}

#[test]
fn inner_quotes_of_an_unquoted_value_are_kept() {
    let c = loaded(
        "ROCKET_TLS={certs=\"private/cert.pem\",key=\"private/key.pem\"}\n\
         JSON={\"host\":\"x\",\"ports\":[1,2]}\n\
         A=a\"b c\"d\n\
         GREETING=it's me # a comment\n",
    );
    assert_eq!(
        get(&c, "ROCKET_TLS"),
        r#"{certs="private/cert.pem",key="private/key.pem"}"#
    );
    assert_eq!(get(&c, "JSON"), r#"{"host":"x","ports":[1,2]}"#);
    assert_eq!(get(&c, "A"), r#"a"b c"d"#);
    assert_eq!(get(&c, "GREETING"), "it's me");
    let json: envcloak::Json<serde_json::Value> = c.get("JSON").unwrap();
    assert_eq!(json["host"], "x");
}

#[test]
fn text_after_a_closing_quote_fails_the_load_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(dir.path(), "A=1\nTOKEN=\"s3cr3t-canary\"tail\n").unwrap_err();
    let Error::Parse { line, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*line, 2);
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("tail"),
            "{shown}"
        );
    }
    // A comment may follow, with or without a blank.
    let c = loaded("A=\"x\"#c\nB='y' # c\n");
    assert_eq!((get(&c, "A"), get(&c, "B")), ("x".into(), "y".into()));
}

#[test]
fn defaults_and_required_variables_read_as_a_shell_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "EMPTY=\n\
         HOST=${DB_HOST:-localhost}\n\
         PORT=${DB_PORT-5432}\n\
         USER=${EMPTY:-app}\n\
         KEEP=${EMPTY-kept empty}\n\
         URL=\"postgres://${USER}@${HOST}:${PORT}/${DB_NAME:-${USER}_dev}\"\n\
         FROM_ENV=${SET_IN_ENV:-unused}\n",
    )
    .unwrap();
    let c = Config::builder()
        .dir(dir.path())
        .environment([("SET_IN_ENV", "from the environment"), ("DB_PORT", "")])
        .build()
        .unwrap();
    assert_eq!(get(&c, "HOST"), "localhost");
    assert_eq!(
        get(&c, "PORT"),
        "",
        "DB_PORT is set (empty) in the environment"
    );
    assert_eq!(get(&c, "USER"), "app");
    assert_eq!(get(&c, "KEEP"), "");
    assert_eq!(get(&c, "URL"), "postgres://app@localhost:/app_dev");
    assert_eq!(get(&c, "FROM_ENV"), "from the environment");
}

#[test]
fn a_required_variable_fails_naming_it_and_never_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let text = "A=1\nDATABASE_URL=${DB_URL:?set DB_URL, e.g. postgres://u:hunter2@db}\n";
    let e = load(dir.path(), text).unwrap_err();
    let Error::Parse { line, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*line, 2);
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(shown.contains("DB_URL"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("postgres"),
            "{shown}"
        );
    }
    // `dotenv::parse` has no environment to check it against (tools that
    // rewrite or encrypt the file use it): it reads `${DB_URL}`, empty.
    assert_eq!(parsed(text), pairs(&[("A", "1"), ("DATABASE_URL", "")]));
    assert_eq!(
        dotenv::set_entry(text, "A", "2").unwrap(),
        text.replace("A=1", "A=2")
    );
    // Set in the environment: no error.
    std::fs::write(dir.path().join(".env"), text).unwrap();
    let c = Config::builder()
        .dir(dir.path())
        .environment([("DB_URL", "postgres://db/app")])
        .build()
        .unwrap();
    assert_eq!(get(&c, "DATABASE_URL"), "postgres://db/app");
}

#[test]
fn backslashes_in_unquoted_values_are_kept() {
    let c = loaded(
        "WIN_PATH=C:\\Users\\app\\data\n\
         REGEX=^\\d{3}-\\d{4}$\n\
         PRICE=\\$5\n\
         ESCAPED=\"tab\\there\"\n",
    );
    assert_eq!(get(&c, "WIN_PATH"), r"C:\Users\app\data");
    assert_eq!(get(&c, "REGEX"), r"^\d{3}-\d{4}$");
    assert_eq!(get(&c, "PRICE"), "$5");
    assert_eq!(get(&c, "ESCAPED"), "tab\there");
}

/// Every real-world pattern above in one file, through the loader and
/// through `dotenv::parse`, with exact values.
#[test]
fn a_file_with_every_real_world_pattern() {
    let text = "\u{feff}# Example .env for the app\r\n\
        export SECRET_KEY='django-insecure-0123456789'\r\n\
        DEBUG=True # turn off in production\r\n\
        ALLOWED_HOSTS=.localhost, .herokuapp.com\r\n\
        SENTRY_DSN=   # optional\r\n\
        CACHE_URL=#redis://localhost:6379/1\r\n\
        TIMEZONE=UTC\u{a0}# no-break space before the comment\r\n\
        ROCKET_TLS={certs=\"certs/a.pem\",key=\"certs/b.pem\"}\r\n\
        FEATURES={\"beta\":true,\"name\":\"x y\"}\r\n\
        DB_HOST=${POSTGRES_HOST:-localhost}\r\n\
        DB_PORT=${POSTGRES_PORT-5432}\r\n\
        DATABASE_URL=\"postgres://app@${DB_HOST}:${DB_PORT}/app\"\r\n\
        LOG_FORMAT='%(asctime)s \"%(message)s\"'\r\n\
        WINDOWS_DIR=C:\\temp\\app\r\n\
        MULTILINE=\"line one\r\nline two\"\r\n\
        EMPTY=\r\n\
        QUOTED_EMPTY=\"\" # nothing\r\n";
    let want: &[(&str, &str)] = &[
        ("SECRET_KEY", "django-insecure-0123456789"),
        ("DEBUG", "True"),
        ("ALLOWED_HOSTS", ".localhost, .herokuapp.com"),
        ("SENTRY_DSN", ""),
        ("CACHE_URL", ""),
        ("TIMEZONE", "UTC"),
        ("ROCKET_TLS", r#"{certs="certs/a.pem",key="certs/b.pem"}"#),
        ("FEATURES", r#"{"beta":true,"name":"x y"}"#),
        ("DB_HOST", "localhost"),
        ("DB_PORT", "5432"),
        ("DATABASE_URL", "postgres://app@localhost:5432/app"),
        ("LOG_FORMAT", r#"%(asctime)s "%(message)s""#),
        ("WINDOWS_DIR", r"C:\temp\app"),
        ("MULTILINE", "line one\nline two"),
        ("EMPTY", ""),
        ("QUOTED_EMPTY", ""),
    ];
    assert_eq!(parsed(text), pairs(want));
    let c = loaded(text);
    for &(key, value) in want {
        assert_eq!(get(&c, key), value, "{key}");
    }
    // Lines count from the BOM's line, CRLF and the multi-line value too.
    for (key, want) in [("SECRET_KEY", 2), ("DATABASE_URL", 12), ("EMPTY", 17)] {
        match c.source_of(key) {
            Some(Origin::Dotenv { line, .. }) => assert_eq!(line, want, "{key}"),
            other => panic!("{key}: {other:?}"),
        }
    }
}
