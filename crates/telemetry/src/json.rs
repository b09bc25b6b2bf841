//! JSON lines: one object per event with its timestamp, level, fields and target, the current
//! span (its name and fields), and the ids that tie a line to its work — `request_id`, `task_id`
//! and `trace_id` — lifted to the top level from whichever span in scope carries them, so a line
//! logged deep inside a database or model-call span still names its request, task and trace (and
//! the current span's own copy of a lifted id is left out).

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The fields copied from the spans in scope to the top level of each line, innermost first.
pub const LIFTED_IDS: [&str; 3] = ["request_id", "task_id", "trace_id"];

/// The event format of JSON lines; span fields are stored by [`JsonFields`].
pub struct JsonLines;

/// An event's fields, in the order they were recorded. Records bridged from the `log` crate
/// carry their own target in `log.target` and metadata in other `log.*` fields.
#[derive(Default)]
struct EventFields {
    fields: Vec<(String, Value)>,
    log_target: Option<String>,
}

impl EventFields {
    fn push(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == "log.target" {
            if let Value::String(target) = value {
                self.log_target = Some(target);
            }
        } else if !name.starts_with("log.") {
            self.fields.push((name.to_owned(), value));
        }
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::from(format!("{value:?}")));
    }
}

/// The fields a span recorded, as `JsonFields` stored them.
fn span_fields(stored: Option<&FormattedFields<JsonFields>>) -> Map<String, Value> {
    match stored.map(|fields| serde_json::from_str::<Value>(fields.as_str())) {
        Some(Ok(Value::Object(fields))) => fields,
        _ => Map::new(),
    }
}

fn write_entry(writer: &mut Writer<'_>, first: &mut bool, key: &str, value: &Value) -> fmt::Result {
    if !*first {
        writer.write_char(',')?;
    }
    *first = false;
    let key = serde_json::to_string(key).map_err(|_| fmt::Error)?;
    let value = serde_json::to_string(value).map_err(|_| fmt::Error)?;
    write!(writer, "{key}:{value}")
}

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let metadata = event.metadata();
        let mut fields = EventFields::default();
        event.record(&mut fields);

        // The spans in scope, innermost first: the current span, then its ancestors.
        let mut current: Option<Map<String, Value>> = None;
        let mut lifted: Vec<(&str, Value)> = Vec::new();
        let scope = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(innermost) = scope {
            for span in innermost.scope() {
                let extensions = span.extensions();
                let mut recorded = span_fields(extensions.get::<FormattedFields<JsonFields>>());
                for id in LIFTED_IDS {
                    if !lifted.iter().any(|(name, _)| *name == id)
                        && let Some(value) = recorded.get(id)
                    {
                        lifted.push((id, value.clone()));
                    }
                }
                if current.is_none() {
                    recorded.insert("name".to_owned(), Value::from(span.name()));
                    current = Some(recorded);
                }
            }
        }

        let mut first = true;
        writer.write_char('{')?;
        write_entry(
            &mut writer,
            &mut first,
            "timestamp",
            &Value::from(timestamp),
        )?;
        write_entry(
            &mut writer,
            &mut first,
            "level",
            &Value::from(metadata.level().as_str()),
        )?;
        for (name, value) in &fields.fields {
            write_entry(&mut writer, &mut first, name, value)?;
        }
        let target = fields
            .log_target
            .as_deref()
            .unwrap_or_else(|| metadata.target());
        write_entry(&mut writer, &mut first, "target", &Value::from(target))?;
        for (name, value) in lifted {
            // The event's own field of the same name wins; a key appears once.
            if !fields.fields.iter().any(|(field, _)| field == name) {
                write_entry(&mut writer, &mut first, name, &value)?;
                // Said once: the span does not repeat the value it was lifted from (ids are a
                // fifth of an access line).
                if let Some(span) = current.as_mut()
                    && span.get(name) == Some(&value)
                {
                    span.remove(name);
                }
            }
        }
        if let Some(span) = current {
            write_entry(&mut writer, &mut first, "span", &Value::Object(span))?;
        }
        writer.write_str("}\n")
    }
}
