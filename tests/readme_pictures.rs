//! The README's pictures are real files made by the script it names, at the
//! size of the terminal they were recorded in. Cheap: reads the committed
//! files, never runs the demo (`make pictures` does).

use std::path::{Path, PathBuf};

use image::AnimationDecoder;

/// examples/screen_png.rs draws every terminal cell in 10x20 pixels.
const CELL: (u32, u32) = (10, 20);
const MIB: u64 = 1024 * 1024;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md")
}

/// Every `assets/pictures/...` path the README mentions, in order.
fn pictures_in_readme() -> Vec<String> {
    let readme = readme();
    let mut found: Vec<String> = readme
        .match_indices("assets/pictures/")
        .map(|(at, _)| {
            let rest = &readme[at..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || "._/-".contains(c))).unwrap_or(rest.len());
            rest[..end].trim_end_matches('.').to_string()
        })
        .filter(|path| path.ends_with(".png") || path.ends_with(".gif"))
        .collect();
    found.dedup();
    found
}

/// The terminal size in the recording's header (asciicast v2).
fn recorded_size() -> (u32, u32) {
    let cast = std::fs::read_to_string(repo().join("assets/pictures/demo.cast")).expect("assets/pictures/demo.cast");
    let header: serde_json::Value = serde_json::from_str(cast.lines().next().expect("a header line")).expect("JSON");
    assert_eq!(header["version"], 2, "asciicast v2");
    let size = |key: &str| header[key].as_u64().unwrap_or_else(|| panic!("header {key}")) as u32;
    (size("width"), size("height"))
}

#[test]
fn the_readme_shows_the_three_screens_and_the_animation() {
    let pictures = pictures_in_readme();
    for name in ["demo-1-enr.png", "demo-2-formation.png", "demo-3-health.png", "demo.gif"] {
        assert!(pictures.contains(&format!("assets/pictures/{name}")), "README does not show {name}: {pictures:?}");
    }
}

#[test]
fn the_pictures_come_right_after_the_first_commands_and_the_introduction() {
    let readme = readme();
    let section = readme.find("## What it looks like").expect("a \"What it looks like\" section");
    let commands = readme.find("make demo").expect("make demo");
    assert!(commands < readme.find("make test").expect("make test"));
    assert!(commands < section);
    assert_eq!(readme.find("## "), Some(section), "it is the README's first section");
    assert!(readme[section..].contains("make pictures"), "the section says how to make the pictures again");
}

#[test]
fn every_screenshot_is_a_png_of_the_recorded_terminal() {
    let (cols, rows) = recorded_size();
    let screenshots: Vec<String> = pictures_in_readme().into_iter().filter(|p| p.ends_with(".png")).collect();
    assert!(!screenshots.is_empty());
    for path in screenshots {
        let file = repo().join(&path);
        let reader = image::ImageReader::open(&file).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(reader.with_guessed_format().expect("readable").format(), Some(image::ImageFormat::Png), "{path}");
        let picture = image::open(&file).unwrap_or_else(|e| panic!("{path} does not decode: {e}"));
        assert_eq!((picture.width(), picture.height()), (cols * CELL.0, rows * CELL.1), "{path}: {cols}x{rows} cells");
    }
}

#[test]
fn the_animation_is_a_gif_of_the_recording_shorter_than_a_minute() {
    let (cols, rows) = recorded_size();
    let path = repo().join("assets/pictures/demo.gif");
    let decoder =
        image::codecs::gif::GifDecoder::new(std::io::BufReader::new(std::fs::File::open(&path).expect("demo.gif")))
            .expect("demo.gif is a GIF");
    let frames = decoder.into_frames().collect_frames().expect("every frame decodes");
    assert!(frames.len() > 10, "an animation, not a picture: {} frames", frames.len());
    let (width, height) = frames[0].buffer().dimensions();
    // agg draws a cell of about 8.4x16.4 pixels (14-pixel font, line height
    // 1.17): the GIF shows the whole recorded terminal, not a default 80x24.
    assert!(width >= cols * 8 && height >= rows * 16, "{width}x{height} for {cols}x{rows} cells");
    let millis: u64 = frames
        .iter()
        .map(|frame| {
            let (numerator, denominator) = frame.delay().numer_denom_ms();
            u64::from(numerator) / u64::from(denominator.max(1))
        })
        .sum();
    assert!(millis < 60_000, "the animation plays {millis} ms");
}

#[test]
fn the_pictures_stay_small() {
    let size = |path: &Path| std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).len();
    let dir = repo().join("assets/pictures");
    assert!(size(&dir.join("demo.gif")) < 3 * MIB, "demo.gif");
    let total: u64 =
        std::fs::read_dir(&dir).expect("assets/pictures").map(|entry| size(&entry.expect("entry").path())).sum();
    assert!(total < 4 * MIB, "assets/pictures holds {total} bytes");
}

#[test]
fn make_pictures_runs_the_script_the_readme_names() {
    use std::os::unix::fs::PermissionsExt;
    assert!(readme().contains("`make pictures`"));
    let makefile = std::fs::read_to_string(repo().join("Makefile")).expect("Makefile");
    let recipe = makefile.split("\npictures:").nth(1).expect("a pictures target in the Makefile");
    assert!(recipe.lines().nth(1).is_some_and(|line| line.trim() == "assets/pictures/make"), "{recipe}");
    let script = std::fs::metadata(repo().join("assets/pictures/make")).expect("assets/pictures/make");
    assert!(script.permissions().mode() & 0o111 != 0, "assets/pictures/make is executable");
}
