-- Live workers and what they can do. Each worker announces itself at start and every few seconds
-- (a heartbeat that moves `expires_at` forward) and deletes its row when it stops; a worker that
-- died simply expires. The api sums the live rows for the queue's capacity and offers a model
-- when a live worker can serve it, so api replicas need no provider keys.
create table workers (
    id text primary key,
    capacity integer not null,
    models text[] not null,
    started_at timestamptz not null default now(),
    expires_at timestamptz not null,
    constraint workers_capacity_positive check (capacity >= 1),
    constraint workers_id_not_empty check (id <> '')
);

create index workers_expires_at on workers (expires_at);
