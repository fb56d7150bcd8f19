//! The checks themselves (see the parent module).

use crate::metrics as m;
use kernel::model::{AttemptOutcome, WorkflowStatus};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The repository's top level.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the engine crate lives in the workspace")
        .to_owned()
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of every Markdown table row of `text` (header and separator rows included).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|') && l.ends_with('|') && l.len() > 1)
        .map(|l| {
            l[1..l.len() - 1]
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// The text of a cell written as `` `code` ``, if it is exactly that.
fn code(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')?.strip_suffix('`')
}

// --- docs/metrics.md ------------------------------------------------------------------------

/// One row of the metrics table: type and label names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MetricDoc {
    kind: String,
    labels: BTreeSet<String>,
}

/// `name -> (type, labels)` from the table of `docs/metrics.md`.
fn documented_metrics() -> BTreeMap<String, MetricDoc> {
    let mut all = BTreeMap::new();
    for row in table_rows(&read("docs/metrics.md")) {
        let Some(name) = row.first().and_then(|c| code(c)) else {
            continue;
        };
        assert!(
            row.len() >= 4,
            "docs/metrics.md: row of `{name}` has no meaning"
        );
        let labels = row[2]
            .split(',')
            .filter_map(|l| code(l.trim()))
            .map(str::to_owned)
            .collect();
        let doc = MetricDoc {
            kind: row[1].clone(),
            labels,
        };
        assert!(
            all.insert(name.to_owned(), doc).is_none(),
            "docs/metrics.md lists `{name}` twice"
        );
    }
    all
}

/// Per metric: the type it was recorded as, and every set of label names it was recorded with.
type Recorded = BTreeMap<String, (&'static str, BTreeSet<BTreeSet<String>>)>;

/// A recorder that remembers what was described and which label names each metric was
/// recorded with.
#[derive(Default)]
struct Capture {
    described: Mutex<BTreeMap<String, &'static str>>,
    recorded: Mutex<Recorded>,
}

impl Capture {
    fn describe(&self, key: KeyName, kind: &'static str) {
        let previous = self
            .described
            .lock()
            .unwrap()
            .insert(key.as_str().to_owned(), kind);
        assert!(
            previous.is_none_or(|p| p == kind),
            "{} described twice",
            key.as_str()
        );
    }

    fn record(&self, key: &Key, kind: &'static str) {
        let labels = key.labels().map(|l| l.key().to_owned()).collect();
        let mut recorded = self.recorded.lock().unwrap();
        let entry = recorded
            .entry(key.name().to_owned())
            .or_insert((kind, BTreeSet::new()));
        assert_eq!(entry.0, kind, "{} recorded as two types", key.name());
        entry.1.insert(labels);
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.describe(key, "counter");
    }
    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.describe(key, "gauge");
    }
    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.describe(key, "histogram");
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.record(key, "counter");
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.record(key, "gauge");
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.record(key, "histogram");
        Histogram::noop()
    }
}

/// Every recording function of `engine::metrics`, once each. A new function must be added
/// here, or the check below finds a described metric nothing recorded.
fn record_every_engine_metric() {
    let d = Duration::from_millis(3);
    m::describe();
    m::submitted("purchase");
    m::finished("purchase", WorkflowStatus::Completed, 1_000);
    m::attempt("purchase", "quote", AttemptOutcome::Succeeded, Some(d));
    m::lease_expired("purchase", "quote");
    m::retry_scheduled("purchase", "quote");
    m::compensation("purchase", "reserve_balance");
    m::isolated("claim");
    m::fenced(1);
    m::claimed(d);
    m::inflight(1.0);
    m::loop_restarted();
    m::worker_up();
    m::sampled(1, 2, 3);
    m::http_request("GET", "/v1/workflows/{id}", 200, d);
    m::protection_started("payment");
    m::circuit_transition("payment", "open", 2.0);
    m::breaker_deferred("payment");
    m::bulkhead_rejected("payment");
    m::http_shed();
    m::http_rate_limited();
    // The database's metrics come from `dbha` (shared with the services).
    dbha::retry::count("saga", dbha::retry::Reason::Conflict);
    let nodes = dbha::Nodes::parse("mysql://u@a:1,b:2/saga").expect("two nodes");
    drop(dbha::Failover::new("saga", nodes));
}

/// The engine's side of `docs/metrics.md` (`sagaflow_*` and `http_*`; the services test the
/// `tcc_*` rows): the same names, types and label names.
#[test]
fn docs_metrics_lists_every_engine_metric_with_its_type_and_labels() {
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, record_every_engine_metric);
    let described = capture.described.into_inner().unwrap();
    let recorded = capture.recorded.into_inner().unwrap();
    let documented: BTreeMap<String, MetricDoc> = documented_metrics()
        .into_iter()
        .filter(|(name, _)| name.starts_with("sagaflow_") || name.starts_with("http_"))
        .collect();

    let mut problems = Vec::new();
    for (name, kind) in &described {
        match (documented.get(name), recorded.get(name)) {
            (None, _) => problems.push(format!("`{name}` ({kind}) is not in docs/metrics.md")),
            (_, None) => problems.push(format!(
                "`{name}` is described but record_every_engine_metric records it nowhere"
            )),
            (Some(doc), Some((recorded_kind, label_sets))) => {
                if doc.kind != *kind || recorded_kind != kind {
                    problems.push(format!(
                        "`{name}` is a {kind} (recorded as {recorded_kind}), docs/metrics.md says {}",
                        doc.kind
                    ));
                }
                if label_sets.iter().any(|labels| *labels != doc.labels) {
                    problems.push(format!(
                        "`{name}` is recorded with labels {label_sets:?}, docs/metrics.md says {:?}",
                        doc.labels
                    ));
                }
            }
        }
    }
    for name in recorded.keys().filter(|n| !described.contains_key(*n)) {
        problems.push(format!("`{name}` is recorded but never described"));
    }
    for name in documented.keys().filter(|n| !described.contains_key(*n)) {
        problems.push(format!(
            "docs/metrics.md lists `{name}`, which engine::metrics does not describe"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// --- docs/api.md ----------------------------------------------------------------------------

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `(METHOD, path)` of every route row of `docs/api.md` (`` | `GET` | `/path` | … ``).
fn documented_routes(text: &str) -> BTreeSet<(String, String)> {
    table_rows(text)
        .into_iter()
        .filter_map(|row| {
            let method = code(row.first()?)?;
            let path = code(row.get(1)?)?;
            (METHODS.contains(&method) && path.starts_with('/'))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

/// `code -> status` of every row of the error table of `docs/api.md` (`` | `CODE` | 404 | … ``).
fn documented_error_codes(text: &str) -> BTreeMap<String, u16> {
    table_rows(text)
        .into_iter()
        .filter_map(|row| {
            let code = code(row.first()?)?;
            let status = row.get(1)?.parse().ok()?;
            Some((code.to_owned(), status))
        })
        .collect()
}

/// `code -> statuses` as `api::Error::status_and_code` maps them, read from its source:
/// every `StatusCode::NAME, "CODE"` pair, the name turned into its number.
fn error_codes_in_source() -> BTreeMap<String, BTreeSet<u16>> {
    let source = read("engine/src/api/error.rs");
    let start = source.find("fn status_and_code").expect("status_and_code");
    let end = source.find("fn public_message").expect("public_message");
    let body = &source[start..end];
    let by_name: BTreeMap<String, u16> = (100..600)
        .filter_map(|n| axum::http::StatusCode::from_u16(n).ok())
        .filter_map(|s| {
            let name = s
                .canonical_reason()?
                .to_uppercase()
                .replace([' ', '-'], "_");
            Some((name, s.as_u16()))
        })
        .collect();
    let mut codes: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for piece in body.split("StatusCode::").skip(1) {
        let name: String = piece
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        let rest = piece[name.len()..].trim_start_matches([',', ' ', '\n']);
        let Some(quoted) = rest.strip_prefix('"') else {
            continue;
        };
        let code = &quoted[..quoted.find('"').expect("a closed string")];
        let status = *by_name
            .get(&name)
            .unwrap_or_else(|| panic!("StatusCode::{name}"));
        codes.entry(code.to_owned()).or_default().insert(status);
    }
    assert!(codes.len() > 10, "the parse of error.rs found {codes:?}");
    codes
}

/// `docs/api.md` documents exactly the routes of the served OpenAPI document, and every
/// error code of `api::Error` with its status.
#[test]
fn docs_api_lists_every_route_and_error_code() {
    let text = read("docs/api.md");
    // With tokens, so the 401s of an authenticated server are in the document too.
    let config = crate::api::ApiConfig {
        tokens: vec!["t".into()],
        ..crate::api::ApiConfig::default()
    };
    let document = crate::api::openapi_document(&config, &crate::Registry::shipped());
    let served: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            let ops = ops.as_object().expect("operations");
            ops.keys()
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let documented = documented_routes(&text);
    let mut problems: Vec<String> = Vec::new();
    for (method, path) in served.difference(&documented) {
        problems.push(format!(
            "{method} {path} is in the OpenAPI document, not in docs/api.md"
        ));
    }
    for (method, path) in documented.difference(&served) {
        problems.push(format!(
            "docs/api.md lists {method} {path}, which the OpenAPI document does not"
        ));
    }
    let codes = error_codes_in_source();
    let documented_codes = documented_error_codes(&text);
    for (code, statuses) in &codes {
        match documented_codes.get(code) {
            None => problems.push(format!("error code {code} is not in docs/api.md's table")),
            Some(status) if !statuses.contains(status) => problems.push(format!(
                "docs/api.md gives {code} status {status}, the code says {statuses:?}"
            )),
            Some(_) => {}
        }
    }
    for code in documented_codes.keys().filter(|c| !codes.contains_key(*c)) {
        problems.push(format!(
            "docs/api.md lists error code {code}, which api::Error never answers"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// --- docs/workflows.md ----------------------------------------------------------------------

/// The field names of the struct that starts at `marker` in `source` (`pub name:` lines up to
/// the struct's closing brace at the start of a line, indented or not).
fn struct_fields(source: &str, marker: &str) -> Vec<String> {
    let start = source
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}`"));
    source[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.trim() != "}")
        .filter_map(|l| {
            let field = l.trim().strip_prefix("pub ")?;
            let (name, _) = field.split_once(':')?;
            Some(name.to_owned())
        })
        .collect()
}

/// Every key of the workflow TOML format (the raw structs of `definition`, the retry policy
/// and the input field types) is mentioned in `docs/workflows.md` as `` `key` ``.
#[test]
fn docs_workflows_mentions_every_key_of_the_format() {
    let definition = read("kernel/src/definition/mod.rs");
    let retry = read("kernel/src/retry.rs");
    let input = read("kernel/src/definition/input.rs");
    let mut keys = Vec::new();
    for marker in [
        "pub struct Definition {\n        pub name",
        "pub struct Step {\n        pub name",
        "pub struct Call {\n        #[serde",
    ] {
        let fields = struct_fields(&definition, marker);
        assert!(!fields.is_empty(), "no fields after `{marker}`");
        keys.extend(fields);
    }
    keys.extend(struct_fields(&retry, "pub struct RetryPolicy {"));
    let types_start = input.find("pub enum FieldType {").expect("FieldType");
    keys.extend(
        input[types_start..]
            .lines()
            .skip(1)
            .take_while(|l| l.trim() != "}")
            .filter_map(|l| l.trim().strip_suffix(','))
            .map(str::to_lowercase),
    );
    assert!(keys.len() > 20, "the parse found only {keys:?}");
    let text = read("docs/workflows.md");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !text.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/workflows.md does not mention {missing:?}"
    );
}

/// The annotated example of `docs/workflows.md` is the shipped purchase type, and it loads.
#[test]
fn docs_workflows_example_is_the_shipped_purchase_type() {
    let text = read("docs/workflows.md");
    let start = text.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
    let example = &text[start..start + text[start..].find("```").expect("closed block")];
    let parsed = crate::Definition::parse(Path::new("docs/workflows.md"), example)
        .unwrap_or_else(|e| panic!("the example does not load: {e}"));
    let shipped = crate::Definition::parse(
        Path::new("workflows/purchase.toml"),
        &read("workflows/purchase.toml"),
    )
    .expect("the shipped type loads");
    let shape = |d: &crate::Definition| {
        let steps: Vec<String> = d.steps.iter().map(|s| format!("{s:?}")).collect();
        (d.name.clone(), d.version, d.pivot, d.input.clone(), steps)
    };
    assert_eq!(
        shape(&parsed),
        shape(&shipped),
        "the example differs from workflows/purchase.toml"
    );
}

// --- the guard ------------------------------------------------------------------------------

/// Phrases that point outside the repository. Built with `concat!` so this file does not
/// contain them itself.
const OUTSIDE: [&str; 4] = [
    concat!("DESIGN", ".md"),
    concat!("DESIGN", " §"),
    concat!("..", "/shared"),
    concat!("original", " README"),
];

/// Tracked and new (not ignored) files, from git; without git, a walk of the tree that skips
/// what `.gitignore` ignores.
fn repository_files() -> Vec<PathBuf> {
    let root = repo();
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    if let Some(out) = listed {
        return out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect();
    }
    let skip = [
        ".git",
        "target",
        "data",
        "bench-results",
        "load-results",
        ".schemathesis",
    ];
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(root.join(&dir)).expect("a readable tree") {
            let entry = entry.expect("a readable entry");
            let relative = dir.join(entry.file_name());
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().expect("a file type").is_dir() {
                if !(dir.as_os_str().is_empty() && skip.contains(&name.as_str())) {
                    dirs.push(relative);
                }
            } else if !name.ends_with(".db") {
                files.push(relative);
            }
        }
    }
    files
}

/// The repository stands on its own: no file points at a design document, an outside README
/// or a sibling `shared` directory. (The participants' first migrations once did, in a
/// comment; databases that applied that text adopt the reworded one: `services::migrations`.)
#[test]
fn no_file_refers_to_documents_outside_the_repository() {
    let root = repo();
    let files = repository_files();
    assert!(
        files.iter().any(|f| f == Path::new("README.md")),
        "the file list misses README.md"
    );
    let mut found = Vec::new();
    for file in &files {
        // Binary files (images) and files deleted but still listed are skipped.
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(phrase) = OUTSIDE.iter().find(|p| line.contains(*p)) {
                found.push(format!("{}:{}: `{phrase}`: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references to documents outside the repository (point into docs/ instead):\n{}",
        found.join("\n")
    );
}
