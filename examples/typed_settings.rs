//! One struct for the whole configuration: a nested struct with a secret, a
//! list, an optional field and a default, read through serde and config-rs.
//!
//! `cargo run --example typed_settings`
//! `APP_DB__POOL=20 APP_WORKERS=8 cargo run --example typed_settings`

use std::path::Path;

use envcloak::{Config, ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    debug: bool,
    allowed_hosts: Vec<String>,
    db: Database,
    #[serde(default = "default_workers")]
    workers: u16,
}

#[derive(Deserialize)]
struct Database {
    url: String,
    #[serde(deserialize_with = "envcloak::secret_string")]
    password: SecretString,
    pool: Option<u32>,
}

fn default_workers() -> u16 {
    4
}

fn main() -> Result<(), envcloak::Error> {
    // An app calls `Config::auto()?`; the example names its file so it runs
    // on a fresh clone.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/typed_settings.env");
    let cfg = Config::builder().file(file).build()?;
    let settings: Settings = cfg.deserialize_prefixed("APP_")?;

    let s = &settings;
    println!("debug         = {}", s.debug);
    println!("allowed_hosts = {:?}", s.allowed_hosts);
    println!("workers       = {} (the serde default)", s.workers);
    println!("db.url        = {}", s.db.url);
    println!("db.password   = {:?}", s.db.password);
    println!("db.pool       = {:?} (optional, absent)", s.db.pool);
    println!(
        "the password is {} characters long",
        s.db.password.expose_secret().len()
    );

    // A wrong type names the field, the key and the file, never the value.
    let bad = Config::builder()
        .environment([("APP_WORKERS", "lots")])
        .build()?;
    #[derive(Debug, Deserialize)]
    struct Workers {
        #[allow(dead_code)]
        workers: u16,
    }
    if let Err(e) = bad.deserialize_prefixed::<Workers>("APP_") {
        println!("error: {e}");
    }
    Ok(())
}
