//! `envcloak`: keep a team's `.env` encrypted in git, and run programs with it.
//!
//! A thin shell over the library: each command is a few calls into
//! `envcloak::{vault, keys, crypto, dotenv, Config}`.

#![forbid(unsafe_code)]

mod run;
mod secrets;
mod team;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keep secrets out of git and logs: load `.env` and the encrypted
/// `.env.enc`, check them against `.env.example`, and run programs with them.
#[derive(Parser)]
#[command(name = "envcloak", version, about, long_about = None)]
#[command(after_help = "\
Examples:
  envcloak keygen --write            create .env.key (0600, gitignored)
  envcloak encrypt                   .env -> .env.enc (commit .env.enc)
  envcloak run -- cargo test         run with .env.enc decrypted in memory
  envcloak check --strict            CI: is the configuration complete?

Exit codes: 0 success; 1 a problem was found (check, get of a missing key);
2 could not run (bad input, no key, wrong key, usage); run passes through
the command's own code (126/127 when it cannot be started).")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// The encrypted file to use [default: .env.enc at the project root,
    /// or .env.<profile>.enc]
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Profile: use .env.<profile> and .env.<profile>.enc too [env: ENVCLOAK_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Read the key from this file instead of searching
    /// (ENVCLOAK_KEY, ENVCLOAK_KEY_FILE, ENVCLOAK_KEY_CMD, .env.key)
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new Fernet key, or store it in .env.key with --write
    #[command(after_help = "\
Examples:
  envcloak keygen                    print a key (for ENVCLOAK_KEY in CI)
  envcloak keygen --write            store it in .env.key, mode 0600, gitignored")]
    Keygen(secrets::KeygenArgs),
    /// Print a random token, like Python's secrets.token_hex / token_urlsafe
    #[command(after_help = "\
Examples:
  envcloak token                     64 hex characters (32 random bytes)
  envcloak token 16 --urlsafe        URL-safe base64 of 16 random bytes")]
    Token(secrets::TokenArgs),
    /// Encrypt a dotenv file (default .env) into .env.enc
    #[command(after_help = "\
Examples:
  envcloak encrypt                   .env -> .env.enc, creating .env.key if no key exists
  envcloak encrypt .env.production -f .env.production.enc
  envcloak encrypt --password        derive the key from a passphrase (PBKDF2)")]
    Encrypt(secrets::EncryptArgs),
    /// Decrypt .env.enc to standard output (or a file with -o)
    #[command(after_help = "\
Examples:
  envcloak decrypt                   print the plaintext
  envcloak decrypt --format json     as a JSON object
  envcloak decrypt -o .env           write .env (refuses to overwrite without --force)")]
    Decrypt(secrets::DecryptArgs),
    /// Edit .env.enc in $VISUAL/$EDITOR through a private temporary file
    #[command(after_help = "\
Examples:
  envcloak edit
  EDITOR=nano envcloak edit -f .env.production.enc")]
    Edit(secrets::EditArgs),
    /// Set one entry of .env.enc (value from the argument, stdin, or a prompt)
    #[command(after_help = "\
Examples:
  envcloak set API_TOKEN              prompt without echo
  printf %s \"$TOKEN\" | envcloak set API_TOKEN
  envcloak set DEBUG false")]
    Set(secrets::SetArgs),
    /// Remove one entry from .env.enc
    #[command(after_help = "Example:\n  envcloak unset OLD_TOKEN")]
    Unset(secrets::UnsetArgs),
    /// Print one effective value (environment > .env > .env.enc)
    #[command(after_help = "\
Examples:
  envcloak get DATABASE_URL
  psql \"$(envcloak get DATABASE_URL)\"")]
    Get(run::GetArgs),
    /// List every effective key and where it comes from (values redacted)
    #[command(after_help = "\
Examples:
  envcloak ls
  envcloak ls --show                 include values
  envcloak ls --format json")]
    Ls(run::LsArgs),
    /// Run a command with the layered configuration in its environment
    #[command(after_help = "\
Examples:
  envcloak run -- cargo test
  ENVCLOAK_KEY=... envcloak run -- ./server --port 8080")]
    Run(run::RunArgs),
    /// New key first in the keyring, file re-encrypted; old key kept until --drop-old
    #[command(after_help = "\
Examples:
  envcloak rotate --write            new key in .env.key (as new,old), file re-encrypted
  envcloak rotate                    print the new keyring once (for a CI secret)
  envcloak rotate --drop-old --write re-encrypt with the first key, forget the others")]
    Rotate(secrets::RotateArgs),
    /// Check .env/.env.enc against .env.example, syntax, git and permissions
    #[command(after_help = "\
Examples:
  envcloak check
  envcloak check --strict --format json   (warnings fail too; for CI)")]
    Check(team::CheckArgs),
    /// Create .env from .env.example, generating the values it marks
    #[command(after_help = "\
Examples:
  envcloak init                      .env from .env.example, fresh secrets
  envcloak init --force              replace .env (the old one is kept as a backup)
  envcloak init --encrypt            write .env.enc instead")]
    Init(team::InitArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.global;
    let result = match cli.command {
        Command::Keygen(a) => secrets::keygen(g, a),
        Command::Token(a) => secrets::token(a),
        Command::Encrypt(a) => secrets::encrypt(g, a),
        Command::Decrypt(a) => secrets::decrypt(g, a),
        Command::Edit(a) => secrets::edit(g, a),
        Command::Set(a) => secrets::set(g, a),
        Command::Unset(a) => secrets::unset(g, a),
        Command::Rotate(a) => secrets::rotate(g, a),
        Command::Get(a) => run::get(g, a),
        Command::Ls(a) => run::ls(g, a),
        Command::Run(a) => run::run(g, a),
        Command::Check(a) => team::check(g, a),
        Command::Init(a) => team::init(g, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            ui::report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Output formats for commands that print configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// dotenv text
    Dotenv,
    /// a JSON object
    Json,
    /// `export KEY='value'` lines for `eval`
    Shell,
}
