//! What the Launchpad and the other operators do to a definition: create
//! it (v1.10.0, as the Launchpad does today), and sign it operator by
//! operator with real keys, so Charon verifies every signature for real.

use k256::ecdsa::SigningKey;
use serde_json::{Value, json};

use crate::definition::{Definition, Network, eip712, ssz};

/// One operator slot as the simulator holds it: the operator's Ethereum key
/// (the Launchpad's wallet), and their node's ENR once they accepted.
#[derive(Clone)]
pub struct SimulatedOperator {
    pub eth_key: SigningKey,
    pub enr: Option<String>,
    pub signed: bool,
}

impl SimulatedOperator {
    pub fn address(&self) -> String {
        eip712::address_of(self.eth_key.verifying_key()).to_checksum(None)
    }
}

/// A cluster the simulated Launchpad has created.
#[derive(Clone)]
pub struct SimulatedCluster {
    pub name: String,
    pub uuid: String,
    pub timestamp: String,
    pub network: Network,
    pub num_validators: u64,
    pub threshold: u64,
    pub fee_recipient: String,
    pub withdrawal_address: String,
    pub operators: Vec<SimulatedOperator>,
}

impl SimulatedCluster {
    /// The definition document as the API serves it now: signed operators
    /// carry their ENR and signatures, pending ones only their address.
    pub fn document(&self) -> Value {
        let operators: Vec<Value> = self
            .operators
            .iter()
            .map(|op| json!({"address": op.address(), "enr": "", "config_signature": "", "enr_signature": ""}))
            .collect();
        let mut doc = json!({
            "name": self.name,
            "creator": {"address": self.operators[0].address(), "config_signature": ""},
            "operators": operators,
            "uuid": self.uuid,
            "version": "v1.10.0",
            "timestamp": self.timestamp,
            "num_validators": self.num_validators,
            "threshold": self.threshold,
            "validators": (0..self.num_validators)
                .map(|_| json!({"fee_recipient_address": self.fee_recipient, "withdrawal_address": self.withdrawal_address}))
                .collect::<Vec<_>>(),
            "dkg_algorithm": "default",
            "fork_version": format!("0x{}", hex::encode(self.network.genesis_fork_version())),
            "deposit_amounts": ["32000000000"],
            "consensus_protocol": "",
            "target_gas_limit": 60000000,
            "compounding": false,
            "config_hash": "",
            "definition_hash": "",
        });

        let parsed = Definition::from_value(doc.clone()).expect("the simulator writes well-formed definitions");
        let config_hash = ssz::config_hash(&parsed).expect("the simulator's definitions fit SSZ limits");
        doc["config_hash"] = json!(format!("0x{}", hex::encode(config_hash)));
        let parsed = Definition::from_value(doc.clone()).expect("still well-formed");
        let hex65 = |sig: [u8; 65]| json!(format!("0x{}", hex::encode(sig)));

        let creator_digest = eip712::creator_config_digest(&parsed, self.network);
        doc["creator"]["config_signature"] = hex65(eip712::sign(creator_digest, &self.operators[0].eth_key));
        let config_digest = eip712::operator_config_digest(&parsed, self.network);
        for (i, op) in self.operators.iter().enumerate() {
            let Some(enr) = op.enr.as_ref().filter(|_| op.signed) else {
                continue;
            };
            doc["operators"][i]["enr"] = json!(enr);
            doc["operators"][i]["config_signature"] = hex65(eip712::sign(config_digest, &op.eth_key));
            doc["operators"][i]["enr_signature"] =
                hex65(eip712::sign(eip712::enr_digest(enr, self.network), &op.eth_key));
        }
        let parsed = Definition::from_value(doc.clone()).expect("still well-formed");
        let definition_hash = ssz::definition_hash(&parsed).expect("the simulator's definitions fit SSZ limits");
        doc["definition_hash"] = json!(format!("0x{}", hex::encode(definition_hash)));
        doc
    }

    pub fn config_hash(&self) -> String {
        self.document()["config_hash"].as_str().unwrap_or_default().to_string()
    }

    pub fn signed_count(&self) -> usize {
        self.operators.iter().filter(|op| op.signed && op.enr.is_some()).count()
    }
}
