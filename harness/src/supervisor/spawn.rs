//! Spawning node processes so that none can outlive the harness.
//!
//! Three mechanisms, each covering what the others cannot:
//!
//! - Each node is the leader of its own process group (`setpgid(0, 0)`), so a terminal's
//!   Ctrl-C does not reach it directly and one `killpg` takes the node and anything it
//!   forked.
//! - `PR_SET_PDEATHSIG = SIGKILL`, set in the child between fork and exec: if the harness
//!   dies in any way (even SIGKILL, where no handler runs), the kernel kills the node.
//!   The death signal fires when the *thread* that forked the child exits, not the process,
//!   so every spawn happens on one dedicated thread that lives as long as the process
//!   (a tokio blocking thread would exit when idle and take the nodes with it).
//! - A fixed table of live process groups that [`kill_all_groups`] walks with nothing but
//!   atomic loads and `kill(2)`: safe to call from a panic hook or a signal path.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// How many node process groups one harness process tracks at once.
pub const MAX_GROUPS: usize = 1024;

static GROUPS: [AtomicI32; MAX_GROUPS] = [const { AtomicI32::new(0) }; MAX_GROUPS];

type Request = (Command, mpsc::Sender<io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();

/// Spawn `command` as a node: its own process group, killed when the harness dies, and
/// registered in the group table. The caller must [`unregister_group`] after reaping it.
#[allow(
    unsafe_code,
    reason = "pre_exec (setpgid, parent-death signal) and kill(2) of the node's process group"
)]
pub fn spawn_node(mut command: Command) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    command.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The harness may have died between fork and prctl; then no signal will come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner()
        .lock()
        .map_err(|_| io::Error::other("the spawner lock is poisoned"))?
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    let child = reply_rx.recv().map_err(|_| io::Error::other("the spawner thread dropped a request"))??;
    if let Err(e) = register_group(child.id() as i32) {
        // Untracked, it could outlive us through a panic path: do not let it run.
        // SAFETY: kill(2) on the group we just created.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let mut child = child;
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}

/// SIGKILL every registered node group. Uses only atomics and `kill(2)`.
#[allow(unsafe_code, reason = "kill(2) of every node process group")]
pub fn kill_all_groups() {
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) with a negative pid signals a process group we created.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// Signal one node's process group. `Ok(false)` if the group no longer exists.
#[allow(unsafe_code, reason = "kill(2) of one process group")]
pub fn signal_group(pgid: i32, signal: libc::c_int) -> io::Result<bool> {
    assert!(pgid > 0, "process group id must be positive, got {pgid}");
    // SAFETY: kill(2) with a negative pid signals the group.
    let rc = unsafe { libc::kill(-pgid, signal) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Forget a group after its leader was reaped.
pub fn unregister_group(pgid: i32) {
    for slot in &GROUPS {
        if slot.compare_exchange(pgid, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return;
        }
    }
}

fn register_group(pgid: i32) -> io::Result<()> {
    for slot in &GROUPS {
        if slot.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return Ok(());
        }
    }
    Err(io::Error::other(format!("more than {MAX_GROUPS} live node processes")))
}

fn spawner() -> &'static Mutex<mpsc::Sender<Request>> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("faultline-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                while let Ok((mut command, reply)) = rx.recv() {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("the spawner thread starts");
        Mutex::new(tx)
    })
}
