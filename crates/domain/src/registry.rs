//! The model registry: which models a deployment offers, how to reach each one, and which is the
//! default. Services load it from configuration; whether a model's key is present is asked through
//! a lookup function, so this module stays free of IO.

use serde::{Deserialize, Serialize};

use crate::ModelId;

/// How a model is reached.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "`openai`: an OpenAI-compatible endpoint; `offline`: the built-in \
            scaffolder, with no model."
    )
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Any OpenAI-compatible chat-completions endpoint (OpenAI, DeepSeek, Gemini's and Anthropic's
    /// compatible endpoints, Ollama, vLLM, the project's simulator).
    Openai,
    /// The built-in scaffolder: no network, no key, deterministic.
    Offline,
}

/// One model of the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: ModelId,
    pub kind: ModelKind,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The endpoint's base URL, e.g. `https://api.openai.com/v1`. Required for `openai` models.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the key. `None` for endpoints that need no key (a local
    /// Ollama, the simulator).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The name the endpoint knows the model by; the id when absent.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default = "defaults::temperature")]
    pub temperature: f32,
    #[serde(default = "defaults::max_tokens")]
    pub max_tokens: u32,
    /// The whole of one model call, first byte to last token.
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: u64,
    /// Calls in flight to this model from one worker.
    #[serde(default = "defaults::max_concurrency")]
    pub max_concurrency: u32,
    /// Models tried in order when this one keeps failing with retryable errors.
    #[serde(default)]
    pub fallback: Vec<ModelId>,
    /// A disabled model stays in the registry but takes no task.
    #[serde(default = "defaults::enabled")]
    pub enabled: bool,
    /// Whether the registry holds an encrypted key for this model (set through the admin API; a
    /// stored key wins over `api_key_env`). Never read from a file: keys are not configuration.
    #[serde(skip, default)]
    pub stored_key: bool,
}

mod defaults {
    pub fn temperature() -> f32 {
        0.2
    }
    pub fn max_tokens() -> u32 {
        2048
    }
    pub fn timeout_secs() -> u64 {
        120
    }
    pub fn max_concurrency() -> u32 {
        8
    }
    pub fn enabled() -> bool {
        true
    }
}

/// Whether a model can be used now, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Availability {
    Available,
    /// The reason, for people: "set OPENAI_API_KEY to enable this model".
    Unavailable(String),
}

impl Availability {
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }
}

impl ModelSpec {
    /// The offline scaffolder's entry.
    pub fn offline() -> ModelSpec {
        ModelSpec {
            id: ModelId("offline".to_owned()),
            kind: ModelKind::Offline,
            display_name: Some("Offline scaffolds (no model)".to_owned()),
            base_url: None,
            api_key_env: None,
            model: None,
            temperature: defaults::temperature(),
            max_tokens: defaults::max_tokens(),
            timeout_secs: defaults::timeout_secs(),
            max_concurrency: 64,
            fallback: Vec::new(),
            enabled: true,
            stored_key: false,
        }
    }

    fn hosted(id: &str, name: &str, base_url: &str, key_env: &str) -> ModelSpec {
        ModelSpec {
            id: ModelId(id.to_owned()),
            kind: ModelKind::Openai,
            display_name: Some(name.to_owned()),
            base_url: Some(base_url.to_owned()),
            api_key_env: Some(key_env.to_owned()),
            model: None,
            temperature: defaults::temperature(),
            max_tokens: defaults::max_tokens(),
            timeout_secs: defaults::timeout_secs(),
            max_concurrency: defaults::max_concurrency(),
            fallback: Vec::new(),
            enabled: true,
            stored_key: false,
        }
    }

    /// The name sent to the endpoint.
    pub fn remote_name(&self) -> &str {
        self.model.as_deref().unwrap_or(self.id.as_str())
    }

    /// `lookup` reads an environment variable (`None` when unset). A set but empty key counts as
    /// missing. A disabled model is never available; one with a stored key always is (the worker
    /// that decrypts it decides).
    pub fn availability(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Availability {
        if !self.enabled {
            return Availability::Unavailable("disabled by the administrator".into());
        }
        if self.stored_key {
            return Availability::Available;
        }
        match (self.kind, &self.api_key_env) {
            (ModelKind::Offline, _) | (ModelKind::Openai, None) => Availability::Available,
            (ModelKind::Openai, Some(variable)) => match lookup(variable) {
                Some(key) if !key.trim().is_empty() => Availability::Available,
                _ => Availability::Unavailable(format!("set {variable} to enable this model")),
            },
        }
    }
}

/// The configured models and the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRegistry {
    /// The model used when a request names none. When unset, the first available hosted model,
    /// else `offline`.
    #[serde(default)]
    pub default: Option<ModelId>,
    #[serde(rename = "registry")]
    pub models: Vec<ModelSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("model `{0}` is listed twice")]
    Duplicate(ModelId),
    #[error("model `{0}` is of kind openai but has no base_url")]
    MissingBaseUrl(ModelId),
    #[error("model `{model}` falls back to `{fallback}`, which is not in the registry")]
    UnknownFallback { model: ModelId, fallback: ModelId },
    #[error("model `{0}` falls back to itself")]
    SelfFallback(ModelId),
    #[error("the default model `{0}` is not in the registry")]
    UnknownDefault(ModelId),
    #[error("the registry has no models")]
    Empty,
}

impl Default for ModelRegistry {
    /// `offline`, plus well-known hosted models that become available when their key is set.
    fn default() -> Self {
        ModelRegistry {
            default: None,
            models: vec![
                ModelSpec::offline(),
                ModelSpec::hosted(
                    "gpt-4.1-mini",
                    "OpenAI GPT-4.1 mini",
                    "https://api.openai.com/v1",
                    "OPENAI_API_KEY",
                ),
                ModelSpec::hosted(
                    "deepseek-chat",
                    "DeepSeek V3",
                    "https://api.deepseek.com/v1",
                    "DEEPSEEK_API_KEY",
                ),
            ],
        }
    }
}

impl ModelRegistry {
    /// Checks the registry as a whole: unique ids, base URLs where needed, fallbacks that exist.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if self.models.is_empty() {
            return Err(RegistryError::Empty);
        }
        for (index, spec) in self.models.iter().enumerate() {
            if self.models[..index].iter().any(|other| other.id == spec.id) {
                return Err(RegistryError::Duplicate(spec.id.clone()));
            }
            if spec.kind == ModelKind::Openai && spec.base_url.is_none() {
                return Err(RegistryError::MissingBaseUrl(spec.id.clone()));
            }
            for fallback in &spec.fallback {
                if *fallback == spec.id {
                    return Err(RegistryError::SelfFallback(spec.id.clone()));
                }
                if self.get(fallback).is_none() {
                    return Err(RegistryError::UnknownFallback {
                        model: spec.id.clone(),
                        fallback: fallback.clone(),
                    });
                }
            }
        }
        if let Some(default) = &self.default
            && self.get(default).is_none()
        {
            return Err(RegistryError::UnknownDefault(default.clone()));
        }
        Ok(())
    }

    pub fn get(&self, id: &ModelId) -> Option<&ModelSpec> {
        self.models.iter().find(|spec| spec.id == *id)
    }

    /// The default model: the configured one, else the first available hosted model, else the
    /// first available at all (`offline` in the built-in registry).
    pub fn default_model(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<&ModelSpec> {
        self.default_model_where(&|spec| spec.availability(lookup).is_available())
    }

    /// The same, with availability decided by `is_available` (the api asks the live workers).
    pub fn default_model_where(
        &self,
        is_available: &dyn Fn(&ModelSpec) -> bool,
    ) -> Option<&ModelSpec> {
        if let Some(default) = &self.default
            && let Some(spec) = self.get(default).filter(|spec| spec.enabled)
        {
            return Some(spec);
        }
        let available = |spec: &&ModelSpec| is_available(spec);
        self.models
            .iter()
            .filter(available)
            .find(|spec| spec.kind == ModelKind::Openai)
            .or_else(|| self.models.iter().find(available))
    }

    /// The models to try for a task asked of `id`, in order: itself, then its fallbacks that are
    /// available, each once.
    pub fn attempt_chain(
        &self,
        id: &ModelId,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<&ModelSpec> {
        self.attempt_chain_where(id, &|spec| spec.availability(lookup).is_available())
    }

    /// The same, with a fallback's availability decided by `is_available` (a worker asks whether
    /// it holds a client for the model).
    pub fn attempt_chain_where(
        &self,
        id: &ModelId,
        is_available: &dyn Fn(&ModelSpec) -> bool,
    ) -> Vec<&ModelSpec> {
        let mut chain: Vec<&ModelSpec> = Vec::new();
        let Some(first) = self.get(id) else {
            return chain;
        };
        chain.push(first);
        for fallback in &first.fallback {
            if let Some(spec) = self.get(fallback)
                && spec.enabled
                && is_available(spec)
                && !chain.iter().any(|seen| seen.id == spec.id)
            {
                chain.push(spec);
            }
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_keys(_: &str) -> Option<String> {
        None
    }

    fn id(name: &str) -> ModelId {
        ModelId::parse(name).expect("valid id")
    }

    #[test]
    fn the_built_in_registry_is_valid_and_defaults_to_offline_without_keys() {
        let registry = ModelRegistry::default();
        registry.validate().expect("valid");
        let default = registry.default_model(&no_keys).expect("a default");
        assert_eq!(default.id.as_str(), "offline");
    }

    #[test]
    fn a_key_makes_a_hosted_model_available_and_the_default() {
        let registry = ModelRegistry::default();
        let with_openai = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-x".to_owned());
        let default = registry.default_model(&with_openai).expect("a default");
        assert_eq!(default.id.as_str(), "gpt-4.1-mini");
        let deepseek = registry.get(&id("deepseek-chat")).expect("listed");
        assert_eq!(
            deepseek.availability(&with_openai),
            Availability::Unavailable("set DEEPSEEK_API_KEY to enable this model".into())
        );
        let blank = |_: &str| Some("  ".to_owned());
        assert!(!deepseek.availability(&blank).is_available());
    }

    #[test]
    fn validation_catches_each_mistake() {
        let mut registry = ModelRegistry::default();
        registry.models.push(ModelSpec::offline());
        assert_eq!(
            registry.validate(),
            Err(RegistryError::Duplicate(id("offline")))
        );

        let mut registry = ModelRegistry::default();
        registry.models[1].base_url = None;
        assert!(matches!(
            registry.validate(),
            Err(RegistryError::MissingBaseUrl(_))
        ));

        let mut registry = ModelRegistry::default();
        registry.models[1].fallback = vec![id("nowhere")];
        assert!(matches!(
            registry.validate(),
            Err(RegistryError::UnknownFallback { .. })
        ));

        let mut registry = ModelRegistry::default();
        registry.models[1].fallback = vec![id("gpt-4.1-mini")];
        assert!(matches!(
            registry.validate(),
            Err(RegistryError::SelfFallback(_))
        ));

        let registry = ModelRegistry {
            default: Some(id("nowhere")),
            ..ModelRegistry::default()
        };
        assert!(matches!(
            registry.validate(),
            Err(RegistryError::UnknownDefault(_))
        ));

        let registry = ModelRegistry {
            default: None,
            models: vec![],
        };
        assert_eq!(registry.validate(), Err(RegistryError::Empty));
    }

    #[test]
    fn the_attempt_chain_skips_unavailable_fallbacks() {
        let mut registry = ModelRegistry::default();
        registry.models[1].fallback = vec![id("deepseek-chat"), id("offline")];
        let chain: Vec<&str> = registry
            .attempt_chain(&id("gpt-4.1-mini"), &no_keys)
            .iter()
            .map(|spec| spec.id.as_str())
            .collect();
        assert_eq!(chain, ["gpt-4.1-mini", "offline"]);
        assert!(registry.attempt_chain(&id("nowhere"), &no_keys).is_empty());
    }

    #[test]
    fn disabled_models_are_unavailable_and_never_a_fallback_or_the_default() {
        let mut registry = ModelRegistry::default();
        registry.models[1].fallback = vec![id("offline")];
        registry.models[0].enabled = false;
        let offline = registry.get(&id("offline")).expect("listed");
        assert_eq!(
            offline.availability(&no_keys),
            Availability::Unavailable("disabled by the administrator".into())
        );
        let chain: Vec<&str> = registry
            .attempt_chain(&id("gpt-4.1-mini"), &no_keys)
            .iter()
            .map(|spec| spec.id.as_str())
            .collect();
        assert_eq!(chain, ["gpt-4.1-mini"]);
        registry.default = Some(id("offline"));
        let with_openai = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-x".to_owned());
        let default = registry.default_model(&with_openai).expect("a default");
        assert_eq!(
            default.id.as_str(),
            "gpt-4.1-mini",
            "the disabled default is passed over"
        );

        // A stored key makes a hosted model available without its variable.
        let mut stored = ModelRegistry::default();
        stored.models[1].stored_key = true;
        assert!(stored.models[1].availability(&no_keys).is_available());
        let from_file: ModelSpec = serde_json::from_value(serde_json::json!({
            "id": "x", "kind": "offline", "enabled": false
        }))
        .expect("parses");
        assert!(!from_file.enabled && !from_file.stored_key);
    }

    #[test]
    fn specs_read_from_configuration_with_defaults() {
        let spec: ModelSpec = serde_json::from_value(serde_json::json!({
            "id": "simulator",
            "kind": "openai",
            "base_url": "http://127.0.0.1:8090/v1",
            "model": "sim-coder"
        }))
        .expect("parses");
        assert_eq!(spec.remote_name(), "sim-coder");
        assert_eq!(spec.max_concurrency, 8);
        assert!(spec.availability(&no_keys).is_available());
        let unknown = serde_json::from_value::<ModelSpec>(serde_json::json!({
            "id": "x", "kind": "openai", "api_key": "sk-secret"
        }));
        assert!(unknown.is_err(), "keys never come from configuration");
    }
}
