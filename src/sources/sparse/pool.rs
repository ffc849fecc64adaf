//! A bounded set of worker threads draining a queue that grows as they
//! work: each name found in a fetched file is queued at once, so the
//! closure of a set of packages is fetched breadth-first with every
//! connection busy, and no name is visited twice.

use std::collections::{HashSet, VecDeque};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::sources::SourceError;

/// The shared state of one run.
struct Queue {
    pending: VecDeque<String>,
    /// Names ever queued, lowercased: the index path ignores case.
    seen: HashSet<String>,
    /// Names being visited right now.
    active: usize,
    failure: Option<SourceError>,
}

impl Queue {
    fn push(&mut self, name: String) -> bool {
        let fresh = self.seen.insert(name.to_ascii_lowercase());
        if fresh {
            self.pending.push_back(name);
        }
        fresh
    }
}

/// Calls `visit` once for every name of `roots` and every name a visit
/// returns, on up to `workers` threads. Stops at the first error, which it
/// returns.
pub(super) fn visit_all<F>(roots: &[String], workers: usize, visit: F) -> Result<(), SourceError>
where
    F: Fn(&str) -> Result<Vec<String>, SourceError> + Sync,
{
    let mut queue = Queue {
        pending: VecDeque::new(),
        seen: HashSet::new(),
        active: 0,
        failure: None,
    };
    for name in roots {
        queue.push(name.clone());
    }
    if queue.pending.is_empty() {
        return Ok(());
    }
    let threads = workers.max(1);
    let shared = (Mutex::new(queue), Condvar::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| work(&shared, &visit));
        }
    });
    let (queue, _) = shared;
    match queue.into_inner().unwrap_or_else(PoisonError::into_inner).failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn work<F>((queue, wake): &(Mutex<Queue>, Condvar), visit: &F)
where
    F: Fn(&str) -> Result<Vec<String>, SourceError>,
{
    let lock = || queue.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let name = {
            let mut state = lock();
            loop {
                if state.failure.is_some() {
                    return;
                }
                if let Some(name) = state.pending.pop_front() {
                    state.active += 1;
                    break name;
                }
                if state.active == 0 {
                    return;
                }
                state = wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let result = visit(&name);
        let mut state = lock();
        state.active -= 1;
        match result {
            Ok(found) => {
                for name in found {
                    if state.push(name) {
                        wake.notify_one();
                    }
                }
            }
            Err(error) => {
                state.failure.get_or_insert(error);
            }
        }
        // Someone must notice the end of the run (nothing pending, nobody
        // active) or the failure.
        if state.failure.is_some() || (state.active == 0 && state.pending.is_empty()) {
            wake.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A graph with a cycle, a diamond and a name in two cases.
    fn graph() -> BTreeMap<&'static str, Vec<&'static str>> {
        BTreeMap::from([
            ("a", vec!["b", "c"]),
            ("b", vec!["d"]),
            ("c", vec!["d", "A"]),
            ("d", vec!["b", "e"]),
            ("e", vec![]),
            ("lonely", vec![]),
        ])
    }

    #[test]
    fn visits_the_closure_once_each() {
        let graph = graph();
        for workers in [1, 3, 16] {
            let visits = Mutex::new(Vec::new());
            visit_all(&["a".to_string()], workers, |name| {
                visits.lock().unwrap().push(name.to_owned());
                Ok(graph[name].iter().map(|s| s.to_string()).collect())
            })
            .unwrap();
            let mut visits = visits.into_inner().unwrap();
            visits.sort();
            assert_eq!(visits, ["a", "b", "c", "d", "e"], "{workers} workers");
        }
    }

    #[test]
    fn runs_visits_in_parallel() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let roots: Vec<String> = (0..8).map(|i| i.to_string()).collect();
        visit_all(&roots, 4, |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(30));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(Vec::new())
        })
        .unwrap();
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak > 1 && peak <= 4, "peak {peak}");
    }

    #[test]
    fn stops_at_the_first_error() {
        let visited = AtomicUsize::new(0);
        let roots: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let error = visit_all(&roots, 2, |name| {
            visited.fetch_add(1, Ordering::SeqCst);
            if name == "3" {
                Err(SourceError::NotUtf8 { location: name.into() })
            } else {
                Ok(Vec::new())
            }
        })
        .unwrap_err();
        assert!(matches!(error, SourceError::NotUtf8 { location } if location == "3"));
        assert!(visited.load(Ordering::SeqCst) < 100);
    }

    #[test]
    fn nothing_to_do_is_fine() {
        visit_all(&[], 4, |_| panic!("nothing to visit")).unwrap();
    }
}
