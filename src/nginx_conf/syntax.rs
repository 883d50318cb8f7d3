//! The grammar of an nginx.conf file: words, `;`, `{ }` blocks, `#` comments and quoted strings,
//! read the way nginx's own `ngx_conf_read_token` reads them, into a tree of directives.
//!
//! Quoting follows nginx: a word starting with `"` or `'` runs to the matching quote and must be
//! followed by whitespace, `;` or `{`; `\` makes the next byte ordinary (so `\;` and `\"` do not end
//! anything); `#` starts a comment only where a word could start; `${var}` keeps its braces. After
//! splitting, every word is unescaped as nginx does: `\"`, `\'`, `\\` lose the backslash, `\t`, `\r`,
//! `\n` become the control byte, any other `\x` stays as written.

use std::fmt;

/// One directive with its arguments, and its block when it has one (`http { ... }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub name: Vec<u8>,
    pub args: Vec<Vec<u8>>,
    /// 1-based line of the directive's name.
    pub line: usize,
    pub block: Option<Vec<Directive>>,
}

/// Why a file is not valid nginx.conf syntax, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line the problem starts at (the opening quote or brace for unterminated ones).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(Vec<u8>),
    Semicolon,
    Open,
    Close,
}

/// Deepest nesting of blocks accepted. Real configs nest a handful (`http`/`server`/`location`/`if`);
/// the limit keeps the recursive walk and drop of the tree bounded on hostile input.
pub const MAX_DEPTH: usize = 64;

/// Parses a whole file into its top-level directives.
///
/// Blocks are kept on an explicit stack rather than by recursion, so a hostile file of a million
/// `{` cannot overflow the stack.
pub fn parse(src: &[u8]) -> Result<Vec<Directive>, SyntaxError> {
    let mut lexer = Lexer { src, pos: 0, line: 1 };
    // Each open level: the directives read so far, and the header of the block (None at top level).
    let mut levels: Vec<(Vec<Directive>, Option<Directive>)> = vec![(Vec::new(), None)];
    let mut words: Vec<(Vec<u8>, usize)> = Vec::new();
    while let Some((token, line)) = lexer.next_token()? {
        match token {
            Token::Word(w) => words.push((w, line)),
            Token::Semicolon | Token::Open => {
                let what = if token == Token::Semicolon { "\";\"" } else { "\"{\"" };
                let directive = directive_from(std::mem::take(&mut words))
                    .ok_or_else(|| SyntaxError { line, message: format!("unexpected {what}") })?;
                if token == Token::Open {
                    if levels.len() > MAX_DEPTH {
                        return Err(SyntaxError {
                            line,
                            message: format!("blocks are nested more than {MAX_DEPTH} deep"),
                        });
                    }
                    levels.push((Vec::new(), Some(directive)));
                } else if let Some((list, _)) = levels.last_mut() {
                    list.push(directive);
                }
            }
            Token::Close => {
                if let Some((_, first_line)) = words.first() {
                    return Err(SyntaxError {
                        line: *first_line,
                        message: "directive is not terminated by \";\" before \"}\"".into(),
                    });
                }
                let Some((children, Some(mut header))) = levels.pop() else {
                    return Err(SyntaxError { line, message: "unexpected \"}\"".into() });
                };
                header.block = Some(children);
                if let Some((list, _)) = levels.last_mut() {
                    list.push(header);
                }
            }
        }
    }
    if let Some((_, first_line)) = words.first() {
        return Err(SyntaxError {
            line: *first_line,
            message: "unexpected end of file: directive is not terminated by \";\"".into(),
        });
    }
    match levels.pop() {
        Some((top, None)) => Ok(top),
        Some((_, Some(open))) => Err(SyntaxError {
            line: open.line,
            message: format!(
                "unexpected end of file: the block of \"{}\" is never closed with \"}}\"",
                crate::escape::lossless(&open.name)
            ),
        }),
        None => Ok(Vec::new()),
    }
}

fn directive_from(words: Vec<(Vec<u8>, usize)>) -> Option<Directive> {
    let mut words = words.into_iter();
    let (name, line) = words.next()?;
    Some(Directive { name, args: words.map(|(w, _)| w).collect(), line, block: None })
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Lexer<'_> {
    /// The next token and the line it starts on; `None` at the end of the input.
    fn next_token(&mut self) -> Result<Option<(Token, usize)>, SyntaxError> {
        self.skip_space_and_comments();
        let Some(&b) = self.src.get(self.pos) else { return Ok(None) };
        let line = self.line;
        let token = match b {
            b';' => Token::Semicolon,
            b'{' => Token::Open,
            b'}' => Token::Close,
            b'"' | b'\'' => return self.quoted(b).map(|w| Some((Token::Word(w), line))),
            _ => return Ok(Some((Token::Word(self.bare()), line))),
        };
        self.pos += 1;
        Ok(Some((token, line)))
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            if b == b'#' {
                let rest = &self.src[self.pos..];
                self.pos += memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            } else if is_space(b) {
                self.advance();
            } else {
                break;
            }
        }
    }

    /// Moves past one byte, counting lines.
    fn advance(&mut self) {
        if self.src.get(self.pos) == Some(&b'\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    /// An unquoted word: up to whitespace, `;` or `{` (a `{` right after `$` belongs to `${var}`).
    fn bare(&mut self) -> Vec<u8> {
        let start = self.pos;
        let mut after_dollar = false;
        while let Some(&b) = self.src.get(self.pos) {
            if b == b'\\' {
                self.advance();
                self.advance();
                after_dollar = false;
                continue;
            }
            if is_space(b) || b == b';' || (b == b'{' && !after_dollar) {
                break;
            }
            after_dollar = b == b'$';
            self.advance();
        }
        let end = self.pos.min(self.src.len());
        unescape(&self.src[start..end])
    }

    /// A quoted word, opened by `quote` at the current position.
    fn quoted(&mut self, quote: u8) -> Result<Vec<u8>, SyntaxError> {
        let open_line = self.line;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.src.get(self.pos) {
                None => {
                    return Err(SyntaxError {
                        line: open_line,
                        message: format!("unterminated {} quote", quote as char),
                    })
                }
                Some(b'\\') => {
                    self.advance();
                    self.advance();
                }
                Some(&b) if b == quote => break,
                Some(_) => self.advance(),
            }
        }
        let word = unescape(&self.src[start..self.pos]);
        self.pos += 1;
        match self.src.get(self.pos) {
            None | Some(b';' | b'{') => Ok(word),
            Some(&b) if is_space(b) => Ok(word),
            Some(&b) => Err(SyntaxError {
                line: self.line,
                message: format!(
                    "unexpected \"{}\" right after a closing quote (put a space before it)",
                    crate::escape::lossless(&[b])
                ),
            }),
        }
    }
}

/// nginx's unescaping of a word (see the module docs).
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let replacement = match (b, raw.get(i + 1)) {
            (b'\\', Some(&c @ (b'"' | b'\'' | b'\\'))) => Some(c),
            (b'\\', Some(b't')) => Some(b'\t'),
            (b'\\', Some(b'r')) => Some(b'\r'),
            (b'\\', Some(b'n')) => Some(b'\n'),
            _ => None,
        };
        match replacement {
            Some(c) => {
                out.push(c);
                i += 2;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &[u8]) -> Vec<Vec<String>> {
        parse(src)
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|d| {
                std::iter::once(&d.name)
                    .chain(&d.args)
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect()
            })
            .collect()
    }

    fn error(src: &[u8]) -> String {
        match parse(src) {
            Ok(d) => panic!("expected an error, parsed {d:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn splits_directives_on_whitespace_and_semicolons() {
        assert_eq!(
            words(b"worker_processes  4;\nuser\twww-data;pid /run/nginx.pid;"),
            [vec!["worker_processes", "4"], vec!["user", "www-data"], vec!["pid", "/run/nginx.pid"]]
        );
    }

    #[test]
    fn quoted_strings_keep_spaces_semicolons_and_braces() {
        assert_eq!(
            words(br#"log_format a '$remote_addr; {x} "q"' "$status # not a comment";"#),
            [vec!["log_format", "a", r#"$remote_addr; {x} "q""#, "$status # not a comment"]]
        );
    }

    /// `\;` does not end the directive, and nginx keeps its backslash (only quotes, `\\`, t, r, n lose it).
    #[test]
    fn escapes_are_unescaped_like_nginx() {
        assert_eq!(
            words(br#"a "x\"y" 'it\'s' "back\\slash" "t\tr\rn\n" "\d\$" plain\;semi;"#),
            [vec!["a", "x\"y", "it's", "back\\slash", "t\tr\rn\n", "\\d\\$", "plain\\;semi"]]
        );
    }

    #[test]
    fn comments_run_to_end_of_line_only_where_a_word_starts() {
        let src = b"# header\nuser nobody; # trailing ; {\nserver_name a#b; #x\n";
        assert_eq!(words(src), [vec!["user", "nobody"], vec!["server_name", "a#b"]]);
    }

    #[test]
    fn braces_of_variables_do_not_open_blocks() {
        assert_eq!(words(b"set $x ${host}ok;"), [vec!["set", "$x", "${host}ok"]]);
    }

    #[test]
    fn nested_blocks_keep_their_lines() {
        let tree =
            parse(b"http {\n  server {\n    listen 80;\n  }\n  upstream b { server 10.0.0.1:80; }\n}\n")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tree.len(), 1);
        let http = &tree[0];
        assert_eq!((http.name.as_slice(), http.line), (&b"http"[..], 1));
        let children = http.block.as_deref().unwrap_or_default();
        let summary: Vec<(String, usize, usize)> = children
            .iter()
            .map(|d| {
                (String::from_utf8_lossy(&d.name).into_owned(), d.line, d.block.as_ref().map_or(0, Vec::len))
            })
            .collect();
        assert_eq!(summary, [("server".to_string(), 2, 1), ("upstream".to_string(), 5, 1)]);
        let server = &children[0].block.as_deref().unwrap_or_default()[0];
        assert_eq!(
            (server.name.as_slice(), server.line, server.args.clone()),
            (&b"listen"[..], 3, vec![b"80".to_vec()])
        );
    }

    #[test]
    fn multi_line_quoted_pieces_count_lines() {
        let tree = parse(b"log_format m '$a'\n  '$b\n c';\nuser x;").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tree[0].args, [b"m".to_vec(), b"$a".to_vec(), b"$b\n c".to_vec()]);
        assert_eq!(tree[1].line, 4);
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(error(b"user x;\nlog_format a '$status\n;\n"), "line 2: unterminated ' quote");
        assert_eq!(error(b"a \"x\n"), "line 1: unterminated \" quote");
        assert_eq!(
            error(b"http {\n server {\n }\n"),
            "line 1: unexpected end of file: the block of \"http\" is never closed with \"}\""
        );
        assert_eq!(error(b"user x;\n}\n"), "line 2: unexpected \"}\"");
        assert_eq!(error(b"user x\n}"), "line 1: directive is not terminated by \";\" before \"}\"");
        assert_eq!(
            error(b"\n\nuser x"),
            "line 3: unexpected end of file: directive is not terminated by \";\""
        );
        assert_eq!(error(b"a;\n;"), "line 2: unexpected \";\"");
        assert_eq!(error(b"{"), "line 1: unexpected \"{\"");
        assert_eq!(
            error(b"a 'x'y;"),
            "line 1: unexpected \"y\" right after a closing quote (put a space before it)"
        );
    }

    #[test]
    fn hostile_input_is_an_error_not_a_crash() {
        let deep = b"a {\n".repeat(MAX_DEPTH);
        assert_eq!(
            error(&deep),
            format!(
                "line {MAX_DEPTH}: unexpected end of file: the block of \"a\" is never closed with \"}}\""
            )
        );
        let mut too_deep = b"a {".repeat(200_000);
        too_deep.extend(b"}".repeat(200_000));
        assert_eq!(error(&too_deep), format!("line 1: blocks are nested more than {MAX_DEPTH} deep"));
        assert_eq!(error(b"a\\"), "line 1: unexpected end of file: directive is not terminated by \";\"");
        assert_eq!(error(b"a '\\"), "line 1: unterminated ' quote");
    }
}
