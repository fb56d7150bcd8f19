//! The participants of a self-started system, in this process: the user, payment and order
//! services on their own databases, or the lean participant answering for all three.

use super::Databases;
use crate::participant::Participant;
use anyhow::Context;
use services::Service;
use std::net::SocketAddr;
use worker::Services;

/// Database connections of the lean participant (the three services have 16 each).
const LEAN_CONNECTIONS: u32 = 32;

pub(super) enum Participants {
    Services(Vec<(Service, services::Running)>),
    Lean(crate::lean::Running),
}

impl Participants {
    pub(super) async fn start(
        participant: Participant,
        databases: &Databases,
    ) -> anyhow::Result<Participants> {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        match participant {
            Participant::Lean => {
                let lean = crate::lean::spawn(&databases.lean, LEAN_CONNECTIONS, any_port)
                    .await
                    .with_context(|| {
                        format!("starting the lean participant on {}", databases.lean)
                    })?;
                Ok(Participants::Lean(lean))
            }
            Participant::Services => {
                let urls = &databases.urls;
                let mut running = Vec::new();
                for (service, url) in [
                    (Service::User, &urls.user),
                    (Service::Payment, &urls.payment),
                    (Service::Order, &urls.order),
                ] {
                    engine::store::ensure_database(url)
                        .await
                        .with_context(|| format!("creating {url}"))?;
                    let mut c = services::Config::new(url.clone());
                    c.admin_enabled = true;
                    let state = services::AppState::connect(service, &c, None).await?;
                    running.push((service, services::spawn(state, any_port).await?));
                }
                Ok(Participants::Services(running))
            }
        }
    }

    /// Where the workers find each service (all three at the lean participant's URL).
    pub(super) fn services(&self) -> Services {
        let mut map = Services::default();
        for service in Service::ALL {
            let url = match self {
                Participants::Services(running) => running
                    .iter()
                    .find(|(s, _)| *s == service)
                    .map(|(_, r)| r.url())
                    .expect("every service runs"),
                Participants::Lean(lean) => lean.url(),
            };
            map.insert(service.name(), url);
        }
        map
    }

    pub(super) async fn stop(self) -> anyhow::Result<()> {
        match self {
            Participants::Services(running) => {
                for (_, r) in running {
                    r.stop().await?;
                }
            }
            Participants::Lean(lean) => lean.stop().await.context("the lean participant")?,
        }
        Ok(())
    }
}
