-- A batch: the source files of one folder (or one file) of a repository at one commit, one task
-- per file, and the repository's text files at that commit, which the workers lay out around each
-- file's tests so that imports of sibling modules resolve. Forge tokens are never stored here.
create table batches (
    id uuid primary key,
    owner_session text not null,
    forge text not null check (forge in ('github', 'gitlab', 'git')),
    -- `owner/name` (GitHub), `group/…/project` (GitLab), or the repository's URL (plain git).
    repo text not null,
    branch text not null,
    commit_id text not null check (commit_id ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    -- The folder or file asked for; '' is the whole repository.
    path text not null,
    -- `domain::Checkout` as gzip-compressed JSON.
    checkout bytea not null,
    -- Files under `path` that got no task, and why.
    skipped jsonb not null default '[]'::jsonb,
    -- The branch pushed and the pull or merge request opened, once one is.
    pull_request jsonb,
    created_at timestamptz not null default now()
);

create index batches_by_owner on batches (owner_session, created_at desc);

alter table tasks
    add column batch_id uuid references batches (id) on delete cascade,
    -- Where the task's tests go in the repository (`tests/test_cart.py`); null outside a batch.
    add column test_path text,
    add constraint tasks_batch_has_test_path check ((batch_id is null) = (test_path is null));

create index tasks_by_batch on tasks (batch_id, file_name) where batch_id is not null;
