//! Notices a stdout closed by the target while the sync is not writing to it.
//!
//! A write to a closed pipe fails at once, and the sync ends with the closed-stdout error.
//! But between writes the tap may be waiting out a 429 or a backoff for minutes, retrying for
//! a target that has already exited. The write end of a pipe whose reader is gone polls as
//! an error, so a check every half second ends such a sync as soon as the target is gone.

use std::time::Duration;

/// How often stdout is checked.
const EVERY: Duration = Duration::from_millis(500);

/// Resolves once stdout is a pipe (or socket) whose reading end was closed; never for a
/// terminal, a file or `/dev/null`.
pub async fn closed() {
    loop {
        tokio::time::sleep(EVERY).await;
        if reader_gone() {
            return;
        }
    }
}

#[cfg(unix)]
fn reader_gone() -> bool {
    let mut stdout = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        // Asked for writability: some systems report nothing for a descriptor polled for
        // no event. The answer looked at is the error or hang-up, which is always reported.
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: `poll` gets one valid, exclusively borrowed `pollfd` and its count, and a zero
    // timeout; it reads and writes only that struct.
    let ready = unsafe { libc::poll(&mut stdout, 1, 0) };
    ready > 0 && stdout.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

#[cfg(not(unix))]
fn reader_gone() -> bool {
    false
}
