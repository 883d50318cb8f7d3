//! Encoding the tables as Parquet or CSV, and laying them out in a directory.
//!
//! `-o DIR` writes `DIR/failures.<ext>` and `DIR/buckets.<ext>`. With `--partition day` each
//! table becomes a hive-style tree, `DIR/failures/date=YYYY-MM-DD/part-0.<ext>`, keyed by the
//! UTC date of `time` (`bucket_start` for buckets) so hosts in different zones agree on what a
//! day is; rows without a time go to `date=__HIVE_DEFAULT_PARTITION__`, Hive's name for null.
//! The `date` column lives in the path only, as readers expect (`hive_partitioning` in DuckDB).
//! A table without rows writes no partition. `--partition` also takes `--label` keys: for a
//! fleet, each host writes into one tree (`--label host=web1 --partition day,host` writes
//! `failures/date=…/label_host=web1/`), read as one table with `date` and `label_host` columns.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat};
use polars::prelude::*;

use super::buckets::{buckets, BucketRow};
use super::polars_tables::{buckets_frame, failures_frame};
use super::{failure_events, Partition};
use crate::correlate::Event;
use crate::labels::{self, Labels};
use crate::pipeline::Analysis;

/// The file formats polars writes for `ngx502 export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Parquet,
    Csv,
}

impl Encoding {
    fn extension(self) -> &'static str {
        match self {
            Encoding::Parquet => "parquet",
            Encoding::Csv => "csv",
        }
    }

    fn encode(self, mut frame: DataFrame) -> PolarsResult<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Encoding::Parquet => {
                ParquetWriter::new(&mut out).finish(&mut frame)?;
            }
            Encoding::Csv => CsvWriter::new(&mut out).include_header(true).finish(&mut csv_safe(frame)?)?,
        }
        Ok(out)
    }
}

/// The failures table alone, for stdout or one file.
pub fn render_failures(analysis: &Analysis, encoding: Encoding, labels: &Labels) -> anyhow::Result<Vec<u8>> {
    let events: Vec<&Event> = failure_events(analysis).collect();
    Ok(encoding.encode(with_labels(failures_frame(analysis, &events)?, labels, &[])?)?)
}

/// Writes both tables into `dir`, split into the directories `partition` names, in its order.
pub fn write_dir(
    analysis: &Analysis,
    encoding: Encoding,
    dir: &Path,
    partition: &[Partition],
    labels: &Labels,
) -> anyhow::Result<()> {
    let events: Vec<&Event> = failure_events(analysis).collect();
    let buckets = buckets(analysis);
    let rows: Vec<&BucketRow> = buckets.rows.iter().collect();
    let ext = encoding.extension();
    // A label the tree is split by lives in the path only, as `date` does.
    let in_path: Vec<&str> = partition
        .iter()
        .filter_map(|p| match p {
            Partition::Label(key) => Some(key.as_str()),
            Partition::Day => None,
        })
        .collect();
    let file = |table: &str, day: &str| {
        if partition.is_empty() {
            return dir.join(format!("{table}.{ext}"));
        }
        let mut path = dir.join(table);
        for p in partition {
            match p {
                Partition::Day => path.push(day),
                Partition::Label(key) => path.push(format!(
                    "{}={}",
                    labels::column(key),
                    hive_value(labels.get(key).unwrap_or_default())
                )),
            }
        }
        path.join(format!("part-0.{ext}"))
    };
    let by_days = partition.contains(&Partition::Day);
    let mut files: Vec<(PathBuf, DataFrame)> = Vec::new();
    for (day, group) in groups(&events, by_days, |e| e.request.time) {
        files.push((
            file("failures", &day),
            with_labels(failures_frame(analysis, &group)?, labels, &in_path)?,
        ));
    }
    for (day, group) in groups(&rows, by_days, |r| Some(r.start)) {
        files.push((
            file("buckets", &day),
            with_labels(buckets_frame(buckets.seconds, &group)?, labels, &in_path)?,
        ));
    }
    for (path, frame) in files {
        let bytes = encoding.encode(frame)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// All of `items` as one group (written even when empty), or grouped by day.
fn groups<T: Copy>(items: &[T], by_days: bool, utc: impl Fn(T) -> Option<i64>) -> BTreeMap<String, Vec<T>> {
    if by_days {
        by_day(items, utc)
    } else {
        BTreeMap::from([(String::new(), items.to_vec())])
    }
}

/// `frame` with a `label_KEY` column per label, except those the directories hold.
fn with_labels(mut frame: DataFrame, labels: &Labels, in_path: &[&str]) -> PolarsResult<DataFrame> {
    let height = frame.height();
    for (key, value) in labels.iter().filter(|(k, _)| !in_path.contains(k)) {
        frame.with_column(Column::new(labels::column(key).into(), vec![value; height]))?;
    }
    Ok(frame)
}

/// A label value as a directory name: `/` and the characters hive escapes become `%XX`.
fn hive_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control()
            || matches!(
                c,
                '/' | '\\' | '%' | '=' | ':' | '"' | '\'' | '#' | '*' | '?' | '[' | ']' | '{' | '}' | '^'
            )
            || (c == '.' && out.is_empty())
        {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `items` grouped by the hive directory of their UTC day, days ascending, order kept within.
fn by_day<T: Copy>(items: &[T], utc: impl Fn(T) -> Option<i64>) -> BTreeMap<String, Vec<T>> {
    let mut days: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for &item in items {
        let day = utc(item)
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map_or_else(|| "__HIVE_DEFAULT_PARTITION__".to_owned(), |t| t.format("%Y-%m-%d").to_string());
        days.entry(format!("date={day}")).or_default().push(item);
    }
    days
}

/// The frame as a spreadsheet may open it: timestamps as RFC 3339 UTC text
/// (`2024-05-14T08:22:31Z`) and every text cell defused against formula injection.
fn csv_safe(frame: DataFrame) -> PolarsResult<DataFrame> {
    let height = frame.height();
    let columns = frame.into_columns().into_iter().map(csv_column).collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(height, columns)
}

fn csv_column(column: Column) -> PolarsResult<Column> {
    let name = column.name().clone();
    Ok(match column.dtype() {
        DataType::String => Column::new(
            name,
            column.str()?.iter().map(|cell| cell.map(|c| defuse_formula(c).into_owned())).collect::<Vec<_>>(),
        ),
        DataType::Datetime(TimeUnit::Microseconds, _) => Column::new(
            name,
            column
                .datetime()?
                .physical()
                .iter()
                .map(|t| {
                    t.and_then(DateTime::from_timestamp_micros)
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                })
                .collect::<Vec<_>>(),
        ),
        _ => column,
    })
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first) gets a
/// leading `'`, which makes it text; log fields are attacker-written.
fn defuse_formula(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_kept() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(1)", "'@SUM(1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("/a=b", "/a=b"),
            ("", ""),
        ] {
            assert_eq!(defuse_formula(cell), safe);
        }
    }

    #[test]
    fn label_values_are_safe_directory_names() {
        assert_eq!(hive_value("web1"), "web1");
        assert_eq!(hive_value("../etc"), "%2E.%2Fetc");
        assert_eq!(hive_value("a/b=c%"), "a%2Fb%3Dc%25");
    }

    #[test]
    fn days_are_utc_dates_and_missing_times_go_to_hive_null() {
        let days = by_day(&[Some(86_399), None, Some(86_400), Some(0)], |t| t);
        let got: Vec<(&str, Vec<Option<i64>>)> = days.iter().map(|(d, v)| (d.as_str(), v.clone())).collect();
        assert_eq!(
            got,
            [
                ("date=1970-01-01", vec![Some(86_399), Some(0)]),
                ("date=1970-01-02", vec![Some(86_400)]),
                ("date=__HIVE_DEFAULT_PARTITION__", vec![None]),
            ]
        );
    }
}
