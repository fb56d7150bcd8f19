//! Prints the no-engine baseline (see `tools::baseline`):
//! `cargo run --release -p sagaflow-tools --example baseline -- [--purchases N]
//! [--clients N] [--users N] [--products N] [--connections N] [--mysql-url URL]
//! [--participant services|lean] [--sqlite true]`.
//! The server defaults to `$SAGAFLOW_TEST_MYSQL_URL` or `mysql://root@127.0.0.1:3306`;
//! `--sqlite true` puts the lean participant on a SQLite file instead.

use tools::baseline::{self, BaselineConfig};
use tools::participant::Participant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::var("SAGAFLOW_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
    let mut config = BaselineConfig::new(server);
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            return Err(format!("{} needs a value", pair[0]).into());
        };
        match flag.as_str() {
            "--purchases" => config.purchases = value.parse()?,
            "--clients" => config.clients = value.parse()?,
            "--users" => config.users = value.parse()?,
            "--products" => config.products = value.parse()?,
            "--connections" => config.db_connections_max = value.parse()?,
            "--mysql-url" => config.mysql_server_url = Some(value.clone()),
            "--sqlite" if value == "true" => config.mysql_server_url = None,
            "--participant" => {
                config.participant = match value.as_str() {
                    "services" => Participant::Services,
                    "lean" => Participant::Lean,
                    other => return Err(format!("unknown participant {other}").into()),
                }
            }
            other => return Err(format!("unknown flag {other} {value}").into()),
        }
    }
    let report = baseline::baseline(&config).await?;
    println!("{report}");
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
