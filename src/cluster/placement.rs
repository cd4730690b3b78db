//! Which node should own which slot: rendezvous (highest random weight) hashing over the live
//! nodes. Every node computes the same answer from the same list, and a node joining or
//! leaving moves only the slots it gains or loses (~1/N of them), never reshuffles the rest.

/// The node `slot` belongs on, among `nodes`; `None` without nodes.
pub fn owner<'a>(slot: i16, nodes: &[&'a str]) -> Option<&'a str> {
    nodes
        .iter()
        .copied()
        .max_by_key(|node| (weight(node, slot), *node))
}

/// A well-mixed 64-bit weight of (node, slot): FNV-1a over both, then SplitMix64's finalizer
/// (FNV alone leaves the weights of similar names correlated).
fn weight(node: &str, slot: i16) -> u64 {
    let fnv = node
        .bytes()
        .chain(slot.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut z = fnv.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A slot as a node sees it before moving anything.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub slot: i16,
    /// Who the lease row names (live or not).
    pub owner: Option<&'a str>,
    /// The lease has not ended.
    pub live: bool,
    /// This node holds it (knows its epoch).
    pub held: bool,
}

/// What a node does in one round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moves {
    /// Held here but placed on another live node: give back.
    pub release: Vec<i16>,
    /// Placed here and free (never held, released, or the lease ended): take.
    pub acquire: Vec<i16>,
}

/// The moves `me` makes in one round. It gives back at most `max` slots per round, so a join
/// moves working slots in steps, not all at once; it takes every free slot placed on it at
/// once (nobody is working them: a graceful stop or a dead node's expired leases are taken
/// over in one round).
pub fn moves(me: &str, nodes: &[&str], slots: &[Slot<'_>], max: usize) -> Moves {
    let mut moves = Moves::default();
    for s in slots {
        let placed = owner(s.slot, nodes);
        if s.held && placed.is_some_and(|p| p != me) {
            if moves.release.len() < max {
                moves.release.push(s.slot);
            }
        } else if !s.held && placed == Some(me) && (!s.live || s.owner == Some(me)) {
            moves.acquire.push(s.slot);
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(nodes: &[&str]) -> Vec<usize> {
        let mut counts = vec![0; nodes.len()];
        for slot in 0..256 {
            let o = owner(slot, nodes).unwrap();
            counts[nodes.iter().position(|n| *n == o).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn every_slot_has_one_owner_and_the_shares_are_even() {
        let counts = spread(&["node-a", "node-b", "node-c"]);
        assert_eq!(counts.iter().sum::<usize>(), 256);
        assert!(counts.iter().all(|c| (60..=110).contains(c)), "{counts:?}");
        assert_eq!(owner(7, &[]), None);
    }

    #[test]
    fn a_node_leaving_moves_only_its_own_slots() {
        let three = ["node-a", "node-b", "node-c"];
        let two = ["node-a", "node-c"];
        for slot in 0..256 {
            let before = owner(slot, &three).unwrap();
            let after = owner(slot, &two).unwrap();
            if before != "node-b" {
                assert_eq!(before, after, "slot {slot} moved without reason");
            }
        }
    }

    #[test]
    fn the_order_of_the_node_list_does_not_matter() {
        for slot in 0..256 {
            assert_eq!(owner(slot, &["x", "y", "z"]), owner(slot, &["z", "x", "y"]));
        }
    }

    #[test]
    fn a_node_takes_free_slots_placed_on_it_and_gives_back_the_others_in_steps() {
        let nodes = ["node-a", "node-b"];
        let slots: Vec<Slot> = (0..256)
            .map(|slot| Slot {
                slot,
                owner: Some("node-a"),
                live: true,
                held: true,
            })
            .collect();
        // node-a held everything; node-b joined.
        let a = moves("node-a", &nodes, &slots, 32);
        assert_eq!(a.release.len(), 32);
        assert!(a.acquire.is_empty());
        assert!(
            a.release
                .iter()
                .all(|s| owner(*s, &nodes) == Some("node-b"))
        );
        // node-b takes nothing still held live by node-a…
        let b_view: Vec<Slot> = slots.iter().map(|s| Slot { held: false, ..*s }).collect();
        assert!(moves("node-b", &nodes, &b_view, 32).acquire.is_empty());
        // …and a slot once released or expired.
        let freed: Vec<Slot> = b_view
            .iter()
            .map(|s| Slot {
                live: !a.release.contains(&s.slot),
                ..*s
            })
            .collect();
        let b = moves("node-b", &nodes, &freed, 64);
        assert_eq!(b.acquire, a.release);
    }
}
