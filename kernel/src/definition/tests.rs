use super::*;
use serde_json::json;

const MINIMAL: &str = r#"
name = "t"
version = 1
pivot_after = "a"
[input]
n = "integer"
[[steps]]
name = "a"
service = "s"
action = { path = "/a", body = { n = "$input.n" } }
compensation = { path = "/a/undo", body = { id = "$workflow.id" } }
[[steps]]
name = "b"
service = "s"
action = { path = "/b", body = { x = "$steps.a.x" } }
"#;

fn parse(text: &str) -> Result<Definition, Error> {
    Definition::parse(Path::new("workflows/t.toml"), text)
}

/// Asserts that `text` is rejected and that the message names the file and `needles`.
fn rejected(text: &str, needles: &[&str]) {
    let message = parse(text)
        .expect_err("definition must be rejected")
        .to_string();
    assert!(message.contains("workflows/t.toml"), "{message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{needle}` missing from: {message}"
        );
    }
}

#[test]
fn the_shipped_purchase_definition_loads() {
    let registry = Registry::shipped();
    let def = registry.latest("purchase").expect("purchase ships");
    let names: Vec<&str> = def.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "quote",
            "reserve_balance",
            "reserve_payment",
            "reserve_stock",
            "confirm_balance",
            "execute_payment",
            "confirm_order"
        ]
    );
    assert_eq!(def.pivot, Some(3));
    assert!(def.steps[4..]
        .iter()
        .all(|s| s.after_pivot && s.compensation.is_none()));
    assert_eq!(def.steps[1].action_retry, RetryPolicy::README);
    assert_eq!(def.steps[4].action_retry.max_attempts, 40);
}

#[test]
fn render_builds_the_request_from_input_and_outputs() {
    let def = parse(MINIMAL).unwrap();
    let id = WorkflowId::new();
    let outputs = BTreeMap::from([("a".to_owned(), json!({"x": [1, 2]}))]);
    let req = def
        .render(id, 1, ActivityKind::Action, &json!({"n": 5}), &outputs)
        .unwrap();
    assert_eq!(req.body, json!({"x": [1, 2]}));
    assert_eq!(req.idempotency_key, format!("{id}:b:action"));
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.timeout_ms),
        ("POST", "/b", 5_000)
    );
    let undo = def
        .render(
            id,
            0,
            ActivityKind::Compensation,
            &json!({"n": 5}),
            &outputs,
        )
        .unwrap();
    assert_eq!(undo.body, json!({"id": id.to_string()}));
    assert!(def
        .render(id, 1, ActivityKind::Action, &json!({}), &BTreeMap::new())
        .is_err());
}

#[test]
fn malformed_files_are_rejected_with_file_step_and_problem() {
    rejected("name = ", &["not a valid workflow definition"]);
    rejected(
        &MINIMAL.replace("version = 1", "version = 1\ncolour = 3"),
        &["colour"],
    );
    rejected(
        &MINIMAL.replace("pivot_after = \"a\"", "pivot_after = \"zz\""),
        &["pivot_after", "zz"],
    );
    rejected(
        &MINIMAL.replace("$input.n", "$input.m"),
        &["step `a`", "$input.m", "not declared"],
    );
    rejected(
        &MINIMAL.replace("$steps.a.x", "$steps.b.x"),
        &["step `b`", "not an earlier step"],
    );
    rejected(
        &MINIMAL.replace("$steps.a.x", "$steps.zz.x"),
        &["step `b`", "$steps.zz"],
    );
    rejected(
        &MINIMAL.replace("$workflow.id", "$env.HOME"),
        &["step `a`", "compensation", "unknown reference"],
    );
    rejected(
        &MINIMAL.replace("name = \"b\"", "name = \"a\""),
        &["step `a`", "two steps"],
    );
    rejected(
        &MINIMAL.replace("path = \"/b\"", "path = \"b\""),
        &["step `b`", "must start with `/`"],
    );
    rejected(
        &MINIMAL.replace("path = \"/b\"", "path = \"/b\", method = \"BREW\""),
        &["BREW"],
    );
    rejected(
        &MINIMAL.replace(
            "service = \"s\"\naction = { path = \"/b\"",
            "service = \"\"\naction = { path = \"/b\"",
        ),
        &["service"],
    );
    rejected(
        &MINIMAL.replace("n = \"integer\"", "n = \"complex\""),
        &["complex"],
    );
    rejected(
        &format!("{MINIMAL}compensation = {{ path = \"/b/undo\" }}\n"),
        &["step `b`", "after the pivot"],
    );
    rejected(
        &format!("{MINIMAL}timeout_ms = 0\n"),
        &["step `b`", "timeout_ms"],
    );
    rejected(&format!("{MINIMAL}retry = {{ max_attempts = 0, initial_interval_ms = 1, max_interval_ms = 1 }}\n"), &["step `b`", "max_attempts"]);
    rejected(
        "name = \"t\"\nversion = 1\nsteps = []\n",
        &["at least one step"],
    );
    rejected(&MINIMAL.replace("version = 1", "version = 0"), &["version"]);
}

#[test]
fn newest_version_is_latest_and_old_versions_stay() {
    let mut registry = Registry::default();
    registry.insert(parse(MINIMAL).unwrap()).unwrap();
    registry
        .insert(parse(&MINIMAL.replace("version = 1", "version = 2")).unwrap())
        .unwrap();
    assert_eq!(registry.latest("t").unwrap().version, 2);
    assert_eq!(registry.get("t", 1).unwrap().version, 1);
    assert!(registry.latest("nope").is_none());
}

#[test]
fn input_is_checked_against_the_declared_fields() {
    let def = Registry::shipped().latest("purchase").unwrap().clone();
    let good = json!({"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1});
    assert_eq!(def.check_input(&good), Ok(()));
    assert_eq!(def.check_input(&json!([1])), Err(InputError::NotAnObject));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("quantity");
    assert_eq!(
        def.check_input(&missing),
        Err(InputError::Missing("quantity".into()))
    );
    let mut wrong = good.clone();
    wrong["quantity"] = json!("1");
    assert!(
        matches!(def.check_input(&wrong), Err(InputError::WrongType { field, .. }) if field == "quantity")
    );
    wrong["quantity"] = json!(1.5);
    assert!(def.check_input(&wrong).is_err(), "1.5 is not an integer");
    let mut extra = good;
    extra["quantiy"] = json!(1);
    assert_eq!(
        def.check_input(&extra),
        Err(InputError::Unknown("quantiy".into()))
    );
}

/// Two steps on one service, each with an action and a compensation, all carrying
/// `$workflow.id` as the transaction id; `{a}`, `{a_undo}`, `{b}`, `{b_undo}` are their paths.
fn two_tries(a: &str, a_undo: &str, b: &str, b_undo: &str, b_service: &str) -> String {
    format!(
        r#"
name = "t"
version = 1
[[steps]]
name = "first"
service = "user"
action = {{ path = "{a}", body = {{ transaction_id = "$workflow.id", amount = 1 }} }}
compensation = {{ path = "{a_undo}", body = {{ transaction_id = "$workflow.id" }} }}
[[steps]]
name = "second"
service = "{b_service}"
action = {{ path = "{b}", body = {{ transaction_id = "$workflow.id", amount = 2 }} }}
compensation = {{ path = "{b_undo}", body = {{ transaction_id = "$workflow.id" }} }}
"#
    )
}

#[test]
fn two_steps_calling_one_endpoint_with_the_workflow_id_are_rejected() {
    let (t, c) = ("/balance/try", "/balance/cancel");
    // (what, definition, Some(needles) when rejected)
    let cases: [(&str, String, Option<&[&str]>); 7] = [
        (
            "two Trys on one endpoint",
            two_tries(t, c, t, "/other/cancel", "user"),
            Some(&["`first`", "`second`", "`user`", "/balance/try", "replay"]),
        ),
        (
            "two compensations on one endpoint",
            two_tries(t, c, "/other/try", c, "user"),
            Some(&["`first`", "`second`", "`user`", "/balance/cancel"]),
        ),
        (
            "one step's compensation is another's action",
            two_tries(t, c, c, "/other/cancel", "user"),
            Some(&[
                "`first`",
                "`second`",
                "/balance/cancel",
                "compensation",
                "action",
            ]),
        ),
        (
            "the method does not tell the calls apart",
            two_tries(t, c, t, "/other/cancel", "user").replacen(
                "path = \"/balance/try\"",
                "method = \"PUT\", path = \"/balance/try\"",
                1,
            ),
            Some(&["`first`", "`second`", "/balance/try"]),
        ),
        (
            "same paths on different services",
            two_tries(t, c, t, c, "payment"),
            None,
        ),
        (
            "Try and Confirm on one service (different phases)",
            two_tries(t, c, "/balance/confirm", "/balance/release", "user"),
            None,
        ),
        (
            "one endpoint twice without the workflow id (no barrier key in common)",
            two_tries("/quotes", c, "/quotes", "/other/cancel", "user")
                .replace("transaction_id = \"$workflow.id\", amount", "amount"),
            None,
        ),
    ];
    for (what, text, expected) in cases {
        match (parse(&text), expected) {
            (Ok(_), None) => {}
            (Err(err), Some(needles)) => {
                let message = err.to_string();
                assert!(message.contains("workflows/t.toml"), "{what}: {message}");
                for needle in needles {
                    assert!(
                        message.contains(needle),
                        "{what}: `{needle}` missing from: {message}"
                    );
                }
            }
            (Ok(_), Some(_)) => panic!("{what}: accepted, must be rejected"),
            (Err(err), None) => panic!("{what}: rejected, must load: {err}"),
        }
    }
}
