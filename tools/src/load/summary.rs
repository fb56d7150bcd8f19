//! `summary.json`: what a run measured, the one type the output and the tables read.

use super::resources::Usage;
use super::stats::ProfileSummary;
use serde::Serialize;

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// When the run started (RFC 3339, this machine's clock).
    pub started_at: String,
    pub api: String,
    /// What ran: `in-process` (one process), `processes` (worker processes) or `external`.
    pub topology: String,
    /// `sqlite`, `mysql`, or `unknown` for an external API.
    pub backend: String,
    /// `services` or `lean` (`external` for an external API).
    pub participant: String,
    pub mix: String,
    /// Injected transient error rate of the payment service during the run.
    pub payment_error_rate: f64,
    pub seed: u64,
    pub profiles: Vec<ProfileSummary>,
    /// The no-engine baseline measured in the same run (MariaDB only).
    pub baseline: Option<crate::baseline::Report>,
    /// What the baseline cost per purchase, measured like the profiles.
    pub baseline_resources: Option<Usage>,
    /// The lean participant's ledger checked against the workflows (lean only).
    pub participant_ledger: Option<super::against::LedgerCheck>,
    /// The workers' circuit breakers over the run, per worker and service (empty when no
    /// worker's metrics could be read).
    pub breakers: Vec<super::breakers::BreakerReport>,
    pub notes: Vec<String>,
}
