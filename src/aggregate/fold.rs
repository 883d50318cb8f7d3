//! The report folded from analyses one at a time: a whole run, or the time segments of one, each
//! dropped once folded. What is kept grows with the distinct causes, upstreams, paths, fine time
//! buckets, nginx.conf places and timeout request times, not with the failures.

use rayon::prelude::*;

use crate::access::AccessFormat;
use crate::errorlog::Role;
use crate::nginx_conf::route::Router;
use crate::nginx_conf::NginxConf;
use crate::pipeline::Analysis;
use crate::report::schema::{ErrorLines, InputRow, Period, Report, Totals, SCHEMA};
use crate::summary::AccessSummary;
use crate::time::{bucket_for_span, rfc3339};

use super::buckets::FINE_SECONDS;
use super::build::Limits;
use super::failures::{Context, Failures};

/// Fewest events a parallel part of a segment folds: below it, merging parts costs more than
/// folding them on one thread.
const MIN_CHUNK: usize = 4096;

impl Report {
    /// Shapes an analysis of a whole run into the report: [`Fold`] it, once.
    pub fn build(analysis: &Analysis, limits: Limits, bucket: Option<i64>) -> Report {
        let mut fold = Fold::new(limits, bucket);
        fold.add(analysis);
        fold.finish()
    }
}

/// The report of a run, folded from its analyses.
///
/// [`Fold::add`] takes a whole run's analysis, or the analyses of successive time segments of
/// one run, in time order. Across segments:
/// - `inputs`: the same input has the same position in every segment. Counts (lines, parsed,
///   malformed, filtered, other) add; malformed examples are appended up to
///   [`crate::summary::MALFORMED_EXAMPLES`]; path, kind, format and problem are the first
///   segment's that has one. The join method is the best over all segments' events
///   (`$connection`, then the request line, then none).
/// - `access` (with its candidates taken out): merged as [`AccessSummary::merge_input`] does.
/// - `access_formats`, `upstream_blocks`, `nginx_conf`, `error_utc_offset`: the first segment's;
///   `access_logs_known`: any segment's.
/// - `settled_unexplained`, `errors_filtered`, `errors_waiting`: add.
/// - `extents`, `has_upstream_status`, `has_connection`: not read.
/// - events and unclaimed error lines are folded in order: evidence lines and examples are the
///   first ones the whole run would list.
///
/// Kept per failure: nothing. What is kept is counters by cause, upstream, path (template unless
/// `--raw-paths`, for the top paths and the endpoints of timeout findings alike), fine time bucket
/// and place, the `$request_time`s of timeouts counted per distinct value (exact medians for the
/// findings and citations), the first `limits.top` evidence lines per cause, and moments.
pub struct Fold {
    limits: Limits,
    bucket: Option<i64>,
    segments: usize,
    inputs: Vec<InputRow>,
    access: AccessSummary,
    access_formats: Vec<AccessFormat>,
    access_logs_known: bool,
    upstream_blocks: Vec<crate::nginx_conf::Upstream>,
    nginx_conf: Option<std::sync::Arc<NginxConf>>,
    offset: i32,
    failures: Failures,
    /// Terminal error lines read, and whether any error line was.
    terminal_lines: u64,
    error_lines: bool,
    unclaimed_lines: u64,
    settled_unexplained: u64,
    errors_filtered: u64,
    errors_waiting: u64,
}

impl Fold {
    /// An empty report: `top` and path templates as `limits` say, and the timeline in buckets of
    /// `bucket` seconds (chosen from the span of the run when `None`).
    pub fn new(limits: Limits, bucket: Option<i64>) -> Fold {
        Fold {
            limits,
            bucket,
            segments: 0,
            inputs: Vec::new(),
            access: AccessSummary::default(),
            access_formats: Vec::new(),
            access_logs_known: false,
            upstream_blocks: Vec::new(),
            nginx_conf: None,
            offset: 0,
            failures: Failures::new(bucket.unwrap_or(FINE_SECONDS), 0),
            terminal_lines: 0,
            error_lines: false,
            unclaimed_lines: 0,
            settled_unexplained: 0,
            errors_filtered: 0,
            errors_waiting: 0,
        }
    }

    /// Folds one analysis: a whole run, or one time segment of a run; segments come in time
    /// order (see [`Fold`] for how they add up).
    pub fn add(&mut self, analysis: &Analysis) {
        if self.segments == 0 {
            self.access_formats.clone_from(&analysis.access_formats);
            self.upstream_blocks.clone_from(&analysis.upstream_blocks);
            self.nginx_conf.clone_from(&analysis.nginx_conf);
            self.offset = analysis.error_utc_offset;
            self.failures = Failures::new(self.bucket.unwrap_or(FINE_SECONDS), self.offset);
        }
        self.segments += 1;
        self.add_inputs(&analysis.inputs);
        self.access = match self.segments {
            1 => analysis.access.clone(),
            _ => std::mem::take(&mut self.access).merge_input(analysis.access.clone()),
        };
        self.access_logs_known |= analysis.access_logs_known;
        self.settled_unexplained += analysis.settled_unexplained;
        self.errors_filtered += analysis.errors_filtered;
        self.errors_waiting += analysis.errors_waiting;

        let errors = &analysis.errors;
        // Records an earlier segment read were counted there.
        let read = &errors[..errors.len().saturating_sub(analysis.errors_read_before)];
        self.terminal_lines += read.par_iter().filter(|r| r.cause.role() == Role::Terminal).count() as u64;
        self.error_lines |= !errors.is_empty();
        let router = self.nginx_conf.as_deref().map(Router::new);
        let cx = Context { errors, router: router.as_ref(), limits: self.limits };
        // Folded in parallel parts, each merged into the one before it (rayon reduces neighbours,
        // in order) as soon as both are done: the result does not depend on the threads, and
        // few parts are held at once.
        let (fine, offset, top) = (self.bucket.unwrap_or(FINE_SECONDS), self.offset, self.limits.top);
        let events = &analysis.correlation.events;
        let chunk = (events.len() / (4 * rayon::current_num_threads())).max(MIN_CHUNK);
        let segment = events
            .par_chunks(chunk)
            .map(|events| {
                let mut part = Failures::new(fine, offset);
                events.iter().for_each(|e| part.add_event(e, &cx));
                part
            })
            .reduce_with(|mut earlier, later| {
                earlier.merge(later, top);
                earlier
            });
        if let Some(segment) = segment {
            self.failures.merge(segment, top);
        }
        for &i in &analysis.correlation.unmatched {
            self.failures.add_unclaimed(&errors[i], offset, top);
        }
        self.unclaimed_lines += analysis.correlation.unmatched.len() as u64;
    }

    fn add_inputs(&mut self, inputs: &[InputRow]) {
        for (i, input) in inputs.iter().enumerate() {
            match self.inputs.get_mut(i) {
                Some(row) => super::inputs::add_segment(row, input),
                None => self.inputs.push(input.clone()),
            }
        }
    }

    /// The report of everything folded.
    pub fn finish(self) -> Report {
        let access = &self.access;
        let offset = self.offset;
        let access_logs =
            self.access_logs_known || self.inputs.iter().any(|i| i.kind == Some(crate::input::Kind::Access));
        let bucket_seconds = self
            .bucket
            .unwrap_or_else(|| bucket_for_span(access.last.unwrap_or(0) - access.first.unwrap_or(0)));
        let failures = self.failures;
        let inputs = failures.joins.rows(&self.inputs);
        let causes = if access_logs {
            super::causes::rows(
                failures.causes,
                &failures.paths,
                failures.client,
                self.limits.top,
                self.nginx_conf.as_deref(),
                access,
            )
        } else {
            super::causes::unclaimed_rows(failures.unclaimed)
        };
        let top_paths = failures.paths.top(self.limits.top);
        let names = failures.upstreams.names().to_vec();
        let mut upstreams = failures.upstreams.rows(access, &self.upstream_blocks, offset);
        let timeline = failures.buckets.timeline(&access.minutes, bucket_seconds);
        failures.buckets.fill_failures_over_time(&names, &mut upstreams, &timeline);
        let folded = super::build::cap_upstreams(&mut upstreams, super::build::MAX_UPSTREAM_ROWS);
        let incidents = super::incidents::detect(
            &timeline,
            |start, end| failures.buckets.upstreams_between(&names, start, end),
            bucket_seconds,
            offset,
        );
        let advice = super::build::advice(
            &self.access_formats,
            folded,
            self.settled_unexplained,
            !access_logs && self.error_lines,
        );
        Report {
            schema: SCHEMA.to_owned(),
            totals: Totals {
                requests: access.statuses.total(),
                by_status: access.statuses.iter().map(|(s, n)| (super::build::status_key(s), n)).collect(),
                failures: failures.client,
                lines_read: inputs.iter().map(|i| i.lines).sum(),
                parsed: inputs.iter().map(|i| i.parsed).sum(),
                malformed_lines: inputs.iter().map(|i| i.malformed).sum(),
                filtered: inputs.iter().map(|i| i.filtered).sum(),
                other: inputs.iter().map(|i| i.other).sum(),
                access_logs,
            },
            causes,
            upstreams,
            top_paths,
            timeline,
            incidents,
            inputs,
            unmatched_error_lines: self.unclaimed_lines,
            error_lines: ErrorLines {
                read: self.terminal_lines,
                claimed: failures.claimed,
                unmatched: self.unclaimed_lines,
                filtered: self.errors_filtered,
                waiting: self.errors_waiting,
                context_claimed: failures.context_claimed,
            },
            advice,
            period: Period {
                first: access.first.map(|t| rfc3339(t, offset)),
                last: access.last.map(|t| rfc3339(t, offset)),
                bucket_seconds,
            },
            filters: Vec::new(),
            labels: std::collections::BTreeMap::new(),
            by_label: std::collections::BTreeMap::new(),
        }
    }
}

#[cfg(test)]
#[path = "fold_tests.rs"]
mod tests;
