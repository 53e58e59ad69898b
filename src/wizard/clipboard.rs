//! Copying the ENR: the system clipboard through arboard, or, where there is
//! none (SSH, a bare console), the terminal's own clipboard via OSC 52.

use std::io::Write;

use base64::Engine;

/// The wizard's clipboard. The system clipboard handle lives as long as the
/// wizard: on X11 without a clipboard manager, what was copied is gone once
/// the handle that set it is dropped.
#[derive(Default)]
pub struct Clipboard {
    system: Option<arboard::Clipboard>,
}

impl Clipboard {
    /// Copies `text` and says how, for the wizard's notice line.
    pub fn copy(&mut self, text: &str) -> String {
        let copied = match &mut self.system {
            Some(system) => system.set_text(text),
            None => arboard::Clipboard::new().and_then(|mut system| {
                system.set_text(text)?;
                self.system = Some(system);
                Ok(())
            }),
        };
        match copied {
            Ok(()) => "ENR copied to the clipboard.".into(),
            Err(error) => {
                tracing::info!(%error, "no system clipboard; trying OSC 52");
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                let mut stdout = std::io::stdout();
                let sent = write!(stdout, "\x1b]52;c;{encoded}\x07").and_then(|()| stdout.flush());
                match sent {
                    Ok(()) => "No system clipboard here (SSH?); sent the ENR to the terminal's clipboard (OSC 52). \
                               If your terminal ignores that, select the ENR text."
                        .into(),
                    Err(_) => "No clipboard available: select the ENR text to copy it.".into(),
                }
            }
        }
    }
}
