//! What reading a body costs per tracker: decode and normalize one real (or
//! documented) payload of each kind, as the request path does after
//! verifying it. Run: cargo bench --bench normalize

use axum::http::{HeaderMap, HeaderValue};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use storybridge::config::{load_str, ConfigOrigin};
use storybridge::normalize::{decode, normalize, BodyFormat, Normalized};
use storybridge::verify::Verified;
use storybridge::Bridge;

const CONFIG: &str = "sources:
  shortcut: { kind: shortcut, allow_unsigned: true }
  pivotal: { kind: pivotal, allow_unsigned: true }
  github: { kind: github, allow_unsigned: true }
  gitlab: { kind: gitlab, allow_unsigned: true }
  linear: { kind: linear, allow_unsigned: true }
  jira: { kind: jira, allow_unsigned: true }
channels:
  out: { kind: console }
";

fn body(path: &str) -> Vec<u8> {
    let root = env!("CARGO_MANIFEST_DIR");
    let full = match path.strip_prefix("shared:") {
        Some(shared) => format!("{root}/../shared/fixtures/{shared}"),
        None => format!("{root}/tests/fixtures/{path}"),
    };
    std::fs::read(&full).unwrap_or_else(|error| panic!("{full}: {error}"))
}

fn normalizers(criterion: &mut Criterion) {
    let origin = ConfigOrigin { name: "bench.yaml".into(), base_dir: ".".into() };
    let bridge = Bridge::build(load_str(CONFIG, &origin, &|_| None).unwrap(), origin).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", HeaderValue::from_static("issues"));
    let cases = [
        ("shortcut", "shared:shortcut/zulip_story_update_change_state.json"),
        ("pivotal", "shared:pivotal/joshlong_v5_story_started_with_label_counts.json"),
        ("github", "github/issues_labeled.json"),
        ("gitlab", "gitlab/issue_hook.json"),
        ("linear", "linear/issue_update_state_labels_assignee.json"),
        ("jira", "jira/cloud_issue_updated_assignee_labels.json"),
    ];
    let mut group = criterion.benchmark_group("decode and normalize");
    for (source, path) in cases {
        let verified = Verified::local_file(body(path).into());
        group.throughput(Throughput::Bytes(verified.body().len() as u64));
        let config = &bridge.config.sources[source];
        group.bench_with_input(BenchmarkId::from_parameter(source), &source, |bench, _| {
            bench.iter(|| {
                let payload = decode(&verified, BodyFormat::Json).unwrap();
                let Ok(Normalized::Event(event)) = normalize(source, config, &headers, &verified, payload)
                else {
                    panic!("{source} normalizes");
                };
                event
            })
        });
    }
    group.finish();
}

criterion_group!(benches, normalizers);
criterion_main!(benches);
