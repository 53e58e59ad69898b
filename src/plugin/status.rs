//! `kubectl dv status`: one release in full, or with `-A` every release the
//! user can see, one line each; `--watch` prints again on every change.

use std::{process::ExitCode, time::Duration};

use clap::Args;
use serde::Serialize;

use super::{
    ReleaseArgs,
    output::{Format, OutputArgs, print},
};
use crate::cluster::release::{self, ReleaseNames, ReleaseView};

/// Formation status, pod and Charon health of a release, or of every release.
#[derive(Args)]
#[command(after_help = "Examples:\n  kubectl dv status -n dv\n  kubectl dv status -n dv --release dv-2 --watch\n  \
                        kubectl dv status -A\n  kubectl dv status -A --watch -o json")]
pub struct StatusArgs {
    #[command(flatten)]
    target: ReleaseArgs,
    /// List every dv-pod release in every namespace you can read, one line each.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// Keep printing whenever something changes.
    #[arg(long, short = 'w')]
    watch: bool,
    /// Seconds between reads with --watch.
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    interval: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kubectl dv status -A -o json|yaml` (schema `dv-pod.fleet/v1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetDocument {
    pub schema: &'static str,
    pub releases: Vec<ReleaseView>,
}

pub async fn run(args: StatusArgs) -> ExitCode {
    let interval = Duration::from_secs(args.interval.max(1));
    super::finish(follow(&args, interval).await)
}

async fn follow(args: &StatusArgs, interval: Duration) -> anyhow::Result<()> {
    let connection = super::reach(&args.target.kube).await?;
    let mut last: Option<String> = None;
    loop {
        if args.all_namespaces {
            let fleet = read_fleet(&connection).await?;
            show(&fleet, &mut last, args.output.format(), || print_fleet_text(&fleet, std::time::SystemTime::now()))?;
        } else {
            let names = ReleaseNames::find(&connection.client, &connection.namespace, &args.target.release).await;
            let view = release::observe(&connection.client, &names).await;
            show(&view, &mut last, args.output.format(), || print_release_text(&view))?;
        }
        if !args.watch {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

/// Prints `document` in `format` (or as `text`) unless it is what was
/// printed `last`.
fn show<T: Serialize>(
    document: &T,
    last: &mut Option<String>,
    format: Option<Format>,
    text: impl FnOnce(),
) -> anyhow::Result<()> {
    let key = serde_json::to_string(document)?;
    if last.as_ref() == Some(&key) {
        return Ok(());
    }
    match format {
        Some(format) => print(document, format)?,
        None => text(),
    }
    *last = Some(key);
    Ok(())
}

async fn read_fleet(connection: &crate::cluster::Connection) -> anyhow::Result<FleetDocument> {
    let names = ReleaseNames::list(&connection.client, None).await.map_err(|e| match &e {
        kube::Error::Api(status) if status.code == 403 => anyhow::anyhow!(
            "listing ConfigMaps in all namespaces is not allowed for you ({}); list one namespace with -n NAMESPACE",
            status.message
        ),
        _ => anyhow::Error::new(connection.classify(&e)),
    })?;
    let mut releases = Vec::with_capacity(names.len());
    for names in &names {
        releases.push(release::observe(&connection.client, names).await);
    }
    Ok(FleetDocument { schema: "dv-pod.fleet/v1", releases })
}

fn print_fleet_text(fleet: &FleetDocument, now: std::time::SystemTime) {
    if fleet.releases.is_empty() {
        println!("No dv-pod releases found in any namespace you can read.");
        return;
    }
    let rows: Vec<[String; 8]> = fleet.releases.iter().map(|view| release::fleet_row(view, now)).collect();
    let mut widths = release::FLEET_HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", padded.join("   ").trim_end());
    };
    line(release::FLEET_HEADER.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn print_release_text(view: &ReleaseView) {
    println!("release {} in namespace {}", view.release, view.namespace);
    match &view.status {
        Some(status) => {
            println!("  phase      {} (since {})", status.phase.describe(), status.phase_since);
            if let Some(detail) = &status.detail {
                println!("  detail     {detail}");
            }
            println!("  polls      {} (last {})", status.polls, status.last_poll_at.as_deref().unwrap_or("-"));
            if let Some(invite) = &status.invite {
                println!(
                    "  invite     {:?} {} signed {}/{}",
                    invite.name, invite.config_hash, invite.signed, invite.total
                );
                for missing in &invite.missing {
                    println!("             waiting for {missing}");
                }
            }
            if let Some(dkg) = &status.dkg {
                println!("  dkg        attempt {}: {}", dkg.attempt, dkg.step);
            }
            if let Some(error) = &status.error {
                match &error.next_retry_at {
                    Some(at) => println!("  error      {} (next try {at})", error.reason),
                    None => println!("  error      {}", error.reason),
                }
            }
            if let Some(lock) = &status.lock_hash {
                println!("  lock       {lock}");
            }
        }
        None => println!("  phase      not started (no status yet)"),
    }
    if let Some(enr) = &view.enr {
        println!("  enr        {enr}");
    }
    if let Some(pod) = &view.pod {
        let ready = if pod.ready { " ready" } else { "" };
        println!("  pod        {} {}{ready}, {} restarts", pod.name, pod.phase, pod.restarts);
        for container in &pod.containers {
            println!("             {:<17} {}", container.name, container.state);
        }
    }
    if let Some(charon) = &view.charon {
        println!(
            "  charon     {}, peers {}/{}, validators {}, duties {}",
            charon.readiness.describe(),
            charon.peers_connected,
            charon.peers_total,
            charon.validators.map_or("-".into(), |v| v.to_string()),
            crate::health::duty_summary(charon)
        );
    }
    for line in view.problems.iter().chain(&view.reminders) {
        println!("  ! {line}");
    }
    if let Some(at) = &view.last_backup {
        println!("  backup     last taken {at}");
    }
}
