-- A queued task's place (one more than the queued tasks before it by `(created_at, id)`, the
-- claim order) read from counts kept by the table itself, so it costs the same at the head of a
-- queue of ten tasks or in the middle of a hundred thousand.
--
-- The counts are a tree over creation time, in microseconds since the epoch: level 0 counts the
-- queued tasks per 2^10 µs (about 1 ms), each level above per 64 times as long (2^16, 2^22, 2^28
-- and, at the top, 2^34 µs, about 4.8 hours). The tasks before `t` are then the top-level
-- buckets before `t`'s, plus, at each level below, the buckets before `t`'s within its parent
-- (63 at most), plus the tasks of `t`'s own level-0 bucket that come before it, counted from the
-- queue's index: a few hundred small rows at most, whatever the queue's length.
--
-- As for `queue_depth` (whose triggers keep both now), every change into or out of `queued` (and
-- of a queued task's `created_at`) is counted, whoever makes it: each changed task is noted, and
-- the transaction's sums are written as it commits, after every other lock it takes, the depth's
-- row first and then the buckets' in one order (level, bucket, slot), so that two commits never
-- wait on each other in a circle. The newest buckets are written by every create at once, so each is
-- split over 8 rows, one per group of backends (`pg_backend_pid() % 8`): commits of concurrent
-- creates rarely wait on one another's row. A transaction that takes tasks out of a bucket folds
-- its rows into one (or none when it is empty), so no bucket keeps rows that add up to nothing;
-- folds of one bucket take turns under an advisory lock.
-- Within a transaction the counts show what was committed before it.

-- Nothing may change the queue while the counts are initialised and the triggers created.
lock table tasks in share row exclusive mode;

create table queue_rank (
    level  smallint not null,
    bucket bigint   not null,
    slot   smallint not null,
    queued bigint   not null,
    primary key (level, bucket, slot),
    constraint queue_rank_level_check check (level between 0 and 4),
    constraint queue_rank_slot_check check (slot between 0 and 7),
    constraint queue_rank_positive check (queued > 0)
) with (fillfactor = 50);

-- A task's creation time in whole microseconds since the epoch (`extract` is exact: numeric).
create function queue_rank_micros(at timestamptz) returns bigint
language sql immutable parallel safe
return (extract(epoch from at) * 1000000)::bigint;

insert into queue_rank (level, bucket, slot, queued)
select level, queue_rank_micros(created_at) >> (10 + 6 * level), 0, count(*)
from tasks, generate_series(0, 4) as level
where status = 'queued'
group by 1, 2;

-- A change list, `micros:delta` entries joined by commas, as rows.
create function queue_rank_entries(list text) returns table (micros bigint, delta integer)
language sql immutable parallel safe
begin atomic
    select split_part(entry, ':', 1)::bigint, split_part(entry, ':', 2)::integer
    from unnest(string_to_array(list, ',')) as entry;
end;

-- The depth's triggers now note and apply the counts too: one trigger call per changed task and
-- one at commit, as before. They also fire when a queued task's `created_at` changes (the depth
-- is then unchanged: -1 and +1).
drop trigger tasks_queue_depth_note_insert on tasks;
drop trigger tasks_queue_depth_note_update on tasks;
drop trigger tasks_queue_depth_note_delete on tasks;
drop trigger tasks_queue_depth_apply_insert on tasks;
drop trigger tasks_queue_depth_apply_update on tasks;
drop trigger tasks_queue_depth_apply_delete on tasks;
drop function queue_depth_note();
drop function queue_depth_apply();

-- Notes a changed task: the depth's delta, and -1 where it was queued, +1 where it is queued now.
-- A transaction's changes are kept in a transaction-local setting (no table to write for the
-- usual one or few tasks), and moved to a temporary table once the list is long (a bulk
-- statement), where adding one more costs the same however many came before.
create function queue_counts_note() returns trigger
language plpgsql as $$
declare
    depth_delta bigint := coalesce(nullif(current_setting('aiut.queue_depth_delta', true), ''), '0')::bigint;
    pending text := coalesce(current_setting('aiut.queue_rank_pending', true), '');
    changes text;
begin
    if tg_op <> 'INSERT' and old.status = 'queued' then
        depth_delta := depth_delta - 1;
        changes := queue_rank_micros(old.created_at) || ':-1';
    end if;
    if tg_op <> 'DELETE' and new.status = 'queued' then
        depth_delta := depth_delta + 1;
        changes := concat_ws(',', changes, queue_rank_micros(new.created_at) || ':1');
    end if;
    perform set_config('aiut.queue_depth_delta', depth_delta::text, true);
    if pending = 'spilled' then
        insert into pg_temp.queue_rank_pending select * from queue_rank_entries(changes);
    elsif length(pending) < 2000 then
        perform set_config('aiut.queue_rank_pending', concat_ws(',', nullif(pending, ''), changes), true);
    else
        if to_regclass('pg_temp.queue_rank_pending') is null then
            create temporary table queue_rank_pending (
                micros bigint  not null,
                delta  integer not null
            ) on commit delete rows;
        end if;
        insert into pg_temp.queue_rank_pending
        select * from queue_rank_entries(pending || ',' || changes);
        perform set_config('aiut.queue_rank_pending', 'spilled', true);
    end if;
    return null;
end
$$;

-- Runs at commit, once per changed task: the first call writes the transaction's sums, the others
-- find nothing left.
create function queue_counts_apply() returns trigger
language plpgsql as $$
declare
    depth_delta bigint := coalesce(nullif(current_setting('aiut.queue_depth_delta', true), ''), '0')::bigint;
    pending text := coalesce(current_setting('aiut.queue_rank_pending', true), '');
    own_slot smallint := pg_backend_pid() % 8;
    -- The advisory locks of folds (two-key locks, which no other code takes), one per level.
    queue_rank_lock_space constant integer := 20261214;
    changes refcursor;
    change record;
    total bigint;
begin
    if depth_delta <> 0 then
        update queue_depth set queued = queued + depth_delta where slot = pg_backend_pid() % 64;
        perform set_config('aiut.queue_depth_delta', '0', true);
    end if;
    if pending = '' then
        return null;
    end if;
    perform set_config('aiut.queue_rank_pending', '', true);
    -- Only tasks coming in (a create, a bulk insert): one statement, its rows taken in order.
    if pending <> 'spilled' and pending not like '%:-%' then
        insert into queue_rank as r (level, bucket, slot, queued)
        select level, micros >> (10 + 6 * level), own_slot, sum(delta)
        from queue_rank_entries(pending), generate_series(0, 4) as level
        group by 1, 2
        order by 1, 2
        on conflict (level, bucket, slot) do update set queued = r.queued + excluded.queued;
        return null;
    end if;
    if pending = 'spilled' then
        -- (The temporary table exists only in this branch, so it is named in no other.)
        if not exists (select from pg_temp.queue_rank_pending where delta < 0) then
            insert into queue_rank as r (level, bucket, slot, queued)
            select level, micros >> (10 + 6 * level), own_slot, sum(delta)
            from pg_temp.queue_rank_pending, generate_series(0, 4) as level
            group by 1, 2
            order by 1, 2
            on conflict (level, bucket, slot) do update set queued = r.queued + excluded.queued;
            delete from pg_temp.queue_rank_pending;
            return null;
        end if;
        open changes for
            select level, micros >> (10 + 6 * level) as bucket, sum(delta) as delta
            from pg_temp.queue_rank_pending, generate_series(0, 4) as level
            group by 1, 2 having sum(delta) <> 0 order by 1, 2;
    else
        open changes for
            select level, micros >> (10 + 6 * level) as bucket, sum(delta) as delta
            from queue_rank_entries(pending), generate_series(0, 4) as level
            group by 1, 2 having sum(delta) <> 0 order by 1, 2;
    end if;
    loop
        fetch changes into change;
        exit when not found;
        if change.delta > 0 then
            insert into queue_rank as r (level, bucket, slot, queued)
            values (change.level, change.bucket, own_slot, change.delta)
            on conflict (level, bucket, slot) do update set queued = r.queued + excluded.queued;
        else
            -- One fold of a bucket at a time: a fold that waited for another's rows would find
            -- them deleted and miss the row that one wrote. Then the delete locks the bucket's
            -- rows (in slot order) and returns their latest values, so the sum is exact however
            -- other commits add to them meanwhile.
            perform pg_advisory_xact_lock(queue_rank_lock_space + change.level, hashint8(change.bucket));
            with folded as (
                delete from queue_rank
                where level = change.level and bucket = change.bucket
                returning queued
            )
            select coalesce(sum(queued), 0) + change.delta into total from folded;
            if total > 0 then
                insert into queue_rank as r (level, bucket, slot, queued)
                values (change.level, change.bucket, own_slot, total)
                on conflict (level, bucket, slot) do update set queued = r.queued + excluded.queued;
            end if;
        end if;
    end loop;
    close changes;
    if pending = 'spilled' then
        delete from pg_temp.queue_rank_pending;
    end if;
    return null;
end
$$;

create trigger tasks_queue_counts_note_insert
    after insert on tasks
    for each row when (new.status = 'queued')
    execute function queue_counts_note();
create trigger tasks_queue_counts_note_update
    after update of status, created_at on tasks
    for each row when ((old.status = 'queued' or new.status = 'queued')
                       and (old.status is distinct from new.status
                            or old.created_at is distinct from new.created_at))
    execute function queue_counts_note();
create trigger tasks_queue_counts_note_delete
    after delete on tasks
    for each row when (old.status = 'queued')
    execute function queue_counts_note();

create constraint trigger tasks_queue_counts_apply_insert
    after insert on tasks deferrable initially deferred
    for each row when (new.status = 'queued')
    execute function queue_counts_apply();
create constraint trigger tasks_queue_counts_apply_update
    after update of status, created_at on tasks deferrable initially deferred
    for each row when ((old.status = 'queued' or new.status = 'queued')
                       and (old.status is distinct from new.status
                            or old.created_at is distinct from new.created_at))
    execute function queue_counts_apply();
create constraint trigger tasks_queue_counts_apply_delete
    after delete on tasks deferrable initially deferred
    for each row when (old.status = 'queued')
    execute function queue_counts_apply();

-- A truncate fires no row triggers: it empties the queue, so it empties both counts.
create or replace function queue_depth_reset() returns trigger
language plpgsql as $$
begin
    update queue_depth set queued = 0;
    delete from queue_rank;
    return null;
end
$$;

-- The place (1 = next) of the queued task created at `at` with id `task`, in the snapshot of the
-- statement that asks (a stable function sees its caller's).
create function queue_place(at timestamptz, task uuid) returns bigint
language plpgsql stable as $$
declare
    micros bigint := queue_rank_micros(at);
    before bigint;
begin
    select coalesce(sum(queued), 0) into before
    from queue_rank
    where (level = 4 and bucket < micros >> 34)
       or (level = 3 and bucket >= (micros >> 34) << 6 and bucket < micros >> 28)
       or (level = 2 and bucket >= (micros >> 28) << 6 and bucket < micros >> 22)
       or (level = 1 and bucket >= (micros >> 22) << 6 and bucket < micros >> 16)
       or (level = 0 and bucket >= (micros >> 16) << 6 and bucket < micros >> 10);
    return before + 1 + (
        select count(*) from tasks
        where status = 'queued'
          and created_at >= at - (micros & 1023) * interval '1 microsecond'
          and (created_at, id) < (at, task));
end
$$;
