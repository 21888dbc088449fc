//! Running a test of this binary again inside a private network namespace (`unshare -n`, with
//! `lo` up), for receivers that listen on all interfaces: the outer test re-executes one inner
//! test there and passes only if that test printed its marker.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// `Err(reason)` unless this machine can make a network namespace and import `oteltest`'s
/// `import` (a Python statement such as `from oteltest.sink import HttpSink`).
pub fn prerequisites(import: &str) -> Result<(), String> {
    let namespace = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up"])
        .stdin(Stdio::null())
        .output();
    match namespace {
        Err(e) => return Err(format!("`unshare` could not be started: {e}")),
        Ok(out) if !out.status.success() => {
            return Err(format!(
                "`unshare -n sh -c 'ip link set lo up'` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
        Ok(_) => {}
    }
    match Command::new("python3")
        .args(["-c", import])
        .stdin(Stdio::null())
        .output()
    {
        Err(e) => Err(format!("`python3` could not be started: {e}")),
        Ok(out) if !out.status.success() => Err(format!(
            "`python3 -c '{import}'` failed (install it: python3 -m pip install oteltest): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => Ok(()),
    }
}

/// Re-executes this test binary's `inner_test` (`--exact`, `--ignored`) in a private network
/// namespace with `inner_env=1` set and no proxy variables (nothing beyond loopback exists
/// there); `configure` adds to the command. Panics unless it finishes within `deadline`,
/// succeeds, ran exactly one test and printed `passed_marker`; `label` names the outer test in
/// what it prints.
pub fn run_inside(
    label: &str,
    inner_test: &str,
    inner_env: &str,
    passed_marker: &str,
    deadline: Duration,
    configure: impl FnOnce(&mut Command),
) {
    let exe = std::env::current_exe().expect("path of this test binary");
    let mut command = Command::new("unshare");
    command
        .args(["-n", "sh", "-c", r#"ip link set lo up && exec "$0" "$@""#])
        .arg(&exe)
        .args(["--exact", inner_test, "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(inner_env, "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for name in std::env::vars().map(|(name, _)| name) {
        if name.to_ascii_lowercase().ends_with("_proxy") {
            command.env_remove(name);
        }
    }
    configure(&mut command);

    let started = Instant::now();
    let (status, stdout, stderr) = run_bounded(command, deadline);
    let output = format!("--- inner stdout ---\n{stdout}\n--- inner stderr ---\n{stderr}");
    let Some(status) = status else {
        panic!("the namespaced run did not finish within {deadline:?}\n{output}");
    };
    assert!(
        status.success(),
        "the namespaced run failed: {status}\n{output}"
    );
    assert!(
        stdout.contains(passed_marker) && stdout.contains("1 passed"),
        "the namespaced run did not run its assertions (no marker, or not exactly one test ran)\n{output}"
    );
    eprintln!(
        "{label}: namespaced run passed in {:.1?}",
        started.elapsed()
    );
    eprint!("{output}");
}

/// Runs `command` to completion or until `deadline` (then kills it): exit status (`None` on
/// timeout), stdout, stderr.
fn run_bounded(mut command: Command, deadline: Duration) -> (Option<ExitStatus>, String, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start `unshare` (util-linux)");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        match child.try_wait().expect("wait for the namespaced run") {
            Some(status) => break Some(status),
            None if started.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(50)),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    (status, stdout, stderr)
}
