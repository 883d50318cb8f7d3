//! `--format` of `ngx502 export`, and the message a build without Parquet support gives.
//!
//! Parquet and CSV come from polars, which is behind the `parquet` cargo feature because it
//! multiplies the build time. Without the feature their variants do not exist, but the names stay
//! known to the parser, so `--format parquet` explains how to get them instead of only listing
//! the formats this binary has.

use clap::builder::{EnumValueParser, PossibleValue, TypedValueParser};
use clap::error::ErrorKind;

/// Table formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet: typed columns, UTC timestamps.
    #[cfg(feature = "parquet")]
    Parquet,
    /// Comma-separated values, safe to open in a spreadsheet.
    #[cfg(feature = "parquet")]
    Csv,
}

/// The formats that need the `parquet` feature.
const POLARS_FORMATS: [&str; 2] = ["parquet", "csv"];

/// Why `--format parquet|csv` fails in a build without the `parquet` feature, and the fix.
pub const NO_PARQUET: &str = "this ngx502 was built without Parquet/CSV support; rebuild it with the \
     `parquet` feature: cargo install --path . --features parquet (or cargo build --release --features parquet)";

impl ExportFormat {
    /// Whether the format is a pair of tables (failures and buckets) rather than one stream,
    /// so `-o` names a directory.
    pub fn is_table(self) -> bool {
        self != ExportFormat::Ndjson
    }
}

impl clap::ValueEnum for ExportFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            ExportFormat::Ndjson,
            #[cfg(feature = "parquet")]
            ExportFormat::Parquet,
            #[cfg(feature = "parquet")]
            ExportFormat::Csv,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            ExportFormat::Ndjson => PossibleValue::new("ndjson").help("One JSON object per line"),
            #[cfg(feature = "parquet")]
            ExportFormat::Parquet => {
                PossibleValue::new("parquet").help("failures and buckets tables in Apache Parquet")
            }
            #[cfg(feature = "parquet")]
            ExportFormat::Csv => PossibleValue::new("csv").help("failures and buckets tables in CSV"),
        })
    }
}

/// Parses `--format` like the derived enum parser, except that a format this build lacks gets
/// [`NO_PARQUET`] rather than "invalid value". Named explicitly (`value_parser = FormatParser`):
/// clap's derive prefers a type's `ValueEnum` parser over its `ValueParserFactory`.
#[derive(Clone, Debug, Default)]
pub struct FormatParser;

impl TypedValueParser for FormatParser {
    type Value = ExportFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ExportFormat, clap::Error> {
        let parsed = EnumValueParser::<ExportFormat>::new().parse_ref(cmd, arg, value);
        let missing = value.to_str().is_some_and(|v| POLARS_FORMATS.contains(&v));
        match parsed {
            Err(_) if missing => Err(clap::Error::raw(
                ErrorKind::InvalidValue,
                format!("--format {}: {NO_PARQUET}\n", value.to_string_lossy()),
            )
            .with_cmd(cmd)),
            other => other,
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            <ExportFormat as clap::ValueEnum>::value_variants()
                .iter()
                .filter_map(clap::ValueEnum::to_possible_value),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Args {
        #[arg(long, value_enum, value_parser = FormatParser, default_value_t = ExportFormat::Ndjson)]
        format: ExportFormat,
    }

    #[test]
    fn ndjson_is_the_default_and_parses() {
        assert_eq!(Args::try_parse_from(["x"]).map(|a| a.format).ok(), Some(ExportFormat::Ndjson));
        assert_eq!(
            Args::try_parse_from(["x", "--format", "ndjson"]).map(|a| a.format).ok(),
            Some(ExportFormat::Ndjson)
        );
    }

    #[test]
    fn unknown_format_is_an_ordinary_invalid_value() {
        let err =
            Args::try_parse_from(["x", "--format", "xml"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("invalid value 'xml'"), "{err}");
    }

    #[cfg(not(feature = "parquet"))]
    #[test]
    fn parquet_without_the_feature_says_how_to_rebuild() {
        for format in POLARS_FORMATS {
            let err = Args::try_parse_from(["x", "--format", format])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!(err.lines().next(), Some(format!("error: --format {format}: {NO_PARQUET}").as_str()));
        }
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn parquet_and_csv_parse_with_the_feature() {
        assert_eq!(
            Args::try_parse_from(["x", "--format", "parquet"]).map(|a| a.format).ok(),
            Some(ExportFormat::Parquet)
        );
        assert_eq!(
            Args::try_parse_from(["x", "--format", "csv"]).map(|a| a.format).ok(),
            Some(ExportFormat::Csv)
        );
    }
}
