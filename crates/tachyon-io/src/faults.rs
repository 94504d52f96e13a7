//! Fault injection in the manner of SQLite's I/O tests: with the `fault-injection` feature (tests only), the N-th
//! file operation of [`AtomicFile`](crate::AtomicFile) on the calling thread (create, write, seek, sync or rename)
//! fails with an injected error, so that a test can fail every operation of a save in turn (N = 1, 2, 3, ... until
//! the save succeeds) and check that each failure is an error that leaves the old file whole.
//!
//! Allocation failures are not injected: Rust aborts the process on one, which is the case the kill tests cover
//! (a process gone at an arbitrary moment leaves the old file or the new one).
//!
//! Without the feature [`injected`] is an empty inline function.

use std::io;

/// A file operation that can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Creating the temporary file.
    Create,
    /// One `write` call.
    Write,
    /// One `seek` call.
    Seek,
    /// Syncing the data before the rename.
    Sync,
    /// Renaming the temporary file over the target.
    Rename,
}

#[cfg(feature = "fault-injection")]
mod plan {
    use std::cell::Cell;

    thread_local! {
        /// Operations counted since [`fail_nth`](super::fail_nth), and the one to fail (0: none).
        pub static COUNT: Cell<u64> = const { Cell::new(0) };
        pub static FAIL_AT: Cell<u64> = const { Cell::new(0) };
        pub static FAILED: Cell<Option<super::Operation>> = const { Cell::new(None) };
    }
}

/// Makes the `n`-th file operation on this thread from now (1-based) fail with an injected error; counting starts
/// again from zero.
#[cfg(feature = "fault-injection")]
pub fn fail_nth(n: u64) {
    plan::COUNT.with(|c| c.set(0));
    plan::FAIL_AT.with(|c| c.set(n));
    plan::FAILED.with(|c| c.set(None));
}

/// Stops injecting; returns the operations counted since [`fail_nth`] and the one that was failed, if any.
#[cfg(feature = "fault-injection")]
pub fn disarm() -> (u64, Option<Operation>) {
    plan::FAIL_AT.with(|c| c.set(0));
    (plan::COUNT.with(|c| c.get()), plan::FAILED.with(|c| c.take()))
}

/// An injected error if this operation is the one to fail.
#[cfg(feature = "fault-injection")]
pub fn injected(operation: Operation) -> io::Result<()> {
    let at = plan::FAIL_AT.with(|c| c.get());
    if at == 0 {
        return Ok(());
    }
    let n = plan::COUNT.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    if n == at {
        plan::FAILED.with(|c| c.set(Some(operation)));
        return Err(io::Error::other(format!("injected fault: {operation:?} (operation {n})")));
    }
    Ok(())
}

/// Never fails: fault injection is compiled out.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn injected(_operation: Operation) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_atomic;

    #[test]
    fn every_operation_of_a_save_fails_in_turn_and_the_old_file_stays() {
        let dir = std::env::temp_dir().join(format!("tachyon-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        write_atomic(&path, b"old").unwrap();
        let mut failed = Vec::new();
        for n in 1.. {
            fail_nth(n);
            let result = write_atomic(&path, b"new contents");
            let (count, operation) = disarm();
            match result {
                Err(e) => {
                    assert!(e.to_string().contains("injected fault"), "{e}");
                    assert_eq!(std::fs::read(&path).unwrap(), b"old");
                    failed.push(operation.unwrap());
                }
                Ok(()) => {
                    assert_eq!(count, n - 1, "succeeds once every operation has been failed once");
                    break;
                }
            }
            // Nothing left beside the file.
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        }
        assert_eq!(failed, [Operation::Create, Operation::Write, Operation::Sync, Operation::Rename]);
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
