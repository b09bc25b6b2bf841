-- Limits an admin changes at runtime, and the tokens spent per day.

-- One row. A null column leaves the configuration's value in force; a value overrides it on every
-- api replica and worker from their next request or claim, which read this row in the statement
-- that applies the limit. The daily budgets have no configured value: null means no budget.
create table runtime_limits (
    id                       boolean     primary key default true,
    max_queued_per_session   integer,
    max_queued_per_client    integer,
    max_running_per_session  integer,
    max_queue_depth          integer,
    daily_tokens_per_session bigint,
    daily_tokens_per_client  bigint,
    updated_at               timestamptz not null default now(),
    updated_by               text,

    constraint runtime_limits_one_row check (id),
    constraint runtime_limits_positive check (
        coalesce(max_queued_per_session, 1) >= 1
        and coalesce(max_queued_per_client, 1) >= 1
        and coalesce(max_running_per_session, 1) >= 1
        and coalesce(max_queue_depth, 1) >= 1
        and coalesce(daily_tokens_per_session, 1) >= 1
        and coalesce(daily_tokens_per_client, 1) >= 1
    )
);

insert into runtime_limits (id) values (true);

-- Tokens per day (UTC) and model, added up by the statement that records a task's attempt, so the
-- figures outlive the tasks. A day's figures for a model are spread over a few rows (`slot`, from
-- the writer's backend) so that attempts ending together do not wait on one row; readers sum them.
create table token_usage_daily (
    day               date     not null,
    model             text     not null,
    slot              smallint not null,
    attempts          bigint   not null default 0,
    prompt_tokens     bigint   not null default 0,
    completion_tokens bigint   not null default 0,

    constraint token_usage_daily_pkey primary key (day, model, slot)
);

-- Tokens per day (UTC) spent by one session or one client (the address the front door limits
-- by): what the daily budgets are held against when a task is created.
create table token_spend_daily (
    day    date   not null,
    scope  text   not null,
    holder text   not null,
    tokens bigint not null default 0,

    constraint token_spend_daily_pkey primary key (day, scope, holder),
    constraint token_spend_daily_scope_check check (scope in ('session', 'client'))
);

-- Budgets read today's rows only; the workers delete the days before yesterday as they sweep.
create index token_spend_daily_day on token_spend_daily (day);
