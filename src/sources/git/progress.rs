//! Relays gix's progress tree into our coarse [`Progress`]: a fetch shows as
//! a few phases ("connecting", "receiving objects", "resolving deltas") with
//! object counts.
//!
//! gix's pack code bumps shared atomic counters from several threads
//! directly (`Count::counter()`), bypassing any method we could intercept, so
//! a relay thread samples the counter of the current phase a few times a
//! second instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gix::odb::pack::index::write::ProgressId;
use gix::progress::{Id, MessageLevel, Step, StepShared, UNKNOWN, Unit};

use crate::util::progress::Progress;

/// How often the relay thread samples the counters.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The phase whose counter is currently relayed.
#[derive(Clone)]
struct Phase {
    name: &'static str,
    total: u64,
    counter: StepShared,
    /// Counter value when the phase began: counters may be reused.
    start: usize,
    serial: u64,
}

/// Where gix's progress nodes announce the phase they start.
#[derive(Default)]
struct Board {
    current: Mutex<Option<Phase>>,
}

impl Board {
    fn begin(&self, name: &'static str, total: u64, counter: StepShared) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let serial = current.as_ref().map_or(0, |p| p.serial + 1);
        let start = counter.load(Ordering::Relaxed);
        *current = Some(Phase {
            name,
            total,
            counter,
            start,
            serial,
        });
    }

    fn current(&self) -> Option<Phase> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Runs `work` with a gix progress handle whose phases are relayed to
/// `progress` from a helper thread; the first phase is `first_phase`.
pub(super) fn relay<T>(progress: &dyn Progress, first_phase: &'static str, work: impl FnOnce(GixProgress) -> T) -> T {
    let board = Arc::new(Board::default());
    board.begin(first_phase, 0, StepShared::default());
    // Shown here, not by the relay thread, so it is on screen at once
    // whenever that thread gets to run.
    let first = board.current().expect("just begun");
    progress.start(first.name, first.total);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let relay = scope.spawn(|| show_phases(&board, progress, &done, first));
        let result = work(GixProgress::root(board.clone()));
        done.store(true, Ordering::Release);
        relay.thread().unpark();
        relay.join().expect("the relay thread does not panic");
        result
    })
}

/// Samples the board until `done`, turning phase changes into
/// `start`/`finish` and counter growth into `advance`. A phase that ends is
/// sampled once more before it is finished, so its count arrives whole.
fn show_phases(board: &Board, progress: &dyn Progress, done: &AtomicBool, first: Phase) {
    let (mut shown, mut reported) = (first, 0);
    loop {
        let last_round = done.load(Ordering::Acquire);
        if let Some(phase) = board.current()
            && phase.serial != shown.serial
        {
            catch_up(&shown, reported, progress);
            progress.finish();
            progress.start(phase.name, phase.total);
            (shown, reported) = (phase, 0);
        }
        reported = catch_up(&shown, reported, progress);
        if last_round {
            break;
        }
        std::thread::park_timeout(SAMPLE_EVERY);
    }
    progress.finish();
}

/// Reports the growth of `phase`'s counter since `reported`; returns the
/// new reported count.
fn catch_up(phase: &Phase, reported: usize, progress: &dyn Progress) -> usize {
    let mut now = phase.counter.load(Ordering::Relaxed).saturating_sub(phase.start);
    // Indexing a thin pack also counts the local bases gix appends to it;
    // the phase shows what the remote sent.
    if phase.total > 0 {
        now = now.min(phase.total as usize);
    }
    if now > reported {
        progress.advance((now - reported) as u64);
    }
    now.max(reported)
}

/// The phase a gix progress node stands for, by its well-known id.
fn phase_of(id: Id) -> Option<&'static str> {
    if id == Id::from(ProgressId::IndexObjects) {
        Some("receiving objects")
    } else if id == Id::from(ProgressId::ResolveObjects) {
        Some("resolving deltas")
    } else {
        None
    }
}

/// A node of gix's progress tree: counts, and announces itself on the board
/// when it is one of the phases we show.
pub(super) struct GixProgress {
    board: Arc<Board>,
    id: Id,
    name: String,
    counter: StepShared,
    max: Option<Step>,
}

impl GixProgress {
    fn root(board: Arc<Board>) -> Self {
        GixProgress {
            board,
            id: UNKNOWN,
            name: String::new(),
            counter: StepShared::default(),
            max: None,
        }
    }

    fn child(&self, name: String, id: Id) -> Self {
        GixProgress {
            board: self.board.clone(),
            id,
            name,
            counter: StepShared::default(),
            max: None,
        }
    }
}

impl gix::Count for GixProgress {
    fn set(&self, step: Step) {
        self.counter.store(step, Ordering::Relaxed);
    }

    fn step(&self) -> Step {
        self.counter.load(Ordering::Relaxed)
    }

    fn inc_by(&self, step: Step) {
        self.counter.fetch_add(step, Ordering::Relaxed);
    }

    fn counter(&self) -> StepShared {
        self.counter.clone()
    }
}

impl gix::Progress for GixProgress {
    fn init(&mut self, max: Option<Step>, _unit: Option<Unit>) {
        self.max = max;
        if let Some(name) = phase_of(self.id) {
            let total = max.map_or(0, |m| m as u64);
            self.board.begin(name, total, self.counter.clone());
        }
    }

    fn max(&self) -> Option<Step> {
        self.max
    }

    fn set_max(&mut self, max: Option<Step>) -> Option<Step> {
        std::mem::replace(&mut self.max, max)
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn name(&self) -> Option<String> {
        Some(self.name.clone())
    }

    fn id(&self) -> Id {
        self.id
    }

    fn message(&self, _level: MessageLevel, _message: String) {}
}

impl gix::NestedProgress for GixProgress {
    type SubProgress = GixProgress;

    fn add_child(&mut self, name: impl Into<String>) -> Self::SubProgress {
        self.child(name.into(), UNKNOWN)
    }

    fn add_child_with_id(&mut self, name: impl Into<String>, id: Id) -> Self::SubProgress {
        self.child(name.into(), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gix::{Count, NestedProgress, Progress as _};

    /// Records every call, to check what the relay makes of gix's tree.
    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<String>>,
        advanced: Mutex<Vec<(String, u64)>>,
    }

    impl Progress for Recorder {
        fn start(&self, task: &str, total: u64) {
            self.events.lock().unwrap().push(format!("start {task} {total}"));
            self.advanced.lock().unwrap().push((task.to_owned(), 0));
        }
        fn advance(&self, steps: u64) {
            self.advanced.lock().unwrap().last_mut().unwrap().1 += steps;
        }
        fn finish(&self) {
            self.events.lock().unwrap().push("finish".into());
        }
    }

    #[test]
    fn phases_follow_gix_ids_and_counts_arrive_in_full() {
        let recorder = Recorder::default();
        relay(&recorder, "connecting", |mut root| {
            let mut other = root.add_child_with_id("read pack", *b"BWRB");
            other.init(None, None);
            other.inc_by(5_000);
            let mut indexing = root.add_child_with_id("indexing", ProgressId::IndexObjects.into());
            indexing.init(Some(300), None);
            let shared = indexing.counter();
            std::thread::scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| (0..100).for_each(|_| _ = shared.fetch_add(1, Ordering::Relaxed)));
                }
            });
            let mut resolving = root.add_child_with_id("Resolving", ProgressId::ResolveObjects.into());
            resolving.init(Some(40), None);
            resolving.inc_by(40);
        });
        let events = recorder.events.lock().unwrap().clone();
        assert_eq!(events.first().map(String::as_str), Some("start connecting 0"));
        assert_eq!(events.last().map(String::as_str), Some("finish"));
        let starts = events.iter().filter(|e| e.starts_with("start")).count();
        let finishes = events.iter().filter(|e| *e == "finish").count();
        assert_eq!(starts, finishes, "every phase is finished: {events:?}");
        let advanced = recorder.advanced.lock().unwrap().clone();
        let count_of = |task: &str| advanced.iter().filter(|(t, _)| t == task).map(|(_, n)| n).sum::<u64>();
        // A phase may come and go between two samples and not show, but one
        // that shows arrives whole: it is sampled once more when it ends.
        assert_eq!(count_of("resolving deltas"), 40);
        if advanced.iter().any(|(t, _)| t == "receiving objects") {
            assert_eq!(count_of("receiving objects"), 300);
        }
        assert!(
            !advanced.iter().any(|(t, _)| t == "read pack"),
            "only known phases show"
        );
    }
}
