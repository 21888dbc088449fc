//! The tower shadow layer: over real HTTP (an axum server and hyper's client on 127.0.0.1, raw
//! TCP only for a request body that never ends and for `Expect: 100-continue`) and in process
//! on tokio's paused clock. One test binary; the README's guarantee→test table names each
//! file.

#[path = "../common/mod.rs"]
mod common;

mod live_report;
mod shadow_in_process;
mod shadow_layer;
mod shadow_trace;
