//! docker-compose.yml against the binary it runs: every sagaflow container's command names a
//! real subcommand, and every flag and `SAGAFLOW_*` variable it sets is one that subcommand
//! reads (`sagaflow <role> --help`). No drift between the topology and the code. The same for
//! the TLS + JWT override, docker-compose.secure.yml, and for docker-compose.local.yml (host
//! networking, stand-in images, 127.0.0.1 ports of its own; scripts/compose-check.sh runs it).

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
/// with its own user (no root in any connection URL). The host ports are in
/// docker-compose.override.yml (read by `docker compose up` by itself), none in
/// docker-compose.yml: the local override's host networking cannot have any.
#[test]
fn each_service_has_its_own_database_and_user() {
    let doc = compose();
    let services = &doc["services"];
    for (name, service) in services.as_mapping().unwrap() {
        assert!(
            service.get("ports").is_none(),
            "{name:?}: host ports belong in docker-compose.override.yml"
        );
    }
    let ports = compose_file("docker-compose.override.yml");
    let published: Vec<&str> = ports["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    for name in &published {
        assert!(
            services.get(name).is_some(),
            "override names unknown {name}"
        );
    }
    for name in [
        "user",
        "payment",
        "order",
        "server",
        "prometheus",
        "grafana",
        "redis",
    ] {
        assert!(published.contains(&name), "{name} publishes its port");
    }
    assert!(
        !published.contains(&"worker"),
        "workers scale: no host port"
    );
    let services = &ports["services"];
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

/// Every `host:port` a value names (URLs, listen addresses, `--port=` flags): the ports the
/// local topology binds or dials.
fn ports_named(text: &str) -> Vec<(String, u16)> {
    let mut found = Vec::new();
    for part in text.split([',', ' ', '=', '/', '@']) {
        if let Some((host, port)) = part.rsplit_once(':') {
            let port = port.split('-').next().unwrap_or_default();
            if let Ok(port) = port.parse::<u16>() {
                found.push((host.to_owned(), port));
            }
        }
    }
    found
}

/// docker-compose.local.yml: every service of docker-compose.yml but Grafana, on the host's
/// network, with stand-in images for the third-party ones (never the registry's names), every
/// address 127.0.0.1, on ports clear of the machine's MariaDB (3306) and Redis (6379) and of
/// the ephemeral range the tests' free ports come from; its variables are ones the roles read,
/// and prometheus.local.yml scrapes exactly its addresses.
#[test]
fn the_local_override_runs_everything_but_grafana_on_the_host_network() {
    let base = compose();
    let local = compose_file("docker-compose.local.yml");
    let services = local["services"].as_mapping().unwrap();
    let mut bound: Vec<(String, u16)> = Vec::new();
    for (name, service) in base["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let over = services
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in docker-compose.local.yml"));
        if name == "grafana" {
            assert_eq!(
                strings(&over["profiles"]),
                ["grafana"],
                "grafana is never started"
            );
            continue;
        }
        assert_eq!(over["network_mode"].as_str(), Some("host"), "{name}");
        assert!(
            over.get("ports").is_none(),
            "{name}: host networking publishes nothing"
        );
        let base_image = service["image"].as_str().unwrap();
        if !base_image.starts_with("sagaflow") {
            let image = over["image"].as_str().unwrap_or_default();
            assert!(
                image.starts_with("sagaflow-standin/"),
                "{name}: the local stand-in, not {base_image} under its own name: {image:?}"
            );
        }
        let mut text: Vec<String> = strings(&over["command"]);
        text.extend(strings(&over["healthcheck"]["test"]));
        if let Some(env) = over["environment"].as_mapping() {
            let role = strings(&service["command"]);
            let help_text = help(&[role[0].as_str()]);
            for (key, value) in env {
                let key = key.as_str().unwrap();
                let reader = if name == "server" && key == "SAGAFLOW_SERVICES" {
                    help(&["demo"])
                } else {
                    help_text.clone()
                };
                assert!(
                    reader.contains(&format!("[env: {key}=")),
                    "{name}: reads no {key}"
                );
                text.push(value.as_str().unwrap().to_owned());
            }
        }
        for t in &text {
            for (host, port) in ports_named(t) {
                assert_eq!(host, "127.0.0.1", "{name}: {t}");
                assert!(
                    port != 3306 && port != 6379 && port < 32768,
                    "{name}: port {port} collides with the machine's services or free ports"
                );
                bound.push((name.to_owned(), port));
            }
        }
    }
    // One listener per port: the port each service listens on is named by no other one's
    // listen setting (dialling it, as the URLs do, is fine).
    let listens = |name: &str| -> Vec<u16> {
        let env = &local["services"][name]["environment"];
        let command = strings(&local["services"][name]["command"]);
        let mut ports: Vec<u16> = command
            .iter()
            .filter_map(|f| {
                f.strip_prefix("--port=")
                    .or(f.strip_prefix("--web.listen-address=127.0.0.1:"))
            })
            .map(|p| p.parse().unwrap())
            .collect();
        if let Some(pos) = command.iter().position(|a| a == "--port") {
            ports.push(command[pos + 1].parse().unwrap());
        }
        for key in ["SAGAFLOW_LISTEN", "SAGAFLOW_METRICS_LISTEN"] {
            if let Some(v) = env[key].as_str() {
                let (_, range) = v.rsplit_once(':').unwrap();
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                ports.extend(a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap());
            }
        }
        ports
    };
    let mut all: Vec<u16> = Vec::new();
    for name in services.keys().filter_map(Value::as_str) {
        for port in listens(name) {
            assert!(
                !all.contains(&port),
                "{name}: port {port} is already another's"
            );
            assert!(
                port != 3306 && port != 6379 && port < 32768,
                "{name}: {port}"
            );
            all.push(port);
        }
    }
    assert_eq!(
        all.len(),
        4 + 1 + 3 + 1 + 10 + 1,
        "4 databases, Redis, 3 services, server, 10 worker ports, Prometheus: {all:?}"
    );
    assert!(!bound.is_empty());
    // The worker's health check probes its own port (written to its address file).
    let worker = &local["services"]["worker"];
    let test = strings(&worker["healthcheck"]["test"]).join(" ");
    let file = worker["environment"]["SAGAFLOW_METRICS_ADDR_FILE"]
        .as_str()
        .unwrap();
    assert!(test.contains(&format!("cat {file}")), "{test}");

    // prometheus.local.yml: every target is one of the override's listeners, all 127.0.0.1.
    let path = format!("{}/../prometheus.local.yml", env!("CARGO_MANIFEST_DIR"));
    let prom: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut targets = Vec::new();
    for job in prom["scrape_configs"].as_sequence().unwrap() {
        for sc in job["static_configs"].as_sequence().unwrap() {
            targets.extend(strings(&sc["targets"]));
        }
        assert!(
            job.get("dns_sd_configs").is_none(),
            "no DNS on the host network"
        );
    }
    let mut expected: Vec<String> = ["server", "user", "payment", "order", "prometheus"]
        .iter()
        .map(|n| format!("127.0.0.1:{}", listens(n)[0]))
        .collect();
    expected.extend(
        listens("worker")[..3]
            .iter()
            .map(|p| format!("127.0.0.1:{p}")),
    );
    targets.sort();
    expected.sort();
    assert_eq!(targets, expected);
    let mount = strings(&local["services"]["prometheus"]["volumes"]);
    assert_eq!(
        mount,
        ["./prometheus.local.yml:/etc/prometheus/prometheus.yml:ro"]
    );
}
