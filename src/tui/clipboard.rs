//! Copying the ENR: the system clipboard through arboard, or, where there is
//! none (SSH, a bare console), the terminal's own clipboard via OSC 52.

use std::io::Write;

use base64::Engine;

/// Copies `text` and says how, for the wizard's notice line.
pub fn copy(text: &str) -> String {
    match arboard::Clipboard::new().and_then(|mut clipboard| clipboard.set_text(text)) {
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
