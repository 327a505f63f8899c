//! The Rust examples of the README and the docs/ pages are doc tests (see
//! `src/lib.rs`), compiled with every dev-dependency at hand. A reader has
//! only what the page's `toml` block shows: these tests check that each
//! example names no crate that block leaves out, and that it uses no
//! msgwire module whose feature the block does not turn on.

use std::collections::BTreeSet;

/// The pages whose Rust examples are doctested.
const PAGES: [&str; 3] = ["README.md", "docs/HOST.md", "docs/EMBEDDED.md"];

/// A fenced block: its info string and its lines.
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn blocks(page: &str) -> Vec<Block> {
    let path = format!("{}/{page}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    line: i + 1,
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{page}: a code block is not closed");
    out
}

/// What a `toml` block gives: its crates (`-` as `_`), and msgwire's
/// features (the default ones included unless turned off).
struct Manifest {
    crates: BTreeSet<String>,
    msgwire_features: BTreeSet<String>,
    serde_derive: bool,
}

fn manifest(toml: &str) -> Manifest {
    let mut crates = BTreeSet::new();
    let mut msgwire_features = BTreeSet::new();
    let mut serde_derive = false;
    let mut in_deps = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]" || line == "[dev-dependencies]";
            continue;
        }
        let Some((name, spec)) = line.split_once('=') else {
            continue;
        };
        if !in_deps {
            continue;
        }
        let name = name.trim().replace('-', "_");
        let features = quoted_after(spec, "features");
        match name.as_str() {
            "msgwire" => {
                if !spec.contains("default-features = false") {
                    msgwire_features.extend(["std", "fast-crc", "async"].map(String::from));
                }
                msgwire_features.extend(features);
            }
            "serde" => serde_derive = features.iter().any(|f| f == "derive"),
            _ => {}
        }
        crates.insert(name);
    }
    // Features that turn others on (Cargo.toml).
    if msgwire_features.contains("cli") || msgwire_features.contains("serial") {
        msgwire_features.insert("async".into());
    }
    if msgwire_features.contains("async") {
        msgwire_features.insert("std".into());
    }
    Manifest {
        crates,
        msgwire_features,
        serde_derive,
    }
}

/// The quoted strings in the `[...]` after `key =` in `spec`.
fn quoted_after(spec: &str, key: &str) -> Vec<String> {
    let Some(at) = spec.find(key) else {
        return Vec::new();
    };
    let rest = &spec[at..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    rest[open + 1..close]
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

/// The roots of the paths an example writes (`tokio` in `tokio::spawn`,
/// `#[tokio::main]`), outside comments and strings, and the names its
/// `use` lines bring in (which are not crates: `memory::pipe`).
fn path_roots(code: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut roots = BTreeSet::new();
    let mut imported = BTreeSet::new();
    for raw in code.lines() {
        // Hidden doctest lines count: the reader's project needs them too.
        let line = raw
            .trim_start()
            .strip_prefix("# ")
            .unwrap_or(raw.trim_start());
        let line = strip_comment_and_strings(line);
        // The names after a `use` line's root (its root is a crate).
        if let Some((_, tree)) = line.strip_prefix("use ").and_then(|t| t.split_once("::")) {
            imported.extend(
                tree.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .map(String::from),
            );
        }
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let starts = (c.is_ascii_lowercase() || c == b'_')
                && (i == 0
                    || !(bytes[i - 1].is_ascii_alphanumeric() || b"_:'".contains(&bytes[i - 1])));
            if !starts {
                i += 1;
                continue;
            }
            let end = line[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(line.len(), |n| i + n);
            if line[end..].starts_with("::") {
                roots.insert(line[i..end].to_string());
            }
            i = end;
        }
    }
    (roots, imported)
}

/// `line` without a `//` comment and with string literals emptied.
fn strip_comment_and_strings(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push('"');
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

/// The msgwire features a path into msgwire needs.
fn features_for(code: &str) -> BTreeSet<&'static str> {
    let mut need = BTreeSet::new();
    for (module, features) in [
        ("msgwire::net", &["async"][..]),
        ("msgwire::embedded", &["embedded-io-async"]),
        ("msgwire::typed", &["postcard"]),
        ("msgwire::typed::net", &["postcard", "async"]),
        (
            "msgwire::typed::embedded",
            &["postcard", "embedded-io-async"],
        ),
    ] {
        if code.contains(module) {
            need.extend(features);
        }
    }
    need
}

#[test]
fn every_rust_example_names_only_what_its_toml_shows() {
    let mut checked = 0;
    for page in PAGES {
        let mut toml: Option<(usize, Manifest)> = None;
        for b in blocks(page) {
            if b.info == "toml" {
                toml = Some((b.line, manifest(&b.text)));
                continue;
            }
            if b.info != "rust" {
                continue;
            }
            let (toml_line, m) = toml.as_ref().unwrap_or_else(|| {
                panic!("{page}:{}: a Rust example with no toml before it", b.line)
            });
            let (roots, imported) = path_roots(&b.text);
            for root in &roots {
                let known =
                    ["std", "core", "alloc", "crate", "self", "super"].contains(&root.as_str());
                assert!(
                    known || imported.contains(root) || m.crates.contains(root),
                    "{page}:{}: the example uses `{root}::`, which the toml at line {toml_line} does not list",
                    b.line
                );
            }
            for feature in features_for(&b.text) {
                assert!(
                    m.msgwire_features.contains(feature),
                    "{page}:{}: the example needs msgwire's `{feature}` feature, which the toml at line {toml_line} does not turn on",
                    b.line
                );
            }
            if b.text.contains("Serialize") || b.text.contains("Deserialize") {
                assert!(
                    m.serde_derive,
                    "{page}:{}: the example derives serde's traits: the toml at line {toml_line} needs serde's `derive` feature",
                    b.line
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 7, "only {checked} Rust examples found");
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let m = manifest(
        "[dependencies]\nmsgwire = { version = \"0.1\", default-features = false, features = [\"embedded-io-async\"] }\n",
    );
    assert!(m.crates.contains("msgwire"));
    assert!(!m.msgwire_features.contains("async"));
    assert!(m.msgwire_features.contains("embedded-io-async"));
    let (roots, imported) = path_roots(
        "use embedded_io_async::Read;\nuse msgwire::net::{memory, Client};\n# smol::block_on(async {\nlet (a, b) = memory::pipe(8); // tokio::spawn\nlet s = \"serde::x\";\n",
    );
    assert_eq!(
        roots,
        ["embedded_io_async", "memory", "msgwire", "smol"]
            .map(String::from)
            .into()
    );
    assert!(imported.contains("memory"));
    assert!(!imported.contains("embedded_io_async") && !imported.contains("msgwire"));
    assert_eq!(
        features_for("use msgwire::typed::net::request;"),
        ["async", "postcard"].into()
    );
    let m = manifest("[dependencies]\nmsgwire = \"0.1\"\nserde = \"1\"\n");
    assert!(m.msgwire_features.contains("async") && !m.serde_derive);
}
