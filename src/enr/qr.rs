//! The ENR as a QR code made of half-block characters (two modules per
//! character cell), with a quiet zone, so a phone can scan it off the screen
//! into the Obol Launchpad.

use std::sync::{Arc, Mutex};

use qrcode::{Color, EcLevel, QrCode};
use ratatui::{
    style::{Color as TermColor, Style},
    text::{Line, Span},
};

const QUIET_ZONE: usize = 2;

/// A QR code ready to draw: `lines` are all `width` cells wide.
pub struct QrLines {
    pub lines: Vec<Line<'static>>,
    pub width: u16,
    pub height: u16,
}

/// Draws `text` as a QR code. With colour, modules are painted black on
/// white whatever the terminal's theme; without colour (NO_COLOR), light
/// modules are drawn as blocks, which scans correctly on the usual
/// light-on-dark terminal.
pub fn render(text: &str, color: bool) -> Option<QrLines> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).ok()?;
    let size = code.width();
    let colors = code.to_colors();
    let side = size + 2 * QUIET_ZONE;
    let dark = |x: usize, y: usize| {
        x >= QUIET_ZONE
            && y >= QUIET_ZONE
            && x < size + QUIET_ZONE
            && y < size + QUIET_ZONE
            && colors[(y - QUIET_ZONE) * size + (x - QUIET_ZONE)] == Color::Dark
    };
    let mut lines = Vec::new();
    for row in (0..side).step_by(2) {
        let cells: String = (0..side)
            .map(|x| {
                let top = dark(x, row);
                let bottom = row + 1 < side && dark(x, row + 1);
                let (top, bottom) = if color { (top, bottom) } else { (!top, !(bottom || row + 1 >= side)) };
                match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                }
            })
            .collect();
        let style = if color { Style::new().fg(TermColor::Black).bg(TermColor::White) } else { Style::new() };
        lines.push(Line::from(Span::styled(cells, style)));
    }
    Some(QrLines { width: side as u16, height: lines.len() as u16, lines })
}

/// The last code drawn. Encoding takes about 2 ms and the ENR changes at most
/// once per install, so frames reuse the code instead of encoding it again.
#[derive(Default)]
pub struct Cache(Mutex<Option<(String, bool, Arc<QrLines>)>>);

impl Cache {
    /// `render(text, color)`, encoded only when `text` or `color` changed.
    pub fn get(&self, text: &str, color: bool) -> Option<Arc<QrLines>> {
        let mut last = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((cached_text, cached_color, code)) = last.as_ref()
            && cached_text == text
            && *cached_color == color
        {
            return Some(code.clone());
        }
        let code = Arc::new(render(text, color)?);
        *last = Some((text.to_string(), color, code.clone()));
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enr_becomes_a_square_code_with_a_quiet_zone() {
        let enr = "enr:-HW4QBHlcyD3fYWUMADiOv4OxODaL5wJG0a7P7d_ltu4VZe1MibZ1N-twFaoaq0BoCtXcY71etxLJGeEZT5p3XCO6GOAgmlkgnY0iXNlY3AyNTZrMaEDI2HRUlVBag__njkOWEEQRLlC9ylIVCrIXOuNBSlrx6o";
        let qr = render(enr, true).unwrap();
        assert_eq!(qr.height as usize, (qr.width as usize).div_ceil(2));
        assert!(qr.lines.iter().all(|l| l.width() == qr.width as usize));
        let first: String = qr.lines[0].spans.iter().map(|s| s.content.as_ref()).collect();
        assert!(first.trim().is_empty(), "the quiet zone is blank");
    }

    #[test]
    fn the_cache_encodes_again_only_when_the_text_or_colour_changes() {
        let cache = Cache::default();
        let first = cache.get("enr:-first", true).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get("enr:-first", true).unwrap()));
        assert!(!Arc::ptr_eq(&first, &cache.get("enr:-first", false).unwrap()));
        let other = cache.get("enr:-other", false).unwrap();
        assert!(other.lines != first.lines);
    }
}
