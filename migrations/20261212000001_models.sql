-- The model registry at runtime. Written from the configuration file's `[models]` at start, then
-- edited through the admin API: the file keeps the rows it owns (`origin = 'file'`) as it says,
-- until the admin edits one, which makes it the registry's (`origin = 'admin'`). A model's API key is stored only encrypted (XChaCha20-Poly1305, the model's id
-- as associated data) under the key `key_id` names; `model_key_ids` keeps each key id's
-- fingerprint, so a process given the wrong key for an id says so at start.
create table model_key_ids (
    key_id text primary key,
    fingerprint bytea not null,
    created_at timestamptz not null default now(),
    constraint model_key_ids_fingerprint_length check (octet_length(fingerprint) = 32)
);

create table models (
    id text primary key,
    -- The order models are listed in: the file's order, then the order they were added.
    seq bigint generated always as identity,
    kind text not null,
    display_name text,
    base_url text,
    -- The name the endpoint knows the model by; the id when null.
    remote_name text,
    -- The environment variable a worker reads the key from, for models kept in the file; a stored
    -- key wins over it.
    api_key_env text,
    temperature real not null,
    max_tokens integer not null,
    timeout_secs integer not null,
    max_concurrency integer not null,
    fallbacks text[] not null default '{}',
    enabled boolean not null default true,
    key_id text,
    key_nonce bytea,
    key_ciphertext bytea,
    -- `file` for a model the configuration file owns, `admin` for one added or edited through the
    -- API.
    origin text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint models_id_not_empty check (id <> ''),
    constraint models_kind check (kind in ('openai', 'offline')),
    constraint models_origin check (origin in ('file', 'admin')),
    constraint models_openai_has_base_url check (kind <> 'openai' or base_url is not null),
    constraint models_bounds check (
        temperature >= 0 and temperature <= 2 and max_tokens >= 1
        and timeout_secs >= 1 and max_concurrency >= 1
    ),
    constraint models_key_whole check (
        (key_id is null and key_nonce is null and key_ciphertext is null)
        or (key_id is not null and key_nonce is not null and key_ciphertext is not null)
    ),
    constraint models_key_id_fk foreign key (key_id) references model_key_ids (key_id)
);

-- One row: the default model and a version every change bumps (with `NOTIFY
-- aiut_models_changed`), so the api and the workers re-read the registry only when it changed.
create table model_registry (
    singleton boolean primary key default true,
    default_model text,
    version bigint not null default 0,
    updated_at timestamptz not null default now(),
    constraint model_registry_one_row check (singleton),
    constraint model_registry_default_fk foreign key (default_model)
        references models (id) on delete set null
);

insert into model_registry (singleton) values (true);

-- The admin's "test" of a model: the api inserts a request, a worker that serves the model
-- claims it, asks the model a tiny question through its own provider code and writes the outcome.
create table model_tests (
    id uuid primary key,
    model_id text not null,
    requested_at timestamptz not null default now(),
    claimed_by text,
    claimed_at timestamptz,
    finished_at timestamptz,
    ok boolean,
    answer text,
    error text,
    elapsed_ms integer
);

create index model_tests_pending on model_tests (requested_at) where claimed_by is null;
