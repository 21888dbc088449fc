//! Detached runs: the caller gets the control first, caps shed, full queues drop, flush
//! reports exactly, and every counter reconciles under stress. One test binary, one module per
//! guarantee; the README's guarantee→test table names each file.
//!
//! The resident-memory test of detached runs is `tests/detached_memory.rs`, a binary of its
//! own: its reading of the process's RSS must not share the process with other tests.

#[path = "../common/mod.rs"]
mod common;

mod accounting_stress;
mod detached;
mod detached_stress;
