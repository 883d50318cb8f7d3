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
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat};
use polars::io::csv::write::BatchedWriter as CsvBatches;
use polars::io::parquet::write::BatchedWriter as ParquetBatches;
use polars::prelude::*;

use super::buckets::{BucketRow, BucketTally};
use super::order::{key, InOrder};
use super::polars_tables::{buckets_frame, failures_frame, TableRow};
use super::{failure_events, Partition};
use crate::labels::{self, Labels};
use crate::pipeline::Analysis;

/// Rows per Parquet row group. The failures are written as they are joined, so a row group is
/// what is held before it is written; row groups of a fixed size make the file the same
/// whether the run was read whole or in segments.
const ROW_GROUP: usize = 16_384;

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
}

/// One table file being written, batch after batch.
enum Encoder {
    Csv(CsvBatches<Box<dyn Write + Send>>),
    /// Rows are held until they fill a row group.
    Parquet {
        writer: Box<ParquetBatches<Box<dyn Write + Send>>>,
        held: DataFrame,
    },
}

impl Encoder {
    /// Starts a table of `schema` in `out`.
    fn open(encoding: Encoding, out: Box<dyn Write + Send>, schema: &Schema) -> PolarsResult<Encoder> {
        Ok(match encoding {
            Encoding::Csv => Encoder::Csv(CsvWriter::new(out).include_header(true).batched(schema)?),
            Encoding::Parquet => Encoder::Parquet {
                writer: Box::new(ParquetWriter::new(out).batched(schema)?),
                held: DataFrame::empty(),
            },
        })
    }

    /// Appends the rows of `frame`.
    fn write(&mut self, frame: DataFrame) -> PolarsResult<()> {
        match self {
            Encoder::Csv(writer) => writer.write_batch(&csv_safe(frame)?),
            Encoder::Parquet { writer, held } => {
                held.vstack_mut_owned(frame)?;
                while held.height() >= ROW_GROUP {
                    let rest = held.slice(ROW_GROUP as i64, held.height() - ROW_GROUP);
                    write_row_group(writer, &mut held.slice(0, ROW_GROUP))?;
                    *held = rest;
                }
                Ok(())
            }
        }
    }

    /// Writes what is held and ends the file (a table without rows still gets its header).
    fn finish(self) -> PolarsResult<()> {
        match self {
            Encoder::Csv(mut writer) => writer.finish(),
            Encoder::Parquet { mut writer, mut held } => {
                if held.height() > 0 {
                    write_row_group(&mut writer, &mut held)?;
                }
                writer.finish().map(drop)
            }
        }
    }
}

/// Writes `rows` as one row group: one chunk is one row group.
fn write_row_group(
    writer: &mut ParquetBatches<Box<dyn Write + Send>>,
    rows: &mut DataFrame,
) -> PolarsResult<()> {
    rows.rechunk_mut();
    writer.write_batch(rows)
}

/// A failures file being written: the partition it is in, and its encoder.
struct Open {
    day: String,
    encoder: Encoder,
}

/// Writes the tables as the run is read: each segment's failures as it is joined (in the order
/// of the run read whole, see [`super::order`]), the buckets once the run has ended. To stdout
/// it writes the failures table alone; into a directory, both.
pub struct TableWriter {
    encoding: Encoding,
    /// `None`: stdout.
    dir: Option<PathBuf>,
    partition: Vec<Partition>,
    labels: Labels,
    order: InOrder<TableRow>,
    buckets: BucketTally,
    failures: Option<Open>,
    /// How many files each failures partition got: a partition met again (a request without a
    /// time after timed ones) gets another part file rather than overwriting its first.
    parts: BTreeMap<PathBuf, usize>,
}

impl TableWriter {
    /// Tables in `encoding` into `dir` (created if missing), split into the directories
    /// `partition` names, in its order; or the failures table alone to stdout.
    pub fn new(
        encoding: Encoding,
        dir: Option<&Path>,
        partition: &[Partition],
        labels: &Labels,
    ) -> anyhow::Result<TableWriter> {
        let mut writer = TableWriter {
            encoding,
            dir: dir.map(Path::to_path_buf),
            partition: partition.to_vec(),
            labels: labels.clone(),
            order: InOrder::default(),
            buckets: BucketTally::default(),
            failures: None,
            parts: BTreeMap::new(),
        };
        if dir.is_none() {
            let schema = writer.failures_frame(&[])?.schema().clone();
            let encoder = Encoder::open(encoding, Box::new(std::io::stdout()), &schema)?;
            writer.failures = Some(Open { day: String::new(), encoder });
        }
        Ok(writer)
    }

    /// Writes the failures of one segment (or of the whole run) that are due.
    pub fn add(&mut self, analysis: &Analysis) -> anyhow::Result<()> {
        if self.dir.is_some() {
            self.buckets.add(analysis);
        }
        let rows: Vec<_> = failure_events(analysis).map(|e| (key(e), TableRow::of(e, analysis))).collect();
        let due: Vec<TableRow> = self.order.add(rows).collect();
        self.write_failures(due)
    }

    /// Writes the failures still held and the buckets, and ends every file: the run has ended.
    pub fn finish(mut self) -> anyhow::Result<()> {
        let rest: Vec<TableRow> = std::mem::take(&mut self.order).finish().collect();
        self.write_failures(rest)?;
        if self.dir.is_none() {
            if let Some(open) = self.failures.take() {
                open.encoder.finish()?;
            }
            // The encoder cannot hand its writer back; stdout's buffer is the process's.
            std::io::stdout().flush()?;
            return Ok(());
        }
        // A table without rows is written whole, or, split by day, not at all.
        if self.failures.is_none() && !self.by_days() {
            self.failures_file(String::new())?;
        }
        if let Some(open) = self.failures.take() {
            open.encoder.finish()?;
        }
        let buckets = std::mem::take(&mut self.buckets).finish();
        let schema = self.buckets_frame(buckets.seconds, &[])?.schema().clone();
        let rows: Vec<&BucketRow> = buckets.rows.iter().collect();
        let mut runs = runs(&rows, |r| self.day(Some(r.start)));
        if runs.is_empty() && !self.by_days() {
            runs.push((String::new(), &rows[..]));
        }
        for (day, rows) in runs {
            let mut encoder =
                Encoder::open(self.encoding, self.create(&self.file("buckets", &day, 0))?, &schema)?;
            encoder.write(self.buckets_frame(buckets.seconds, rows)?)?;
            encoder.finish()?;
        }
        Ok(())
    }

    fn by_days(&self) -> bool {
        self.partition.contains(&Partition::Day)
    }

    /// The partition of a row at `utc`: its day's directory, when split by day.
    fn day(&self, utc: Option<i64>) -> String {
        if self.by_days() {
            day_of(utc)
        } else {
            String::new()
        }
    }

    /// Appends `rows` (in key order) to the failures files of their partitions.
    fn write_failures(&mut self, rows: Vec<TableRow>) -> anyhow::Result<()> {
        for (day, run) in runs(&rows, |r| self.day(r.time())) {
            let frame = self.failures_frame(run)?;
            if self.failures.as_ref().is_none_or(|open| open.day != day) {
                self.failures_file(day)?;
            }
            if let Some(open) = &mut self.failures {
                open.encoder.write(frame)?;
            }
        }
        Ok(())
    }

    /// Ends the failures file being written and starts the one of `day`.
    fn failures_file(&mut self, day: String) -> anyhow::Result<()> {
        if let Some(open) = self.failures.take() {
            open.encoder.finish()?;
        }
        let schema = self.failures_frame(&[])?.schema().clone();
        let first = self.file("failures", &day, 0);
        let part = self.parts.get(&first).copied().unwrap_or(0);
        self.parts.insert(first.clone(), part + 1);
        let path = if part == 0 { first } else { self.file("failures", &day, part) };
        let encoder = Encoder::open(self.encoding, self.create(&path)?, &schema)?;
        self.failures = Some(Open { day, encoder });
        Ok(())
    }

    fn failures_frame(&self, rows: &[TableRow]) -> PolarsResult<DataFrame> {
        with_labels(failures_frame(rows)?, &self.labels, &self.in_path())
    }

    fn buckets_frame(&self, seconds: i64, rows: &[&BucketRow]) -> PolarsResult<DataFrame> {
        with_labels(buckets_frame(seconds, rows)?, &self.labels, &self.in_path())
    }

    /// The labels the tree is split by: they live in the path only, as `date` does.
    fn in_path(&self) -> Vec<&str> {
        self.partition
            .iter()
            .filter_map(|p| match p {
                Partition::Label(key) => Some(key.as_str()),
                Partition::Day => None,
            })
            .collect()
    }

    /// The file of `table` in the partition of `day` (and the labels), its `part`th.
    fn file(&self, table: &str, day: &str, part: usize) -> PathBuf {
        let ext = self.encoding.extension();
        let dir = self.dir.as_deref().unwrap_or(Path::new("."));
        if self.partition.is_empty() {
            return dir.join(format!("{table}.{ext}"));
        }
        let mut path = dir.join(table);
        for p in &self.partition {
            match p {
                Partition::Day => path.push(day),
                Partition::Label(key) => path.push(format!(
                    "{}={}",
                    labels::column(key),
                    hive_value(self.labels.get(key).unwrap_or_default())
                )),
            }
        }
        path.join(format!("part-{part}.{ext}"))
    }

    /// `path` created (with its directories) for writing.
    fn create(&self, path: &Path) -> anyhow::Result<Box<dyn Write + Send>> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Box::new(file))
    }
}

/// `items` cut where `part` changes: each stretch with its partition.
fn runs<T>(items: &[T], part: impl Fn(&T) -> String) -> Vec<(String, &[T])> {
    let mut runs: Vec<(String, &[T])> = Vec::new();
    let mut from = 0;
    for (i, item) in items.iter().enumerate() {
        let this = part(item);
        if runs.last().is_some_and(|(day, _)| *day == this) {
            if let Some(last) = runs.last_mut() {
                last.1 = &items[from..=i];
            }
        } else {
            from = i;
            runs.push((this, &items[i..=i]));
        }
    }
    runs
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

/// The hive directory of the UTC day of `utc`; Hive's name for null when there is no time.
fn day_of(utc: Option<i64>) -> String {
    let day = utc
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map_or_else(|| "__HIVE_DEFAULT_PARTITION__".to_owned(), |t| t.format("%Y-%m-%d").to_string());
    format!("date={day}")
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
        assert_eq!(day_of(Some(86_399)), "date=1970-01-01");
        assert_eq!(day_of(Some(86_400)), "date=1970-01-02");
        assert_eq!(day_of(None), "date=__HIVE_DEFAULT_PARTITION__");
    }

    /// A Parquet table of `rows` rows written in batches of the given sizes, as the file's bytes.
    fn parquet_in_batches(rows: usize, batches: &[usize]) -> Vec<u8> {
        let frame = |from: usize, to: usize| {
            let n: Vec<i64> = (from as i64..to as i64).collect();
            let text: Vec<String> = (from..to).map(|i| format!("GET /item/{}", i % 977)).collect();
            DataFrame::new(to - from, vec![Column::new("n".into(), n), Column::new("text".into(), text)])
                .unwrap()
        };
        let schema = frame(0, 0).schema().as_ref().clone();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let out: Box<dyn Write + Send> = Box::new(std::fs::File::create(&path).unwrap());
        let mut encoder = Encoder::open(Encoding::Parquet, out, &schema).unwrap();
        let mut at = 0;
        for &size in batches.iter().cycle() {
            let to = (at + size).min(rows);
            encoder.write(frame(at, to)).unwrap();
            at = to;
            if at == rows {
                break;
            }
        }
        encoder.finish().unwrap();
        std::fs::read(path).unwrap()
    }

    #[test]
    fn parquet_files_do_not_depend_on_how_rows_were_batched() {
        // Two full row groups and part of a third: batches cross each boundary differently.
        let rows = 2 * ROW_GROUP + 1_000;
        let whole = parquet_in_batches(rows, &[rows]);
        for batches in [&[1_000][..], &[7, 5_000, 12_001], &[ROW_GROUP - 1, 2]] {
            assert!(parquet_in_batches(rows, batches) == whole, "batches of {batches:?}");
        }
        let read = ParquetReader::new(std::io::Cursor::new(whole)).finish().unwrap();
        assert_eq!(read.height(), rows);
        assert_eq!(read.column("n").unwrap().i64().unwrap().get(rows - 1), Some(rows as i64 - 1));
    }

    #[test]
    fn runs_are_cut_where_the_partition_changes() {
        let items = [1, 1, 2, 2, 2, 1];
        let got: Vec<(String, Vec<i32>)> =
            runs(&items, |i| i.to_string()).into_iter().map(|(p, r)| (p, r.to_vec())).collect();
        let want = [("1", vec![1, 1]), ("2", vec![2, 2, 2]), ("1", vec![1])];
        assert_eq!(got, want.map(|(p, r)| (p.to_owned(), r)));
        assert!(runs(&[] as &[i32], |i| i.to_string()).is_empty());
    }
}
