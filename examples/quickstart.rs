//! The main job in one run: typed values, a default, a list, secrets from
//! the team's encrypted file, and where each value came from.
//!
//! Run it from a fresh clone: `cargo run --example quickstart`
//! Then see the environment win: `PORT=9000 DEBUG=no cargo run --example quickstart`
//!
//! Layers, highest first: the process environment, `quickstart.env` (your
//! `.env`), `quickstart.env.enc` (the team's `.env.enc`, committed, opened
//! with the demo key below), then the default given at the call.

use std::path::Path;
use std::time::Duration;

use envcloak::{Config, Csv, ExposeSecret, SecretString};

/// DEMO KEY — it opens only `examples/quickstart.env.enc`, and it is public.
/// A real key lives in `.env.key` (gitignored, 0600), in `ENVCLOAK_KEY` (a
/// CI secret) or behind `ENVCLOAK_KEY_CMD` (a secret manager): never in code.
const DEMO_KEY: &str = "V9A2SVL3UGXpNgmHOEq_uUrka3BU4GxTGK-6C_9vEzM=";

fn main() -> Result<(), envcloak::Error> {
    // In an app: `envcloak::config("DEBUG")?`, which reads the process
    // environment, `.env` and `.env.enc` of the project, and the key from
    // ENVCLOAK_KEY or `.env.key`. The example names its files and its key
    // so that it needs no set-up.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = Config::builder()
        .file(root.join("examples/quickstart.env"))
        .encrypted_file(root.join("examples/quickstart.env.enc"))
        .key(&SecretString::from(DEMO_KEY))?
        .build()?;

    let debug: bool = cfg.get("DEBUG")?;
    let port: u16 = cfg.get_or("PORT", 8000)?;
    let hosts: Csv<String> = cfg.get("ALLOWED_HOSTS")?;
    let timeout: Duration = cfg.get("REQUEST_TIMEOUT")?;
    let secret: SecretString = cfg.get("SECRET_KEY")?;
    let stripe: SecretString = cfg.get("STRIPE_KEY")?;
    let database: Option<String> = cfg.get("DATABASE_URL")?;
    let cache: Option<String> = cfg.get("CACHE_URL")?;

    // Where each value came from, with paths relative to the project.
    let from = |key: &str| match cfg.source_of(key) {
        Some(origin) => origin
            .to_string()
            .replace(&format!("{}/", root.display()), ""),
        None => "the default in the code".to_owned(),
    };
    let show = |key: &str, value: String| println!("{key:<15} = {value:<42} from {}", from(key));
    show("DEBUG", debug.to_string());
    show("PORT", port.to_string());
    show("ALLOWED_HOSTS", format!("{:?}", &hosts[..]));
    show("REQUEST_TIMEOUT", format!("{timeout:?}"));
    show("SECRET_KEY", format!("{secret:?}"));
    show("STRIPE_KEY", format!("{stripe:?}"));
    show("DATABASE_URL", format!("{database:?}"));
    show("CACHE_URL", format!("{cache:?}"));
    println!(
        "the secrets print redacted; the code reads them with expose_secret() ({} and {} characters)",
        secret.expose_secret().len(),
        stripe.expose_secret().len()
    );

    // A demonstration of an error: WORKERS is not a number. The message
    // names the key, the file and line, the type and the reason — never
    // the value.
    match cfg.get::<u16>("WORKERS") {
        Err(e) => println!(
            "demonstration of an error (expected): {}",
            e.to_string().replace(&format!("{}/", root.display()), "")
        ),
        Ok(n) => println!("WORKERS = {n}"),
    }
    Ok(())
}
