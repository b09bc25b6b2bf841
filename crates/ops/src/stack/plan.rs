//! What a native deployment runs: from the options, the ports and the binaries to the service
//! records and the configuration files. Pure, so it is tested without starting anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use domain::{ModelId, ModelKind, ModelRegistry, ModelSpec};
use service::sections::{DeploymentFile, GatewaySettings, LogSettings, WorkerSettings};

use super::{Health, Kind, ServiceRecord, operator, secrets};

#[derive(Debug, Clone)]
pub struct Options {
    /// The simulator's time to the first token.
    pub simulator_latency_ms: u64,
    /// The workers' timeout of one call to the simulator.
    pub simulator_timeout_secs: u64,
    /// Tasks each worker runs at once.
    pub worker_concurrency: u32,
    /// Calls to the simulator each worker makes at once.
    pub simulator_concurrency: u32,
    /// Client networks the gateway does not rate-limit.
    pub trusted_networks: Vec<String>,
    /// The operator's `--config` file, merged over what deploy writes (`stack::operator`).
    pub operator: Option<toml::Table>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    pub gateway: u16,
    pub gateway_metrics: u16,
    pub api: Vec<u16>,
    pub worker_metrics: Vec<u16>,
    pub simulator: Option<u16>,
    pub prometheus: Option<u16>,
    pub node_exporter: Option<u16>,
    pub postgres_exporter: Option<u16>,
    pub redis_exporter: Option<u16>,
}

/// Where each program is; the optional ones are started only when installed.
#[derive(Debug, Clone)]
pub struct Programs {
    pub api: PathBuf,
    pub worker: PathBuf,
    pub gateway: PathBuf,
    pub simulator: PathBuf,
    pub prometheus: Option<PathBuf>,
    pub node_exporter: Option<PathBuf>,
    pub postgres_exporter: Option<PathBuf>,
    pub redis_exporter: Option<PathBuf>,
}

/// Everything to write and start.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config_path: PathBuf,
    pub config: String,
    pub prometheus_config: Option<(PathBuf, String)>,
    /// In start order.
    pub services: Vec<ServiceRecord>,
}

pub struct Inputs<'a> {
    pub state_dir: &'a Path,
    pub project_root: &'a Path,
    pub options: &'a Options,
    pub ports: &'a Ports,
    pub programs: &'a Programs,
    pub database_url: &'a str,
    pub redis_url: &'a str,
}

pub fn plan(inputs: &Inputs<'_>) -> anyhow::Result<Plan> {
    let Inputs {
        state_dir,
        options,
        ports,
        programs,
        database_url,
        redis_url,
        ..
    } = inputs;
    let config_path = state_dir.join("config").join("aiunittest.toml");
    let logs = state_dir.join("logs");
    let common = |extra: &[(&str, String)]| {
        let mut env = BTreeMap::from([
            (
                "AIUT_CONFIG".to_owned(),
                config_path.to_string_lossy().into_owned(),
            ),
            ("DATABASE_URL".to_owned(), (*database_url).to_owned()),
            ("REDIS_URL".to_owned(), (*redis_url).to_owned()),
        ]);
        env.extend(
            extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone())),
        );
        env
    };
    let http = |port: u16, path: &str| Health::Http {
        url: format!("http://127.0.0.1:{port}{path}"),
    };
    let record = |name: String, kind, program: &Path, env, port: u16, health| ServiceRecord {
        log: logs.join(format!("{name}.log")),
        name,
        kind,
        program: program.to_path_buf(),
        args: Vec::new(),
        env,
        run_as: None,
        port: Some(port),
        health,
        pid: None,
        started_at: None,
    };

    let mut services = Vec::new();
    if let Some(port) = ports.simulator {
        let env = BTreeMap::from([
            ("AIUT_SIM_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
            (
                "AIUT_SIM_FIRST_TOKEN_MS".to_owned(),
                options.simulator_latency_ms.to_string(),
            ),
            ("AIUT_SIM_MODELS".to_owned(), "[\"simulator\"]".to_owned()),
        ]);
        services.push(record(
            "simulator".into(),
            Kind::Simulator,
            &programs.simulator,
            env,
            port,
            http(port, "/v1/models"),
        ));
    }
    for (index, port) in ports.api.iter().enumerate() {
        let name = format!("api-{}", index + 1);
        let env = common(&[
            ("AIUT_SERVER__HOST", "127.0.0.1".into()),
            ("AIUT_SERVER__PORT", port.to_string()),
            ("AIUT_SERVER__INSTANCE_ID", name.clone()),
        ]);
        services.push(record(
            name,
            Kind::Api,
            &programs.api,
            env,
            *port,
            http(*port, "/readyz"),
        ));
    }
    for (index, port) in ports.worker_metrics.iter().enumerate() {
        let name = format!("worker-{}", index + 1);
        let env = common(&[
            ("AIUT_WORKER__ID", name.clone()),
            ("AIUT_WORKER__METRICS_HOST", "127.0.0.1".into()),
            ("AIUT_WORKER__METRICS_PORT", port.to_string()),
        ]);
        services.push(record(
            name,
            Kind::Worker,
            &programs.worker,
            env,
            *port,
            http(*port, "/healthz"),
        ));
    }
    services.push(record(
        "gateway".into(),
        Kind::Gateway,
        &programs.gateway,
        common(&[]),
        ports.gateway,
        http(ports.gateway, "/health"),
    ));

    // Our services write and rotate their logs themselves: a load test must not fill the disk.
    for service in services.iter_mut() {
        let variable = match service.kind {
            Kind::Simulator => "AIUT_SIM_LOG_FILE",
            Kind::Api | Kind::Worker | Kind::Gateway => "AIUT_LOG__FILE",
            _ => continue,
        };
        let path = service.log.to_string_lossy().into_owned();
        service.env.insert(variable.to_owned(), path);
    }

    let mut scrape: Vec<(&str, Vec<u16>)> = vec![
        ("gateway", vec![ports.gateway_metrics]),
        ("api", ports.api.clone()),
        ("worker", ports.worker_metrics.clone()),
    ];
    let exporters = [
        (
            "node-exporter",
            "node",
            &programs.node_exporter,
            ports.node_exporter,
        ),
        (
            "postgres-exporter",
            "postgres",
            &programs.postgres_exporter,
            ports.postgres_exporter,
        ),
        (
            "redis-exporter",
            "redis",
            &programs.redis_exporter,
            ports.redis_exporter,
        ),
    ];
    for (name, job, program, port) in exporters {
        let (Some(program), Some(port)) = (program, port) else {
            continue;
        };
        let listen = format!("--web.listen-address=127.0.0.1:{port}");
        let mut service = record(
            name.into(),
            Kind::Exporter,
            program,
            BTreeMap::new(),
            port,
            http(port, "/metrics"),
        );
        match job {
            "postgres" => {
                service
                    .env
                    .insert("DATA_SOURCE_NAME".into(), exporter_dsn(database_url));
                service.args = vec![listen];
            }
            "redis" => {
                // Through the environment: a password on the command line is anyone's to read.
                let (address, user, password) = secrets::split_userinfo(redis_url);
                service.env.insert("REDIS_ADDR".into(), address);
                if let Some(user) = user.filter(|user| !user.is_empty()) {
                    service.env.insert("REDIS_USER".into(), user);
                }
                if let Some(password) = password {
                    service.env.insert("REDIS_PASSWORD".into(), password);
                }
                service.args = vec![listen];
            }
            _ => service.args = vec![listen],
        }
        services.push(service);
        scrape.push((job, vec![port]));
    }

    let prometheus_config = match (&programs.prometheus, ports.prometheus) {
        (Some(program), Some(port)) => {
            scrape.push(("prometheus", vec![port]));
            let path = state_dir.join("config").join("prometheus.yml");
            let rules = inputs.project_root.join("prometheus").join("alerts.yml");
            let text = prometheus_config(&scrape, rules.is_file().then_some(rules.as_path()));
            let mut service = record(
                "prometheus".into(),
                Kind::Prometheus,
                program,
                BTreeMap::new(),
                port,
                http(port, "/-/ready"),
            );
            service.args = vec![
                format!("--config.file={}", path.display()),
                format!(
                    "--storage.tsdb.path={}",
                    state_dir.join("prometheus").display()
                ),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--web.enable-lifecycle".into(),
            ];
            services.push(service);
            Some((path, text))
        }
        _ => None,
    };

    Ok(Plan {
        config: config_toml(inputs)?,
        config_path,
        prometheus_config,
        services,
    })
}

/// The configuration file every service reads (`AIUT_CONFIG`); what differs per process (ports,
/// ids) is in its environment, and no secret is in the file.
/// The sections a deployment sets, each written whole from its type (the other sections keep
/// each binary's own defaults: the worker's smaller database pool, for one). The queue's capacity
/// is not among them: the api sums what the live workers announce.
#[derive(serde::Serialize)]
struct WrittenSections {
    log: LogSettings,
    gateway: GatewaySettings,
    worker: WorkerSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<ModelRegistry>,
}

fn config_toml(inputs: &Inputs<'_>) -> anyhow::Result<String> {
    let Inputs {
        state_dir,
        options,
        ports,
        ..
    } = inputs;
    let mut gateway = GatewaySettings {
        listen: format!("0.0.0.0:{}", ports.gateway),
        upstreams: ports
            .api
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect(),
        metrics_listen: format!("127.0.0.1:{}", ports.gateway_metrics),
        upgrade_sock: upgrade_socket(state_dir).to_string_lossy().into_owned(),
        ..GatewaySettings::default()
    };
    gateway.rate_limit.trusted_networks = options.trusted_networks.clone();
    let operator = options.operator.clone().unwrap_or_default();
    // The operator's registry, when the file has one, stands in for the built-in one.
    let operator_models: Option<ModelRegistry> = operator
        .get("models")
        .cloned()
        .map(|section| section.try_into())
        .transpose()
        .context("--config: the [models] section")?;
    let models = match (ports.simulator, operator_models) {
        (Some(port), registry) => {
            let chosen_default = registry
                .as_ref()
                .and_then(|registry| registry.default.clone());
            let mut registry = with_simulator(
                registry.unwrap_or_default(),
                port,
                options.simulator_timeout_secs,
                options.simulator_concurrency,
            )?;
            // The simulator is the default only when the operator chose none.
            if chosen_default.is_some() {
                registry.default = chosen_default;
            }
            Some(registry)
        }
        (None, registry) => registry,
    };
    if let Some(registry) = &models {
        registry
            .validate()
            .map_err(|error| anyhow::anyhow!("the model registry: {error}"))?;
    }
    let sections = WrittenSections {
        log: LogSettings::default(),
        gateway,
        worker: WorkerSettings {
            concurrency: options.worker_concurrency,
            ..WorkerSettings::default()
        },
        models,
    };
    let mut table = toml::Table::try_from(&sections).context("cannot write the configuration")?;
    let mut rest = operator;
    rest.remove("models");
    if let Some(worker) = rest.get_mut("worker").and_then(toml::Value::as_table_mut) {
        // Resolved already: the command line's, else this file's, else the default.
        worker.remove("concurrency");
    }
    let trusted = options.trusted_networks.clone();
    operator::overlay(&mut table, &rest);
    if let Some(networks) = table
        .get_mut("gateway")
        .and_then(|gateway| gateway.get_mut("rate_limit"))
        .and_then(|limit| limit.get_mut("trusted_networks"))
        .and_then(toml::Value::as_array_mut)
    {
        // `--trust` adds to the file's networks rather than losing them.
        for network in trusted {
            if !networks
                .iter()
                .any(|known| known.as_str() == Some(&network))
            {
                networks.push(network.into());
            }
        }
    }
    let text = toml::to_string(&table).context("cannot write the configuration")?;
    // What every service will read: each section in its type, unknown keys refused.
    let _: DeploymentFile = toml::from_str(&text).map_err(|error| {
        anyhow::anyhow!("the configuration merged from --config is not valid: {error}")
    })?;
    let origin = if options.operator.is_some() {
        " Merged with the operator's --config file."
    } else {
        ""
    };
    Ok(format!(
        "# Written by `cargo xtask deploy`; rewritten at every deploy.{origin}\n{text}"
    ))
}

/// The workers' timeout of one call to the simulator unless deploy is told otherwise.
pub const SIMULATOR_TIMEOUT_SECS: u64 = 60;

/// Tasks each deployed worker runs at once unless deploy is told otherwise. A task mostly waits
/// on its model, and what it runs in the sandbox queues for the worker's runner slots (one per
/// CPU), so the bound is memory and connections rather than CPU: a few hundred tasks hold a few
/// megabytes each at most.
pub const WORKER_CONCURRENCY: u32 = 256;

/// The built-in registry plus `simulator` at the given port, made the default, its calls given up
/// after `timeout_secs`, at most `max_concurrency` of them at once per worker.
pub fn with_simulator(
    mut registry: ModelRegistry,
    port: u16,
    timeout_secs: u64,
    max_concurrency: u32,
) -> anyhow::Result<ModelRegistry> {
    let id = ModelId::parse("simulator").map_err(|error| anyhow::anyhow!("{error}"))?;
    registry.models.retain(|model| model.id != id);
    registry.models.push(ModelSpec {
        id: id.clone(),
        kind: ModelKind::Openai,
        display_name: Some("Model simulator (demo answers)".into()),
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        api_key_env: None,
        model: None,
        temperature: 0.2,
        max_tokens: 2048,
        timeout_secs,
        max_concurrency,
        fallback: Vec::new(),
        enabled: true,
        stored_key: false,
    });
    registry.default = Some(id);
    Ok(registry)
}

/// The gateway's socket for handing its listeners to its successor on `restart`. Unix socket
/// paths are limited to about 100 bytes, so a deep state folder falls back to `/tmp`.
pub fn upgrade_socket(state_dir: &Path) -> PathBuf {
    let inside = state_dir.join("gateway-upgrade.sock");
    if inside.as_os_str().len() < 100 {
        inside
    } else {
        std::env::temp_dir().join(format!("aiut-gateway-{}.sock", std::process::id()))
    }
}

/// The exporter wants `sslmode` spelled out for a local server without TLS.
fn exporter_dsn(database_url: &str) -> String {
    if database_url.contains("sslmode=") {
        database_url.to_owned()
    } else if database_url.contains('?') {
        format!("{database_url}&sslmode=disable")
    } else {
        format!("{database_url}?sslmode=disable")
    }
}

/// A scrape configuration of static loopback targets, one job per service kind.
pub fn prometheus_config(jobs: &[(&str, Vec<u16>)], rules: Option<&Path>) -> String {
    let mut text = String::from(
        "# Written by `cargo xtask deploy` for the native ports of this deployment.\n\
         global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n",
    );
    if let Some(rules) = rules {
        text.push_str(&format!("rule_files:\n  - {}\n", rules.display()));
    }
    text.push_str("scrape_configs:\n");
    for (job, ports) in jobs {
        text.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets:\n"
        ));
        for port in ports {
            text.push_str(&format!("          - 127.0.0.1:{port}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs() -> Programs {
        Programs {
            api: "/bin/aiut-api".into(),
            worker: "/bin/aiut-worker".into(),
            gateway: "/bin/aiut-gateway".into(),
            simulator: "/bin/aiut-model-sim".into(),
            prometheus: Some("/usr/bin/prometheus".into()),
            node_exporter: None,
            postgres_exporter: Some("/usr/bin/prometheus-postgres-exporter".into()),
            redis_exporter: None,
        }
    }

    fn ports() -> Ports {
        Ports {
            gateway: 80,
            gateway_metrics: 9100,
            api: vec![8881, 8882, 8883],
            worker_metrics: vec![9201, 9202],
            simulator: Some(8090),
            prometheus: Some(9090),
            node_exporter: None,
            postgres_exporter: Some(9187),
            redis_exporter: Some(9121),
        }
    }

    fn options() -> Options {
        Options {
            simulator_latency_ms: 1000,
            simulator_timeout_secs: 7,
            worker_concurrency: 300,
            simulator_concurrency: 200,
            trusted_networks: vec!["127.0.0.1/32".into()],
            operator: None,
        }
    }

    fn make(ports: &Ports) -> Plan {
        let options = options();
        let programs = programs();
        plan(&Inputs {
            state_dir: Path::new("/srv/aiut/.aiut"),
            project_root: Path::new("/srv/aiut"),
            options: &options,
            ports,
            programs: &programs,
            database_url: "postgres://postgres@127.0.0.1:5433/aiunittest",
            redis_url: "redis://127.0.0.1:6380",
        })
        .expect("a plan")
    }

    #[test]
    fn services_start_in_dependency_order_with_their_own_ports() {
        let plan = make(&ports());
        let names: Vec<&str> = plan
            .services
            .iter()
            .map(|service| service.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "simulator",
                "api-1",
                "api-2",
                "api-3",
                "worker-1",
                "worker-2",
                "gateway",
                "postgres-exporter",
                "prometheus"
            ],
            "exporters without a program are left out"
        );
        let api2 = &plan.services[2];
        assert_eq!(api2.env["AIUT_SERVER__PORT"], "8882");
        assert_eq!(api2.env["AIUT_SERVER__INSTANCE_ID"], "api-2");
        assert_eq!(
            api2.env["DATABASE_URL"],
            "postgres://postgres@127.0.0.1:5433/aiunittest"
        );
        assert_eq!(
            api2.health,
            Health::Http {
                url: "http://127.0.0.1:8882/readyz".into()
            }
        );
        assert_eq!(plan.services[5].env["AIUT_WORKER__METRICS_PORT"], "9202");
        assert_eq!(
            plan.services[7].env["DATA_SOURCE_NAME"],
            "postgres://postgres@127.0.0.1:5433/aiunittest?sslmode=disable"
        );
        let mut ports_used: Vec<u16> = plan.services.iter().filter_map(|s| s.port).collect();
        let count = ports_used.len();
        ports_used.sort_unstable();
        ports_used.dedup();
        assert_eq!(ports_used.len(), count, "no port is used twice");
    }

    /// Passwords reach the exporters through their environment, never their command lines.
    #[test]
    fn our_services_write_and_rotate_their_own_logs() {
        let plan = make(&ports());
        for service in &plan.services {
            let variable = match service.kind {
                Kind::Simulator => Some("AIUT_SIM_LOG_FILE"),
                Kind::Api | Kind::Worker | Kind::Gateway => Some("AIUT_LOG__FILE"),
                _ => None,
            };
            match variable {
                Some(variable) => {
                    assert_eq!(
                        service.env.get(variable).map(PathBuf::from),
                        Some(service.log.clone()),
                        "{}",
                        service.name
                    );
                    assert_ne!(service.console_log(), service.log, "{}", service.name);
                }
                None => {
                    assert!(
                        !service.env.contains_key("AIUT_LOG__FILE"),
                        "{}",
                        service.name
                    );
                    assert_eq!(service.console_log(), service.log, "{}", service.name);
                }
            }
        }
        let api = plan
            .services
            .iter()
            .find(|s| s.name == "api-1")
            .expect("api-1");
        assert!(api.console_log().ends_with("logs/api-1.console.log"));
    }

    #[test]
    fn no_password_is_on_a_command_line() {
        let options = options();
        let programs = Programs {
            redis_exporter: Some("/usr/bin/prometheus-redis-exporter".into()),
            ..programs()
        };
        let plan = plan(&Inputs {
            state_dir: Path::new("/srv/aiut/.aiut"),
            project_root: Path::new("/srv/aiut"),
            options: &options,
            ports: &ports(),
            programs: &programs,
            database_url: "postgres://aiunittest:pg%40secret@127.0.0.1:5433/aiunittest",
            redis_url: "redis://:redis%2Fsecret@127.0.0.1:6380",
        })
        .expect("a plan");
        for service in &plan.services {
            for arg in &service.args {
                assert!(!arg.contains("secret"), "{}: {arg}", service.name);
            }
        }
        let exporter = plan
            .services
            .iter()
            .find(|service| service.name == "redis-exporter")
            .expect("planned");
        assert_eq!(exporter.env["REDIS_ADDR"], "redis://127.0.0.1:6380");
        assert_eq!(exporter.env["REDIS_PASSWORD"], "redis/secret");
        assert!(!exporter.env.contains_key("REDIS_USER"));
        let postgres_exporter = plan
            .services
            .iter()
            .find(|service| service.name == "postgres-exporter")
            .expect("planned");
        assert_eq!(
            postgres_exporter.env["DATA_SOURCE_NAME"],
            "postgres://aiunittest:pg%40secret@127.0.0.1:5433/aiunittest?sslmode=disable"
        );
        assert!(
            !plan.config.contains("secret"),
            "the shared file holds no secret"
        );
    }

    #[test]
    fn the_configuration_names_every_replica_and_the_simulator_model() {
        let plan = make(&ports());
        let config: toml::Table = plan.config.parse().expect("valid TOML");
        let gateway = config["gateway"].as_table().expect("gateway section");
        let upstreams: Vec<&str> = gateway["upstreams"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|value| value.as_str())
            .collect();
        assert_eq!(
            upstreams,
            ["127.0.0.1:8881", "127.0.0.1:8882", "127.0.0.1:8883"]
        );
        assert_eq!(gateway["listen"].as_str(), Some("0.0.0.0:80"));
        assert_eq!(
            gateway["rate_limit"]["trusted_networks"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let registry: ModelRegistry = config["models"].clone().try_into().expect("a registry");
        registry.validate().expect("a valid registry");
        assert_eq!(
            registry.default.as_ref().map(ModelId::as_str),
            Some("simulator")
        );
        let simulator = registry
            .models
            .iter()
            .find(|model| model.id.as_str() == "simulator")
            .expect("the simulator's entry");
        assert_eq!(
            simulator.timeout_secs, 7,
            "the deploy's --simulator-timeout-secs"
        );
        assert!(
            registry
                .models
                .iter()
                .any(|model| model.id.as_str() == "offline")
        );

        let without = make(&Ports {
            simulator: None,
            ..ports()
        });
        let config: toml::Table = without.config.parse().expect("valid TOML");
        assert!(
            !config.contains_key("models"),
            "the built-in registry applies"
        );
    }

    #[test]
    fn the_written_file_is_what_the_services_read() {
        let plan = make(&ports());
        let file: service::sections::DeploymentFile =
            toml::from_str(&plan.config).expect("every section in its type");
        assert_eq!(file.gateway.upstreams.len(), 3);
        assert!(
            !plan.config.contains("[queue]"),
            "the workers announce their capacity"
        );
        assert!(
            !plan.config.contains("[database]"),
            "each binary keeps its own database defaults"
        );
        assert_eq!(
            file.worker.concurrency, 300,
            "the deploy option, in the file"
        );
        let simulator = file
            .models
            .models
            .iter()
            .find(|model| model.id.as_str() == "simulator")
            .expect("the simulator in the registry");
        assert_eq!(simulator.max_concurrency, 200);
    }

    #[test]
    fn prometheus_scrapes_every_service_it_is_given() {
        let plan = make(&ports());
        let (path, text) = plan.prometheus_config.expect("prometheus is installed");
        assert!(path.ends_with("config/prometheus.yml"));
        for target in [
            "127.0.0.1:9100",
            "127.0.0.1:8883",
            "127.0.0.1:9202",
            "127.0.0.1:9187",
        ] {
            assert!(text.contains(target), "{target} in\n{text}");
        }
        assert!(
            !text.contains(":9121"),
            "no redis exporter program, no target"
        );
        let without = make(&Ports {
            prometheus: None,
            ..ports()
        });
        assert!(without.prometheus_config.is_none());
    }

    /// The configuration deploy writes is one Prometheus itself accepts, with the project's rules.
    #[test]
    fn the_native_configuration_passes_promtool() {
        let rules = crate::project_root().join("prometheus").join("alerts.yml");
        let text = prometheus_config(
            &[
                ("gateway", vec![9100]),
                ("api", vec![8881, 8882, 8883]),
                ("worker", vec![9201, 9202]),
                ("prometheus", vec![9090]),
            ],
            Some(&rules),
        );
        let dir = std::env::temp_dir().join(format!("aiut-native-prom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, text).expect("write");
        let output = std::process::Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run promtool ({e}); install it with `apt-get install prometheus`")
            });
        std::fs::remove_dir_all(&dir).ok();
        let said = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(said.contains("1 rule files found"), "{said}");
    }

    #[test]
    fn a_deep_state_folder_moves_the_upgrade_socket() {
        assert_eq!(
            upgrade_socket(Path::new("/srv/x/.aiut")),
            Path::new("/srv/x/.aiut/gateway-upgrade.sock")
        );
        let deep = PathBuf::from(format!("/{}", "d/".repeat(60)));
        assert!(upgrade_socket(&deep).as_os_str().len() < 100);
    }

    fn make_with(operator: &str) -> anyhow::Result<Plan> {
        let options = Options {
            operator: Some(operator.parse().expect("TOML")),
            ..options()
        };
        let programs = programs();
        plan(&Inputs {
            state_dir: Path::new("/srv/aiut/.aiut"),
            project_root: Path::new("/srv/aiut"),
            options: &options,
            ports: &ports(),
            programs: &programs,
            database_url: "postgres://postgres@127.0.0.1:5433/aiunittest",
            redis_url: "redis://127.0.0.1:6380",
        })
    }

    #[test]
    fn an_operators_file_adds_models_and_limits_beside_what_deploy_sets() {
        let plan = make_with(
            r#"
            [limits]
            max_queued_per_session = 3
            [gateway.rate_limit]
            trusted_networks = ["10.0.0.0/8"]
            [worker]
            concurrency = 5
            [models]
            default = "local-llama"
            [[models.registry]]
            id = "local-llama"
            kind = "openai"
            base_url = "http://127.0.0.1:11434/v1"
            model = "llama3.1:8b"
            max_concurrency = 2
            "#,
        )
        .expect("a plan");
        assert!(
            plan.config.contains("--config"),
            "the file says it was merged"
        );
        let file: DeploymentFile = toml::from_str(&plan.config).expect("every section in its type");
        assert_eq!(file.limits.max_queued_per_session, 3);
        let ids: Vec<&str> = file
            .models
            .models
            .iter()
            .map(|model| model.id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["local-llama", "simulator"],
            "the operator's registry, and the simulator"
        );
        assert_eq!(
            file.models.default.as_ref().map(ModelId::as_str),
            Some("local-llama"),
            "the operator's default over the simulator's"
        );
        assert_eq!(
            file.gateway.rate_limit.trusted_networks,
            ["10.0.0.0/8", "127.0.0.1/32"],
            "--trust adds to the file's networks"
        );
        assert_eq!(
            file.worker.concurrency, 300,
            "deploy resolved the concurrency already (the command line's here)"
        );
        assert_eq!(file.gateway.upstreams.len(), 3, "deploy's own keys stay");
    }

    #[test]
    fn an_operators_file_that_the_services_would_refuse_stops_the_plan() {
        for (text, expected) in [
            ("[limitz]\nmax_source_bytes = 1\n", "limitz"),
            ("[limits]\nmax_sorce_bytes = 1\n", "max_sorce_bytes"),
            ("[limits]\nmax_source_bytes = \"big\"\n", "max_source_bytes"),
            (
                "[[models.registry]]\nid = \"m\"\nkind = \"openai\"\napi_key = \"sk-1\"\n",
                "api_key",
            ),
            (
                "[models]\ndefault = \"nowhere\"\n[[models.registry]]\nid = \"m\"\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n",
                "nowhere",
            ),
        ] {
            let error = make_with(text).expect_err(text);
            assert!(format!("{error:#}").contains(expected), "{text}: {error:#}");
        }
    }
}
