//! The source tree's shape: no import cycle between the modules of `src/`, so each module can be
//! read (and changed) knowing only the modules below it; no file over 600 lines; every file opens
//! with a doc line saying its one job. A module depends on every module a
//! `crate::`, `super::` or `self::` path in its file names (`use` lines and paths written inline
//! alike; comments and the `#[cfg(test)]` tail are left out); a path is credited to the longest
//! module it starts with, so `crate::report::schema::Report` is a dependency on `report::schema`,
//! and `super::ERROR` from `report/text.rs` one on `report`. A parent's own `mod child;` and
//! `child::` paths are how it is made of its children, not imports, and are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const MAX_LINES: usize = 600;

/// Every `.rs` file under `src/`, as (module path, text); `src/a/mod.rs` and `src/a.rs` are `a`,
/// `src/lib.rs` the crate root (`src/main.rs`, the binary, is `main`).
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(&src).expect("under src/").with_extension("");
            let mut module: Vec<String> =
                relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            (module, std::fs::read_to_string(&file).expect("a source file is UTF-8"))
        })
        .collect()
}

/// The code of a file without comments and without its `#[cfg(test)]` tail.
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    body.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads one path tree (`a::b`, `a::{b, c::d}`, `a::*`) at `at`, appending each full path.
fn tree(s: &[u8], at: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        while s.get(*at).is_some_and(u8::is_ascii_whitespace) {
            *at += 1;
        }
        if s.get(*at) == Some(&b'{') {
            *at += 1;
            loop {
                while s.get(*at).is_some_and(|b| b.is_ascii_whitespace() || *b == b',') {
                    *at += 1;
                }
                match s.get(*at) {
                    None => return,
                    Some(b'}') => {
                        *at += 1;
                        return;
                    }
                    _ => {
                        let before = *at;
                        tree(s, at, prefix.clone(), out);
                        if *at == before {
                            *at += 1;
                        }
                    }
                }
            }
        }
        let start = *at;
        while s.get(*at).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            *at += 1;
        }
        let ident = String::from_utf8_lossy(&s[start..*at]).into_owned();
        if ident.is_empty() {
            out.push(prefix);
            return;
        }
        if ident != "self" {
            prefix.push(ident);
        }
        if s[*at..].starts_with(b"::") {
            *at += 2;
        } else {
            out.push(prefix);
            return;
        }
    }
}

/// The modules a file's code names, resolved from `module`.
fn dependencies(module: &[String], code: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let s = code.as_bytes();
    let mut deps = BTreeSet::new();
    for (i, _) in code.match_indices("::") {
        let start =
            s[..i].iter().rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_')).map_or(0, |p| p + 1);
        let root = &code[start..i];
        if !matches!(root, "crate" | "super" | "self") || s[..start].ends_with(b"::") {
            continue;
        }
        let mut paths = Vec::new();
        tree(s, &mut start.clone(), Vec::new(), &mut paths);
        for path in paths {
            let mut absolute: Vec<String> = module.to_vec();
            let mut rest = path.as_slice();
            match rest.first().map(String::as_str) {
                Some("crate") => {
                    absolute.clear();
                    rest = &rest[1..];
                }
                _ => {
                    while rest.first().is_some_and(|p| p == "super") {
                        absolute.pop();
                        rest = &rest[1..];
                    }
                }
            }
            absolute.extend(rest.iter().cloned());
            let target = (0..=absolute.len()).rev().map(|n| &absolute[..n]).find(|p| known.contains(*p));
            if let Some(target) = target.filter(|t| !t.is_empty() && *t != module) {
                deps.insert(target.to_vec());
            }
        }
    }
    deps
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'g [String], (usize, usize)>,
        stack: Vec<&'g [String]>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(st: &mut State<'g>, v: &'g [String]) {
        let n = st.index.len();
        st.index.insert(v, (n, n));
        st.stack.push(v);
        for w in st.graph.get(v).into_iter().flatten() {
            match st.index.get(w.as_slice()) {
                None => {
                    visit(st, w);
                    let low = st.index[w.as_slice()].1;
                    st.index.get_mut(v).expect("visited").1 = st.index[v].1.min(low);
                }
                Some(_) if st.stack.contains(&w.as_slice()) => {
                    let low = st.index[w.as_slice()].0;
                    st.index.get_mut(v).expect("visited").1 = st.index[v].1.min(low);
                }
                Some(_) => {}
            }
        }
        if st.index[v].0 == st.index[v].1 {
            let at = st.stack.iter().rposition(|m| *m == v).expect("on the stack");
            let component: Vec<String> = st.stack.drain(at..).map(|m| m.join("::")).collect();
            if component.len() > 1 {
                st.found.push(component);
            }
        }
    }
    let mut st = State { graph, index: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for v in graph.keys() {
        if !st.index.contains_key(v.as_slice()) {
            visit(&mut st, v);
        }
    }
    st.found
}

#[test]
fn no_import_cycle_between_modules() {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> =
        modules.iter().map(|(m, text)| (m.clone(), dependencies(m, &code(text), &known))).collect();
    assert!(graph[&vec!["report".to_string(), "text".to_string()]]
        .contains(&vec!["report".to_string(), "table".to_string()]));
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new());
}

#[test]
fn paths_resolve_through_groups_and_super() {
    let known: BTreeSet<Vec<String>> = [vec!["a"], vec!["a", "b"], vec!["c"]]
        .iter()
        .map(|m| m.iter().map(|s| s.to_string()).collect())
        .collect();
    let me = vec!["a".to_string(), "b".to_string()];
    let deps = dependencies(&me, "use crate::{c::X, a::b::Y};\nlet x = super::f();", &known);
    assert_eq!(deps, BTreeSet::from([vec!["a".to_string()], vec!["c".to_string()]]));
}

#[test]
fn cycles_are_found() {
    let m = |name: &str| vec![name.to_string()];
    let graph = BTreeMap::from([
        (m("a"), BTreeSet::from([m("b")])),
        (m("b"), BTreeSet::from([m("c")])),
        (m("c"), BTreeSet::from([m("a"), m("d")])),
        (m("d"), BTreeSet::new()),
    ]);
    assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
}

#[test]
fn no_source_file_over_600_lines() {
    let long: Vec<(String, usize)> = modules()
        .into_iter()
        .map(|(m, text)| (m.join("::"), text.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .collect();
    assert_eq!(long, Vec::<(String, usize)>::new());
}

#[test]
fn every_source_file_opens_with_its_job() {
    let undocumented: Vec<String> = modules()
        .into_iter()
        .filter(|(_, text)| !text.starts_with("//! "))
        .map(|(m, _)| m.join("::"))
        .collect();
    assert_eq!(undocumented, Vec::<String>::new());
}
