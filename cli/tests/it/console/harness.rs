//! The browser side of the console tests: a `chromedriver` child process on a free loopback
//! port, headless Chromium through it (fantoccini), every outside host blocked, and the two
//! checks each test ends with: every request the page made went to 127.0.0.1, and the
//! browser log holds no error.
//!
//! Waiting is always on a condition in the page (an attribute, a text), polled with a bound:
//! never a fixed sleep.

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `chromium-driver` puts the driver.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's `chromium` puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a condition in the page may take unless a test says otherwise.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(50);
/// How long chromedriver gets to answer `/status` after it starts.
const DRIVER_START: Duration = Duration::from_secs(20);
/// The desktop viewport of every test.
pub const DESKTOP: (u32, u32) = (1280, 800);
/// A phone's viewport (screenshots).
pub const PHONE: (u32, u32) = (390, 844);

/// The chromedriver binary, or `None` (the caller skips) when it is absent and this is not a
/// CI run; under `CI=true` an absent driver fails the test (CI installs it: `.ci/run`).
pub fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("SAGAFLOW_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMEDRIVER));
    if path.exists() {
        return Some(path);
    }
    if testkit::in_ci() {
        panic!(
            "CI=true and {} is missing: the console tests need Chromium and its driver \
             (Debian: apt-get install chromium chromium-driver; .ci/run installs them)",
            path.display()
        );
    }
    eprintln!(
        "skipping console browser test: {} is missing (apt-get install chromium chromium-driver)",
        path.display()
    );
    None
}

/// The chromedriver process, in a process group of its own so that dropping it ends the
/// browser it started too (by that group's id), even when a test panics before `finish`.
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The group id is the driver's pid (process_group(0)); Chromium is in it.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `POST /session/{id}/se/log` — chromedriver's log endpoint (`browser`, `performance`).
/// Each call answers the entries since the last one.
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": self.0 }).to_string()),
        )
    }
}

/// `POST /session/{id}/goog/cdp/execute` — a DevTools command through chromedriver.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}

/// One browser for one test: the driver, the session, the console's base URL and every log
/// entry read so far.
pub struct Browser {
    client: Client,
    /// `http://127.0.0.1:<port>` of the API that serves the console.
    base: String,
    browser_log: Vec<Value>,
    /// Every request the page made: its URL and headers, from the performance log.
    requests: Vec<(String, Value)>,
    /// Dropped last: the session is gone by then, or the group kill ends the browser.
    _driver: Driver,
    _scratch: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session at 1280x800 with every non-local
    /// host unreachable; `None` when the driver is missing (see [`chromedriver`]).
    pub async fn start(base: &str) -> Option<Browser> {
        let driver_path = chromedriver()?;
        let port = free_port();
        // Everything the driver and the browser write (log, profile, singleton socket, crash
        // dumps) goes into one directory, removed with the Browser even after a kill.
        let scratch = tempfile::tempdir().expect("temp dir");
        let (log, profile, tmp) = (
            scratch.path().join("chromedriver.log"),
            scratch.path().join("profile"),
            scratch.path().join("tmp"),
        );
        std::fs::create_dir_all(&tmp).expect("a tmp directory");
        let mut command = Command::new(&driver_path);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = Driver {
            child: command
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", driver_path.display())),
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_for_driver(&webdriver).await;

        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--user-data-dir={}", profile.display()),
            // No name resolves but 127.0.0.1, and anything else goes to a proxy that is not
            // there (port 9, discard): an IP literal elsewhere fails too.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".into(),
            "--proxy-server=127.0.0.1:9".into(),
            "--proxy-bypass-list=127.0.0.1".into(),
            // Chromium's own traffic (updates, sync, metrics) stays off.
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-default-apps".into(),
            "--disable-extensions".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
        ];
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        let mut chrome = json!({ "args": args });
        if Path::new(CHROMIUM).exists() {
            chrome["binary"] = json!(CHROMIUM);
        }
        caps.insert("goog:chromeOptions".into(), chrome);
        caps.insert(
            "goog:loggingPrefs".into(),
            json!({"browser": "ALL", "performance": "ALL"}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
                panic!("no WebDriver session from chromedriver: {e}\n(log, newest first)\n{tail}")
            });
        let browser = Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            browser_log: Vec::new(),
            requests: Vec::new(),
            _driver: driver,
            _scratch: scratch,
        };
        // The window is 1280x800 (--window-size); the page gets as much (the viewport).
        browser.resize(DESKTOP).await;
        Some(browser)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens the console at a route (`"#/workflows"`); a new document is loaded.
    pub async fn open(&self, route: &str) {
        let url = format!("{}/ui/{route}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Moves to another route inside the page (a hash change: no new document).
    pub async fn route(&self, route: &str) {
        self.js("location.hash = arguments[0]; return true", json!([route]))
            .await;
    }

    /// Runs a script (its `return` value comes back); `args` is a JSON array.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        let args = args.as_array().cloned().unwrap_or_default();
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than `null`/`false`/`""`, within
    /// `timeout`; panics naming `what` and the last value seen by `describe` otherwise.
    pub async fn wait_js(&self, what: &str, timeout: Duration, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.js(script, args.clone()).await;
            let done = !matches!(&value, Value::Null | Value::Bool(false))
                && value != Value::String(String::new());
            if done {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self.describe().await;
                panic!("timed out after {timeout:?} waiting for {what}\npage: {page}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for an element matching `css` to exist.
    pub async fn wait_for(&self, css: &str) {
        self.wait_js(
            &format!("an element `{css}`"),
            WAIT,
            "return document.querySelector(arguments[0]) !== null",
            json!([css]),
        )
        .await;
    }

    /// Waits for `#view[data-view=<view>][data-loaded=true]`.
    pub async fn wait_view(&self, view: &str) {
        self.wait_for(&format!(
            "#view[data-view=\"{view}\"][data-loaded=\"true\"]"
        ))
        .await;
    }

    /// The trimmed text of the first element matching `css`, if there is one.
    pub async fn text(&self, css: &str) -> Option<String> {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null",
            json!([css]),
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Waits until the first element matching `css` has exactly the text `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) {
        self.wait_text_within(css, expected, WAIT).await;
    }

    pub async fn wait_text_within(&self, css: &str, expected: &str, timeout: Duration) {
        let seen = self
            .wait_js(
                &format!("`{css}` to read {expected:?}"),
                timeout,
                "const e = document.querySelector(arguments[0]); \
                 return e !== null && e.textContent.trim() === arguments[1]",
                json!([css, expected]),
            )
            .await;
        assert_eq!(seen, json!(true));
    }

    /// Clicks the element matching `css` (found afresh: views re-render).
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await;
        let deadline = Instant::now() + WAIT;
        loop {
            // A failure is retried until the deadline: the element may have been replaced by
            // a re-render between find and click, or not be interactable yet (a dialog opening).
            let error = match self.client.find(Locator::Css(css)).await {
                Ok(element) => match element.click().await {
                    Ok(()) => return,
                    Err(e) => format!("clicking `{css}`: {e}"),
                },
                Err(e) => format!("finding `{css}`: {e}"),
            };
            assert!(Instant::now() < deadline, "{error}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Chooses `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait_js(
            &format!("an option {value:?} in `{css}`"),
            WAIT,
            "const s = document.querySelector(arguments[0]); \
             return s !== null && [...s.options].some(o => o.value === arguments[1])",
            json!([css, value]),
        )
        .await;
        let select = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding `{css}`: {e}"));
        select
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choosing {value:?} in `{css}`: {e}"));
    }

    /// Types `text` into the input matching `css` (cleared first).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css).await;
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding `{css}`: {e}"));
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("send_keys");
    }

    /// Whether the list view has its data, and its rows as (id, status text) in page order,
    /// read at one instant.
    async fn list_state(&self) -> (bool, Vec<(String, String)>) {
        let state = self
            .js(
                "return [document.querySelector('#view[data-view=\"workflows\"][data-loaded=\"true\"]') !== null, \
                 [...document.querySelectorAll('#workflow-list tbody tr[data-workflow-id]')]\
                 .map(r => [r.dataset.workflowId, \
                   (r.querySelector('[data-field=\"status\"]') || {textContent: ''}).textContent.trim()])]",
                json!([]),
            )
            .await;
        serde_json::from_value(state).expect("a flag and rows as pairs")
    }

    /// The rows of `table#workflow-list` as (id, status text), in page order.
    pub async fn rows(&self) -> Vec<(String, String)> {
        self.list_state().await.1
    }

    /// Waits until the list view is loaded and shows exactly `expected` (id, status) rows,
    /// in any order.
    pub async fn wait_rows(&self, what: &str, expected: &[(&str, &str)]) {
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(id, s)| ((*id).to_owned(), (*s).to_owned()))
            .collect();
        want.sort();
        let deadline = Instant::now() + WAIT;
        loop {
            let (loaded, mut rows) = self.list_state().await;
            rows.sort();
            if loaded && rows == want {
                return;
            }
            if Instant::now() >= deadline {
                let page = self.describe().await;
                panic!(
                    "timed out waiting for the list to show {what}: want {want:?}, shown {rows:?} \
                     (loaded: {loaded})\npage: {page}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A short account of the page for failure messages: the URL, the view and its text.
    pub async fn describe(&self) -> String {
        let script = "const v = document.querySelector('#view'); \
             return location.href + ' | view=' + (v ? v.dataset.view + ' loaded=' + v.dataset.loaded : 'none') \
             + ' | ' + (document.body ? document.body.innerText.replace(/\\s+/g, ' ').slice(0, 600) : '')";
        match self.client.execute(script, vec![]).await {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(e) => format!("(no page: {e})"),
        }
    }

    /// Gives the page a viewport of `width` x `height` CSS pixels (Chromium's device
    /// emulation: exact, unlike the window, which has a frame and a minimum width). Not as a
    /// mobile device: one would widen the layout viewport to fit a page that overflows,
    /// hiding the overflow that a screenshot at phone width is there to show. Returns once
    /// the page sees the size.
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        self.wait_js(
            &format!("a viewport of {width}x{height}"),
            WAIT,
            "return window.innerWidth === arguments[0] && window.innerHeight === arguments[1]",
            json!([width, height]),
        )
        .await;
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    /// When `SAGAFLOW_SCREENSHOTS=<dir>` is set, saves the viewport as `<dir>/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SAGAFLOW_SCREENSHOTS") else {
            return;
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        // Fonts and layout settle with the next frame.
        self.js(
            "return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
            json!([]),
        )
        .await;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// Reads the browser and performance logs gathered since the last read.
    async fn drain_logs(&mut self) {
        for entry in self.log("browser").await {
            self.browser_log.push(entry);
        }
        for entry in self.log("performance").await {
            let Some(text) = entry["message"].as_str() else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let message = &event["message"];
            let (url, headers) = match message["method"].as_str() {
                Some("Network.requestWillBeSent") => (
                    &message["params"]["request"]["url"],
                    &message["params"]["request"]["headers"],
                ),
                Some("Network.webSocketCreated") => (&message["params"]["url"], &Value::Null),
                _ => continue,
            };
            if let Some(url) = url.as_str() {
                self.requests.push((url.to_owned(), headers.clone()));
            }
        }
    }

    async fn log(&self, kind: &'static str) -> Vec<Value> {
        let answer = self
            .client
            .issue_cmd(GetLog(kind))
            .await
            .unwrap_or_else(|e| panic!("reading the {kind} log: {e}"));
        answer.as_array().cloned().unwrap_or_default()
    }

    /// What the two end-of-test checks find wrong: requests to any host but 127.0.0.1 (from
    /// the performance log and from the page's own `performance` entries), and browser log
    /// entries at level SEVERE (which is where `console.error` lands).
    pub async fn problems(&mut self) -> Vec<String> {
        self.problems_allowing(&[]).await
    }

    /// [`problems`](Self::problems), less the browser's own network entries (source
    /// `network`, "Failed to load resource: the server responded with a status of …") that
    /// contain one of `allowed`: an API refusal a test provokes on purpose (`"409 (Conflict)"`).
    pub async fn problems_allowing(&mut self, allowed: &[&str]) -> Vec<String> {
        self.drain_logs().await;
        let mut problems = Vec::new();
        let resources = self
            .client
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name)\
                 .concat(performance.getEntriesByType('navigation').map(e => e.name))",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .unwrap_or_default();
        if self.requests.is_empty() {
            problems.push("the performance log recorded no request at all".to_owned());
        }
        let logged = self.requests.iter().map(|(url, _)| url);
        for url in logged.chain(&resources) {
            if !is_local(url) {
                problems.push(format!("a request left 127.0.0.1: {url}"));
            }
        }
        for entry in &self.browser_log {
            let level = entry["level"].as_str().unwrap_or_default();
            let source = entry["source"].as_str().unwrap_or_default();
            let message = entry["message"].as_str().unwrap_or_default();
            let expected = source == "network"
                && message
                    .contains("Failed to load resource: the server responded with a status of")
                && allowed.iter().any(|a| message.contains(a));
            if !expected && (level == "SEVERE" || (source == "console-api" && level == "ERROR")) {
                problems.push(format!("browser log {level} ({source}): {message}"));
            }
        }
        problems.sort();
        problems.dedup();
        problems
    }

    /// The requests the page made so far (URL, headers), from the performance log.
    pub async fn requests(&mut self) -> Vec<(String, Value)> {
        self.drain_logs().await;
        self.requests.clone()
    }

    /// The end of every test: no request left 127.0.0.1 and the browser logged no error;
    /// then the session ends (Chromium quits) before the driver is killed.
    pub async fn finish(self) {
        self.finish_allowing(&[]).await;
    }

    /// [`finish`](Self::finish), allowing the network entries of refusals the test provoked
    /// (see [`problems_allowing`](Self::problems_allowing)).
    pub async fn finish_allowing(mut self, allowed: &[&str]) {
        let problems = self.problems_allowing(allowed).await;
        let client = self.client.clone();
        let _ = client.close().await;
        assert!(
            problems.is_empty(),
            "the page broke the console's rules:\n  {}",
            problems.join("\n  ")
        );
    }
}

/// True for a URL that stays on this machine: an `http(s)`/`ws(s)` URL whose host is
/// 127.0.0.1, or one of the schemes that never touch the network (the page's `data:`
/// images, `about:blank`, `blob:`, and the browser's own `chrome://` pages, such as the new
/// tab page it shows before the first navigation).
pub fn is_local(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "http" | "https" | "ws" | "wss" => parsed.host_str() == Some("127.0.0.1"),
        "data" | "about" | "blob" | "chrome" | "chrome-untrusted" | "devtools" => true,
        _ => false,
    }
}

/// Polls chromedriver's `/status` until it is ready.
async fn wait_for_driver(webdriver: &str) {
    let status = format!("{webdriver}/status");
    let deadline = Instant::now() + DRIVER_START;
    loop {
        if let Ok(answer) = reqwest::get(&status).await {
            if let Ok(body) = answer.json::<Value>().await {
                if body["value"]["ready"] == json!(true) {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer {status} within {DRIVER_START:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}
