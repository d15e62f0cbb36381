//! check, init: the team workflow around `.env.example`.

use std::process::ExitCode;

use clap::Args;

use crate::Global;
use crate::ui::{CmdResult, Failure};

/// `check`
#[derive(Args)]
pub struct CheckArgs {
    /// Warnings fail too
    #[arg(long)]
    strict: bool,
}

/// `init`
#[derive(Args)]
pub struct InitArgs {
    /// Replace an existing .env (kept as a timestamped backup)
    #[arg(long)]
    force: bool,
}

pub fn check(_: &Global, _: CheckArgs) -> CmdResult {
    Err(Failure::new("check: not built yet"))
}

pub fn init(_: &Global, _: InitArgs) -> CmdResult {
    Ok(ExitCode::FAILURE)
}
