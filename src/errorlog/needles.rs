//! The substrings a message's cause is decided on, wherever they are in it, found in one pass.
//! FastCGI messages relay whole stack traces, and a search per substring read them once per
//! substring; one multi-substring search reads each byte once and answers every question.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

/// A substring some decision looks for anywhere in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needle {
    /// `, context: ngx.`: a Lua timer, outside any request.
    LuaContext,
    LuaTcpSocket,
    LuaUdpSocket,
    /// `connect() failed` anywhere.
    ConnectFailed,
    /// ` connect() failed`: after a space, not at the start of the message.
    SpacedConnectFailed,
    ConnectToUnix,
    CouldNotBeResolved,
    ClientClosed,
    WorkerConnections,
    PrimaryScriptUnknown,
    UnableToOpenPrimaryScript,
    /// `, ignor`: nginx ignored what it complains about.
    Ignoring,
}

/// The searched substrings. No one contains another, and no one ends with the start of
/// another, so no occurrence hides another from a search that reports matches without overlap.
/// ` connect() failed` is found as `connect() failed` after a space, as it contains it.
const SEARCHED: [(Needle, &[u8]); 11] = [
    (Needle::LuaContext, b", context: ngx."),
    (Needle::LuaTcpSocket, b"lua tcp socket"),
    (Needle::LuaUdpSocket, b"lua udp socket"),
    (Needle::ConnectFailed, b"connect() failed"),
    (Needle::ConnectToUnix, b"connect() to unix:"),
    (Needle::CouldNotBeResolved, b"could not be resolved ("),
    (Needle::ClientClosed, b"client prematurely closed connection"),
    (Needle::WorkerConnections, b"worker_connections are not enough"),
    (Needle::PrimaryScriptUnknown, b"Primary script unknown"),
    (Needle::UnableToOpenPrimaryScript, b"Unable to open primary script"),
    (Needle::Ignoring, b", ignor"),
];

static SEARCHER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(SEARCHED.map(|(_, text)| text))
        .expect("the needles are a handful of short literals")
});

/// Which needles a message contains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Found(u16);

impl Found {
    /// The needles in `text`.
    pub(crate) fn in_text(text: &[u8]) -> Found {
        let mut found = Found::default();
        for m in SEARCHER.find_iter(text) {
            let needle = SEARCHED[m.pattern().as_usize()].0;
            found.insert(needle);
            if needle == Needle::ConnectFailed && m.start() > 0 && text[m.start() - 1] == b' ' {
                found.insert(Needle::SpacedConnectFailed);
            }
        }
        found
    }

    fn insert(&mut self, needle: Needle) {
        self.0 |= 1 << needle as u16;
    }

    pub(crate) fn has(self, needle: Needle) -> bool {
        self.0 & (1 << needle as u16) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a search per needle says.
    fn one_by_one(text: &[u8]) -> Found {
        let mut found = Found::default();
        for (needle, literal) in SEARCHED {
            if memchr::memmem::find(text, literal).is_some() {
                found.insert(needle);
            }
        }
        if memchr::memmem::find(text, b" connect() failed").is_some() {
            found.insert(Needle::SpacedConnectFailed);
        }
        found
    }

    #[test]
    fn no_needle_can_hide_another() {
        for (a, x) in SEARCHED {
            for (b, y) in SEARCHED {
                if a == b {
                    continue;
                }
                assert!(memchr::memmem::find(x, y).is_none(), "{a:?} contains {b:?}");
                for cut in 1..x.len() {
                    assert!(!y.starts_with(&x[cut..]), "{a:?} ends with the start of {b:?}");
                }
            }
        }
    }

    #[test]
    fn one_pass_finds_what_a_search_per_needle_finds() {
        let texts: [&[u8]; 12] = [
            b"",
            b"connect() failed",
            b" connect() failed",
            b"x connect() failed",
            b"kevent() reported that connect() failed (61: Connection refused)",
            b"connect() failed and then connect() failed again",
            b"connect() failedconnect() to unix:/a failed, context: ngx.timer",
            b"lua tcp socketlua udp socket",
            b"PHP message: Primary script unknown\nUnable to open primary script: /x.php",
            b"a.example could not be resolved (3: Host not found), ignoring",
            b"\xff\xfe lua udp socket \x80 client prematurely closed connection\xc3",
            b"1024 worker_connections are not enough, context: ngx.",
        ];
        for text in texts {
            assert_eq!(Found::in_text(text), one_by_one(text), "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn needles_at_the_ends_and_overlapping_each_other() {
        let found = Found::in_text(b", ignoring, context: ngx.lua tcp socket");
        assert!(
            found.has(Needle::Ignoring) && found.has(Needle::LuaContext) && found.has(Needle::LuaTcpSocket)
        );
        assert!(!found.has(Needle::LuaUdpSocket));
        // `connect() failed` at the very start is not ` connect() failed`.
        let start = Found::in_text(b"connect() failed (111: Connection refused)");
        assert!(start.has(Needle::ConnectFailed) && !start.has(Needle::SpacedConnectFailed));
        // A needle cut by the end is not there.
        assert_eq!(Found::in_text(b"x lua tcp socke"), Found::default());
        // A needle that starts inside another's near miss is still found.
        assert!(
            Found::in_text(b"could not be resolvedcould not be resolved (").has(Needle::CouldNotBeResolved)
        );
        assert!(Found::in_text(b"lua tcp lua tcp socket").has(Needle::LuaTcpSocket));
    }
}
