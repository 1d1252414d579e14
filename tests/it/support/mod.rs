pub mod app;
pub mod browser;
pub mod cut_proxy;
pub mod fake_sink;
pub mod fake_tracker;
pub mod fixtures;
pub mod flaky_store;
pub mod process;

pub use app::{spawn_app, TestApp};
pub use fake_sink::{FakeSink, Reply};
pub use fixtures::{fixture, own_fixture};
