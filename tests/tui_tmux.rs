//! The wizard in a real terminal: tmux runs the real `dv-tui` against the
//! bed; the test types the answers and reads the screen. Helm 3 installs the
//! chart on the bed's API server, the ENR Job's program and a real
//! `dv-sidecar dkg` write what the pod would, and the Obol API simulator
//! plays the Launchpad.

mod support;

use std::time::Duration;

use dv_pod::{
    definition::{Network, eip712},
    obol_api::simulator::{ClusterPlan, OperatorPlan, SignAt, Simulator, SimulatorConfig},
};
use support::{
    bed::{bed, bin, run_enr_job, run_release_sidecar},
    process::free_port,
    tmux::Tmux,
};

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_installs_the_chart_shows_the_enr_and_follows_formation_in_a_real_terminal() {
    let work = tempfile::tempdir().unwrap();
    bed().create_restricted_namespace("wizard").await;
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let api = simulator.clone().spawn(([127, 0, 0, 1], free_port()).into()).await.unwrap();
    let our_eth_key = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let operator = eip712::address_of(our_eth_key.verifying_key()).to_checksum(None);
    let values = work.path().join("values.yaml");

    let command = format!(
        "env KUBECONFIG={} HELM={} NO_COLOR=1 XDG_STATE_HOME={} {} --release e2e -n wizard --chart {} -f {} --helm-arg=--no-hooks",
        bed().kubeconfig.display(),
        bin("helm3").display(),
        work.path().display(),
        env!("CARGO_BIN_EXE_dv-tui"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/chart"),
        values.display()
    );
    let tmux = Tmux::start(work.path(), &command, 200, 60);

    // Preflight against the bed: context, API server, permissions, helm.
    let preflight =
        tmux.wait_for(&["Permission to install", "Obol API", "Ready to configure"], Duration::from_secs(30));
    assert!(preflight.contains("✓ Kubernetes context") && preflight.contains("v1.34.4"), "{preflight}");
    assert!(preflight.contains("! Default StorageClass"), "the bed has no default class: {preflight}");

    // Configure: a wrong checksum is named as it is typed, then fixed.
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["Operator address"], Duration::from_secs(5));
    // The first letter's case flipped: mixed case that fails EIP-55.
    let flip = operator[2..].find(|c: char| c.is_ascii_alphabetic()).unwrap() + 2;
    let mut typo = operator.clone();
    let letter = typo.remove(flip);
    typo.insert(
        flip,
        if letter.is_ascii_uppercase() { letter.to_ascii_lowercase() } else { letter.to_ascii_uppercase() },
    );
    tmux.type_text(&typo);
    tmux.wait_for(&["EIP-55"], Duration::from_secs(5));
    tmux.keys(&["BSpace"; 42]);
    tmux.type_text(&operator);
    tmux.install_on_hoodi_with_api(&format!("http://{api}"));
    // A successful install moves on to the ENR; Helm's output stays on screen 3.
    tmux.wait_for(&["Waiting for the ENR Job"], Duration::from_secs(60));
    tmux.keys(&["3"]);
    let installed = tmux.wait_for(&["installed", "STATUS: deployed"], Duration::from_secs(5));
    assert!(installed.contains("upgrade --install e2e"), "the exact command is shown: {installed}");
    let saved: serde_json::Value = serde_norway::from_str(&std::fs::read_to_string(&values).unwrap()).unwrap();
    assert_eq!(saved["charon"]["operatorAddress"], operator.as_str());
    assert_eq!(saved["network"], "hoodi");

    // The ENR Job's program makes the key; the wizard shows the ENR and its QR code.
    tmux.keys(&["4"]);
    let enr = run_enr_job("wizard", "e2e").await;
    let screen = tmux.wait_for(&[&enr[..60], "Your ENR"], Duration::from_secs(20));
    assert!(screen.contains('█'), "the QR code is drawn on a 200x60 terminal:\n{screen}");

    // The Launchpad invites us; the real sidecar follows it into the status
    // ConfigMap, and the wizard, told to follow again, moves with it.
    tmux.keys(&["f"]);
    let others = 3;
    let mut operators = vec![OperatorPlan {
        enr: Some(enr.clone()),
        eth_private_key: Some(hex::encode(our_eth_key.to_bytes())),
        sign: SignAt::AfterSeconds(4.0),
    }];
    for i in 0..others {
        let key = dv_pod::enr::EnrPrivateKey::generate().unwrap();
        operators.push(OperatorPlan {
            enr: Some(key.record().text().to_string()),
            eth_private_key: None,
            sign: if i == 0 { SignAt::Now } else { SignAt::Manual },
        });
    }
    simulator
        .create(ClusterPlan {
            name: "wizard e2e".into(),
            network: Network::Hoodi,
            num_validators: 1,
            threshold: None,
            operators,
        })
        .unwrap();
    let _sidecar = run_release_sidecar("wizard", "e2e", &operator, api, work.path()).await;

    tmux.wait_for(&["An invite names you"], Duration::from_secs(30));
    let formation = tmux.wait_for(&["Waiting for the other operators to sign", "signed 2/4"], Duration::from_secs(30));
    assert!(formation.contains(&operator) && formation.contains("✓ signed") && formation.contains("… waiting"));

    // Idle cost of the wizard while it follows formation.
    let pid = tmux.program_pid();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(5));
    let ticks = cpu_ticks(pid) - before;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    println!(
        "figure: dv-tui idle CPU {:.2}% (over 5 s), RSS {} KiB, peak RSS {} KiB",
        ticks as f64 / hz / 5.0 * 100.0,
        memory_kib(pid, "VmRSS"),
        memory_kib(pid, "VmHWM")
    );

    tmux.keys(&["6"]);
    tmux.wait_for(&["e2e-0", "Pending"], Duration::from_secs(10));
    tmux.keys(&["q"]);
    tmux.wait_for(&["EXITED 0"], Duration::from_secs(10));
}
