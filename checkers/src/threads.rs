//! The threads a check runs on: how many cores there are, and a job per index run on them.

/// The cores this process may use, asked once: the answer reads the cgroup's files,
/// which costs more than checking a small history.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// `job(k)` for each `k` in `0..n`, in that order: the first on this thread, each other on
/// a thread of its own. A panic in any job is raised again here.
pub(crate) fn on_threads<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if n <= 1 {
        return (0..n).map(job).collect();
    }
    std::thread::scope(|scope| {
        let job = &job;
        let helpers: Vec<_> = (1..n).map(|k| scope.spawn(move || job(k))).collect();
        let mut done = vec![job(0)];
        for helper in helpers {
            done.push(helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        done
    })
}

/// `job` on each of `n` chunks of about equal length of `items`, at once: the first on
/// this thread, each other on a thread of its own. A panic in any is raised again here.
pub(crate) fn on_chunks<T: Send>(items: &mut [T], n: usize, job: impl Fn(&mut [T]) + Sync) {
    if n <= 1 || items.len() < 2 {
        job(items);
        return;
    }
    let size = items.len().div_ceil(n);
    std::thread::scope(|scope| {
        let job = &job;
        let mut chunks = items.chunks_mut(size);
        let first = chunks.next();
        let helpers: Vec<_> = chunks.map(|chunk| scope.spawn(move || job(chunk))).collect();
        if let Some(first) = first {
            job(first);
        }
        for helper in helpers {
            helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
    });
}
