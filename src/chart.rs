//! The dv-pod chart as the wizard and the plugin install it: where it comes
//! from, and the one value that must never reach a command line.

/// The chart inside the checkout this program was built from, if any.
pub fn default_chart() -> String {
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chart");
    if local.join("Chart.yaml").is_file() { local.display().to_string() } else { "dv-pod".into() }
}

/// The chart value that holds a private key. It may come from a values file
/// (mode 0600, `-f`) but never from a command line, where `ps`, shell history
/// and the wizard's log would see it.
const PRIVATE_KEY_VALUE: &str = "charon.enr.privateKey";

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
    #[test]
    fn a_private_key_in_helm_arguments_is_refused_with_the_safe_ways_named() {
        let args = ["--set=network=hoodi".to_string(), "--set-string=charon.enr.privateKey=ab12".to_string()];
        let error = crate::chart::refuse_private_key_arguments(&args).unwrap_err().to_string();
        assert!(
            error.contains("values file") && error.contains("existingSecret") && !error.contains("ab12"),
            "{error}"
        );
        assert!(crate::chart::refuse_private_key_arguments(&args[..1]).is_ok());
    }
}
