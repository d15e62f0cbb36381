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

/// Installs the pre-commit hook in the repository whose work tree is `root`
/// (chaining an existing hook, never replacing it). Returns what to tell
/// the user.
pub fn install_hook(_root: &std::path::Path) -> Result<String, Failure> {
    Err(Failure::new("the commit guard is not built yet"))
}

/// Removes the hook `install_hook` put in, restoring a chained hook.
/// Returns what to tell the user, or `None` when there was no hook.
pub fn uninstall_hook(_root: &std::path::Path) -> Result<Option<String>, Failure> {
    Ok(None)
}
