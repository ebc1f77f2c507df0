//! A pool of threads for CPU work that would block the async threads
//! (parsing a DICOM instance), as many as the machine has cores.
//!
//! Why not tokio's blocking pool: it grows a thread for every task waiting
//! on I/O (blob fsyncs), up to hundreds, and a job there runs on whichever
//! thread is free. Each thread then keeps the allocator's pages for the
//! large buffers it parsed, and the process's memory grows with the number
//! of threads ever busy. Here CPU jobs stay on a fixed few threads whose
//! memory is reused from one job to the next, and at most that many run at
//! once (more would only take turns on the same cores).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A job that ended without an answer: it panicked (the pool goes on), or
/// no pool thread could be started.
#[derive(Debug, thiserror::Error)]
#[error("a CPU job ended without an answer")]
pub(crate) struct Panicked;

struct Pool {
    jobs: Sender<Job>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hale-cpu-{i}"))
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a CPU thread");
            }
        }
        Pool { jobs: tx }
    })
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panic drops the job's answer channel (the caller sees
        // `Panicked`); the thread lives on for the next job.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Runs `f` on the CPU pool and waits for its answer without blocking the
/// async thread.
pub(crate) async fn run<F, R>(f: F) -> Result<R, Panicked>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    pool().jobs.send(job).map_err(|_| Panicked)?;
    rx.await.map_err(|_| Panicked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_answer_and_a_panic_does_not_stop_the_pool() {
        assert_eq!(run(|| 6 * 7).await.unwrap(), 42);
        assert!(run(|| -> u8 { panic!("boom") }).await.is_err());
        let answers = futures::future::join_all((0..32u64).map(|i| run(move || i * i))).await;
        let answers: Vec<u64> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, (0..32u64).map(|i| i * i).collect::<Vec<_>>());
        // Jobs run on the pool's own threads.
        let name = run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("hale-cpu-"));
    }
}
