//! Findings and advice worded for people: the report holds them as data (a kind, its numbers and
//! subjects), and every renderer words them here, the same way.

use super::schema::{Advice, Finding, OTHER_UPSTREAMS};
use crate::access::format::{upstream_directive, Missing};
use crate::errorlog::Cause;

/// One finding about the failures of `cause` (a slug), as a sentence.
pub fn finding(cause: &str, f: &Finding) -> String {
    let cause = Cause::from_slug(cause);
    match f {
        Finding::Upstream { upstream, failures, first, last } => {
            let verb = match cause {
                Some(Cause::ConnectRefused) => "refused connections",
                Some(Cause::UnixSocketMissing) => "had no socket file",
                Some(Cause::NoRoute) => "was unreachable",
                Some(Cause::ReadTimeout) => "answered too slowly",
                _ => "failed",
            };
            match (first, last) {
                (Some(f), Some(l)) => format!("{upstream} {verb} {} from {f} to {l}", times(*failures)),
                (Some(f), None) => format!("{upstream} {verb} {} at {f}", times(*failures)),
                _ => format!("{upstream} {verb} {}", times(*failures)),
            }
        }
        Finding::GaveUpAfter { median_seconds, endpoints, .. } => {
            let setting = match cause {
                Some(Cause::ReadTimeout) => "proxy_read_timeout (or fastcgi_/uwsgi_/grpc_read_timeout)",
                Some(Cause::SendTimeout) => "proxy_send_timeout",
                _ => "proxy_connect_timeout",
            };
            let slowest: Vec<String> = endpoints.iter().map(|(p, n)| format!("{p} ({n})")).collect();
            format!(
                "nginx gave up after {median_seconds:.1}s (median request time of these failures): that is the {setting} in force; endpoints that hit it: {}",
                slowest.join(", ")
            )
        }
        Finding::AllServersDown { block, at } => format!(
            "every server of {} was marked down by {at}: the failures on its servers just before then are the real cause",
            block.as_deref().unwrap_or("the upstream block")
        ),
    }
}

/// One piece of advice, as a sentence (`code` in backticks).
pub fn advice(a: &Advice) -> String {
    match a {
        Advice::FormatLacks { format, lacks } => format!("{format}: {}", missing(*lacks)),
        Advice::UseUpstreamFormat => {
            format!("Add to nginx.conf and use it in access_log: {}", upstream_directive())
        }
        Advice::UpstreamsFolded { upstreams, listed, folded } => format!(
            "{upstreams} upstreams: the {listed} with the most failures are listed, the other {folded} are summed in the row {OTHER_UPSTREAMS}."
        ),
        Advice::SettledWithoutErrorLine { requests } => format!(
            "{requests} failed request(s) waited for an error line their logs can no longer bring (the logs stopped growing, were compressed, or are older than the join's wait): counted without one."
        ),
        Advice::PassAccessLog => "Pass the access log too, for client-facing counts.".to_owned(),
    }
}

fn missing(m: Missing) -> &'static str {
    match m {
        Missing::Connection => "no $connection: access and error lines are joined by client, request and time instead of exactly by connection id",
        Missing::UpstreamStatus => "no $upstream_addr/$upstream_status: a 502 sent by the backend itself cannot be told from an unexplained one, and per-upstream request counts and retries are unknown",
        Missing::Latency => "no $upstream_response_time/$request_time: no latency percentiles",
    }
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_and_advice_read_as_before_they_were_data() {
        let slow = Finding::Upstream {
            upstream: "10.0.1.1:80".into(),
            failures: 2,
            first: Some("2024-05-14T10:00:31+00:00".into()),
            last: Some("2024-05-14T10:02:31+00:00".into()),
        };
        assert_eq!(
            finding("read_timeout", &slow),
            "10.0.1.1:80 answered too slowly 2 times from 2024-05-14T10:00:31+00:00 to 2024-05-14T10:02:31+00:00"
        );
        let once =
            Finding::Upstream { upstream: "a".into(), failures: 1, first: Some("t".into()), last: None };
        assert_eq!(finding("connect_refused", &once), "a refused connections once at t");
        let waited =
            Finding::GaveUpAfter { median_seconds: 30.001, samples: 2, endpoints: vec![("/slow".into(), 2)] };
        assert_eq!(
            finding("read_timeout", &waited),
            "nginx gave up after 30.0s (median request time of these failures): that is the proxy_read_timeout (or fastcgi_/uwsgi_/grpc_read_timeout) in force; endpoints that hit it: /slow (2)"
        );
        let down = Finding::AllServersDown { block: None, at: "t".into() };
        assert_eq!(
            finding("no_live_upstreams", &down),
            "every server of the upstream block was marked down by t: the failures on its servers just before then are the real cause"
        );
        assert_eq!(
            advice(&Advice::UpstreamsFolded { upstreams: 200_000, listed: 100, folded: 199_900 }),
            "200000 upstreams: the 100 with the most failures are listed, the other 199900 are summed in the row (other upstreams)."
        );
        assert_eq!(
            advice(&Advice::FormatLacks { format: "combined".into(), lacks: Missing::Latency }),
            "combined: no $upstream_response_time/$request_time: no latency percentiles"
        );
    }
}
