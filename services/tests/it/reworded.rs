//! A database that applied a migration before its comments were reworded still starts:
//! it adopts the new text's checksum, and only from the exact shipped text.

use crate::support::*;
use services::{connect_and_migrate, db::Db, migrations::shipped_text, Service};
use sqlx::migrate::{Migration, Migrator};
use std::borrow::Cow;
use testkit::TestDb;

testkit::backend_tests!(
    a_database_migrated_with_the_shipped_text_starts_with_the_reworded_one,
    a_migration_changed_otherwise_is_still_refused
);

/// `service`'s migrations as they shipped, or with `edit` applied to their text.
fn migrator_with(service: Service, db: &Db, edit: impl Fn(&str) -> String) -> Migrator {
    let today = service.migrator(db.backend());
    let migrations: Vec<Migration> = today
        .iter()
        .map(|m| {
            Migration::new(
                m.version,
                m.description.clone(),
                m.migration_type,
                Cow::Owned(edit(&m.sql)),
                m.no_tx,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Migrated with the seed comment's first wording, the user, payment and order databases
/// start with today's migrations, twice in a row.
async fn a_database_migrated_with_the_shipped_text_starts_with_the_reworded_one(db: TestDb) {
    for service in [Service::User, Service::Payment, Service::Order] {
        let own = sibling(&db, service.name()).await;
        let first = Db::connect(&own.url, 2).await.expect("connect");
        let shipped = migrator_with(service, &first, |sql| {
            shipped_text(sql).unwrap_or_else(|| sql.to_owned())
        });
        assert!(
            shipped
                .iter()
                .zip(service.migrator(first.backend()).iter())
                .any(|(old, now)| old.checksum != now.checksum),
            "{service}: some migration was reworded"
        );
        first
            .migrate(&shipped)
            .await
            .expect("the shipped text applies");
        for start in 1..=2 {
            connect_and_migrate(service, &own.url, 2)
                .await
                .unwrap_or_else(|e| panic!("{service}, start {start} with today's text: {e}"));
        }
    }
}

/// Any other change to an applied migration is refused as before.
async fn a_migration_changed_otherwise_is_still_refused(db: TestDb) {
    let first = Db::connect(&db.url, 2).await.expect("connect");
    let changed = migrator_with(Service::User, &first, |sql| format!("{sql}\n-- edited"));
    first.migrate(&changed).await.expect("applies");
    let Err(err) = connect_and_migrate(Service::User, &db.url, 2).await else {
        panic!("a changed applied migration is refused");
    };
    assert!(err.to_string().contains("previously applied"), "{err}");
}
