//! The hand-off gate between a live order actor and its passivation.
//!
//! A registry shard routes messages to an order's actor and, when the order has been idle long
//! enough, passivates it (stops the actor; the state stays in SQL). A message must never be lost
//! in that hand-off nor applied twice: it must either reach the old actor, which then finishes it
//! before it can be passivated, or be refused by the old actor's gate so the registry starts a
//! fresh actor that loads the snapshot written after the old one's last commit.
//!
//! [`Gate`] is that rule in one atomic word: the number of messages in flight plus a `closed`
//! bit. `enter` fails once closed; `try_close` succeeds only with nothing in flight, and then no
//! `enter` can succeed. Whoever wins the race, each message is handled exactly once.
//! `RUSTFLAGS="--cfg loom" cargo test -p handoff --profile loom` model-checks it.

mod sync;

use sync::{AtomicU64, Ordering};

const CLOSED: u64 = 1 << 63;

/// Messages in flight to one actor, and whether it is passivating.
#[derive(Debug, Default)]
pub struct Gate {
    /// Low 63 bits: messages handed to the actor and not yet finished. Top bit: closed.
    state: AtomicU64,
}

impl Gate {
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
        }
    }

    /// Registers a message in flight; false if the gate is closed (the actor is passivating).
    pub fn enter(&self) -> bool {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            if current & CLOSED != 0 {
                return false;
            }
            match self.state.compare_exchange(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Marks one message finished (its outcome committed or refused).
    pub fn exit(&self) {
        let before = self.state.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before & !CLOSED > 0, "exit without enter");
    }

    /// Closes the gate if nothing is in flight; true if it is now closed by this call.
    pub fn try_close(&self) -> bool {
        self.state
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Messages in flight now.
    pub fn in_flight(&self) -> u64 {
        self.state.load(Ordering::Acquire) & !CLOSED
    }

    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_gate_closes_only_when_idle_and_then_refuses_entry() {
        let gate = Gate::new();
        assert!(gate.enter());
        assert!(!gate.try_close(), "busy");
        gate.exit();
        assert!(gate.try_close());
        assert!(!gate.enter(), "closed");
        assert!(gate.is_closed());
        assert_eq!(gate.in_flight(), 0);
    }
}
