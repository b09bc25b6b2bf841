//! The real stack the browser tests drive: three api replicas in this process, one worker, three
//! model simulators (a quick one, the default model; one that takes long to answer, for the cancel
//! test; and one the registry does not list, demanding a key, that the admin page's test adds as a
//! new endpoint), and two gateway processes in front of the replicas: one with loopback trusted
//! (no rate limits), one with no trusted network and a tight API rate, where the page meets a 429.
//! The replicas have an admin password, and they and the worker share a model key, so keys given
//! on the admin page and forge tokens can be sealed and opened. A git server and a stand-in
//! GitHub on loopback serve [`REPOSITORY`], which the api may reach (loopback, plain HTTP).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use domain::{ModelId, ModelRegistry, ModelSpec};
use forge::testing::apis::{self, MockApi};
use forge::testing::git_server::GitServer;
use simulator::{Simulator, SimulatorConfig, SimulatorHandle};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use system_tests::gateway::{self, GatewayConfig};
use system_tests::in_process::{
    Running, api_settings, simulator_model, start_worker, worker_settings,
};
use system_tests::ports::free_port;
use system_tests::redis::{remove_keys, unique_prefix};

pub const REPLICAS: usize = 3;

/// The environment variable naming the key of the `hosted` model: never set, so the model is
/// listed as unavailable, with the reason.
pub const UNSET_KEY_VARIABLE: &str = "AIUT_BROWSER_TEST_NEVER_SET_KEY";

/// The administrator's password of the replicas.
pub const ADMIN_PASSWORD: &str = "browser-tests-admin-password";

/// The model key sealing the keys of models added at runtime (`AIUT_MODEL_KEYS__CURRENT`).
const MODEL_KEY: &str = "k1:CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=";

/// The key the new endpoint demands.
pub const NEW_ENDPOINT_KEY: &str = "sk-browser-new-endpoint-7319";

/// The repository the stand-in GitHub lists first, served by the git server.
pub const REPOSITORY: &str = "acme/widgets";

/// The token the git server and the stand-in GitHub admit.
pub const FORGE_TOKEN: &str = apis::GOOD_TOKEN;

const CALC_PY: &str = "\
def add(a, b):
    return a + b


def clamp(value, low, high):
    if value < low:
        return low
    if value > high:
        return high
    return value
";

const SHAPES_PY: &str = "\
def area(width, height):
    if width < 0 or height < 0:
        raise ValueError(\"negative size\")
    return width * height
";

/// [`REPOSITORY`]'s files: two sources under `src/`, an empty `__init__.py` the batch skips, and
/// an older test at the path a new one would take. A test file the checkout holds is never taken
/// (the new one goes beside it); this one holds a NUL byte, so the checkout leaves it out as
/// binary, the batch takes its path, and the pull request finds a real file to replace.
const REPOSITORY_FILES: &[(&str, &str)] = &[
    ("README.md", "# widgets\n"),
    ("src/__init__.py", ""),
    ("src/calc.py", CALC_PY),
    ("src/shapes.py", SHAPES_PY),
    (
        "tests/test_calc.py",
        "# an older test, saved with a stray NUL byte: \0\ndef test_nothing_yet():\n    assert True\n",
    ),
];

/// The slow model's time to first token: far longer than the cancel test takes to cancel.
const SLOW_FIRST_TOKEN_MS: u64 = 30_000;

pub struct Stack {
    /// The gateway users reach, loopback trusted.
    pub gateway: Gateway,
    /// A gateway over the same replicas with no trusted network and a low API rate.
    pub limited: Gateway,
    pub settings: api::Settings,
    /// A simulator no model of the registry names, demanding [`NEW_ENDPOINT_KEY`].
    pub new_endpoint: String,
    /// The stand-in GitHub whose repositories the git server serves.
    pub github: MockApi,
    /// Serves [`REPOSITORY`] for as long as the stack lives.
    _git: GitServer,
    replicas: Vec<Running>,
    workers: Vec<Running>,
    simulators: Vec<SimulatorHandle>,
    prefix: String,
}

fn model(id: &str, name: &str, base_url: String) -> ModelSpec {
    simulator_model(id, name, base_url, 120, 16)
}

/// `offline`, `simulator` (the default, quick), `simulator-slow` and `hosted` (unavailable).
fn registry(quick: &SimulatorHandle, slow: &SimulatorHandle) -> ModelRegistry {
    let hosted = ModelSpec {
        api_key_env: Some(UNSET_KEY_VARIABLE.into()),
        ..model(
            "hosted",
            "Hosted model",
            // Never called: the model is unavailable without its key.
            "http://127.0.0.1:9/v1".into(),
        )
    };
    ModelRegistry {
        default: Some(ModelId::parse("simulator").expect("a valid model id")),
        models: vec![
            ModelSpec::offline(),
            model("simulator", "Model simulator", quick.base_url()),
            model("simulator-slow", "Slow model simulator", slow.base_url()),
            hosted,
        ],
    }
}

impl Stack {
    pub async fn start(pool_options: PgPoolOptions, connect: PgConnectOptions) -> Stack {
        assert!(
            std::env::var_os(UNSET_KEY_VARIABLE).is_none(),
            "{UNSET_KEY_VARIABLE} must not be set: the `hosted` model is meant to be unavailable"
        );
        let quick = Simulator::bind(
            SimulatorConfig {
                first_token_ms: 150,
                tokens_per_sec: 600.0,
                ..SimulatorConfig::instant()
            },
            "127.0.0.1:0",
        )
        .await
        .expect("the quick simulator binds")
        .spawn();
        let slow = Simulator::bind(
            SimulatorConfig {
                first_token_ms: SLOW_FIRST_TOKEN_MS,
                ..SimulatorConfig::instant()
            },
            "127.0.0.1:0",
        )
        .await
        .expect("the slow simulator binds")
        .spawn();
        let new_endpoint = Simulator::bind(
            SimulatorConfig {
                api_key: Some(NEW_ENDPOINT_KEY.into()),
                first_token_ms: 50,
                tokens_per_sec: 600.0,
                ..SimulatorConfig::instant()
            },
            "127.0.0.1:0",
        )
        .await
        .expect("the new endpoint's simulator binds")
        .spawn();
        let models = registry(&quick, &slow);
        let prefix = unique_prefix("browser");

        let mut settings = api_settings(&prefix);
        settings.models = models;
        settings.stream.heartbeat_secs = 2;
        settings.admin_password = api::AdminPassword::new(ADMIN_PASSWORD);
        settings.model_keys.current = Some(service::sections::SecretText::new(MODEL_KEY));
        settings.git.allowed_networks = vec!["127.0.0.0/8".into()];
        settings.git.allow_plain_http = true;

        let git = GitServer::start("x-access-token", FORGE_TOKEN).await;
        git.create_repo(REPOSITORY, &[REPOSITORY_FILES]);
        let github = apis::github_with_git(&git.base).await;

        let mut replicas = Vec::new();
        let mut addresses = Vec::new();
        for index in 0..REPLICAS {
            let mut replica_settings = settings.clone();
            replica_settings.server.instance_id = Some(format!("api-{}", index + 1));
            let pool = pool_options
                .clone()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(connect.clone())
                .await
                .expect("connect to the test database");
            let application = api::Application::build_with_pool(replica_settings, pool)
                .await
                .expect("an api replica builds");
            addresses.push(SocketAddr::from(([127, 0, 0, 1], application.port())));
            let probe = application.probe();
            let running = Running::spawn(|stop| application.run_until(stop));
            wait_for(&format!("api-{} event subscription", index + 1), || {
                let connected = probe.is_subscribed();
                async move { connected }
            })
            .await;
            replicas.push(running);
        }

        let mut worker_settings = worker_settings(&settings);
        worker_settings.worker.id = Some("worker-1".into());
        worker_settings.worker.concurrency = 4;
        worker_settings.worker.unit_concurrency = 4;
        worker_settings.worker.poll_interval_ms = 500;
        worker_settings.worker.shutdown_grace_secs = 1;
        let workers = vec![start_worker(worker_settings, connect, 8).await.running];

        let gateway = Gateway::start("gateway", &addresses, Limits::Trusted).await;
        let limited = Gateway::start("gateway-limited", &addresses, Limits::Tight).await;
        for front in [&gateway, &limited] {
            front.wait_until_every_replica_answers().await;
        }
        Stack {
            gateway,
            limited,
            settings,
            new_endpoint: new_endpoint.base_url(),
            github,
            _git: git,
            replicas,
            workers,
            simulators: vec![quick, slow, new_endpoint],
            prefix,
        }
    }

    pub async fn stop(mut self) {
        self.gateway.stop();
        self.limited.stop();
        for worker in &mut self.workers {
            worker.stop().await;
        }
        for replica in &mut self.replicas {
            replica.stop().await;
        }
        for simulator in self.simulators.drain(..) {
            let _ = simulator.stop().await;
        }
        remove_keys(&self.prefix).await;
    }
}

/// Polls `ready` every 20 ms, for at most 15 s.
async fn wait_for<F, Fut>(what: &str, ready: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !ready().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} was not ready within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Clone, Copy)]
enum Limits {
    /// Loopback trusted: no limit applies to the browser.
    Trusted,
    /// No trusted network, a burst of 12 API requests and then one per 50 s: a page can load,
    /// and a test can then run out of requests on purpose. The slow refill keeps the wait the
    /// gateway announces long (tens of seconds) however slowly the test runs, so a countdown is
    /// there to be seen.
    Tight,
}

/// A gateway process over the replicas, on a free loopback port.
pub struct Gateway {
    pub address: SocketAddr,
    child: Option<Child>,
    folder: PathBuf,
}

impl Gateway {
    async fn start(name: &str, upstreams: &[SocketAddr], limits: Limits) -> Gateway {
        let folder = std::env::temp_dir().join(format!(
            "aiut-browser-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&folder).expect("create the gateway's folder");
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let rate_limit = match limits {
            Limits::Trusted => "trusted_networks = [\"127.0.0.0/8\"]\n",
            Limits::Tight => "trusted_networks = []\napi_per_sec = 0.02\napi_burst = 12\n",
        };
        let config_path = gateway::write_config(
            &folder,
            &GatewayConfig {
                listen: address,
                upstreams,
                gateway: "health_interval_ms = 500\n",
                rate_limit,
                log: "filter = \"warn\"\n",
            },
        );
        let mut command = gateway::command(&config_path, &folder);
        let log = std::fs::File::create(folder.join("gateway.log")).expect("a log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .spawn()
            .expect("start the gateway binary");
        let gateway = Gateway {
            address,
            child: Some(child),
            folder,
        };
        let client = client();
        let url = gateway.url("/health");
        wait_for(&format!("{name}'s /health"), || {
            let request = client.get(&url).send();
            async move {
                request
                    .await
                    .is_ok_and(|response| response.status().is_success())
            }
        })
        .await;
        gateway
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Until plain requests through it have reached every replica (`/healthz` is never limited).
    async fn wait_until_every_replica_answers(&self) {
        let client = client();
        let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let url = self.url("/healthz");
        wait_for("every replica behind the gateway", || {
            let request = client.get(&url).send();
            let seen = &seen;
            async move {
                let Ok(response) = request.await else {
                    return false;
                };
                let Ok(mut seen) = seen.lock() else {
                    return false;
                };
                if let Some(instance) = response
                    .headers()
                    .get("x-backend-instance")
                    .and_then(|value| value.to_str().ok())
                {
                    seen.insert(instance.to_owned());
                }
                seen.len() == REPLICAS
            }
        })
        .await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.folder.join("gateway.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
        remove_folder(&self.folder);
    }
}

fn remove_folder(folder: &Path) {
    let _ = std::fs::remove_dir_all(folder);
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}
