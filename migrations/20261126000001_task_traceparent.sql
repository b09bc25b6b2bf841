-- The W3C trace context (`traceparent`) of the request that created a task, so the spans of the
-- worker that runs it join the request's trace. Null for tasks made without one.

alter table tasks
    add column traceparent text;
