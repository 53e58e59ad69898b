//! The terminal wizard: screens drawn with ratatui, driven by key events.

use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::{
    Frame,
    layout::{Constraint, Layout},
    style::{Modifier, Style},
    text::{Line, Text},
    widgets::{Block, Paragraph, Wrap},
};

/// The journey the wizard guides an operator through, in order.
pub const JOURNEY: [&str; 5] = [
    "Preflight: cluster access, helm, storage",
    "Install the dv-pod chart with your operator address",
    "Share your ENR with the Obol Launchpad",
    "Watch invites, signatures and the DKG",
    "Check that Charon and the validator client are healthy",
];

/// Draws the welcome screen.
pub fn draw_welcome(frame: &mut Frame) {
    let [body, help] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    let mut lines = vec![
        Line::styled(format!("dv-pod {}", crate::VERSION), Style::new().add_modifier(Modifier::BOLD)),
        Line::raw(""),
    ];
    lines.extend(JOURNEY.iter().enumerate().map(|(i, step)| Line::raw(format!("{}. {step}", i + 1))));
    frame.render_widget(
        Paragraph::new(Text::from(lines))
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Distributed validator setup ")),
        body,
    );
    frame.render_widget(Paragraph::new("q / Esc: quit"), help);
}

/// Runs the wizard until the operator quits. `ratatui::run` restores the
/// terminal on exit and on panic.
pub fn run() -> std::io::Result<()> {
    ratatui::run(|terminal| {
        loop {
            terminal.draw(draw_welcome)?;
            if event::poll(Duration::from_millis(250))?
                && let Event::Key(key) = event::read()?
                && key.kind == KeyEventKind::Press
                && matches!(key.code, KeyCode::Char('q') | KeyCode::Esc)
            {
                return Ok(());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::{Terminal, backend::TestBackend};

    #[test]
    fn welcome_screen_lists_every_step_of_the_journey_on_an_80x24_terminal() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal.draw(draw_welcome).unwrap();
        let screen = format!("{:?}", terminal.backend().buffer());
        for step in JOURNEY {
            assert!(screen.contains(step), "missing step {step:?} in\n{screen}");
        }
        assert!(screen.contains("q / Esc: quit"));
    }
}
