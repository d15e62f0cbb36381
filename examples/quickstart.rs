//! The 60-second tour: typed values, a default, a list, a secret and where
//! each value came from.
//!
//! Run it from a fresh clone: `cargo run --example quickstart`
//! Then see the environment win: `PORT=9000 DEBUG=no cargo run --example quickstart`

use std::path::Path;
use std::time::Duration;

use envcloak::{Config, Csv, ExposeSecret, SecretString};

fn main() -> Result<(), envcloak::Error> {
    // In an app: `envcloak::config("DEBUG")?`, which reads the process
    // environment, `.env` and `.env.enc` of the project. The example names
    // its file so it needs no set-up.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.env");
    let cfg = Config::builder().file(&file).build()?;

    let debug: bool = cfg.get("DEBUG")?;
    let port: u16 = cfg.get_or("PORT", 8000)?;
    let hosts: Csv<String> = cfg.get("ALLOWED_HOSTS")?;
    let secret: SecretString = cfg.get("SECRET_KEY")?;
    let timeout: Duration = cfg.get("REQUEST_TIMEOUT")?;
    let database: Option<String> = cfg.get("DATABASE_URL")?;
    let cache: Option<String> = cfg.get("CACHE_URL")?;

    let from = |key: &str| match cfg.source_of(key) {
        Some(origin) => origin.to_string(),
        None => "default".to_owned(),
    };
    println!("DEBUG           = {debug:<40} from {}", from("DEBUG"));
    println!("PORT            = {port:<40} from {}", from("PORT"));
    println!(
        "ALLOWED_HOSTS   = {:<40} from {}",
        format!("{:?}", &hosts[..]),
        from("ALLOWED_HOSTS")
    );
    println!(
        "SECRET_KEY      = {:<40} from {}",
        format!("{secret:?}"),
        from("SECRET_KEY")
    );
    println!(
        "REQUEST_TIMEOUT = {:<40} from {}",
        format!("{timeout:?}"),
        from("REQUEST_TIMEOUT")
    );
    println!(
        "DATABASE_URL    = {:<40} from {}",
        format!("{database:?}"),
        from("DATABASE_URL")
    );
    println!(
        "CACHE_URL       = {:<40} from {}",
        format!("{cache:?}"),
        from("CACHE_URL")
    );
    println!(
        "the secret is {} characters long; use it with expose_secret()",
        secret.expose_secret().len()
    );

    // A value that does not cast: the error names the key, the file and
    // line, the type and the reason, never the value.
    if let Err(e) = cfg.get::<u16>("WORKERS") {
        println!("error: {e}");
    }
    Ok(())
}
