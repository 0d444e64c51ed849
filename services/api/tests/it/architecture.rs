//! The shape of the code, checked: `api` reaches the rest of Confide only through `app` (and
//! the domain's types), the binary likewise, and `api`'s modules import each other in one
//! direction only. See ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Confide's crates each crate may depend on (normal dependencies; tests and benches may
/// reach further).
const ALLOWED: &[(&str, &[&str])] = &[
    ("confide-api", &["confide-app", "confide-domain"]),
    // The pages use the API crate only for its token, ticket and link edge (`auth`, `tickets`,
    // `links`).
    (
        "confide-web",
        &["confide-api", "confide-app", "confide-domain"],
    ),
    (
        "confide",
        &[
            "confide-api",
            "confide-app",
            "confide-domain",
            "confide-web",
        ],
    ),
    ("confide-domain", &[]),
    ("confide-audit", &[]),
];

#[test]
fn the_edges_reach_confide_only_through_the_application() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    for (name, allowed) in ALLOWED {
        let package = packages
            .iter()
            .find(|p| p["name"] == *name)
            .unwrap_or_else(|| panic!("no package {name}"));
        let reached: BTreeSet<&str> = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null() && d["name"].as_str().unwrap().starts_with("confide"))
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        let allowed: BTreeSet<&str> = allowed.iter().copied().collect();
        assert!(
            reached.is_subset(&allowed),
            "{name} depends on {:?}; it may depend on {allowed:?} only",
            reached.difference(&allowed).collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_apis_modules_import_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_imports(&src);
    assert!(
        graph.contains_key("graphql") && graph.contains_key("error"),
        "{graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("api's modules import each other in a circle: {cycle:?}");
    }
}

#[test]
fn a_circle_is_found() {
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert!(find_cycle(&graph).is_some());
    let line = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::new()),
    ]);
    assert!(find_cycle(&line).is_none());
}

/// What the crate root re-exports (`pub use module::{Name, …};`), by name.
fn root_exports(src: &Path) -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut exports = BTreeMap::new();
    for line in lib.lines() {
        let Some(path) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = path.split_once("::") else {
            continue;
        };
        for name in names
            .trim_end_matches(';')
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|n| !n.is_empty())
        {
            exports.insert(name.to_owned(), module.to_owned());
        }
    }
    exports
}

/// Each top-level module of `src` and the top-level modules its files name as `crate::x`
/// (or as a name the crate root re-exports from `x`).
fn module_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let exports = root_exports(src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap();
        let module = first
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let named = graph.entry(module.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let target: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}` names several modules at once.
            let targets = if target.is_empty() && rest.starts_with('{') {
                let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
                group
                    .split(',')
                    .map(|part| {
                        part.trim()
                            .split("::")
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect()
            } else {
                vec![target]
            };
            for target in targets {
                let target = exports.get(&target).cloned().unwrap_or(target);
                if !target.is_empty() && target != module && src_has_module(src, &target) {
                    named.insert(target);
                }
            }
        }
    }
    graph
}

fn src_has_module(src: &Path, name: &str) -> bool {
    src.join(format!("{name}.rs")).exists() || src.join(name).join("mod.rs").exists()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// A circle of imports, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}
