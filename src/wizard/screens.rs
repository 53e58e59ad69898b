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
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    draw_header(frame, header, app, &theme);
    match app.screen {
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
        Some(notice) => Line::styled(notice.clone(), theme.warn()),
        None => {
            let keys = match app.screen {
                Screen::Configure => "↑/↓ field  ←/→ choose  Enter install  Ctrl-S save  Tab next  Esc quit",
                Screen::Install => "Enter run helm  Tab/→ next  ? help  q quit",
                Screen::Enr => "c copy ENR  z QR full screen  Tab/→ next  f follow formation  ? help  q quit",
                _ => "Tab/→ next  ←/Shift-Tab back  1-6 jump  f follow formation  ? help  q quit",
            };
            Line::styled(keys, theme.dim())
        }
    };
    frame.render_widget(line, area);
}

fn draw_help(frame: &mut Frame, body: Rect, app: &App) {
    let lines = [
        "Tab, →          next screen",
        "Shift-Tab, ←    previous screen",
        "1 .. 6          jump to a screen",
        "f               follow formation (move on as it progresses)",
        "c               copy the ENR (ENR screen)",
        "z               the QR code full screen (ENR screen)",
        "↑ ↓ ← → Enter   edit the values (Configure screen)",
        "Ctrl-S          save the values file",
        "q, Esc, Ctrl-C  quit",
    ];
    let width = 64.min(body.width);
    let height = (lines.len() as u16 + 2).min(body.height);
    let area = Rect { x: body.x + (body.width - width) / 2, y: body.y + (body.height - height) / 2, width, height };
    frame.render_widget(Clear, area);
    let title = format!(" Keys ({}) - any key closes ", app.screen.title());
    frame.render_widget(Paragraph::new(lines.join("\n")).block(Block::bordered().title(title)), area);
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
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} "), style),
            Span::styled(format!("{:<22}", check.name), theme.bold()),
            Span::raw(check.detail.clone()),
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
        Line::styled(format!(" {failed} check(s) failed: fix them before installing."), theme.bad())
    });
    frame.render_widget(Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }).block(block), area);
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
        match app.form.error(*key) {
            Some(error) if !value.is_empty() || focused => {
                lines.push(Line::styled(format!("{:21}✗ {error}", ""), theme.bad()))
            }
            _ if focused => lines.push(Line::styled(format!("{:21}{}", "", key.hint()), theme.dim())),
            _ => {}
        }
    }
    frame.render_widget(
        Paragraph::new(Text::from(lines)).block(
            Block::bordered().title(format!(" Configure release {} in namespace {} ", app.release, app.namespace)),
        ),
        form_area,
    );
    let command =
        if app.install.command.is_empty() { "(not built yet)".to_string() } else { app.install.command.join(" ") };
    frame.render_widget(
        Paragraph::new(format!("{command}\nvalues file: {}", app.values_file.display()))
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Enter runs ")),
        command_area,
    );
}

fn draw_install(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let install = &app.install;
    let (state, style) = match (&install.outcome, install.running) {
        (_, true) => ("running ...".to_string(), theme.warn()),
        (Some(super::app::InstallOutcome::Installed), _) => ("installed".to_string(), theme.good()),
        (Some(super::app::InstallOutcome::Failed(e)), _) => (format!("failed: {e}"), theme.bad()),
        (None, false) => ("not started: press Enter".to_string(), theme.dim()),
    };
    let mut lines = vec![
        Line::from(vec![Span::styled("$ ", theme.dim()), Span::raw(install.command.join(" "))]),
        Line::styled(state, style),
        Line::raw(""),
    ];
    let room = area.height.saturating_sub(5) as usize;
    let skip = install.output.len().saturating_sub(room);
    lines.extend(install.output.iter().skip(skip).map(|l| Line::raw(l.clone())));
    frame.render_widget(
        Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }).block(Block::bordered().title(" Install (helm) ")),
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
    let next = match app.status.as_ref().map(|s| s.phase) {
        Some(Phase::AwaitingOurSignature) => "An invite names you: accept it in the Launchpad with this ENR.",
        Some(Phase::KeyReady | Phase::WaitingForInvite) | None => {
            "Next: the cluster creator adds your address and this ENR in the Launchpad."
        }
        Some(_) => "Accepted. Formation continues on the next screen.",
    };
    let [title_area, enr_area, _, next_area, _, code_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(enr_lines.len() as u16),
        Constraint::Length(1),
        Constraint::Length(wrapped_height(next, width)),
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

/// How many rows `text` takes when word-wrapped at `width`.
fn wrapped_height(text: &str, width: usize) -> u16 {
    let width = width.max(1);
    let (mut rows, mut used) = (1, 0);
    for word in text.split_whitespace().map(|w| w.chars().count()) {
        if used > 0 && used + 1 + word <= width {
            used += 1 + word;
            continue;
        }
        if used > 0 {
            rows += 1;
        }
        // A word longer than the width is cut across rows.
        rows += (word - 1) / width;
        used = (word - 1) % width + 1;
    }
    rows as u16
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

fn phase_text(phase: Phase) -> &'static str {
    match phase {
        Phase::KeyReady => "ENR key ready",
        Phase::WaitingForInvite => "Waiting for an invite",
        Phase::AwaitingOurSignature => "Invite found: waiting for you to accept it in the Launchpad",
        Phase::WaitingForSignatures => "Waiting for the other operators to sign",
        Phase::DkgRunning => "Distributed key generation running",
        Phase::DkgFailed => "DKG failed: retrying",
        Phase::Done => "Formed: cluster lock and key shares in place",
        Phase::LockRefused => "Cluster lock refused: Charon does not start",
    }
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
        Span::styled(phase_text(status.phase), style),
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
            .map(|(i, phase)| format!("operator-{}: {}", i + 1, phase.map_or("starting", Phase::name)))
            .collect();
        lines.push(Line::styled(format!("Other sidecars  {}", others.join("  ")), theme.dim()));
    }
    lines
}

fn draw_health(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let title = match &app.demo {
        Some(demo) => format!(" Health: {} ", demo_stage_text(demo.stage)),
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
    let rows = app.nodes.iter().map(|node| health_row(node, theme));
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

fn health_row<'a>(node: &'a crate::health::NodeHealth, theme: &Theme) -> Row<'a> {
    let (charon, charon_style) = match (&node.charon, &node.charon_error) {
        (Some(c), _) if c.readiness == Readiness::Ready => ("ready".to_string(), theme.good()),
        (Some(c), _) => (c.readiness.describe().to_string(), theme.warn()),
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

fn demo_stage_text(stage: Stage) -> &'static str {
    match stage {
        Stage::Starting => "starting",
        Stage::Forming => "forming the cluster",
        Stage::StartingNodes => "Charon nodes starting",
        Stage::Healthy => "four healthy nodes",
        Stage::Failed => "demo failed",
    }
}
