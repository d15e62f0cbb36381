//! `envcloak diff`: which keys changed (names only) between revisions, a
//! revision and the work tree, or `.env` and `.env.enc`.

use clap::Args;

use crate::Global;
use crate::ui::{CmdResult, Failure};

/// `diff`
#[derive(Args)]
pub struct DiffArgs {
    /// No revision: HEAD against the work tree; one: that revision against
    /// the work tree; two: the first against the second
    #[arg(num_args = 0..=2, value_name = "REV")]
    revs: Vec<String>,
}

pub fn diff(_g: &Global, _a: DiffArgs) -> CmdResult {
    Err(Failure::new("diff: not built yet"))
}
