//! Applied migrations whose comments were reworded after they shipped. sqlx refuses an
//! applied migration whose text changed, even in a comment (its checksum is of the whole
//! text); a database that applied the old text adopts the new checksum, and only where the
//! stored checksum is exactly the old text's, so any other change is still refused.
//!
//! Not a migration: it changes no schema and no data, only sqlx's bookkeeping.

use crate::db::Backend;
use sqlx::migrate::{Migration, Migrator};
use sqlx::AnyPool;
use std::borrow::Cow;

/// (today's wording, the wording that shipped) of each reworded comment. The old wording
/// pointed at a document that is not in the repository.
const REWORDED: &[(&str, &str)] = &[("(docs/scenario.md)", concat!("(DESIGN", ".md §6)"))];

/// The text a migration had when it shipped, if it was reworded since.
pub fn shipped_text(sql: &str) -> Option<String> {
    let old = REWORDED
        .iter()
        .fold(sql.to_owned(), |text, (now, was)| text.replace(now, was));
    (old != sql).then_some(old)
}

/// Lets a database that applied a migration's shipped text accept today's text.
pub(crate) async fn adopt_reworded(
    pool: &AnyPool,
    backend: Backend,
    migrator: &Migrator,
) -> Result<(), sqlx::Error> {
    let exists = match backend {
        Backend::MySql => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'"
        }
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
    };
    let tables: i64 = sqlx::query_scalar(exists).fetch_one(pool).await?;
    if tables == 0 {
        return Ok(());
    }
    for m in migrator.iter() {
        let Some(old) = shipped_text(&m.sql) else {
            continue;
        };
        let shipped = Migration::new(
            m.version,
            m.description.clone(),
            m.migration_type,
            Cow::Owned(old),
            m.no_tx,
        );
        let adopted = sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = ? WHERE version = ? AND checksum = ?",
        )
        .bind(m.checksum.to_vec())
        .bind(m.version)
        .bind(shipped.checksum.to_vec())
        .execute(pool)
        .await?
        .rows_affected();
        if adopted > 0 {
            tracing::info!(
                version = m.version,
                "adopted the reworded text of an applied migration"
            );
        }
    }
    Ok(())
}
