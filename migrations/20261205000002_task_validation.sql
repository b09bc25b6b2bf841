-- How far a task's tests are checked (`run`: built, run, run again, measured; `syntax`: parsed),
-- which passing tests are kept, and what the runner found.
alter table tasks
    add column validate text not null default 'run'
        check (validate in ('run', 'syntax')),
    add column keep text not null default 'covering'
        check (keep in ('covering', 'passing')),
    add column validation jsonb;
