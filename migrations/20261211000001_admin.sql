-- The administrator's login and the audit log. The password itself is never stored: only its
-- argon2id hash in PHC form. A session is known by the SHA-256 of its token, so a copy of the
-- table hands out no working cookie. Login failures are counted per client address and per account
-- here rather than in a replica's memory, so every replica applies the same delay.
create table admin_accounts (
    id bigint generated always as identity primary key,
    name text not null,
    password_hash text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint admin_accounts_name_unique unique (name),
    constraint admin_accounts_name_not_empty check (name <> ''),
    constraint admin_accounts_hash_is_argon2id check (password_hash like '$argon2id$%')
);

create table admin_sessions (
    token_hash bytea primary key,
    account_id bigint not null,
    csrf_token text not null,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at timestamptz not null,
    constraint admin_sessions_account_fk foreign key (account_id)
        references admin_accounts (id) on delete cascade,
    constraint admin_sessions_token_hash_length check (octet_length(token_hash) = 32),
    constraint admin_sessions_expiry_after_creation check (expires_at > created_at)
);

create index admin_sessions_account on admin_sessions (account_id);
create index admin_sessions_expires_at on admin_sessions (expires_at);

-- One row per key: `kind` says whether `key` is a client address or an account name.
create table admin_login_failures (
    kind text not null,
    key text not null,
    failures integer not null,
    last_failure_at timestamptz not null default now(),
    locked_until timestamptz,
    constraint admin_login_failures_pk primary key (kind, key),
    constraint admin_login_failures_kind check (kind in ('address', 'account')),
    constraint admin_login_failures_positive check (failures >= 1)
);

create table admin_audit (
    id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    account text,
    action text not null,
    target text,
    detail jsonb not null default '{}'::jsonb,
    client_address text,
    constraint admin_audit_action_not_empty check (action <> '')
);

create index admin_audit_at on admin_audit (at desc, id desc);
