//! Integration tests: the real server on port 0, a fake chat sink on port 0, and
//! assertions on exactly what the sink received. One crate, so it builds once.

mod support;

mod bad_input;
mod cards;
mod coalescing;
mod console;
mod delivery;
mod deploy;
mod digests;
mod discord_threads;
mod durability;
mod hostile;
mod memory;
mod messages;
mod migrate;
mod names;
mod operations;
mod postgres;
mod replicas;
mod routing;
mod seed_trackers;
mod signatures;
mod slack_bot;
mod tidy;
mod trackers;
