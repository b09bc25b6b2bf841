//! The limits in force: the configuration's, with an admin's runtime overrides
//! (`store::limits`) in their place.

use serde::Serialize;
use service::sections::LimitSettings;
use store::limits::RuntimeLimits;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::state::AppState;

/// The limits an admin can change at runtime, as they apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct LimitsInForce {
    /// Queued tasks one session may have.
    pub max_queued_per_session: u32,
    /// Queued tasks one client (an address, or an IPv6 /64) may have over all its sessions.
    pub max_queued_per_client: u32,
    /// Tasks of one session the workers run at once.
    pub max_running_per_session: u32,
    /// Beyond this many queued tasks in all, new tasks are refused.
    pub max_queue_depth: u32,
    /// Model tokens one session may spend per day (UTC); none when absent.
    #[schema(nullable = false, minimum = 1)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_tokens_per_session: Option<i64>,
    /// Model tokens one client may spend per day (UTC); none when absent.
    #[schema(nullable = false, minimum = 1)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_tokens_per_client: Option<i64>,
}

impl LimitsInForce {
    /// The configured limits (no budget: the configuration has none).
    pub fn configured(settings: &LimitSettings) -> LimitsInForce {
        LimitsInForce {
            max_queued_per_session: settings.max_queued_per_session,
            max_queued_per_client: settings.max_queued_per_client,
            max_running_per_session: settings.max_running_per_session,
            max_queue_depth: settings.max_queue_depth,
            daily_tokens_per_session: None,
            daily_tokens_per_client: None,
        }
    }

    pub fn with_overrides(self, overrides: &RuntimeLimits) -> LimitsInForce {
        let or = |value: Option<i32>, configured: u32| {
            value
                .and_then(|value| u32::try_from(value).ok())
                .unwrap_or(configured)
        };
        LimitsInForce {
            max_queued_per_session: or(
                overrides.max_queued_per_session,
                self.max_queued_per_session,
            ),
            max_queued_per_client: or(overrides.max_queued_per_client, self.max_queued_per_client),
            max_running_per_session: or(
                overrides.max_running_per_session,
                self.max_running_per_session,
            ),
            max_queue_depth: or(overrides.max_queue_depth, self.max_queue_depth),
            daily_tokens_per_session: overrides.daily_tokens_per_session,
            daily_tokens_per_client: overrides.daily_tokens_per_client,
        }
    }
}

/// The limits in force now.
pub async fn in_force(state: &AppState) -> ApiResult<LimitsInForce> {
    let overrides = store::limits::load(&state.pool).await?;
    Ok(LimitsInForce::configured(&state.settings.limits).with_overrides(&overrides))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_the_configured_value_and_a_cleared_one_leaves_it() {
        let configured = LimitsInForce::configured(&LimitSettings::default());
        let overrides = RuntimeLimits {
            max_queued_per_session: Some(2),
            daily_tokens_per_client: Some(5_000),
            ..RuntimeLimits::default()
        };
        let in_force = configured.with_overrides(&overrides);
        assert_eq!(in_force.max_queued_per_session, 2);
        assert_eq!(
            in_force.max_queued_per_client,
            configured.max_queued_per_client
        );
        assert_eq!(in_force.daily_tokens_per_session, None);
        assert_eq!(in_force.daily_tokens_per_client, Some(5_000));
        assert_eq!(
            configured.with_overrides(&RuntimeLimits::default()),
            configured
        );
    }
}
