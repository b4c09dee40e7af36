//! A Python interpreter with the pinned clients (pika, aiormq) for the interop tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The clients the scenarios were compared with on RabbitMQ 3.10.8, pinned.
const CLIENTS: [&str; 2] = ["pika==1.4.4", "aiormq==7.2.4"];

/// Runs `cmd` to completion; panics with `what` and its output if it fails.
pub(crate) fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python interpreter with the pinned clients: a virtual environment of the test's
/// own under `target/tmp`, made (and the clients installed with pip) on first use.
pub(crate) fn python_with_clients() -> PathBuf {
    // The tests of one binary run on parallel threads: one of them provisions.
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(provision).clone()
}

fn provision() -> PathBuf {
    let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if let Err(e) = Command::new(&base).arg("--version").output() {
        panic!(
            "the interop test needs Python 3.11+: install python3 (or set PYTHON=/path/to/python3): {e}"
        );
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv");
    let python = venv.join("bin").join("python3");
    let marker = venv.join(format!(
        "installed-{}",
        CLIENTS.join("-").replace("==", "-")
    ));
    if marker.exists() {
        eprintln!("interop: {} from {}", CLIENTS.join(", "), venv.display());
        return python;
    }
    eprintln!(
        "interop: first run: installing {} with pip into {}",
        CLIENTS.join(", "),
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    let mut make = Command::new(&base);
    make.args(["-m", "venv"]).arg(&venv);
    run(make, &format!("{base} -m venv"));
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .args(CLIENTS);
    run(pip, "pip install of the interop clients");
    std::fs::write(&marker, CLIENTS.join("\n")).expect("mark the environment complete");
    python
}
