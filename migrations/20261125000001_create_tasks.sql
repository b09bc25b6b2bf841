-- The task table: the source of truth for every submitted task, and the work queue.

create table tasks (
    id                 uuid        not null,
    owner_session      text        not null,
    status             text        not null default 'queued',
    language           text        not null,
    framework          text        not null,
    model              text        not null,
    file_name          text        not null,
    source             text        not null,
    source_sha256      text        not null,
    cache_key          text        not null,
    idempotency_key    text,
    cache_hit          boolean     not null default false,
    cancel_requested   boolean     not null default false,
    result_file_name   text,
    result_code        text,
    error_code         text,
    error_message      text,
    attempts           integer     not null default 0,
    max_attempts       integer     not null default 3,
    lease_owner        text,
    lease_expires_at   timestamptz,
    progress_done      integer     not null default 0,
    progress_total     integer     not null default 0,
    prompt_tokens      bigint      not null default 0,
    completion_tokens  bigint      not null default 0,
    created_at         timestamptz not null default now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz not null default now(),

    constraint tasks_pkey primary key (id),
    constraint tasks_status_check
        check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    constraint tasks_owner_idempotency_key unique (owner_session, idempotency_key),
    constraint tasks_attempts_check check (attempts >= 0 and max_attempts >= 1),
    constraint tasks_progress_check
        check (progress_done >= 0 and progress_total >= 0 and progress_done <= progress_total),
    constraint tasks_tokens_check check (prompt_tokens >= 0 and completion_tokens >= 0),
    constraint tasks_result_check
        check (status <> 'succeeded' or (result_file_name is not null and result_code is not null)),
    constraint tasks_error_check
        check (status <> 'failed' or (error_code is not null and error_message is not null)),
    constraint tasks_lease_check
        check (status <> 'running' or (lease_owner is not null and lease_expires_at is not null)),
    constraint tasks_finished_check
        check ((status in ('succeeded', 'failed', 'cancelled')) = (finished_at is not null))
);

-- The claim: the oldest queued task first.
create index tasks_queued_idx on tasks (created_at, id) where status = 'queued';

-- Reclaiming expired leases, and counting what runs.
create index tasks_running_lease_idx on tasks (lease_expires_at) where status = 'running';

-- An owner's tasks, newest first (ids are UUIDv7, so they sort by creation time), and the
-- per-owner counts of queued and running tasks that the limits and the fair claim need.
create index tasks_owner_idx on tasks (owner_session, id desc);
create index tasks_owner_active_idx on tasks (owner_session, status)
    where status in ('queued', 'running');

-- Answering from earlier results when the result cache in Redis has lost them.
create index tasks_cache_key_idx on tasks (cache_key) where status = 'succeeded';

-- Recent outcomes, for the queue statistics.
create index tasks_finished_idx on tasks (finished_at) where finished_at is not null;
