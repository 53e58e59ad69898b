//! The validator clients dv-pod runs behind Charon. The one list: the
//! sidecar lays out keys for these, the wizard offers them, and the chart's
//! schema and pinned images are tested against it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidatorClient {
    Lighthouse,
    Teku,
    Prysm,
    Nimbus,
    Lodestar,
}

impl ValidatorClient {
    pub const ALL: [ValidatorClient; 5] = [Self::Lighthouse, Self::Teku, Self::Prysm, Self::Nimbus, Self::Lodestar];

    /// The name the chart's `validatorClient.type` and `--client` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lighthouse => "lighthouse",
            Self::Teku => "teku",
            Self::Prysm => "prysm",
            Self::Nimbus => "nimbus",
            Self::Lodestar => "lodestar",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Where the backup pod's export step writes the interchange file, in an
/// emptyDir it shares with the step that streams the files out.
pub const EXPORT_DIR: &str = "/export";

impl ValidatorClient {
    /// The client's own documented export of its slashing-protection
    /// database as EIP-3076 interchange JSON, run with the VC image and the
    /// VC volume at `/vc-data` (the chart's layout, see `dv-pod.vcCommand`)
    /// while the VC is stopped: the program, its arguments, and the file it
    /// writes. The chart's `dv-pod.vcSlashingImportCommand` is the way back.
    ///
    /// Nimbus's validator client image has no export: `slashingdb` is part
    /// of `nimbus_beacon_node`, so that client needs the beacon node image.
    pub fn slashing_export(self, network: &str) -> (Vec<String>, String) {
        let file = format!("{EXPORT_DIR}/slashing-protection.json");
        let argv: Vec<String> = match self {
            Self::Lighthouse => vec![
                "lighthouse".into(),
                format!("--network={network}"),
                "--datadir=/vc-data".into(),
                "account".into(),
                "validator".into(),
                "slashing-protection".into(),
                "export".into(),
                file.clone(),
            ],
            Self::Teku => vec![
                "/opt/teku/bin/teku".into(),
                "slashing-protection".into(),
                "export".into(),
                "--data-path=/vc-data/teku".into(),
                format!("--to={file}"),
            ],
            // Prysm names the file itself, in the directory it is given.
            Self::Prysm => {
                return (
                    vec![
                        "/app/cmd/validator/validator".into(),
                        "slashing-protection-history".into(),
                        "export".into(),
                        "--accept-terms-of-use".into(),
                        "--datadir=/vc-data/prysm".into(),
                        format!("--slashing-protection-export-dir={EXPORT_DIR}"),
                    ],
                    format!("{EXPORT_DIR}/slashing_protection.json"),
                );
            }
            Self::Nimbus => vec![
                "nimbus_beacon_node".into(),
                "--data-dir=/vc-data/nimbus".into(),
                "slashingdb".into(),
                "export".into(),
                file.clone(),
                "--validators-dir=/vc-data/validators".into(),
            ],
            Self::Lodestar => vec![
                "node".into(),
                "/usr/app/packages/cli/bin/lodestar".into(),
                "validator".into(),
                "slashing-protection".into(),
                "export".into(),
                format!("--network={network}"),
                "--dataDir=/vc-data/lodestar".into(),
                format!("--file={file}"),
            ],
        };
        (argv, file)
    }
}

impl fmt::Display for ValidatorClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_round_trips_through_its_name_and_serde_agrees() {
        for client in ValidatorClient::ALL {
            assert_eq!(ValidatorClient::from_name(client.name()), Some(client));
            assert_eq!(serde_json::to_value(client).unwrap(), client.name());
        }
    }
}
