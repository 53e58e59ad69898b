//! `-o json|yaml` as kubectl spells it, with `--json` kept as an alias of
//! `-o json`. Text stays the default: it is what a person reads.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Output format: json or yaml (default: text for people).
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    output: Option<Format>,
    /// Same as -o json.
    #[arg(long, conflicts_with = "output")]
    json: bool,
}

impl OutputArgs {
    /// The machine format asked for, if any.
    pub fn format(&self) -> Option<Format> {
        if self.json { Some(Format::Json) } else { self.output }
    }
}

/// One document in `format`: JSON on one line (a stream reads one per
/// line), YAML as a `---` document (a stream is a multi-document file).
pub fn print(document: &impl Serialize, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string(document)?),
        Format::Yaml => print!("---\n{}", serde_norway::to_string(document)?),
    }
    Ok(())
}

/// [`print`] as a command's last step: exit `code` once printed.
pub fn print_then(document: &impl Serialize, format: Format, code: u8) -> ExitCode {
    match print(document, format) {
        Ok(()) => ExitCode::from(code),
        Err(e) => crate::exit::fail(format!("cannot encode the output: {e}")),
    }
}
