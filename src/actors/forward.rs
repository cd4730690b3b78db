//! Routing in a cluster: a message for an order whose slot another node holds is forwarded to
//! that node over internal HTTP (`POST /internal/v1/orders/{id}/submit`), with the epoch this
//! node saw it hold the slot at and the cluster's shared secret. The owner checks both, submits
//! the message to its own actor and answers what became of it ([`Answer`]), so a forwarded
//! webhook or command answers its caller as if it had reached the owner: a refusal is the same
//! refusal. No answer within 2 s, or an owner that no longer holds the slot at that epoch, is
//! [`Error::Unreachable`] (the webhook route parks the message for the slot's next owner).

use std::time::Duration;

use metrics::counter;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Envelope, Error, RegistryHandle, Reply};
use crate::cluster::Membership;
use crate::domain::{OrderId, Rejection};
use crate::persistence::{self, Database};
use crate::telemetry::metrics::{CLUSTER_FORWARDED_TOTAL, CLUSTER_PARKED_TOTAL};

/// How often a node looks for messages parked for its slots.
const PARKED_EVERY: Duration = Duration::from_millis(500);

/// How long a forwarded message waits for the owner's answer.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// The header that carries the cluster's shared secret.
pub const SECRET_HEADER: &str = "x-creatorflow-cluster-secret";

/// What one node forwards to another: the message, and the epoch the sender saw the receiver
/// hold the order's slot at.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    pub epoch: i64,
    pub envelope: Envelope,
}

/// What the owner answers.
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

/// This node's way to the others.
#[derive(Clone)]
pub struct Forwarder {
    membership: Membership,
    secret: SecretString,
    http: reqwest::Client,
}

impl Forwarder {
    pub fn new(membership: Membership, secret: SecretString) -> Result<Self, reqwest::Error> {
        crate::integrations::install_tls();
        for outcome in ["answered", "unreachable"] {
            counter!(CLUSTER_FORWARDED_TOTAL, "outcome" => outcome).increment(0);
        }
        Ok(Self {
            membership,
            secret,
            http: reqwest::Client::builder()
                .timeout(FORWARD_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
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
        let sent = self
            .http
            .post(format!("{}/internal/v1/orders/{id}/submit", owner.url))
            .header(SECRET_HEADER, self.secret.expose_secret())
            .json(&Forwarded {
                epoch: owner.epoch,
                envelope,
            })
            .send()
            .await;
        let answer = match sent {
            Ok(response) if response.status().is_success() => response.json::<Answer>().await,
            Ok(response) => {
                tracing::warn!(slot, status = %response.status(), url = %owner.url, "cluster: the slot's owner refused a forwarded message");
                return Err(unreachable());
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(answer) => {
                counter!(CLUSTER_FORWARDED_TOTAL, "outcome" => "answered").increment(1);
                match answer {
                    Answer::Done(reply) => Ok(reply),
                    Answer::Rejected(rejection) => Err(Error::Rejected(rejection)),
                    Answer::NotOwner => Err(Error::Unreachable { slot }),
                    Answer::Unavailable(why) => Err(Error::Remote(why)),
                }
            }
            Err(e) => {
                tracing::warn!(slot, error = %e, url = %owner.url, "cluster: the slot's owner did not answer");
                Err(unreachable())
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
