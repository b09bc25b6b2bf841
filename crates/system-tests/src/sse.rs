//! Server-sent events (`text/event-stream`): one parser of event blocks, and the two ways the
//! tests read a stream: whole until it ends ([`read_events`]), or event by event with the time
//! each arrived ([`SseReader`]).

use std::time::Duration;

use serde_json::Value;
use tokio::time::{Instant, timeout};

/// The fields of one event block (the text up to a blank line); comments are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    pub event: Option<String>,
    pub id: Option<u64>,
    /// The `data:` lines joined by newlines; `None` when there were none.
    pub data: Option<String>,
}

/// Parses one event block: `field: value` lines, one optional space after the colon.
pub fn parse_block(block: &str) -> Block {
    let mut parsed = Block::default();
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => parsed.event = Some(value.trim().to_owned()),
            "id" => parsed.id = value.trim().parse().ok(),
            "data" => data.push(value),
            _ => {}
        }
    }
    if !data.is_empty() {
        parsed.data = Some(data.join("\n"));
    }
    parsed
}

/// Takes the first complete block (ending in a blank line) off the front of `buffer`.
fn next_block(buffer: &mut Vec<u8>) -> Option<String> {
    let end = buffer.windows(2).position(|pair| pair == b"\n\n")?;
    let block: Vec<u8> = buffer.drain(..end + 2).collect();
    Some(String::from_utf8_lossy(&block).into_owned())
}

/// One named server-sent event with JSON data.
#[derive(Debug, Clone)]
pub struct SseFrame {
    pub event: String,
    pub id: Option<u64>,
    pub data: Value,
}

impl SseFrame {
    /// The frame of a block that has an event name and JSON data; others are none.
    pub fn from_block(block: &str) -> Option<SseFrame> {
        let block = parse_block(block);
        Some(SseFrame {
            event: block.event?,
            id: block.id,
            data: serde_json::from_str(&block.data?).ok()?,
        })
    }
}

/// Reads an event stream until it ends (or `within` passes, which fails the test); the stream
/// must answer 200 with `text/event-stream`.
pub async fn read_events(
    client: &reqwest::Client,
    url: &str,
    last_event_id: Option<u64>,
    within: Duration,
) -> Vec<SseFrame> {
    let mut request = client.get(url);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let mut response = request.send().await.expect("the stream opens");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let mut buffer = Vec::new();
    let mut frames = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.expect("the stream reads") {
            buffer.extend_from_slice(&chunk);
            while let Some(block) = next_block(&mut buffer) {
                if let Some(frame) = SseFrame::from_block(&block) {
                    frames.push(frame);
                }
            }
        }
    };
    timeout(within, read)
        .await
        .expect("the event stream ended in time");
    frames
}

/// An event as [`SseReader`] got it.
#[derive(Debug)]
pub struct TimedEvent {
    pub event: String,
    pub data: Value,
    pub arrived: Instant,
}

/// Reads a `text/event-stream` body event by event, noting when each event arrived.
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
    /// Blocks without data are skipped; an event without a name is a `message`; data that is not
    /// JSON fails the test.
    pub async fn next(&mut self, wait: Duration) -> Option<TimedEvent> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(block) = next_block(&mut self.buffer) {
                let block = parse_block(&block);
                let Some(data) = block.data else {
                    continue;
                };
                let event = block.event.unwrap_or_else(|| "message".to_owned());
                if event == "heartbeat" {
                    continue;
                }
                return Some(TimedEvent {
                    event,
                    data: serde_json::from_str(&data).expect("JSON data"),
                    arrived: Instant::now(),
                });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_gives_its_fields() {
        let block = parse_block("event: progress\nid: 7\ndata: {\"a\":\ndata: 1}\n\n");
        assert_eq!(block.event.as_deref(), Some("progress"));
        assert_eq!(block.id, Some(7));
        assert_eq!(block.data.as_deref(), Some("{\"a\":\n1}"));
        let frame = SseFrame::from_block("event: done\ndata: {\"ok\":true}\n\n");
        assert!(frame.is_some_and(|frame| frame.data["ok"] == true));
    }

    #[test]
    fn comments_and_nameless_blocks_make_no_frame() {
        assert_eq!(parse_block(": keep-alive\n\n"), Block::default());
        assert!(SseFrame::from_block("data: {}\n\n").is_none());
        assert!(SseFrame::from_block("event: x\ndata: not json\n\n").is_none());
    }
}
