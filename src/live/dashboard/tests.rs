//! The dashboard drawn on ratatui's `TestBackend` from a scripted sequence of log lines, read by
//! the live parsers and joined by the live window at made-up instants, with the screen asserted
//! line by line at fixed moments.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::access::AccessFormat;
use crate::input::{Kind, Origin};
use crate::live::correct::{keep_for, Corrector};
use crate::live::ingest::{Arrivals, Source};
use crate::live::tally::{Input, Tally};
use crate::live::window::Window;
use crate::pipeline::Analysis;
use crate::report::schema::InputRow;

use super::draw::draw;
use super::ui::{Key, Pane, Ui};

/// A live session without files: lines are handed in with the second they "arrive".
struct Script {
    start: Instant,
    formats: Vec<AccessFormat>,
    sources: [Source; 2],
    analysis: Analysis,
    window: Window,
    corrector: Corrector,
    tally: Tally,
}

impl Script {
    fn new() -> Script {
        let start = Instant::now();
        let mut analysis = Analysis::default();
        for name in ["access.log", "error.log"] {
            analysis
                .inputs
                .push(InputRow::new(&Origin::File(PathBuf::from(format!("/var/log/nginx/{name}")))));
        }
        let wait = Duration::from_secs(3);
        let mut tally = Tally::new(start, keep_for(wait));
        tally.inputs = [("access.log", Kind::Access, 0), ("error.log", Kind::Error, 2)]
            .map(|(name, kind, rotations)| Input {
                path: format!("/var/log/nginx/{name}"),
                kind: Some(kind),
                parsed: 0,
                malformed: 0,
                filtered: 0,
                other: 0,
                rotations,
            })
            .into();
        Script {
            start,
            formats: crate::input::resolve::access_formats(None, Some("upstream")).unwrap(),
            sources: [Source::new(0, Some(Kind::Access), false), Source::new(1, Some(Kind::Error), false)],
            analysis,
            window: Window::new(wait),
            corrector: Corrector::new(wait),
            tally,
        }
    }

    fn at(&self, second: u64) -> Instant {
        self.start + Duration::from_secs(second)
    }

    /// One pass at `second`, as the follower makes it: read, count, join, show.
    fn pass(&mut self, second: u64, access: &[String], error: &[String]) {
        let now = self.at(second);
        let mut arrivals = Arrivals::default();
        for (i, lines) in [access, error].into_iter().enumerate() {
            let chunk: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let report = &mut self.analysis.inputs[i];
            self.sources[i].decide(chunk.as_bytes(), &self.formats, report);
            self.sources[i].feed(chunk.as_bytes(), report, &mut arrivals);
            self.sources[i].flush(report, &mut arrivals);
        }
        self.tally.arrivals(&arrivals, now);
        let errors_arrived = !arrivals.errors.is_empty();
        self.window.add_candidates(arrivals.candidates, now);
        self.window.add_errors(&mut self.analysis.errors, arrivals.errors, now);
        let events = self.window.join(&self.analysis.errors, None, now, false);
        self.tally.events(&events, &self.analysis, now);
        self.window.settle(&events, &mut self.analysis.errors, now, false, |_| true);
        let corrections = self.corrector.correct(&self.analysis.errors, None, now, errors_arrived);
        for correction in &corrections {
            self.tally.correct(&correction.event, &self.analysis);
        }
        let corrected: Vec<_> = corrections.into_iter().map(|c| c.event).collect();
        self.window.settle(&corrected, &mut self.analysis.errors, now, false, |_| true);
        self.corrector.keep(&events, now, true);
    }

    /// The screen at `second`, one string per row, trailing blanks cut.
    fn screen(&self, ui: &Ui, second: u64, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, &self.tally, ui, self.at(second))).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_owned())
            .collect()
    }
}

/// An access line in the `upstream` format at `13:MM:SS`.
fn access(
    clock: &str,
    cid: u64,
    path: &str,
    status: u16,
    upstream: &str,
    upstream_status: &str,
    time: &str,
) -> String {
    format!(
        r#"10.0.0.1 - - [26/Nov/2026:13:{clock} +0000] "GET {path} HTTP/1.1" {status} 150 "-" "curl" host="shop" cid={cid} rt={time} ua="{upstream}" us="{upstream_status}" urt="{time}" uct="-" uht="-""#
    )
}

fn refused(clock: &str, cid: u64, path: &str, upstream: &str) -> String {
    format!(
        r#"2026/11/26 13:{clock} [error] 11#11: *{cid} connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1, server: shop, request: "GET {path} HTTP/1.1", upstream: "http://{upstream}{path}", host: "shop""#
    )
}

fn timed_out(clock: &str, cid: u64, path: &str, upstream: &str) -> String {
    format!(
        r#"2026/11/26 13:{clock} [error] 11#11: *{cid} upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.1, server: shop, request: "GET {path} HTTP/1.1", upstream: "http://{upstream}{path}", host: "shop""#
    )
}

const API: &str = "10.0.0.12:8080";
const SEARCH: &str = "10.0.0.13:8080";

#[test]
fn screen_at_fixed_moments_of_a_scripted_outage() {
    let mut s = Script::new();
    // Second 1: the API refuses two requests, search answers.
    s.pass(
        1,
        &[
            access("00:01", 1, "/api/cart", 502, API, "502", "0.001"),
            access("00:01", 2, "/api/cart", 502, API, "502", "0.001"),
            access("00:01", 3, "/search?q=\x1b[31m", 200, SEARCH, "200", "0.120"),
        ],
        &[refused("00:01", 1, "/api/cart", API), refused("00:01", 2, "/api/cart", API)],
    );
    // Second 2: a search request times out; its error line comes in the same pass.
    s.pass(
        2,
        &[access("00:02", 4, "/search?q=shoes", 504, SEARCH, "504", "1.000")],
        &[timed_out("00:02", 4, "/search?q=shoes", SEARCH)],
    );
    let ui = Ui::default();
    let screen = s.screen(&ui, 3, 80, 24);
    let expected = [
        "ngx502 live  0.07 req/s  0.05 failures/s  up 3s",
        "last min (since start): 502 50.0% (50.0%)  504 25.0% (25.0%)  5xx 75.0% (75.0%)",
        "following 2: access.log, error.log ↻2 rotations",
        "upstreams (failures in the last minute; rate now vs 5 min ago)──────────────────",
        "upstream                     fail/1m rate    5m ago top cause              last",
        "10.0.0.12:8080               2       100.0%↑ 0.0%   connect_refused        2s",
        "10.0.0.13:8080               1       50.0%↑  0.0%   read_timeout           1s",
        "causes, last 15 minutes─────────────────────────────────────────────────────────",
        "connect_refused                                                         █      2",
        "read_timeout                                                            █      1",
        "latest failures (3 shown of 3 since start)──────────────────────────────────────",
        "13:00:02 504 read_timeout         10.0.0.13:8080 GET /search?q=shoes HTTP/1.1",
        "  ↳ 2026/11/26 13:00:02 [error] 11#11: *4 upstream timed out (110: Connection ti",
        "13:00:01 502 connect_refused      10.0.0.12:8080 GET /api/cart HTTP/1.1",
        "  ↳ 2026/11/26 13:00:01 [error] 11#11: *2 connect() failed (111: Connection refu",
        "13:00:01 502 connect_refused      10.0.0.12:8080 GET /api/cart HTTP/1.1",
        "  ↳ 2026/11/26 13:00:01 [error] 11#11: *1 connect() failed (111: Connection refu",
        "",
        "",
        "",
        "",
        "",
        "",
        "q quit  p pause  f filter  Esc clear  Tab pane  ↑↓ select  Enter explain cause",
    ];
    assert_eq!(screen, expected, "\n{}", screen.join("\n"));

    // Second 30: both API attempts fail, search is fine. Second 340: the API answers again,
    // search times out on half its requests.
    s.pass(
        30,
        &[
            access("00:30", 5, "/api/cart", 502, API, "502", "0.001"),
            access("00:30", 6, "/api/cart", 502, API, "502", "0.001"),
            access("00:30", 7, "/search?q=a", 200, SEARCH, "200", "0.100"),
        ],
        &[refused("00:30", 5, "/api/cart", API), refused("00:30", 6, "/api/cart", API)],
    );
    s.pass(
        340,
        &[
            access("05:40", 8, "/api/cart", 200, API, "200", "0.004"),
            access("05:40", 9, "/search?q=b", 504, SEARCH, "504", "1.000"),
            access("05:40", 10, "/search?q=c", 200, SEARCH, "200", "0.300"),
        ],
        &[timed_out("05:40", 9, "/search?q=b", SEARCH)],
    );
    let screen = s.screen(&ui, 362, 80, 24);
    let expected = [
        "ngx502 live  0.05 req/s  0.02 failures/s  up 6m",
        "last min (since start): 502 0.0% (40.0%)  504 33.3% (20.0%)  5xx 33.3% (60.0%)",
        "following 2: access.log, error.log ↻2 rotations",
        "upstreams (failures in the last minute; rate now vs 5 min ago)──────────────────",
        "upstream                     fail/1m rate    5m ago top cause              last",
        "10.0.0.13:8080               1       50.0%↑  0.0%   read_timeout           22s",
        "10.0.0.12:8080               0       0.0%↓   100.0% connect_refused        5m",
        "causes, last 15 minutes─────────────────────────────────────────────────────────",
        "connect_refused                                     █ █                        4",
        "read_timeout                                        █                  █       2",
        "latest failures (6 shown of 6 since start)──────────────────────────────────────",
        "13:05:40 504 read_timeout         10.0.0.13:8080 GET /search?q=b HTTP/1.1",
        "  ↳ 2026/11/26 13:05:40 [error] 11#11: *9 upstream timed out (110: Connection ti",
        "13:00:30 502 connect_refused      10.0.0.12:8080 GET /api/cart HTTP/1.1",
        "  ↳ 2026/11/26 13:00:30 [error] 11#11: *6 connect() failed (111: Connection refu",
        "13:00:30 502 connect_refused      10.0.0.12:8080 GET /api/cart HTTP/1.1",
        "  ↳ 2026/11/26 13:00:30 [error] 11#11: *5 connect() failed (111: Connection refu",
        "13:00:02 504 read_timeout         10.0.0.13:8080 GET /search?q=shoes HTTP/1.1",
        "  ↳ 2026/11/26 13:00:02 [error] 11#11: *4 upstream timed out (110: Connection ti",
        "13:00:01 502 connect_refused      10.0.0.12:8080 GET /api/cart HTTP/1.1",
        "  ↳ 2026/11/26 13:00:01 [error] 11#11: *2 connect() failed (111: Connection refu",
        "13:00:01 502 connect_refused      10.0.0.12:8080 GET /api/cart HTTP/1.1",
        "  ↳ 2026/11/26 13:00:01 [error] 11#11: *1 connect() failed (111: Connection refu",
        "q quit  p pause  f filter  Esc clear  Tab pane  ↑↓ select  Enter explain cause",
    ];
    assert_eq!(screen, expected, "\n{}", screen.join("\n"));

    // 60 columns: the table keeps its first columns only.
    let narrow = s.screen(&ui, 362, 60, 24);
    assert_eq!(narrow[4], format!("upstream{}fail/1m rate    5m ago", " ".repeat(30)));
    assert_eq!(narrow[5], format!("10.0.0.13:8080{}1       50.0%↑  0.0%", " ".repeat(24)));

    // `f api` Enter: only the API's upstream row and failures.
    let mut ui = Ui::default();
    let now = s.at(362);
    for key in [Key::Char('f'), Key::Char('a'), Key::Char('p'), Key::Char('i'), Key::Enter] {
        ui.key(key, &s.tally, now);
    }
    let screen = s.screen(&ui, 362, 80, 24);
    assert_eq!(screen[0], "ngx502 live  0.05 req/s  0.02 failures/s  up 6m  filter: api");
    assert_eq!(screen[5], "10.0.0.12:8080               0       0.0%↓   100.0% connect_refused        5m");
    assert_eq!(screen[6], "causes, last 15 minutes─────────────────────────────────────────────────────────");
    assert_eq!(screen[9], "latest failures (4 shown of 6 since start)──────────────────────────────────────");

    // `p` freezes the screen: a new failure is counted but not shown until `p` again.
    ui.key(Key::Char('p'), &s.tally, now);
    s.pass(
        363,
        &[access("05:43", 11, "/api/cart", 502, API, "502", "0.001")],
        &[refused("05:43", 11, "/api/cart", API)],
    );
    let paused = s.screen(&ui, 364, 80, 24);
    assert_eq!(paused[0], "ngx502 live  0.05 req/s  0.02 failures/s  up 6m  [PAUSED]  filter: api");
    assert_eq!(paused[9], screen[9]);
    ui.key(Key::Char('p'), &s.tally, s.at(364));
    let resumed = s.screen(&ui, 364, 80, 24);
    assert_eq!(
        resumed[9],
        "latest failures (5 shown of 7 since start)──────────────────────────────────────"
    );

    // Tab to the causes, Down to the second, Enter: its explanation and checklist.
    ui.key(Key::Esc, &s.tally, s.at(364));
    for key in [Key::Tab, Key::Tab, Key::Down, Key::Enter] {
        ui.key(key, &s.tally, s.at(364));
    }
    assert_eq!(ui.focus, Pane::Causes);
    let explained = s.screen(&ui, 364, 80, 24);
    let text = explained.join("\n");
    assert!(explained[2].contains("┌ explain (any key closes) ─"), "{text}");
    assert!(explained[3].contains("│read_timeout "), "{text}");
    assert!(text.contains("checklist:"), "{text}");
    ui.key(Key::Char('x'), &s.tally, s.at(364));
    assert_eq!(ui.explain, None);
    ui.key(Key::Char('q'), &s.tally, s.at(364));
    assert!(ui.quit);
}

#[test]
fn a_late_error_line_moves_the_failure_on_screen_and_in_the_counters() {
    let mut s = Script::new();
    s.pass(1, &[access("00:01", 1, "/api/cart", 502, API, "502", "0.001")], &[]);
    s.pass(2, &[access("00:02", 2, "/", 200, API, "200", "0.001")], &[]);
    // Waiting for its error line: not in any series yet.
    assert_eq!(s.tally.metrics(s.at(2)).responses, [("200".to_owned(), 1, vec![])]);
    s.pass(5, &[access("00:05", 3, "/api/pay", 502, API, "502", "0.001")], &[]);
    // Shown without an error line: on screen at once, in no counter while it may be corrected.
    let ui = Ui::default();
    let screen = s.screen(&ui, 5, 80, 24);
    assert_eq!(screen[5], "10.0.0.12:8080               1       33.3%↑  0.0%   upstream_returned_502  0s");
    assert_eq!(screen[7], "upstream_returned_502                                                   █      1");
    assert_eq!(screen[9], "13:00:01 502 upstream_returned_502 10.0.0.12:8080 GET /api/cart HTTP/1.1");
    assert_eq!(screen[10], "  ↳ no error line");
    let metrics = s.tally.metrics(s.at(5));
    assert_eq!(metrics.responses, [("200".to_owned(), 1, vec![])]);
    assert_eq!(metrics.failures, []);

    // Its error line comes late: the failure moves to its cause, on screen and in the counters.
    s.pass(7, &[], &[refused("00:01", 1, "/api/cart", API)]);
    let screen = s.screen(&ui, 7, 80, 24);
    assert_eq!(screen[5], "10.0.0.12:8080               1       33.3%↑  0.0%   connect_refused        2s");
    assert_eq!(screen[7], "connect_refused                                                         █      1");
    assert_eq!(screen[8], "latest failures (1 shown of 1 since start)──────────────────────────────────────");
    assert_eq!(screen[9], "13:00:01 502 connect_refused      10.0.0.12:8080 GET /api/cart HTTP/1.1");
    assert!(
        screen[10].starts_with("  ↳ 2026/11/26 13:00:01 [error] 11#11: *1 connect() failed"),
        "{}",
        screen[10]
    );
    let metrics = s.tally.metrics(s.at(7));
    assert_eq!(metrics.responses, [("200".to_owned(), 1, vec![]), ("502".to_owned(), 1, vec![(API, 1)])]);
    assert_eq!(metrics.failures, [("connect_refused", API, 1)]);

    // The other one never gets an error line: once it can no longer be corrected, it is counted
    // as it was shown.
    s.pass(8, &[], &[]);
    assert_eq!(s.tally.metrics(s.at(8)).failures, [("connect_refused", API, 1)]);
    let settled = 8 + keep_for(Duration::from_secs(3)).as_secs();
    s.pass(settled, &[], &[]);
    let metrics = s.tally.metrics(s.at(settled));
    assert_eq!(metrics.responses, [("200".to_owned(), 1, vec![]), ("502".to_owned(), 2, vec![(API, 2)])]);
    assert_eq!(metrics.failures, [("connect_refused", API, 1), ("upstream_returned_502", API, 1)]);
    assert_eq!(metrics.attempts, [(API, 3)]);
}

#[test]
fn any_terminal_size_draws_without_panicking() {
    let mut s = Script::new();
    s.pass(
        1,
        &[access("00:01", 1, "/api/cart", 502, API, "502", "0.001")],
        &[refused("00:01", 1, "/api/cart", API)],
    );
    let mut ui = Ui::default();
    ui.key(Key::Enter, &s.tally, s.at(2));
    assert_eq!(ui.explain, Some("connect_refused"));
    for (width, height) in [(200, 60), (80, 24), (40, 10), (12, 4), (1, 1)] {
        let screen = s.screen(&ui, 2, width, height);
        assert_eq!(screen.len(), usize::from(height));
    }
}

#[test]
fn a_warning_shows_under_the_header_for_a_minute_and_is_kept_for_stderr() {
    let mut s = Script::new();
    s.pass(1, &[access("00:01", 1, "/api/cart", 502, API, "502", "0.001")], &[]);
    let head = |s: &Script, second| s.screen(&Ui::default(), second, 100, 24)[..5].to_vec();
    let without = head(&s, 2);
    assert!(without[3].starts_with("upstreams"), "{without:#?}");

    s.tally.notice("/var/log/nginx/error.log: Permission denied (os error 13); not followed".into(), s.at(2));
    let with = head(&s, 12);
    assert_eq!(with[1..3], without[1..3]);
    assert_eq!(
        with[3],
        "warning, 10s ago: /var/log/nginx/error.log: Permission denied (os error 13); not followed"
    );
    assert!(with[4].starts_with("upstreams"), "{with:#?}");

    s.tally.notice("a second one".into(), s.at(20));
    assert_eq!(head(&s, 21)[3], "warning, 1s ago: a second one (+1 earlier, printed at exit)");
    // After a minute the line goes; every warning is still kept for stderr.
    assert!(head(&s, 81)[3].starts_with("upstreams"));
    assert_eq!(s.tally.notices.kept.len(), 2);
}

#[test]
fn warnings_kept_for_stderr_are_capped_and_counted() {
    let mut s = Script::new();
    for i in 0..crate::live::tally::MAX_NOTICES + 5 {
        s.tally.notice(format!("warning {i}"), s.at(1));
    }
    assert_eq!(s.tally.notices.kept.len(), crate::live::tally::MAX_NOTICES);
    assert_eq!(s.tally.notices.kept[0], "warning 0");
    assert_eq!(s.tally.notices.more, 5);
    assert_eq!(s.tally.notices.latest.as_ref().map(|(_, t)| t.as_str()), Some("warning 104"));
}
