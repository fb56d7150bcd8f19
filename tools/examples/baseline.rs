//! Prints the no-engine baseline (see `tools::baseline`):
//! `cargo run --release -p sagaflow-tools --example baseline -- [--purchases N]
//! [--clients N] [--users N] [--products N] [--connections N] [--mysql-url URL]`.
//! The server defaults to `$SAGAFLOW_TEST_MYSQL_URL` or `mysql://root@127.0.0.1:3306`.

use tools::baseline::{self, BaselineConfig};

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
            "--mysql-url" => config.mysql_server_url = value.clone(),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let report = baseline::baseline(&config).await?;
    println!("{report}");
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
