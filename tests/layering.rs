//! Guards the shape of the source (README, Layout): imports between the files of `src/` only
//! point down the layers, no source file imports another that imports it back (directly or round
//! a circle), in `src/` and in `crates/authjs-token/src/`, and no source file grows over 600 lines.
//!
//! A port of the shared `import-circles.py`: every `crate::`, `$crate::`, `super::` and `self::`
//! path, in `use` trees (groups expanded) and inline, is mapped to the file of the longest module
//! it names. A parent naming its own children (`mod x; pub use x::Y;`) is structure, not an edge.
//! Unit-test files (`tests.rs`, anything under a `tests/` folder) and inline
//! `#[cfg(test)] mod tests { … }` blocks are left out. The checker works on a map of file path
//! under `src/` → source text, so the self-tests at the bottom feed it small made-up crates and
//! show that it fails when it should.

use std::collections::BTreeMap;
use std::path::Path;

/// The layers of `src/`, bottom up (layer 0 is `crates/authjs-token`). A file may import files of
/// its own layer or lower ones. An entry ending in `/` holds everything under that folder, any
/// other entry is that one file; first match wins. A file no entry holds fails by itself, so a
/// new top-level folder has to be placed on purpose.
#[rustfmt::skip]
const LAYERS: &[(u8, &[&str])] = &[
    // 8, the crate root: may import anything; nothing may import lib.rs.
    (8, &["lib.rs", "main.rs"]),
    // 1, core: words every layer uses (errors, Scheme, peer, Replay, path helpers, Redacted<T>);
    //    core/obs/: request id + task-local + the logging macro, the metrics registry.
    (1, &["core/"]),
    // 2, options: what users write: serde structs, file + env loading, pure checks.
    (2, &["options/"]),
    // 3, leaves: TLS, upstream transport, listener, resilience, header hygiene, session cache,
    //    revocation (the deny-list of signed-out JWT sessions), sign-in protection, the session
    //    store (database sessions read from the adapter's tables).
    (3, &["tls.rs", "tls/", "transport/", "listener/", "resilience/", "hygiene/", "cache/",
          "revocation/", "signin_guard/", "store/"]),
    // 4, runtime: the built snapshot and its build, the actors, the AuthProxy handle.
    (4, &["runtime/"]),
    // 5, features: proxy (routes, forwarding, Location, handler), session lookup, forward auth.
    (5, &["proxy/", "session/", "forward_auth/"]),
    // 6, web: actix-web adapters: mount/configure, extractors, access log, ResponseError impls.
    (6, &["web/"]),
    // 7, app: the binary's wiring: server, admin listener, demo, full config check.
    (7, &["app/"]),
];
/// The layer of `lib.rs` and `main.rs`.
const ROOT: u8 = 8;
const MAX_LINES: usize = 600;

fn layer_of(file: &str) -> Option<u8> {
    let holds = |p: &&str| (p.ends_with('/') && file.starts_with(p)) || file == *p;
    let (layer, _) = LAYERS.iter().find(|(_, paths)| paths.iter().any(holds))?;
    Some(*layer)
}

/// Module path of a file under `src/`: `a/b.rs` → `[a, b]`, `a/mod.rs` → `[a]`, `lib.rs` and
/// `main.rs` → `[]` (the root).
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<&str> = file.trim_end_matches(".rs").split('/').collect();
    if parts.last() == Some(&"mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts.into_iter().map(String::from).collect()
}

fn is_unit_test_file(file: &str) -> bool {
    file.trim_end_matches(".rs")
        .split('/')
        .any(|p| p == "tests")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Blanks a stretch of code, keeping its newlines (so offsets and line numbers stay).
fn blank(code: &mut [u8]) {
    code.iter_mut()
        .filter(|c| **c != b'\n')
        .for_each(|c| *c = b' ');
}

/// If a raw string (`r"…"`, `r#"…"#`, `br"…"`, `cr"…"`) starts at `i`: where its text starts and
/// what closes it.
fn raw_string_at(b: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    if i > 0 && is_ident(char::from(b[i - 1])) {
        return None;
    }
    let r = i + usize::from(matches!(b[i], b'b' | b'c'));
    let hashes = b.get(r + 1..)?.iter().take_while(|&&c| c == b'#').count();
    let quote = r + 1 + hashes;
    let is_raw = b.get(r) == Some(&b'r') && b.get(quote) == Some(&b'"');
    is_raw.then(|| (quote + 1, [&b"\""[..], &b"#".repeat(hashes)].concat()))
}

/// The text with comments, string and char literals blanked.
fn lex(text: &str) -> String {
    let b = text.as_bytes();
    let after = |from: usize, pat: &[u8]| {
        let rest = b.get(from..).unwrap_or_default();
        let found = rest.windows(pat.len()).position(|w| w == pat);
        found.map_or(b.len(), |p| from + p + pat.len())
    };
    let (mut out, mut i) = (b.to_vec(), 0);
    while i < b.len() {
        let end = if b[i..].starts_with(b"//") {
            after(i, b"\n")
        } else if b[i..].starts_with(b"/*") {
            after(i + 2, b"*/")
        } else if let Some((at, close)) = raw_string_at(b, i) {
            after(at, &close)
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            after(i + 3, b"'") // '\n', '\'', '\u{..}'
        } else if b[i] == b'\'' {
            // a char literal ('x', '"', 'é'); else a lifetime or label, whose quote may go
            let len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
            let closed = b.get(i + 1 + len) == Some(&b'\'');
            if closed { i + 2 + len } else { i + 1 }
        } else {
            i += 1;
            continue;
        };
        let end = end.min(b.len());
        blank(&mut out[i..end]);
        i = end;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Byte ranges of the inline `#[cfg(test)] mod name { … }` blocks of lexed code.
fn test_blocks(code: &str) -> Vec<(usize, usize)> {
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    for (start, marker) in code.match_indices("#[cfg(test)]") {
        let after = code[start + marker.len()..].trim_start();
        let Some(after) = after.strip_prefix("mod") else {
            continue;
        };
        let name = after.trim_start();
        let brace = name.trim_start_matches(is_ident).trim_start();
        let inside = blocks.last().is_some_and(|&(_, end)| start < end);
        let named = name.len() < after.len() && !name.starts_with(|c| !is_ident(c));
        let Some(body) = brace.strip_prefix('{').filter(|_| named && !inside) else {
            continue;
        };
        let mut depth = 1;
        let close = body.find(|c| {
            depth += i32::from(c == '{') - i32::from(c == '}');
            depth == 0
        });
        let open = code.len() - body.len();
        blocks.push((start, close.map_or(code.len(), |p| open + p + 1)));
    }
    blocks
}

/// The code a file's imports are read from: lexed, inline test blocks blanked.
fn code_of(text: &str) -> String {
    let code = lex(text);
    let mut bytes = code.clone().into_bytes();
    for (start, end) in test_blocks(&code) {
        blank(&mut bytes[start..end]);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Lines of a file, not counting its inline `#[cfg(test)] mod` blocks.
fn code_lines(text: &str) -> usize {
    let (mut kept, mut at) = (String::new(), 0);
    for (start, end) in test_blocks(&lex(text)) {
        kept += &text[at..start];
        at = end;
    }
    kept += &text[at..];
    kept.matches('\n').count() + usize::from(!kept.ends_with('\n'))
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let close = tree.rfind('}').filter(|&c| c > open).unwrap_or(tree.len());
    let (mut items, mut depth) = (vec![String::new()], 0);
    for ch in tree[open + 1..close].chars() {
        if ch == ',' && depth == 0 {
            items.push(String::new());
        } else {
            depth += i32::from(ch == '{') - i32::from(ch == '}');
            items.last_mut().expect("one item at least").push(ch);
        }
    }
    let items = items.iter().map(|s| s.trim()).filter(|s| !s.is_empty());
    let head = &tree[..open];
    items
        .flat_map(|item| expand(&format!("{head}{item}")))
        .collect()
}

/// Every `crate::` / `$crate::` / `super::` / `self::` path in `use` trees, then every
/// `crate::` / `$crate::` / `super::` path written inline (an inline `self::` path only ever names
/// the file itself or its children).
fn paths_in(code: &str) -> Vec<String> {
    let code: Vec<&str> = code.split("::").map(str::trim).collect();
    let code = code.join("::"); // `a :: b` → `a::b`
    let starts_word = |i: &usize| !code[..*i].ends_with(is_ident);
    let mut paths = Vec::new();
    for i in code
        .match_indices("use")
        .map(|(i, _)| i)
        .filter(starts_word)
    {
        let tree = &code[i + 3..];
        let end = tree
            .find(';')
            .filter(|_| tree.starts_with(char::is_whitespace));
        if let Some(end) = end {
            let tree: Vec<&str> = tree[..end].split_whitespace().collect();
            paths.extend(expand(&tree.join(" ")));
        }
    }
    let inline = code
        .match_indices("crate::")
        .chain(code.match_indices("super::"));
    for i in inline.map(|(i, _)| i).filter(starts_word) {
        let path = code[i..].split(|c| !is_ident(c) && c != ':').next();
        paths.push(path.unwrap_or_default().trim_end_matches(':').to_string());
    }
    paths
}

type Modules = BTreeMap<Vec<String>, String>;

/// The longest known module a path names, from the module `from`; `None` for other crates.
fn resolve(modules: &Modules, from: &[String], path: &str) -> Option<Vec<String>> {
    let segs: Vec<&str> = path.split("::").map(str::trim).collect();
    let (base, rest) = match segs[0] {
        "crate" | "$crate" => (Vec::new(), &segs[1..]),
        "super" | "self" => {
            let n = segs
                .iter()
                .take_while(|s| ["super", "self"].contains(s))
                .count();
            let ups = segs[..n].iter().filter(|s| **s == "super").count();
            (from[..from.len().saturating_sub(ups)].to_vec(), &segs[n..])
        }
        _ => return None,
    };
    let rest: Vec<&str> = rest
        .iter()
        .map(|s| s.split(" as ").next().unwrap_or(s))
        .collect();
    (0..=rest.len())
        .rev()
        .map(|k| {
            base.iter()
                .map(String::as_str)
                .chain(rest[..k].iter().copied())
        })
        .map(|candidate| candidate.map(String::from).collect())
        .find(|candidate| modules.contains_key(candidate))
}

/// One crate's files and the imports between them.
struct Graph {
    /// How a file is shown: `src/` or `crates/authjs-token/src/`.
    prefix: String,
    /// File path under the source folder → its text (unit-test files left out).
    files: BTreeMap<String, String>,
    /// File → files it imports → the first path that names each.
    edges: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    fn name(&self, file: &str) -> String {
        format!("{}{file}", self.prefix)
    }
}

fn scan(prefix: &str, mut files: BTreeMap<String, String>) -> Graph {
    files.retain(|f, _| f.ends_with(".rs") && !is_unit_test_file(f));
    let mut modules = Modules::new();
    for file in files.keys() {
        modules.entry(module_of(file)).or_insert(file.clone()); // lib.rs before main.rs
    }
    let mut edges: BTreeMap<String, BTreeMap<_, _>> = BTreeMap::new();
    for (file, text) in &files {
        let from = module_of(file);
        for path in paths_in(&code_of(text)) {
            match resolve(&modules, &from, &path) {
                // itself, or a parent naming its own children: structure, not an edge
                Some(to) if !to.starts_with(&from) => {
                    let targets = edges.entry(file.clone()).or_default();
                    targets.entry(modules[&to].clone()).or_insert(path);
                }
                _ => {}
            }
        }
    }
    let prefix = prefix.to_string();
    Graph {
        prefix,
        files,
        edges,
    }
}

/// Tarjan's strongly connected components of more than one file, each sorted.
#[derive(Default)]
struct Tarjan<'a> {
    /// File → (order of visit, lowest order it reaches back to).
    seen: BTreeMap<&'a str, (usize, usize)>,
    stack: Vec<&'a str>,
    circles: Vec<Vec<String>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, g: &'a Graph, v: &'a str) {
        let order = self.seen.len();
        self.seen.insert(v, (order, order));
        self.stack.push(v);
        for w in g.edges.get(v).into_iter().flat_map(BTreeMap::keys) {
            let reach = match self.seen.get(w.as_str()) {
                None => {
                    self.visit(g, w);
                    self.seen[w.as_str()].1
                }
                Some(&(w_order, _)) if self.stack.contains(&w.as_str()) => w_order,
                Some(_) => continue,
            };
            let low = &mut self.seen.get_mut(v).expect("seen").1;
            *low = (*low).min(reach);
        }
        if self.seen[v] == (order, order) {
            let at = self.stack.iter().position(|w| *w == v).expect("stacked");
            let mut circle: Vec<String> = self.stack.drain(at..).map(String::from).collect();
            circle.sort();
            if circle.len() > 1 {
                self.circles.push(circle);
            }
        }
    }
}

/// Every circle, largest first, with the imports that tie it.
fn circle_report(g: &Graph) -> Vec<String> {
    let mut tarjan = Tarjan::default();
    for file in g.files.keys() {
        if !tarjan.seen.contains_key(file.as_str()) {
            tarjan.visit(g, file);
        }
    }
    tarjan.circles.sort_by_key(|c| std::cmp::Reverse(c.len()));
    let mut out = Vec::new();
    for circle in &tarjan.circles {
        let names: Vec<String> = circle.iter().map(|f| g.name(f)).collect();
        out.push(format!(
            "circle of {} files: {}",
            names.len(),
            names.join(", ")
        ));
        for file in circle {
            for (to, path) in g.edges[file].iter().filter(|(to, _)| circle.contains(to)) {
                out.push(format!("   {} -> {}   ({path})", g.name(file), g.name(to)));
            }
        }
    }
    out
}

fn layer_violations(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (file, name) in g.files.keys().map(|f| (f, g.name(f))) {
        let Some(from) = layer_of(file) else {
            out.push(format!(
                "{name}: file outside the layer map: add it to a layer"
            ));
            continue;
        };
        for (to_file, path) in g.edges.get(file).into_iter().flatten() {
            let to_name = g.name(to_file);
            out.push(match layer_of(to_file) {
                Some(ROOT) => format!(
                    "{name} (layer {from}) -> {to_name} (crate root): nothing may import the \
                     root, name the item in its own module   ({path})"
                ),
                Some(to) if to > from => {
                    format!("{name} (layer {from}) -> {to_name} (layer {to})   ({path})")
                }
                _ => continue, // own or lower layer; a file outside the map is reported by itself
            });
        }
    }
    out
}

fn oversized(g: &Graph) -> Vec<String> {
    let mut big: Vec<_> = g.files.iter().map(|(f, t)| (code_lines(t), f)).collect();
    big.sort_by(|a, b| b.cmp(a));
    let big = big.into_iter().filter(|(lines, _)| *lines > MAX_LINES);
    big.map(|(lines, f)| format!("{} ({lines} lines)", g.name(f)))
        .collect()
}

/// Every `.rs` file under a folder of this package, keyed by its path under that folder.
fn read_tree(dir: &str) -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let (mut files, mut todo) = (BTreeMap::new(), vec![root.clone()]);
    while let Some(folder) = todo.pop() {
        let entries = std::fs::read_dir(&folder);
        let entries = entries.unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for path in entries.map(|e| e.expect("a folder entry").path()) {
            if path.is_dir() {
                todo.push(path);
                continue;
            } else if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // moved away
                Err(e) => panic!("{}: {e}", path.display()),
            };
            let rel = path
                .strip_prefix(&root)
                .expect("under the root")
                .to_string_lossy();
            files.insert(rel.replace('\\', "/"), text);
        }
    }
    files
}

fn both_crates() -> [Graph; 2] {
    ["src", "crates/authjs-token/src"].map(|dir| scan(&format!("{dir}/"), read_tree(dir)))
}

/// Fails with the report, one finding a line, under what to do about it.
fn assert_none(report: &[String], what: &str) {
    assert!(
        report.is_empty(),
        "{what} (README, Layout):\n{}",
        report.join("\n")
    );
}

#[test]
fn no_import_circle_between_source_files() {
    let report: Vec<String> = both_crates().iter().flat_map(circle_report).collect();
    let what = "import circles between source files: move what both sides need down a layer";
    assert_none(&report, what);
}

#[test]
fn imports_only_point_down_the_layers() {
    let report = layer_violations(&scan("src/", read_tree("src")));
    let what = "imports up the layers, or files outside LAYERS at the top of tests/layering.rs";
    assert_none(&report, what);
}

#[test]
fn no_source_file_over_600_lines() {
    let report: Vec<String> = both_crates().iter().flat_map(oversized).collect();
    assert_none(
        &report,
        "source files over 600 lines (unit tests aside): split them",
    );
}

// The checker checked, on made-up crates.

/// Files of a made-up crate: a line `path.rs: code` starts a file, other lines go on with it.
fn files_of(spec: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::<String, String>::new();
    let mut last = String::new();
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line
            .split_once(':')
            .filter(|(path, _)| path.ends_with(".rs"))
        {
            Some((path, code)) => {
                last = path.to_string();
                files.insert(last.clone(), code.trim().to_string());
            }
            None => {
                let text = files.get_mut(&last).expect("a file first");
                text.push('\n');
                text.push_str(line);
            }
        }
    }
    files
}

fn made_up(spec: &str) -> Graph {
    scan("src/", files_of(spec))
}

fn imports_of<'a>(g: &'a Graph, file: &str) -> Vec<&'a str> {
    let targets = g.edges.get(file).into_iter().flat_map(BTreeMap::keys);
    targets.map(String::as_str).collect()
}

#[test]
fn a_back_import_is_reported_as_a_circle() {
    let g = made_up(
        "lib.rs: pub mod a; pub mod b; pub mod c;
         a.rs: use crate::b::B; pub struct A;
         b.rs: pub struct B; pub fn f() -> crate::a::A { crate::a::A }
         c.rs: use crate::a::A;",
    );
    let expected = [
        "circle of 2 files: src/a.rs, src/b.rs",
        "   src/a.rs -> src/b.rs   (crate::b::B)",
        "   src/b.rs -> src/a.rs   (crate::a::A)",
    ];
    assert_eq!(
        circle_report(&g),
        expected,
        "c.rs only points into the circle"
    );
    assert!(circle_report(&made_up("a.rs: use crate::b::B;\nb.rs:")).is_empty());
}

#[test]
fn an_upward_import_is_reported() {
    let g = made_up(
        "lib.rs: pub mod core; pub use runtime::Snapshot as AuthProxy;
         core/mod.rs: pub mod words;
         core/words.rs: use crate::runtime::Snapshot; pub struct Word;
         runtime/mod.rs: use crate::core::words::Word; pub struct Snapshot;
         web/mod.rs: pub fn f() -> crate::AuthProxy { todo!() }
         extras/mod.rs: use crate::core::words::Word;",
    );
    let report = layer_violations(&g);
    assert_eq!(report.len(), 3, "{report:#?}");
    assert!(report[0].starts_with("src/core/words.rs (layer 1) -> src/runtime/mod.rs (layer 4)"));
    assert_eq!(
        report[1],
        "src/extras/mod.rs: file outside the layer map: add it to a layer"
    );
    assert!(report[2].starts_with("src/web/mod.rs (layer 6) -> src/lib.rs (crate root)"));
}

#[test]
fn a_parent_re_exporting_its_children_is_not_an_edge() {
    let g = made_up(
        "lib.rs: pub mod proxy; pub use proxy::routes::Route; pub use crate::proxy::routes;
         proxy/mod.rs: mod routes; pub use routes::Route; pub use self::handler::handle;
         proxy/routes.rs: use super::Shared; use super::handler::handle;
         proxy/handler.rs: pub fn handle() { crate::proxy::routes::check() }",
    );
    assert!(imports_of(&g, "lib.rs").is_empty());
    assert!(imports_of(&g, "proxy/mod.rs").is_empty());
    let routes = imports_of(&g, "proxy/routes.rs");
    assert_eq!(
        routes,
        ["proxy/handler.rs", "proxy/mod.rs"],
        "children to parent, siblings"
    );
}

#[test]
fn grouped_use_trees_are_expanded() {
    let paths = expand("crate::{a::b, c::{d, e}}");
    assert_eq!(paths, ["crate::a::b", "crate::c::d", "crate::c::e"]);
    let g = made_up(
        "x.rs: pub(crate) use crate::{
             a::b,
             c::{d::D, e as f},
         };
         a/mod.rs:
         a/b.rs:
         c/mod.rs:
         c/d.rs:
         c/e.rs:",
    );
    assert_eq!(imports_of(&g, "x.rs"), ["a/b.rs", "c/d.rs", "c/e.rs"]);
}

#[test]
fn macro_crate_paths_count() {
    let g = made_up(
        "core/obs/macros.rs: macro_rules! ev { ($e:expr) => { $crate::core::obs::x::rec($e) } }
         core/obs/x.rs: pub fn rec(_: u8) {}
         core/log.rs: macro_rules! log { () => {{ use $crate::{web::W, app}; }} }
         web.rs:
         app.rs:",
    );
    assert_eq!(imports_of(&g, "core/obs/macros.rs"), ["core/obs/x.rs"]);
    assert_eq!(imports_of(&g, "core/log.rs"), ["app.rs", "web.rs"]);
}

#[test]
fn comments_and_strings_are_ignored() {
    let a = r##"// use crate::b::B;
/* crate::b::f() */ /** crate::b::g() */
/// Calls crate::b::h.
fn f<'a>(s: &'a str) -> &'a str {
    let url = "http://example.com"; let _ = crate::c::C;
    let quote = '"'; crate::c::f(); let _ = "crate::b::B";
    let raw = r#"use crate::b::B; "crate::b::x" "#; let win = r"C:\"; let _ = crate::d::D;
    let esc = '\"'; let _ = crate::e::E; let _ = "crate::b::w";
    let _ = (b'"', '\'', "\"crate::b::y\"", br"crate::b::z", s, url, quote, raw, win, esc);
    s
}
"##;
    let mut files = files_of("b.rs:\nc.rs:\nd.rs:\ne.rs:");
    files.insert("a.rs".into(), a.into());
    let g = scan("src/", files);
    let seen = code_of(a);
    assert_eq!(
        imports_of(&g, "a.rs"),
        ["c.rs", "d.rs", "e.rs"],
        "code seen:\n{seen}"
    );
}

#[test]
fn unit_tests_are_left_out_of_imports_and_line_counts() {
    let tests = "#[cfg(test)]\nmod tests {\n    use crate::b::B;\n    const S: &str = \"}\";\n}\n";
    let long = format!(
        "use crate::c::C;\n{}{tests}",
        "fn f() {}\n".repeat(MAX_LINES - 2)
    );
    assert_eq!(
        code_lines(&long),
        MAX_LINES,
        "the block leaves one blank line"
    );
    let mut files = files_of(
        "b.rs: use crate::a::f;
         a/tests.rs: use crate::b::B;
         c/tests/more.rs: use crate::b::B;",
    );
    files.insert("a.rs".into(), long);
    files.insert("c.rs".into(), "\n".repeat(MAX_LINES + 1));
    let g = scan("src/", files);
    assert_eq!(g.files.keys().collect::<Vec<_>>(), ["a.rs", "b.rs", "c.rs"]);
    assert_eq!(imports_of(&g, "a.rs"), ["c.rs"]);
    assert_eq!(
        oversized(&g),
        [format!("src/c.rs ({} lines)", MAX_LINES + 1)]
    );
}
