//! Drawing: one function per screen, each a pure function of `App`, plus
//! the header (where am I in the journey) and the footer (which keys work).

use std::time::{Duration, SystemTime};

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span, Text},
    widgets::{Block, Cell, Clear, Paragraph, Row, Table, Wrap},
};

use super::{
    app::{App, CheckState, Mode, Screen},
    values::FieldKey,
};
use crate::{
    health::Readiness,
    local_formation::Stage,
    status::{Phase, Status},
};

/// Styles that collapse to plain text under NO_COLOR.
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, color: Color) -> Style {
        if self.color { Style::new().fg(color) } else { Style::new() }
    }
    fn good(&self) -> Style {
        self.fg(Color::Green)
    }
    fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    fn dim(&self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new() }
    }
    fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
}

pub fn draw(frame: &mut Frame, app: &App) {
    let theme = Theme { color: app.color };
    if app.qr_full_screen {
        draw_qr_full_screen(frame, frame.area(), app);
        return;
    }
    // A notice (an error, the clipboard's answer) wraps onto as many lines
    // as it needs, up to a third of the screen.
    let footer_height = match &app.notice {
        Some(notice) => wrapped_height(notice, frame.area().width).clamp(1, (frame.area().height / 3).max(1)),
        None => 1,
    };
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(footer_height)])
            .areas(frame.area());
    draw_header(frame, header, app, &theme);
    match app.screen {
        Screen::Releases => draw_releases(frame, body, app, &theme),
        Screen::Preflight => draw_preflight(frame, body, app, &theme),
        Screen::Configure => draw_configure(frame, body, app, &theme),
        Screen::Install => draw_install(frame, body, app, &theme),
        Screen::Enr => draw_enr(frame, body, app, &theme),
        Screen::Formation => draw_formation(frame, body, app, &theme),
        Screen::Health => draw_health(frame, body, app, &theme),
    }
    draw_footer(frame, footer, app, &theme);
    if app.show_help {
        draw_help(frame, body, app);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // Narrow terminals keep every tab and drop the release name.
    let label = match app.mode {
        Mode::Demo => " dv-pod demo ".to_string(),
        Mode::Cluster if area.width < 100 => " dv-pod ".to_string(),
        Mode::Cluster => format!(" dv-pod {}/{} ", app.namespace, app.release),
    };
    let mut spans = vec![Span::styled(label, theme.bold())];
    for (i, screen) in app.screens().iter().enumerate() {
        let label = format!(" {} {} ", i + 1, screen.title());
        let style = if *screen == app.screen { theme.bold().add_modifier(Modifier::REVERSED) } else { Style::new() };
        spans.push(Span::styled(label, style));
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = match &app.notice {
        Some(notice) => Paragraph::new(notice.clone()).style(theme.warn()).wrap(Wrap { trim: true }),
        None if app.confirm_quit => Paragraph::new(
            "The values you typed are not saved. Quit anyway? y quits, s saves and quits, any other key stays.",
        )
        .style(theme.warn())
        .wrap(Wrap { trim: true }),
        None => Paragraph::new(footer_keys(app, area.width)).style(theme.dim()),
    };
    frame.render_widget(line, area);
}

/// As many of the screen's keys as fit, always ending with where the rest are.
fn footer_keys(app: &App, width: u16) -> String {
    const HELP: &str = "? all keys";
    let mut shown: Vec<String> = Vec::new();
    let mut used = HELP.chars().count();
    for (keys, what) in app.keys().into_iter().filter(|(keys, _)| keys != "?") {
        let item = format!("{keys} {what}");
        let needed = item.chars().count() + 2;
        if used + needed > width as usize {
            break;
        }
        used += needed;
        shown.push(item);
    }
    shown.push(HELP.into());
    shown.join("  ")
}

fn draw_help(frame: &mut Frame, body: Rect, app: &App) {
    let keys = app.keys();
    let width = keys.iter().map(|(keys, _)| keys.chars().count()).max().unwrap_or(0);
    let lines: Vec<String> = keys.iter().map(|(keys, what)| format!("{keys:<width$}  {what}")).collect();
    let inner_width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 2;
    let title = format!(" Keys on {} - any key closes ", app.screen.title());
    let width = (inner_width.max(title.chars().count() as u16) + 2).min(body.width);
    let height = (lines.len() as u16 + 2).min(body.height);
    let area = Rect { x: body.x + (body.width - width) / 2, y: body.y + (body.height - height) / 2, width, height };
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines.join("\n")).block(Block::bordered().title(title)), area);
}

fn draw_releases(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let header = Row::new(crate::cluster::release::FLEET_HEADER.to_vec()).style(theme.bold());
    let rows = app.fleet.iter().enumerate().map(|(i, view)| {
        let row = Row::new(crate::cluster::release::fleet_row(view, app.now).to_vec());
        if i == app.fleet_selected { row.style(Style::new().add_modifier(Modifier::REVERSED)) } else { row }
    });
    let widths = [14, 16, 22, 7, 6, 16, 12, 6].map(Constraint::Min);
    let title = format!(" Releases: {} in the cluster - Enter follows the selected one ", app.fleet.len());
    frame.render_widget(Table::new(rows, widths).header(header).block(Block::bordered().title(title)), area);
}

fn draw_preflight(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::bordered().title(" Preflight: can this machine install dv-pod? ");
    if app.preflight.is_empty() {
        frame.render_widget(Paragraph::new("Checking ...").block(block), area);
        return;
    }
    let mut lines = Vec::new();
    for check in &app.preflight {
        let (mark, style) = match check.state {
            CheckState::Pass => ("✓", theme.good()),
            CheckState::Warn => ("!", theme.warn()),
            CheckState::Fail => ("✗", theme.bad()),
            CheckState::Skipped => ("-", theme.dim()),
        };
        let detail_style = if check.state == CheckState::Skipped { theme.dim() } else { Style::new() };
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} "), style),
            Span::styled(format!("{:<22}", check.name), theme.bold()),
            Span::styled(check.detail.clone(), detail_style),
        ]));
        if let Some(fix) = &check.fix {
            lines.push(Line::styled(format!("     → {fix}"), theme.warn()));
        }
    }
    let failed = app.preflight.iter().filter(|c| c.state == CheckState::Fail).count();
    lines.push(Line::raw(""));
    lines.push(if failed == 0 {
        Line::styled(" Ready to configure: press Tab.", theme.good())
    } else {
        Line::styled(format!(" {failed} check(s) failed: fix them, then press r to check again."), theme.bad())
    });
    let paragraph = Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false });
    // Scrolling stops where the last line is at the bottom.
    let inner = block.inner(area);
    let total = paragraph.line_count(inner.width) as u16;
    let scroll = app.preflight_scroll.min(total.saturating_sub(inner.height));
    frame.render_widget(paragraph.scroll((scroll, 0)).block(block), area);
}

fn draw_configure(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [form_area, command_area] = Layout::vertical([Constraint::Min(8), Constraint::Length(5)]).areas(area);
    let mut lines = Vec::new();
    for (i, key) in FieldKey::ALL.iter().enumerate() {
        let focused = i == app.form.focus;
        let value = app.form.get(*key);
        let shown = if focused { format!("{value}▏") } else { value.to_string() };
        lines.push(Line::from(vec![
            Span::styled(if focused { " ▶ " } else { "   " }, theme.bold()),
            Span::styled(format!("{:<18}", key.label()), theme.bold()),
            Span::styled(shown, if focused { Style::new().add_modifier(Modifier::UNDERLINED) } else { Style::new() }),
        ]));
        match (app.form.error(*key), app.form.note(*key)) {
            (Some(error), _) if !value.is_empty() || focused => {
                lines.extend(indented(&format!("✗ {error}"), 21, area.width).map(|l| Line::styled(l, theme.bad())))
            }
            (None, Some(note)) => {
                lines.extend(indented(&format!("! {note}"), 21, area.width).map(|l| Line::styled(l, theme.warn())))
            }
            _ if focused => lines.push(Line::styled(format!("{:21}{}", "", key.hint()), theme.dim())),
            _ => {}
        }
    }
    frame.render_widget(
        Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }).block(
            Block::bordered().title(format!(" Configure release {} in namespace {} ", app.release, app.namespace)),
        ),
        form_area,
    );
    frame.render_widget(
        Paragraph::new(format!(
            "Enter moves to the next field; after the last one, the review screen shows the values and the helm \
             command before anything is installed.\nvalues file: {}{}",
            app.values_file.display(),
            if app.form.is_saved() { "" } else { " (not saved yet: Ctrl-S)" }
        ))
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(" Next ")),
        command_area,
    );
}

fn draw_install(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let install = &app.install;
    let blocker = app.install_blocker();
    let (state, style) = match (&install.outcome, install.running, &blocker) {
        (_, true, _) => ("helm is running ...".to_string(), theme.warn()),
        (Some(super::app::InstallOutcome::Installed), _, _) => ("installed".to_string(), theme.good()),
        (Some(super::app::InstallOutcome::Failed(e)), _, _) => (format!("failed: {e}"), theme.bad()),
        (None, false, Some(blocker)) => (format!("cannot install yet: {blocker}"), theme.bad()),
        (None, false, None) => ("press Enter to install with exactly these values".to_string(), theme.good()),
    };
    let mut lines = vec![Line::styled(format!("Values written to {}:", app.values_file.display()), theme.bold())];
    let values = app.form.review_yaml();
    lines.extend(values.lines().map(|line| Line::raw(format!("  {line}"))));
    lines.push(Line::styled("Command:", theme.bold()));
    lines.push(Line::from(vec![Span::styled("  $ ", theme.dim()), Span::raw(install.command.join(" "))]));
    lines.push(Line::styled(state, style));
    if !install.output.is_empty() {
        lines.push(Line::raw(""));
        let room = area.height.saturating_sub(lines.len() as u16 + 2) as usize;
        let skip = install.output.len().saturating_sub(room);
        lines.extend(install.output.iter().skip(skip).map(|l| Line::raw(l.clone())));
    }
    frame.render_widget(
        Paragraph::new(Text::from(lines))
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Review and install (helm upgrade --install) ")),
        area,
    );
}

/// The ENR screen has no border: the ENR sits on rows of its own, so a mouse
/// selection of them copies the ENR and nothing else.
fn draw_enr(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let title = Line::styled("Your ENR: paste or scan it into the Obol Launchpad", theme.bold());
    let Some(enr) = app.enr.as_deref().filter(|e| !e.is_empty()) else {
        let waiting = match app.mode {
            Mode::Demo => "Creating the ENR key ...",
            Mode::Cluster => "Waiting for the ENR Job to create the key (install first) ...",
        };
        let lines = vec![title, Line::raw(""), Line::styled(waiting, theme.dim())];
        frame.render_widget(Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }), area);
        return;
    };
    let width = area.width.max(1) as usize;
    let chars: Vec<char> = enr.chars().collect();
    let enr_lines: Vec<Line> = chars.chunks(width).map(|row| Line::raw(row.iter().collect::<String>())).collect();
    let next = match (app.mode, app.status.as_ref().map(|s| s.phase)) {
        (Mode::Demo, Some(Phase::AwaitingOurSignature)) => {
            "An invite names you. In this demo the simulated Launchpad signs it for you in a few seconds; with a \
             real cluster you accept it in the Launchpad with this ENR."
        }
        (Mode::Demo, Some(Phase::KeyReady | Phase::WaitingForInvite) | None) => {
            "Next: the simulated Launchpad proposes a cluster with your address and this ENR (3 s after the start)."
        }
        (Mode::Cluster, Some(Phase::AwaitingOurSignature)) => {
            "An invite names you: accept it in the Launchpad with this ENR."
        }
        (Mode::Cluster, Some(Phase::KeyReady | Phase::WaitingForInvite) | None) => {
            "Next: the cluster creator adds your address and this ENR in the Launchpad."
        }
        (_, Some(_)) => "Accepted. Formation continues on the next screen.",
    };
    let [title_area, enr_area, _, next_area, _, code_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(enr_lines.len() as u16),
        Constraint::Length(1),
        Constraint::Length(wrapped_height(next, area.width)),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(title, title_area);
    frame.render_widget(Paragraph::new(Text::from(enr_lines)), enr_area);
    frame.render_widget(Paragraph::new(Line::styled(next, theme.bold())).wrap(Wrap { trim: true }), next_area);
    let advice = "press z to show it full screen, or c to copy the ENR.";
    draw_code(frame, code_area, app, enr, false, advice, theme.warn());
}

/// The code centred across `area` (and down it when `middle`), or why it
/// does not fit and what to do (`advice`) rather than a code cut short.
fn draw_code(frame: &mut Frame, area: Rect, app: &App, enr: &str, middle: bool, advice: &str, style: Style) {
    match app.qr.get(enr) {
        Some(code) if code.width <= area.width && code.height <= area.height => {
            let x = area.x + (area.width - code.width) / 2;
            let y = if middle { area.y + (area.height - code.height) / 2 } else { area.y };
            let at = Rect { x, y, width: code.width, height: code.height };
            frame.render_widget(Paragraph::new(Text::from(code.lines.clone())), at);
        }
        Some(code) => frame.render_widget(
            Paragraph::new(format!(
                "The QR code needs {}x{} characters and this screen leaves {}x{}: {advice}",
                code.width, code.height, area.width, area.height
            ))
            .style(style)
            .wrap(Wrap { trim: true }),
            area,
        ),
        None => frame.render_widget(Paragraph::new("This ENR cannot be drawn as a QR code."), area),
    }
}

/// The QR code alone, centred, with the one line that says how to leave.
fn draw_qr_full_screen(frame: &mut Frame, area: Rect, app: &App) {
    let [code_area, leave_area] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    frame.render_widget(Line::raw("z, Esc or q: back to the ENR screen").centered(), leave_area);
    let Some(enr) = app.enr.as_deref().filter(|e| !e.is_empty()) else {
        frame.render_widget(Paragraph::new("No ENR yet: the key has not been created."), code_area);
        return;
    };
    draw_code(frame, code_area, app, enr, true, "enlarge the window.", Style::new());
}

fn indented(text: &str, indent: usize, width: u16) -> impl Iterator<Item = String> {
    let room = (width as usize).saturating_sub(indent + 2).max(20);
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= room => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines.into_iter().map(move |line| format!("{:indent$}{line}", ""))
}

/// How many lines `text` takes when word-wrapped at `width`.
fn wrapped_height(text: &str, width: u16) -> u16 {
    Paragraph::new(text).wrap(Wrap { trim: true }).line_count(width.max(1)) as u16
}

/// "12 s ago" / "in 3 s" relative to the frame's clock.
fn relative(at: &str, now: SystemTime) -> String {
    let Ok(at) = humantime::parse_rfc3339_weak(at) else { return at.to_string() };
    let round = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs())).to_string();
    match now.duration_since(at) {
        Ok(ago) => format!("{} ago", round(ago)),
        Err(ahead) => format!("in {}", round(ahead.duration())),
    }
}

fn short_hash(hash: &str) -> String {
    if hash.len() > 14 { format!("{}…{}", &hash[..8], &hash[hash.len() - 4..]) } else { hash.to_string() }
}

fn draw_formation(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::bordered().title(" Formation: invite, signatures, DKG ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(status) = &app.status else {
        let text = match app.mode {
            Mode::Demo => "Starting the relay, the Launchpad simulator and four sidecars ...",
            Mode::Cluster => "No status yet: the sidecar writes it once the pod starts.",
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()), inner);
        return;
    };
    let operator_rows = status.invite.as_ref().map_or(0, |i| i.operators.len() as u16 + 1);
    let [summary, table, details] =
        Layout::vertical([Constraint::Length(4), Constraint::Length(operator_rows + 1), Constraint::Min(0)])
            .areas(inner);
    frame.render_widget(Paragraph::new(Text::from(summary_lines(status, app.now, theme))), summary);
    if let Some(invite) = &status.invite {
        let rows = invite.operators.iter().map(|address| {
            let signed = !invite.missing.iter().any(|m| m.eq_ignore_ascii_case(address));
            let you = address.eq_ignore_ascii_case(&status.operator);
            Row::new(vec![
                Cell::from(address.clone()),
                Cell::from(if you { "you" } else { "" }),
                Cell::from(Span::styled(
                    if signed { "✓ signed" } else { "… waiting" },
                    if signed { theme.good() } else { theme.warn() },
                )),
            ])
        });
        let widths = [Constraint::Length(44), Constraint::Length(4), Constraint::Length(10)];
        frame.render_widget(
            Table::new(rows, widths).header(Row::new(vec!["Operator", "", "Signature"]).style(theme.bold())),
            table,
        );
    }
    frame.render_widget(
        Paragraph::new(Text::from(detail_lines(status, app, theme))).wrap(Wrap { trim: false }),
        details,
    );
}

fn summary_lines(status: &Status, now: SystemTime, theme: &Theme) -> Vec<Line<'static>> {
    let style = match status.phase {
        Phase::Done => theme.good(),
        Phase::DkgFailed | Phase::LockRefused => theme.bad(),
        _ => theme.bold(),
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(status.phase.describe(), style),
        Span::styled(format!("  (since {})", relative(&status.phase_since, now)), theme.dim()),
    ])];
    let mut polling = format!("Polls: {}", status.polls);
    if let Some(last) = &status.last_poll_at {
        polling.push_str(&format!(", last {}", relative(last, now)));
    }
    if let Some(next) = &status.next_poll_at
        && !matches!(status.phase, Phase::Done | Phase::DkgRunning)
    {
        polling.push_str(&format!(", next {}", relative(next, now)));
    }
    lines.push(Line::raw(polling));
    match &status.invite {
        Some(invite) => lines.push(Line::from(vec![
            Span::raw(format!("Invite {:?}  config {}  ", invite.name, short_hash(&invite.config_hash))),
            Span::styled(format!("signed {}/{}", invite.signed, invite.total), theme.bold()),
        ])),
        None if status.phase == Phase::LockRefused => {}
        None => lines.push(Line::styled("No invite names your operator yet.", theme.dim())),
    }
    lines
}

fn detail_lines(status: &Status, app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(detail) = &status.detail {
        lines.push(Line::styled(detail.clone(), theme.warn()));
    }
    if let Some(dkg) = &status.dkg {
        lines.push(Line::raw(format!(
            "DKG attempt {}: {}  (started {})",
            dkg.attempt,
            dkg.step,
            relative(&dkg.started_at, app.now)
        )));
    }
    if let Some(error) = &status.error {
        let retry = error.next_retry_at.as_deref().map(|at| format!("; next try {}", relative(at, app.now)));
        let label = if status.phase == Phase::LockRefused {
            "Refused (fix the lock or the key shares, then restart the pod)"
        } else {
            "Last failure"
        };
        lines.push(Line::styled(format!("{label}: {}{}", error.reason, retry.unwrap_or_default()), theme.bad()));
    }
    if let Some(lock) = &status.lock_hash {
        lines.push(Line::styled(format!("Cluster lock {lock}"), theme.good()));
    }
    if let Some(demo) = &app.demo {
        let others: Vec<String> = demo
            .sidecars
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, phase)| format!("operator-{}: {}", i + 1, phase.map_or("starting", Phase::label)))
            .collect();
        lines.push(Line::styled(format!("Other sidecars  {}", others.join("  ")), theme.dim()));
    }
    lines
}

fn draw_health(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let title = match &app.demo {
        Some(demo) => format!(" Health: {} ", demo.stage.describe()),
        None => " Health: pod, Charon, validator client ".to_string(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.nodes.is_empty() {
        frame.render_widget(Paragraph::new("No node to show yet.").style(theme.dim()), inner);
        return;
    }
    let header =
        Row::new(vec!["Node", "Pod", "Restarts", "Charon", "Peers", "Vals", "Duties", "VC"]).style(theme.bold());
    let starting = app.demo.as_ref().is_some_and(|demo| demo.stage == Stage::StartingNodes);
    let rows = app.nodes.iter().map(|node| health_row(node, starting, theme));
    // Fits 80 columns; Charon's readiness reason takes what a wider screen gives.
    let widths = [
        Constraint::Length(12),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(10),
        Constraint::Length(10),
    ];
    let healthy = app.nodes.iter().filter(|n| n.is_healthy()).count();
    let [table, summary] =
        Layout::vertical([Constraint::Length(app.nodes.len() as u16 + 2), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Table::new(rows, widths).header(header), table);
    let lines = health_summary(app, healthy, theme);
    frame.render_widget(Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }), summary);
}

/// `starting`: the nodes were just started, so a node that does not answer
/// yet is starting rather than unreachable.
fn health_row<'a>(node: &'a crate::health::NodeHealth, starting: bool, theme: &Theme) -> Row<'a> {
    let (charon, charon_style) = match (&node.charon, &node.charon_error) {
        (Some(c), _) if c.readiness == Readiness::Ready => ("ready".to_string(), theme.good()),
        (Some(c), _) => (c.readiness.describe().to_string(), theme.warn()),
        (None, Some(_)) if starting => ("starting".to_string(), theme.dim()),
        (None, Some(_)) => ("unreachable".to_string(), theme.warn()),
        (None, None) => ("not running".to_string(), theme.dim()),
    };
    let peers = node.charon.as_ref().map_or("-".into(), |c| format!("{}/{}", c.peers_connected, c.peers_total));
    let validators = node.charon.as_ref().and_then(|c| c.validators).map_or("-".into(), |v| v.to_string());
    let duties = node.charon.as_ref().map_or("-".into(), crate::health::duty_summary);
    let pod = node.pod.as_ref();
    let vc = pod
        .and_then(|p| p.containers.iter().find(|c| c.name == "validator-client"))
        .map_or("-".to_string(), |c| c.state.to_string());
    Row::new(vec![
        Cell::from(node.name.clone()),
        Cell::from(pod.map_or("-".to_string(), |p| format!("{}{}", p.phase, if p.ready { ", ready" } else { "" }))),
        Cell::from(pod.map_or("-".to_string(), |p| p.restarts.to_string())),
        Cell::from(Span::styled(charon, charon_style)),
        Cell::from(peers),
        Cell::from(validators),
        Cell::from(duties),
        Cell::from(vc),
    ])
}

/// The count of healthy nodes, our pod's containers, problems and the demo's state.
fn health_summary<'a>(app: &'a App, healthy: usize, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines = vec![Line::styled(
        format!("{healthy} of {} node(s) healthy", app.nodes.len()),
        if healthy == app.nodes.len() { theme.good() } else { theme.warn() },
    )];
    if let Some(pod) = app.nodes.first().and_then(|n| n.pod.as_ref()) {
        for container in &pod.containers {
            let restarts = match container.restarts {
                0 => String::new(),
                1 => "  (restarted once)".into(),
                n => format!("  (restarted {n} times)"),
            };
            lines.push(Line::raw(format!("  {:<18} {}{restarts}", container.name, container.state)));
        }
    }
    lines.extend(app.problems.iter().map(|p| Line::styled(format!("! {p}"), theme.warn())));
    if let Some(demo) = &app.demo {
        if let Some(error) = &demo.error {
            lines.push(Line::styled(format!("Demo failed: {error}"), theme.bad()));
        }
        lines.push(Line::styled(
            format!("Demo running {:.0} s; logs in {}", demo.elapsed_seconds, demo.work_dir),
            theme.dim(),
        ));
    }
    lines
}
