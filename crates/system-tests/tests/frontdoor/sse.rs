//! Reads a `text/event-stream` body event by event, noting when each event arrived.

use std::time::Duration;

use serde_json::Value;
use tokio::time::{Instant, timeout};

#[derive(Debug)]
pub struct TimedEvent {
    pub event: String,
    pub data: Value,
    pub arrived: Instant,
}

pub struct SseReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        SseReader {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next event other than a heartbeat, within `wait`; `None` when the stream ended.
    pub async fn next(&mut self, wait: Duration) -> Option<TimedEvent> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 events");
                match parse(&block) {
                    Some((event, data)) if event != "heartbeat" => {
                        return Some(TimedEvent {
                            event,
                            data,
                            arrived: Instant::now(),
                        });
                    }
                    _ => continue,
                }
            }
            let chunk = timeout(deadline - Instant::now(), self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {wait:?}"))
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => return None,
            }
        }
    }
}

/// One event block: its `event:` name and JSON `data:`; comments and blank blocks are none.
fn parse(block: &str) -> Option<(String, Value)> {
    let mut event = None;
    let mut data = Vec::new();
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
    Some((event.unwrap_or_else(|| "message".to_owned()), data))
}
