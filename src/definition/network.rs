//! The Ethereum networks Charon v1.10 knows, keyed by genesis fork version.
//! A definition names its network only through `fork_version`, and the
//! EIP-712 chain id of every signature in it comes from this table.

use std::fmt;

/// A network Charon can run a DKG on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mainnet,
    Goerli,
    Gnosis,
    Chiado,
    Sepolia,
    Hoodi,
    Holesky,
}

impl Network {
    pub const ALL: [Network; 7] = [
        Network::Mainnet,
        Network::Goerli,
        Network::Gnosis,
        Network::Chiado,
        Network::Sepolia,
        Network::Hoodi,
        Network::Holesky,
    ];

    /// The networks a new distributed validator can be formed on: every
    /// network but the retired testnets (Goerli shut down in 2024, Holesky
    /// in 2025), which stay in [`Network::ALL`] so old definitions and locks
    /// still verify.
    pub const OFFERED: [Network; 5] =
        [Network::Mainnet, Network::Gnosis, Network::Chiado, Network::Sepolia, Network::Hoodi];

    /// Whether the network is a retired testnet (see [`Network::OFFERED`]).
    pub fn is_retired(self) -> bool {
        !Network::OFFERED.contains(&self)
    }

    pub fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Goerli => "goerli",
            Network::Gnosis => "gnosis",
            Network::Chiado => "chiado",
            Network::Sepolia => "sepolia",
            Network::Hoodi => "hoodi",
            Network::Holesky => "holesky",
        }
    }

    pub fn genesis_fork_version(self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0x00, 0x00, 0x00, 0x00],
            Network::Goerli => [0x00, 0x00, 0x10, 0x20],
            Network::Gnosis => [0x00, 0x00, 0x00, 0x64],
            Network::Chiado => [0x00, 0x00, 0x00, 0x6f],
            Network::Sepolia => [0x90, 0x00, 0x00, 0x69],
            Network::Hoodi => [0x10, 0x00, 0x09, 0x10],
            Network::Holesky => [0x01, 0x01, 0x70, 0x00],
        }
    }

    pub fn chain_id(self) -> u64 {
        match self {
            Network::Mainnet => 1,
            Network::Goerli => 5,
            Network::Gnosis => 100,
            Network::Chiado => 10200,
            Network::Sepolia => 11155111,
            Network::Hoodi => 560048,
            Network::Holesky => 17000,
        }
    }

    /// The network whose genesis fork version this is, if Charon knows it.
    pub fn from_fork_version(fork_version: &[u8]) -> Option<Network> {
        Network::ALL.into_iter().find(|n| n.genesis_fork_version() == fork_version)
    }

    /// Parses a network name as operators type it (case-insensitive).
    pub fn from_name(name: &str) -> Option<Network> {
        Network::ALL.into_iter().find(|n| n.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_round_trips_through_its_fork_version_and_name() {
        for network in Network::ALL {
            assert_eq!(Network::from_fork_version(&network.genesis_fork_version()), Some(network));
            assert_eq!(Network::from_name(&network.name().to_uppercase()), Some(network));
        }
        assert_eq!(Network::from_fork_version(&[0xde, 0xad, 0xbe, 0xef]), None);
    }
}
