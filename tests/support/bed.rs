//! The test bed: real etcd, kube-apiserver and kube-controller-manager built
//! by `tests/bed/setup`, started once per test binary on 127.0.0.1 with free
//! ports in a temp dir.
//!
//! Everything the bed starts dies with the test binary: children get
//! `PR_SET_PDEATHSIG` from a thread that lives as long as the process (so a
//! crash or SIGKILL of the test binary still takes them down), and an
//! `atexit` handler kills them and removes the temp dir on a normal exit,
//! whether the tests passed or failed.

use std::{
    fs,
    io::Write,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, OnceLock, mpsc},
    time::{Duration, Instant},
};

use k8s_openapi::api::{authentication::v1::TokenRequest, core::v1::ServiceAccount};
use kube::{Api, Client, Config, api::PostParams, config::AuthInfo};

/// The command that builds every binary the bed needs.
pub const SETUP_COMMAND: &str = "tests/bed/setup";

const ADMIN_TOKEN_USER: &str = "bed-admin";

/// Path of a binary built by the test bed. Panics with the command that
/// builds it, so a missing bed is a loud failure, never a silent skip.
pub fn bin(name: &str) -> PathBuf {
    let path = bed_dir().join("bin").join(name);
    assert!(
        path.is_file(),
        "test bed binary {} is missing; build it with `{SETUP_COMMAND}` (or `make test`)",
        path.display()
    );
    path
}

/// The reference of an image `tests/bed/images` built (e.g. `charon`), as
/// the chart's defaults name it.
pub fn image_ref(name: &str) -> String {
    let path = bed_dir().join("images/images.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}); build the images with tests/bed/images", path.display()));
    let images: serde_json::Value = serde_json::from_str(&text).unwrap();
    images[name]["ref"].as_str().unwrap_or_else(|| panic!("no image {name} in {}", path.display())).to_string()
}

/// Where the bed keeps its binaries and state (`.bed`, or `$DV_BED_DIR`).
pub fn bed_dir() -> PathBuf {
    std::env::var_os("DV_BED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".bed"))
}

/// A running control plane.
pub struct Bed {
    /// `https://127.0.0.1:<port>` of kube-apiserver.
    pub server: String,
    /// Admin kubeconfig (system:masters), for helm and kubectl.
    pub kubeconfig: PathBuf,
    ca_der: Vec<u8>,
    ca_pem: String,
    admin_token: String,
}

/// The bed of this test binary, started on first use. A failed start is
/// remembered, so every later test fails with the same reason instead of
/// starting another bed.
pub fn bed() -> &'static Bed {
    static BED: OnceLock<Result<Bed, String>> = OnceLock::new();
    let started = BED.get_or_init(|| {
        std::panic::catch_unwind(start).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "test bed start-up panicked".into())
        })
    });
    match started {
        Ok(bed) => bed,
        Err(reason) => panic!("{reason}"),
    }
}

struct Started {
    /// Each process with the name of its log, in start order.
    processes: Vec<(u32, &'static str)>,
    dir: Option<PathBuf>,
}

static STARTED: Mutex<Started> = Mutex::new(Started { processes: Vec::new(), dir: None });

extern "C" fn stop_everything() {
    let Ok(mut started) = STARTED.lock() else {
        return;
    };
    // Reverse order: the controller-manager and apiserver go before etcd.
    for (pid, _) in started.processes.drain(..).rev() {
        // SAFETY: plain syscalls on pids this module started.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && unsafe { libc::kill(pid as i32, 0) } == 0 {
            let mut status = 0;
            unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
            libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
        }
    }
    if let Some(dir) = started.dir.take() {
        let _ = fs::remove_dir_all(dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> Bed {
    let etcd = bin("etcd");
    let apiserver = bin("kube-apiserver");
    let controller_manager = bin("kube-controller-manager");
    let dir = tempfile::Builder::new().prefix("dv-bed-").tempdir().unwrap().keep();
    STARTED.lock().unwrap().dir = Some(dir.clone());
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_everything) };

    let pki = Pki::generate(&dir);
    let admin_token = random_token();
    fs::write(dir.join("tokens.csv"), format!("{admin_token},{ADMIN_TOKEN_USER},{ADMIN_TOKEN_USER},system:masters\n"))
        .unwrap();

    let etcd_port = free_port();
    let etcd_peer_port = free_port();
    let api_port = free_port();
    let server = format!("https://127.0.0.1:{api_port}");
    let kubeconfig = dir.join("admin.kubeconfig");
    write_kubeconfig(&kubeconfig, &server, &pki.ca_pem, &admin_token);

    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let etcd_peer = format!("http://127.0.0.1:{etcd_peer_port}");
    let d = |name: &str| dir.join(name).display().to_string();
    let etcd_command = {
        let mut c = Command::new(&etcd);
        c.args([
            "--name=bed",
            &format!("--data-dir={}", d("etcd")),
            &format!("--listen-client-urls={etcd_url}"),
            &format!("--advertise-client-urls={etcd_url}"),
            &format!("--listen-peer-urls={etcd_peer}"),
            &format!("--initial-advertise-peer-urls={etcd_peer}"),
            &format!("--initial-cluster=bed={etcd_peer}"),
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]);
        c
    };
    let apiserver_command = {
        let mut c = Command::new(&apiserver);
        c.args([
                &format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                &format!("--secure-port={api_port}"),
                &format!("--cert-dir={}", d("apiserver-certs")),
                &format!("--tls-cert-file={}", d("serving.crt")),
                &format!("--tls-private-key-file={}", d("serving.key")),
                &format!("--client-ca-file={}", d("ca.crt")),
                &format!("--token-auth-file={}", d("tokens.csv")),
                "--authorization-mode=RBAC",
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity,LimitRanger,ResourceQuota,DefaultStorageClass",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                &format!("--service-account-key-file={}", d("sa.pub")),
                &format!("--service-account-signing-key-file={}", d("sa.key")),
                "--service-cluster-ip-range=10.96.0.0/16",
                "--allow-privileged=false",
                "--profiling=false",
                "--v=1",
            ]);
        c
    };
    let controller_manager_command = {
        let mut c = Command::new(&controller_manager);
        c.args([
            &format!("--kubeconfig={}", kubeconfig.display()),
            &format!("--authentication-kubeconfig={}", kubeconfig.display()),
            &format!("--authorization-kubeconfig={}", kubeconfig.display()),
            "--bind-address=127.0.0.1",
            &format!("--secure-port={}", free_port()),
            &format!("--cert-dir={}", d("controller-manager-certs")),
            "--leader-elect=false",
            &format!("--service-account-private-key-file={}", d("sa.key")),
            &format!("--root-ca-file={}", d("ca.crt")),
            "--use-service-account-credentials=false",
            "--controllers=*",
            "--profiling=false",
            "--v=1",
        ]);
        c
    };

    // The controller-manager exits at once if the apiserver does not answer
    // yet (a slow start on a busy machine), so it starts after /readyz.
    let spawner = Spawner::new(dir.clone());
    spawner.spawn("etcd", etcd_command);
    spawner.spawn("kube-apiserver", apiserver_command);
    let bed = Bed { server, kubeconfig, ca_der: pki.ca_der, ca_pem: pki.ca_pem, admin_token };
    bed.wait_until(&dir, Readiness::ApiServer);
    spawner.spawn("kube-controller-manager", controller_manager_command);
    bed.wait_until(&dir, Readiness::ControllerManager);
    bed
}

/// Forks the bed's processes from one thread that parks for the rest of the
/// process: PR_SET_PDEATHSIG fires when the forking thread exits, so the
/// children must be spawned from a thread that outlives them.
struct Spawner {
    requests: mpsc::Sender<(&'static str, Command)>,
    results: mpsc::Receiver<std::io::Result<Child>>,
}

impl Spawner {
    fn new(log_dir: PathBuf) -> Spawner {
        let (requests, incoming) = mpsc::channel::<(&'static str, Command)>();
        let (outgoing, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("test-bed".into())
            .spawn(move || {
                for (name, command) in incoming.iter() {
                    outgoing.send(spawn_logged(name, command, &log_dir)).unwrap();
                }
                loop {
                    std::thread::park();
                }
            })
            .unwrap();
        Spawner { requests, results }
    }

    fn spawn(&self, name: &'static str, command: Command) {
        self.requests.send((name, command)).expect("test bed thread died");
        let child = self
            .results
            .recv()
            .expect("test bed thread died")
            .unwrap_or_else(|e| panic!("test bed: cannot start {name}: {e}"));
        STARTED.lock().unwrap().processes.push((child.id(), name));
        // The Child handle is dropped on purpose: the process is owned by
        // `stop_everything`, which signals and reaps it by pid.
        std::mem::forget(child);
    }
}

#[derive(Clone, Copy, Debug)]
enum Readiness {
    /// kube-apiserver passes /readyz.
    ApiServer,
    /// The controller-manager has created the default ServiceAccount.
    ControllerManager,
}

fn spawn_logged(name: &str, mut command: Command, dir: &Path) -> std::io::Result<Child> {
    let log = fs::File::create(dir.join(format!("{name}.log")))?;
    command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: prctl is async-signal-safe and touches only this child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

fn log_tail(dir: &Path, name: &str) -> String {
    let text = fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    // Start-up flag dumps bury the error; leave them out.
    let lines: Vec<&str> = text.lines().filter(|line| !line.contains("] FLAG: ")).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl Bed {
    /// A client with cluster-admin rights.
    pub async fn client(&self) -> Client {
        self.client_with(|auth| auth.token = Some(self.admin_token.clone().into()))
    }

    /// A client that authenticates as a ServiceAccount with a token minted
    /// by the real TokenRequest API, so RBAC applies exactly as in a pod.
    pub async fn client_as_service_account(&self, namespace: &str, name: &str) -> Client {
        let token = self.mint_token(namespace, name).await;
        self.client_with(|auth| auth.token = Some(token.into()))
    }

    /// A kubeconfig at `path` that authenticates as a ServiceAccount, for
    /// running our binaries (and helm) exactly as that account.
    pub async fn kubeconfig_for_service_account(&self, namespace: &str, name: &str, path: &Path) -> PathBuf {
        let token = self.mint_token(namespace, name).await;
        write_kubeconfig(path, &self.server, &self.ca_pem, &token);
        path.to_path_buf()
    }

    /// Creates a namespace that enforces the `restricted` Pod Security Standard.
    pub async fn create_restricted_namespace(&self, name: &str) {
        let namespace = serde_json::json!({
            "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}
        });
        Api::<k8s_openapi::api::core::v1::Namespace>::all(self.client().await)
            .create(&PostParams::default(), &serde_json::from_value(namespace).unwrap())
            .await
            .unwrap();
    }

    /// A token for a ServiceAccount from the TokenRequest API.
    pub async fn mint_token(&self, namespace: &str, name: &str) -> String {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client().await, namespace);
        let request = TokenRequest {
            spec: k8s_openapi::api::authentication::v1::TokenRequestSpec {
                audiences: vec!["https://kubernetes.default.svc.cluster.local".into()],
                expiration_seconds: Some(3600),
                ..Default::default()
            },
            ..Default::default()
        };
        let issued = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .unwrap_or_else(|e| panic!("minting a token for {namespace}/{name}: {e}"));
        issued.status.expect("TokenRequest without status").token
    }

    fn client_with(&self, set_auth: impl FnOnce(&mut AuthInfo)) -> Client {
        let mut config = Config::new(self.server.parse().unwrap());
        config.root_cert = Some(vec![self.ca_der.clone()]);
        config.default_namespace = "default".into();
        set_auth(&mut config.auth_info);
        Client::try_from(config).expect("kube client for the test bed")
    }

    /// Blocks until the bed reaches `readiness`. It runs on a thread of its
    /// own because the first caller is usually inside a test's tokio runtime.
    fn wait_until(&self, dir: &Path, readiness: Readiness) {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.wait_until_on_this_thread(dir, readiness))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    fn wait_until_on_this_thread(&self, dir: &Path, readiness: Readiness) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let client = self.client().await;
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let processes = STARTED.lock().unwrap().processes.clone();
                for (pid, name) in &processes {
                    let mut status = 0;
                    if unsafe { libc::waitpid(*pid as i32, &mut status, libc::WNOHANG) } == *pid as i32 {
                        panic!("test bed: {name} exited during start-up:\n{}", log_tail(dir, name));
                    }
                }
                let ready = match readiness {
                    Readiness::ApiServer => client
                        .request_text(http::Request::get("/readyz").body(Vec::new()).unwrap())
                        .await
                        .is_ok_and(|body| body.trim() == "ok"),
                    Readiness::ControllerManager => Api::<ServiceAccount>::namespaced(client.clone(), "default")
                        .get_opt("default")
                        .await
                        .ok()
                        .flatten()
                        .is_some(),
                };
                if ready {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "test bed not ready ({readiness:?}) after 120 s\n--- kube-apiserver ---\n{}\n--- kube-controller-manager ---\n{}",
                    log_tail(dir, "kube-apiserver"),
                    log_tail(dir, "kube-controller-manager")
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_kubeconfig(path: &Path, server: &str, ca_pem: &str, token: &str) {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: bed\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: bed\n  context:\n    cluster: bed\n    user: admin\n    namespace: default\n\
         current-context: bed\n"
    );
    let mut file = fs::OpenOptions::new().create_new(true).write(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// The bed's certificates: a CA, the apiserver's serving certificate for
/// 127.0.0.1, and the ServiceAccount token signing key.
struct Pki {
    ca_pem: String,
    ca_der: Vec<u8>,
}

impl Pki {
    fn generate(dir: &Path) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "dv-pod test bed CA");
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let mut serving = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        let serving_key = KeyPair::generate().unwrap();
        let serving_cert = serving.signed_by(&serving_key, &ca).unwrap();

        fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
        fs::write(dir.join("serving.crt"), serving_cert.pem()).unwrap();
        fs::write(dir.join("serving.key"), serving_key.serialize_pem()).unwrap();
        let service_account_key = KeyPair::generate().unwrap();
        fs::write(dir.join("sa.key"), service_account_key.serialize_pem()).unwrap();
        fs::write(dir.join("sa.pub"), service_account_key.public_key_pem()).unwrap();
        Pki { ca_pem: ca.pem(), ca_der: ca.der().to_vec() }
    }
}

/// What the chart's ENR Job pod runs (`dv-sidecar enr --create`), with the
/// bed's admin kubeconfig; returns the ENR it prints.
pub async fn run_enr_job(namespace: &str, release: &str) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
        .env("KUBECONFIG", &bed().kubeconfig)
        .args(["enr", "--namespace", namespace, "--create", "--release", release])
        .arg(format!("--secret-name={release}-enr-key"))
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A real `dv-sidecar dkg` in place of a release's pod (the bed has no
/// kubelet): it takes the ENR key the chart's Job stored in
/// `<release>-enr-key`, follows the Obol API at `api` as `operator`, and
/// publishes to the `<release>-status` ConfigMap, as the init container does.
pub async fn run_release_sidecar(
    namespace: &str,
    release: &str,
    operator: &str,
    api: std::net::SocketAddr,
    work: &Path,
) -> super::process::Spawned {
    use std::os::unix::fs::PermissionsExt;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(bed().client().await, namespace);
    let secret = secrets.get(&format!("{release}-enr-key")).await.unwrap();
    let key = secret.data.unwrap()["charon-enr-private-key"].0.clone();
    let key_file = work.join("enr-key");
    fs::write(&key_file, key).unwrap();
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();
    let data_dir = work.join("data");
    fs::create_dir_all(&data_dir).unwrap();
    let mut sidecar = super::formation::sidecar_dkg(&data_dir, &key_file, operator, api);
    sidecar
        .env("KUBECONFIG", &bed().kubeconfig)
        .args(["--namespace", namespace])
        .arg(format!("--status-configmap={release}-status"));
    super::process::spawn("dv-sidecar", sidecar, &work.join("sidecar.log"))
}
