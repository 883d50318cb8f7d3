//! `--label KEY=VALUE`: what a run's numbers are about (`host=web1`, `dc=fra`), so a fleet's
//! reports, metrics and exports can be told apart and put together.
//!
//! Labels go into the JSON report (`labels`), onto every Prometheus series, and into a column per
//! label in the export tables. Table columns are `label_<key>` (a `host` label would otherwise
//! clash with the request's `host` column), and `--partition` can split by them.

use std::collections::BTreeMap;

use anyhow::bail;
use clap::Args;

/// Label names the Prometheus families already use: a label of the same name would give a
/// series the name twice.
const RESERVED: [&str; 8] = ["cause", "upstream", "status", "quantile", "input", "result", "le", "job"];

/// The `--label` flag of `report`, `export` and `live`.
#[derive(Debug, Args, Default)]
pub struct LabelArgs {
    /// Label everything this run writes with KEY=VALUE, e.g. host=web1 (repeatable): JSON
    /// `labels`, every Prometheus series, a label_KEY column in exports.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub label: Vec<(String, String)>,
}

/// A run's labels, by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// The labels of the command line; a key given twice is a usage error.
    pub fn new(args: &LabelArgs) -> anyhow::Result<Labels> {
        let mut labels = BTreeMap::new();
        for (key, value) in &args.label {
            if labels.insert(key.clone(), value.clone()).is_some() {
                bail!("--label {key}=… is given twice");
            }
        }
        Ok(Labels(labels))
    }

    /// `(key, value)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as the JSON report carries them.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.clone()
    }

    /// `(label_<key>, value)`: the export columns.
    pub fn columns(&self) -> impl Iterator<Item = (String, &str)> {
        self.iter().map(|(k, v)| (column(k), v))
    }
}

/// The export column of label `key`.
pub fn column(key: &str) -> String {
    format!("label_{key}")
}

/// `KEY=VALUE`, with a key Prometheus accepts as a label name and does not already use.
fn parse_label(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("{text:?} is not KEY=VALUE"));
    };
    let mut chars = key.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with("__");
    if !valid {
        return Err(format!(
            "label name {key:?}: letters, digits and _ only, not starting with a digit or __"
        ));
    }
    if RESERVED.contains(&key) {
        return Err(format!("label name {key:?} is one ngx502's metrics already use; pick another"));
    }
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(format!("label {key}: the value must be non-empty text without control characters"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse_label("host=web1"), Ok(("host".into(), "web1".into())));
        assert_eq!(parse_label("dc=fra=1"), Ok(("dc".into(), "fra=1".into())));
        for bad in ["host", "=web1", "1host=a", "ho-st=a", "__name=a", "cause=x", "host=", "host=a\nb"] {
            assert!(parse_label(bad).is_err(), "{bad}");
        }
        let args = LabelArgs { label: vec![("b".into(), "2".into()), ("a".into(), "1".into())] };
        let labels = Labels::new(&args).unwrap();
        assert_eq!(labels.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert_eq!(
            labels.columns().collect::<Vec<_>>(),
            [("label_a".to_owned(), "1"), ("label_b".to_owned(), "2")]
        );
        let twice = LabelArgs { label: vec![("a".into(), "1".into()), ("a".into(), "2".into())] };
        assert!(Labels::new(&twice).is_err());
    }
}
