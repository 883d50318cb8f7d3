//! The report's cause rows, from the folded failures of each cause.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::errorlog::Cause;
use crate::nginx_conf::route::Router;
use crate::nginx_conf::NginxConf;
use crate::path_template::PathTally;
use crate::report::schema::{ratio, CauseRow};
use crate::summary::AccessSummary;

use super::build::status_key;
use super::failures::{CauseTally, Unclaimed};

/// One row per cause of the client-facing failures (`total` of them), most failures first, each
/// with its `top` paths (from `paths`, all the failures by path and cause); with nginx.conf, each
/// cites the directives that applied where its failures were handled.
pub fn rows(
    causes: BTreeMap<Cause, CauseTally>,
    paths: &PathTally,
    total: u64,
    top: usize,
    conf: Option<&NginxConf>,
    access: &AccessSummary,
) -> Vec<CauseRow> {
    let router = conf.map(Router::new);
    // Citations resolve each cause's places again: one task per cause.
    let mut rows: Vec<CauseRow> = causes
        .into_par_iter()
        .map(|(cause, tally)| {
            let info = cause.info();
            let times = tally.all_times();
            let citations = match (conf, &router) {
                (Some(conf), Some(router)) => {
                    crate::cite::citations(conf, router, cause, tally.places, &access.upstreams)
                }
                _ => Vec::new(),
            };
            CauseRow {
                cause: info.slug,
                count: tally.count,
                share: ratio(tally.count, total),
                statuses: tally.statuses.into_iter().map(|(s, n)| (status_key(s), n)).collect(),
                summary: info.summary,
                fix: info.fix,
                findings: tally.findings.finish(cause, times),
                citations,
                evidence: tally.evidence,
                top_paths: paths.top_of(cause, top),
            }
        })
        .collect();
    sort(&mut rows);
    rows
}

/// Without access logs: one row per cause of the error lines themselves (with no access line
/// to claim them, every terminal line in the time window is unclaimed).
pub fn unclaimed_rows(causes: BTreeMap<Cause, Unclaimed>) -> Vec<CauseRow> {
    let total: u64 = causes.values().map(|u| u.count).sum();
    let mut rows: Vec<CauseRow> = causes
        .into_iter()
        .map(|(cause, lines)| {
            let info = cause.info();
            let mut statuses = BTreeMap::new();
            if let Some(s) = info.status {
                statuses.insert(status_key(s), lines.count);
            }
            CauseRow {
                cause: info.slug,
                count: lines.count,
                share: ratio(lines.count, total),
                statuses,
                summary: info.summary,
                fix: info.fix,
                evidence: lines.evidence,
                top_paths: Vec::new(),
                findings: Vec::new(),
                citations: Vec::new(),
            }
        })
        .collect();
    sort(&mut rows);
    rows
}

/// Most failures first, then by slug.
fn sort(rows: &mut [CauseRow]) {
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.cause.cmp(b.cause)));
}
