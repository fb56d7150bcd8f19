//! Starting a service: backend chosen by URL scheme, a missing database created, migrated and
//! seeded, service names parsed.

use services::{db, AppState, Config, Service};

/// A SQLite file that does not exist yet is created (in WAL mode, with a busy timeout),
/// migrated and seeded on first start, and a second start keeps the data.
#[tokio::test]
async fn missing_sqlite_database_is_created_and_seeded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("user.db").display());
    let state = AppState::connect(Service::User, &Config::new(&url), None)
        .await
        .expect("first start");
    let pool = state.db().pool();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .expect("pragma");
    let busy_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .expect("pragma");
    assert_eq!((journal.as_str(), busy_ms), ("wal", 5000));
    sqlx::query("UPDATE users SET balance = 1 WHERE id = 1")
        .execute(pool)
        .await
        .expect("update");
    drop(state);

    let again = AppState::connect(Service::User, &Config::new(&url), None)
        .await
        .expect("second start");
    let balances: Vec<i64> = sqlx::query_scalar("SELECT balance FROM users ORDER BY id")
        .fetch_all(again.db().pool())
        .await
        .expect("users");
    assert_eq!(balances, [1, 500, 2000]);
}

/// Only `mysql://` and `sqlite:` URLs are accepted.
#[tokio::test]
async fn unsupported_database_url_is_refused() {
    let started = AppState::connect(Service::Order, &Config::new("postgres://x/y"), None).await;
    assert!(matches!(
        started,
        Err(services::Error::Db(db::Error::UnsupportedUrl))
    ));
}

/// `user`, `payment` and `order` name the services; anything else is an error.
#[test]
fn service_names_parse() {
    for service in Service::ALL {
        assert_eq!(service.name().parse::<Service>().ok(), Some(service));
    }
    assert!("inventory".parse::<Service>().is_err());
}
