//! docker-compose.yml against the binary it runs: every sagaflow container's command names a
//! real subcommand, and every flag and `SAGAFLOW_*` variable it sets is one that subcommand
//! reads (`sagaflow <role> --help`). No drift between the topology and the code.

use serde_yaml_ng::Value;
use std::process::Command;

fn compose() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docker-compose.yml"
    ))
    .unwrap();
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("docker-compose.yml is YAML");
    doc.apply_merge().expect("merge keys resolve");
    for (_, service) in doc["services"].as_mapping_mut().unwrap().iter_mut() {
        service.apply_merge().expect("merge keys resolve");
        if let Some(health) = service.get_mut("healthcheck") {
            health.apply_merge().expect("merge keys resolve");
        }
    }
    doc
}

/// `sagaflow <args> --help`.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "sagaflow {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence().map_or_else(Vec::new, |s| {
        s.iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    })
}

/// Every sagaflow container's command, flags and environment are known to the binary.
#[test]
fn every_sagaflow_container_uses_real_flags_and_variables() {
    let doc = compose();
    let mut checked = Vec::new();
    for (name, service) in doc["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        if !service["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sagaflow")
        {
            continue;
        }
        let command = strings(&service["command"]);
        let role = command
            .first()
            .unwrap_or_else(|| panic!("{name} has no command"));
        let subcommand: Vec<&str> = if role == "service" {
            vec!["service"]
        } else {
            vec![role.as_str()]
        };
        let text = help(&subcommand);
        for flag in command.iter().filter(|a| a.starts_with("--")) {
            assert!(
                text.contains(flag.as_str()),
                "{name}: `sagaflow {role}` has no flag {flag}"
            );
        }
        if role == "service" {
            let which = &command[1];
            assert!(
                ["user", "payment", "order"].contains(&which.as_str()),
                "{name}: unknown service {which}"
            );
        }
        let env = service["environment"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for key in env
            .keys()
            .filter_map(Value::as_str)
            .filter(|k| k.starts_with("SAGAFLOW_"))
        {
            // The server passes SAGAFLOW_SERVICES on to `sagaflow demo` run inside it.
            let reader = if name == "server" && key == "SAGAFLOW_SERVICES" {
                help(&["demo"])
            } else {
                text.clone()
            };
            assert!(
                reader.contains(&format!("[env: {key}=")),
                "{name}: `sagaflow {role}` reads no {key}"
            );
        }
        let probe = strings(&service["healthcheck"]["test"]);
        if !probe.is_empty() {
            assert_eq!(
                &probe[..3],
                ["CMD", "sagaflow", "probe"],
                "{name}: health checks use `sagaflow probe`"
            );
        }
        checked.push(name.to_owned());
    }
    checked.sort();
    assert_eq!(
        checked,
        ["migrate", "order", "payment", "server", "user", "worker"]
    );
}

/// Workers scale: no fixed container name, no host port; two replicas by default.
#[test]
fn workers_can_be_scaled() {
    let doc = compose();
    let worker = &doc["services"]["worker"];
    assert!(worker.get("container_name").is_none() && worker.get("ports").is_none());
    assert_eq!(worker["deploy"]["replicas"].as_u64(), Some(2));
}

/// The scenario's databases (docs/scenario.md): user 3306, payment 3307, order 3308, saga 3309, each
/// with its own user (no root in any connection URL).
#[test]
fn each_service_has_its_own_database_and_user() {
    let doc = compose();
    let services = &doc["services"];
    for (db, port) in [
        ("user-db", "3306:3306"),
        ("payment-db", "3307:3306"),
        ("order-db", "3308:3306"),
        ("saga-db", "3309:3306"),
    ] {
        assert_eq!(strings(&services[db]["ports"]), [port], "{db}");
    }
    for (_, service) in services.as_mapping().unwrap() {
        if let Some(url) = service["environment"]["SAGAFLOW_DATABASE_URL"].as_str() {
            assert!(
                url.starts_with("mysql://") && !url.contains("root"),
                "least privilege: {url}"
            );
        }
    }
}
