//! The admin commands that run beside (or without) the server.

pub mod check;
pub mod deliveries;
pub mod digest;
pub mod preview;
pub mod reroute;
