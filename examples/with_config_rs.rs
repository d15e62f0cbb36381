//! envcloak layered over a TOML file through config-rs: `.env` (and
//! `.env.enc`) values override the TOML keys they name (`DB__URL` ->
//! `db.url`), and every value keeps its origin for config-rs's errors.
//!
//! `cargo run --example with_config_rs`

use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    debug: bool,
    name: String,
    db: Db,
    http: Http,
}

#[derive(Deserialize)]
struct Db {
    url: String,
    pool: u32,
}

#[derive(Deserialize)]
struct Http {
    port: u16,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    // An app would use `envcloak::Config::auto()?` here.
    let envcloak = envcloak::Config::builder()
        .file(here.join("with_config_rs.env"))
        .process_env(false)
        .build()?;

    let settings: Settings = config_rs::Config::builder()
        .add_source(config_rs::File::from(here.join("settings.toml")))
        .add_source(envcloak)
        .build()?
        .try_deserialize()?;

    let s = &settings;
    println!("name    = {}   (settings.toml)", s.name);
    println!("db.pool = {}      (settings.toml)", s.db.pool);
    println!(
        "debug   = {}   (with_config_rs.env overrides settings.toml)",
        s.debug
    );
    println!("db.url  = {}   (DB__URL in with_config_rs.env)", s.db.url);
    println!(
        "http.port = {} (HTTP__PORT in with_config_rs.env)",
        s.http.port
    );
    Ok(())
}
