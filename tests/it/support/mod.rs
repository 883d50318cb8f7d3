//! Support code for the real-nginx harness (`tests/it/e2e_nginx.rs`, `tests/it/live_nginx.rs`).
#![allow(dead_code)]

pub mod accounting;
pub mod backends;
pub mod http;
pub mod lab;
pub mod nginx;
pub mod verify;
