//! Verification of a definition with Charon's rules: the hashes as
//! `Definition.VerifyHashes`, the signatures as `VerifySignatures` (without
//! an execution client, so a signature that does not recover to its address
//! fails just as `charon dkg` fails without `--execution-client-rpc-endpoint`),
//! and the network lookup that `charon dkg` does before it starts.
//!
//! The result is a report of every check with pass/fail and a reason, not
//! just the first failure, so an operator sees everything wrong at once.

use alloy_primitives::{Address, B256};
use serde::Serialize;

use super::{Definition, Network, eip712, ssz};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// A signature that has not been given yet: not valid, but not tampered
    /// either, so a definition still collecting signatures can wait for it.
    Missing,
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name, e.g. `config_hash` or `operators[2].enr_signature`.
    pub name: String,
    pub status: Status,
    /// Why it failed, or what was confirmed.
    pub detail: String,
}

/// What one check found: what it confirmed, or why it failed.
pub(super) type Finding = Result<String, Failed>;

/// Why a check failed, in words for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failed(pub String);

impl From<String> for Failed {
    fn from(detail: String) -> Self {
        Failed(detail)
    }
}

impl From<&str> for Failed {
    fn from(detail: &str) -> Self {
        Failed(detail.to_string())
    }
}

/// Every check made on a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.checks.iter().all(|c| c.status == Status::Pass)
    }

    /// Checks that did not pass, missing signatures included.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status != Status::Pass)
    }

    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The first failure as one line, for logs and status messages.
    pub fn first_failure(&self) -> Option<String> {
        self.failures().next().map(|c| format!("{}: {}", c.name, c.detail))
    }

    pub(super) fn push(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.checks.push(Check { name: name.into(), status, detail: detail.into() });
    }

    pub(super) fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Status::Pass, detail);
    }

    pub(super) fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Status::Fail, detail);
    }

    pub(super) fn record(&mut self, name: impl Into<String>, outcome: Finding) {
        match outcome {
            Ok(detail) => self.pass(name, detail),
            Err(Failed(detail)) => self.fail(name, detail),
        }
    }
}

/// Verifies a parsed definition.
pub fn verify(def: &Definition) -> Report {
    let mut report = Report { checks: Vec::new() };
    let network = def.network();
    report.record(
        "fork_version",
        network.map(|n| format!("{n} (chain id {})", n.chain_id())).ok_or_else(|| {
            Failed(format!(
                "fork version 0x{} is not a network Charon knows (known: {})",
                hex::encode(&def.fork_version),
                Network::ALL.map(|n| n.name()).join(", ")
            ))
        }),
    );
    check_hashes(def, &mut report);
    check_distinct_operators(def, &mut report);
    check_signatures(def, network, &mut report);
    report
}

/// Charon refuses a definition whose operators share an ENR (`Peers()`:
/// "duplicate peer enrs"), so its DKG never starts; an address listed twice
/// is one person holding two shares, which the Launchpad refuses.
fn check_distinct_operators(def: &Definition, report: &mut Report) {
    let first_repeat = |field: fn(&super::Operator) -> String| {
        def.operators.iter().enumerate().filter(|(_, op)| !field(op).is_empty()).find_map(|(j, op)| {
            let i = def.operators[..j].iter().position(|earlier| field(earlier) == field(op))?;
            Some((i, j))
        })
    };
    let outcome = match (first_repeat(|op| op.enr.clone()), first_repeat(|op| op.address.to_lowercase())) {
        (Some((i, j)), _) => Err(Failed(format!(
            "operators[{i}] and operators[{j}] share an ENR; Charon refuses duplicate peer ENRs: each operator runs \
             their own node"
        ))),
        (None, Some((i, j))) => Err(Failed(format!(
            "operators[{i}] and operators[{j}] share the address {}; each operator appears once",
            def.operators[j].address
        ))),
        (None, None) => Ok(format!("{} distinct operators", def.operators.len())),
    };
    report.record("operators.distinct", outcome);
}

pub(super) fn check_hashes(def: &Definition, report: &mut Report) {
    let compare = |computed: Result<[u8; 32], ssz::HashError>, stated: &[u8], what: &str| match computed {
        Err(e) => Err(Failed(format!("cannot compute the {what}: {e}"))),
        Ok(root) if root.as_slice() == stated => Ok(format!("0x{}", hex::encode(root))),
        Ok(root) => Err(Failed(format!(
            "stated 0x{} but the content hashes to 0x{}: the definition was changed after it was hashed",
            hex::encode(stated),
            hex::encode(root)
        ))),
    };
    report.record("config_hash", compare(ssz::config_hash(def), &def.config_hash, "config hash"));
    report.record("definition_hash", compare(ssz::definition_hash(def), &def.definition_hash, "definition hash"));
}

/// Charon's `ChecksumAddress`: exactly `0x` and 40 hex digits, any case.
fn parse_address(text: &str) -> Option<Address> {
    let digits = text.strip_prefix("0x")?;
    (digits.len() == 40).then(|| digits.parse().ok()).flatten()
}

fn check_signer(expected: &str, digest: B256, signature: &[u8]) -> Finding {
    let address =
        parse_address(expected).ok_or_else(|| format!("{expected:?} is not a 0x-prefixed 20-byte address"))?;
    let signer = eip712::recover_signer(digest, signature).map_err(|e| e.to_string())?;
    if signer == address {
        Ok(format!("signed by {}", address.to_checksum(None)))
    } else {
        Err(Failed(format!(
            "signed by {}, not by {}: the signature is over different content or by another key \
             (smart-contract wallets need an execution client, which the sidecar does not use)",
            signer.to_checksum(None),
            address.to_checksum(None)
        )))
    }
}

pub(super) fn check_signatures(def: &Definition, network: Option<Network>, report: &mut Report) {
    let any_signature = def.operators.iter().any(|o| !o.config_signature.is_empty() || !o.enr_signature.is_empty());
    if !def.version.has_signatures() {
        if any_signature {
            report.fail("signatures", format!("{} predates EIP-712 signatures but carries some", def.version));
        } else {
            report.pass("signatures", format!("{} has no signatures to check", def.version));
        }
        return;
    }
    let Some(network) = network else {
        report.fail("signatures", "cannot check signatures: their chain id comes from the unknown fork version");
        return;
    };

    let config_digest = eip712::operator_config_digest(def, network);
    let mut unsigned = 0;
    for (i, operator) in def.operators.iter().enumerate() {
        let name = |field: &str| format!("operators[{i}].{field}");
        if operator.address.is_empty() && operator.config_signature.is_empty() && operator.enr_signature.is_empty() {
            unsigned += 1;
            report.pass(name("signatures"), "an anonymous operator (ENR only), as `charon create dkg` writes");
            continue;
        }
        if operator.config_signature.is_empty() {
            report.push(
                name("config_signature"),
                Status::Missing,
                format!("{} has not signed the configuration", operator.address),
            );
        } else {
            report.record(
                name("config_signature"),
                check_signer(&operator.address, config_digest, &operator.config_signature),
            );
        }
        if operator.enr_signature.is_empty() {
            report.push(name("enr_signature"), Status::Missing, format!("{} has not signed an ENR", operator.address));
        } else {
            let digest = eip712::enr_digest(&operator.enr, network);
            report.record(name("enr_signature"), check_signer(&operator.address, digest, &operator.enr_signature));
        }
    }
    if unsigned > 0 && unsigned != def.operators.len() {
        report.fail(
            "operators",
            format!("{unsigned} of {} operators are anonymous while the others signed", def.operators.len()),
        );
    }

    let creator = &def.creator;
    let outcome = if def.version == super::DefinitionVersion::V1_3 {
        if creator.config_signature.is_empty() {
            Ok("v1.3.0 has no creator signature".to_string())
        } else {
            Err(Failed("v1.3.0 has no creator signature, but this definition carries one".to_string()))
        }
    } else if creator.address.is_empty() && creator.config_signature.is_empty() {
        if unsigned == 0 {
            Err(Failed("operators signed but the creator did not".to_string()))
        } else {
            Ok("no creator, as `charon create dkg` writes".to_string())
        }
    } else if creator.config_signature.is_empty() {
        Err(Failed(format!("creator {} has not signed the configuration", creator.address)))
    } else {
        check_signer(&creator.address, eip712::creator_config_digest(def, network), &creator.config_signature)
    };
    report.record("creator.config_signature", outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operators(pairs: &[(&str, &str)]) -> Definition {
        let operators: Vec<serde_json::Value> = pairs
            .iter()
            .map(|(address, enr)| serde_json::json!({"address": address, "enr": enr, "config_signature": "", "enr_signature": ""}))
            .collect();
        Definition::from_value(serde_json::json!({
            "name": "t", "version": "v1.10.0", "uuid": "u", "timestamp": "", "num_validators": 1, "threshold": 2,
            "dkg_algorithm": "default", "fork_version": "0x10000910", "operators": operators,
            "creator": {"address": "", "config_signature": ""},
            "validators": [{"fee_recipient_address": "", "withdrawal_address": ""}],
            "deposit_amounts": [], "consensus_protocol": "", "target_gas_limit": 0, "compounding": false,
            "config_hash": "0x", "definition_hash": "0x",
        }))
        .unwrap()
    }

    fn distinct(def: &Definition) -> Check {
        verify(def).check("operators.distinct").unwrap().clone()
    }

    #[test]
    fn operators_sharing_an_enr_or_an_address_make_the_definition_invalid() {
        let (a, b, c) = (
            "0xAa00000000000000000000000000000000000001",
            "0xbb00000000000000000000000000000000000002",
            "0xcc00000000000000000000000000000000000003",
        );
        let shared_enr = distinct(&operators(&[(a, "enr:-x"), (b, "enr:-y"), (c, "enr:-x")]));
        assert_eq!(shared_enr.status, Status::Fail);
        assert!(shared_enr.detail.contains("operators[0] and operators[2] share an ENR"), "{shared_enr:?}");
        let shared_address = distinct(&operators(&[(a, ""), (b, ""), (&a.to_lowercase(), "")]));
        assert!(shared_address.detail.contains("share the address"), "{shared_address:?}");
        assert_eq!(
            distinct(&operators(&[(a, ""), (b, ""), (c, "")])).status,
            Status::Pass,
            "unsigned slots are not ENRs"
        );
    }
}
