//! Log positions: handed out to batches as they form, and the watermark below which every
//! position is settled.
//!
//! Several batches may be in flight at once (PostgreSQL), so positions can commit out of
//! order. [`Positions`] knows which batches are in flight: every position below the oldest of
//! them is settled (committed, or never will be).
//!
//! A single node hands out positions after the log's end at start-up and publishes that
//! watermark itself. Several nodes draw positions in **blocks** from one shared row
//! (`log_head`, see `persistence::cluster`) and each says in its `cluster_nodes` row the
//! lowest position it may still write (its *floor*); the watermark every node reads is then
//! the lowest of the head and the floors of the nodes that hold slots. A node draws a fresh
//! block after every slot it takes (its old block may lie below what the others have read
//! since), and gives its block up when it has nothing in flight, so an idle node never holds
//! the others' readers back.
//!
//! A node's floor is said by two statements that do not wait for each other: drawing a block
//! says it in the same statement, and a publisher says it every 50 ms. Neither may leave the
//! row claiming less than the node may write. Every floor the publisher sees is one the node
//! may say: the oldest batch in flight only rises, and a block being drawn hides the floor
//! until it is handed out ([`Floor`]).

use std::collections::BTreeMap;

use tokio::sync::watch;

/// Positions a node draws at a time (more when one batch needs more).
pub(super) const BLOCK: i64 = 4096;

pub(super) struct Positions {
    /// The next position to hand out.
    next: i64,
    /// Cluster mode: the block being handed out (`None`: a block must be drawn first).
    block: Option<Block>,
    /// Whether positions come in blocks (cluster mode) or without end (a single node).
    blocks: bool,
    /// The first position of every batch being written, with how many batches start there (a
    /// batch that writes no row starts where the next one does).
    in_flight: BTreeMap<i64, usize>,
    /// A single node's watermark, published after every batch (`None` in cluster mode: the
    /// watermark comes from the database).
    committed: Option<watch::Sender<i64>>,
    /// Cluster mode: a block is being drawn (between a failed [`Positions::take`] and
    /// [`Positions::refill`] or [`Positions::not_drawn`]).
    drawing: bool,
    /// Cluster mode: how many blocks have been handed out.
    draws: u64,
}

/// A cluster node's floor as seen at one moment, for its publisher to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Floor {
    /// The oldest batch in flight; `None`: nothing in flight and the block given up, so the
    /// node writes nothing below the head, unless a block drawn since says otherwise (its
    /// floor is at least `next`).
    pub(super) oldest: Option<i64>,
    /// The next position the node would have handed out.
    pub(super) next: i64,
    /// Blocks handed out so far: a publisher that saw the same floor and the same number of
    /// draws last time has nothing new to say.
    pub(super) draws: u64,
}

#[derive(Clone, Copy)]
struct Block {
    /// The first position past it.
    end: i64,
    /// The membership's generation when it was drawn (see `Membership::generation`).
    generation: u64,
}

impl Positions {
    /// A single node's positions, after the log's `end`, publishing its watermark to
    /// `committed`.
    pub(super) fn after(end: i64, committed: watch::Sender<i64>) -> Self {
        Self {
            next: end + 1,
            block: None,
            blocks: false,
            in_flight: BTreeMap::new(),
            committed: Some(committed),
            drawing: false,
            draws: 0,
        }
    }

    /// A cluster node's positions: none until it draws a block.
    pub(super) fn in_blocks() -> Self {
        Self {
            next: 0,
            block: None,
            blocks: true,
            in_flight: BTreeMap::new(),
            committed: None,
            drawing: false,
            draws: 0,
        }
    }

    /// Hands out `rows` positions to a batch about to be written; returns the first. `None`
    /// (cluster mode) when the block does not hold them or was drawn before the membership's
    /// `generation`: draw one, then hand it out with [`Positions::refill`] (or say it was not
    /// drawn, [`Positions::not_drawn`]). A batch that writes no row needs no block.
    pub(super) fn take(&mut self, rows: i64, generation: u64) -> Option<i64> {
        if self.blocks
            && rows > 0
            && !self
                .block
                .is_some_and(|b| b.generation == generation && self.next + rows <= b.end)
        {
            self.drawing = true;
            return None;
        }
        let first = self.next;
        self.next += rows;
        *self.in_flight.entry(first).or_default() += 1;
        Some(first)
    }

    /// Hands out the `size` positions from `first` on, drawn at `generation`.
    pub(super) fn refill(&mut self, first: i64, size: i64, generation: u64) {
        self.next = first;
        self.block = Some(Block {
            end: first + size,
            generation,
        });
        self.drawing = false;
        self.draws += 1;
    }

    /// The block asked for could not be drawn.
    pub(super) fn not_drawn(&mut self) {
        self.drawing = false;
    }

    /// The oldest position of a batch still in flight.
    pub(super) fn oldest_in_flight(&self) -> Option<i64> {
        self.in_flight.first_key_value().map(|(first, _)| *first)
    }

    /// The lowest position this node may still write, to say in its `cluster_nodes` row: the
    /// oldest batch in flight; with nothing in flight the block is given up (the next batch
    /// draws a fresh one) and the node writes nothing below the head. `None` while a block is
    /// being drawn: the draw says the floor, and what could be seen now would be out of date
    /// the moment the block is handed out.
    pub(super) fn floor(&mut self) -> Option<Floor> {
        if self.drawing {
            return None;
        }
        let oldest = self.oldest_in_flight();
        if oldest.is_none() {
            self.block = None;
        }
        Some(Floor {
            oldest,
            next: self.next,
            draws: self.draws,
        })
    }

    /// The batch that started at `first` is written (or failed for good): below the oldest
    /// batch still in flight, everything is settled.
    pub(super) fn settle(&mut self, first: i64) {
        if let Some(count) = self.in_flight.get_mut(&first) {
            *count -= 1;
            if *count == 0 {
                self.in_flight.remove(&first);
            }
        }
        let Some(committed) = &self.committed else {
            return;
        };
        let watermark = match self.oldest_in_flight() {
            Some(oldest) => oldest - 1,
            None => self.next - 1,
        };
        committed.send_if_modified(|w| {
            let moved = watermark > *w;
            if moved {
                *w = watermark;
            }
            moved
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(end: i64) -> (Positions, watch::Receiver<i64>) {
        let (committed, watermark) = watch::channel(end);
        (Positions::after(end, committed), watermark)
    }

    #[test]
    fn the_watermark_waits_for_a_batch_that_commits_late_with_smaller_positions() {
        let (mut p, watermark) = positions(10);
        let early = p.take(3, 0).unwrap(); // 11..=13
        let late = p.take(2, 0).unwrap(); // 14..=15
        assert_eq!((early, late), (11, 14));
        // The later batch commits first: nothing past 10 is settled yet.
        p.settle(late);
        assert_eq!(*watermark.borrow(), 10);
        p.settle(early);
        assert_eq!(*watermark.borrow(), 15);
    }

    #[test]
    fn a_batch_that_writes_nothing_does_not_release_the_batch_sharing_its_start() {
        let (mut p, watermark) = positions(0);
        let empty = p.take(0, 0).unwrap();
        let full = p.take(4, 0).unwrap();
        assert_eq!(empty, full, "both start at 1");
        p.settle(empty);
        assert_eq!(*watermark.borrow(), 0, "the full batch is still in flight");
        p.settle(full);
        assert_eq!(*watermark.borrow(), 4);
    }

    #[test]
    fn a_cluster_node_takes_positions_only_from_a_block_drawn_since_its_last_slot_taken() {
        let mut p = Positions::in_blocks();
        assert_eq!(p.take(1, 0), None, "no block yet");
        p.refill(100, 10, 0);
        assert_eq!(p.take(6, 0), Some(100));
        assert_eq!(p.take(5, 0), None, "only 4 left in the block");
        assert_eq!(p.take(4, 0), Some(106));
        p.refill(500, 10, 0);
        assert_eq!(
            p.take(1, 1),
            None,
            "a slot was taken since the block was drawn"
        );
        p.refill(900, 10, 1);
        assert_eq!(p.take(1, 1), Some(900));
    }

    #[test]
    fn a_node_says_its_oldest_batch_in_flight_and_gives_its_block_up_when_idle() {
        let mut p = Positions::in_blocks();
        p.refill(100, 10, 0);
        let a = p.take(3, 0).unwrap();
        let b = p.take(3, 0).unwrap();
        assert_eq!(p.floor().unwrap().oldest, Some(100));
        p.settle(a);
        assert_eq!(p.floor().unwrap().oldest, Some(103));
        p.settle(b);
        assert_eq!(
            p.floor(),
            Some(Floor {
                oldest: None,
                next: 106,
                draws: 1
            }),
            "nothing in flight"
        );
        assert_eq!(p.take(1, 0), None, "the block was given up");
    }

    #[test]
    fn a_node_says_no_floor_while_it_draws_a_block() {
        let mut p = Positions::in_blocks();
        assert_eq!(p.take(2, 0), None, "no block yet: drawing one");
        assert_eq!(p.floor(), None, "the draw says the floor");
        p.not_drawn();
        assert_eq!(p.floor().unwrap().oldest, None, "the draw failed");
        assert_eq!(p.take(2, 0), None);
        p.refill(200, 10, 0);
        let first = p.take(2, 0).unwrap();
        assert_eq!(
            p.floor(),
            Some(Floor {
                oldest: Some(first),
                next: 202,
                draws: 1
            })
        );
    }

    #[test]
    fn a_batch_that_writes_no_row_draws_no_block() {
        let mut p = Positions::in_blocks();
        assert_eq!(p.take(0, 0), Some(0));
        assert_eq!(p.floor().unwrap().draws, 0, "nothing was drawn");
    }
}
