//! The commit guard (`envcloak git enroll --hook`): a pre-commit hook that
//! refuses staged plaintext env and key files, encrypted files the local
//! key cannot open or that hold conflict markers, and staged files holding
//! a decrypted value (DESIGN §8).

use crate::Global;
use crate::ui::{CmdResult, Failure};

/// `envcloak git pre-commit`, run by the hook.
pub fn pre_commit(_g: &Global) -> CmdResult {
    Err(Failure::new("git pre-commit: not built yet"))
}
