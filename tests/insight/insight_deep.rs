//! Guarantee 10 for the insight: a value 100,000 levels deep, published into an `Insight` on a
//! caller's thread of 2 MiB, and the report rendered, overflow no stack.

use darklaunch::diff::DiffOptions;
use darklaunch::insight::Insight;
use darklaunch::Experiment;
use serde::Serialize;

const DEPTH: usize = 100_000;

#[derive(Serialize)]
struct Node {
    v: u64,
    child: Option<Box<Node>>,
}

impl Drop for Node {
    /// Iterative, so that dropping the chain needs no deep stack either.
    fn drop(&mut self) {
        let mut next = self.child.take();
        while let Some(mut node) = next {
            next = node.child.take();
        }
    }
}

fn chain(root: u64) -> Node {
    let mut node = Node { v: 0, child: None };
    for v in 1..DEPTH as u64 {
        node = Node {
            v,
            child: Some(Box::new(node)),
        };
    }
    node.v = root;
    node
}

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no overflow, no panic");
}

fn publish_and_render(differ: bool) {
    let insight = Insight::new();
    let mut builder = Experiment::<Node>::builder("deep")
        // The default comparison (PartialEq) would recurse; compare the roots.
        .compare(|control: &Node, candidate: &Node| control.v == candidate.v)
        .publisher(insight.clone());
    if differ {
        builder = builder.diff(DiffOptions::new());
    }
    let experiment = builder.build().expect("valid");
    experiment.run(|| chain(1), || chain(2));
    let report = insight.report();
    assert_eq!(report.candidates[0].mismatched, 1);
    let terminal = report.to_terminal();
    let html = report.to_html();
    let json = serde_json::to_string(&report).expect("serializes");
    assert!(terminal.len() < 1 << 20 && html.len() < 1 << 20 && json.len() < 1 << 20);
    if !differ {
        let sample = &report.candidates[0].groups[0].samples[0];
        assert!(
            sample.control.starts_with(r#"{"v":1,"child":{"v":"#),
            "{}",
            sample.control
        );
    }
}

#[test]
fn a_deep_value_without_a_differ_renders_on_a_2_mib_thread() {
    on_small_stack(|| publish_and_render(false));
}

#[test]
fn a_deep_value_with_a_differ_renders_on_a_2_mib_thread() {
    on_small_stack(|| publish_and_render(true));
}
