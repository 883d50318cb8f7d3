//! Drawing one frame of the dashboard from the [`model`] values: header, upstream table,
//! causes over 15 minutes, latest failures with their evidence, the key line, and the
//! explanation of a cause over them when asked. Narrow terminals get fewer columns; every text
//! from a log was escaped before it got here.

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, List, ListItem, ListState, Paragraph, Row, Sparkline, Table, TableState,
    Wrap,
};
use ratatui::Frame;

use crate::errorlog::Cause;
use crate::live::tally::Tally;

use super::model::{self, age, per_second, percent, seconds};
use super::ui::{Pane, Ui};

/// Upstream rows shown at most; the failures list gets the rest of the screen.
const UPSTREAM_ROWS: usize = 5;
/// Causes shown at most.
const CAUSE_ROWS: usize = 4;
/// The cause chart's name and total columns; the sparkline has the rest.
const CAUSE_NAME: u16 = 22;
const CAUSE_TOTAL: u16 = 7;
/// How long the latest warning stays on screen (all of them go to stderr at the end).
const NOTICE_SHOWN: std::time::Duration = std::time::Duration::from_secs(60);

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, live: &Tally, ui: &Ui, now: Instant) {
    let (tally, now) = ui.shown(live, now);
    let area = frame.area();
    let upstreams = model::upstreams(tally, now, &ui.filter);
    let causes = model::causes(tally, now, area.width.saturating_sub(CAUSE_NAME + CAUSE_TOTAL).into());
    let notice = notice(tally, now);
    let [head, table, chart, list, keys] = Layout::vertical([
        Constraint::Length(3 + u16::from(notice.is_some())),
        Constraint::Length(2 + upstreams.len().clamp(1, UPSTREAM_ROWS) as u16),
        Constraint::Length(1 + causes.len().clamp(1, CAUSE_ROWS) as u16),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    header(frame, head, tally, ui, now, notice);
    upstream_table(frame, table, &upstreams, ui);
    cause_chart(frame, chart, &causes, ui);
    failure_list(frame, list, tally, ui);
    frame.render_widget(
        Paragraph::new(key_line(ui)).style(Style::new().add_modifier(Modifier::REVERSED)),
        keys,
    );
    if let Some(cause) = ui.explain.and_then(Cause::from_slug) {
        explanation(frame, area, cause);
    }
}

fn title(text: &str, focused: bool) -> Block<'_> {
    let style =
        if focused { Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED) } else { Style::new() };
    Block::new().borders(Borders::TOP).title(Span::styled(text, style))
}

/// The latest warning's line, while it is recent.
fn notice(tally: &Tally, now: Instant) -> Option<Line<'static>> {
    let (at, text) = tally.notices.latest.as_ref()?;
    let ago = now.saturating_duration_since(*at);
    (ago < NOTICE_SHOWN).then(|| {
        let more = tally.notices.kept.len() as u64 + tally.notices.more - 1;
        let more = if more > 0 { format!(" (+{more} earlier, printed at exit)") } else { String::new() };
        Line::from(Span::styled(
            format!("warning, {} ago: {text}{more}", age(ago)),
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ))
    })
}

fn header(
    frame: &mut Frame<'_>,
    area: Rect,
    tally: &Tally,
    ui: &Ui,
    now: Instant,
    notice: Option<Line<'static>>,
) {
    let h = model::header(tally, now);
    let mut first = format!(
        "ngx502 live  {} req/s  {} failures/s  up {}",
        per_second(h.requests_per_second),
        per_second(h.failures_per_second),
        age(tally.elapsed(now))
    );
    if tally.waiting > 0 {
        first.push_str(&format!("  {} waiting for their error line", tally.waiting));
    }
    if ui.paused.is_some() {
        first.push_str("  [PAUSED]");
    }
    if !ui.filter.0.is_empty() {
        first.push_str(&format!("  filter: {}", crate::escape::sanitize_str(&ui.filter.0)));
    }
    let rates = ["502", "504", "5xx"]
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{name} {} ({})", percent(h.now[i]), percent(h.since_start[i])))
        .collect::<Vec<_>>()
        .join("  ");
    let inputs = tally
        .inputs
        .iter()
        .map(|i| {
            let name = i.path.rsplit('/').next().unwrap_or(&i.path);
            let rotations = match i.rotations {
                0 => String::new(),
                1 => " ↻1 rotation".to_owned(),
                n => format!(" ↻{n} rotations"),
            };
            format!("{}{rotations}", crate::escape::sanitize_str(name))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = vec![
        Line::from(Span::styled(first, Style::new().add_modifier(Modifier::BOLD))),
        Line::from(format!("last min (since start): {rates}")),
        Line::from(format!("following {}: {inputs}", tally.inputs.len())),
    ];
    lines.extend(notice);
    frame.render_widget(Paragraph::new(lines), area);
}

/// The upstream table's columns, in the order they are dropped when the screen is narrow
/// (last first): (header, width).
const COLUMNS: [(&str, u16); 8] = [
    ("upstream", 22),
    ("fail/1m", 7),
    ("rate", 7),
    ("5m ago", 6),
    ("top cause", 22),
    ("last", 5),
    ("att/s", 7),
    ("p50/p99", 13),
];

fn upstream_table(frame: &mut Frame<'_>, area: Rect, rows: &[model::UpstreamRow], ui: &Ui) {
    let mut shown = 0;
    let mut width = 0u16;
    for (_, w) in COLUMNS {
        if width + w + 1 > area.width && shown >= 3 {
            break;
        }
        width += w + 1;
        shown += 1;
    }
    let cells = |u: &model::UpstreamRow| -> Vec<String> {
        vec![
            u.name.clone(),
            u.failures_now.to_string(),
            format!("{}{}", percent(u.rate_now), u.trend.arrow()),
            percent(u.rate_before),
            u.top_cause.unwrap_or("-").to_owned(),
            u.last_failure.map_or_else(|| "-".to_owned(), age),
            per_second(u.attempts_per_second),
            u.latency
                .map_or_else(|| "-".to_owned(), |(p50, p99)| format!("{}/{}", seconds(p50), seconds(p99))),
        ]
    };
    let body: Vec<Row> = rows
        .iter()
        .map(|u| Row::new(cells(u).into_iter().take(shown).map(Cell::from).collect::<Vec<_>>()))
        .collect();
    let widths: Vec<Constraint> = COLUMNS
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, (_, w))| if i == 0 { Constraint::Min(*w) } else { Constraint::Length(*w) })
        .collect();
    let focused = ui.focus == Pane::Upstreams;
    let table = Table::new(body, widths)
        .header(
            Row::new(COLUMNS.iter().take(shown).map(|(h, _)| *h))
                .style(Style::new().add_modifier(Modifier::DIM)),
        )
        .block(title("upstreams (failures in the last minute; rate now vs 5 min ago)", focused))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(focused.then(|| ui.selected(Pane::Upstreams)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn cause_chart(frame: &mut Frame<'_>, area: Rect, causes: &[model::CauseSeries], ui: &Ui) {
    let focused = ui.focus == Pane::Causes;
    frame.render_widget(title("causes, last 15 minutes", focused), area);
    let first = ui.selected(Pane::Causes).saturating_sub(CAUSE_ROWS - 1);
    for (i, series) in causes.iter().enumerate().skip(first).take(area.height.saturating_sub(1).into()) {
        let y = area.y + 1 + (i - first) as u16;
        let row = Rect { y, height: 1, ..area };
        let [name, spark, total] = Layout::horizontal([
            Constraint::Length(CAUSE_NAME),
            Constraint::Min(1),
            Constraint::Length(CAUSE_TOTAL),
        ])
        .areas(row);
        let selected = focused && i == ui.selected(Pane::Causes);
        let style = if selected { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
        frame.render_widget(Paragraph::new(series.cause).style(style), name);
        let tail = series.columns.len().saturating_sub(spark.width.into());
        frame.render_widget(Sparkline::default().data(&series.columns[tail..]), spark);
        frame.render_widget(Paragraph::new(format!("{:>7}", series.total)), total);
    }
}

fn failure_list(frame: &mut Frame<'_>, area: Rect, tally: &Tally, ui: &Ui) {
    let failures = model::failures(tally, &ui.filter);
    let items: Vec<ListItem> = failures
        .iter()
        .map(|f| {
            let time = f.time.get(11..19).unwrap_or(&f.time);
            let summary = format!("{time} {:03} {:<20} {} {}", f.status, f.cause, f.upstream, f.request);
            let evidence = format!("  ↳ {}", f.evidence.as_deref().unwrap_or("no error line"));
            ListItem::new(vec![
                Line::from(summary),
                Line::styled(evidence, Style::new().add_modifier(Modifier::DIM)),
            ])
        })
        .collect();
    let focused = ui.focus == Pane::Failures;
    let heading = format!("latest failures ({} shown of {} since start)", failures.len(), tally.failures);
    let list = List::new(items)
        .block(title(&heading, focused))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(focused.then(|| ui.selected(Pane::Failures)));
    frame.render_stateful_widget(list, area, &mut state);
}

fn key_line(ui: &Ui) -> String {
    match &ui.editing {
        Some(text) => format!(
            "filter (upstream, cause or path): {}▏ Enter apply  Esc cancel",
            crate::escape::sanitize_str(text)
        ),
        None => "q quit  p pause  f filter  Esc clear  Tab pane  ↑↓ select  Enter explain cause".to_owned(),
    }
}

/// The `explain` text of `cause` in a box over the middle of the screen.
fn explanation(frame: &mut Frame<'_>, area: Rect, cause: Cause) {
    let width = area.width.saturating_sub(4).min(100);
    let height = area.height.saturating_sub(2).min(20);
    let popup =
        Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    frame.render_widget(Clear, popup);
    let text = crate::cmd::explain::explain(cause);
    let block = Block::bordered().title(" explain (any key closes) ");
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).block(block), popup);
}
