//! Routing in a cluster: a message for an order whose slot another node holds is forwarded to
//! that node over internal HTTP, with the epoch this node saw it hold the slot at and the
//! cluster's shared secret. The owner checks both, submits the message to its own actor and
//! answers what became of it ([`Answer`]), so a forwarded webhook or command answers its caller
//! as if it had reached the owner: a refusal is the same refusal. No answer within 2 s, or an
//! owner that no longer holds the slot at that epoch, is [`Error::Unreachable`] (the webhook
//! route parks the message for the slot's next owner).
//!
//! Messages to one node travel on one long request (a lane per node URL, one of the engine's
//! keyed [`Mailboxes`]): `POST /internal/v1/stream` whose body is a line of JSON per message and
//! whose response is a line per answer, sent as each message's commit is done, in whatever
//! order they finish. Full duplex HTTP/1.1: the owner starts answering before the body ends, and
//! the body never ends while messages keep coming. A message is on its way to the owner's actor
//! as soon as it is written (nothing waits for an earlier request's answers), and what is queued
//! when the lane writes goes in one chunk. The stream ends when the owner ends it (it is
//! stopping: it answers what it read first), when it fails, when an answer is over 2 s late (a
//! stalled owner), or after a minute idle; the messages it did not answer are answered `None`
//! (their callers park or refuse them), and the next message opens a new stream.
//!
//! `POST /internal/v1/submit` (a list of messages answered by a list of answers) is still
//! served, for nodes of earlier versions during a rolling upgrade.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Display;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, Stream, StreamExt};
use metrics::{Counter, Histogram, counter, histogram};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::batcher::IDLE;
use super::{Envelope, Error, Mailboxes, RegistryHandle, Reply};
use crate::cluster::Membership;
use crate::domain::{OrderId, Rejection};
use crate::persistence::{self, Database};
use crate::telemetry::metrics::{
    CLUSTER_FORWARD_BATCH_SIZE, CLUSTER_FORWARD_STREAMS_TOTAL, CLUSTER_FORWARDED_TOTAL,
    CLUSTER_PARKED_TOTAL,
};

/// How often a node looks for messages parked for its slots.
const PARKED_EVERY: Duration = Duration::from_millis(500);

/// How long a forwarded message waits for the owner's answer.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// The most messages one `submit` request carries.
pub const MAX_FORWARD_BATCH: usize = 256;

/// The most messages a stream has unanswered: the lane takes no more from its mailbox until
/// some are answered, and the owner reads no more of the body.
const MAX_UNANSWERED: usize = 1024;

/// The longest line a stream carries (a message or an answer).
const MAX_LINE: usize = 4 << 20;

/// How often a lane checks its stream for late answers.
const STALL_CHECK: Duration = Duration::from_millis(250);

/// Why a stream ended before its lane's inbox closed.
enum Ended {
    /// The owner ended it: it is stopping (its slots move, and the next message finds their
    /// new owner).
    ByOwner,
    Failed(String),
}

/// The header that carries the cluster's shared secret.
pub const SECRET_HEADER: &str = "x-creatorflow-cluster-secret";

/// One message one node forwards to another: the order, the message, and the epoch the sender
/// saw the receiver hold the order's slot at; on a stream, its number there (`seq`), which its
/// answer carries.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    pub order_id: String,
    pub epoch: i64,
    pub envelope: Envelope,
}

fn is_zero(seq: &u64) -> bool {
    *seq == 0
}

/// What the owner answers, for each message.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Done(Reply),
    Rejected(Rejection),
    /// It does not hold the slot at the epoch presented (any more).
    NotOwner,
    /// It could not take the message now (overloaded, stopping, its database down).
    Unavailable(String),
}

impl Answer {
    /// The answer for what the owner's engine said.
    pub fn of(outcome: Result<Reply, Error>) -> Self {
        match outcome {
            Ok(reply) => Answer::Done(reply),
            Err(Error::Rejected(rejection)) => Answer::Rejected(rejection),
            Err(Error::Journal(crate::journal::Error::NotOwner { .. })) => Answer::NotOwner,
            Err(other) => Answer::Unavailable(other.to_string()),
        }
    }
}

/// An answer on a stream: the number of the message it answers.
#[derive(Debug, Serialize, Deserialize)]
struct Answered {
    seq: u64,
    answer: Answer,
}

/// A message waiting in a lane, and where its answer goes (`None`: the owner did not answer).
struct Pending {
    message: Forwarded,
    answer: oneshot::Sender<Option<Answer>>,
}

/// This node's way to the others.
#[derive(Clone)]
pub struct Forwarder {
    membership: Membership,
    secret: SecretString,
    /// A lane per node URL, each with its stream.
    lanes: Mailboxes<String, Pending>,
    /// The forwarded messages' counters by outcome, answered and unreachable (held, not looked
    /// up by name and label for every message).
    answered: Counter,
    unreachable: Counter,
}

impl Forwarder {
    pub fn new(membership: Membership, secret: SecretString) -> Result<Self, reqwest::Error> {
        crate::integrations::install_tls();
        let answered = counter!(CLUSTER_FORWARDED_TOTAL, "outcome" => "answered");
        let unreachable = counter!(CLUSTER_FORWARDED_TOTAL, "outcome" => "unreachable");
        answered.increment(0);
        unreachable.increment(0);
        counter!(CLUSTER_FORWARD_STREAMS_TOTAL).increment(0);
        // No timeout for the whole request: a stream lasts as long as messages keep coming.
        let http = reqwest::Client::builder()
            .connect_timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let lanes = Mailboxes::new({
            let secret = secret.clone();
            move |url: String, inbox| {
                let lane = Lane {
                    endpoint: format!("{url}/internal/v1/stream"),
                    http: http.clone(),
                    secret: secret.clone(),
                    batch_size: histogram!(CLUSTER_FORWARD_BATCH_SIZE),
                };
                lane.run(inbox)
            }
        });
        Ok(Self {
            membership,
            secret,
            lanes,
            answered,
            unreachable,
        })
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Whether `presented` is the cluster's secret (compared in constant time).
    pub fn authentic(&self, presented: &[u8]) -> bool {
        let secret = self.secret.expose_secret().as_bytes();
        bool::from(subtle::ConstantTimeEq::ct_eq(secret, presented))
    }

    /// Sends `envelope` to the node holding `id`'s slot and returns its engine's outcome.
    pub async fn forward(&self, id: &OrderId, envelope: Envelope) -> Result<Reply, Error> {
        let slot = id.slot();
        let unreachable = || {
            self.unreachable.increment(1);
            Error::Unreachable { slot }
        };
        let Some(owner) = self.membership.owner(slot) else {
            return Err(unreachable());
        };
        let (answer, answered) = oneshot::channel();
        let message = Forwarded {
            seq: 0,
            order_id: id.as_str().to_owned(),
            epoch: owner.epoch,
            envelope,
        };
        let forwarded = async {
            self.lanes
                .submit(&owner.url, Pending { message, answer })
                .await;
            answered.await
        };
        match tokio::time::timeout(FORWARD_TIMEOUT, forwarded).await {
            Ok(Ok(Some(answer))) => {
                self.answered.increment(1);
                match answer {
                    Answer::Done(reply) => Ok(reply),
                    Answer::Rejected(rejection) => Err(Error::Rejected(rejection)),
                    Answer::NotOwner => Err(Error::Unreachable { slot }),
                    Answer::Unavailable(why) => Err(Error::Remote(why)),
                }
            }
            _ => Err(unreachable()),
        }
    }
}

/// The way to one node: its stream endpoint, and how to open it.
struct Lane {
    endpoint: String,
    http: reqwest::Client,
    secret: SecretString,
    /// Messages per write.
    batch_size: Histogram,
}

impl Lane {
    /// Streams the inbox's messages to the node, one stream after another, until the inbox is
    /// closed (after a minute without messages).
    async fn run(self, mut inbox: mpsc::Receiver<Pending>) {
        while let Some(first) = inbox.recv().await {
            match self.stream(first, &mut inbox).await {
                Ok(()) => {}
                // It is stopping: its slots move, and the next message finds their new owner.
                Err(Ended::ByOwner) => {
                    tracing::info!(endpoint = %self.endpoint, "cluster: the owner ended a forwarding stream");
                }
                Err(Ended::Failed(why)) => {
                    tracing::warn!(endpoint = %self.endpoint, error = %why, "cluster: a forwarding stream ended");
                }
            }
        }
    }

    /// One stream: writes `first` and what the inbox brings, hands each answer to its sender.
    /// Returns once the inbox closed and every message was answered, or with why it ended
    /// early; either way, every message not answered is answered `None`.
    async fn stream(
        &self,
        first: Pending,
        inbox: &mut mpsc::Receiver<Pending>,
    ) -> Result<(), Ended> {
        counter!(CLUSTER_FORWARD_STREAMS_TOTAL).increment(1);
        let (body, mut chunks) = mpsc::unbounded_channel::<Bytes>();
        let chunks = futures_util::stream::poll_fn(move |cx| {
            chunks.poll_recv(cx).map(|c| c.map(Ok::<_, Infallible>))
        });
        let request = self
            .http
            .post(&self.endpoint)
            .header(SECRET_HEADER, self.secret.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(reqwest::Body::wrap_stream(chunks))
            .send();
        let mut head = std::pin::pin!(request);
        let mut body = Some(body);
        let mut response: Option<reqwest::Response> = None;
        let mut waiting = Waiting::default();
        let mut partial = Vec::new();
        let mut next = Some(first);
        let mut last_sent = Instant::now();
        let mut check = tokio::time::interval(STALL_CHECK);
        let ended = loop {
            if let Some(first) = next.take() {
                // Let this thread's other ready tasks, and sockets newly readable, run first:
                // the requests they carry join this write.
                tokio::task::yield_now().await;
                let chunk = waiting.write(first, inbox, &self.batch_size);
                last_sent = Instant::now();
                if !chunk.is_empty()
                    && body
                        .as_ref()
                        .is_none_or(|b| b.send(Bytes::from(chunk)).is_err())
                {
                    break Err(Ended::Failed("the request ended".to_owned()));
                }
            }
            if body.is_none() && waiting.is_empty() {
                break Ok(());
            }
            tokio::select! {
                biased;
                chunk = async { response.as_mut()?.chunk().await.transpose() }, if response.is_some() => {
                    match chunk {
                        Some(Ok(chunk)) => {
                            if let Err(why) = waiting.answer(&mut partial, &chunk) {
                                break Err(Ended::Failed(why));
                            }
                        }
                        Some(Err(e)) => break Err(Ended::Failed(e.to_string())),
                        None => break Err(Ended::ByOwner),
                    }
                }
                sent = &mut head, if response.is_none() => match sent {
                    Ok(r) if r.status().is_success() => response = Some(r),
                    Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => break Err(Ended::Failed(
                        "answered 401: the owner refused this node's cluster.secret (it must be the same on every node)".into(),
                    )),
                    Ok(r) => break Err(Ended::Failed(format!("answered {}", r.status()))),
                    Err(e) => break Err(Ended::Failed(e.to_string())),
                },
                message = inbox.recv(), if body.is_some() && waiting.len() < MAX_UNANSWERED => match message {
                    Some(message) => next = Some(message),
                    // Closed and empty: end the body; the owner answers what it has.
                    None => body = None,
                },
                _ = check.tick() => {
                    if waiting.oldest().is_some_and(|t| t.elapsed() > FORWARD_TIMEOUT) {
                        break Err(Ended::Failed("an answer is over 2 s late".to_owned()));
                    }
                    if waiting.is_empty() && last_sent.elapsed() > IDLE {
                        // Idle: take no more; what slipped in goes first.
                        inbox.close();
                    }
                }
            }
        };
        waiting.fail_all();
        ended
    }
}

/// A stream's messages not answered yet, by number.
#[derive(Default)]
struct Waiting {
    last_seq: u64,
    answers: HashMap<u64, (oneshot::Sender<Option<Answer>>, Instant)>,
}

impl Waiting {
    fn len(&self) -> usize {
        self.answers.len()
    }

    fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// When the longest-waiting message was written.
    fn oldest(&self) -> Option<Instant> {
        self.answers.values().map(|(_, at)| *at).min()
    }

    /// `first` and what else is queued (while there is room), as lines of one chunk. A message
    /// whose sender stopped waiting (2 s passed: its webhook was parked, its command answered
    /// that the owner is unreachable) is not written.
    fn write(
        &mut self,
        first: Pending,
        inbox: &mut mpsc::Receiver<Pending>,
        batch_size: &Histogram,
    ) -> Vec<u8> {
        let mut chunk = Vec::new();
        let mut written = 0;
        let mut next = Some(first);
        while let Some(mut pending) = next.take() {
            if !pending.answer.is_closed() {
                self.last_seq += 1;
                pending.message.seq = self.last_seq;
                serde_json::to_writer(&mut chunk, &pending.message)
                    .expect("a forwarded message always serialises");
                chunk.push(b'\n');
                self.answers
                    .insert(self.last_seq, (pending.answer, Instant::now()));
                written += 1;
            }
            if self.len() < MAX_UNANSWERED {
                next = inbox.try_recv().ok();
            }
        }
        if written > 0 {
            batch_size.record(written as f64);
        }
        chunk
    }

    /// Hands each whole answer line of `chunk` (after what `partial` kept of the last one) to
    /// its sender.
    fn answer(&mut self, partial: &mut Vec<u8>, chunk: &[u8]) -> Result<(), String> {
        lines(partial, chunk, |line| {
            let answered: Answered = serde_json::from_slice(line)
                .map_err(|e| format!("the owner answered something else: {e}"))?;
            if let Some((answer, _)) = self.answers.remove(&answered.seq) {
                let _ = answer.send(Some(answered.answer));
            }
            Ok(())
        })
    }

    /// Every message not answered: `None`.
    fn fail_all(&mut self) {
        for (_, (answer, _)) in self.answers.drain() {
            let _ = answer.send(None);
        }
    }
}

/// Hands `each` the whole lines `chunk` completes, in order, after what `partial` kept of the
/// last one; keeps the incomplete end in `partial`. A line within `chunk` is handed as a slice of
/// it (only a line begun in an earlier chunk is copied). Stops at the first error of `each`; a
/// line longer than [`MAX_LINE`] is an error.
fn lines(
    partial: &mut Vec<u8>,
    chunk: &[u8],
    mut each: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut rest = chunk;
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        if partial.is_empty() {
            each(&rest[..end])?;
        } else {
            partial.extend_from_slice(&rest[..end]);
            let line = std::mem::take(partial);
            each(&line)?;
        }
        rest = &rest[end + 1..];
    }
    partial.extend_from_slice(rest);
    if partial.len() > MAX_LINE {
        return Err(format!("a line over {MAX_LINE} bytes"));
    }
    Ok(())
}

/// The owner's side of a stream: reads messages from `body` (lines of [`Forwarded`]), submits
/// each to its order's actor if this node still holds its slot at the epoch presented, and
/// sends each answer (a line of [`Answered`]) to `answers` as it comes. Stops reading when the
/// body ends or fails, when a line is not a message, or when `stopping` fires (the node is
/// stopping), and returns once what it read is answered.
pub async fn serve_stream<S, E>(
    mut body: S,
    registry: RegistryHandle,
    mut stopping: crate::shutdown::Stop,
    answers: mpsc::Sender<Bytes>,
) where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let Some(forwarder) = registry.forwarder() else {
        return;
    };
    let membership = forwarder.membership();
    let registry = &registry;
    let mut running = FuturesUnordered::new();
    let mut partial = Vec::new();
    let mut reading = true;
    loop {
        tokio::select! {
            biased;
            Some(first) = running.next(), if !running.is_empty() => {
                // This answer and any others already done, in one chunk.
                let mut chunk: Vec<u8> = first;
                // Let the other actors this thread woke answer first, so their answers join.
                tokio::task::yield_now().await;
                std::future::poll_fn(|cx| {
                    while let Poll::Ready(Some(more)) = running.poll_next_unpin(cx) {
                        chunk.extend_from_slice(&more);
                    }
                    Poll::Ready(())
                })
                .await;
                if answers.send(Bytes::from(chunk)).await.is_err() {
                    return; // The sender is gone.
                }
            }
            () = stopping.stopped(), if reading => reading = false,
            chunk = body.next(), if reading && running.len() < MAX_UNANSWERED => match chunk {
                Some(Ok(chunk)) => {
                    let read = lines(&mut partial, &chunk, |line| {
                        let message = serde_json::from_slice::<Forwarded>(line)
                            .map_err(|e| format!("not a forwarded message: {e}"))?;
                        running.push(answer(registry, membership, message));
                        Ok(())
                    });
                    match read {
                        Ok(()) => {}
                        Err(why) => {
                            tracing::warn!(error = %why, "cluster: a forwarding stream sent something else; reading no more of it");
                            reading = false;
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "cluster: a forwarding stream's body failed");
                    reading = false;
                }
                None => reading = false,
            },
        }
        if !reading && running.is_empty() {
            return;
        }
    }
}

/// What becomes of one forwarded message: submitted to its order's actor here if this node
/// holds the order's slot at the epoch the sender presented, else [`Answer::NotOwner`].
pub async fn outcome(
    registry: &RegistryHandle,
    membership: &Membership,
    id: OrderId,
    epoch: i64,
    envelope: Envelope,
) -> Answer {
    if membership.epoch(id.slot()) == Some(epoch) {
        Answer::of(registry.submit_here(id, envelope).await)
    } else {
        Answer::NotOwner
    }
}

/// What becomes of one forwarded message, as a line of [`Answered`].
async fn answer(registry: &RegistryHandle, membership: &Membership, message: Forwarded) -> Vec<u8> {
    let answer = match OrderId::parse(&message.order_id) {
        Err(e) => Answer::Unavailable(format!("order_id: {e}")),
        Ok(id) => outcome(registry, membership, id, message.epoch, message.envelope).await,
    };
    let mut line = serde_json::to_vec(&Answered {
        seq: message.seq,
        answer,
    })
    .expect("an answer always serialises");
    line.push(b'\n');
    line
}

/// Keeps `envelope` for `id`'s slot, durably: the slot's owner did not answer in time. The
/// slot's owner applies it ([`run_parked`]), deduplicated by its key as always.
pub async fn park(
    db: &Database,
    id: &OrderId,
    envelope: &Envelope,
) -> Result<(), persistence::Error> {
    let message = serde_json::to_string(envelope).expect("an envelope always serialises");
    db.parked().park(id.slot(), id.as_str(), &message).await?;
    counter!(CLUSTER_PARKED_TOTAL, "change" => "parked").increment(1);
    tracing::warn!(order_id = %id, slot = id.slot(), "cluster: message parked for its slot's owner");
    Ok(())
}

/// Applies, every 500 ms until stopped, the messages parked for the slots this node holds; a
/// message leaves the table once its order's actor took it (applied, unchanged or a duplicate).
pub async fn run_parked(registry: RegistryHandle, db: Database, mut stop: crate::shutdown::Stop) {
    let Some(forwarder) = registry.forwarder().cloned() else {
        return;
    };
    counter!(CLUSTER_PARKED_TOTAL, "change" => "parked").increment(0);
    counter!(CLUSTER_PARKED_TOTAL, "change" => "applied").increment(0);
    loop {
        if let Err(e) = apply_parked(&registry, &db, forwarder.membership()).await {
            tracing::warn!(error = %e, "cluster: cannot apply parked messages");
        }
        if stop.sleep(PARKED_EVERY).await {
            return;
        }
    }
}

async fn apply_parked(
    registry: &RegistryHandle,
    db: &Database,
    membership: &Membership,
) -> Result<(), persistence::Error> {
    let slots: Vec<i16> = membership.held().iter().map(|(slot, _)| *slot).collect();
    for parked in db.parked().of_slots(&slots, 500).await? {
        let (id, envelope) = match (
            OrderId::parse(&parked.order_id),
            serde_json::from_str::<Envelope>(&parked.message),
        ) {
            (Ok(id), Ok(envelope)) => (id, envelope),
            (id, envelope) => {
                // Only this code writes the table: a row it cannot read stays for a person.
                tracing::error!(
                    parked = parked.id,
                    order_ok = id.is_ok(),
                    message_ok = envelope.is_ok(),
                    "cluster: a parked message cannot be read; left in parked_messages"
                );
                continue;
            }
        };
        match registry.submit_here(id, envelope).await {
            // A refusal is what the webhook would have met at once: it is done with too.
            outcome @ (Ok(_) | Err(Error::Rejected(_))) => {
                if let Err(refused) = outcome {
                    tracing::warn!(parked = parked.id, error = %refused, "cluster: a parked message was refused by its order");
                }
                db.parked().remove(parked.id).await?;
                counter!(CLUSTER_PARKED_TOTAL, "change" => "applied").increment(1);
            }
            Err(e) => {
                tracing::warn!(parked = parked.id, error = %e, "cluster: a parked message is not applied yet");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole lines `lines` hands out for `chunk`.
    fn whole(partial: &mut Vec<u8>, chunk: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let mut whole = Vec::new();
        lines(partial, chunk, |line| {
            whole.push(line.to_vec());
            Ok(())
        })?;
        Ok(whole)
    }

    #[test]
    fn lines_split_across_chunks_come_out_whole() {
        let mut partial = Vec::new();
        assert_eq!(
            whole(&mut partial, b"{\"seq\":1}\n{\"se").unwrap(),
            [b"{\"seq\":1}".to_vec()]
        );
        assert_eq!(partial, b"{\"se");
        assert!(whole(&mut partial, b"q\":2").unwrap().is_empty());
        assert_eq!(
            whole(&mut partial, b"}\n\n{\"seq\":3}\n").unwrap(),
            [b"{\"seq\":2}".to_vec(), Vec::new(), b"{\"seq\":3}".to_vec()]
        );
        assert!(partial.is_empty());
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused() {
        let mut partial = vec![b'x'; MAX_LINE];
        let refused = whole(&mut partial, b"y").unwrap_err();
        assert!(refused.contains("a line over"), "{refused}");
    }

    #[test]
    fn lines_stop_at_the_first_line_refused() {
        let mut partial = Vec::new();
        let mut seen = Vec::new();
        let refused = lines(&mut partial, b"a\nb\nc\n", |line| {
            seen.push(line.to_vec());
            if line == b"b" {
                return Err("not b".to_owned());
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(refused, "not b");
        assert_eq!(seen, [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn answers_go_to_their_messages_by_number_in_any_order() {
        let mut waiting = Waiting::default();
        let (first, mut first_answer) = oneshot::channel();
        let (second, mut second_answer) = oneshot::channel();
        waiting.answers.insert(1, (first, Instant::now()));
        waiting.answers.insert(2, (second, Instant::now()));
        let mut partial = Vec::new();
        waiting
            .answer(
                &mut partial,
                b"{\"seq\":2,\"answer\":\"not_owner\"}\n{\"seq\":1,",
            )
            .unwrap();
        assert!(matches!(
            second_answer.try_recv(),
            Ok(Some(Answer::NotOwner))
        ));
        assert!(first_answer.try_recv().is_err(), "not answered yet");
        waiting
            .answer(
                &mut partial,
                b"\"answer\":{\"unavailable\":\"stopping\"}}\n",
            )
            .unwrap();
        assert!(matches!(
            first_answer.try_recv(),
            Ok(Some(Answer::Unavailable(why))) if why == "stopping"
        ));
        assert!(waiting.is_empty());
        let refused = waiting.answer(&mut partial, b"<html>\n").unwrap_err();
        assert!(refused.contains("answered something else"), "{refused}");
    }

    #[test]
    fn messages_not_answered_when_a_stream_ends_are_answered_none() {
        let mut waiting = Waiting::default();
        let (sender, mut answer) = oneshot::channel();
        waiting.answers.insert(1, (sender, Instant::now()));
        waiting.fail_all();
        assert!(matches!(answer.try_recv(), Ok(None)));
        assert!(waiting.is_empty());
    }
}
