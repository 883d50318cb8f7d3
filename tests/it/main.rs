//! The integration tests: one binary (linked once, polars included) with a module per area, each
//! running the built `ngx502` on real-looking logs and asserting exact answers.

mod support;

mod alerts_and_merge;
mod check_conf;
mod color;
mod conf_citations;
mod counts;
mod detect_property;
mod e2e_nginx;
mod e2e_streams;
mod error_lines;
mod export_segments;
mod export_tables;
mod filters;
mod formats;
mod fuzz_parsers;
mod generate;
mod generator_truth;
mod hostile;
mod incremental;
mod inputs;
mod join;
mod labels;
mod layout;
mod live_corrections;
mod live_dashboard;
mod live_metrics;
mod live_nginx;
mod live_rotation;
mod nginx_conf;
mod packaging;
mod paste;
mod path_templates;
mod readers;
mod report_formats;
mod restart;
mod segment_cases;
mod segments;
mod signatures;
mod snapshots;
mod streams;
mod threads;
