//! Citations ([`crate::cite::Citation`]) as sentences, shared by the text, HTML and Markdown
//! renderers: `backtick` spans mark config text (HTML shows them as code). Paths and values come
//! from the config, so renderers escape them like any other text.

use crate::cite::{Applied, Citation, Fix, Measured};
use crate::nginx_conf::scope::Level;
use crate::nginx_conf::units::show_seconds;

/// The first line (where) and the details of one citation.
pub fn sentences(c: &Citation) -> (String, Vec<String>) {
    let head = format!(
        "{} at {} ({} failure{})",
        c.context,
        c.at,
        c.failures,
        if c.failures == 1 { "" } else { "s" }
    );
    let mut lines = Vec::new();
    if let Some(pass) = &c.pass {
        lines.push(format!("`{} {}`{}", pass.directive, pass.value, at(pass)));
    }
    for applied in &c.applied {
        lines.push(match &c.measured {
            Some(m) if applied.directive.ends_with("_timeout") => against(applied, m),
            _ => in_force(applied),
        });
    }
    if let (Some(m), Some(timeout)) = (&c.measured, c.applied.first()) {
        lines.extend(successes(m, timeout));
    }
    if let Some(block) = &c.upstream {
        let servers: Vec<String> = block
            .servers
            .iter()
            .map(|s| {
                let params =
                    if s.params.is_empty() { String::new() } else { format!(" {}", s.params.join(" ")) };
                format!("`server {}{params}` at {}", s.addr, s.at)
            })
            .collect();
        lines.push(format!("`upstream {}` at {}: {}", block.name, block.at, servers.join("; ")));
    }
    if let Some(s) = &c.socket {
        lines.push(match (s.exists, s.owner, s.group, s.mode) {
            (false, ..) => format!("`{}` does not exist on this host now", s.path),
            (true, Some(uid), Some(gid), Some(mode)) => {
                format!(
                    "`{}` exists on this host now: owner uid {uid}, group gid {gid}, mode {mode:04o}",
                    s.path
                )
            }
            (true, ..) => format!("`{}` exists on this host now", s.path),
        });
    }
    if c.localhost_ipv6 {
        lines.push("the target says `localhost`: its ::1 address was refused and 127.0.0.1 was not, so the backend listens on IPv4 only; write 127.0.0.1 in the target".to_owned());
    }
    if c.plain_http {
        lines.push("the target says `https://`, but the upstream answered in plain HTTP (`wrong version number`): that port does not speak TLS".to_owned());
    }
    if let Some(fix) = &c.fix {
        lines.push(fix_sentence(fix, c));
    }
    (head, lines)
}

/// ` at FILE:LINE (from http)`, or ` (nginx's default)`.
fn at(a: &Applied) -> String {
    match (&a.at, a.level) {
        (Some(at), Some(Level::Http)) => format!(" at {at} (from http)"),
        (Some(at), Some(Level::Server)) => format!(" at {at} (from the server)"),
        (Some(at), _) => format!(" at {at}"),
        (None, _) => " (nginx's default)".to_owned(),
    }
}

fn in_force(a: &Applied) -> String {
    match (&a.at, a.value.is_empty()) {
        (None, true) => format!("no `{}` in force", a.directive),
        (None, false) => format!("`{}` not set: default {}", a.directive, a.value),
        (Some(_), _) => format!("`{} {}`{}", a.directive, a.value, at(a)),
    }
}

/// "failures end at 1.0 s = `proxy_read_timeout 1s` at nginx.conf:42 (from http)".
fn against(a: &Applied, m: &Measured) -> String {
    let configured = crate::nginx_conf::units::seconds(&a.value);
    let hit = configured.is_some_and(|t| (m.median - t).abs() <= (t * 0.1).max(0.2));
    let relation = if hit { "=" } else { "while" };
    let spread = if m.max - m.median > 0.05 { format!(" (up to {:.1} s)", m.max) } else { String::new() };
    format!("failures end at {:.1} s{spread} {relation} `{} {}`{}", m.median, a.directive, a.value, at(a))
}

fn successes(m: &Measured, timeout: &Applied) -> Option<String> {
    let configured = crate::nginx_conf::units::seconds(&timeout.value)?;
    Some(match m.success_p99 {
        None if m.successes == 0 => format!(
            "the upstream answered no request in time to compare with: raising `{}` helps only if it answers at all",
            timeout.directive
        ),
        None => return None,
        Some(p99) if p99 < configured / 2.0 => format!(
            "its successful responses take up to {} (p99): the timeout is not too short, these requests hung",
            show_seconds(p99)
        ),
        Some(p99) => format!("its successful responses take up to {} (p99)", show_seconds(p99)),
    })
}

/// "in `location /api/` at FILE:LINE, add `proxy_read_timeout 5s;`" — with why, from the logs.
fn fix_sentence(fix: &Fix, c: &Citation) -> String {
    let change = match &fix.current {
        Some(current) => format!(
            "at {} in `{}`, change `{} {current}` to `{} {}`",
            fix.at, fix.block, fix.directive, fix.directive, fix.value
        ),
        None => format!("in `{}` at {}, add `{} {};`", fix.block, fix.at, fix.directive, fix.value),
    };
    let why = match (
        c.applied.iter().find(|a| a.directive == fix.directive),
        c.measured.as_ref().and_then(|m| m.success_p99),
    ) {
        (Some(a), Some(p99)) if fix.current.is_none() => format!(
            " — the value in force, {}{}, is close to the p99 of successful responses there, {}",
            a.value,
            a.at.as_ref().map_or_else(|| " (default)".to_owned(), |at| format!(" at {at}")),
            show_seconds(p99)
        ),
        _ => String::new(),
    };
    format!("fix: {change}{why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cite::{At, Block, ServerLine, Socket};

    fn at(line: usize) -> At {
        At { file: "nginx.conf".into(), line }
    }

    fn citation() -> Citation {
        Citation {
            context: "server shop.test, location /slow/".into(),
            at: at(57),
            failures: 3,
            pass: Some(Applied {
                directive: "proxy_pass".into(),
                value: "http://127.0.0.1:9200".into(),
                at: Some(at(58)),
                level: Some(Level::Location),
            }),
            applied: vec![Applied {
                directive: "proxy_read_timeout".into(),
                value: "1s".into(),
                at: Some(at(42)),
                level: Some(Level::Http),
            }],
            measured: Some(Measured {
                median: 1.0,
                max: 1.01,
                samples: 3,
                successes: 97,
                success_p99: Some(0.98),
            }),
            upstream: None,
            socket: None,
            localhost_ipv6: false,
            plain_http: false,
            fix: Some(Fix {
                block: "location /slow/".into(),
                at: at(57),
                directive: "proxy_read_timeout".into(),
                current: None,
                value: "2s".into(),
            }),
        }
    }

    #[test]
    fn a_timeout_is_set_against_the_failures_and_fixed_in_its_location() {
        let (head, lines) = sentences(&citation());
        assert_eq!(head, "server shop.test, location /slow/ at nginx.conf:57 (3 failures)");
        assert_eq!(
            lines,
            [
                "`proxy_pass http://127.0.0.1:9200` at nginx.conf:58",
                "failures end at 1.0 s = `proxy_read_timeout 1s` at nginx.conf:42 (from http)",
                "its successful responses take up to 980ms (p99)",
                "fix: in `location /slow/` at nginx.conf:57, add `proxy_read_timeout 2s;` — the value in force, 1s at nginx.conf:42, is close to the p99 of successful responses there, 980ms",
            ]
        );
    }

    #[test]
    fn blocks_sockets_defaults_and_absences() {
        let c = Citation {
            pass: None,
            applied: vec![
                Applied { directive: "resolver".into(), value: String::new(), at: None, level: None },
                Applied { directive: "resolver_timeout".into(), value: "30s".into(), at: None, level: None },
            ],
            measured: None,
            upstream: Some(Block {
                name: "pool".into(),
                at: at(3),
                servers: vec![
                    ServerLine { addr: "10.0.0.1:80".into(), params: vec!["max_fails=1".into()], at: at(4) },
                    ServerLine { addr: "10.0.0.2:80".into(), params: vec![], at: at(5) },
                ],
            }),
            socket: Some(Socket {
                path: "/run/a.sock".into(),
                exists: true,
                owner: Some(33),
                group: Some(0),
                mode: Some(0o660),
            }),
            localhost_ipv6: true,
            plain_http: true,
            fix: None,
            ..citation()
        };
        let (_, lines) = sentences(&c);
        assert_eq!(
            lines,
            [
                "no `resolver` in force",
                "`resolver_timeout` not set: default 30s",
                "`upstream pool` at nginx.conf:3: `server 10.0.0.1:80 max_fails=1` at nginx.conf:4; `server 10.0.0.2:80` at nginx.conf:5",
                "`/run/a.sock` exists on this host now: owner uid 33, group gid 0, mode 0660",
                "the target says `localhost`: its ::1 address was refused and 127.0.0.1 was not, so the backend listens on IPv4 only; write 127.0.0.1 in the target",
                "the target says `https://`, but the upstream answered in plain HTTP (`wrong version number`): that port does not speak TLS",
            ]
        );
    }
}
