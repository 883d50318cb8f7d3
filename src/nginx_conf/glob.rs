//! `include` patterns: `*` and `?` in any path component, expanded like glob(3), which nginx uses.
//!
//! Matches are sorted and names starting with `.` only match a pattern that starts with `.` (so
//! editor swap files in `conf.d/` are not read). A pattern without wildcards names one file that
//! must exist; a pattern with wildcards may match nothing, as in nginx. Written by hand because
//! `*`/`?` over `read_dir` is all nginx configs use, and it keeps the crate free of a dependency.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Whether `pattern` has wildcards.
pub fn is_pattern(pattern: &Path) -> bool {
    pattern.as_os_str().as_encoded_bytes().iter().any(|&b| b == b'*' || b == b'?')
}

/// The files `pattern` names, sorted. Directories that do not exist match nothing; one that
/// cannot be listed is an error (permission denied is worth telling, not ignoring).
pub fn expand(pattern: &Path) -> io::Result<Vec<PathBuf>> {
    if !is_pattern(pattern) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let piece = component.as_os_str();
        let wild = matches!(component, Component::Normal(_)) && is_pattern(Path::new(piece));
        if !wild {
            found.iter_mut().for_each(|p| p.push(piece));
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let listing =
                match std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) {
                    Ok(listing) => listing,
                    Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                        continue
                    }
                    Err(e) => return Err(e),
                };
            let mut names: Vec<_> = listing
                .filter_map(Result::ok)
                .map(|entry| entry.file_name())
                .filter(|name| matches(piece.as_encoded_bytes(), name.as_encoded_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| dir.join(name)));
        }
        found = next;
    }
    found.retain(|p| p.exists());
    Ok(found)
}

/// Whether `name` matches `pattern` (`*` any run of bytes, `?` one byte), with glob(3)'s rule
/// for leading dots.
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    // Iterative match with one backtrack point: linear in practice, never exponential.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_glob() {
        assert!(matches(b"*.conf", b"site.conf"));
        assert!(!matches(b"*.conf", b".conf.conf"));
        assert!(matches(b".*.conf", b".hidden.conf"));
        assert!(!matches(b"*.conf", b"site.conf.bak"));
        assert!(matches(b"s?te*", b"site"));
        assert!(!matches(b"s?te", b"ste"));
        assert!(matches(b"*a*b*", b"xxaxxbxx"));
        assert!(!matches(b"*a*b", b"xxaxxbxxc"));
        assert!(matches(b"*", b"x"));
        assert!(!matches(b"a", b""));
        assert!(matches(b"**", b""));
        let many_stars = [b"*a".repeat(50), b"b".to_vec()].concat();
        assert!(!matches(&many_stars, &b"a".repeat(60)), "no match, found without exponential backtracking");
        assert!(matches(&b"*a".repeat(50), &b"a".repeat(60)));
    }

    #[test]
    fn expands_sorted_matches_in_any_component() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for f in ["conf.d/b.conf", "conf.d/a.conf", "conf.d/.swp.conf", "conf.d/c.txt", "sites/x/site.conf"] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap_or(dir.path())).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, "").unwrap_or_else(|e| panic!("{e}"));
        }
        let names = |pattern: &str| -> Vec<String> {
            expand(&dir.path().join(pattern))
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|p| p.strip_prefix(dir.path()).unwrap_or(p).display().to_string())
                .collect()
        };
        assert_eq!(names("conf.d/*.conf"), ["conf.d/a.conf", "conf.d/b.conf"]);
        assert_eq!(names("*/*/site.conf"), ["sites/x/site.conf"]);
        assert_eq!(names("missing/*.conf"), Vec::<String>::new());
        assert_eq!(names("conf.d/?.txt"), ["conf.d/c.txt"]);
        assert_eq!(names("conf.d/plain.conf"), ["conf.d/plain.conf"], "no wildcard: named as is");
    }
}
