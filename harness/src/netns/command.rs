//! Running `ip`, `nft` and `tc`: every call has a deadline and a failure quotes the tool.
//!
//! The tools are run directly (never through a shell), with stdin fed from a string when a
//! script is given (`nft -f -`). A tool that does not answer within its deadline is killed
//! by its exact pid (it has not been reaped yet, so the pid cannot have been reused) and
//! the call fails saying so.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

/// How long one `ip`/`nft`/`tc` invocation may take. They answer in milliseconds; a hang
/// means the system is wedged and waiting longer would not help.
pub const TOOL_DEADLINE: Duration = Duration::from_secs(20);

/// What a finished tool said.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `program args...`, feeding `stdin`; an error only when it could not run or did not
/// finish in time (a non-zero exit is reported in [`ToolOutput::success`]).
#[allow(unsafe_code, reason = "kill(2) of a tool past its deadline")]
pub fn run_tool(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<ToolOutput> {
    let described = describe(program, args);
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {described}"))?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        // A tool that exits early closes the pipe; its exit status tells why.
        let _ = pipe.write_all(text.as_bytes());
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(TOOL_DEADLINE) {
        Ok(result) => result.with_context(|| format!("waiting for {described}"))?,
        Err(_) => {
            // SAFETY: kill(2) on our own child, not yet reaped (the waiting thread still
            // holds it), so the pid still names it.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            bail!("{described} did not finish within {TOOL_DEADLINE:?}");
        }
    };
    Ok(ToolOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Like [`run_tool`], but a non-zero exit is an error quoting the tool's stderr; returns
/// its stdout.
pub fn run_ok(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let out = run_tool(program, args, stdin)?;
    if !out.success {
        bail!("{} failed: {}", describe(program, args), one_line(&out.stderr));
    }
    Ok(out.stdout)
}

/// Whether `program` is an executable file on `PATH`.
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn describe(program: &str, args: &[&str]) -> String {
    format!("`{program} {}`", args.join(" "))
}

/// A tool's stderr as one line for an error message.
pub fn one_line(text: &str) -> String {
    let joined = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    if joined.is_empty() {
        "no message".into()
    } else {
        joined
    }
}
