//! Servers the tests start (`spin up`, `redis-server`): on free loopback ports, stopped when
//! the test process exits however it exits normally (the test harness ends with `exit`).

use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::{Mutex, Once};

static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

extern "C" fn stop_children() {
    let pids = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
    for pid in pids {
        // SAFETY: sends SIGTERM to a process this test process started and still owns.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
}

/// Starts `command`; it is sent SIGTERM when this process exits.
pub fn spawn(command: &mut Command) -> std::io::Result<Child> {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a plain function with no captured state.
        unsafe {
            libc::atexit(stop_children);
        }
    });
    let child = command.spawn()?;
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(child.id());
    Ok(child)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Where `program` is on PATH.
pub fn on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The last `lines` lines of a text file (for failure messages).
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
