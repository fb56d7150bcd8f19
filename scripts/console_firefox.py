"""The console in Firefox (headless, driven over Marionette): every view renders its data,
the page reports no script or CSP error, and every resource it loaded came from the server.

    python console_firefox.py BASE_URL WORKFLOW_ID SCREENSHOT_DIR

Chromium is driven by the Rust browser tests (cli/tests/it/console); this is the second
engine the console must work in. Firefox runs with a fresh profile whose proxy points at a
closed port, so nothing but 127.0.0.1 is reachable from it.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

from marionette_driver import Wait
from marionette_driver.marionette import Marionette

base, compensated, shots = sys.argv[1], sys.argv[2], sys.argv[3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


profile = tempfile.mkdtemp(prefix="sagaflow-firefox.")
port = free_port()
with open(os.path.join(profile, "user.js"), "w") as prefs:
    for key, value in {
        "marionette.port": port,
        "network.proxy.type": 1,
        "network.proxy.http": '"127.0.0.1"',
        "network.proxy.http_port": 9,
        "network.proxy.ssl": '"127.0.0.1"',
        "network.proxy.ssl_port": 9,
        "network.proxy.no_proxies_on": '"127.0.0.1"',
        "network.proxy.allow_hijacking_localhost": "false",
        "app.update.disabledForTesting": "true",
        "datareporting.policy.dataSubmissionEnabled": "false",
        "toolkit.telemetry.enabled": "false",
        "browser.safebrowsing.malware.enabled": "false",
        "browser.safebrowsing.phishing.enabled": "false",
    }.items():
        prefs.write(f"user_pref({key!r}, {value});\n".replace("'", '"'))

firefox = subprocess.Popen(
    ["firefox-esr", "--headless", "--marionette", "-remote-allow-system-access", "--no-remote", "-profile", profile],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    env=dict(os.environ, HOME=profile),
)
failures = []
try:
    client = Marionette(host="127.0.0.1", port=port, startup_timeout=60)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.start_session()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    client.set_window_rect(width=1280, height=900)
    views = [
        ("overview", "#/", "overview", "[data-count-status='compensated']"),
        ("workflows", "#/workflows", "workflows", "#workflow-list tbody tr[data-workflow-id]"),
        ("workflow", f"#/workflows/{compensated}", "workflow", "#timeline g[data-lane='compensation']"),
        ("types", "#/types", "types", "section[data-type='purchase'] g[data-step]"),
    ]
    for name, fragment, view, needed in views:
        client.navigate(f"{base}/ui/{fragment}")
        loaded = f"#view[data-view='{view}'][data-loaded='true']"
        Wait(client, timeout=15).until(
            lambda c: c.execute_script(f"return !!document.querySelector({loaded!r})"),
            message=f"{name}: the view did not load",
        )
        found = client.execute_script(f"return document.querySelectorAll({needed!r}).length")
        if not found:
            failures.append(f"{name}: nothing matches {needed}")
        foreign = client.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(u => !u.startsWith(arguments[0]))",
            script_args=[base + "/"],
        )
        if foreign:
            failures.append(f"{name}: requests outside the server: {foreign}")
        with open(os.path.join(shots, f"firefox-{name}.png"), "wb") as png:
            png.write(client.screenshot(format="binary"))
        print(f"console-firefox: {name} loaded ({found} × {needed})")
    # Script errors and CSP violations of the page, from Firefox's console service.
    with client.using_context(client.CONTEXT_CHROME):
        errors = client.execute_script(
            """
            const out = [];
            for (const m of Services.console.getMessageArray() || []) {
              if (m instanceof Ci.nsIScriptError && !(m.flags & Ci.nsIScriptError.warningFlag)
                  && (m.sourceName || '').startsWith(arguments[0])) {
                out.push(`${m.category}: ${m.errorMessage} (${m.sourceName}:${m.lineNumber})`);
              }
            }
            return out;
            """,
            script_args=[base],
        )
    failures.extend(f"console: {e}" for e in errors)
    client.delete_session()
finally:
    firefox.kill()
    firefox.wait()

if failures:
    for f in failures:
        print(f"console-firefox: FAIL: {f}", file=sys.stderr)
    sys.exit(1)
print("console-firefox: every view loaded, no script error, nothing outside the server")
