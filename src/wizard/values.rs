//! The Configure screen's form and the chart values it stands for: each
//! field maps to one value of the chart's interface, checked as it is typed,
//! loaded from and saved to a values file without dropping other values.

use std::path::Path;

use serde_json::{Value, json};

use crate::{
    definition::{Network, invite::OperatorAddress},
    validator_client::ValidatorClient,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKey {
    OperatorAddress,
    Network,
    BeaconNodes,
    ValidatorClient,
    EnrSecret,
    ApiEndpoint,
}

impl FieldKey {
    pub const ALL: [FieldKey; 6] = [
        FieldKey::OperatorAddress,
        FieldKey::Network,
        FieldKey::BeaconNodes,
        FieldKey::ValidatorClient,
        FieldKey::EnrSecret,
        FieldKey::ApiEndpoint,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FieldKey::OperatorAddress => "Operator address",
            FieldKey::Network => "Network",
            FieldKey::BeaconNodes => "Beacon nodes",
            FieldKey::ValidatorClient => "Validator client",
            FieldKey::EnrSecret => "ENR key Secret",
            FieldKey::ApiEndpoint => "Obol API",
        }
    }

    /// The chart value this field sets.
    pub fn value_path(self) -> &'static [&'static str] {
        match self {
            FieldKey::OperatorAddress => &["charon", "operatorAddress"],
            FieldKey::Network => &["network"],
            FieldKey::BeaconNodes => &["charon", "beaconNodeEndpoints"],
            FieldKey::ValidatorClient => &["validatorClient", "type"],
            FieldKey::EnrSecret => &["charon", "enr", "existingSecret"],
            FieldKey::ApiEndpoint => &["charon", "dkgSidecar", "apiEndpoint"],
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            FieldKey::OperatorAddress => "0x + 40 hex digits, EIP-55 checksummed as in the Launchpad",
            FieldKey::Network => "type a name, or ←/→ to choose",
            FieldKey::BeaconNodes => "comma-separated http(s) URLs",
            FieldKey::ValidatorClient => "←/→ to choose",
            FieldKey::EnrSecret => "empty: the chart generates a key and keeps it in a Secret",
            FieldKey::ApiEndpoint => "where the sidecar looks for invites",
        }
    }

    /// Whether only ←/→ change the value (typing is ignored).
    fn choices_only(self) -> bool {
        self == FieldKey::ValidatorClient
    }

    fn choices(self) -> Option<Vec<&'static str>> {
        match self {
            FieldKey::Network => Some(Network::OFFERED.iter().map(|n| n.name()).collect()),
            FieldKey::ValidatorClient => Some(ValidatorClient::ALL.iter().map(|c| c.name()).collect()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// One value per `FieldKey::ALL` entry, as typed.
    pub values: Vec<String>,
    pub focus: usize,
    /// The values file as loaded; saving changes only the form's values.
    pub base: Value,
    /// The document as last loaded or saved, to tell unsaved changes.
    saved: Value,
}

impl Default for Form {
    fn default() -> Self {
        let mut form = Form {
            values: vec![
                String::new(),
                "mainnet".into(),
                String::new(),
                "lighthouse".into(),
                String::new(),
                "https://api.obol.tech".into(),
            ],
            focus: 0,
            base: json!({}),
            saved: Value::Null,
        };
        form.saved = form.document();
        form
    }
}

impl Form {
    pub fn get(&self, key: FieldKey) -> &str {
        &self.values[key as usize]
    }

    pub fn set(&mut self, key: FieldKey, value: &str) {
        self.values[key as usize] = value.to_string();
    }

    pub fn focused(&self) -> FieldKey {
        FieldKey::ALL[self.focus]
    }

    pub fn focus_next(&mut self) {
        self.focus = (self.focus + 1) % FieldKey::ALL.len();
    }

    pub fn focus_previous(&mut self) {
        self.focus = (self.focus + FieldKey::ALL.len() - 1) % FieldKey::ALL.len();
    }

    pub fn type_char(&mut self, c: char) {
        if !self.focused().choices_only() {
            self.values[self.focus].push(c);
        }
    }

    pub fn backspace(&mut self) {
        if !self.focused().choices_only() {
            self.values[self.focus].pop();
        }
    }

    /// Whether the values are as last loaded or saved.
    pub fn is_saved(&self) -> bool {
        self.document() == self.saved
    }

    pub fn cycle(&mut self, forward: bool) {
        let Some(choices) = self.focused().choices() else { return };
        let at = choices.iter().position(|c| *c == self.values[self.focus]).unwrap_or(0);
        let next = if forward { (at + 1) % choices.len() } else { (at + choices.len() - 1) % choices.len() };
        self.values[self.focus] = choices[next].to_string();
    }

    /// What is wrong with a field's current value, if anything.
    pub fn error(&self, key: FieldKey) -> Option<String> {
        let value = self.get(key).trim();
        match key {
            FieldKey::OperatorAddress if value.is_empty() => Some("required".into()),
            FieldKey::OperatorAddress => value.parse::<OperatorAddress>().err().map(|e| e.to_string()),
            FieldKey::Network => match Network::from_name(value) {
                Some(network) if network.is_retired() => {
                    Some(format!("{network} is a retired testnet; choose one of: {}", offered_networks()))
                }
                Some(_) => None,
                None => Some(format!("unknown network {value:?}; choose one of: {}", offered_networks())),
            },
            FieldKey::ValidatorClient => {
                ValidatorClient::from_name(value).is_none().then(|| format!("unknown client {value:?}"))
            }
            FieldKey::BeaconNodes => split_list(value).into_iter().find_map(|url| url_error(&url)),
            FieldKey::ApiEndpoint => url_error(value),
            FieldKey::EnrSecret => (!value.is_empty() && !is_dns_label(value))
                .then(|| "a Secret name: lower-case letters, digits and '-'".into()),
        }
    }

    /// What to know about a valid value: an address in one case was taken
    /// without a checksum to catch a typo.
    pub fn note(&self, key: FieldKey) -> Option<String> {
        let value = self.get(key).trim();
        match key {
            FieldKey::OperatorAddress if self.error(key).is_none() && !OperatorAddress::carries_checksum(value) => {
                let checksummed = value.parse::<OperatorAddress>().map(|a| a.to_string()).unwrap_or_default();
                Some(format!(
                    "all one case, so no checksum was checked: compare it with your wallet's address \
                     {checksummed}"
                ))
            }
            _ => None,
        }
    }

    /// The first invalid field, as (label, error).
    pub fn first_error(&self) -> Option<(&'static str, String)> {
        FieldKey::ALL.iter().find_map(|key| self.error(*key).map(|e| (key.label(), e)))
    }

    /// Fills the form from a values document, keeping the rest of it.
    pub fn load(&mut self, document: Value) {
        for key in FieldKey::ALL {
            let mut at = &document;
            for part in key.value_path() {
                at = &at[*part];
            }
            match at {
                Value::String(text) => self.set(key, text),
                Value::Array(items) => {
                    let list: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    self.set(key, &list.join(","));
                }
                _ => {}
            }
        }
        self.base = document;
        self.saved = self.document();
    }

    /// The values document: the loaded one with the form's values set.
    pub fn document(&self) -> Value {
        let mut document = if self.base.is_object() { self.base.clone() } else { json!({}) };
        for key in FieldKey::ALL {
            let raw = self.get(key).trim();
            let value = match key {
                FieldKey::BeaconNodes => json!(split_list(raw)),
                _ => json!(raw),
            };
            let (last, parents) = key.value_path().split_last().expect("a non-empty path");
            let mut at = &mut document;
            for part in parents {
                if !at[*part].is_object() {
                    at[*part] = json!({});
                }
                at = &mut at[*part];
            }
            at[*last] = value;
        }
        document
    }

    /// The values file as the review screen shows it: a private key loaded
    /// from the file stays in the file and is not drawn on the screen.
    pub fn review_yaml(&self) -> String {
        let mut document = self.document();
        let pointer = format!("/{}", crate::chart::PRIVATE_KEY_VALUE.replace('.', "/"));
        if let Some(key) = document.pointer_mut(&pointer).filter(|key| key.is_string()) {
            *key = json!("(hidden: kept in the values file)");
        }
        values_yaml(&document)
    }

    pub fn load_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)?;
        let document: Value = serde_norway::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a YAML values file: {e}", path.display()))?;
        self.load(document);
        Ok(())
    }

    /// Replaces the file whole and durably, readable by its owner only: a
    /// values file may hold `charon.enr.privateKey`.
    pub fn save_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let document = self.document();
        crate::files::replace(path, values_yaml(&document).as_bytes(), 0o600)?;
        self.saved = document;
        Ok(())
    }
}

/// The exact `helm` invocation for these values.
pub fn helm_command(
    helm: &str,
    release: &str,
    chart: &str,
    namespace: &str,
    values_file: &Path,
    extra: &[String],
) -> Vec<String> {
    let mut command: Vec<String> = [helm, "upgrade", "--install", release, chart, "--namespace", namespace]
        .iter()
        .map(|s| s.to_string())
        .collect();
    command.extend(["--create-namespace".to_string(), "--values".into(), values_file.display().to_string()]);
    command.extend(extra.iter().cloned());
    command
}

fn offered_networks() -> String {
    Network::OFFERED.map(Network::name).join(", ")
}

/// The values document as YAML that every YAML reader reads back with the
/// same types. Helm's parser follows YAML 1.1, which reads an unquoted
/// `0x5290...` as a number and `no` as false, and no YAML crate offers to
/// quote every string; so strings are written double-quoted (as JSON
/// strings, which YAML reads alike) and the rest in block style.
pub fn values_yaml(document: &Value) -> String {
    let mut out = String::new();
    write_yaml(document, 0, &mut out);
    out
}

fn write_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                out.push_str(&format!("{pad}{}:", yaml_key(key)));
                write_nested(item, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                write_nested(item, indent, out);
            }
        }
        scalar => out.push_str(&format!("{pad}{scalar}\n")),
    }
}

/// A key as written: plain when no YAML reader can take it for anything but
/// a string, else quoted.
fn yaml_key(key: &str) -> String {
    const YAML_11_WORDS: [&str; 11] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""];
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !YAML_11_WORDS.contains(&key.to_ascii_lowercase().as_str());
    if plain { key.to_string() } else { Value::String(key.to_string()).to_string() }
}

/// A map's or list's item: inline when it is a scalar or empty, else on the
/// lines below, indented.
fn write_nested(item: &Value, indent: usize, out: &mut String) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        scalar => out.push_str(&format!(" {scalar}\n")),
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn url_error(text: &str) -> Option<String> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => None,
        Ok(_) => Some(format!("{text:?} is not an http(s) URL")),
        Err(e) => Some(format!("{text:?} is not a URL: {e}")),
    }
}

fn is_dns_label(text: &str) -> bool {
    text.len() <= 253
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    #[test]
    fn an_address_with_a_wrong_checksum_is_named_while_typing() {
        let mut form = Form::default();
        form.set(FieldKey::OperatorAddress, &ADDRESS.replace("aA", "Aa"));
        assert!(form.error(FieldKey::OperatorAddress).is_some_and(|e| e.contains("checksum")), "{form:?}");
        form.set(FieldKey::OperatorAddress, ADDRESS);
        assert_eq!(form.error(FieldKey::OperatorAddress), None);
    }

    #[test]
    fn a_saved_values_file_that_holds_a_key_is_readable_by_its_owner_only_and_keeps_the_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("values.yaml");
        let key = "ab".repeat(32);
        std::fs::write(&path, format!("charon:\n  enr:\n    privateKey: {key}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut form = Form::default();
        form.load_file(&path).unwrap();
        form.set(FieldKey::OperatorAddress, ADDRESS);
        form.save_file(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains(&key));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file is left behind");
    }

    #[test]
    fn saving_keeps_values_the_form_does_not_know_and_sets_the_ones_it_does() {
        let mut form = Form::default();
        form.load(
            json!({"charon": {"nickname": "kept", "beaconNodeEndpoints": ["http://a:5052"]}, "network": "hoodi"}),
        );
        assert_eq!(form.get(FieldKey::BeaconNodes), "http://a:5052");
        assert_eq!(form.get(FieldKey::Network), "hoodi");
        form.set(FieldKey::OperatorAddress, ADDRESS);
        form.set(FieldKey::BeaconNodes, "http://a:5052, http://b:5052");
        let document = form.document();
        assert_eq!(document["charon"]["nickname"], "kept");
        assert_eq!(document["charon"]["operatorAddress"], ADDRESS);
        assert_eq!(document["charon"]["beaconNodeEndpoints"], json!(["http://a:5052", "http://b:5052"]));
        assert_eq!(document["validatorClient"]["type"], "lighthouse");
    }

    #[test]
    fn the_values_file_reads_back_every_value_with_its_type_even_under_yaml_1_1() {
        let mut form = Form::default();
        form.load(json!({
            "charon": {"nickname": "no", "extraArgs": ["--log-level=debug"], "replicas": 1, "debug": false,
                       "on": "012345", "empty": {}, "none": null},
            "version": "1.10",
        }));
        form.set(FieldKey::OperatorAddress, "0x52908400098527886e0f7030069857d2e4169ee7");
        let text = values_yaml(&form.document());
        assert!(text.contains("operatorAddress: \"0x52908400098527886e0f7030069857d2e4169ee7\""), "{text}");
        assert!(text.contains("nickname: \"no\"") && text.contains("\"on\": \"012345\""), "{text}");
        assert!(text.contains("version: \"1.10\"") && text.contains("replicas: 1"), "{text}");
        let read: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(read, form.document());
    }

    #[test]
    fn the_review_shows_every_value_but_a_private_key() {
        let mut form = Form::default();
        let key = "ab".repeat(32);
        form.load(json!({"charon": {"enr": {"privateKey": key}, "nickname": "kept"}}));
        let review = form.review_yaml();
        assert!(!review.contains(&key) && review.contains("hidden") && review.contains("kept"), "{review}");
        assert!(values_yaml(&form.document()).contains(&key), "the file keeps the key");
    }

    #[test]
    fn a_retired_network_is_refused_with_the_networks_on_offer() {
        let mut form = Form::default();
        form.set(FieldKey::Network, "Holesky");
        let error = form.error(FieldKey::Network).unwrap();
        assert!(error.contains("retired") && error.contains("hoodi") && !error.contains("goerli,"), "{error}");
        form.set(FieldKey::Network, "hoodi");
        assert_eq!(form.error(FieldKey::Network), None);
    }

    #[test]
    fn an_address_in_one_case_is_accepted_with_a_note_and_a_checksummed_one_without() {
        let mut form = Form::default();
        form.set(FieldKey::OperatorAddress, &ADDRESS.to_lowercase());
        assert_eq!(form.error(FieldKey::OperatorAddress), None);
        assert!(form.note(FieldKey::OperatorAddress).is_some_and(|n| n.contains(ADDRESS)));
        form.set(FieldKey::OperatorAddress, ADDRESS);
        assert_eq!(form.note(FieldKey::OperatorAddress), None);
    }

    #[test]
    fn choice_fields_cycle_through_their_choices_and_ignore_typing() {
        let mut form = Form { focus: FieldKey::ValidatorClient as usize, ..Form::default() };
        form.type_char('x');
        form.cycle(true);
        assert_eq!(form.get(FieldKey::ValidatorClient), "teku");
        form.cycle(false);
        form.cycle(false);
        assert_eq!(form.get(FieldKey::ValidatorClient), "lodestar");
    }

    #[test]
    fn a_beacon_node_that_is_not_a_url_is_reported_with_its_text() {
        let mut form = Form::default();
        form.set(FieldKey::OperatorAddress, ADDRESS);
        form.set(FieldKey::BeaconNodes, "http://ok:5052,lighthouse:5052");
        let (label, error) = form.first_error().unwrap();
        assert_eq!(label, "Beacon nodes");
        assert!(error.contains("lighthouse:5052"), "{error}");
    }
}
