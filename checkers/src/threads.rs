//! The threads a check runs on: how many cores there are, and a job per index run on them.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cores this process may use, asked once: the answer reads the cgroup's files,
/// which costs more than checking a small history.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// `job(k)` for each `k` in `0..n`, in that order: the first on this thread, each other on
/// a thread of its own. A panic in any job is raised again here.
///
/// A helper hands its result back through a slot rather than through `join`, and this
/// thread waits for it awake, for a short while, before it sleeps. Joining waits for the
/// helper's thread to end in the kernel, and a sleeping thread waits to be woken: on a
/// virtual machine each costs tens of microseconds, together a sixth of checking one of
/// Porcupine's small histories. The helpers' threads end on their own.
pub(crate) fn on_threads<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if n <= 1 {
        return (0..n).map(job).collect();
    }
    let slots: Vec<Mutex<Option<std::thread::Result<T>>>> = (1..n).map(|_| Mutex::new(None)).collect();
    let finished = AtomicUsize::new(0);
    let first = std::thread::scope(|scope| {
        let (job, finished) = (&job, &finished);
        for (k, slot) in (1..n).zip(&slots) {
            scope.spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(|| job(k)));
                *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(result);
                finished.fetch_add(1, Ordering::Release);
            });
        }
        let first = job(0);
        wait_awake(finished, n - 1);
        first
    });
    let mut done = vec![first];
    for slot in slots {
        match slot.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(Ok(value)) => done.push(value),
            Some(Err(panic)) => resume_unwind(panic),
            // The scope ends only after every helper's closure has.
            None => unreachable!("a helper ended without a result"),
        }
    }
    done
}

/// `job` on each of `n` chunks of about equal length of `items`, at once: the first on
/// this thread, each other on a thread of its own (as [`on_threads`] runs them). A panic
/// in any is raised again here.
pub(crate) fn on_chunks<T: Send>(items: &mut [T], n: usize, job: impl Fn(&mut [T]) + Sync) {
    if n <= 1 || items.len() < 2 {
        job(items);
        return;
    }
    let size = items.len().div_ceil(n);
    let chunks: Vec<Mutex<&mut [T]>> = items.chunks_mut(size).map(Mutex::new).collect();
    on_threads(chunks.len(), |k| job(&mut chunks[k].lock().unwrap_or_else(|poisoned| poisoned.into_inner())));
}

/// How long a thread done with its share waits awake for the others before it sleeps:
/// longer than a small check's helper takes to finish after it, short beside any job
/// whose helpers run for milliseconds more.
const WAIT_AWAKE: Duration = Duration::from_micros(200);

/// Returns once `count` reaches `want`, or after [`WAIT_AWAKE`].
fn wait_awake(count: &AtomicUsize, want: usize) {
    let began = Instant::now();
    while count.load(Ordering::Acquire) < want {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        if began.elapsed() > WAIT_AWAKE {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_and_results_come_back_in_order() {
        for n in 0..6 {
            let runs = AtomicUsize::new(0);
            let done = on_threads(n, |k| {
                runs.fetch_add(1, Ordering::Relaxed);
                k * 10
            });
            assert_eq!(done, (0..n).map(|k| k * 10).collect::<Vec<_>>());
            assert_eq!(runs.load(Ordering::Relaxed), n);
        }
        let mut items: Vec<u32> = (0..1000).collect();
        on_chunks(&mut items, 3, |chunk| chunk.iter_mut().for_each(|x| *x += 1));
        assert_eq!(items, (1..1001).collect::<Vec<_>>());
    }

    #[test]
    fn a_helper_that_panics_raises_its_panic_here() {
        // A helper slower than the wait awake, so that its panic arrives after it.
        let caught = catch_unwind(|| {
            on_threads(2, |k| {
                if k == 1 {
                    std::thread::sleep(Duration::from_millis(5));
                    panic!("helper {k} failed");
                }
                k
            })
        });
        let panic = caught.expect_err("the helper's panic is raised");
        assert_eq!(panic.downcast_ref::<String>().map(String::as_str), Some("helper 1 failed"));
    }
}
