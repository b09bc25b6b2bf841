-- What a worker learns while generating: the per-unit tests (the original tool's clients read them
-- one by one), the model that answered after any fallback, provider retries, and unit warnings.

alter table tasks
    add column result_units     jsonb,
    add column model_used       text,
    add column provider_retries integer not null default 0,
    add column warnings         jsonb   not null default '[]'::jsonb,
    add constraint tasks_provider_retries_check check (provider_retries >= 0);
