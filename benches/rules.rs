//! How rule matching scales: one real Shortcut state change matched against
//! 10, 1,000 and 10,000 rules of mixed matchers. Run: cargo bench --bench rules

use axum::http::HeaderMap;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use storybridge::config::{load_str, ConfigOrigin};
use storybridge::normalize::{normalize, Event, Normalized};
use storybridge::resolve::{resolve, Names};
use storybridge::rules::matching;
use storybridge::verify::Verified;
use storybridge::Bridge;

/// `count` rules; every tenth could fire on the event, the rest differ in one matcher.
fn bridge(count: usize) -> Bridge {
    let mut yaml = String::from(
        "sources:\n  shortcut: { kind: shortcut, allow_unsigned: true }\nchannels:\n  out: { kind: console }\nrules:\n",
    );
    for n in 0..count {
        let when = match n % 10 {
            0 => "{ entity_type: story, to: { workflow_state_id: Ready for Review } }".to_owned(),
            1 => "{ entity_type: epic, action: update, changed: [epic_state_id] }".to_owned(),
            2 => format!("{{ to: {{ workflow_state_id: \"State {n}\" }} }}"),
            3 => "{ action: [create, delete] }".to_owned(),
            4 => format!("{{ actor: person-{n}, entity_type: story }}"),
            5 => format!("{{ label: {{ added: label-{n} }} }}"),
            6 => "{ source: shortcut, entity_type: story-comment }".to_owned(),
            7 => format!("{{ from: {{ workflow_state_id: [\"A {n}\", \"B {n}\"] }} }}"),
            8 => "{ primary: false, changed: [owner_ids] }".to_owned(),
            _ => "{ entity_type: story, not: { changed: [workflow_state_id] } }".to_owned(),
        };
        yaml.push_str(&format!("  - {{ name: rule-{n}, when: {when}, send: [out] }}\n"));
    }
    let origin = ConfigOrigin { name: "bench.yaml".into(), base_dir: ".".into() };
    Bridge::build(load_str(&yaml, &origin, &|_| None).unwrap(), origin).unwrap()
}

fn event(bridge: &Bridge) -> (Event, Names) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/shortcut/zulip_story_update_change_state.json"
    );
    let body = std::fs::read(path).unwrap();
    let verified = Verified::local_file(body.clone().into());
    let source = &bridge.config.sources["shortcut"];
    let payload = serde_json::from_slice(&body).unwrap();
    let Ok(Normalized::Event(event)) = normalize("shortcut", source, &HeaderMap::new(), &verified, payload)
    else {
        panic!("the fixture normalizes");
    };
    let names = resolve(&event, &bridge.directory);
    (*event, names)
}

fn rules(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("rules evaluated");
    for count in [10, 1_000, 10_000] {
        let bridge = bridge(count);
        let (event, names) = event(&bridge);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::from_parameter(count), &count, |bench, _| {
            bench.iter(|| matching(&bridge.rules, &event, &event.changes[0], &names).len())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = rules
}
criterion_main!(benches);
