//! The demo without a terminal UI (`dv-tui --demo --json`, `kubectl dv demo
//! --json`, or any demo whose stdout is not a terminal): one line per
//! change, text or `dv-pod.demo/v1` JSON, ending when all four nodes are
//! healthy. The formation itself is [`crate::local_formation`]; the wizard
//! shows the same one on its screens.

use std::process::ExitCode;

use std::path::PathBuf;

use crate::local_formation::{self, DemoOptions, DemoView};

/// The part of a view worth a new line: stage, phases, healthy count.
fn milestone(view: &DemoView) -> String {
    format!("{:?}|{:?}|{:?}|{}", view.stage, view.ours.as_ref().map(|s| s.phase), view.sidecars, view.healthy_nodes())
}

fn text_line(view: &DemoView) -> String {
    let phases: Vec<&str> = view.sidecars.iter().map(|p| p.map_or("starting", crate::status::Phase::label)).collect();
    format!(
        "[{:>5.1}s] {}: nodes {} | healthy {}/4",
        view.elapsed_seconds,
        view.stage.describe(),
        phases.join(", "),
        view.healthy_nodes()
    )
}

/// Prepares the programs and runs the demo, printing as it goes.
pub async fn run(charon: Option<PathBuf>, signing_window_seconds: u64, json: bool) -> ExitCode {
    match DemoOptions::prepare(charon, signing_window_seconds) {
        Ok(options) => run_headless(options, json).await,
        Err(e) => crate::exit::fail(format!("{e:#}")),
    }
}

async fn run_headless(options: DemoOptions, json: bool) -> ExitCode {
    let work_dir = options.work_dir.clone();
    if !json {
        println!("{}", local_formation::LAUNCHPAD_NOTICE);
        println!("logs: {}", work_dir.display());
    }
    let formation = async {
        let (view_tx, mut view_rx) = tokio::sync::watch::channel(DemoView::empty(&options.work_dir));
        let printer = tokio::spawn(async move {
            let mut last = String::new();
            while view_rx.changed().await.is_ok() {
                let view = view_rx.borrow_and_update().clone();
                let now = milestone(&view);
                if now != last {
                    last = now;
                    print_view(&view, json);
                }
            }
        });
        let outcome = local_formation::run(options, view_tx, true).await;
        let _ = printer.await;
        outcome
    };
    // Dropping the formation on Ctrl-C or SIGTERM stops every process it started.
    let outcome = tokio::select! {
        outcome = formation => outcome,
        _ = crate::process::interrupted() => {
            eprintln!("demo interrupted; its logs are in {}", work_dir.display());
            return ExitCode::from(crate::exit::INTERRUPTED);
        }
    };
    match outcome {
        // The printer has shown the final view already.
        Ok(view) => {
            if !json {
                println!("demo: four healthy Charon nodes after {:.1} s", view.elapsed_seconds);
            }
            ExitCode::from(crate::exit::OK)
        }
        Err(error) => {
            eprintln!("demo failed: {error:#}\nlogs: {}", work_dir.display());
            ExitCode::from(crate::exit::INVALID)
        }
    }
}

fn print_view(view: &DemoView, json: bool) {
    if json {
        match serde_json::to_string(view) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("cannot encode the demo view: {e}"),
        }
    } else {
        println!("{}", text_line(view));
    }
}
