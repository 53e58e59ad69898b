//! The layering of ARCHITECTURE.md, checked on the source: an app (the
//! sidecar, the wizard, the plugin, the demo) uses the domain and the
//! adapters, never another app, and the binaries stay thin.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

const APPS: [&str; 4] = ["sidecar", "wizard", "plugin", "demo"];

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

/// The top-level modules of this crate a file names: `crate::x::...`,
/// `crate::{x, y::z}` and `dv_pod::...` paths.
fn crate_modules_named(source: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for prefix in ["crate::", "dv_pod::"] {
        let mut rest = source;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 1 => {
                            named.insert(first_segment(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    item.push(c);
                }
                named.insert(first_segment(&item));
            } else {
                named.insert(first_segment(rest));
            }
        }
    }
    named.remove("");
    named
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

#[test]
fn no_app_imports_another_app() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut crossings = Vec::new();
    for app in APPS {
        for file in rust_files(&src.join(app)) {
            let source = std::fs::read_to_string(&file).unwrap();
            for other in crate_modules_named(&source).intersection(&APPS.map(String::from).into()) {
                if other != app {
                    crossings.push(format!("{} uses the {other} app", file.strip_prefix(&src).unwrap().display()));
                }
            }
        }
    }
    assert!(crossings.is_empty(), "apps use domain and adapters only:\n{}", crossings.join("\n"));
}

#[test]
fn domain_and_adapters_import_no_app() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut crossings = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let top =
            relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if APPS.contains(&top.as_str()) || top == "bin" || top == "lib" {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for app in crate_modules_named(&source).into_iter().filter(|m| APPS.contains(&m.as_str())) {
            crossings.push(format!("{} uses the {app} app", relative.display()));
        }
    }
    assert!(crossings.is_empty(), "the lower layers never reach up:\n{}", crossings.join("\n"));
}

#[test]
fn each_binary_is_a_thin_shell_over_one_app() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    for file in rust_files(&bin) {
        let source = std::fs::read_to_string(&file).unwrap();
        let lines = source.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//")).count();
        assert!(lines <= 25, "{} has {lines} lines of code: logic belongs in the library", file.display());
    }
}

#[test]
fn the_module_path_reader_sees_grouped_and_plain_paths() {
    let named = crate_modules_named("use crate::{definition::lock, wizard::{a, b}};\nlet x = crate::plugin::run();");
    assert_eq!(named, BTreeSet::from(["definition".into(), "wizard".into(), "plugin".into()]));
}

#[test]
fn errors_are_typed_or_carry_context_never_a_bare_string() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bare = Vec::new();
    for file in rust_files(&src) {
        let source = std::fs::read_to_string(&file).unwrap();
        for (number, line) in source.lines().enumerate() {
            let compact: String = line.split_whitespace().collect();
            if compact.contains("Result<") && compact.contains(",String>") {
                bare.push(format!("{}:{}: {}", file.strip_prefix(&src).unwrap().display(), number + 1, line.trim()));
            }
        }
    }
    assert!(bare.is_empty(), "use a thiserror type or anyhow with context:\n{}", bare.join("\n"));
}

/// Every function and method in `src/` with its line count, longest first.
fn function_lengths(src: &Path) -> Vec<(usize, String)> {
    struct Lengths<'a> {
        file: &'a str,
        found: Vec<(usize, String)>,
    }
    impl Lengths<'_> {
        fn record(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
            let lines = span.end().line - span.start().line + 1;
            self.found.push((lines, format!("{}:{} {name}", self.file, span.start().line)));
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Lengths<'_> {
        fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
            self.record(&item.sig.ident, syn::spanned::Spanned::span(item));
            syn::visit::visit_item_fn(self, item);
        }
        fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
            self.record(&item.sig.ident, syn::spanned::Spanned::span(item));
            syn::visit::visit_impl_item_fn(self, item);
        }
        fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
            self.record(&item.sig.ident, syn::spanned::Spanned::span(item));
            syn::visit::visit_trait_item_fn(self, item);
        }
    }
    let mut all = Vec::new();
    for file in rust_files(src) {
        let source = std::fs::read_to_string(&file).unwrap();
        let tree = syn::parse_file(&source).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.strip_prefix(src).unwrap().display().to_string();
        let mut lengths = Lengths { file: &name, found: Vec::new() };
        syn::visit::Visit::visit_file(&mut lengths, &tree);
        all.extend(lengths.found);
    }
    all.sort_by(|a, b| b.cmp(a));
    all
}

#[test]
fn no_function_in_src_is_80_lines_or_longer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = function_lengths(&src)
        .into_iter()
        .filter(|(lines, _)| *lines >= 80)
        .map(|(lines, at)| format!("{lines} lines: {at}"))
        .collect();
    assert!(long.is_empty(), "split these by concern:\n{}", long.join("\n"));
}
