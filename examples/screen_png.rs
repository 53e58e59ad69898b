//! Renders one terminal screen (text with ANSI colour sequences, as
//! `tmux capture-pane -e -p` prints it) to a PNG: the README's screenshots,
//! made by `assets/pictures/make`.
//!
//! It is an example, not a binary, so it never enters the release archives.
//! It exists because the one renderer in a registry (agg, used for the
//! animation) writes only GIFs: a screenshot cut from one would carry the
//! GIF's 256-colour palette, and agg draws the QR code's half blocks with the
//! font's glyphs, whose gaps between lines keep the QR code from scanning.
//! Here block elements and box-drawing lines are exact rectangles, so the
//! QR code in a screenshot decodes like the one on screen.
//!
//! Usage: `screen-png --cols 120 --rows 36 --out screen.png < capture`;
//! `screen-png --agg-theme` prints the same colours in agg's `--theme` form.

use std::io::Read;
use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use anyhow::{Context, bail};
use image::{Rgb, RgbImage};

/// Pixels per cell: two half blocks make square QR modules (10x10).
const CELL_WIDTH: u32 = 10;
const CELL_HEIGHT: u32 = 20;
/// DejaVu Sans Mono advances 0.602 em: about one 10-pixel cell.
const FONT_PIXELS: f32 = 17.0;
/// Border lines are two pixels thick, so they survive the README's scaling.
const LINE: u32 = 2;
const FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// A dark theme: background, foreground, then the 16 ANSI colours.
const BACKGROUND: [u8; 3] = [0x12, 0x13, 0x14];
const FOREGROUND: [u8; 3] = [0xcc, 0xcc, 0xcc];
const ANSI: [[u8; 3]; 16] = [
    [0x00, 0x00, 0x00],
    [0xdd, 0x3c, 0x69],
    [0x4e, 0xbf, 0x22],
    [0xdd, 0xaf, 0x3c],
    [0x26, 0xb0, 0xd7],
    [0xb9, 0x54, 0xe1],
    [0x54, 0xe1, 0xb9],
    [0xd9, 0xd9, 0xd9],
    [0x76, 0x76, 0x76],
    [0xdd, 0x3c, 0x69],
    [0x4e, 0xbf, 0x22],
    [0xdd, 0xaf, 0x3c],
    [0x26, 0xb0, 0xd7],
    [0xb9, 0x54, 0xe1],
    [0x54, 0xe1, 0xb9],
    [0xff, 0xff, 0xff],
];

fn main() -> anyhow::Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    let Some(out) = args.out else {
        println!("{}", agg_theme());
        return Ok(());
    };
    let mut capture = Vec::new();
    std::io::stdin().read_to_end(&mut capture).context("reading the screen capture from stdin")?;
    let fonts = Fonts::load(&args.font_dir)?;
    let screen = parse_capture(&capture, args.rows, args.cols);
    render(&screen, &fonts).save(&out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

struct Args {
    rows: u16,
    cols: u16,
    out: Option<PathBuf>,
    font_dir: PathBuf,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
        let mut parsed = Args { rows: 36, cols: 120, out: None, font_dir: FONT_DIR.into() };
        let mut agg_theme = false;
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--rows" => parsed.rows = value()?.parse().context("--rows")?,
                "--cols" => parsed.cols = value()?.parse().context("--cols")?,
                "--out" => parsed.out = Some(value()?.into()),
                "--font-dir" => parsed.font_dir = value()?.into(),
                "--agg-theme" => agg_theme = true,
                other => bail!("unknown argument {other}; usage: screen-png --cols C --rows R --out FILE < capture"),
            }
        }
        if agg_theme == parsed.out.is_some() {
            bail!("give either --out FILE (render stdin) or --agg-theme");
        }
        Ok(parsed)
    }
}

/// agg's custom theme: background, foreground and the 16 colours, in hex.
fn agg_theme() -> String {
    let hex = |c: &[u8; 3]| format!("{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
    [BACKGROUND, FOREGROUND].iter().chain(ANSI.iter()).map(hex).collect::<Vec<_>>().join(",")
}

/// tmux prints one screen line per text line, so each line break becomes
/// CR LF and the last one is dropped (it would scroll the screen).
fn parse_capture(capture: &[u8], rows: u16, cols: u16) -> vt100::Screen {
    let text = capture.strip_suffix(b"\n").unwrap_or(capture);
    let mut bytes = Vec::with_capacity(text.len() + usize::from(rows) * 2);
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            bytes.extend_from_slice(b"\x1b[0m\r\n");
        }
        bytes.extend_from_slice(line);
    }
    let mut parser = vt100::Parser::new(rows, cols, 0);
    parser.process(&bytes);
    parser.screen().clone()
}

struct Fonts {
    regular: FontVec,
    bold: FontVec,
    /// For symbols the monospaced face lacks.
    fallback: FontVec,
}

impl Fonts {
    fn load(dir: &Path) -> anyhow::Result<Fonts> {
        let load = |name: &str| -> anyhow::Result<FontVec> {
            let path = dir.join(name);
            let data = std::fs::read(&path)
                .with_context(|| format!("reading {} (Debian: apt-get install fonts-dejavu-core)", path.display()))?;
            FontVec::try_from_vec(data).with_context(|| format!("{} is not a font", path.display()))
        };
        Ok(Fonts {
            regular: load("DejaVuSansMono.ttf")?,
            bold: load("DejaVuSansMono-Bold.ttf")?,
            fallback: load("DejaVuSans.ttf")?,
        })
    }

    fn for_char(&self, c: char, bold: bool) -> &FontVec {
        let face = if bold { &self.bold } else { &self.regular };
        if face.glyph_id(c).0 != 0 { face } else { &self.fallback }
    }
}

fn render(screen: &vt100::Screen, fonts: &Fonts) -> RgbImage {
    let (rows, cols) = screen.size();
    let mut image = RgbImage::from_pixel(u32::from(cols) * CELL_WIDTH, u32::from(rows) * CELL_HEIGHT, Rgb(BACKGROUND));
    for row in 0..rows {
        for col in 0..cols {
            let Some(cell) = screen.cell(row, col) else { continue };
            if cell.is_wide_continuation() {
                continue;
            }
            let (mut fg, mut bg) = (colour(cell.fgcolor(), FOREGROUND), colour(cell.bgcolor(), BACKGROUND));
            if cell.inverse() {
                (fg, bg) = (bg, fg);
            }
            let width = if cell.is_wide() { 2 } else { 1 };
            let area = Area { x: u32::from(col) * CELL_WIDTH, y: u32::from(row) * CELL_HEIGHT, cells: width };
            fill(&mut image, &area, 0.0..1.0, 0.0..1.0, bg);
            // Combining marks after the first character are not drawn.
            if let Some(c) = cell.contents().chars().next()
                && !draw_block(&mut image, &area, c, fg, bg)
                && !draw_box_line(&mut image, &area, c, fg)
            {
                draw_glyph(&mut image, &area, fonts.for_char(c, cell.bold()), c, fg);
            }
        }
    }
    image
}

fn colour(colour: vt100::Color, default: [u8; 3]) -> Rgb<u8> {
    Rgb(match colour {
        vt100::Color::Default => default,
        vt100::Color::Idx(i) if i < 16 => ANSI[usize::from(i)],
        vt100::Color::Idx(i) if i >= 232 => [8 + 10 * (i - 232); 3],
        vt100::Color::Idx(i) => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let i = i - 16;
            [level(i / 36), level(i / 6 % 6), level(i % 6)]
        }
        vt100::Color::Rgb(r, g, b) => [r, g, b],
    })
}

/// A cell's (or a wide character's two cells') pixels.
struct Area {
    x: u32,
    y: u32,
    cells: u32,
}

impl Area {
    fn width(&self) -> u32 {
        CELL_WIDTH * self.cells
    }
}

/// Fills the part of an area between the given fractions of its width and
/// height, rounded to whole pixels so neighbouring blocks meet exactly.
fn fill(image: &mut RgbImage, area: &Area, xs: std::ops::Range<f32>, ys: std::ops::Range<f32>, colour: Rgb<u8>) {
    let at = |fraction: f32, size: u32| (fraction * size as f32).round() as u32;
    for y in at(ys.start, CELL_HEIGHT)..at(ys.end, CELL_HEIGHT) {
        for x in at(xs.start, area.width())..at(xs.end, area.width()) {
            image.put_pixel(area.x + x, area.y + y, colour);
        }
    }
}

/// Block elements (U+2580..U+259F) as rectangles; false for other characters.
fn draw_block(image: &mut RgbImage, area: &Area, c: char, fg: Rgb<u8>, bg: Rgb<u8>) -> bool {
    let eighths = |n: u32| n as f32 / 8.0;
    match u32::from(c) {
        0x2580 => fill(image, area, 0.0..1.0, 0.0..0.5, fg),
        n @ 0x2581..=0x2588 => fill(image, area, 0.0..1.0, 1.0 - eighths(n - 0x2580)..1.0, fg),
        n @ 0x2589..=0x258f => fill(image, area, 0.0..eighths(0x2590 - n), 0.0..1.0, fg),
        0x2590 => fill(image, area, 0.5..1.0, 0.0..1.0, fg),
        n @ 0x2591..=0x2593 => fill(image, area, 0.0..1.0, 0.0..1.0, blend(bg, fg, (n - 0x2590) as f32 / 4.0)),
        0x2594 => fill(image, area, 0.0..1.0, 0.0..eighths(1), fg),
        0x2595 => fill(image, area, 1.0 - eighths(1)..1.0, 0.0..1.0, fg),
        n @ 0x2596..=0x259f => {
            // Quadrants, as bits: upper left, upper right, lower left, lower right.
            const QUADRANTS: [u8; 10] =
                [0b0010, 0b0001, 0b1000, 0b1011, 0b1001, 0b1110, 0b1101, 0b0100, 0b0110, 0b0111];
            let bits = QUADRANTS[(n - 0x2596) as usize];
            for (bit, xs, ys) in
                [(0b1000, 0.0..0.5, 0.0..0.5), (0b0100, 0.5..1.0, 0.0..0.5), (0b0010, 0.0..0.5, 0.5..1.0)]
                    .into_iter()
                    .chain([(0b0001, 0.5..1.0, 0.5..1.0)])
            {
                if bits & bit != 0 {
                    fill(image, area, xs, ys, fg);
                }
            }
        }
        _ => return false,
    }
    true
}

/// Light box-drawing lines (borders) as lines through the cell's centre, so
/// borders join across cells; false for other characters.
fn draw_box_line(image: &mut RgbImage, area: &Area, c: char, fg: Rgb<u8>) -> bool {
    // Arms: left, right, up, down.
    let arms = match c {
        '─' => [true, true, false, false],
        '│' => [false, false, true, true],
        '┌' | '╭' => [false, true, false, true],
        '┐' | '╮' => [true, false, false, true],
        '└' | '╰' => [false, true, true, false],
        '┘' | '╯' => [true, false, true, false],
        '├' => [false, true, true, true],
        '┤' => [true, false, true, true],
        '┬' => [true, true, false, true],
        '┴' => [true, true, true, false],
        '┼' => [true; 4],
        _ => return false,
    };
    // The lines' bands: from (cx, cy) - LINE / 2, LINE pixels wide.
    let (cx, cy) = (area.width() / 2 - LINE / 2, CELL_HEIGHT / 2 - LINE / 2);
    let mut band = |xs: std::ops::Range<u32>, ys: std::ops::Range<u32>| {
        for y in ys {
            xs.clone().for_each(|x| image.put_pixel(area.x + x, area.y + y, fg));
        }
    };
    if arms[0] {
        band(0..cx + LINE, cy..cy + LINE);
    }
    if arms[1] {
        band(cx..area.width(), cy..cy + LINE);
    }
    if arms[2] {
        band(cx..cx + LINE, 0..cy + LINE);
    }
    if arms[3] {
        band(cx..cx + LINE, cy..CELL_HEIGHT);
    }
    true
}

fn draw_glyph(image: &mut RgbImage, area: &Area, font: &FontVec, c: char, fg: Rgb<u8>) {
    let scaled = font.as_scaled(PxScale::from(FONT_PIXELS));
    let baseline = (CELL_HEIGHT as f32 - (scaled.ascent() - scaled.descent())) / 2.0 + scaled.ascent();
    let mut glyph = scaled.scaled_glyph(c);
    let offset = (area.width() as f32 - scaled.h_advance(glyph.id)).max(0.0) / 2.0;
    glyph.position = ab_glyph::point(area.x as f32 + offset, area.y as f32 + baseline);
    let Some(outline) = font.outline_glyph(glyph) else { return };
    let bounds = outline.px_bounds();
    outline.draw(|gx, gy, coverage| {
        let (x, y) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
        let inside = |v: i64, start: u32, size: u32| v >= i64::from(start) && v < i64::from(start + size);
        if inside(x, area.x, area.width()) && inside(y, area.y, CELL_HEIGHT) {
            let pixel = image.get_pixel_mut(x as u32, y as u32);
            *pixel = blend(*pixel, fg, coverage);
        }
    });
}

fn blend(under: Rgb<u8>, over: Rgb<u8>, amount: f32) -> Rgb<u8> {
    let mix = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * amount.clamp(0.0, 1.0)).round() as u8;
    Rgb([mix(under[0], over[0]), mix(under[1], over[1]), mix(under[2], over[2])])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(bytes: &str, rows: u16, cols: u16) -> vt100::Screen {
        parse_capture(bytes.as_bytes(), rows, cols)
    }

    fn fonts() -> Fonts {
        Fonts::load(Path::new(FONT_DIR)).expect("DejaVu fonts (fonts-dejavu-core)")
    }

    fn cell_pixels(image: &RgbImage, row: u32, col: u32) -> Vec<Rgb<u8>> {
        let (x0, y0) = (col * CELL_WIDTH, row * CELL_HEIGHT);
        (y0..y0 + CELL_HEIGHT).flat_map(|y| (x0..x0 + CELL_WIDTH).map(move |x| *image.get_pixel(x, y))).collect()
    }

    #[test]
    fn the_image_is_the_grid_size_times_the_cell_size() {
        let image = render(&screen("", 36, 120), &fonts());
        assert_eq!(image.dimensions(), (1200, 720));
    }

    #[test]
    fn a_background_colour_fills_exactly_its_cell() {
        let image = render(&screen("\x1b[41m \x1b[0m \x1b[48;2;1;2;3m ", 1, 4), &fonts());
        assert!(cell_pixels(&image, 0, 0).iter().all(|p| *p == Rgb(ANSI[1])));
        assert!(cell_pixels(&image, 0, 1).iter().all(|p| *p == Rgb(BACKGROUND)));
        assert!(cell_pixels(&image, 0, 2).iter().all(|p| *p == Rgb([1, 2, 3])));
        assert!(cell_pixels(&image, 0, 3).iter().all(|p| *p == Rgb(BACKGROUND)));
    }

    #[test]
    fn each_capture_line_lands_on_its_own_row() {
        let image = render(&screen("\x1b[42m \n\n\x1b[44m \n", 3, 2), &fonts());
        assert!(cell_pixels(&image, 0, 0).iter().all(|p| *p == Rgb(ANSI[2])));
        assert!(cell_pixels(&image, 1, 0).iter().all(|p| *p == Rgb(BACKGROUND)));
        assert!(cell_pixels(&image, 2, 0).iter().all(|p| *p == Rgb(ANSI[4])));
    }

    #[test]
    fn half_blocks_fill_exactly_their_half_of_the_cell() {
        let image = render(&screen("\x1b[30;47m▀▄\x1b[7m▀", 1, 3), &fonts());
        let (dark, light) = (Rgb(ANSI[0]), Rgb(ANSI[7]));
        for (col, top, bottom) in [(0, dark, light), (1, light, dark), (2, light, dark)] {
            let pixels = cell_pixels(&image, 0, col);
            let (upper, lower) = pixels.split_at(pixels.len() / 2);
            assert!(upper.iter().all(|p| *p == top), "upper half of cell {col}");
            assert!(lower.iter().all(|p| *p == bottom), "lower half of cell {col}");
        }
    }

    #[test]
    fn a_border_line_runs_through_the_middle_of_every_cell_it_crosses() {
        let image = render(&screen("┌──┐", 1, 4), &fonts());
        let (fg, bg) = (Rgb(FOREGROUND), Rgb(BACKGROUND));
        // The corners' vertical lines occupy x 4..6 of their cells, the
        // horizontal line y 9..11 of the row.
        for y in 9..11 {
            assert!((4..4 * CELL_WIDTH - 4).all(|x| *image.get_pixel(x, y) == fg), "row {y}");
            assert!((0..4).chain(4 * CELL_WIDTH - 4..4 * CELL_WIDTH).all(|x| *image.get_pixel(x, y) == bg), "row {y}");
        }
        for x in [4, 5, 4 * CELL_WIDTH - 6, 4 * CELL_WIDTH - 5] {
            assert!((9..CELL_HEIGHT).all(|y| *image.get_pixel(x, y) == fg), "column {x}");
            assert!((0..9).all(|y| *image.get_pixel(x, y) == bg), "column {x}");
        }
        assert!((0..CELL_HEIGHT).all(|y| *image.get_pixel(3, y) == bg));
    }

    #[test]
    fn a_letter_is_drawn_in_its_colour_inside_its_own_cell() {
        let image = render(&screen(" \x1b[32mW ", 1, 3), &fonts());
        let lit = |col| cell_pixels(&image, 0, col).iter().filter(|p| **p != Rgb(BACKGROUND)).count();
        assert_eq!((lit(0), lit(2)), (0, 0));
        assert!(lit(1) > 20, "W has {} lit pixels", lit(1));
        assert!(cell_pixels(&image, 0, 1).contains(&Rgb(ANSI[2])));
    }

    #[test]
    fn the_agg_theme_lists_background_foreground_and_sixteen_colours() {
        let theme = agg_theme();
        assert_eq!(theme.split(',').count(), 18);
        assert!(theme.starts_with("121314,cccccc,000000,dd3c69,"), "{theme}");
    }

    /// Two rows of QR modules per text row, dark modules black on white,
    /// with the standard's 4-module quiet zone.
    fn half_block_qr(text: &str) -> String {
        let code = qrcode::QrCode::new(text.as_bytes()).expect("QR code");
        let width = code.width();
        let quiet = 4;
        let dark = |x: usize, y: usize| {
            x >= quiet
                && y >= quiet
                && x < width + quiet
                && y < width + quiet
                && code[(x - quiet, y - quiet)] == qrcode::Color::Dark
        };
        let mut out = String::new();
        for y in (0..width + 2 * quiet).step_by(2) {
            out.push_str("\x1b[30;47m");
            for x in 0..width + 2 * quiet {
                out.push(match (dark(x, y), dark(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push_str("\x1b[0m\n");
        }
        out
    }

    #[test]
    fn a_qr_code_drawn_with_half_blocks_scans_in_the_picture() {
        let enr = "enr:-HW4QNDatKaTt-zO5psXOI_EkhNw9Ia1WVdPlIGJigUbvNNYCdH-pBNVZeLCokAyawwufygIJ7qdQBujmIKGhwTYl1yAgmlkgnY0iXNlY3AyNTZrMaED1MgcuTxqBj0uqYb_ojgS7DGSUanE7oi0k8v9-rSEb9o";
        let image = render(&screen(&half_block_qr(enr), 36, 120), &fonts());
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("qr.png");
        image.save(&path).expect("PNG written");
        let zbar =
            std::process::Command::new("zbarimg").args(["--raw", "-q"]).arg(&path).output().expect("zbarimg runs");
        assert!(zbar.status.success(), "zbarimg found no code: {}", String::from_utf8_lossy(&zbar.stderr));
        assert_eq!(String::from_utf8_lossy(&zbar.stdout).trim_end(), enr);
    }
}
