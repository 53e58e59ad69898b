//! Formation with real Charon: four `dv-sidecar dkg` processes, the Obol API
//! simulator and a real `charon relay` on loopback (see support/formation.rs),
//! first as it should go, then with everything that goes wrong in practice.

mod support;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use dv_pod::{
    definition::Network,
    enr::EnrPrivateKey,
    obol_api::simulator::{ClusterPlan, Endpoint, Fault, FaultRule, OperatorPlan, SignAt, Simulator, SimulatorConfig},
    status::{self, Phase, Status},
};
use support::{
    OPERATOR,
    bed::bin,
    formation::{Formation, tail},
    process::{Spawned, free_port, spawn, wait_for_http_ok},
};

fn all_signed() -> [SignAt; 4] {
    [SignAt::Now, SignAt::Now, SignAt::Now, SignAt::Now]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_sidecars_detect_the_last_signature_run_a_real_dkg_and_the_result_runs() {
    let mut formation = Formation::new(true).await;
    let delays = [0.0, 3.0, 5.0, 7.0];
    let created_at = SystemTime::now();
    formation.create_cluster(delays.map(|d| if d == 0.0 { SignAt::Now } else { SignAt::AfterSeconds(d) }));
    let last_signature = created_at + Duration::from_secs_f64(delays[3]);

    let mut sidecars = formation.start_all();
    formation.expect_success(&mut sidecars, Duration::from_secs(240));
    formation.assert_formed();
    let phases = formation.check_status_lines();
    for phase in
        ["key_ready", "waiting_for_invite", "awaiting_our_signature", "waiting_for_signatures", "dkg_running", "done"]
    {
        assert!(phases.contains_key(phase), "no {phase} status was published: {:?}", phases.keys());
    }
    for node in &formation.nodes {
        let started = status::read_file(&node.status_file).unwrap().dkg.unwrap().started_at;
        let reaction = humantime::parse_rfc3339(&started).unwrap().duration_since(last_signature).unwrap_or_default();
        println!("figure: charon dkg started {reaction:?} after the last signature (initial interval 1 s)");
        assert!(reaction <= Duration::from_secs(2), "the DKG started {reaction:?} after the last signature");
    }

    // The artifacts work: Charon runs on them against its simnet mocks.
    let mut charons = Vec::new();
    let mut readiness = Vec::new();
    for (i, node) in formation.nodes.iter().enumerate() {
        let monitoring = free_port();
        let cluster = node.data_dir.join("cluster");
        let mut command = Command::new(bin("charon"));
        command.args([
            "run",
            &format!("--lock-file={}", cluster.join("cluster-lock.json").display()),
            &format!("--private-key-file={}", node.key_file.display()),
            "--simnet-beacon-mock",
            "--simnet-validator-mock",
            &format!("--simnet-validator-keys-dir={}", cluster.join("validator_keys").display()),
            &format!("--p2p-relays={}", formation.relay_url),
            &format!("--p2p-tcp-address=127.0.0.1:{}", free_port()),
            &format!("--monitoring-address=127.0.0.1:{monitoring}"),
            &format!("--validator-api-address=127.0.0.1:{}", free_port()),
            "--log-format=json",
        ]);
        charons.push(spawn("charon run", command, &formation.work.path().join(format!("charon{i}.log"))));
        readiness.push(format!("http://127.0.0.1:{monitoring}/readyz"));
    }
    let started = Instant::now();
    for (i, url) in readiness.iter().enumerate() {
        let log = formation.work.path().join(format!("charon{i}.log"));
        assert!(
            wait_for_http_ok(url, Duration::from_secs(120)).await,
            "charon {i} never became ready:\n{}",
            tail(&log)
        );
    }
    println!("figure: four charon nodes ready {:?} after start", started.elapsed());

    // `helm test`'s program agrees, reading the status from a ConfigMap on the bed.
    let status = std::fs::read_to_string(&formation.nodes[0].status_file).unwrap();
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(support::bed::bed().client().await, "default");
    let check = |name: &'static str| {
        let charon_url = readiness[0].trim_end_matches("/readyz").to_string();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
                .env("KUBECONFIG", &support::bed::bed().kubeconfig)
                .args(["check", "--namespace", "default", "--status-configmap", name, "--charon-url", &charon_url])
                .output()
                .await
                .unwrap()
        }
    };
    for (name, text) in [("formed", status.clone()), ("forming", status.replace("\"done\"", "\"dkg_running\""))] {
        let configmap = serde_json::json!({"metadata": {"name": name}, "data": {"status.json": text}});
        configmaps.create(&Default::default(), &serde_json::from_value(configmap).unwrap()).await.unwrap();
    }
    let formed = check("formed").await;
    assert!(formed.status.success(), "{}", String::from_utf8_lossy(&formed.stdout));
    assert!(String::from_utf8_lossy(&formed.stdout).contains("Charon ready, 3/3 peers"), "{formed:?}");
    let forming = check("forming").await;
    assert_eq!(forming.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&forming.stdout).contains("formation is not complete"), "{forming:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_is_down_at_start_and_comes_up_later_still_forms_the_cluster() {
    let mut formation = Formation::new(false).await;
    formation.create_cluster(all_signed());
    let mut sidecars = formation.start_all();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let waiting = status::read_file(&formation.nodes[0].status_file).unwrap();
    assert_eq!(waiting.phase, Phase::WaitingForInvite);
    assert!(waiting.error.is_some_and(|e| e.reason.contains("request failed")), "the outage is reported in the status");
    formation.serve_api().await;
    formation.expect_success(&mut sidecars, Duration::from_secs(240));
    formation.assert_formed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_fault_on_the_way_is_survived_and_the_cluster_still_forms() {
    let mut formation = Formation::new(true).await;
    let rule = |fault, times| FaultRule { endpoint: Endpoint::Any, fault, times: Some(times) };
    formation.set_faults(vec![
        rule(Fault::ServerError, 3),
        rule(Fault::TooManyRequests { retry_after_seconds: 1 }, 2),
        rule(Fault::Hang { seconds: 11.0 }, 1),
        rule(Fault::SlowBody { bytes_per_second: 20_000 }, 2),
        rule(Fault::TruncatedJson, 2),
        rule(Fault::WrongContentType, 2),
        rule(Fault::EmptyPage, 2),
        rule(Fault::ShiftingTotalPages, 3),
        rule(Fault::DuplicateAcrossPages, 3),
        rule(Fault::UnknownVersion, 3),
        rule(Fault::TamperedWithdrawalAddress, 3),
    ]);
    formation.create_cluster([
        SignAt::Now,
        SignAt::AfterSeconds(2.0),
        SignAt::AfterSeconds(3.0),
        SignAt::AfterSeconds(4.0),
    ]);
    let mut sidecars = formation.start_all();
    formation.expect_success(&mut sidecars, Duration::from_secs(300));
    formation.assert_formed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_offline_during_the_dkg_makes_the_others_retry_until_it_returns() {
    let mut formation = Formation::new(true).await;
    formation.attempt_timeout_seconds = 15;
    formation.create_cluster(all_signed());
    let mut sidecars: Vec<_> = (0..3).map(|i| formation.start_sidecar(i)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while status::read_file(&formation.nodes[0].status_file).map(|s| s.phase).ok() != Some(Phase::DkgFailed) {
        assert!(
            Instant::now() < deadline,
            "node 0 never gave up on its first attempt:\n{}",
            tail(&formation.nodes[0].log)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let failed = status::read_file(&formation.nodes[0].status_file).unwrap();
    assert!(failed.error.unwrap().next_retry_at.is_some(), "a failure says when the next attempt comes");

    sidecars.push(formation.start_sidecar(3));
    formation.expect_success(&mut sidecars, Duration::from_secs(240));
    formation.assert_formed();
    assert!(status::read_file(&formation.nodes[0].status_file).unwrap().dkg.unwrap().attempt >= 2);
    assert!(formation.check_status_lines().contains_key("dkg_failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_killed_mid_dkg_and_restarted_forms_with_the_others() {
    let mut formation = Formation::new(true).await;
    formation.create_cluster(all_signed());
    let mut sidecars = formation.start_all();
    let deadline = Instant::now() + Duration::from_secs(60);
    while status::read_file(&formation.nodes[1].status_file).map(|s| s.phase).ok() != Some(Phase::DkgRunning) {
        assert!(Instant::now() < deadline, "node 1 never started its DKG:\n{}", tail(&formation.nodes[1].log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    sidecars[1].signal(libc::SIGKILL);
    sidecars[1].wait_for_exit(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(2)).await;
    sidecars[1] = formation.start_sidecar(1);
    formation.expect_success(&mut sidecars, Duration::from_secs(300));
    formation.assert_formed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_success_a_restart_runs_no_second_dkg_and_an_interrupted_move_is_completed() {
    let mut formation = Formation::new(true).await;
    formation.create_cluster(all_signed());
    let mut sidecars = formation.start_all();
    formation.expect_success(&mut sidecars, Duration::from_secs(240));
    let lock_hash = formation.assert_formed();
    let cluster = formation.nodes[0].data_dir.join("cluster");
    let lock_before = std::fs::read(cluster.join("cluster-lock.json")).unwrap();

    // A restart after success (the API unreachable, so any poll would show).
    formation.set_faults(vec![FaultRule { endpoint: Endpoint::Any, fault: Fault::ServerError, times: None }]);
    let mut again = formation.start_sidecar(0);
    let exit = tokio::task::block_in_place(|| again.wait_for_exit(Duration::from_secs(20)));
    assert!(exit.is_some_and(|s| s.success()), "{}", tail(&formation.nodes[0].log));
    assert_eq!(std::fs::read(cluster.join("cluster-lock.json")).unwrap(), lock_before);

    // A kill between Charon finishing and the move: the complete result sits
    // in the scratch directory. The restart must put it in place, not redo it.
    let scratch = formation.nodes[2].data_dir.join(".dkg-attempt");
    std::fs::rename(formation.nodes[2].data_dir.join("cluster"), &scratch).unwrap();
    std::fs::remove_file(scratch.join("dkg-complete.json")).unwrap();
    let mut resumed = formation.start_sidecar(2);
    let exit = tokio::task::block_in_place(|| resumed.wait_for_exit(Duration::from_secs(20)));
    assert!(exit.is_some_and(|s| s.success()), "{}", tail(&formation.nodes[2].log));
    assert_eq!(formation.assert_formed(), lock_hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_definition_is_never_used_for_a_dkg() {
    let mut formation = Formation::new(true).await;
    formation.set_faults(vec![FaultRule {
        endpoint: Endpoint::Any,
        fault: Fault::TamperedWithdrawalAddress,
        times: None,
    }]);
    formation.create_cluster(all_signed());
    let _sidecar = formation.start_sidecar(0);
    tokio::time::sleep(Duration::from_secs(6)).await;

    let node = &formation.nodes[0];
    let current = status::read_file(&node.status_file).unwrap();
    assert!(current.polls >= 3, "kept polling: {current:?}");
    assert!(matches!(current.phase, Phase::WaitingForInvite), "{current:?}");
    assert!(current.detail.as_deref().is_some_and(|d| d.contains("cannot be used: ")), "{current:?}");
    assert!(current.dkg.is_none());
    assert!(!node.data_dir.join(".dkg-attempt").exists() && !node.data_dir.join("cluster").exists());
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(log.contains("refusing an invalid definition"), "{}", tail(&node.log));
}

/// A sidecar alone, polling `api` as `operator` the way a pod does before
/// its DKG (no relay, no peers); returns it with its status file and log.
fn lone_sidecar(work: &Path, operator: &str, api: SocketAddr) -> (Spawned, PathBuf, PathBuf) {
    let key_file = work.join("enr-key");
    EnrPrivateKey::generate().unwrap().save_new(&key_file).unwrap();
    let data_dir = work.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let (status_file, log) = (work.join("status.json"), work.join("sidecar.log"));
    let mut command = support::formation::sidecar_dkg(&data_dir, &key_file, operator, api);
    command.args(["--max-retry-delay-seconds", "4"]).arg("--status-file").arg(&status_file);
    (spawn("dv-sidecar", command, &log), status_file, log)
}

/// The first status in `file` that `wanted` accepts, checked against the schema.
async fn wait_for_status(file: &Path, log: &Path, wanted: impl Fn(&Status) -> bool) -> Status {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            let status: Status = serde_json::from_str(&text).unwrap();
            if wanted(&status) {
                support::schema::assert_matches("status.v1", &serde_json::from_str(&text).unwrap());
                return status;
            }
        }
        assert!(Instant::now() < deadline, "no such status; the sidecar logged:\n{}", tail(log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_port_closed_the_status_names_the_endpoint_and_when_the_next_poll_comes() {
    let work = tempfile::tempdir().unwrap();
    let closed = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (_sidecar, status_file, log) = lone_sidecar(work.path(), OPERATOR, closed);

    let status = wait_for_status(&status_file, &log, |s| s.error.is_some()).await;
    let error = status.error.unwrap();
    assert!(error.reason.contains(&format!("cannot reach the Obol API at http://{closed}")), "{}", error.reason);
    assert!(error.reason.to_lowercase().contains("connection refused"), "{}", error.reason);
    assert!(error.reason.contains("charon.dkgSidecar.apiEndpoint"), "{}", error.reason);
    let next = error.next_retry_at.expect("a poll that failed says when the next one comes");
    assert_eq!(Some(&next), status.next_poll_at.as_ref(), "the retry is the next poll");
    let polled = humantime::parse_rfc3339(status.last_poll_at.as_deref().unwrap()).unwrap();
    assert!(humantime::parse_rfc3339(&next).unwrap() > polled, "{next} is not after the poll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_address_that_no_invite_names_is_reported_with_the_value_to_check() {
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let api = simulator.clone().spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    // The Launchpad holds an invite, but for other operators' addresses.
    let others = (0..4)
        .map(|_| OperatorPlan {
            enr: Some(EnrPrivateKey::generate().unwrap().record().text().into()),
            eth_private_key: None,
            sign: SignAt::Now,
        })
        .collect();
    let plan = ClusterPlan {
        name: "theirs".into(),
        network: Network::Hoodi,
        num_validators: 1,
        threshold: None,
        operators: others,
    };
    simulator.create(plan).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (_sidecar, status_file, log) = lone_sidecar(work.path(), OPERATOR, api);

    let status = wait_for_status(&status_file, &log, |s| s.polls >= 1 && s.detail.is_some()).await;
    assert_eq!(status.phase, Phase::WaitingForInvite);
    assert_eq!(status.error, None);
    let detail = status.detail.unwrap();
    assert!(detail.contains(&format!("no cluster invite on http://{api} names operator {OPERATOR}")), "{detail}");
    assert!(detail.contains("Obol Launchpad") && detail.contains("charon.operatorAddress"), "{detail}");
}
