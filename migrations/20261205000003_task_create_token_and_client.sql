-- A create request's token, set by the front door for every task-creating request: a retry of
-- that request on another replica (after the first one died mid-request) finds the task the first
-- attempt made instead of making a second one.
-- The client the front door limits by (an IPv4 address or an IPv6 /64), so one address cannot
-- fill the queue by creating sessions.
alter table tasks
    add column create_token text,
    add column client_key   text;

create unique index tasks_create_token_idx on tasks (create_token) where create_token is not null;

create index tasks_client_queued_idx on tasks (client_key) where status = 'queued';
