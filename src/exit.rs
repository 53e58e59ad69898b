//! The one exit-code policy of every binary:
//! 0 success, 1 the input was read but is invalid or the result failed (a
//! bad definition or lock, helm failed, the demo failed), 2 usage or
//! environment (bad flags, I/O, no cluster). Each binary decides its code
//! in one place, from these.

use std::process::ExitCode;

/// Exit code for success.
pub const OK: u8 = 0;
/// Exit code when the input was read but is invalid, or the result failed.
pub const INVALID: u8 = 1;
/// Exit code for usage and environment errors (flags, I/O, the cluster).
pub const USAGE: u8 = 2;

/// Reports an error on stderr and returns the usage/environment exit code.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(USAGE)
}

/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;
