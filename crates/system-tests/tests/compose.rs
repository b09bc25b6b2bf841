//! Static checks of the containerised deployment: `docker-compose.yml`, `deployment/`,
//! `prometheus/prometheus.yml` and `grafana/`. No Docker engine is needed: the compose file is
//! read as YAML and interpolated the way compose does it, from `deployment/.env.example` plus
//! stand-ins for the required secrets, and each of our services' environment is handed to that
//! binary's own configuration loader. When `docker compose` is installed, it validates the file
//! too.
//!
//! Every check returns the problems it finds. The `rejects_*` tests break an in-memory copy of the
//! real files and expect the check to say so, so that no check passes by saying nothing.

// figment's `Jail` closures return its own (large) error type.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use figment::Jail;
use figment::providers::{Format, Toml};
use serde_yaml_ng::Value;

/// The secrets compose must refuse to start without; none has a default anywhere.
const SECRETS: [&str; 4] = [
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "ADMIN_PASSWORD",
];
/// The only services reachable from outside the host.
const PUBLISHERS: [&str; 3] = ["gateway", "grafana", "prometheus"];
/// The services that must sit on the internal network alone.
const DATA_TIER: [&str; 2] = ["postgres", "redis"];
/// The network the data tier lives on.
const DATA_NETWORK: &str = "data";
/// The services Prometheus must scrape.
const SCRAPED: [&str; 7] = [
    "prometheus",
    "gateway",
    "api",
    "worker",
    "node-exporter",
    "postgres-exporter",
    "redis-exporter",
];
/// Our image, and the binaries it must hold.
const OUR_DOCKERFILE: &str = "deployment/Dockerfile";
const BINARIES: [&str; 4] = ["aiut-gateway", "aiut-api", "aiut-worker", "aiut-model-sim"];
/// The variable naming the gateway's configuration file, and the file that turns TLS on.
const GATEWAY_CONFIG: &str = "GATEWAY_CONFIG";
const GATEWAY_TLS_FILE: &str = "gateway-tls.toml";
/// The folder of the gateway's certificate and key, and the files an operator puts there.
const TLS_DIR: &str = "TLS_DIR";
const TLS_FILES: [&str; 2] = ["cert.pem", "key.pem"];

type Vars = BTreeMap<String, String>;

// ---------------------------------------------------------------------------------------------
// The files

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

/// The compose file as compose reads it, before interpolation: YAML with anchors and `<<` merges
/// resolved.
fn parse_compose(text: &str) -> Result<Value, String> {
    let mut doc: Value =
        serde_yaml_ng::from_str(text).map_err(|error| format!("not valid YAML: {error}"))?;
    doc.apply_merge()
        .map_err(|error| format!("a `<<` merge cannot be applied: {error}"))?;
    if !doc["services"].is_mapping() {
        return Err("no `services` mapping".into());
    }
    Ok(doc)
}

/// The repository's files, read once per test.
struct Fixture {
    raw: Value,
    vars: Vars,
    env_example: String,
}

impl Fixture {
    fn load() -> Fixture {
        let env_example = read("deployment/.env.example");
        let mut vars: Vars = parse_env_file(&env_example)
            .expect("deployment/.env.example reads")
            .into_iter()
            .map(|entry| (entry.name, entry.value))
            .collect();
        for secret in SECRETS {
            vars.insert(
                secret.to_owned(),
                format!("stand-in-{}", secret.to_lowercase()),
            );
        }
        Fixture {
            raw: parse_compose(&read("docker-compose.yml")).expect("docker-compose.yml parses"),
            vars,
            env_example,
        }
    }

    /// The compose document with every `${VAR}` replaced.
    fn doc(&self) -> Value {
        interpolated(&self.raw, &self.vars).expect("docker-compose.yml interpolates")
    }
}

fn interpolated(raw: &Value, vars: &Vars) -> Result<Value, String> {
    let mut references = Vec::new();
    interpolate_value(raw, vars, &mut references)
}

// ---------------------------------------------------------------------------------------------
// Interpolation, as compose does it

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `$VAR`, `${VAR}`
    Plain,
    /// `${VAR:-default}`, `${VAR-default}`
    Default,
    /// `${VAR:?message}`, `${VAR?message}`
    Required,
    /// `${VAR:+alternative}`, `${VAR+alternative}`
    Alternative,
}

#[derive(Debug, Clone)]
struct Reference {
    name: String,
    form: Form,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replaces the variables of one string; `$$` is a literal `$`. Every variable met is recorded,
/// those of defaults included.
fn interpolate(text: &str, vars: &Vars, references: &mut Vec<Reference>) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let mut depth = 1;
                let mut end = i + 2;
                while end < chars.len() {
                    match chars[end] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    end += 1;
                }
                if end >= chars.len() {
                    return Err(format!("an unterminated `${{` in {text:?}"));
                }
                let body: String = chars[i + 2..end].iter().collect();
                out.push_str(&substitute(&body, vars, references)?);
                i = end + 1;
            }
            Some(&c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = i + 1;
                while end < chars.len() && is_name_char(chars[end]) {
                    end += 1;
                }
                let name: String = chars[i + 1..end].iter().collect();
                out.push_str(vars.get(&name).map_or("", String::as_str));
                references.push(Reference {
                    name,
                    form: Form::Plain,
                });
                i = end;
            }
            _ => {
                return Err(format!(
                    "a lone `$` in {text:?}: write `$$` for a literal one"
                ));
            }
        }
    }
    Ok(out)
}

fn substitute(body: &str, vars: &Vars, references: &mut Vec<Reference>) -> Result<String, String> {
    let name_end = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
    let (name, rest) = body.split_at(name_end);
    if name.is_empty() {
        return Err(format!("`${{{body}}}` names no variable"));
    }
    let value = vars.get(name);
    let (colon, rest) = match rest.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    // With a colon, an empty value counts as unset.
    let missing = value.is_none_or(|value| colon && value.is_empty());
    let mut operator = rest.chars();
    let (form, result) = match operator.next() {
        None if !colon => (Form::Plain, value.cloned().unwrap_or_default()),
        Some('-') => {
            let fallback = interpolate(operator.as_str(), vars, references)?;
            let result = if missing {
                fallback
            } else {
                value.cloned().unwrap_or_default()
            };
            (Form::Default, result)
        }
        Some('?') => {
            if missing {
                return Err(format!(
                    "required variable {name} is missing a value: {}",
                    operator.as_str()
                ));
            }
            (Form::Required, value.cloned().unwrap_or_default())
        }
        Some('+') => {
            let alternative = interpolate(operator.as_str(), vars, references)?;
            (
                Form::Alternative,
                if missing { String::new() } else { alternative },
            )
        }
        _ => return Err(format!("cannot read `${{{body}}}`")),
    };
    references.push(Reference {
        name: name.to_owned(),
        form,
    });
    Ok(result)
}

/// Interpolates every string of a document (keys are left alone, as compose does).
fn interpolate_value(
    value: &Value,
    vars: &Vars,
    references: &mut Vec<Reference>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(interpolate(text, vars, references)?),
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|item| interpolate_value(item, vars, references))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(mapping) => {
            let mut out = serde_yaml_ng::Mapping::new();
            for (key, item) in mapping {
                out.insert(key.clone(), interpolate_value(item, vars, references)?);
            }
            Value::Mapping(out)
        }
        other => other.clone(),
    })
}

/// The variables a compose document refers to; a reference that cannot be satisfied with `vars`
/// is an error, as it is for compose.
fn references(raw: &Value, vars: &Vars) -> Result<Vec<Reference>, String> {
    let mut references = Vec::new();
    interpolate_value(raw, vars, &mut references)?;
    Ok(references)
}

/// One `NAME=value` line of an env file, and whether a comment above it (in the same block of
/// lines) documents it.
#[derive(Debug)]
struct EnvEntry {
    name: String,
    value: String,
    documented: bool,
}

fn parse_env_file(text: &str) -> Result<Vec<EnvEntry>, String> {
    let mut entries = Vec::new();
    let mut commented = false;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            commented = false;
            continue;
        }
        if line.starts_with('#') {
            commented = true;
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: not NAME=value: {line:?}", number + 1))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(is_name_char) {
            return Err(format!(
                "line {}: {name:?} is not a variable name",
                number + 1
            ));
        }
        let value = value.trim();
        let value = if value.len() >= 2
            && ((value.starts_with('\'') && value.ends_with('\''))
                || (value.starts_with('"') && value.ends_with('"')))
        {
            value[1..value.len() - 1].to_owned()
        } else {
            value
                .split(" #")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        entries.push(EnvEntry {
            name: name.to_owned(),
            value,
            documented: commented,
        });
    }
    Ok(entries)
}

// ---------------------------------------------------------------------------------------------
// Reading a service

fn services(doc: &Value) -> Vec<(String, &Value)> {
    doc["services"]
        .as_mapping()
        .map(|services| {
            services
                .iter()
                .filter_map(|(name, service)| Some((name.as_str()?.to_owned(), service)))
                .collect()
        })
        .unwrap_or_default()
}

/// A scalar as compose turns it into a string.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A scalar or a list of scalars.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn is_ours(service: &Value) -> bool {
    service["build"]["dockerfile"].as_str() == Some(OUR_DOCKERFILE)
}

fn binary(service: &Value) -> Option<String> {
    strings(&service["command"]).into_iter().next()
}

fn environment(service: &Value) -> Result<Vars, String> {
    let mut vars = Vars::new();
    match &service["environment"] {
        Value::Null => {}
        Value::Mapping(mapping) => {
            for (name, value) in mapping {
                let name = name.as_str().ok_or("an environment key is not a string")?;
                let value = scalar(value)
                    .ok_or_else(|| format!("{name} has no value (it would come from the shell)"))?;
                vars.insert(name.to_owned(), value);
            }
        }
        Value::Sequence(items) => {
            for item in items {
                let item = item
                    .as_str()
                    .ok_or("an environment entry is not a string")?;
                let (name, value) = item
                    .split_once('=')
                    .ok_or_else(|| format!("{item} has no value (it would come from the shell)"))?;
                vars.insert(name.to_owned(), value.to_owned());
            }
        }
        _ => return Err("`environment` is neither a mapping nor a list".into()),
    }
    Ok(vars)
}

fn networks(service: &Value) -> BTreeSet<String> {
    match &service["networks"] {
        Value::Mapping(mapping) => mapping
            .keys()
            .filter_map(|key| key.as_str().map(str::to_owned))
            .collect(),
        other => strings(other).into_iter().collect(),
    }
}

fn port_number(text: &str) -> Option<u16> {
    text.split('/').next()?.parse().ok()
}

/// The container side of each published port.
fn published(service: &Value) -> Vec<u16> {
    service["ports"]
        .as_sequence()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|port| match port {
                    Value::Mapping(_) => scalar(&port["target"]).as_deref().and_then(port_number),
                    other => scalar(other)
                        .as_deref()
                        .and_then(|text| port_number(text.rsplit(':').next()?)),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn exposed(service: &Value) -> BTreeSet<u16> {
    strings(&service["expose"])
        .iter()
        .filter_map(|port| port_number(port))
        .collect()
}

/// The ports other services may reach a service on.
fn listening(service: &Value) -> BTreeSet<u16> {
    let mut ports = exposed(service);
    ports.extend(published(service));
    ports
}

/// Bind mounts as (host path, container path); named volumes are left out.
fn bind_mounts(service: &Value) -> Vec<(String, String)> {
    let mut mounts = Vec::new();
    for volume in service["volumes"].as_sequence().into_iter().flatten() {
        match volume {
            Value::Mapping(_) => {
                if volume["type"].as_str() == Some("bind")
                    && let (Some(source), Some(target)) =
                        (volume["source"].as_str(), volume["target"].as_str())
                {
                    mounts.push((source.to_owned(), target.to_owned()));
                }
            }
            other => {
                if let Some(text) = other.as_str() {
                    let mut parts = text.splitn(3, ':');
                    let (source, target) = (parts.next(), parts.next());
                    if let (Some(source), Some(target)) = (source, target)
                        && (source.starts_with('.') || source.starts_with('/'))
                    {
                        mounts.push((source.to_owned(), target.to_owned()));
                    }
                }
            }
        }
    }
    mounts
}

fn named_volumes(service: &Value) -> Vec<String> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|volume| match volume {
            Value::Mapping(_) if volume["type"].as_str() == Some("volume") => {
                volume["source"].as_str().map(str::to_owned)
            }
            other => {
                let source = other.as_str()?.split(':').next()?;
                (!source.starts_with('.') && !source.starts_with('/')).then(|| source.to_owned())
            }
        })
        .collect()
}

/// `http://host:port/path` → (host, port).
fn url_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

// ---------------------------------------------------------------------------------------------
// The checks

fn check_healthchecks(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in services(doc) {
        let check = &service["healthcheck"];
        let test = strings(&check["test"]);
        if check["disable"].as_bool() == Some(true) || test.is_empty() || test[0] == "NONE" {
            problems.push(format!("{name}: no healthcheck"));
        }
    }
    problems
}

fn check_published_ports(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in services(doc) {
        if !PUBLISHERS.contains(&name.as_str()) && !service["ports"].is_null() {
            problems.push(format!(
                "{name} publishes ports; only {PUBLISHERS:?} may (use `expose:`)"
            ));
        }
        if service["network_mode"].as_str() == Some("host") {
            problems.push(format!("{name} uses the host's network"));
        }
    }
    problems
}

fn check_data_tier(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if doc["networks"][DATA_NETWORK]["internal"].as_bool() != Some(true) {
        problems.push(format!("network {DATA_NETWORK} is not `internal: true`"));
    }
    for name in DATA_TIER {
        let service = &doc["services"][name];
        if service.is_null() {
            problems.push(format!("there is no {name} service"));
            continue;
        }
        let expected = BTreeSet::from([DATA_NETWORK.to_owned()]);
        if networks(service) != expected {
            problems.push(format!(
                "{name} is on {:?}; it must be on {DATA_NETWORK} alone",
                networks(service)
            ));
        }
    }
    problems
}

fn check_depends_on(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in services(doc) {
        match &service["depends_on"] {
            Value::Null => {}
            Value::Mapping(dependencies) => {
                for (dependency, settings) in dependencies {
                    let dependency = dependency.as_str().unwrap_or_default();
                    if settings["condition"].as_str() != Some("service_healthy") {
                        problems.push(format!(
                            "{name} depends on {dependency} without `condition: service_healthy`"
                        ));
                    }
                    if doc["services"][dependency].is_null() {
                        problems.push(format!(
                            "{name} depends on {dependency}, which is no service"
                        ));
                    }
                }
            }
            _ => problems.push(format!(
                "{name}: `depends_on` is a list, so it waits for no health check"
            )),
        }
    }
    problems
}

fn check_limits_users_and_operations(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in services(doc) {
        let limits = &service["deploy"]["resources"]["limits"];
        for resource in ["cpus", "memory"] {
            if scalar(&limits[resource]).is_none() {
                problems.push(format!("{name}: no deploy.resources.limits.{resource}"));
            }
        }
        match scalar(&service["user"]) {
            None => problems.push(format!(
                "{name}: no `user:`, so it runs as the image's user"
            )),
            Some(user) => {
                let account = user.split(':').next().unwrap_or_default();
                if account.is_empty() || account == "root" || account == "0" {
                    problems.push(format!("{name} runs as root ({user})"));
                }
            }
        }
        if scalar(&service["restart"]).is_none() {
            problems.push(format!("{name}: no restart policy"));
        }
        if service["logging"]["options"].is_null() {
            problems.push(format!(
                "{name}: no logging options (logs would grow unbounded)"
            ));
        }
    }
    problems
}

/// Relative bind mounts must exist in the repository; named volumes must be declared.
fn check_mounts(doc: &Value, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let declared: BTreeSet<String> = doc["volumes"]
        .as_mapping()
        .map(|volumes| {
            volumes
                .keys()
                .filter_map(|key| key.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for (name, service) in services(doc) {
        for (source, target) in bind_mounts(service) {
            if source.starts_with('.') && !root.join(&source).exists() {
                problems.push(format!(
                    "{name} mounts {source} (at {target}), which does not exist"
                ));
            }
        }
        for volume in named_volumes(service) {
            if !declared.contains(&volume) {
                problems.push(format!(
                    "{name} uses volume {volume}, which is not declared"
                ));
            }
        }
    }
    problems
}

/// The variables the compose file reads against the env template.
fn check_variables(raw: &Value, vars: &Vars, env_example: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let entries = match parse_env_file(env_example) {
        Ok(entries) => entries,
        Err(error) => return vec![format!("the env template does not read: {error}")],
    };
    let references = match references(raw, vars) {
        Ok(references) => references,
        Err(error) => return vec![format!("the compose file does not interpolate: {error}")],
    };
    let listed: BTreeMap<&str, &EnvEntry> = entries
        .iter()
        .map(|entry| (entry.name.as_str(), entry))
        .collect();
    let referenced: BTreeSet<&str> = references
        .iter()
        .map(|reference| reference.name.as_str())
        .collect();
    for name in &referenced {
        if !listed.contains_key(name) {
            problems.push(format!(
                "${{{name}}} is read by the compose file but not listed in the env template"
            ));
        }
    }
    for reference in &references {
        if reference.form == Form::Required
            && listed
                .get(reference.name.as_str())
                .is_some_and(|entry| !entry.value.is_empty())
        {
            problems.push(format!(
                "{} is required, so the template leaves it empty, but it has a value",
                reference.name
            ));
        }
    }
    for secret in SECRETS {
        if !referenced.contains(secret) {
            problems.push(format!("{secret} is never read"));
        }
        for reference in references
            .iter()
            .filter(|reference| reference.name == secret)
        {
            if reference.form != Form::Required {
                problems.push(format!(
                    "{secret} is read as {:?}; a secret must be `${{{secret}:?…}}`, with no default",
                    reference.form
                ));
            }
        }
    }
    for entry in &entries {
        if !entry.documented {
            problems.push(format!("{} has no comment in the env template", entry.name));
        }
        if !referenced.contains(entry.name.as_str()) {
            problems.push(format!(
                "{} is in the env template but the compose file never reads it",
                entry.name
            ));
        }
    }
    problems
}

/// A `.dockerignore` pattern against a path, both relative to the context: `*` within a
/// component, `**` across components.
fn glob_matches(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            glob_matches(&pattern[1..], path)
                || (!path.is_empty() && glob_matches(pattern, &path[1..]))
        }
        (Some(component), Some(name)) => {
            component_matches(component, name) && glob_matches(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

fn component_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            name.starts_with(prefix)
                && (0..=name.len() - prefix.len())
                    .any(|skip| component_matches(rest, &name[prefix.len() + skip..]))
        }
    }
}

/// Whether `.dockerignore` keeps `path` (or a folder above it) out of the build context.
fn ignored(dockerignore: &str, path: &str) -> bool {
    let components: Vec<&str> = path
        .trim_start_matches("./")
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut ignored = false;
    for line in dockerignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(pattern) => (true, pattern),
            None => (false, line),
        };
        let pattern: Vec<&str> = pattern
            .trim_start_matches('/')
            .split('/')
            .filter(|c| !c.is_empty())
            .collect();
        // The path itself, or a folder holding it.
        let hit = (1..=components.len()).any(|end| glob_matches(&pattern, &components[..end]));
        if hit {
            ignored = !negated;
        }
    }
    ignored
}

/// The Dockerfile's instructions, continuation lines joined and comments dropped.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                if !current.trim().is_empty() {
                    joined.push(current.trim().to_owned());
                }
                current.clear();
            }
        }
    }
    joined
        .into_iter()
        .map(|line| match line.split_once(char::is_whitespace) {
            Some((keyword, rest)) => (keyword.to_uppercase(), rest.trim().to_owned()),
            None => (line.to_uppercase(), String::new()),
        })
        .collect()
}

fn check_dockerfile(
    dockerfile: &str,
    dockerignore: &str,
    root: &Path,
    doc: &Value,
    workspace_members: &[String],
    rust_version: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let instructions = instructions(dockerfile);
    let mut copied = Vec::new();
    let mut final_user = None;
    let mut built = BTreeSet::new();
    for (keyword, arguments) in &instructions {
        match keyword.as_str() {
            "FROM" => final_user = None,
            "USER" => final_user = Some(arguments.clone()),
            "ARG" => {
                if let Some(version) = arguments.strip_prefix("RUST_VERSION=")
                    && version != rust_version
                {
                    problems.push(format!(
                        "the image builds with Rust {version}, the workspace asks for {rust_version}"
                    ));
                }
            }
            "COPY" | "ADD" => {
                let words: Vec<&str> = arguments.split_whitespace().collect();
                if words.iter().any(|word| word.starts_with("--from")) {
                    continue;
                }
                let paths: Vec<&str> = words
                    .iter()
                    .copied()
                    .filter(|word| !word.starts_with("--"))
                    .collect();
                for source in paths.iter().take(paths.len().saturating_sub(1)) {
                    if !root.join(source).exists() {
                        problems.push(format!("COPY {source}: no such path in the repository"));
                    } else if ignored(dockerignore, source) {
                        problems.push(format!(
                            "COPY {source}: .dockerignore keeps it out of the build context"
                        ));
                    }
                    copied.push(source.trim_end_matches('/').to_owned());
                }
            }
            "RUN" => {
                let words: Vec<&str> = arguments.split_whitespace().collect();
                for pair in words.windows(2) {
                    if pair[0] == "--bin" {
                        built.insert(pair[1].to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    for member in workspace_members {
        let covered = copied.iter().any(|source| {
            source == "." || member == source || member.starts_with(&format!("{source}/"))
        });
        if !covered {
            problems.push(format!(
                "workspace member {member} is not copied into the build, so cargo cannot load the workspace"
            ));
        }
    }
    let mut wanted: BTreeSet<String> = BINARIES.iter().map(|name| (*name).to_owned()).collect();
    for (name, service) in services(doc) {
        if is_ours(service) {
            match binary(service) {
                Some(binary) => {
                    wanted.insert(binary);
                }
                None => problems.push(format!("{name} names no binary in `command:`")),
            }
        }
    }
    for binary in wanted {
        if !built.contains(&binary) {
            problems.push(format!(
                "the image does not build {binary} (`--bin {binary}`)"
            ));
        }
    }
    match final_user {
        None => problems.push("the runtime stage has no USER, so it runs as root".into()),
        Some(user) => {
            let account = user.split(':').next().unwrap_or_default();
            if account == "root" || account == "0" || account.parse::<u32>().is_err() {
                problems.push(format!(
                    "the runtime stage's USER {user} must be a numeric user other than 0"
                ));
            }
        }
    }
    problems
}

/// One target of a scrape job: a static `host:port`, or a name and port of DNS discovery.
struct ScrapeTarget<'a> {
    job: &'a str,
    host: &'a str,
    port: u16,
    by_dns: bool,
}

impl ScrapeTarget<'_> {
    /// The target must be a compose service (`localhost` is Prometheus itself) listening on the
    /// port; a service of several replicas must be found by DNS, or only one would be scraped.
    fn check(&self, doc: &Value, scraped: &mut BTreeSet<String>) -> Vec<String> {
        let ScrapeTarget {
            job,
            host,
            port,
            by_dns,
        } = *self;
        let name = if host == "localhost" {
            "prometheus"
        } else {
            host
        };
        let service = &doc["services"][name];
        if service.is_null() {
            return vec![format!("job {job}: {host} is no compose service")];
        }
        scraped.insert(name.to_owned());
        let mut problems = Vec::new();
        if !listening(service).contains(&port) {
            problems.push(format!(
                "job {job}: {name} listens on {:?}, not {port}",
                listening(service)
            ));
        }
        let replicas = service["deploy"]["replicas"].as_u64().unwrap_or(1);
        if replicas > 1 && !by_dns {
            problems.push(format!(
                "job {job}: {name} has {replicas} replicas; a static target reaches one of them, use dns_sd_configs"
            ));
        }
        problems
    }
}

fn check_prometheus(prometheus: &str, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let config: Value = match serde_yaml_ng::from_str(prometheus) {
        Ok(config) => config,
        Err(error) => return vec![format!("prometheus.yml is not valid YAML: {error}")],
    };
    let mut scraped = BTreeSet::new();
    for job in config["scrape_configs"].as_sequence().into_iter().flatten() {
        let name = job["job_name"].as_str().unwrap_or("?").to_owned();
        for group in job["static_configs"].as_sequence().into_iter().flatten() {
            for target in strings(&group["targets"]) {
                let parsed = target
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
                match parsed {
                    Some((host, port)) => {
                        let target = ScrapeTarget {
                            job: &name,
                            host,
                            port,
                            by_dns: false,
                        };
                        problems.extend(target.check(doc, &mut scraped));
                    }
                    _ => problems.push(format!("job {name}: target {target} is not host:port")),
                }
            }
        }
        for discovery in job["dns_sd_configs"].as_sequence().into_iter().flatten() {
            if discovery["type"].as_str() != Some("A") {
                problems.push(format!("job {name}: DNS discovery must be of type A"));
            }
            let Some(port) = discovery["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
            else {
                problems.push(format!("job {name}: DNS discovery without a port"));
                continue;
            };
            for host in strings(&discovery["names"]) {
                let target = ScrapeTarget {
                    job: &name,
                    host: &host,
                    port,
                    by_dns: true,
                };
                problems.extend(target.check(doc, &mut scraped));
            }
        }
    }
    for service in SCRAPED {
        if !scraped.contains(service) {
            problems.push(format!("no job scrapes {service}"));
        }
    }
    problems
}

fn check_grafana(
    doc: &Value,
    provisioning_folders: &[String],
    datasources: &str,
    provider: &str,
    dashboards: &[(String, String)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let grafana = &doc["services"]["grafana"];
    let mounts = bind_mounts(grafana);
    let mounted_at = |source: &str| {
        mounts
            .iter()
            .find(|(from, _)| from.trim_start_matches("./").trim_end_matches('/') == source)
            .map(|(_, target)| target.clone())
    };
    for folder in provisioning_folders {
        let expected = format!("/etc/grafana/provisioning/{folder}");
        if mounted_at(&format!("grafana/provisioning/{folder}")).as_deref() != Some(&expected) {
            problems.push(format!(
                "grafana/provisioning/{folder} is not mounted at {expected}"
            ));
        }
    }
    let datasources: Value = match serde_yaml_ng::from_str(datasources) {
        Ok(value) => value,
        Err(error) => return vec![format!("the datasource file is not valid YAML: {error}")],
    };
    let mut uids = BTreeSet::new();
    for source in datasources["datasources"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        if let Some(uid) = source["uid"].as_str() {
            uids.insert(uid.to_owned());
        }
        let url = source["url"].as_str().unwrap_or_default();
        match url_host_port(url) {
            Some((host, port)) if listening(&doc["services"][host.as_str()]).contains(&port) => {}
            _ => problems.push(format!("datasource url {url} is no service's port")),
        }
    }
    let provider: Value = match serde_yaml_ng::from_str(provider) {
        Ok(value) => value,
        Err(error) => return vec![format!("the dashboard provider is not valid YAML: {error}")],
    };
    let dashboards_target = mounted_at("grafana/dashboards");
    for source in provider["providers"].as_sequence().into_iter().flatten() {
        let path = source["options"]["path"].as_str();
        if path.is_none() || path.map(str::to_owned) != dashboards_target {
            problems.push(format!(
                "the dashboard provider reads {path:?}, grafana/dashboards is mounted at {dashboards_target:?}"
            ));
        }
    }
    for (name, text) in dashboards {
        match serde_json::from_str::<serde_json::Value>(text) {
            Err(error) => problems.push(format!("dashboard {name} is not JSON: {error}")),
            Ok(dashboard) => {
                let mut used = BTreeSet::new();
                datasource_uids(&dashboard, &mut used);
                for uid in used.difference(&uids) {
                    problems.push(format!(
                        "dashboard {name} uses datasource {uid}, which is not provisioned"
                    ));
                }
            }
        }
    }
    problems
}

fn datasource_uids(value: &serde_json::Value, found: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(object) => {
            if let Some(uid) = object
                .get("datasource")
                .and_then(|datasource| datasource.get("uid"))
                .and_then(serde_json::Value::as_str)
            {
                found.insert(uid.to_owned());
            }
            object
                .values()
                .for_each(|item| datasource_uids(item, found));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|item| datasource_uids(item, found))
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Our services, through their own configuration loaders

/// What a binary made of its environment.
#[derive(Debug, Default)]
struct Loaded {
    binary: String,
    /// The ports it listens on.
    ports: BTreeSet<u16>,
    /// The settings sections it reads (`AIUT_<SECTION>__…`); empty for the simulator.
    sections: BTreeSet<String>,
    /// Whether it reads `DATABASE_URL` and `REDIS_URL`.
    reads_urls: bool,
    /// The variables holding the model keys (the registry's `api_key_env`).
    key_variables: BTreeSet<String>,
    /// The model a task gets when it names none.
    default_model: Option<String>,
    /// Whether the HTTPS listener is on.
    tls: bool,
}

fn port_of(address: &str) -> Result<u16, String> {
    address
        .parse::<SocketAddr>()
        .map(|address| address.port())
        .map_err(|error| format!("{address:?} is not ip:port: {error}"))
}

/// The top-level keys a settings type serialises: the sections it reads (the sections it only
/// tolerates are not serialised).
fn sections_of<T: serde::Serialize>(settings: &T) -> Result<BTreeSet<String>, String> {
    match serde_json::to_value(settings).map_err(|error| error.to_string())? {
        serde_json::Value::Object(object) => Ok(object.keys().cloned().collect()),
        _ => Err("settings do not serialise to a map".into()),
    }
}

/// The variables the models of a registry take their API keys from.
fn key_variables(registry: &domain::ModelRegistry) -> BTreeSet<String> {
    registry
        .models
        .iter()
        .filter_map(|model| model.api_key_env.clone())
        .collect()
}

/// Runs the loader of `binary` on the current (jailed) environment.
fn run_loader(binary: &str) -> Result<Loaded, String> {
    let error = |error: anyhow::Error| format!("{binary}: {error:#}");
    match binary {
        "aiut-api" => {
            let settings = api::Settings::load().map_err(error)?;
            settings.validate().map_err(error)?;
            Ok(Loaded {
                binary: binary.into(),
                ports: BTreeSet::from([settings.server.port]),
                sections: sections_of(&api::Settings::default())?,
                reads_urls: true,
                // The api holds no provider keys: a model is on offer when a live worker serves
                // it, and with none running yet only the models no key guards are.
                key_variables: BTreeSet::new(),
                default_model: settings
                    .models
                    .default_model_where(&|spec| spec.api_key_env.is_none())
                    .map(|spec| spec.id.to_string()),
                tls: false,
            })
        }
        "aiut-worker" => {
            let settings = worker::Settings::load().map_err(error)?;
            Ok(Loaded {
                binary: binary.into(),
                ports: BTreeSet::from([settings.worker.metrics_port]),
                sections: sections_of(&worker::Settings::default())?,
                reads_urls: true,
                key_variables: key_variables(&settings.models),
                default_model: None,
                tls: false,
            })
        }
        "aiut-gateway" => {
            let settings = gateway::Settings::load().map_err(error)?;
            let mut ports = BTreeSet::from([
                port_of(&settings.gateway.listen)?,
                port_of(&settings.gateway.metrics_listen)?,
            ]);
            if let Some(tls) = &settings.gateway.tls {
                ports.insert(port_of(&tls.listen)?);
            }
            Ok(Loaded {
                binary: binary.into(),
                ports,
                sections: sections_of(&gateway::Settings::default())?,
                tls: settings.gateway.tls.is_some(),
                ..Loaded::default()
            })
        }
        "aiut-model-sim" => {
            let config = simulator::SimulatorConfig::load().map_err(error)?;
            Ok(Loaded {
                binary: binary.into(),
                ports: BTreeSet::from([port_of(&config.listen)?]),
                ..Loaded::default()
            })
        }
        other => Err(format!("{other} is none of our binaries")),
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to)?;
    }
    Ok(())
}

/// Replaces a container path by where the jail holds it.
fn rewrite(text: &str, moves: &[(String, String)]) -> String {
    let mut out = text.to_owned();
    for (target, inside) in moves {
        out = out.replace(&format!("{target}/"), &format!("{inside}/"));
        if out == *target {
            out.clone_from(inside);
        }
    }
    out
}

/// Loads one service's settings as its container would: a jail whose environment is exactly the
/// service's, holding copies of its bind-mounted repository folders at the container paths
/// (under the jail), with the operator's certificate and key in `TLS_DIR`'s folder.
fn load_service(service: &Value, vars: &Vars) -> Result<Loaded, String> {
    let binary = binary(service).ok_or("no binary in `command:`")?;
    let environment = environment(service)?;
    let root = repo_root();
    let mounts = bind_mounts(service);
    let tls_dir = vars.get(TLS_DIR).cloned();
    let mut outcome = Err("the jail did not run".to_owned());
    Jail::try_with(|jail| {
        jail.clear_env();
        let container = jail.directory().join("container");
        let mut moves = Vec::new();
        for (source, target) in &mounts {
            let host = root.join(source);
            if !source.starts_with('.') || !host.exists() {
                continue;
            }
            let inside = container.join(target.trim_start_matches('/'));
            copy_tree(&host, &inside).map_err(|error| error.to_string())?;
            if tls_dir.as_deref() == Some(source.as_str()) {
                for file in TLS_FILES {
                    std::fs::write(inside.join(file), "stand-in")
                        .map_err(|error| error.to_string())?;
                }
            }
            moves.push((target.clone(), inside.display().to_string()));
        }
        for (_, inside) in &moves {
            for file in files_under(Path::new(inside)) {
                if file
                    .extension()
                    .is_some_and(|extension| extension == "toml")
                {
                    let text = std::fs::read_to_string(&file).map_err(|error| error.to_string())?;
                    std::fs::write(&file, rewrite(&text, &moves))
                        .map_err(|error| error.to_string())?;
                }
            }
        }
        for (name, value) in &environment {
            jail.set_env(name, rewrite(value, &moves));
        }
        outcome = run_loader(&binary);
        Ok(())
    })
    .map_err(|error| error.to_string())?;
    outcome
}

fn files_under(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|entry| files_under(&entry.path()))
            .collect()
    } else {
        vec![path.to_path_buf()]
    }
}

/// Whether `binary` reads the variable `name`, as loaded.
fn reads(loaded: &Loaded, name: &str) -> bool {
    if name == "RUST_LOG" {
        return true;
    }
    if loaded.binary == "aiut-model-sim" {
        return name.starts_with("AIUT_SIM_");
    }
    if name == "AIUT_CONFIG" {
        return true;
    }
    if name == "DATABASE_URL" || name == "REDIS_URL" {
        return loaded.reads_urls;
    }
    // Read by the api alone, outside its settings: a password is never a setting.
    if name == "AIUT_ADMIN_PASSWORD" {
        return loaded.binary == "aiut-api";
    }
    // OpenTelemetry's own variables, read by the telemetry set-up of every service but the
    // simulator.
    if name.starts_with("OTEL_") {
        return true;
    }
    if let Some(rest) = name.strip_prefix("AIUT_") {
        return rest
            .split_once("__")
            .is_some_and(|(section, _)| loaded.sections.contains(&section.to_lowercase()));
    }
    loaded.key_variables.contains(name)
}

/// Each of our services, loaded from its environment with each gateway configuration file.
fn check_our_services(raw: &Value, vars: &Vars) -> Vec<String> {
    let mut problems = Vec::new();
    let mut with_tls = vars.clone();
    with_tls.insert(GATEWAY_CONFIG.into(), GATEWAY_TLS_FILE.into());
    let mut ports: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let mut tls_seen = BTreeSet::new();
    for (variant, vars) in [("", vars), (" (with TLS)", &with_tls)] {
        let doc = match interpolated(raw, vars) {
            Ok(doc) => doc,
            Err(error) => return vec![format!("the compose file does not interpolate: {error}")],
        };
        let mut loaded_all: BTreeMap<String, Loaded> = BTreeMap::new();
        for (name, service) in services(&doc).into_iter().filter(|(_, s)| is_ours(s)) {
            let loaded = match load_service(service, vars) {
                Ok(loaded) => loaded,
                Err(error) => {
                    problems.push(format!("{name}{variant}: {error}"));
                    continue;
                }
            };
            let environment = environment(service).unwrap_or_default();
            for variable in environment.keys() {
                if !reads(&loaded, variable) {
                    problems.push(format!(
                        "{name}{variant}: {variable} is set but {} never reads it",
                        loaded.binary
                    ));
                }
            }
            for key in &loaded.key_variables {
                if !environment.contains_key(key) {
                    problems.push(format!(
                        "{name}{variant}: the registry's key variable {key} is not passed through"
                    ));
                }
            }
            if loaded.binary == "aiut-gateway" {
                tls_seen.insert(loaded.tls);
            }
            if variant.is_empty()
                && let Some(url) = strings(&service["healthcheck"]["test"])
                    .iter()
                    .find(|word| word.starts_with("http://"))
            {
                match url_host_port(url) {
                    Some((_, port)) if loaded.ports.contains(&port) => {}
                    _ => problems.push(format!(
                        "{name}: the healthcheck probes {url}, the service listens on {:?}",
                        loaded.ports
                    )),
                }
            }
            ports
                .entry(name.clone())
                .or_default()
                .extend(loaded.ports.iter().copied());
            loaded_all.insert(name, loaded);
        }
        if variant.is_empty()
            && let Some(api) = loaded_all.values().find(|l| l.binary == "aiut-api")
            && api.default_model.as_deref() != Some("offline")
        {
            problems.push(format!(
                "with no worker running yet the default model is {:?}, not offline",
                api.default_model
            ));
        }
    }
    if tls_seen != BTreeSet::from([false, true]) {
        problems.push(format!(
            "the gateway's HTTPS listener must be off by default and on with {GATEWAY_CONFIG}={GATEWAY_TLS_FILE}; seen {tls_seen:?}"
        ));
    }
    let doc = interpolated(raw, vars).unwrap_or_default();
    for (name, listened) in &ports {
        let service = &doc["services"][name.as_str()];
        if exposed(service) != *listened {
            problems.push(format!(
                "{name} listens on {listened:?} but exposes {:?}",
                exposed(service)
            ));
        }
        for port in published(service) {
            if !listened.contains(&port) {
                problems.push(format!("{name} publishes {port}, where nothing listens"));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// The real files pass

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

fn workspace() -> (Vec<String>, String) {
    let manifest = figment::Figment::from(Toml::file(repo_root().join("Cargo.toml")));
    let members: Vec<String> = manifest
        .extract_inner("workspace.members")
        .expect("the workspace lists its members");
    let rust_version: String = manifest
        .extract_inner("workspace.package.rust-version")
        .expect("the workspace names its Rust version");
    (members, rust_version)
}

/// The folders of grafana/provisioning, each of which Grafana must see.
fn provisioning_folders() -> Vec<String> {
    std::fs::read_dir(repo_root().join("grafana/provisioning"))
        .expect("grafana/provisioning is a folder")
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

fn dashboards() -> Vec<(String, String)> {
    files_under(&repo_root().join("grafana/dashboards"))
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a dashboard reads");
            (path.display().to_string(), text)
        })
        .collect()
}

#[test]
fn the_compose_file_parses_and_interpolates() {
    let fixture = Fixture::load();
    let doc = fixture.doc();
    let names: BTreeSet<String> = services(&doc).into_iter().map(|(name, _)| name).collect();
    for expected in [
        "gateway",
        "api",
        "worker",
        "model-sim",
        "postgres",
        "redis",
        "prometheus",
        "grafana",
        "node-exporter",
        "postgres-exporter",
        "redis-exporter",
    ] {
        assert!(
            names.contains(expected),
            "no {expected} service in {names:?}"
        );
    }
    // The anchors were merged: every one of our services got the image and its hardening.
    assert_eq!(
        doc["services"]["api"]["deploy"]["replicas"].as_u64(),
        Some(3)
    );
    assert_eq!(
        doc["services"]["worker"]["deploy"]["replicas"].as_u64(),
        Some(2)
    );
    assert!(doc["services"]["api"]["container_name"].is_null());
    assert_eq!(
        strings(&doc["services"]["model-sim"]["profiles"]),
        ["simulator"]
    );
    assert_eq!(
        environment(&doc["services"]["gateway"])
            .expect("the gateway's environment")
            .get("AIUT_GATEWAY__UPSTREAM_DNS")
            .map(String::as_str),
        Some("api:8888")
    );
    let api_env = environment(&doc["services"]["api"]).expect("the api's environment");
    assert!(
        api_env["REDIS_URL"].contains("stand-in-redis_password@redis:6379"),
        "the Redis URL carries the password: {}",
        api_env["REDIS_URL"]
    );
    for (name, service) in services(&doc) {
        if ["gateway", "api", "worker", "model-sim"].contains(&name.as_str()) {
            assert!(is_ours(service), "{name} is built from {OUR_DOCKERFILE}");
            assert_eq!(service["read_only"].as_bool(), Some(true), "{name}");
        }
    }
}

#[test]
fn every_service_has_a_healthcheck() {
    assert_none(check_healthchecks(&Fixture::load().doc()));
}

#[test]
fn only_the_gateway_grafana_and_prometheus_publish_ports() {
    let doc = Fixture::load().doc();
    assert_none(check_published_ports(&doc));
    assert_eq!(published(&doc["services"]["gateway"]), [8080, 8443]);
}

#[test]
fn postgres_and_redis_are_only_on_the_internal_network() {
    assert_none(check_data_tier(&Fixture::load().doc()));
}

#[test]
fn dependencies_wait_for_health() {
    assert_none(check_depends_on(&Fixture::load().doc()));
}

#[test]
fn every_service_is_limited_runs_unprivileged_and_restarts() {
    assert_none(check_limits_users_and_operations(&Fixture::load().doc()));
}

#[test]
fn mounted_paths_exist() {
    assert_none(check_mounts(&Fixture::load().doc(), &repo_root()));
}

#[test]
fn the_env_template_lists_every_variable() {
    let fixture = Fixture::load();
    assert_none(check_variables(
        &fixture.raw,
        &fixture.vars,
        &fixture.env_example,
    ));
    // Without the secrets, compose refuses to start.
    let entries = parse_env_file(&fixture.env_example).expect("the template reads");
    let bare: Vars = entries
        .into_iter()
        .map(|entry| (entry.name, entry.value))
        .collect();
    let refusal = interpolated(&fixture.raw, &bare).expect_err("the secrets are empty");
    assert!(refusal.contains("required variable"), "{refusal}");
}

#[test]
fn our_services_are_configured_with_settings_their_binaries_read() {
    let fixture = Fixture::load();
    assert_none(check_our_services(&fixture.raw, &fixture.vars));
}

/// The check above is not vacuous: each of our four services goes through its loader.
#[test]
fn each_binary_loads_its_service_environment() {
    let fixture = Fixture::load();
    let mut with_tls = fixture.vars.clone();
    with_tls.insert(GATEWAY_CONFIG.into(), GATEWAY_TLS_FILE.into());
    let cases: [(&str, &Vars, &[u16]); 5] = [
        ("gateway", &fixture.vars, &[8080, 9100]),
        ("gateway", &with_tls, &[8080, 8443, 9100]),
        ("api", &fixture.vars, &[8888]),
        ("worker", &fixture.vars, &[9200]),
        ("model-sim", &fixture.vars, &[8090]),
    ];
    for (name, vars, ports) in cases {
        let doc = interpolated(&fixture.raw, vars).expect("interpolates");
        let loaded = load_service(&doc["services"][name], vars)
            .unwrap_or_else(|error| panic!("{name} does not load: {error}"));
        assert_eq!(loaded.ports, ports.iter().copied().collect(), "{name}");
    }
}

#[test]
fn the_dockerfile_copies_existing_paths_and_builds_every_binary() {
    let fixture = Fixture::load();
    let (members, rust_version) = workspace();
    assert_none(check_dockerfile(
        &read(OUR_DOCKERFILE),
        &read(".dockerignore"),
        &repo_root(),
        &fixture.doc(),
        &members,
        &rust_version,
    ));
}

#[test]
fn prometheus_scrapes_the_services_where_they_listen() {
    assert_none(check_prometheus(
        &read("prometheus/prometheus.yml"),
        &Fixture::load().doc(),
    ));
}

#[test]
fn grafana_is_provisioned_from_the_repository() {
    let dashboards = dashboards();
    assert!(
        !dashboards.is_empty(),
        "grafana/dashboards holds no dashboard"
    );
    let folders = provisioning_folders();
    for folder in ["datasources", "dashboards"] {
        assert!(
            folders.iter().any(|f| f == folder),
            "no provisioning/{folder}"
        );
    }
    assert_none(check_grafana(
        &Fixture::load().doc(),
        &folders,
        &read("grafana/provisioning/datasources/prometheus.yml"),
        &read("grafana/provisioning/dashboards/provider.yml"),
        &dashboards,
    ));
}

/// `docker compose config` when the compose plugin is installed; otherwise a note and nothing.
#[test]
fn docker_compose_accepts_the_file() {
    let available = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        eprintln!(
            "note: `docker compose` is not installed; its own validation of docker-compose.yml is skipped"
        );
        return;
    }
    for profile in [None, Some("simulator")] {
        let mut command = Command::new("docker");
        command.current_dir(repo_root()).arg("compose");
        if let Some(profile) = profile {
            command.args(["--profile", profile]);
        }
        command.args([
            "-f",
            "docker-compose.yml",
            "--env-file",
            "deployment/.env.example",
            "config",
            "-q",
        ]);
        for secret in SECRETS {
            command.env(secret, format!("stand-in-{}", secret.to_lowercase()));
        }
        let output = command.output().expect("docker compose runs");
        assert!(
            output.status.success(),
            "docker compose config (profile {profile:?}) refuses the file:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Each check fails on a broken copy

fn service_mut<'a>(doc: &'a mut Value, name: &str) -> &'a mut serde_yaml_ng::Mapping {
    doc["services"][name]
        .as_mapping_mut()
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn set_env(doc: &mut Value, service: &str, name: &str, value: &str) {
    doc["services"][service]["environment"][name] = Value::String(value.into());
}

#[test]
fn rejects_malformed_compose_files() {
    assert!(parse_compose("services: [unclosed").is_err());
    assert!(parse_compose("services:\n  api:\n    <<: *nowhere\n").is_err());
    assert!(parse_compose("volumes: {}\n").is_err(), "no services");
    let vars = Vars::new();
    let mut references = Vec::new();
    assert!(interpolate("a lone $ sign", &vars, &mut references).is_err());
    assert!(interpolate("${UNTERMINATED", &vars, &mut references).is_err());
    assert_eq!(
        interpolate("$${NOT} ${A:-x${B:-y}} ${A-z}", &vars, &mut references).as_deref(),
        Ok("${NOT} xy z")
    );
}

#[test]
fn rejects_a_service_without_healthcheck() {
    let mut doc = Fixture::load().doc();
    service_mut(&mut doc, "postgres").remove("healthcheck");
    doc["services"]["redis"]["healthcheck"]["disable"] = Value::Bool(true);
    let problems = check_healthchecks(&doc);
    assert_flags(&problems, "postgres: no healthcheck");
    assert_flags(&problems, "redis: no healthcheck");
}

#[test]
fn rejects_ports_published_by_other_services() {
    let mut doc = Fixture::load().doc();
    doc["services"]["redis"]["ports"] = serde_yaml_ng::from_str("[\"6379:6379\"]").expect("yaml");
    assert_flags(&check_published_ports(&doc), "redis publishes ports");
}

#[test]
fn rejects_the_data_tier_off_the_internal_network() {
    let mut doc = Fixture::load().doc();
    doc["services"]["postgres"]["networks"] =
        serde_yaml_ng::from_str("[data, edge]").expect("yaml");
    assert_flags(&check_data_tier(&doc), "postgres is on");
    let mut doc = Fixture::load().doc();
    doc["networks"]["data"]["internal"] = Value::Bool(false);
    assert_flags(&check_data_tier(&doc), "not `internal: true`");
}

#[test]
fn rejects_dependencies_that_do_not_wait_for_health() {
    let mut doc = Fixture::load().doc();
    doc["services"]["api"]["depends_on"]["redis"]["condition"] =
        Value::String("service_started".into());
    assert_flags(&check_depends_on(&doc), "api depends on redis without");
    let mut doc = Fixture::load().doc();
    doc["services"]["gateway"]["depends_on"] = serde_yaml_ng::from_str("[api]").expect("yaml");
    assert_flags(&check_depends_on(&doc), "gateway: `depends_on` is a list");
}

#[test]
fn rejects_unlimited_privileged_or_unmanaged_services() {
    let mut doc = Fixture::load().doc();
    service_mut(&mut doc, "worker").remove("deploy");
    doc["services"]["api"]["user"] = Value::String("0:0".into());
    service_mut(&mut doc, "gateway").remove("user");
    service_mut(&mut doc, "grafana").remove("restart");
    service_mut(&mut doc, "redis").remove("logging");
    let problems = check_limits_users_and_operations(&doc);
    assert_flags(&problems, "worker: no deploy.resources.limits.cpus");
    assert_flags(&problems, "api runs as root");
    assert_flags(&problems, "gateway: no `user:`");
    assert_flags(&problems, "grafana: no restart policy");
    assert_flags(&problems, "redis: no logging options");
}

#[test]
fn rejects_mounts_of_missing_paths() {
    let mut doc = Fixture::load().doc();
    doc["services"]["prometheus"]["volumes"] =
        serde_yaml_ng::from_str("[\"./no-such-folder:/etc/prometheus:ro\", \"undeclared:/data\"]")
            .expect("yaml");
    let problems = check_mounts(&doc, &repo_root());
    assert_flags(&problems, "mounts ./no-such-folder");
    assert_flags(&problems, "volume undeclared, which is not declared");
}

#[test]
fn rejects_variables_the_env_template_does_not_cover() {
    let fixture = Fixture::load();
    let mut raw = fixture.raw.clone();
    set_env(
        &mut raw,
        "api",
        "AIUT_LIMITS__MAX_PAGE_SIZE",
        "${PAGE_SIZE:-100}",
    );
    set_env(&mut raw, "worker", "NEW_TOKEN", "${NEW_TOKEN:?set it}");
    set_env(
        &mut raw,
        "grafana",
        "GF_SECURITY_ADMIN_PASSWORD",
        "${GRAFANA_ADMIN_PASSWORD:-admin}",
    );
    let mut vars = fixture.vars.clone();
    vars.insert("NEW_TOKEN".into(), "x".into());
    let problems = check_variables(&raw, &vars, &fixture.env_example);
    assert_flags(
        &problems,
        "${PAGE_SIZE} is read by the compose file but not listed",
    );
    assert_flags(
        &problems,
        "${NEW_TOKEN} is read by the compose file but not listed",
    );
    assert_flags(&problems, "GRAFANA_ADMIN_PASSWORD is read as Default");

    let template = format!(
        "{}\nUNDOCUMENTED=1\n",
        fixture
            .env_example
            .replace("REDIS_PASSWORD=\n", "REDIS_PASSWORD=changeme\n")
    );
    let problems = check_variables(&fixture.raw, &fixture.vars, &template);
    assert_flags(&problems, "UNDOCUMENTED has no comment");
    assert_flags(
        &problems,
        "UNDOCUMENTED is in the env template but the compose file never reads it",
    );
    assert_flags(
        &problems,
        "REDIS_PASSWORD is required, so the template leaves it empty",
    );
}

#[test]
fn rejects_settings_the_binaries_do_not_read() {
    let fixture = Fixture::load();
    // A misspelled field: the api's own loader refuses it.
    let mut raw = fixture.raw.clone();
    set_env(&mut raw, "api", "AIUT_SERVER__PROT", "8888");
    assert_flags(
        &check_our_services(&raw, &fixture.vars),
        "api: aiut-api: invalid configuration",
    );

    // The simulator's loader refuses its typos too.
    let mut raw = fixture.raw.clone();
    set_env(&mut raw, "model-sim", "AIUT_SIM_EROR_RATE", "0.1");
    assert_flags(
        &check_our_services(&raw, &fixture.vars),
        "model-sim: aiut-model-sim:",
    );

    // Real settings of another binary, which this one ignores.
    let mut raw = fixture.raw.clone();
    set_env(&mut raw, "api", "AIUT_WORKER__CONCURRENCY", "4");
    set_env(
        &mut raw,
        "gateway",
        "DATABASE_URL",
        "postgres://postgres/aiunittest",
    );
    set_env(&mut raw, "worker", "OPENAI_KEY", "sk-x");
    let problems = check_our_services(&raw, &fixture.vars);
    assert_flags(
        &problems,
        "api: AIUT_WORKER__CONCURRENCY is set but aiut-api never reads it",
    );
    assert_flags(
        &problems,
        "gateway: DATABASE_URL is set but aiut-gateway never reads it",
    );
    assert_flags(
        &problems,
        "worker: OPENAI_KEY is set but aiut-worker never reads it",
    );

    // A provider key that does not reach the workers.
    let mut raw = fixture.raw.clone();
    let mut environment = raw["x-aiut-shared-env"].clone();
    environment
        .as_mapping_mut()
        .expect("the shared environment")
        .remove("DEEPSEEK_API_KEY");
    raw["services"]["worker"]["environment"] = environment;
    set_env(&mut raw, "worker", "AIUT_WORKER__METRICS_PORT", "9200");
    assert_flags(
        &check_our_services(&raw, &fixture.vars),
        "worker: the registry's key variable DEEPSEEK_API_KEY is not passed through",
    );
}

#[test]
fn rejects_ports_that_do_not_match_the_binaries() {
    let fixture = Fixture::load();
    let mut raw = fixture.raw.clone();
    set_env(&mut raw, "api", "AIUT_SERVER__PORT", "9999");
    let problems = check_our_services(&raw, &fixture.vars);
    assert_flags(&problems, "api listens on {9999} but exposes {8888}");
    assert_flags(
        &problems,
        "api: the healthcheck probes http://127.0.0.1:8888/healthz",
    );

    let mut vars = fixture.vars.clone();
    vars.insert(GATEWAY_CONFIG.into(), "gateway.toml".into());
    let mut raw = fixture.raw.clone();
    set_env(
        &mut raw,
        "gateway",
        "AIUT_CONFIG",
        "/etc/aiunittest/gateway.toml",
    );
    assert_flags(
        &check_our_services(&raw, &vars),
        "the gateway's HTTPS listener must be off by default and on with",
    );
}

#[test]
fn rejects_scrape_targets_off_the_stack() {
    let doc = Fixture::load().doc();
    let prometheus = read("prometheus/prometheus.yml")
        .replace("gateway:9100", "gateway:9999")
        .replace("redis-exporter:9121", "redis-exporter-x:9121")
        .replace(
            "    dns_sd_configs:\n      - names: [\"api\"]\n        type: A\n        port: 8888",
            "    static_configs:\n      - targets: [\"api:8888\"]",
        );
    let problems = check_prometheus(&prometheus, &doc);
    assert_flags(&problems, "job gateway: gateway listens on");
    assert_flags(
        &problems,
        "job redis: redis-exporter-x is no compose service",
    );
    assert_flags(&problems, "job api: api has 3 replicas");
    assert_flags(&problems, "no job scrapes redis-exporter");
}

#[test]
fn rejects_a_dockerfile_that_cannot_build() {
    let fixture = Fixture::load();
    let (mut members, rust_version) = workspace();
    members.push("tools/new-member".into());
    let dockerfile = read(OUR_DOCKERFILE)
        .replace(
            "COPY migrations migrations",
            "COPY migrations migrations\nCOPY no-such-file /x\nCOPY ui-tests /y",
        )
        .replace("--bin aiut-worker ", "")
        .replace("USER 10001:10001", "USER root")
        .replace("ARG RUST_VERSION=1.94", "ARG RUST_VERSION=1.80");
    let problems = check_dockerfile(
        &dockerfile,
        &read(".dockerignore"),
        &repo_root(),
        &fixture.doc(),
        &members,
        &rust_version,
    );
    assert_flags(&problems, "COPY no-such-file: no such path");
    // A folder every checkout has (a build folder may live outside it) and the context leaves out.
    assert_flags(&problems, "COPY ui-tests: .dockerignore keeps it out");
    assert_flags(&problems, "the image does not build aiut-worker");
    assert_flags(&problems, "USER root must be a numeric user other than 0");
    assert_flags(&problems, "workspace member tools/new-member is not copied");
    assert_flags(&problems, "the image builds with Rust 1.80");
}

#[test]
fn rejects_dashboards_and_datasources_off_the_stack() {
    let doc = Fixture::load().doc();
    let datasources = read("grafana/provisioning/datasources/prometheus.yml")
        .replace("http://prometheus:9090", "http://prometheus:9999");
    let provider = read("grafana/provisioning/dashboards/provider.yml")
        .replace("/etc/grafana/dashboards", "/var/lib/grafana/dashboards");
    let dashboards = vec![(
        "broken.json".to_owned(),
        r#"{"panels": [{"datasource": {"type": "prometheus", "uid": "elsewhere"}}]}"#.to_owned(),
    )];
    let mut folders = provisioning_folders();
    folders.push("alerting".into());
    let problems = check_grafana(&doc, &folders, &datasources, &provider, &dashboards);
    assert_flags(
        &problems,
        "datasource url http://prometheus:9999 is no service's port",
    );
    assert_flags(
        &problems,
        "the dashboard provider reads Some(\"/var/lib/grafana/dashboards\")",
    );
    assert_flags(&problems, "dashboard broken.json uses datasource elsewhere");
    assert_flags(
        &problems,
        "grafana/provisioning/alerting is not mounted at /etc/grafana/provisioning/alerting",
    );
}

#[test]
fn dockerignore_patterns_match_like_docker() {
    let ignore = "target\n**/node_modules\n*.swp\ndocs/*.md\n!docs/keep.md\n";
    assert!(ignored(ignore, "target"));
    assert!(ignored(ignore, "target/release/x"));
    assert!(ignored(ignore, "ui/node_modules/pkg"));
    assert!(ignored(ignore, "a.swp"));
    assert!(ignored(ignore, "docs/notes.md"));
    assert!(!ignored(ignore, "docs/keep.md"));
    assert!(!ignored(ignore, "crates"));
    assert!(!ignored(ignore, "targets"));
}
