use crate::support::*;
use engine::definition::InputError;
use engine::store::{Error, Limits};
use serde_json::json;

testkit::backend_tests!(bad_submits_are_typed_errors_and_write_nothing);

/// Unknown type, missing or mistyped fields, oversized input and key: typed errors, no rows.
async fn bad_submits_are_typed_errors_and_write_nothing(db: TestDb) {
    let store = store(&db).await.with_limits(Limits {
        input_bytes_max: 256,
        idempotency_key_bytes_max: 16,
    });
    let registry = registry();
    let unknown = store.submit(&registry, &purchase("refund", 1, 1)).await;
    assert!(matches!(unknown, Err(Error::UnknownType(t)) if t == "refund"));
    let mut missing = purchase("purchase", 1, 1);
    missing.input.as_object_mut().unwrap().remove("product_id");
    let err = store.submit(&registry, &missing).await.unwrap_err();
    assert!(
        matches!(&err, Error::Input(InputError::Missing(f)) if f == "product_id"),
        "{err}"
    );
    let mut mistyped = purchase("purchase", 1, 1);
    mistyped.input["user_id"] = json!("alice");
    assert!(matches!(
        store.submit(&registry, &mistyped).await,
        Err(Error::Input(InputError::WrongType { .. }))
    ));
    let mut huge = purchase("purchase", 1, 1);
    huge.input["note"] = json!("x".repeat(300));
    assert!(matches!(
        store.submit(&registry, &huge).await,
        Err(Error::InputTooLarge { max: 256, .. })
    ));
    let mut long_key = purchase("purchase", 1, 1);
    long_key.idempotency_key = Some("k".repeat(17));
    assert!(matches!(
        store.submit(&registry, &long_key).await,
        Err(Error::KeyTooLong { .. })
    ));
    let not_object = engine::store::NewWorkflow {
        input: json!([1, 2]),
        ..purchase("purchase", 1, 1)
    };
    assert!(matches!(
        store.submit(&registry, &not_object).await,
        Err(Error::Input(InputError::NotAnObject))
    ));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM workflows").await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM activities").await, 0);
}
