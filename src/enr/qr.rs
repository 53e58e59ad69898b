//! The ENR as a QR code made of half-block characters (two modules per
//! character cell, so modules come out square on the usual 1:2 cell), so a
//! phone can scan it off the screen into the Obol Launchpad.
//!
//! The code is an image, not decoration: its cells always carry explicit
//! black-on-white colours, whatever the terminal's theme and even under
//! NO_COLOR. Scanners expect dark modules on a light background, and a code
//! drawn in the theme's colours comes out inverted on every light theme.
//!
//! Error correction is level L, the lowest: a code shown on a screen is not
//! torn or smudged, which is what the higher levels pay for, and the smaller
//! code fits more terminals. A Charon ENR is 163 characters (byte mode), which
//! is version 8 at L: 49 modules, 57 with the quiet zone, 57x29 cells. Level M
//! would be version 9, 61x31 cells: no room left to spare on a 100x32
//! terminal's full-screen view, and two more rows on the ENR screen.

use std::sync::{Arc, Mutex};

use qrcode::{Color, EcLevel, QrCode};
use ratatui::{
    style::{Color as TermColor, Style},
    text::{Line, Span},
};

/// The quiet zone the QR standard asks for (ISO/IEC 18004), in modules.
const QUIET_ZONE: usize = 4;

/// Palette black on bright white (palette 0 on 15), the same colours the
/// wizard's `Color::Black` on `Color::White` produce.
const ANSI_DARK_ON_LIGHT: &str = "\x1b[30;107m";
const ANSI_RESET: &str = "\x1b[0m";

/// A QR code ready to draw: `lines` are all `width` cells wide.
pub struct QrLines {
    pub lines: Vec<Line<'static>>,
    pub width: u16,
    pub height: u16,
}

/// The code's rows of half-block characters, quiet zone included, to be
/// drawn with dark foreground on a light background.
fn rows(text: &str) -> Option<Vec<String>> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).ok()?;
    let size = code.width();
    let colors = code.to_colors();
    let side = size + 2 * QUIET_ZONE;
    let dark = |x: usize, y: usize| {
        let inside = (QUIET_ZONE..size + QUIET_ZONE).contains(&x) && (QUIET_ZONE..size + QUIET_ZONE).contains(&y);
        inside && colors[(y - QUIET_ZONE) * size + (x - QUIET_ZONE)] == Color::Dark
    };
    let rows = (0..side)
        .step_by(2)
        .map(|y| {
            (0..side)
                .map(|x| match (dark(x, y), dark(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                })
                .collect()
        })
        .collect();
    Some(rows)
}

/// Draws `text` as a QR code for ratatui, black on white.
pub fn render(text: &str) -> Option<QrLines> {
    let rows = rows(text)?;
    let style = Style::new().fg(TermColor::Black).bg(TermColor::White);
    let width = rows.first().map_or(0, |row| row.chars().count()) as u16;
    let lines: Vec<Line<'static>> = rows.into_iter().map(|row| Line::from(Span::styled(row, style))).collect();
    Some(QrLines { width, height: lines.len() as u16, lines })
}

/// The QR code as text for a terminal (`kubectl dv enr --qr`): one line per
/// row, each wrapped in explicit ANSI colours and reset at its end, so the
/// code is black on white on any theme and nothing bleeds into what follows.
pub fn ansi(text: &str) -> Option<String> {
    let rows = rows(text)?;
    Some(rows.iter().map(|row| format!("{ANSI_DARK_ON_LIGHT}{row}{ANSI_RESET}\n")).collect())
}

/// The last code drawn. Encoding takes about 2 ms and the ENR changes at most
/// once per install, so frames reuse the code instead of encoding it again.
#[derive(Default)]
pub struct Cache(Mutex<Option<(String, Arc<QrLines>)>>);

impl Cache {
    /// `render(text)`, encoded only when `text` changed.
    pub fn get(&self, text: &str) -> Option<Arc<QrLines>> {
        let mut last = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((cached_text, code)) = last.as_ref()
            && cached_text == text
        {
            return Some(code.clone());
        }
        let code = Arc::new(render(text)?);
        *last = Some((text.to_string(), code.clone()));
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENR: &str = "enr:-HW4QBHlcyD3fYWUMADiOv4OxODaL5wJG0a7P7d_ltu4VZe1MibZ1N-twFaoaq0BoCtXcY71etxLJGeEZT5p3XCO6GOAgmlkgnY0iXNlY3AyNTZrMaEDI2HRUlVBag__njkOWEEQRLlC9ylIVCrIXOuNBSlrx6o";

    fn text_of(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_charon_enr_is_a_57_by_29_cell_code_with_a_four_module_quiet_zone() {
        let qr = render(ENR).unwrap();
        assert_eq!((qr.width, qr.height), (57, 29), "version 8 at level L, 49 modules + 2 x 4");
        assert!(qr.lines.iter().all(|l| l.width() == 57));
        // Four modules are two cell rows at the top and bottom, four columns at each side.
        for row in [0, 1, 27, 28] {
            assert!(text_of(&qr.lines[row]).chars().all(|c| c == ' '), "row {row} is quiet");
        }
        assert_eq!(text_of(&qr.lines[2]).chars().position(|c| c != ' '), Some(4));
        assert!(qr.lines.iter().all(|l| text_of(l).ends_with("    ")));
    }

    #[test]
    fn the_code_is_black_on_white_whatever_the_theme() {
        let qr = render(ENR).unwrap();
        let expected = Style::new().fg(TermColor::Black).bg(TermColor::White);
        assert!(qr.lines.iter().flat_map(|l| &l.spans).all(|span| span.style == expected));
    }

    #[test]
    fn the_ansi_text_colours_every_line_and_resets_at_its_end() {
        let text = ansi(ENR).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 29);
        for line in lines {
            let row = line.strip_prefix(ANSI_DARK_ON_LIGHT).and_then(|l| l.strip_suffix(ANSI_RESET)).unwrap();
            assert_eq!(row.chars().count(), 57);
        }
    }

    #[test]
    fn the_cache_encodes_again_only_when_the_text_changes() {
        let cache = Cache::default();
        let first = cache.get("enr:-first").unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get("enr:-first").unwrap()));
        let other = cache.get("enr:-other").unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(other.lines != first.lines);
    }
}
