//! "Is this invite mine, and is it ready?": what a definition means for one
//! operator's node, given its operator address, its ENR, the network it runs
//! on and, optionally, the one config hash it was told to join.

use std::{collections::HashSet, fmt, str::FromStr};

use alloy_primitives::Address;
use serde::Serialize;

use super::{
    Definition, Network,
    verify::{Status, verify},
};
use crate::enr::EnrRecord;

/// An operator's Ethereum address, EIP-55 checksum checked when mixed-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OperatorAddress(Address);

/// Why an operator address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("operator address {0:?} must be 0x followed by 40 hex digits")]
    Format(String),
    #[error(
        "operator address {given} fails its EIP-55 checksum (a typo?); the checksummed form of what was typed is \
         {checksummed}, but check it against your wallet rather than copying this"
    )]
    Checksum { given: String, checksummed: String },
}

impl FromStr for OperatorAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        let digits =
            text.strip_prefix("0x").filter(|d| d.len() == 40).ok_or_else(|| AddressError::Format(text.into()))?;
        let address: Address = digits.parse().map_err(|_| AddressError::Format(text.into()))?;
        let mixed_case =
            digits.bytes().any(|b| b.is_ascii_lowercase()) && digits.bytes().any(|b| b.is_ascii_uppercase());
        let checksummed = address.to_checksum(None);
        if mixed_case && checksummed != text {
            return Err(AddressError::Checksum { given: text.into(), checksummed });
        }
        Ok(OperatorAddress(address))
    }
}

impl fmt::Display for OperatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_checksum(None))
    }
}

impl OperatorAddress {
    /// Whether `text` carries an EIP-55 checksum: digits in one case carry
    /// none, so a typo in them cannot be noticed.
    pub fn carries_checksum(text: &str) -> bool {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        digits.bytes().any(|b| b.is_ascii_lowercase()) && digits.bytes().any(|b| b.is_ascii_uppercase())
    }

    /// Whether an address as written in a definition is this one (any case).
    pub fn matches(&self, written: &str) -> bool {
        written.strip_prefix("0x").and_then(|d| d.parse::<Address>().ok()) == Some(self.0)
    }
}

/// Who is asking: one operator's node.
#[derive(Debug, Clone)]
pub struct OurNode {
    pub operator: OperatorAddress,
    /// This node's ENR; when unknown, any ENR in our slot is accepted.
    pub enr: Option<EnrRecord>,
    /// The network this node runs on; when unknown, any network is accepted.
    pub network: Option<Network>,
    /// When set, only the definition with this config hash is joined.
    pub target_config_hash: Option<String>,
}

/// What a definition means for our node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Invite {
    /// Our operator address is not among its operators.
    NotForUs,
    /// It is for another config hash than the one we were told to join.
    NotTarget { target: String },
    /// It is for another network than the one this node runs on.
    WrongNetwork { definition: Option<Network>, ours: Network },
    /// Our operator has not yet accepted it with this node's ENR; `missing`
    /// (us included) are the operators who have not signed.
    AwaitingOurSignature { signed: usize, total: usize, missing: Vec<String> },
    /// We signed; others have not yet.
    WaitingForOthers { signed: usize, total: usize, missing: Vec<String> },
    /// Fully signed and verified: run the DKG.
    Ready,
    /// It must never be used; `reason` names what is wrong.
    Invalid { reason: String },
}

/// Classifies a definition for our node.
pub fn classify(def: &Definition, us: &OurNode) -> Invite {
    let config_hash = def.config_hash_hex();
    if let Some(target) = &us.target_config_hash
        && !target.eq_ignore_ascii_case(&config_hash)
    {
        return Invite::NotTarget { target: target.clone() };
    }
    let Some(our_slot) = def.operators.iter().position(|o| us.operator.matches(&o.address)) else {
        return Invite::NotForUs;
    };
    if let Some(ours) = us.network
        && def.network() != Some(ours)
    {
        return Invite::WrongNetwork { definition: def.network(), ours };
    }
    if let Some(reason) = structural_problem(def, our_slot, us) {
        return Invite::Invalid { reason };
    }

    let report = verify(def);
    if let Some(tampered) = report.checks.iter().find(|c| c.status == Status::Fail && c.name != "definition_hash") {
        return Invite::Invalid { reason: format!("{}: {}", tampered.name, tampered.detail) };
    }
    let has_signed = |i: usize| {
        ["config_signature", "enr_signature"]
            .iter()
            .all(|field| report.check(&format!("operators[{i}].{field}")).is_some_and(|c| c.status == Status::Pass))
    };
    let missing: Vec<String> =
        (0..def.operators.len()).filter(|&i| !has_signed(i)).map(|i| def.operators[i].address.clone()).collect();
    let (signed, total) = (def.operators.len() - missing.len(), def.operators.len());
    if def.operators[our_slot].enr.is_empty() || !has_signed(our_slot) {
        return Invite::AwaitingOurSignature { signed, total, missing };
    }
    if !missing.is_empty() {
        return Invite::WaitingForOthers { signed, total, missing };
    }
    match report.failures().next() {
        None => Invite::Ready,
        Some(check) => Invite::Invalid { reason: format!("{}: {}", check.name, check.detail) },
    }
}

/// Problems no signature can fix: the cluster itself is malformed, or our
/// slot names another node.
fn structural_problem(def: &Definition, our_slot: usize, us: &OurNode) -> Option<String> {
    if !def.version.dkg_supported() {
        return Some(format!(
            "definition version {} cannot run a DKG with Charon v1.10 (v1.6.0 or later)",
            def.version
        ));
    }
    let n = def.operators.len() as i64;
    if def.threshold < 2 || def.threshold > n {
        return Some(format!("threshold {} is out of range for {n} operators (2 to {n})", def.threshold));
    }
    let mut addresses = HashSet::new();
    let mut enrs = HashSet::new();
    for operator in &def.operators {
        let key = operator.address.to_ascii_lowercase();
        if !key.is_empty() && !addresses.insert(key) {
            return Some(format!("operator {} appears more than once", operator.address));
        }
        if !operator.enr.is_empty() && !enrs.insert(operator.enr.as_str()) {
            return Some(format!("ENR {} is used by more than one operator", operator.enr));
        }
    }
    let our_enr = &def.operators[our_slot].enr;
    if let Some(node_enr) = &us.enr
        && !our_enr.is_empty()
        && our_enr != node_enr.text()
    {
        return Some(format!(
            "our operator {} accepted this cluster with ENR {our_enr}, not with this node's ENR {}: \
             it was accepted from another node or with another key",
            us.operator,
            node_enr.text()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_case_address_is_accepted_and_shown_checksummed() {
        let address: OperatorAddress = "0x52908400098527886e0f7030069857d2e4169ee7".parse().unwrap();
        assert_eq!(address.to_string(), "0x52908400098527886E0F7030069857D2E4169EE7");
        assert!(address.matches("0x52908400098527886E0F7030069857D2E4169EE7"));
    }

    #[test]
    fn a_mixed_case_address_with_a_bad_checksum_is_refused() {
        let err = "0x52908400098527886E0F7030069857D2E4169Ee7".parse::<OperatorAddress>().unwrap_err();
        assert!(matches!(err, AddressError::Checksum { .. }), "{err}");
        assert!(err.to_string().contains("EIP-55"));
    }

    #[test]
    fn a_short_or_unprefixed_address_is_refused_with_the_format() {
        for bad in ["52908400098527886E0F7030069857D2E4169EE7", "0x1234", "0xZZ908400098527886E0F7030069857D2E4169EE7"]
        {
            let err = bad.parse::<OperatorAddress>().unwrap_err();
            assert!(err.to_string().contains("40 hex digits"), "{err}");
        }
    }
}
