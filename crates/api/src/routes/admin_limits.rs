//! The admin routes of the limits and the spend: the per-session, per-client and queue limits
//! changed at runtime (in force on every replica and worker from their next request or claim),
//! the daily token budgets, and the tokens spent per model and day.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use store::limits::{DailyUsage, LimitsChange, RuntimeLimits};
use utoipa::{IntoParams, ToSchema};

use crate::admin::AdminSession;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::read_json_body;
use crate::limits::LimitsInForce;
use crate::openapi::{AdminUnavailable, InternalError, error_answers};
use crate::routes::admin::CsrfHeader;
use crate::state::AppState;

const MAX_LIMITS_BODY_BYTES: usize = 4 * 1024;
const DEFAULT_USAGE_DAYS: u32 = 7;
const MAX_USAGE_DAYS: u32 = 366;

error_answers! {
    /// A change of the limits refused, or no admin session.
    LimitsWriteRefusals {
        "400" => "The body is not a JSON object of the documented fields, or a value is not a \
            whole number (or null); the message names the field.", [InvalidJson, UnreadableBody];
        "401" => "No live admin session.", [AdminLoginRequired];
        "403" => "The `X-CSRF-Token` header is missing or is not the session's CSRF token.",
            [CsrfTokenInvalid];
        "413" => "The body is over 4 KiB.", [PayloadTooLarge];
        "415" => "The body is not JSON.", [UnsupportedMediaType];
        "422" => "A value is below 1 or too large; the message names the field.",
            [InvalidLimits];
    }

    /// No admin session.
    LimitsReadRefusals {
        "401" => "No live admin session.", [AdminLoginRequired];
    }

    /// A bad `days`, or no admin session.
    UsageRefusals {
        "400" => "`days` is not a whole number from 1 to 366, or another parameter was given.",
            [InvalidQuery];
        "401" => "No live admin session.", [AdminLoginRequired];
    }
}

/// The limits: as configured, an admin's overrides, and what is in force.
#[derive(Serialize, ToSchema)]
pub struct AdminLimits {
    /// What applies now: the overrides where set, else the configuration.
    in_force: LimitsInForce,
    /// The configuration's values (files and environment); never budgets.
    configured: LimitsInForce,
    /// The overrides set at runtime; a field absent here follows the configuration.
    overrides: LimitOverrides,
    /// When the overrides last changed, and by whom.
    updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
}

/// The fields an admin may set. In a change (`PATCH`), a field absent stays as it is, `null`
/// clears its override, and a whole number sets it.
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2_147_483_647)]
    max_queued_per_session: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2_147_483_647)]
    max_queued_per_client: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2_147_483_647)]
    max_running_per_session: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2_147_483_647)]
    max_queue_depth: Option<Option<i64>>,
    /// Model tokens one session may spend per day (UTC).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u64>, minimum = 1)]
    daily_tokens_per_session: Option<Option<i64>>,
    /// Model tokens one client (an address, or an IPv6 /64) may spend per day (UTC).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u64>, minimum = 1)]
    daily_tokens_per_client: Option<Option<i64>>,
}

/// A field given (as a value or as `null`) is `Some`; serde's `default` makes an absent one `None`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(deserializer).map(Some)
}

impl LimitOverrides {
    fn of(overrides: &RuntimeLimits) -> LimitOverrides {
        let set = |value: Option<i32>| value.map(|value| Some(i64::from(value)));
        LimitOverrides {
            max_queued_per_session: set(overrides.max_queued_per_session),
            max_queued_per_client: set(overrides.max_queued_per_client),
            max_running_per_session: set(overrides.max_running_per_session),
            max_queue_depth: set(overrides.max_queue_depth),
            daily_tokens_per_session: overrides.daily_tokens_per_session.map(Some),
            daily_tokens_per_client: overrides.daily_tokens_per_client.map(Some),
        }
    }

    /// The change to store, each value checked.
    fn change(&self) -> ApiResult<LimitsChange> {
        let cap = |name: &str, value: Option<Option<i64>>| -> ApiResult<Option<Option<i32>>> {
            value
                .map(|value| {
                    value
                        .map(|number| {
                            i32::try_from(number)
                                .ok()
                                .filter(|number| *number >= 1)
                                .ok_or_else(|| out_of_range(name, i64::from(i32::MAX)))
                        })
                        .transpose()
                })
                .transpose()
        };
        let budget = |name: &str, value: Option<Option<i64>>| -> ApiResult<Option<Option<i64>>> {
            value
                .map(|value| {
                    value
                        .map(|number| {
                            Some(number)
                                .filter(|number| *number >= 1)
                                .ok_or_else(|| out_of_range(name, i64::MAX))
                        })
                        .transpose()
                })
                .transpose()
        };
        Ok(LimitsChange {
            max_queued_per_session: cap("max_queued_per_session", self.max_queued_per_session)?,
            max_queued_per_client: cap("max_queued_per_client", self.max_queued_per_client)?,
            max_running_per_session: cap("max_running_per_session", self.max_running_per_session)?,
            max_queue_depth: cap("max_queue_depth", self.max_queue_depth)?,
            daily_tokens_per_session: budget(
                "daily_tokens_per_session",
                self.daily_tokens_per_session,
            )?,
            daily_tokens_per_client: budget(
                "daily_tokens_per_client",
                self.daily_tokens_per_client,
            )?,
        })
    }
}

fn out_of_range(name: &str, most: i64) -> ApiError {
    ApiError::Unprocessable {
        code: ErrorCode::InvalidLimits,
        message: format!("field `{name}`: a whole number from 1 to {most}, or null to clear it"),
    }
}

fn view(state: &AppState, overrides: &RuntimeLimits) -> AdminLimits {
    let configured = LimitsInForce::configured(&state.settings.limits);
    AdminLimits {
        in_force: configured.with_overrides(overrides),
        configured,
        overrides: LimitOverrides::of(overrides),
        updated_at: overrides.updated_at,
        updated_by: overrides.updated_by.clone(),
    }
}

#[utoipa::path(
    get,
    path = "/api/admin/limits",
    operation_id = "getAdminLimits",
    tag = "admin",
    summary = "The per-session, per-client and queue limits and the daily token budgets.",
    security(("adminCookie" = [])),
    responses(
        (status = 200, description = "The limits.", body = AdminLimits),
        LimitsReadRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn get_limits(
    State(state): State<AppState>,
    _session: AdminSession,
) -> ApiResult<Json<AdminLimits>> {
    let overrides = store::limits::load(&state.pool).await?;
    Ok(Json(view(&state, &overrides)))
}

#[utoipa::path(
    patch,
    path = "/api/admin/limits",
    operation_id = "editAdminLimits",
    tag = "admin",
    summary = "Change limits at runtime: a field given sets its override, `null` clears it.",
    description = "In force on every api replica and worker from their next request or claim, \
        without a restart, and kept across restarts. A daily token budget refuses new tasks of a \
        session or client that spent it (429 `daily_token_budget_spent` until midnight UTC); \
        answers from the result cache cost no tokens and are still given.",
    security(("adminCookie" = [])),
    params(CsrfHeader),
    request_body(content = LimitOverrides, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed; the limits as they are now.", body = AdminLimits),
        LimitsWriteRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn edit_limits(
    State(state): State<AppState>,
    session: AdminSession,
    request: Request,
) -> ApiResult<Json<AdminLimits>> {
    let body: LimitOverrides = read_json_body(request, MAX_LIMITS_BODY_BYTES).await?;
    let change = body.change()?;
    let overrides = store::limits::update(&state.pool, &change, &session.account).await?;
    session
        .audit(
            &state,
            "limits_changed",
            "limits",
            serde_json::to_value(&body).unwrap_or_else(|_| json!({})),
        )
        .await;
    tracing::info!("runtime limits changed");
    Ok(Json(view(&state, &overrides)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// How many days back from today (UTC), today included: 1 to 366, 7 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 366)]
    days: Option<String>,
}

/// Tokens spent per model and day.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    /// The first day reported (UTC).
    since: NaiveDate,
    /// Today (UTC), by the database's clock.
    today: NaiveDate,
    /// One entry per day and model that ended an attempt, newest day first.
    days: Vec<UsageDay>,
    /// Per model over the days reported, most tokens first.
    totals: Vec<UsageTotal>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageDay {
    day: NaiveDate,
    model: String,
    /// Task attempts that ended (succeeded, failed or were requeued).
    attempts: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
}

#[derive(Serialize, ToSchema, PartialEq, Eq, Debug)]
pub struct UsageTotal {
    model: String,
    attempts: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
}

fn totals(days: &[DailyUsage]) -> Vec<UsageTotal> {
    let mut totals: Vec<UsageTotal> = Vec::new();
    for day in days {
        match totals.iter_mut().find(|total| total.model == day.model) {
            Some(total) => {
                total.attempts += day.attempts;
                total.prompt_tokens += day.prompt_tokens;
                total.completion_tokens += day.completion_tokens;
            }
            None => totals.push(UsageTotal {
                model: day.model.clone(),
                attempts: day.attempts,
                prompt_tokens: day.prompt_tokens,
                completion_tokens: day.completion_tokens,
            }),
        }
    }
    totals.sort_by(|a, b| {
        (b.prompt_tokens + b.completion_tokens)
            .cmp(&(a.prompt_tokens + a.completion_tokens))
            .then_with(|| a.model.cmp(&b.model))
    });
    totals
}

#[utoipa::path(
    get,
    path = "/api/admin/usage",
    operation_id = "getAdminUsage",
    tag = "admin",
    summary = "Model tokens spent per model and day (UTC).",
    security(("adminCookie" = [])),
    params(UsageParams),
    responses(
        (status = 200, description = "The usage.", body = Usage),
        UsageRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    _session: AdminSession,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> ApiResult<Json<Usage>> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text())
    })?;
    let days = match params.days.as_deref() {
        None => DEFAULT_USAGE_DAYS,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|days| (1..=MAX_USAGE_DAYS).contains(days))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("days must be a whole number from 1 to {MAX_USAGE_DAYS}"),
                )
            })?,
    };
    let today = store::limits::today(&state.pool).await?;
    let since = today
        .checked_sub_days(Days::new(u64::from(days - 1)))
        .unwrap_or(NaiveDate::MIN);
    let rows = store::limits::usage_since(&state.pool, since).await?;
    let totals = totals(&rows);
    Ok(Json(Usage {
        since,
        today,
        days: rows
            .into_iter()
            .map(|row| UsageDay {
                day: row.day,
                model: row.model,
                attempts: row.attempts,
                prompt_tokens: row.prompt_tokens,
                completion_tokens: row.completion_tokens,
            })
            .collect(),
        totals,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_and_a_number_are_three_different_changes() {
        let body: LimitOverrides = serde_json::from_str(
            r#"{"max_queued_per_session": 4, "daily_tokens_per_client": null}"#,
        )
        .expect("a valid body");
        let change = body.change().expect("valid values");
        assert_eq!(change.max_queued_per_session, Some(Some(4)));
        assert_eq!(change.daily_tokens_per_client, Some(None));
        assert_eq!(change.max_queue_depth, None);
        assert_eq!(change.daily_tokens_per_session, None);
    }

    #[test]
    fn zero_negative_and_oversize_caps_are_refused_by_name() {
        for body in [
            r#"{"max_running_per_session": 0}"#,
            r#"{"max_running_per_session": -3}"#,
            r#"{"max_running_per_session": 3000000000}"#,
        ] {
            let body: LimitOverrides = serde_json::from_str(body).expect("a JSON number");
            let Err(ApiError::Unprocessable { code, message }) = body.change() else {
                panic!(
                    "{body:?} was taken",
                    body = serde_json::to_string(&body).ok()
                );
            };
            assert_eq!(code, ErrorCode::InvalidLimits);
            assert!(message.contains("max_running_per_session"), "{message}");
        }
        let zero_budget: LimitOverrides =
            serde_json::from_str(r#"{"daily_tokens_per_session": 0}"#).expect("a JSON number");
        assert!(zero_budget.change().is_err());
    }

    #[test]
    fn totals_add_up_each_model_over_the_days_most_tokens_first() {
        let day = |day: u32, model: &str, tokens: i64| DailyUsage {
            day: NaiveDate::from_ymd_opt(2026, 12, day).expect("a date"),
            model: model.into(),
            attempts: 1,
            prompt_tokens: tokens,
            completion_tokens: 1,
        };
        let totals = totals(&[day(6, "a", 10), day(6, "b", 500), day(5, "a", 20)]);
        assert_eq!(
            totals,
            vec![
                UsageTotal {
                    model: "b".into(),
                    attempts: 1,
                    prompt_tokens: 500,
                    completion_tokens: 1
                },
                UsageTotal {
                    model: "a".into(),
                    attempts: 2,
                    prompt_tokens: 30,
                    completion_tokens: 2
                },
            ]
        );
    }
}
