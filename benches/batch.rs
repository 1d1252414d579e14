//! How one large event scales: a Shortcut batch of N story changes, each with a
//! comment created under it, and a Pivotal change between two id lists of N,
//! normalized and routed (one message per story for Shortcut). Time per
//! element should stay flat as N grows. Run: cargo bench --bench batch

use axum::http::HeaderMap;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use storybridge::config::{load_str, ConfigOrigin};
use storybridge::normalize::{normalize, Normalized};
use storybridge::pipeline::route;
use storybridge::verify::Verified;
use storybridge::Bridge;

/// As the binary does (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONFIG: &str = r#"
sources:
  shortcut: { kind: shortcut, allow_unsigned: true }
  tracker: { kind: pivotal, allow_unsigned: true }
channels:
  out: { kind: slack, url: "https://example.invalid/hook" }
rules:
  - { name: stories, when: { entity_type: story, changed: [workflow_state_id] }, send: [out] }
"#;

fn shortcut_batch(pairs: usize) -> Value {
    let actions: Vec<Value> = (0..pairs)
        .flat_map(|n| {
            [
                json!({"id": 10_000 + n, "entity_type": "story", "action": "update", "name": format!("Story {n}"),
                       "app_url": format!("https://app.shortcut.com/acme/story/{}", 10_000 + n),
                       "changes": {"workflow_state_id": {"old": 1, "new": 2}, "comment_ids": {"adds": [90_000 + n]}}}),
                json!({"id": 90_000 + n, "entity_type": "story-comment", "action": "create", "text": "done"}),
            ]
        })
        .collect();
    json!({"id": "batch", "actions": actions, "references": [{"id": 2, "entity_type": "workflow-state", "name": "Done"}]})
}

fn pivotal_lists(length: usize) -> Value {
    let old: Vec<usize> = (0..length).collect();
    let new: Vec<usize> = (1..=length).collect();
    json!({"kind": "story_update_activity", "guid": "lists", "changes": [{"kind": "story", "id": 1,
           "change_type": "update", "original_values": {"label_ids": old}, "new_values": {"label_ids": new}}]})
}

/// A group's name, its source, how to make an event of size N, and the sizes.
type Case = (&'static str, &'static str, fn(usize) -> Value, [usize; 3]);

fn batch(criterion: &mut Criterion) {
    let origin = ConfigOrigin { name: "bench.yaml".into(), base_dir: ".".into() };
    let bridge = Bridge::build(load_str(CONFIG, &origin, &|_| None).unwrap(), origin).unwrap();
    let cases: [Case; 2] = [
        ("shortcut story+comment pairs", "shortcut", shortcut_batch, [250, 1_000, 4_000]),
        ("pivotal id list length", "tracker", pivotal_lists, [1_000, 10_000, 40_000]),
    ];
    for (name, source_name, make, sizes) in cases {
        let source = &bridge.config.sources[source_name];
        let mut group = criterion.benchmark_group(name);
        for size in sizes {
            let body = make(size).to_string();
            group.throughput(Throughput::Elements(size as u64));
            group.bench_with_input(BenchmarkId::from_parameter(size), &size, |bench, _| {
                bench.iter(|| {
                    let verified = Verified::local_file(body.clone().into_bytes().into());
                    let payload = serde_json::from_str(&body).unwrap();
                    let Ok(Normalized::Event(event)) =
                        normalize(source_name, source, &HeaderMap::new(), &verified, payload)
                    else {
                        panic!("normalizes");
                    };
                    route(&bridge, &event).len()
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = batch
}
criterion_main!(benches);
