//! docker-compose.yml against the binary it runs: every sagaflow container's command names a
//! real subcommand, and every flag and `SAGAFLOW_*` variable it sets is one that subcommand
//! reads (`sagaflow <role> --help`). No drift between the topology and the code. The same for
//! the TLS + JWT override, docker-compose.secure.yml.

use serde_yaml_ng::Value;
use std::process::Command;

fn compose() -> Value {
    compose_file("docker-compose.yml")
}

/// A compose file of the repository's top level, with its merge keys resolved.
fn compose_file(name: &str) -> Value {
    let path = format!("{}/../{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("the compose file is YAML");
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

/// docker-compose.secure.yml sets only variables its containers' roles read, its health
/// checks use only flags `sagaflow probe` has, and it turns on TLS for the API and every
/// service, mTLS to the services (and the workers' client certificate), and JWT on the API.
#[test]
fn the_secure_override_uses_real_variables_and_probe_flags() {
    let base = compose();
    let secure = compose_file("docker-compose.secure.yml");
    let probe_help = help(&["probe"]);
    let mut checked = Vec::new();
    for (name, service) in secure["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let command = strings(&base["services"][name]["command"]);
        let role = command
            .first()
            .unwrap_or_else(|| panic!("{name} is not a sagaflow container of the base file"));
        let text = help(&[role.as_str()]);
        let env = service["environment"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for key in env.keys().filter_map(Value::as_str) {
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
        let has = |key: &str| env.contains_key(Value::from(key));
        match role.as_str() {
            "service" => {
                for key in [
                    "SAGAFLOW_TLS_CERT",
                    "SAGAFLOW_TLS_KEY",
                    "SAGAFLOW_TLS_CLIENT_CA",
                ] {
                    assert!(has(key), "{name} sets {key}");
                }
                assert_eq!(env[&Value::from("SAGAFLOW_ADMIN")], Value::from("false"));
            }
            "server" => {
                for key in [
                    "SAGAFLOW_TLS_CERT",
                    "SAGAFLOW_JWT_JWKS",
                    "SAGAFLOW_JWT_AUDIENCE",
                ] {
                    assert!(has(key), "{name} sets {key}");
                }
            }
            "worker" => {
                for key in ["SAGAFLOW_PARTICIPANT_CA", "SAGAFLOW_PARTICIPANT_CERT"] {
                    assert!(has(key), "{name} sets {key}");
                }
                let services = env[&Value::from("SAGAFLOW_SERVICES")].as_str().unwrap();
                assert!(
                    services.split(',').all(|s| s.contains("=https://")),
                    "{services}"
                );
            }
            other => panic!("{name}: unexpected role {other}"),
        }
        let probe = strings(&service["healthcheck"]["test"]);
        if !probe.is_empty() {
            assert_eq!(&probe[..3], ["CMD", "sagaflow", "probe"], "{name}");
            for flag in probe.iter().filter(|a| a.starts_with("--")) {
                assert!(
                    probe_help.contains(flag.as_str()),
                    "{name}: `sagaflow probe` has no flag {flag}"
                );
            }
            assert!(probe.last().unwrap().starts_with("https://"), "{probe:?}");
        }
        checked.push(name.to_owned());
    }
    checked.sort();
    assert_eq!(checked, ["order", "payment", "server", "user", "worker"]);
}
