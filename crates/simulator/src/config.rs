//! The simulator's settings and the behaviours a script can ask for.

use std::path::PathBuf;

use anyhow::Context;
use figment::Figment;
use figment::providers::Env;
use serde::{Deserialize, Serialize};

/// How the simulator answers. Every field has a default ([`SimulatorConfig::default`] suits demos;
/// [`SimulatorConfig::instant`] suits tests). The binary reads it with [`SimulatorConfig::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Where the binary listens. [`super::Simulator::bind`] takes its address as an argument.
    pub listen: String,
    /// The ids `GET /v1/models` lists. Chat requests may name any model; the answer echoes it.
    pub models: Vec<String>,
    /// When set, every `/v1/...` request must carry `Authorization: Bearer <api_key>`.
    pub api_key: Option<String>,
    /// Time to the first token of an answer.
    pub first_token_ms: u64,
    /// Pace of the tokens after the first; `0` sends them as fast as possible.
    pub tokens_per_sec: f64,
    /// Share of requests (0..1) answered with `error_status`.
    pub error_rate: f64,
    /// The status of injected errors: 500, 503, 429 …
    pub error_status: u16,
    /// The `Retry-After` of 429 answers, in seconds.
    pub retry_after_secs: u64,
    /// Share of requests accepted and then never answered (until `hang_secs` have passed).
    pub hang_rate: f64,
    /// Share of requests whose answer stops after `cut_after_chunks` chunks, dropping the
    /// connection.
    pub cut_rate: f64,
    /// Share of requests whose answer stops after `cut_after_chunks` chunks and then sends nothing
    /// more for `hang_secs`, with the connection open.
    pub stall_rate: f64,
    /// How many content chunks a cut or stalled answer sends first.
    pub cut_after_chunks: u32,
    /// How long a hang or a stall lasts: far beyond any client timeout, but bounded.
    pub hang_secs: u64,
    /// Seed of the failure draws; random when unset (the log names the seed used). It also
    /// seeds the kinds of answers, which use [`AnswerMix::DEFAULT_SEED`] when it is unset.
    pub seed: Option<u64>,
    /// How often tests go wrong, and how.
    pub answers: AnswerMix,
    /// Behaviours for the first requests, in order, before the rates apply.
    pub script: Vec<Behaviour>,
    /// `tracing` filter directives for the binary; `RUST_LOG` wins when set.
    pub log_filter: String,
    /// Log JSON lines instead of text.
    pub log_json: bool,
    /// A file the binary writes its logs to itself, rotated by size; none: stdout.
    pub log_file: Option<std::path::PathBuf>,
    /// The log file is rotated once it has grown past this many MiB.
    pub log_max_file_mb: u64,
    /// Rotated log files kept beside the current one.
    pub log_max_files: usize,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            listen: "127.0.0.1:8090".into(),
            models: vec!["aiut-sim".into()],
            api_key: None,
            first_token_ms: 200,
            tokens_per_sec: 200.0,
            error_rate: 0.0,
            error_status: 500,
            retry_after_secs: 1,
            hang_rate: 0.0,
            cut_rate: 0.0,
            stall_rate: 0.0,
            cut_after_chunks: 3,
            hang_secs: 600,
            seed: None,
            answers: AnswerMix::default(),
            script: Vec::new(),
            log_filter: "info".into(),
            log_json: false,
            log_file: None,
            log_max_file_mb: 64,
            log_max_files: 4,
        }
    }
}

/// The variable naming the optional TOML file.
const FILE_VARIABLE: &str = "AIUT_SIM_CONFIG";

impl SimulatorConfig {
    /// The defaults without any waiting: answers come back at once. For tests.
    pub fn instant() -> SimulatorConfig {
        SimulatorConfig {
            first_token_ms: 0,
            tokens_per_sec: 0.0,
            ..SimulatorConfig::default()
        }
    }

    /// Defaults, then the TOML file named by `AIUT_SIM_CONFIG` (which must exist when set), then
    /// `AIUT_SIM_<FIELD>` variables (`AIUT_SIM_LISTEN=0.0.0.0:8090`, `AIUT_SIM_ERROR_RATE=0.1`).
    pub fn load() -> anyhow::Result<SimulatorConfig> {
        let file = std::env::var_os(FILE_VARIABLE).map(PathBuf::from);
        let config: SimulatorConfig = SimulatorConfig::figment(file)?
            .extract()
            .context("invalid simulator configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn figment(file: Option<PathBuf>) -> anyhow::Result<Figment> {
        let figment = service::config::defaults_then_file(
            &SimulatorConfig::default(),
            file,
            FILE_VARIABLE,
            None,
        )?;
        Ok(figment.merge(Env::prefixed("AIUT_SIM_").ignore(&["CONFIG"]).split("__")))
    }

    /// The failure rates it starts with.
    pub fn rates(&self) -> Rates {
        Rates {
            error_rate: self.error_rate,
            hang_rate: self.hang_rate,
            cut_rate: self.cut_rate,
            stall_rate: self.stall_rate,
        }
    }

    /// Checks what types cannot: rates are shares that add up to at most 1, statuses are errors.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.rates().validate()?;
        anyhow::ensure!(
            is_error_status(self.error_status),
            "error_status must be between 400 and 599, not {}",
            self.error_status
        );
        anyhow::ensure!(
            self.tokens_per_sec.is_finite() && self.tokens_per_sec >= 0.0,
            "tokens_per_sec must be 0 (no pacing) or more, not {}",
            self.tokens_per_sec
        );
        anyhow::ensure!(!self.models.is_empty(), "models must name at least one id");
        self.answers.validate()?;
        for behaviour in &self.script {
            behaviour.validate()?;
        }
        Ok(())
    }
}

/// The shares (0..1) of chat requests drawn as each failure, the rest answered as usual. They start
/// as configured and can be changed while the simulator runs (`PUT /sim/rates`,
/// [`super::SimulatorControl::set_rates`]), so a running deployment's model can start and stop
/// failing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub error_rate: f64,
    pub hang_rate: f64,
    pub cut_rate: f64,
    pub stall_rate: f64,
}

impl Rates {
    /// Each a share, all together at most 1.
    pub fn validate(&self) -> anyhow::Result<()> {
        let rates = [
            ("error_rate", self.error_rate),
            ("hang_rate", self.hang_rate),
            ("cut_rate", self.cut_rate),
            ("stall_rate", self.stall_rate),
        ];
        for (name, rate) in rates {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "{name} must be between 0 and 1, not {rate}"
            );
        }
        let total: f64 = rates.iter().map(|(_, rate)| rate).sum();
        anyhow::ensure!(
            total <= 1.0 + 1e-9,
            "error_rate + hang_rate + cut_rate + stall_rate is {total}, more than 1"
        );
        Ok(())
    }

    /// These rates with the fields `change` gives replaced.
    pub fn updated(self, change: &RatesChange) -> Rates {
        Rates {
            error_rate: change.error_rate.unwrap_or(self.error_rate),
            hang_rate: change.hang_rate.unwrap_or(self.hang_rate),
            cut_rate: change.cut_rate.unwrap_or(self.cut_rate),
            stall_rate: change.stall_rate.unwrap_or(self.stall_rate),
        }
    }
}

/// The body of `PUT /sim/rates`: the rates to change; those left out keep their value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_rate: Option<f64>,
}

/// The shares (0..1) of first answers whose tests go wrong in each way a model's do; the rest are
/// as right as the simulator can make them without running the code. Each (seed, file, unit)
/// always gets the same kind. In TOML, the `[answers]` table; in the environment,
/// `AIUT_SIM_ANSWERS__NO_BUILD=0.2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerMix {
    /// Tests that parse but do not build or load: a misspelled import, a helper that does not
    /// exist.
    pub no_build: f64,
    /// Tests asserting a guessed value, which the run contradicts.
    pub wrong_value: f64,
    /// Tests with an assertion on something that varies between runs.
    pub flaky: f64,
    /// Tests making the same calls as another unit's, so adding no coverage.
    pub duplicate: f64,
    /// Share of answers to run feedback that are still wrong.
    pub still_wrong: f64,
}

impl AnswerMix {
    /// The seed of the answers' kinds when [`SimulatorConfig::seed`] is unset.
    pub const DEFAULT_SEED: u64 = 0x7E57_5EED;

    /// Every answer as right as the simulator can make it.
    pub fn all_right() -> AnswerMix {
        AnswerMix {
            no_build: 0.0,
            wrong_value: 0.0,
            flaky: 0.0,
            duplicate: 0.0,
            still_wrong: 0.0,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        let shares = [
            ("no_build", self.no_build),
            ("wrong_value", self.wrong_value),
            ("flaky", self.flaky),
            ("duplicate", self.duplicate),
        ];
        for (name, share) in shares.iter().chain([&("still_wrong", self.still_wrong)]) {
            anyhow::ensure!(
                (0.0..=1.0).contains(share),
                "answers.{name} must be between 0 and 1, not {share}"
            );
        }
        let total: f64 = shares.iter().map(|(_, share)| share).sum();
        anyhow::ensure!(
            total <= 1.0 + 1e-9,
            "answers.no_build + wrong_value + flaky + duplicate is {total}, more than 1"
        );
        Ok(())
    }
}

impl Default for AnswerMix {
    fn default() -> Self {
        AnswerMix {
            no_build: 0.15,
            wrong_value: 0.45,
            flaky: 0.10,
            duplicate: 0.10,
            still_wrong: 0.10,
        }
    }
}

/// What the simulator does with one chat request. In JSON (and TOML) a behaviour is one of
/// `"answer"`, `"hang"`, `"cut"`, `"stall"`, `{"status": 429, "retry_after_secs": 0}` (the last
/// two fields optional, plus an optional `"message"`), or `{"content": "text"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Answer as usual: tests for the unit the prompt asks about.
    Answer,
    /// Accept the request and answer nothing for `hang_secs`.
    Hang,
    /// Send `cut_after_chunks` content chunks, then drop the connection (a non-streaming answer
    /// sends half its body).
    Cut,
    /// Send `cut_after_chunks` content chunks, then nothing for `hang_secs` with the connection
    /// open (a non-streaming answer behaves like a hang).
    Stall,
    /// Answer with this status and an OpenAI-style error body. 429 answers carry `Retry-After`
    /// (`retry_after_secs`, else the configured one); other statuses only when it is given.
    #[serde(untagged)]
    Fail {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Answer with exactly this text, whatever the prompt (a malformed test file, prose only …).
    #[serde(untagged)]
    Reply { content: String },
}

impl Behaviour {
    /// A failure with `status` and the default message and `Retry-After`.
    pub fn status(status: u16) -> Behaviour {
        Behaviour::Fail {
            status,
            retry_after_secs: None,
            message: None,
        }
    }

    /// A 429 whose `Retry-After` is `retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Behaviour {
        Behaviour::Fail {
            status: 429,
            retry_after_secs: Some(retry_after_secs),
            message: None,
        }
    }

    /// An answer with exactly `content`.
    pub fn reply(content: impl Into<String>) -> Behaviour {
        Behaviour::Reply {
            content: content.into(),
        }
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if let Behaviour::Fail { status, .. } = self {
            anyhow::ensure!(
                is_error_status(*status),
                "a scripted status must be between 400 and 599, not {status}"
            );
        }
        Ok(())
    }
}

fn is_error_status(status: u16) -> bool {
    (400..=599).contains(&status)
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn behaviours_read_from_the_documented_json() {
        let json = r#"[{"status":429,"retry_after_secs":0},{"status":401},"hang","cut","stall",
            "answer",{"content":"no code here"},{"status":503,"message":"busy"}]"#;
        let script: Vec<Behaviour> = serde_json::from_str(json).expect("valid script");
        assert_eq!(
            script,
            vec![
                Behaviour::rate_limited(0),
                Behaviour::status(401),
                Behaviour::Hang,
                Behaviour::Cut,
                Behaviour::Stall,
                Behaviour::Answer,
                Behaviour::reply("no code here"),
                Behaviour::Fail {
                    status: 503,
                    retry_after_secs: None,
                    message: Some("busy".into()),
                },
            ]
        );
        let round_trip: Vec<Behaviour> =
            serde_json::from_value(serde_json::to_value(&script).expect("serialises"))
                .expect("reads back");
        assert_eq!(round_trip, script);
        assert!(serde_json::from_str::<Behaviour>(r#""explode""#).is_err());
    }

    #[test]
    fn layers_defaults_file_and_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "sim.toml",
                "listen = \"0.0.0.0:9999\"\nerror_rate = 0.5\nscript = [\"hang\", { status = 429, retry_after_secs = 0 }]\n",
            )?;
            jail.set_env("AIUT_SIM_ERROR_RATE", "0.25");
            jail.set_env("AIUT_SIM_TOKENS_PER_SEC", "50");
            jail.set_env("AIUT_SIM_API_KEY", "sk-sim");
            jail.set_env("AIUT_SIM_ANSWERS__FLAKY", "0.3");
            let config: SimulatorConfig = SimulatorConfig::figment(Some("sim.toml".into()))
                .map_err(|error| error.to_string())?
                .extract()?;
            assert_eq!(config.listen, "0.0.0.0:9999");
            assert_eq!(config.error_rate, 0.25);
            assert_eq!(config.tokens_per_sec, 50.0);
            assert_eq!(config.api_key.as_deref(), Some("sk-sim"));
            assert_eq!(config.first_token_ms, 200, "default kept");
            assert_eq!(config.answers.flaky, 0.3);
            assert_eq!(config.answers.no_build, 0.15, "default kept");
            assert_eq!(
                config.script,
                vec![Behaviour::Hang, Behaviour::rate_limited(0)]
            );
            Ok(())
        });
    }

    #[test]
    fn refuses_unknown_keys_and_impossible_values() {
        Jail::expect_with(|jail| {
            jail.create_file("sim.toml", "eror_rate = 0.1\n")?;
            let result: Result<SimulatorConfig, _> =
                SimulatorConfig::figment(Some("sim.toml".into()))
                    .map_err(|error| error.to_string())?
                    .extract();
            assert!(result.is_err(), "a typo in a key must not pass silently");
            Ok(())
        });
        assert!(SimulatorConfig::figment(Some("/no/such/file.toml".into())).is_err());
        let over = SimulatorConfig {
            error_rate: 0.6,
            cut_rate: 0.6,
            ..SimulatorConfig::default()
        };
        assert!(over.validate().is_err());
        let success_as_error = SimulatorConfig {
            error_status: 200,
            ..SimulatorConfig::default()
        };
        assert!(success_as_error.validate().is_err());
        let bad_script = SimulatorConfig {
            script: vec![Behaviour::status(302)],
            ..SimulatorConfig::default()
        };
        assert!(bad_script.validate().is_err());
        let over_mix = SimulatorConfig {
            answers: AnswerMix {
                wrong_value: 0.9,
                ..AnswerMix::default()
            },
            ..SimulatorConfig::default()
        };
        assert!(over_mix.validate().is_err());
        let negative = SimulatorConfig {
            answers: AnswerMix {
                still_wrong: -0.1,
                ..AnswerMix::default()
            },
            ..SimulatorConfig::default()
        };
        assert!(negative.validate().is_err());
        assert!(SimulatorConfig::default().validate().is_ok());
        assert!(SimulatorConfig::instant().validate().is_ok());
    }
}
