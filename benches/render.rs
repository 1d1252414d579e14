//! What one message costs to route and render, per platform's default layout:
//! a real Shortcut state change through `pipeline::process` (context, template,
//! limits). Run: cargo bench --bench render

use axum::http::HeaderMap;
use criterion::{criterion_group, criterion_main, Criterion};
use storybridge::config::{load_str, ConfigOrigin};
use storybridge::normalize::{normalize, Normalized};
use storybridge::pipeline::process;
use storybridge::resolve::resolve;
use storybridge::verify::Verified;
use storybridge::Bridge;

/// As the binary does (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bridge(kind: &str) -> Bridge {
    let url = if kind == "console" { "" } else { ", url: \"https://example.invalid/hook\"" };
    let yaml = format!(
        "sources:\n  shortcut: {{ kind: shortcut, allow_unsigned: true }}\n\
         channels:\n  out: {{ kind: {kind}{url} }}\n\
         rules:\n  - {{ name: all, when: {{ primary: true }}, send: [out] }}\n"
    );
    let origin = ConfigOrigin { name: "bench.yaml".into(), base_dir: ".".into() };
    Bridge::build(load_str(&yaml, &origin, &|_| None).unwrap(), origin).unwrap()
}

fn render(criterion: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/shortcut/zulip_story_update_change_state.json"
    );
    let body = std::fs::read(path).unwrap();
    let mut group = criterion.benchmark_group("route and render one message");
    for kind in ["slack", "discord", "console"] {
        let bridge = bridge(kind);
        let verified = Verified::local_file(body.clone().into());
        let payload = serde_json::from_slice(&body).unwrap();
        let source = &bridge.config.sources["shortcut"];
        let Ok(Normalized::Event(event)) =
            normalize("shortcut", source, &HeaderMap::new(), &verified, payload)
        else {
            panic!("the fixture normalizes");
        };
        let names = resolve(&event, &bridge.directory);
        assert_eq!(process(&bridge, &event, &names).len(), 1);
        group.bench_function(kind, |bench| bench.iter(|| process(&bridge, &event, &names)));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = render
}
criterion_main!(benches);
