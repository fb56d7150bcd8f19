//! `sagaflow service <name>`: one participant service on its own database.

use crate::duration::{self, HumanDuration};
use crate::settings::{HttpLimits, ServerTls};
use crate::telemetry::{metrics, shutdown_signal};
use std::net::SocketAddr;

/// Flags of `sagaflow service <name>`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServiceArgs {
    /// Which participant: user, payment or order.
    pub name: String,
    /// This service's own database (mysql://…/user_service, sqlite://…).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// HTTP address to listen on.
    #[arg(long, env = "SAGAFLOW_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Mount /admin/* (bulk creation, ledgers, fault injection). Off by default.
    #[arg(long, env = "SAGAFLOW_ADMIN", default_value_t = false)]
    pub admin: bool,
    /// Fault injection: share of requests answered 503 before doing anything (0..1).
    #[arg(long, env = "SAGAFLOW_FAULT_ERROR_RATE", default_value_t = 0.0)]
    pub fault_error_rate: f64,
    /// Fault injection: latency added to every request (a bare number is milliseconds).
    #[arg(
        long,
        visible_alias = "fault-latency-ms",
        env = "SAGAFLOW_FAULT_LATENCY_MS",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::ZERO
    )]
    pub fault_latency: HumanDuration,
    /// Fault injection: share of requests that commit, then answer 503 (0..1).
    #[arg(
        long,
        env = "SAGAFLOW_FAULT_DROP_AFTER_COMMIT_RATE",
        default_value_t = 0.0
    )]
    pub fault_drop_after_commit_rate: f64,
    #[command(flatten)]
    pub http: HttpLimits,
    #[command(flatten)]
    pub tls: ServerTls,
}

/// `sagaflow service <name>`: one participant service.
pub async fn service(args: ServiceArgs) -> anyhow::Result<()> {
    let service: services::Service = args.name.parse()?;
    args.http.validate()?;
    let tls = args.tls.load()?;
    let mut config = services::Config::new(args.database_url.clone());
    config.listen = args.listen;
    config.admin_enabled = args.admin;
    config.limits = args.http.limits();
    config.tls = tls;
    config.faults = services::faults::Faults {
        error_rate: args.fault_error_rate,
        latency_ms: args.fault_latency.as_millis(),
        drop_after_commit_rate: args.fault_drop_after_commit_rate,
        ..services::faults::Faults::default()
    };
    services::run(service, config, Some(metrics()), shutdown_signal()).await?;
    Ok(())
}
