//! Model check of the hand-off: `RUSTFLAGS="--cfg loom" cargo test -p handoff --profile loom`.
#![cfg(loom)]

use handoff::Gate;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// Two messages race a passivation. Each message is handled exactly once: by the old actor if
/// it got in before the gate closed, else by a fresh activation; and the gate never closes
/// while a message is inside.
#[test]
fn a_message_racing_passivation_is_handled_exactly_once() {
    let mut model = loom::model::Builder::new();
    // Bounded preemption keeps the search to seconds while still covering every interleaving
    // of the three operations that matters (each thread does at most two atomic steps).
    model.preemption_bound = Some(3);
    model.check(|| {
        let gate = Arc::new(Gate::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let by_old = Arc::new(AtomicUsize::new(0));
        let by_new = Arc::new(AtomicUsize::new(0));

        let senders: Vec<_> = (0..2)
            .map(|_| {
                let (gate, inside, by_old, by_new) =
                    (gate.clone(), inside.clone(), by_old.clone(), by_new.clone());
                thread::spawn(move || {
                    if gate.enter() {
                        inside.fetch_add(1, Ordering::SeqCst);
                        by_old.fetch_add(1, Ordering::SeqCst);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        gate.exit();
                    } else {
                        by_new.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();

        let passivator = {
            let (gate, inside) = (gate.clone(), inside.clone());
            thread::spawn(move || {
                if gate.try_close() {
                    assert_eq!(
                        inside.load(Ordering::SeqCst),
                        0,
                        "closed with a message inside"
                    );
                    true
                } else {
                    false
                }
            })
        };

        for s in senders {
            s.join().unwrap();
        }
        let closed = passivator.join().unwrap();
        assert_eq!(
            by_old.load(Ordering::SeqCst) + by_new.load(Ordering::SeqCst),
            2
        );
        if !closed {
            assert_eq!(by_new.load(Ordering::SeqCst), 0, "refused while open");
        }
        assert_eq!(gate.in_flight(), 0);
    });
}
