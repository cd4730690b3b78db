//! The live stream of what orders do: one reader of the log ([`Hub`]) follows the journal's
//! watermark and fans every audit event out to the connected clients in memory. A client that
//! falls behind is dropped (the engine never waits for one) and reconnects where it was: each
//! event's id is its position in the log, so what it missed is read back from the log.

mod event;
mod hub;

pub use event::{JobProgress, Kind, LiveEvent};
pub use hub::{Hub, REPLAY_WINDOW};
