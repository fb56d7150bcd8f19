//! `sagaflow`: parses flags (with environment fallbacks) and runs one subcommand. Errors
//! print as one line and exit 1. The one place that sees both the roles (`sagaflow-roles`)
//! and the tools (`sagaflow-tools`): it dispatches to them.

use clap::{Parser, Subcommand};
use roles::telemetry::{init_logs, LogFormat};
use roles::{demo, dev};
use tools::bench;

#[derive(Parser)]
#[command(
    name = "sagaflow",
    version,
    about = "Durable saga / TCC workflows on MySQL or SQLite"
)]
struct Cli {
    /// Log format: text for people, json for containers. RUST_LOG filters.
    #[arg(long, global = true, env = "SAGAFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process on SQLite files under ./data: API, workers, the three services.
    Dev(dev::DevArgs),
    /// Run the README's purchase cases and print what happened (starts `dev` unless --api).
    Demo(demo::DemoArgs),
    /// The HTTP API: submit, query, abort, retry, workflow types, /metrics.
    Server(roles::ServerArgs),
    /// One stateless worker: claims, executes and journals activities. Scale by running more.
    Worker(roles::WorkerArgs),
    /// One participant service (user, payment or order) on its own database.
    Service(roles::ServiceArgs),
    /// Apply a database's migrations (creating it if missing).
    Migrate(roles::MigrateArgs),
    /// Load with faults: kill and freeze workers, fail and drop participant answers, repeat submits; then reconcile.
    Chaos(tools::chaos::ChaosArgs),
    /// Check the saga journal against every participant's ledger; exit 1 on any mismatch.
    Reconcile(tools::reconcile::ReconcileArgs),
    /// Load test through the HTTP API: profiles, results directory with JSON, CSV and PNG charts.
    Load(tools::load::LoadArgs),
    /// Exit 0 when a URL answers 2xx within 2 s (container health checks without curl).
    Probe {
        /// The URL to GET, e.g. http://127.0.0.1:8080/healthz.
        url: String,
        /// For an https:// URL: trust the CA certificates in this PEM file.
        #[arg(long, env = "SAGAFLOW_PROBE_CA", value_name = "PATH")]
        ca: Option<std::path::PathBuf>,
        /// Present this client certificate (PEM), for a server that asks for one (mTLS).
        #[arg(
            long,
            env = "SAGAFLOW_PROBE_CERT",
            value_name = "PATH",
            requires = "key"
        )]
        cert: Option<std::path::PathBuf>,
        /// The client certificate's private key (PEM).
        #[arg(
            long,
            env = "SAGAFLOW_PROBE_KEY",
            value_name = "PATH",
            requires = "cert"
        )]
        key: Option<std::path::PathBuf>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The engine alone: purchase workflows with an in-process no-op executor.
    Engine(bench::EngineArgs),
    /// One purchase at a time through API, worker process and services: latency figures.
    E2e(tools::bench_e2e::E2eArgs),
    /// Throughput and p99 against sagas in flight and against worker processes (scaling.json, scaling.png).
    Scaling(tools::bench_scaling::ScalingArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Demo(_)
            | Command::Bench { .. }
            | Command::Probe { .. }
            | Command::Load(_)
            | Command::Reconcile(_)
    );
    if !quiet || std::env::var_os("RUST_LOG").is_some() {
        init_logs(cli.log_format);
    }
    let result = match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Server(args) => roles::server(args).await,
        Command::Worker(args) => roles::worker(args).await,
        Command::Service(args) => roles::service(args).await,
        Command::Migrate(args) => roles::migrate(args).await,
        Command::Probe { url, ca, cert, key } => {
            let identity = cert.as_deref().zip(key.as_deref());
            roles::probe(&url, ca.as_deref(), identity).await
        }
        Command::Load(args) => tools::load::run(args).await,
        Command::Reconcile(args) => tools::reconcile::run(args).await,
        Command::Chaos(args) => tools::chaos::run(args).await,
        Command::Bench {
            which: BenchCommand::Engine(args),
        } => bench::engine(args).await,
        Command::Bench {
            which: BenchCommand::E2e(args),
        } => tools::bench_e2e::e2e(args).await,
        Command::Bench {
            which: BenchCommand::Scaling(args),
        } => tools::bench_scaling::scaling(args).await,
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::{Cli, Command};
    use clap::{CommandFactory, Parser};

    /// clap's own consistency checks over every subcommand: no two flags of one command share
    /// a name or an alias, defaults parse, and so on (release builds skip them at run time).
    #[test]
    fn every_subcommand_s_flags_are_consistent() {
        Cli::command().debug_assert();
    }

    /// The README's promise: every flag of the roles, `dev` and `demo` has an environment
    /// fallback (the tools `load`, `chaos`, `reconcile` and `bench` need not).
    #[test]
    fn every_flag_of_the_roles_has_an_environment_fallback() {
        let cli = Cli::command();
        let roles = ["server", "worker", "service", "migrate", "dev", "demo"];
        let mut checked = 0;
        for role in roles {
            let sub = cli
                .find_subcommand(role)
                .unwrap_or_else(|| panic!("no subcommand {role}"));
            let flags = sub.get_arguments().filter(|a| !a.is_positional());
            for arg in flags.filter(|a| !["help", "version"].contains(&a.get_id().as_str())) {
                assert!(
                    arg.get_env().is_some(),
                    "sagaflow {role} --{}: no environment fallback",
                    arg.get_long().unwrap_or_default()
                );
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} flags checked");
        assert!(
            cli.get_arguments().all(|a| a.get_env().is_some()),
            "global flags"
        );
    }

    #[test]
    fn reconcile_database_url_is_the_saga_database_not_the_mysql_server() {
        let cli = Cli::try_parse_from([
            "sagaflow",
            "reconcile",
            "--database-url",
            "mysql://h/saga",
            "--mysql-url",
            "mysql://h",
        ])
        .expect("valid flags");
        let Command::Reconcile(args) = cli.command else {
            panic!("parsed as another subcommand");
        };
        assert_eq!(args.database_url.as_deref(), Some("mysql://h/saga"));
        assert_eq!(args.databases.mysql_url.as_deref(), Some("mysql://h"));
    }
}
