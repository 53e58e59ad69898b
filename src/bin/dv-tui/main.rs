//! `dv-tui`: the interactive wizard. All logic lives in `dv_pod::tui`.

fn main() -> std::io::Result<()> {
    dv_pod::tui::run()
}
