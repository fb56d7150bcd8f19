//! Logs written to a pipe (a file, `| less`, a log shipper) carry no ANSI colour codes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process, killed when dropped (so a failing test leaves none behind).
struct Killed(Option<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `sagaflow dev` with stdout and stderr piped, `NO_COLOR` unset: once it printed its
/// addresses it is stopped with SIGTERM, and its logs (at least the shutdown line) must be
/// plain text.
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_sagaflow"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SAGAFLOW_") {
            command.env_remove(name);
        }
    }
    let child = command
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sagaflow binary runs");
    let mut guard = Killed(Some(child));
    let child = guard.0.as_mut().expect("spawned");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let up = lines
        .by_ref()
        .any(|line| line.contains("API on http://127.0.0.1:"));
    assert!(up, "sagaflow dev printed its address");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    // Read the rest of stdout, so that dev's last lines do not meet a closed pipe.
    lines.for_each(drop);
    let out = guard
        .0
        .take()
        .expect("running")
        .wait_with_output()
        .expect("sagaflow dev ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shutdown requested"), "logs: {stderr}");
    assert!(!stderr.contains("\x1b["), "colour codes in: {stderr:?}");
}
