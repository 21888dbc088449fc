//! Guarantee 10: no value, of any depth, makes darklaunch overflow a stack — on its own
//! threads or on a caller's thread of 2 MiB — in every run form. The values here are linked
//! chains 10,000 and 100,000 levels deep whose own `Clone`, `PartialEq` and `Drop` are
//! iterative (so the caller's code handles them fine), with a derived, recursive `Serialize`
//! and `Debug`: the recursion that darklaunch drives must be the bounded one. On the code before
//! the depth-limited capture, each of these aborted the test process.

use std::time::Duration;

use darklaunch::diff::DiffOptions;
use darklaunch::publish::Recorder;
use darklaunch::{Experiment, Verdict};
use serde::Serialize;

#[derive(Debug, Serialize)]
struct Node {
    v: u64,
    child: Option<Box<Node>>,
}

impl Node {
    /// A chain `depth` levels deep whose top value is `top` and whose deepest value is `bottom`.
    fn chain(depth: usize, top: u64, bottom: u64) -> Node {
        let mut node = Node {
            v: bottom,
            child: None,
        };
        for level in 1..depth {
            node = Node {
                v: if level == depth - 1 { top } else { 7 },
                child: Some(Box::new(node)),
            };
        }
        node
    }

    fn values(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = Some(self);
        while let Some(node) = at {
            out.push(node.v);
            at = node.child.as_deref();
        }
        out
    }
}

impl Clone for Node {
    fn clone(&self) -> Self {
        let values = self.values();
        let mut node: Option<Box<Node>> = None;
        for v in values.into_iter().rev() {
            node = Some(Box::new(Node { v, child: node }));
        }
        *node.expect("a chain has a node")
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.values() == other.values()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let mut next = self.child.take();
        while let Some(mut node) = next {
            next = node.child.take();
        }
    }
}

const CALLER_STACK: usize = 2 * 1024 * 1024;
const DEPTHS: [usize; 2] = [10_000, 100_000];

/// Runs `body` on a thread with a 2 MiB stack (a tokio worker's size), as a caller would.
fn on_small_stack<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(CALLER_STACK)
        .spawn(body)
        .expect("spawn")
        .join()
        .expect("the caller's thread did not panic")
}

/// A current-thread runtime on the caller's small stack: detached candidates, their judging
/// and their diff run there or on darklaunch's own worker.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn experiment(recorder: &Recorder<Node>) -> Experiment<Node> {
    Experiment::builder("deep")
        .diff(
            DiffOptions::new()
                .try_redact("$..secret")
                .unwrap()
                .try_ignore_path("$..ignored")
                .unwrap(),
        )
        .candidate_timeout(Duration::from_secs(30))
        .publisher(recorder.clone())
        .build()
        .expect("valid experiment")
}

/// The top values differ (so the diff reports `$.v`); the bottom ones too, far below the cut.
fn check(recorder: &Recorder<Node>, returned: &Node, depth: usize) {
    assert_eq!(returned.v, 1, "the control's value comes back");
    assert_eq!(returned.values().len(), depth);
    let results = recorder.take();
    assert_eq!(results.len(), 1);
    let candidate = &results[0].candidates()[0];
    assert_eq!(candidate.verdict(), Verdict::Mismatch);
    let diff = candidate.diff().expect("a diff for the mismatch");
    assert!(diff.paths().any(|path| path == "$.v"), "{diff}");
    assert!(diff.to_string().len() < 64 * 1024, "the diff stays small");
}

#[test]
fn sync_runs_of_deep_values_do_not_overflow_a_2_mib_caller() {
    for depth in DEPTHS {
        on_small_stack(move || {
            let recorder = Recorder::new();
            let exp = experiment(&recorder);
            let value = exp.run(|| Node::chain(depth, 1, 0), || Node::chain(depth, 2, 3));
            check(&recorder, &value, depth);
            let value = exp
                .trial()
                .control(|| Node::chain(depth, 1, 0))
                .candidate("v2", || Node::chain(depth, 2, 3))
                .run();
            check(&recorder, &value, depth);
        });
    }
}

#[test]
fn async_runs_of_deep_values_do_not_overflow_a_2_mib_caller() {
    for depth in DEPTHS {
        on_small_stack(move || {
            block_on(async move {
                let recorder = Recorder::new();
                let exp = experiment(&recorder);
                let value = exp
                    .run_async(async { Node::chain(depth, 1, 0) }, async {
                        Node::chain(depth, 2, 3)
                    })
                    .await;
                check(&recorder, &value, depth);
                let value = exp
                    .trial()
                    .control(async { Node::chain(depth, 1, 0) })
                    .candidate("v2", async move { Node::chain(depth, 2, 3) })
                    .run_async()
                    .await;
                check(&recorder, &value, depth);
            })
        });
    }
}

#[test]
fn detached_runs_of_deep_values_do_not_overflow_any_thread() {
    for depth in DEPTHS {
        on_small_stack(move || {
            block_on(async move {
                let recorder = Recorder::new();
                let exp = experiment(&recorder);
                let value = exp
                    .run_detached(async { Node::chain(depth, 1, 0) }, async move {
                        Node::chain(depth, 2, 3)
                    })
                    .await;
                assert!(exp.flush(Duration::from_secs(30)).await.is_complete());
                check(&recorder, &value, depth);
                let value = exp
                    .trial()
                    .control(async { Node::chain(depth, 1, 0) })
                    .candidate("v2", async move { Node::chain(depth, 2, 3) })
                    .run_detached()
                    .await;
                assert!(exp.flush(Duration::from_secs(30)).await.is_complete());
                check(&recorder, &value, depth);
            })
        });
    }
}

#[test]
fn blocking_detached_runs_of_deep_values_do_not_overflow_any_thread() {
    for depth in DEPTHS {
        on_small_stack(move || {
            let recorder = Recorder::new();
            let exp = experiment(&recorder);
            let value = exp.run_detached_blocking(
                || Node::chain(depth, 1, 0),
                move || Node::chain(depth, 2, 3),
            );
            assert!(exp.flush_blocking(Duration::from_secs(30)).is_complete());
            check(&recorder, &value, depth);
        });
    }
}

#[test]
fn the_mismatch_panic_of_a_deep_value_is_bounded_and_does_not_overflow() {
    for depth in DEPTHS {
        let message = on_small_stack(move || {
            // No diff: the message shows the values with `Debug`, which stops at the cap.
            let exp: Experiment<Node> = Experiment::builder("deep-raise")
                .raise_on_mismatches(true)
                .build()
                .unwrap();
            let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                exp.run(|| Node::chain(depth, 1, 0), || Node::chain(depth, 2, 3))
            }));
            let payload = raised.expect_err("the mismatch raises");
            payload
                .downcast_ref::<darklaunch::MismatchError>()
                .map(|error| error.to_string())
                .expect("a MismatchError")
        });
        assert!(
            message.contains("candidate \"candidate\" mismatched"),
            "{message}"
        );
        assert!(message.len() <= 16 * 1024, "{} bytes", message.len());
        assert!(message.contains('…'), "the Debug text is cut");
    }
}
