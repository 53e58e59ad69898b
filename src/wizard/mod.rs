//! The terminal wizard (`dv-tui`, `kubectl dv wizard`): preflight, values,
//! `helm upgrade --install`, the ENR as text and QR code, live formation and
//! health. `--demo` runs the same screens over a local formation.
//!
//! State and keys live in `app`, drawing in `screens`; this module runs the
//! event loop and the background work (preflight, helm, polling the
//! release, the demo) that reports into it.

pub mod app;
pub mod clipboard;
pub mod preflight;
pub mod screens;
pub mod values;

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, SystemTime},
};

use anyhow::Context;
use app::{Action, App, InstallOutcome, Mode, Update};
use clap::{Args, Parser};
use crossterm::event::{self, Event, KeyEventKind};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};

use crate::{
    cluster::{
        KubeFlags,
        release::{self, ReleaseNames},
    },
    local_formation::{self, DemoOptions},
};

/// `dv-tui`'s command line (`kubectl dv wizard` passes its arguments on).
#[derive(Parser, Debug, Clone)]
#[command(name = "dv-tui", version = crate::VERSION, about = "Guide a dv-pod distributed validator from install to healthy")]
pub struct Cli {
    #[command(flatten)]
    pub target: ReleaseTarget,
    #[command(flatten)]
    pub wizard: WizardArgs,
}

/// Which release the wizard installs and follows, and how to reach its cluster.
#[derive(Args, Debug, Clone)]
pub struct ReleaseTarget {
    #[command(flatten)]
    pub kube: KubeFlags,
    /// The Helm release name (default: dv-pod). Without it, a cluster that
    /// holds several releases opens on the Releases screen.
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
}

impl ReleaseTarget {
    /// The release to install and follow.
    pub fn release_name(&self) -> &str {
        self.release.as_deref().unwrap_or("dv-pod")
    }
}

/// What the wizard does.
#[derive(Args, Debug, Clone)]
pub struct WizardArgs {
    /// Run a local formation (simulated Launchpad, four real Charon nodes)
    /// instead of installing into a cluster.
    #[arg(long)]
    pub demo: bool,
    /// The chart to install: a directory, an archive or a chart reference
    /// (default: the chart built into this program).
    #[arg(long)]
    pub chart: Option<String>,
    /// The helm binary.
    #[arg(long, env = "HELM", default_value = "helm")]
    pub helm: String,
    /// Values file the wizard loads (if present) and writes before installing.
    #[arg(short = 'f', long, default_value = "dv-pod-values.yaml")]
    pub values: PathBuf,
    /// Extra argument passed to helm as is (repeatable), e.g. --helm-arg=--wait.
    #[arg(long = "helm-arg", allow_hyphen_values = true)]
    pub helm_args: Vec<String>,
    /// The charon binary for the demo (default: the test bed's, else PATH).
    #[arg(long)]
    pub charon: Option<PathBuf>,
    /// Over how many seconds the demo's other three operators sign after you.
    #[arg(long, default_value_t = 60)]
    pub signing_window_seconds: u64,
    /// With --demo: print dv-pod.demo/v1 JSON lines instead of screens (a
    /// demo whose output is not a terminal prints text lines).
    #[arg(long, requires = "demo")]
    pub json: bool,
}

/// Runs the wizard; the exit code follows [`crate::exit`].
pub async fn main(cli: Cli) -> std::process::ExitCode {
    match run(cli.target, cli.wizard).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => crate::exit::fail(format!("{e:#}")),
    }
}

/// Runs the wizard until the operator quits.
pub async fn run(target: ReleaseTarget, args: WizardArgs) -> anyhow::Result<()> {
    crate::chart::refuse_private_key_arguments(&args.helm_args).context("--helm-arg")?;
    crate::logging::init_file("dv-tui")?;
    if args.demo {
        let options = DemoOptions::prepare(args.charon.clone(), args.signing_window_seconds)?;
        return run_demo(options).await;
    }
    run_cluster(target, args).await
}

async fn run_demo(options: DemoOptions) -> anyhow::Result<()> {
    let (updates_tx, updates) = mpsc::unbounded_channel();
    let options_work_dir = options.work_dir.clone();
    let (view_tx, mut view_rx) = tokio::sync::watch::channel(local_formation::DemoView::empty(&options.work_dir));
    let demo = tokio::spawn(local_formation::run(options, view_tx, false));
    let forward = updates_tx.clone();
    tokio::spawn(async move {
        while view_rx.changed().await.is_ok() {
            let view = view_rx.borrow_and_update().clone();
            if forward.send(Update::Demo(Box::new(view))).is_err() {
                break;
            }
        }
    });
    let work_dir = options_work_dir;
    let app = App::new(Mode::Demo, values::Form::default(), "demo", "local", PathBuf::new());
    let outcome = event_loop(app, updates, None).await;
    demo.abort();
    let _ = demo.await;
    eprintln!("demo stopped; its logs are in {}", work_dir.display());
    outcome
}

/// Everything the cluster mode needs to act on keys.
struct ClusterContext {
    target: ReleaseTarget,
    args: WizardArgs,
    /// Resolved once: the embedded chart's temp file lives as long as the wizard.
    chart: crate::chart::Chart,
    namespace: String,
    updates: mpsc::UnboundedSender<Update>,
    /// The release the wizard follows (namespace, release); the Releases
    /// screen changes it.
    following: tokio::sync::watch::Sender<(String, String)>,
}

async fn run_cluster(target: ReleaseTarget, args: WizardArgs) -> anyhow::Result<()> {
    let (updates_tx, updates) = mpsc::unbounded_channel();
    let mut form = values::Form::default();
    if args.values.is_file() {
        form.load_file(&args.values)?;
    }
    let (connection, _) = preflight::connect(&target.kube).await;
    let namespace = connection
        .as_ref()
        .map_or_else(|| target.kube.namespace.clone().unwrap_or_else(|| "default".into()), |c| c.namespace.clone());
    let client = connection.map(|c| c.client);
    let chart = crate::chart::Chart::resolve(args.chart.clone())?;
    let mut app = App::new(Mode::Cluster, form, target.release_name(), &namespace, args.values.clone());
    app.opens_on_fleet = target.release.is_none();
    app.install.command = helm_command(&target, &args, &chart, &namespace);
    let (following, followed) = tokio::sync::watch::channel((namespace.clone(), target.release_name().to_string()));
    if let Some(client) = client {
        tokio::spawn(watch_release(client.clone(), followed, updates_tx.clone()));
        tokio::spawn(watch_fleet(client, namespace.clone(), updates_tx.clone()));
    }
    let context = ClusterContext { target, args, chart, namespace, updates: updates_tx, following };
    start_preflight(&mut app, &context);
    event_loop(app, updates, Some(context)).await
}

/// Reads the followed release every 2 s. Its names are found again each
/// time: the wizard may install the release meanwhile.
async fn watch_release(
    client: kube::Client,
    following: tokio::sync::watch::Receiver<(String, String)>,
    updates: mpsc::UnboundedSender<Update>,
) {
    loop {
        let (namespace, release_name) = following.borrow().clone();
        let names = ReleaseNames::find(&client, &namespace, &release_name).await;
        let view = release::observe(&client, &names).await;
        if updates.send(Update::Release { view: Box::new(view), pod: names.pod().to_string() }).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Lists every release the operator may see every 5 s, for the Releases
/// screen: in all namespaces, or in ours when listing all is not allowed.
async fn watch_fleet(client: kube::Client, namespace: String, updates: mpsc::UnboundedSender<Update>) {
    loop {
        let names = match ReleaseNames::list(&client, None).await {
            Ok(names) => names,
            Err(_) => ReleaseNames::list(&client, Some(&namespace)).await.unwrap_or_default(),
        };
        let mut fleet = Vec::with_capacity(names.len());
        for names in &names {
            fleet.push(release::observe(&client, names).await);
        }
        if updates.send(Update::Fleet(fleet)).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Runs every preflight check in the background; `r` runs them again.
fn start_preflight(app: &mut App, cluster: &ClusterContext) {
    app.preflight.clear();
    let (updates, flags, helm) = (cluster.updates.clone(), cluster.target.kube.clone(), cluster.args.helm.clone());
    let api = app.form.get(values::FieldKey::ApiEndpoint).to_string();
    tokio::spawn(async move {
        let checks = preflight::run(&flags, &helm, &api).await;
        let _ = updates.send(Update::Preflight(checks));
    });
}

fn helm_command(
    target: &ReleaseTarget,
    args: &WizardArgs,
    chart: &crate::chart::Chart,
    namespace: &str,
) -> Vec<String> {
    let kube = &target.kube;
    let mut extra = args.helm_args.clone();
    extra.extend(kube.kubeconfig.iter().map(|path| format!("--kubeconfig={}", path.display())));
    extra.extend(kube.context.iter().map(|context| format!("--kube-context={context}")));
    extra.extend(kube.impersonate.iter().map(|user| format!("--kube-as-user={user}")));
    extra.extend(kube.impersonate_groups.iter().map(|group| format!("--kube-as-group={group}")));
    values::helm_command(&args.helm, target.release_name(), chart.reference(), namespace, &args.values, &extra)
}

async fn event_loop(
    mut app: App,
    mut updates: mpsc::UnboundedReceiver<Update>,
    cluster: Option<ClusterContext>,
) -> anyhow::Result<()> {
    let (keys_tx, mut keys) = mpsc::unbounded_channel();
    // crossterm's reader blocks; it gets its own thread and stops when the
    // loop below drops the receiver.
    std::thread::spawn(move || {
        while !keys_tx.is_closed() {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(event) => {
                        let _ = keys_tx.send(event);
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
    // ratatui::init restores the terminal on a panic; these restore it when
    // the terminal closes (SIGHUP) or the process is asked to stop (SIGTERM).
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut terminal = ratatui::init();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut clipboard = clipboard::Clipboard::default();
    let outcome: anyhow::Result<()> = async {
        loop {
            app.now = SystemTime::now();
            terminal.draw(|frame| screens::draw(frame, &app))?;
            tokio::select! {
                Some(event) = keys.recv() => {
                    let Event::Key(key) = event else { continue };
                    if key.kind != KeyEventKind::Press {
                        continue;
                    }
                    let action = app.on_key(key);
                    if act(&mut app, action, cluster.as_ref(), &mut clipboard) {
                        return Ok(());
                    }
                }
                Some(update) = updates.recv() => {
                    // Helm's own output stays on screen only: `helm --debug`
                    // prints the computed values, which may hold a key.
                    if !matches!(update, Update::InstallOutput(_)) {
                        tracing::debug!(?update, "update");
                    }
                    app.apply(update);
                }
                _ = hangup.recv() => return Ok(()),
                _ = terminate.recv() => return Ok(()),
                _ = tick.tick() => {}
            }
        }
    }
    .await;
    ratatui::restore();
    outcome
}

/// Does what a key asked for; true when the wizard should end.
fn act(app: &mut App, action: Action, cluster: Option<&ClusterContext>, clipboard: &mut clipboard::Clipboard) -> bool {
    match action {
        Action::Quit => return true,
        Action::None => {}
        Action::CopyEnr => {
            if let Some(enr) = app.enr.clone() {
                app.notice = Some(clipboard.copy(&enr));
            }
        }
        Action::SaveValues => {
            save_values(app);
        }
        Action::SaveAndQuit => return save_values(app),
        Action::RunInstall => {
            if let Some(cluster) = cluster {
                start_install(app, cluster);
            }
        }
        Action::FollowRelease { namespace, release } => {
            if let Some(cluster) = cluster {
                let _ = cluster.following.send((namespace, release));
            }
        }
        Action::RerunPreflight => {
            if let Some(cluster) = cluster {
                start_preflight(app, cluster);
            }
        }
    }
    false
}

/// Saves the values file and says so; false when it could not be saved.
fn save_values(app: &mut App) -> bool {
    let saved = app.form.save_file(&app.values_file);
    app.notice = Some(match &saved {
        Ok(()) => format!("saved {}", app.values_file.display()),
        Err(e) => format!("cannot save {}: {e:#}", app.values_file.display()),
    });
    saved.is_ok()
}

/// Writes the values file and runs helm, streaming its output verbatim.
fn start_install(app: &mut App, cluster: &ClusterContext) {
    if let Err(e) = app.form.save_file(&cluster.args.values) {
        app.install.outcome =
            Some(InstallOutcome::Failed(format!("cannot write {}: {e:#}", cluster.args.values.display())));
        return;
    }
    app.install.command = helm_command(&cluster.target, &cluster.args, &cluster.chart, &cluster.namespace);
    app.install.running = true;
    app.install.output.clear();
    app.install.outcome = None;
    let command = app.install.command.clone();
    let updates = cluster.updates.clone();
    tracing::info!(?command, "running helm");
    tokio::spawn(async move {
        let outcome = match run_streaming(&command, &updates).await {
            Ok(()) => InstallOutcome::Installed,
            Err(e) => InstallOutcome::Failed(format!("{e:#}")),
        };
        let _ = updates.send(Update::InstallEnded(outcome));
    });
}

async fn run_streaming(command: &[String], updates: &mpsc::UnboundedSender<Update>) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", command[0]))?;
    let mut lines = crate::process::output::lines(&mut child);
    while let Some(line) = lines.recv().await {
        let _ = updates.send(Update::InstallOutput(line));
    }
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "helm ended with {status}");
    Ok(())
}

#[cfg(test)]
mod snapshots;
