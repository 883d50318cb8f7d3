//! Which requests can compete for the same error lines, so the join runs in parallel.
//!
//! A request with `$connection` only ever claims lines of its `*CID`; one without claims only
//! lines of its client and request line (see [`super::index`]). Requests in different
//! partitions therefore never see each other's lines, and serving each partition in time order
//! on its own thread gives exactly what serving all of them in time order on one thread gives.
//! When some requests have a connection and others not (two access logs in different formats),
//! a line could be reached both ways: everything is then one partition.

use std::hash::{BuildHasher, Hash, Hasher};

use rustc_hash::FxHashMap;

use super::group::Grouped;
use super::SLACK_AFTER;
use crate::summary::Candidate;

/// The positions of `candidates` (sorted by time) grouped into `count` partitions, each group
/// in time order (some groups may be empty); `hashes` are the candidates' [`request_hash_of`].
/// Grouped by counting, so each partition's list is made at its final size.
///
/// The join asks for one partition per thread, not many more to even out their sizes: a
/// partition's requests are read in time order, so with few partitions each thread walks the
/// candidates (and their text, allocated in the same order) nearly front to back, and the
/// processor's prefetch keeps up. With 256 partitions each step jumped about 256 candidates
/// ahead, a cache miss per request: at 30 % failures the whole run took 5 to 8 % more time.
/// Uneven partitions cost less, as the next segment's parsing fills a thread that is done.
///
/// [`request_hash_of`]: super::index::request_hash_of
pub(super) fn partitions(candidates: &[Candidate], hashes: &[Option<u64>], count: usize) -> Grouped<usize> {
    let count = count.max(1);
    let with_connection = candidates.iter().filter(|c| c.connection.is_some()).count();
    let mixed = with_connection != 0 && with_connection != candidates.len();
    let part = |c: &Candidate, hash: Option<u64>| {
        let key = match (c.connection, hash) {
            _ if mixed => 0,
            (Some(cid), _) => rustc_hash::FxBuildHasher.hash_one(cid),
            (None, Some(hash)) => hash,
            // Without a client and a request line, a request claims no line: any partition
            // will do.
            (None, None) => 0,
        };
        (key % count as u64) as usize
    };
    let numbered: Vec<(usize, usize)> =
        candidates.iter().zip(hashes).enumerate().map(|(at, (c, &hash))| (part(c, hash), at)).collect();
    Grouped::new(&numbered, count)
}

/// What requests queue on: the connection when logged, else client and request line; and the
/// source they were logged by.
#[derive(PartialEq, Eq, Hash)]
enum JoinKey<'c> {
    /// A connection carries many requests (keep-alive, HTTP/2): only the same request line
    /// competes for the same lines.
    Connection(u64, Option<&'c [u8]>, Option<&'c str>),
    Request(Option<&'c [u8]>, Option<&'c [u8]>, Option<&'c str>),
}

impl<'c> JoinKey<'c> {
    fn of(c: &'c Candidate) -> JoinKey<'c> {
        match c.connection {
            Some(cid) => JoinKey::Connection(cid, c.request(), c.source.as_deref()),
            None => JoinKey::Request(c.client(), c.request(), c.source.as_deref()),
        }
    }
}

/// A [`JoinKey`] with the hash it is looked up by. Requests without a connection and with
/// equal keys have the same [`request_hash_of`] (taken over their client and a part of their
/// request line), so that stands for the key's hash and the key's bytes are not hashed again.
/// Any other key is hashed whole: a connection's requests share its number, and one connection
/// (HTTP/2) can carry thousands of them, which must not all hash alike.
///
/// [`request_hash_of`]: super::index::request_hash_of
struct Hashed<'c>(u64, JoinKey<'c>);

impl<'c> Hashed<'c> {
    fn of(c: &'c Candidate, hash: Option<u64>) -> Hashed<'c> {
        let key = JoinKey::of(c);
        match (c.connection, hash) {
            (None, Some(hash)) => Hashed(hash, key),
            _ => Hashed(rustc_hash::FxBuildHasher.hash_one(&key), key),
        }
    }
}

impl PartialEq for Hashed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 && self.1 == other.1
    }
}

impl Eq for Hashed<'_> {}

impl Hash for Hashed<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// For each of `candidates` (sorted by time): how many later requests with its join key were
/// served within a second after it. Each of those still needs a line of the key's, so a request
/// leaves the lines after its own access time to them. `hashes` are the candidates'
/// [`request_hash_of`].
///
/// [`request_hash_of`]: super::index::request_hash_of
pub(super) fn waiting(candidates: &[Candidate], hashes: &[Option<u64>]) -> Vec<usize> {
    // Sized for a key per request (the usual case) so that it is never rehashed as it grows.
    let mut ids: FxHashMap<Hashed<'_>, usize> =
        FxHashMap::with_capacity_and_hasher(candidates.len(), Default::default());
    let keyed: Vec<(usize, usize)> = candidates
        .iter()
        .zip(hashes)
        .enumerate()
        .map(|(at, (c, &hash))| {
            let next = ids.len();
            (*ids.entry(Hashed::of(c, hash)).or_insert(next), at)
        })
        .collect();
    let by_key = Grouped::new(&keyed, ids.len());
    let mut waiting = vec![0; candidates.len()];
    for run in by_key.runs() {
        // In time order, untimed requests first: a timed one's followers are a contiguous run.
        let mut end = 0;
        for (k, &at) in run.iter().enumerate() {
            let Some(now) = candidates[at].time else { continue };
            end = end.max(k + 1);
            while end < run.len() && candidates[run[end]].time.is_some_and(|t| t <= now + SLACK_AFTER) {
                end += 1;
            }
            waiting[at] = end - k - 1;
        }
    }
    waiting
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{CandidateText, TextFields};

    fn request(time: i64, cid: Option<u64>, client: &str, request: &str) -> Candidate {
        Candidate {
            input: 0,
            line: 0,
            time: Some(time),
            offset: 0,
            status: 502,
            connection: cid,
            request_time: None,
            text: CandidateText::new(&TextFields {
                client: Some(client.as_bytes()),
                request: Some(request.as_bytes()),
                ..TextFields::default()
            }),
            source: None,
        }
    }

    #[test]
    fn waiting_counts_later_requests_of_the_same_key_within_a_second() {
        let a = "GET /a HTTP/1.1";
        let candidates = [
            request(10, None, "10.0.0.1", a),
            request(10, None, "10.0.0.2", a),
            request(11, None, "10.0.0.1", a),
            request(11, None, "10.0.0.1", "GET /b HTTP/1.1"),
            request(12, None, "10.0.0.1", a),
            request(14, None, "10.0.0.1", a),
        ];
        let hashes: Vec<Option<u64>> = candidates.iter().map(super::super::index::request_hash_of).collect();
        assert_eq!(waiting(&candidates, &hashes), [1, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn waiting_tells_apart_keys_that_share_a_request_hash() {
        // The protocol is left out of the request hash but not out of the key; requests with
        // no request line have no request hash, and queue by the rest of their key.
        let mut untimed = request(0, None, "10.0.0.3", "-");
        untimed.time = None;
        let candidates = [
            request(10, None, "10.0.0.1", "GET /a HTTP/1.1"),
            request(10, None, "10.0.0.1", "GET /a HTTP/2.0"),
            request(10, None, "10.0.0.1", "GET /a HTTP/1.1"),
            Candidate { text: CandidateText::default(), ..request(10, None, "", "") },
            Candidate { text: CandidateText::default(), ..request(11, None, "", "") },
            untimed,
        ];
        let hashes: Vec<Option<u64>> = candidates.iter().map(super::super::index::request_hash_of).collect();
        assert_eq!(hashes[0], hashes[1]);
        assert_eq!(hashes[3], None);
        assert_eq!(waiting(&candidates, &hashes), [1, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn a_connections_requests_queue_by_request_line() {
        let candidates: Vec<Candidate> = (0..64)
            .map(|k| request(10, Some(7), "10.0.0.1", &format!("GET /item/{} HTTP/2.0", k % 32)))
            .collect();
        let hashes: Vec<Option<u64>> = candidates.iter().map(super::super::index::request_hash_of).collect();
        assert!(hashes.iter().all(Option::is_none));
        let want: Vec<usize> = (0..64).map(|k| usize::from(k < 32)).collect();
        assert_eq!(waiting(&candidates, &hashes), want);
    }

    /// The partitions of `candidates` that have a request.
    fn parts(candidates: &[Candidate]) -> Vec<Vec<usize>> {
        let hashes: Vec<Option<u64>> = candidates.iter().map(super::super::index::request_hash_of).collect();
        let grouped = partitions(candidates, &hashes, 4);
        grouped.runs().filter(|p| !p.is_empty()).map(<[usize]>::to_vec).collect()
    }

    #[test]
    fn requests_that_share_no_line_go_apart_and_mixed_keys_stay_together() {
        let a = "GET /a HTTP/1.1";
        let by_connection: Vec<Candidate> =
            (0..64).map(|cid| request(10, Some(cid), "10.0.0.1", a)).collect();
        let apart = parts(&by_connection);
        assert!(apart.len() > 1, "64 connections in {} partition(s)", apart.len());
        // A connection's requests stay in one partition, in time order.
        let again = [request(10, Some(7), "10.0.0.1", a), request(11, Some(7), "10.0.0.9", "GET /b")];
        assert_eq!(parts(&again), [vec![0, 1]]);
        let mut mixed = by_connection.clone();
        mixed.push(request(11, None, "10.0.0.1", a));
        assert_eq!(parts(&mixed), [(0..65).collect::<Vec<_>>()]);
    }
}
