//! Routing in a cluster: a message for an order whose slot another node holds is forwarded to
//! that node over internal HTTP, with the epoch this node saw it hold the slot at and the
//! cluster's shared secret. The owner checks both, submits the message to its own actor and
//! answers what became of it ([`Answer`]), so a forwarded webhook or command answers its caller
//! as if it had reached the owner: a refusal is the same refusal. No answer within 2 s, or an
//! owner that no longer holds the slot at that epoch, is [`Error::Unreachable`] (the webhook
//! route parks the message for the slot's next owner).
//!
//! Messages to one node travel together: each node has a lane here (a [`Batcher`] keyed by the
//! node's URL), and while a lane's request is in flight the messages that arrive meanwhile wait
//! for the next one (`POST /internal/v1/submit`, a list of messages answered by a list of
//! answers), as the journal's group commit gathers commits. Under load one request carries many
//! messages; an idle lane sends a message at once, and stops after a minute without any.

use std::time::Duration;

use metrics::{counter, histogram};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Batcher, Envelope, Error, RegistryHandle, Reply};
use crate::cluster::Membership;
use crate::domain::{OrderId, Rejection};
use crate::persistence::{self, Database};
use crate::telemetry::metrics::{
    CLUSTER_FORWARD_BATCH_SIZE, CLUSTER_FORWARDED_TOTAL, CLUSTER_PARKED_TOTAL,
};

/// How often a node looks for messages parked for its slots.
const PARKED_EVERY: Duration = Duration::from_millis(500);

/// How long a forwarded message waits for the owner's answer.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// The most messages one request carries.
pub const MAX_FORWARD_BATCH: usize = 256;

/// The header that carries the cluster's shared secret.
pub const SECRET_HEADER: &str = "x-creatorflow-cluster-secret";

/// One message one node forwards to another: the order, the message, and the epoch the sender
/// saw the receiver hold the order's slot at.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    pub order_id: String,
    pub epoch: i64,
    pub envelope: Envelope,
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
    /// A lane per node URL: one request in flight, what arrives meanwhile in the next. (Four
    /// requests in flight made batches of two messages and gained nothing; see
    /// docs/PERFORMANCE.md, "Session 20".)
    lanes: Batcher<String, Pending>,
}

impl Forwarder {
    pub fn new(membership: Membership, secret: SecretString) -> Result<Self, reqwest::Error> {
        crate::integrations::install_tls();
        for outcome in ["answered", "unreachable"] {
            counter!(CLUSTER_FORWARDED_TOTAL, "outcome" => outcome).increment(0);
        }
        let http = reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let lanes = Batcher::new(Duration::ZERO, MAX_FORWARD_BATCH, {
            let secret = secret.clone();
            move |url: String, batch| {
                let (http, secret) = (http.clone(), secret.clone());
                async move { send_batch(&http, &url, &secret, batch).await }
            }
        });
        Ok(Self {
            membership,
            secret,
            lanes,
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
            counter!(CLUSTER_FORWARDED_TOTAL, "outcome" => "unreachable").increment(1);
            Error::Unreachable { slot }
        };
        let Some(owner) = self.membership.owner(slot) else {
            return Err(unreachable());
        };
        let (answer, answered) = oneshot::channel();
        let message = Forwarded {
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
                counter!(CLUSTER_FORWARDED_TOTAL, "outcome" => "answered").increment(1);
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

/// One request carrying `batch` to the node at `url`; each message's sender gets its answer, or
/// `None` if the node did not answer them all. A message whose sender stopped waiting (2 s
/// passed: its webhook was parked, its command answered that the owner is unreachable) is not
/// sent.
async fn send_batch(http: &reqwest::Client, url: &str, secret: &SecretString, batch: Vec<Pending>) {
    let batch: Vec<Pending> = batch
        .into_iter()
        .filter(|p| !p.answer.is_closed())
        .collect();
    if batch.is_empty() {
        return;
    }
    let endpoint = format!("{url}/internal/v1/submit");
    histogram!(CLUSTER_FORWARD_BATCH_SIZE).record(batch.len() as f64);
    let (messages, answers): (Vec<Forwarded>, Vec<_>) =
        batch.into_iter().map(|p| (p.message, p.answer)).unzip();
    let sent = http
        .post(&endpoint)
        .header(SECRET_HEADER, secret.expose_secret())
        .json(&messages)
        .send()
        .await;
    let answered = match sent {
        Ok(response) if response.status().is_success() => response
            .json::<Vec<Answer>>()
            .await
            .map_err(|e| e.to_string()),
        Ok(response) => Err(format!("answered {}", response.status())),
        Err(e) => Err(e.to_string()),
    };
    match answered {
        Ok(replies) if replies.len() == answers.len() => {
            for (answer, reply) in answers.into_iter().zip(replies) {
                let _ = answer.send(Some(reply));
            }
        }
        outcome => {
            let why = outcome.map_or_else(
                |e| e,
                |r| format!("{} answers to {}", r.len(), answers.len()),
            );
            tracing::warn!(endpoint, messages = answers.len(), error = %why, "cluster: a node did not answer forwarded messages");
            for answer in answers {
                let _ = answer.send(None);
            }
        }
    }
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
