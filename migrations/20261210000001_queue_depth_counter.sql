-- How many tasks are queued, kept by the table itself: the depth cap and the queue positions
-- read 64 small rows instead of counting the queue, so creating and reading a task cost the same
-- with ten queued tasks or a hundred thousand.
--
-- Every change into or out of `queued` (insert, claim, release, requeue, cancel, delete), whoever
-- makes it, is counted by the triggers below, so no query has to remember to. A transaction adds
-- up its changes as it goes (a transaction-local setting, no lock) and writes the sum to its
-- counter row once, as it commits: after every other lock it takes, so a claim waiting for an
-- owner's advisory lock holds no counter row and nothing can deadlock on one, and holding that
-- one row (its backend's slot) for the commit alone, so concurrent creates do not queue behind one
-- hot row. A bulk statement writes the row once, not once per task. Within a transaction the
-- counters show what was committed before it, as `count(*)` did.

-- Nothing may change the queue while the counters are initialised and the triggers created.
lock table tasks in share row exclusive mode;

create table queue_depth (
    slot   smallint primary key,
    queued bigint   not null,
    constraint queue_depth_slot_check check (slot between 0 and 63)
) with (fillfactor = 20);

insert into queue_depth (slot, queued)
select slot, case when slot = 0 then (select count(*) from tasks where status = 'queued') else 0 end
from generate_series(0, 63) as slot;

-- A slot holds the changes of the transactions of one backend; a slot's value alone means
-- nothing (it may be negative), their sum is the number of queued tasks.
create function queue_depth_note() returns trigger
language plpgsql as $$
declare
    delta bigint := coalesce(nullif(current_setting('aiut.queue_depth_delta', true), ''), '0')::bigint;
begin
    if tg_op <> 'DELETE' and new.status = 'queued' then
        delta := delta + 1;
    end if;
    if tg_op <> 'INSERT' and old.status = 'queued' then
        delta := delta - 1;
    end if;
    perform set_config('aiut.queue_depth_delta', delta::text, true);
    return null;
end
$$;

-- Runs at commit, once per changed task: the first call writes the transaction's sum, the others
-- find nothing left.
create function queue_depth_apply() returns trigger
language plpgsql as $$
declare
    delta bigint := coalesce(nullif(current_setting('aiut.queue_depth_delta', true), ''), '0')::bigint;
begin
    if delta <> 0 then
        update queue_depth set queued = queued + delta where slot = pg_backend_pid() % 64;
        perform set_config('aiut.queue_depth_delta', '0', true);
    end if;
    return null;
end
$$;

create trigger tasks_queue_depth_note_insert
    after insert on tasks
    for each row when (new.status = 'queued')
    execute function queue_depth_note();
create trigger tasks_queue_depth_note_update
    after update of status on tasks
    for each row when (old.status is distinct from new.status
                       and (old.status = 'queued' or new.status = 'queued'))
    execute function queue_depth_note();
create trigger tasks_queue_depth_note_delete
    after delete on tasks
    for each row when (old.status = 'queued')
    execute function queue_depth_note();

create constraint trigger tasks_queue_depth_apply_insert
    after insert on tasks deferrable initially deferred
    for each row when (new.status = 'queued')
    execute function queue_depth_apply();
create constraint trigger tasks_queue_depth_apply_update
    after update of status on tasks deferrable initially deferred
    for each row when (old.status is distinct from new.status
                       and (old.status = 'queued' or new.status = 'queued'))
    execute function queue_depth_apply();
create constraint trigger tasks_queue_depth_apply_delete
    after delete on tasks deferrable initially deferred
    for each row when (old.status = 'queued')
    execute function queue_depth_apply();

-- A truncate fires no row triggers: it empties the queue, so it empties the counters.
create function queue_depth_reset() returns trigger
language plpgsql as $$
begin
    update queue_depth set queued = 0;
    return null;
end
$$;

create trigger tasks_queue_depth_truncate
    after truncate on tasks
    for each statement
    execute function queue_depth_reset();
