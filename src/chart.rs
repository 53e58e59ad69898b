//! The dv-pod chart as the wizard and the plugin install it: where it comes
//! from, and the one value that must never reach a command line.
//!
//! The binaries carry the chart they were built with (`build.rs` packages
//! `chart/` as `helm package` does), so a copied or released binary installs
//! the same chart as the checkout it came from, with no path to a build
//! directory in it. Helm takes a chart from a path, so the archive is written
//! to a private temp file for as long as the [`Chart`] lives.

use std::{
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::PathBuf,
};

/// The chart archive built into this binary (`dv-pod-<version>.tgz`).
pub const EMBEDDED_ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/", env!("DV_POD_CHART_ARCHIVE")));

/// The file name of [`EMBEDDED_ARCHIVE`], as `helm package` names it.
pub const EMBEDDED_ARCHIVE_NAME: &str = env!("DV_POD_CHART_ARCHIVE");

/// The version of the embedded chart (chart/Chart.yaml's `version`).
pub const EMBEDDED_VERSION: &str = env!("DV_POD_CHART_VERSION");

/// The chart to hand to helm: the one the user named, or the embedded one
/// written to a private temp file that is removed when this value drops.
#[derive(Debug)]
pub struct Chart {
    reference: String,
    /// Keeps the embedded archive's directory (0700) and file (0600) alive.
    _embedded: Option<tempfile::TempDir>,
}

impl Chart {
    /// `--chart` if given (a directory, an archive or a chart reference, as
    /// helm takes it), else the embedded chart.
    pub fn resolve(given: Option<String>) -> Result<Chart, EmbeddedChartError> {
        match given {
            Some(reference) => Ok(Chart { reference, _embedded: None }),
            None => Chart::embedded(),
        }
    }

    /// The embedded chart, written to a fresh private temp file.
    pub fn embedded() -> Result<Chart, EmbeddedChartError> {
        // A 0700 directory of our own, so no other user can replace or race
        // on the archive helm is about to load.
        let dir = tempfile::Builder::new()
            .prefix("dv-pod-chart.")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(EmbeddedChartError)?;
        let path: PathBuf = dir.path().join(EMBEDDED_ARCHIVE_NAME);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(EmbeddedChartError)?;
        file.write_all(EMBEDDED_ARCHIVE).and_then(|()| file.sync_all()).map_err(EmbeddedChartError)?;
        Ok(Chart { reference: path.display().to_string(), _embedded: Some(dir) })
    }

    /// What to pass to helm as the chart argument.
    pub fn reference(&self) -> &str {
        &self.reference
    }
}

/// The embedded chart could not be written to a temp file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the chart built into this program to a temp file (set TMPDIR, or pass --chart): {0}")]
pub struct EmbeddedChartError(#[source] pub std::io::Error);

/// The chart value that holds a private key. It may come from a values file
/// (mode 0600, `-f`) but never from a command line, where `ps`, shell history
/// and the wizard's log would see it.
pub const PRIVATE_KEY_VALUE: &str = "charon.enr.privateKey";

/// Refuses helm arguments that would put the ENR private key on a command line.
pub fn refuse_private_key_arguments<'a>(
    args: impl IntoIterator<Item = &'a String>,
) -> Result<(), PrivateKeyOnCommandLine> {
    match args.into_iter().any(|arg| arg.contains(PRIVATE_KEY_VALUE)) {
        true => Err(PrivateKeyOnCommandLine),
        false => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "charon.enr.privateKey must not be given on the command line (process lists, shell history and logs would see \
     the key); put it in a values file passed with -f, or use charon.enr.existingSecret"
)]
pub struct PrivateKeyOnCommandLine;

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::Chart;

    #[test]
    fn the_embedded_chart_is_a_private_file_that_is_removed_when_the_chart_drops() {
        let chart = Chart::resolve(None).unwrap();
        let path = std::path::PathBuf::from(chart.reference());
        assert_eq!(std::fs::read(&path).unwrap(), super::EMBEDDED_ARCHIVE);
        assert_eq!(path.file_name().unwrap(), super::EMBEDDED_ARCHIVE_NAME);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
        drop(chart);
        assert!(!path.exists() && !path.parent().unwrap().exists(), "{} is left behind", path.display());
    }

    #[test]
    fn a_chart_given_with_dash_dash_chart_is_passed_to_helm_as_given() {
        let chart = Chart::resolve(Some("oci://registry.example/charts/dv-pod".into())).unwrap();
        assert_eq!(chart.reference(), "oci://registry.example/charts/dv-pod");
    }

    #[test]
    fn the_embedded_archive_is_named_after_the_chart_yaml_version() {
        let chart_yaml = include_str!("../chart/Chart.yaml");
        let version = chart_yaml.lines().find_map(|line| line.strip_prefix("version:")).unwrap().trim();
        assert_eq!(super::EMBEDDED_VERSION, version);
        assert_eq!(super::EMBEDDED_ARCHIVE_NAME, format!("dv-pod-{version}.tgz"));
    }

    #[test]
    fn a_private_key_in_helm_arguments_is_refused_with_the_safe_ways_named() {
        let args = ["--set=network=hoodi".to_string(), "--set-string=charon.enr.privateKey=ab12".to_string()];
        let error = super::refuse_private_key_arguments(&args).unwrap_err().to_string();
        assert!(
            error.contains("values file") && error.contains("existingSecret") && !error.contains("ab12"),
            "{error}"
        );
        assert!(super::refuse_private_key_arguments(&args[..1]).is_ok());
    }
}
