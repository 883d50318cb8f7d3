//! What per-host reports say together beyond their sums (`ngx502 merge`): the filters they were
//! made with, the labels they share, and, for a label that differs between hosts (`host=web1`,
//! `host=web2`), the fleet's failures broken down by its values, so a merged report still says
//! which host failed.

use std::collections::BTreeMap;

use crate::report::schema::LabelRow;

/// The value a breakdown gives hosts that did not have the label.
pub const UNLABELLED: &str = "(none)";

/// One host's labels and the counts a breakdown adds up.
pub struct HostCounts<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub requests: u64,
    pub failures: u64,
    pub causes: Vec<(&'a str, u64)>,
}

/// Each host's filters, once, in the order first seen: hosts filtered alike give the fleet those
/// filters.
pub fn filters<'a>(each: impl Iterator<Item = &'a [String]>) -> Vec<String> {
    let mut filters: Vec<String> = Vec::new();
    for f in each.flatten() {
        if !filters.contains(f) {
            filters.push(f.clone());
        }
    }
    filters
}

/// The labels every host has with the same value, and a breakdown by each other label: one row
/// per value (hosts without the label under [`UNLABELLED`]), most failures first.
pub fn labels<'a>(hosts: &[HostCounts<'a>]) -> (BTreeMap<String, String>, BTreeMap<String, Vec<LabelRow>>) {
    let keys: Vec<&'a String> = {
        let mut keys: Vec<&'a String> = hosts.iter().flat_map(|h| h.labels.keys()).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let mut common = BTreeMap::new();
    let mut breakdowns = BTreeMap::new();
    for key in keys {
        let value_of =
            |h: &HostCounts<'a>| -> &'a str { h.labels.get(key).map_or(UNLABELLED, String::as_str) };
        let first = hosts.first().map(value_of);
        if hosts.iter().all(|h| h.labels.contains_key(key) && Some(value_of(h)) == first) {
            common.insert(key.clone(), first.unwrap_or_default().to_owned());
            continue;
        }
        let mut rows: BTreeMap<&'a str, LabelRow> = BTreeMap::new();
        for h in hosts {
            let value = value_of(h);
            let row = rows
                .entry(value)
                .or_insert_with(|| LabelRow { value: value.to_owned(), ..LabelRow::default() });
            row.hosts = row.hosts.saturating_add(1);
            row.requests = row.requests.saturating_add(h.requests);
            row.failures = row.failures.saturating_add(h.failures);
            for &(cause, n) in &h.causes {
                let count = row.by_cause.entry(cause.to_owned()).or_insert(0);
                *count = count.saturating_add(n);
            }
        }
        let mut rows: Vec<LabelRow> = rows.into_values().collect();
        for row in &mut rows {
            row.failure_rate =
                if row.requests == 0 { 0.0 } else { row.failures as f64 / row.requests as f64 };
        }
        rows.sort_by(|a, b| b.failures.cmp(&a.failures).then_with(|| a.value.cmp(&b.value)));
        breakdowns.insert(key.clone(), rows);
    }
    (common, breakdowns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn shared_labels_stay_and_differing_ones_break_down() {
        let (web1, web2, bare) = (
            labels(&[("dc", "fra"), ("host", "web1")]),
            labels(&[("dc", "fra"), ("host", "web2")]),
            labels(&[("dc", "fra")]),
        );
        let hosts = [
            HostCounts { labels: &web1, requests: 100, failures: 3, causes: vec![("read_timeout", 3)] },
            HostCounts { labels: &web2, requests: 50, failures: 10, causes: vec![("connect_refused", 10)] },
            HostCounts { labels: &bare, requests: 10, failures: 0, causes: vec![] },
        ];
        let (common, by) = super::labels(&hosts);
        assert_eq!(common, labels(&[("dc", "fra")]));
        let rows: Vec<(&str, u64, u64, f64)> =
            by["host"].iter().map(|r| (r.value.as_str(), r.requests, r.failures, r.failure_rate)).collect();
        assert_eq!(rows, [("web2", 50, 10, 0.2), ("web1", 100, 3, 0.03), ("(none)", 10, 0, 0.0)]);
        assert_eq!(by["host"][0].by_cause, BTreeMap::from([("connect_refused".to_owned(), 10)]));
        assert_eq!(
            filters([&["a".to_owned()][..], &["a".to_owned(), "b".to_owned()]].into_iter()),
            ["a", "b"]
        );
    }
}
