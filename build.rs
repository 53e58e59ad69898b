//! Packages `chart/` into a chart archive as `helm package` lays it out
//! (a gzip'd tar whose top folder is the chart's name), so the binaries can
//! carry the chart they install (`src/chart.rs`) and work wherever they are
//! copied. The archive is reproducible: entries sorted, one fixed mtime,
//! owner 0, modes 0644 or 0755, and a gzip header without a timestamp.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The mtime of every entry: fixed, so the same chart gives the same bytes.
const MTIME: u64 = 0;

fn main() {
    println!("cargo:rerun-if-changed=chart");
    println!("cargo:rerun-if-changed=build.rs");
    let chart = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("chart");
    let chart_yaml = fs::read_to_string(chart.join("Chart.yaml")).expect("chart/Chart.yaml");
    let name = top_level_scalar(&chart_yaml, "name");
    let version = top_level_scalar(&chart_yaml, "version");
    let ignored = helmignore(&chart);

    let mut files = Vec::new();
    collect_files(&chart, &chart, &ignored, &mut files);
    files.sort();

    let archive = format!("{name}-{version}.tgz");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join(&archive);
    let gzip = flate2::GzBuilder::new().mtime(0).write(fs::File::create(&out).unwrap(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    for relative in &files {
        let path = chart.join(relative);
        let data = fs::read(&path).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(if is_executable(&path) { 0o755 } else { 0o644 });
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        let entry = Path::new(&name).join(relative);
        tar.append_data(&mut header, &entry, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();

    println!("cargo:rustc-env=DV_POD_CHART_ARCHIVE={archive}");
    println!("cargo:rustc-env=DV_POD_CHART_VERSION={version}");
}

/// A top-level `key: value` of Chart.yaml. Chart.yaml's `name` and `version`
/// are plain scalars (Helm requires a SemVer version), so reading the line is
/// enough; anything else fails the build rather than being guessed.
fn top_level_scalar(chart_yaml: &str, key: &str) -> String {
    let value = chart_yaml
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("chart/Chart.yaml has no top-level {key}"));
    let value = value.split(" #").next().unwrap().trim().trim_matches(|c| c == '"' || c == '\'');
    assert!(
        !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-+._".contains(c)),
        "chart/Chart.yaml: {key} {value:?} is not a plain name or version"
    );
    value.to_string()
}

/// What `.helmignore` leaves out. As in Helm, a name without `/` matches
/// that name anywhere in the chart, one with `/` the path from the chart's
/// root. Only literal names are supported: a pattern would need Helm's
/// matching rules, and a build that silently packaged a different file set
/// than `helm package` would be worse than one that stops here.
fn helmignore(chart: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string(chart.join(".helmignore")).unwrap_or_default();
    let lines = text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'));
    lines
        .map(|line| {
            assert!(
                !line.contains(['*', '?', '[', '!', '\\']) && !line.ends_with('/'),
                "chart/.helmignore: {line:?} is a pattern; build.rs packages the chart and supports literal paths only"
            );
            PathBuf::from(line.trim_start_matches('/'))
        })
        .collect()
}

fn collect_files(chart: &Path, dir: &Path, ignored: &[PathBuf], files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path.strip_prefix(chart).unwrap().to_path_buf();
        let by_name = |rule: &PathBuf| rule.components().count() == 1 && path.file_name() == Some(rule.as_os_str());
        // Helm's own default rule: hidden files directly in templates/.
        let hidden_template = relative.parent() == Some(Path::new("templates"))
            && path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden_template || ignored.iter().any(|rule| *rule == relative || by_name(rule)) {
            continue;
        }
        let kind = fs::symlink_metadata(&path).unwrap().file_type();
        if kind.is_dir() {
            collect_files(chart, &path, ignored, files);
        } else {
            assert!(kind.is_file(), "chart/{}: only files and folders can be packaged", relative.display());
            files.push(relative);
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o111 != 0
}
