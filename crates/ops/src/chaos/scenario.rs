//! The faults `chaos` knows, their names on the command line, and how long each may take.

use std::time::Duration;

/// One fault, injected under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// SIGKILL of an api replica, then started again.
    ApiKill,
    /// SIGKILL of a worker while it runs tasks, then started again.
    WorkerKill,
    /// The private Redis stopped and started again (it keeps nothing on disk).
    RedisRestart,
    /// The private Postgres stopped (fast shutdown) and started again.
    PostgresRestart,
    /// `cargo xtask restart`: every replica, worker and the gateway, one at a time.
    RollingRestart,
    /// A share of the model's calls accepted and never answered.
    ModelHang,
    /// Half the model's calls answered with a server error.
    ModelErrors,
    /// One api replica frozen (SIGSTOP) for a few seconds, then let go (SIGCONT).
    SlowBackend,
}

impl Scenario {
    /// Every scenario, in the order a full run takes them.
    pub const ALL: [Scenario; 8] = [
        Scenario::ApiKill,
        Scenario::WorkerKill,
        Scenario::RedisRestart,
        Scenario::PostgresRestart,
        Scenario::RollingRestart,
        Scenario::ModelHang,
        Scenario::ModelErrors,
        Scenario::SlowBackend,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ApiKill => "api-kill",
            Scenario::WorkerKill => "worker-kill",
            Scenario::RedisRestart => "redis-restart",
            Scenario::PostgresRestart => "postgres-restart",
            Scenario::RollingRestart => "rolling-restart",
            Scenario::ModelHang => "model-hang",
            Scenario::ModelErrors => "model-errors",
            Scenario::SlowBackend => "slow-backend",
        }
    }

    /// How long, after the load stops creating, the run waits for every task to end. A killed
    /// worker's task is taken again only when its lease (30 s) has run out; a hung model call
    /// ends at the model's timeout and is tried again, up to four times.
    pub fn settle_limit(self, model_timeout: Duration) -> Duration {
        match self {
            Scenario::WorkerKill => Duration::from_secs(45),
            Scenario::ModelHang => (model_timeout * 4 + Duration::from_secs(10))
                .clamp(Duration::from_secs(30), MAX_SETTLE),
            _ => Duration::from_secs(30),
        }
    }
}

/// The longest settle wait of any scenario: the whole run stays within minutes.
pub const MAX_SETTLE: Duration = Duration::from_secs(60);

/// The longest model call timeout the hang scenario accepts: beyond it, hung calls outlast the
/// run and every task that met one would be reported stuck for a reason the run itself made.
pub const LONGEST_MODEL_TIMEOUT: Duration = Duration::from_secs(12);

/// `--scenario NAME`: one of the names, or `all`.
pub fn parse(text: &str) -> Result<Vec<Scenario>, String> {
    let text = text.trim();
    if text == "all" {
        return Ok(Scenario::ALL.to_vec());
    }
    Scenario::ALL
        .into_iter()
        .find(|scenario| scenario.name() == text)
        .map(|scenario| vec![scenario])
        .ok_or_else(|| {
            format!(
                "unknown scenario `{text}`: {} or all",
                Scenario::ALL.map(Scenario::name).join(", ")
            )
        })
}

/// The scenarios to run: those named, in the order given, each once; none named means all.
pub fn select(named: &[Vec<Scenario>]) -> Vec<Scenario> {
    let mut chosen: Vec<Scenario> = Vec::new();
    for scenario in named.iter().flatten() {
        if !chosen.contains(scenario) {
            chosen.push(*scenario);
        }
    }
    if chosen.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_and_unknown_ones_are_refused() {
        for scenario in Scenario::ALL {
            assert_eq!(parse(scenario.name()), Ok(vec![scenario]));
        }
        assert_eq!(parse("all").map(|all| all.len()), Ok(8));
        assert_eq!(parse(" api-kill "), Ok(vec![Scenario::ApiKill]));
        let refused = parse("api_kill").expect_err("a wrong spelling");
        assert!(refused.contains("api-kill, worker-kill"), "{refused}");
        assert!(parse("").is_err());
        assert!(parse("API-KILL").is_err());
    }

    #[test]
    fn the_selection_keeps_the_order_given_once_each_and_defaults_to_all() {
        assert_eq!(select(&[]), Scenario::ALL.to_vec());
        let named = [
            vec![Scenario::SlowBackend],
            vec![Scenario::ApiKill],
            vec![Scenario::SlowBackend],
        ];
        assert_eq!(
            select(&named),
            [Scenario::SlowBackend, Scenario::ApiKill].to_vec()
        );
        let with_all = [vec![Scenario::ModelHang], Scenario::ALL.to_vec()];
        let chosen = select(&with_all);
        assert_eq!(chosen.len(), 8);
        assert_eq!(chosen[0], Scenario::ModelHang);
    }

    #[test]
    fn settle_waits_stay_bounded() {
        let short = Duration::from_secs(5);
        assert_eq!(
            Scenario::ModelHang.settle_limit(short),
            Duration::from_secs(30)
        );
        assert_eq!(
            Scenario::ModelHang.settle_limit(Duration::from_secs(3600)),
            MAX_SETTLE
        );
        assert!(Scenario::WorkerKill.settle_limit(short) > Duration::from_secs(30));
        for scenario in Scenario::ALL {
            assert!(scenario.settle_limit(short) <= MAX_SETTLE, "{scenario:?}");
        }
    }
}
