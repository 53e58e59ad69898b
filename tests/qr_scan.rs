//! The ENR's QR code scans: the wizard's ENR screen and its full-screen view,
//! and `kubectl dv enr --qr`, are turned into the picture a terminal shows
//! on a dark and on a light theme, with colour and under NO_COLOR, and zbar
//! (`zbarimg`, Debian's zbar-tools) must read the ENR back from it.
//!
//! Each character cell becomes 4x8 pixels. Half blocks paint their halves
//! with the cell's foreground and background; any other character is drawn
//! as a blob of foreground, so text around the code is noise as on a screen.
//! `Color::Reset` is the theme's own colour, which is what makes a code drawn
//! in the theme's colours come out inverted on one of the two themes.

use std::{io::Write, os::unix::fs::PermissionsExt, path::Path, process::Command};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dv_pod::{
    enr::EnrPrivateKey,
    wizard::{
        app::{App, Mode, Screen},
        screens,
        values::Form,
    },
};
use ratatui::{Terminal, backend::TestBackend, buffer::Buffer, style::Color, style::Modifier};

const CELL_WIDTH: usize = 4;
const CELL_HEIGHT: usize = 8;

/// A terminal theme: the grey levels `Color::Reset` stands for.
#[derive(Debug, Clone, Copy)]
struct Theme {
    name: &'static str,
    fg: u8,
    bg: u8,
}

const DARK: Theme = Theme { name: "dark", fg: 255, bg: 0 };
const LIGHT: Theme = Theme { name: "light", fg: 0, bg: 255 };

/// One character cell as the terminal shows it.
#[derive(Clone, Copy)]
struct Cell {
    symbol: char,
    fg: u8,
    bg: u8,
}

/// xterm's 16-colour palette as grey levels (ITU-R BT.601 luma).
fn palette(index: u8) -> u8 {
    const RGB: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    let (r, g, b) = RGB[index as usize % 16];
    luma(r, g, b)
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32) / 1000) as u8
}

fn indexed(index: u8) -> u8 {
    match index {
        0..=15 => palette(index),
        16..=231 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let i = index - 16;
            luma(level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        _ => 8 + 10 * (index - 232),
    }
}

fn grey(color: Color, default: u8) -> u8 {
    match color {
        Color::Reset => default,
        Color::Black => palette(0),
        Color::Red => palette(1),
        Color::Green => palette(2),
        Color::Yellow => palette(3),
        Color::Blue => palette(4),
        Color::Magenta => palette(5),
        Color::Cyan => palette(6),
        Color::Gray => palette(7),
        Color::DarkGray => palette(8),
        Color::LightRed => palette(9),
        Color::LightGreen => palette(10),
        Color::LightYellow => palette(11),
        Color::LightBlue => palette(12),
        Color::LightMagenta => palette(13),
        Color::LightCyan => palette(14),
        Color::White => palette(15),
        Color::Indexed(index) => indexed(index),
        Color::Rgb(r, g, b) => luma(r, g, b),
    }
}

/// The cells of a ratatui buffer, colours resolved against `theme`.
fn buffer_cells(buffer: &Buffer, theme: Theme) -> Vec<Vec<Cell>> {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| {
                    let cell = &buffer[(x, y)];
                    let (mut fg, mut bg) = (grey(cell.fg, theme.fg), grey(cell.bg, theme.bg));
                    if cell.modifier.contains(Modifier::REVERSED) {
                        std::mem::swap(&mut fg, &mut bg);
                    }
                    Cell { symbol: cell.symbol().chars().next().unwrap_or(' '), fg, bg }
                })
                .collect()
        })
        .collect()
}

/// The picture of `cells` as a binary PGM.
fn pgm(cells: &[Vec<Cell>]) -> Vec<u8> {
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let (width, height) = (columns * CELL_WIDTH, cells.len() * CELL_HEIGHT);
    let mut pixels = vec![0u8; width * height];
    for (row, line) in cells.iter().enumerate() {
        for (column, cell) in line.iter().enumerate() {
            for dy in 0..CELL_HEIGHT {
                for dx in 0..CELL_WIDTH {
                    let top = dy < CELL_HEIGHT / 2;
                    let foreground = match cell.symbol {
                        '█' => true,
                        '▀' => top,
                        '▄' => !top,
                        ' ' => false,
                        _ => (1..CELL_WIDTH).contains(&dx) && (2..CELL_HEIGHT - 1).contains(&dy),
                    };
                    let at = (row * CELL_HEIGHT + dy) * width + column * CELL_WIDTH + dx;
                    pixels[at] = if foreground { cell.fg } else { cell.bg };
                }
            }
        }
    }
    let mut image = format!("P5\n{width} {height}\n255\n").into_bytes();
    image.extend_from_slice(&pixels);
    image
}

/// What zbar reads from `cells`: one decoded text per symbol found.
fn scan(cells: &[Vec<Cell>], label: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}.pgm", label.replace(' ', "_")));
    std::fs::write(&path, pgm(cells)).unwrap();
    let output = match Command::new("zbarimg").args(["--raw", "-q"]).arg(&path).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("zbarimg is not installed; install it with `apt-get install zbar-tools` (this test needs it)")
        }
        Err(e) => panic!("running zbarimg: {e}"),
    };
    // zbarimg exits 4 when the picture holds no code at all.
    assert!(
        matches!(output.status.code(), Some(0 | 4)),
        "zbarimg failed on {label}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect()
}

fn assert_scans_as(cells: &[Vec<Cell>], enr: &str, label: &str) {
    let decoded = scan(cells, label);
    assert_eq!(decoded, vec![enr.to_string()], "{label}: zbar read {decoded:?}");
    assert_light_quiet_zone(cells, label);
}

/// The standard's quiet zone, 4 modules, is light all around the code as
/// the picture shows it: 4 cells left and right, 2 cell rows (of two
/// modules each) above and below. zbar reads codes with less, phones may not.
fn assert_light_quiet_zone(cells: &[Vec<Cell>], label: &str) {
    let blocks: Vec<(usize, usize)> = cells
        .iter()
        .enumerate()
        .flat_map(|(y, row)| row.iter().enumerate().map(move |(x, cell)| (x, y, cell.symbol)))
        .filter(|(_, _, symbol)| matches!(symbol, '█' | '▀' | '▄'))
        .map(|(x, y, _)| (x, y))
        .collect();
    let (left, right) = (blocks.iter().map(|b| b.0).min().unwrap(), blocks.iter().map(|b| b.0).max().unwrap());
    let (top, bottom) = (blocks.iter().map(|b| b.1).min().unwrap(), blocks.iter().map(|b| b.1).max().unwrap());
    assert!(
        left >= 4 && top >= 2 && bottom + 2 < cells.len(),
        "{label}: no room for a 4-module quiet zone around the code"
    );
    for (y, row) in cells.iter().enumerate().take(bottom + 3).skip(top - 2) {
        for x in left - 4..=right + 4 {
            let band = y < top || y > bottom || x < left || x > right;
            let cell = row.get(x).copied().unwrap_or(Cell { symbol: '?', fg: 0, bg: 0 });
            assert!(
                !band || (cell.symbol == ' ' && cell.bg > 127),
                "{label}: cell {x},{y} of the quiet zone is not light ({:?}, background {})",
                cell.symbol,
                cell.bg
            );
        }
    }
}

fn enr() -> String {
    EnrPrivateKey::generate().unwrap().record().text().to_string()
}

fn wizard(enr: &str, color: bool) -> App {
    let mut app = App::new(Mode::Cluster, Form::default(), "dv-pod", "validators", "values.yaml".into());
    app.color = color;
    app.screen = Screen::Enr;
    app.enr = Some(enr.to_string());
    app
}

fn draw(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| screens::draw(frame, app)).unwrap();
    terminal.backend().buffer().clone()
}

fn text_of(buffer: &Buffer) -> String {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| (area.left()..area.right()).map(|x| buffer[(x, y)].symbol()).collect::<String>() + "\n")
        .collect()
}

fn every_theme_and_colour() -> impl Iterator<Item = (Theme, bool)> {
    [DARK, LIGHT].into_iter().flat_map(|theme| [(theme, true), (theme, false)])
}

#[test]
fn the_enr_screen_code_scans_as_the_enr_on_both_themes_with_and_without_colour() {
    let enr = enr();
    for (theme, color) in every_theme_and_colour() {
        let buffer = draw(&wizard(&enr, color), 120, 40);
        let label = format!("ENR screen 120x40 {} theme colour {color}", theme.name);
        assert_scans_as(&buffer_cells(&buffer, theme), &enr, &label);
    }
}

#[test]
fn the_full_screen_code_scans_as_the_enr_from_100x32_up_on_both_themes_with_and_without_colour() {
    let enr = enr();
    for (theme, color) in every_theme_and_colour() {
        let mut app = wizard(&enr, color);
        app.on_key(KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE));
        for (width, height) in [(100, 32), (120, 40)] {
            let buffer = draw(&app, width, height);
            let label = format!("full screen {width}x{height} {} theme colour {color}", theme.name);
            assert_scans_as(&buffer_cells(&buffer, theme), &enr, &label);
        }
    }
}

#[test]
fn on_100x32_the_enr_screen_draws_no_cut_code_and_names_the_full_screen_key() {
    let enr = enr();
    let buffer = draw(&wizard(&enr, true), 100, 32);
    assert!(scan(&buffer_cells(&buffer, LIGHT), "ENR screen 100x32").is_empty(), "no code, cut or whole");
    let text = text_of(&buffer);
    assert!(text.contains("press z to show it full screen"), "{text}");
    assert!(!text.contains('▀') && !text.contains('▄'), "no part of a code is drawn:\n{text}");
}

#[test]
fn the_enr_text_sits_on_rows_of_its_own_without_border_characters() {
    let enr = enr();
    for (width, height) in [(100, 32), (120, 40)] {
        let text = text_of(&draw(&wizard(&enr, true), width, height));
        let rows: Vec<&str> = text.lines().collect();
        let first = rows.iter().position(|row| row.starts_with("enr:-")).expect("the ENR starts a row");
        let pieces: Vec<&[u8]> = enr.as_bytes().chunks(width as usize).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let row = rows[first + i].trim_end();
            assert_eq!(row.as_bytes(), *piece, "{width}x{height}: row {} holds only the ENR\n{text}", first + i);
        }
        assert!(rows[first + pieces.len()].trim().is_empty(), "{width}x{height}: nothing follows the ENR\n{text}");
    }
}

/// The cells a terminal `width` columns wide shows for `text` with ANSI SGR
/// colours (the codes `enr::qr::ansi` and ordinary programs use).
fn terminal_cells(text: &str, width: usize, theme: Theme) -> Vec<Vec<Cell>> {
    let (mut fg, mut bg) = (theme.fg, theme.bg);
    let mut rows = vec![Vec::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                assert_eq!(chars.next(), Some('['), "only SGR sequences are expected");
                let mut parameters = String::new();
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                    assert!(c.is_ascii_digit() || c == ';', "unexpected escape sequence in {text:?}");
                    parameters.push(c);
                }
                apply_sgr(&parameters, theme, &mut fg, &mut bg);
            }
            '\n' => rows.push(Vec::new()),
            _ => {
                if rows.last().unwrap().len() == width {
                    rows.push(Vec::new());
                }
                rows.last_mut().unwrap().push(Cell { symbol: c, fg, bg });
            }
        }
    }
    // The rest of each row is the terminal's background.
    for row in &mut rows {
        row.resize(width, Cell { symbol: ' ', fg: theme.fg, bg: theme.bg });
    }
    rows
}

fn apply_sgr(parameters: &str, theme: Theme, fg: &mut u8, bg: &mut u8) {
    let codes: Vec<u16> = parameters.split(';').map(|p| if p.is_empty() { 0 } else { p.parse().unwrap() }).collect();
    let mut codes = codes.into_iter();
    while let Some(code) = codes.next() {
        match code {
            0 => (*fg, *bg) = (theme.fg, theme.bg),
            30..=37 => *fg = palette(code as u8 - 30),
            90..=97 => *fg = palette(code as u8 - 90 + 8),
            39 => *fg = theme.fg,
            40..=47 => *bg = palette(code as u8 - 40),
            100..=107 => *bg = palette(code as u8 - 100 + 8),
            49 => *bg = theme.bg,
            38 | 48 => {
                let level = match codes.next() {
                    Some(5) => indexed(codes.next().unwrap() as u8),
                    Some(2) => {
                        let mut channel = || codes.next().unwrap() as u8;
                        luma(channel(), channel(), channel())
                    }
                    other => panic!("unexpected colour form {other:?}"),
                };
                if code == 38 { *fg = level } else { *bg = level }
            }
            other => panic!("unexpected SGR code {other}"),
        }
    }
}

#[test]
fn kubectl_dv_enr_qr_prints_a_code_that_scans_as_the_enr_on_both_themes_with_and_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("charon-enr-private-key");
    let key = EnrPrivateKey::generate().unwrap();
    write_key_as_charon_accepts_it(&path, &key);
    let enr = key.record().text().to_string();
    for no_color in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-dv"));
        command.args(["enr", "--qr", "--key-file"]).arg(&path).env_remove("NO_COLOR");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().next(), Some(enr.as_str()), "the ENR comes first, as text");
        for theme in [DARK, LIGHT] {
            let label = format!("kubectl dv enr --qr {} theme NO_COLOR {no_color}", theme.name);
            assert_scans_as(&terminal_cells(&stdout, 100, theme), &enr, &label);
        }
    }
}

/// A key file as an operator may have it: a trailing newline and mode 0644,
/// both of which Charon reads.
fn write_key_as_charon_accepts_it(path: &Path, key: &EnrPrivateKey) {
    let mut file = std::fs::File::create(path).unwrap();
    writeln!(file, "{}", *key.to_charon_hex()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}
