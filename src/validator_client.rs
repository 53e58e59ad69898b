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
