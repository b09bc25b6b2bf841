//! Log output kept in memory, for tests that read what a service logged (behind the `testing`
//! feature: no service writes its logs here).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer whose clones share one buffer: hand a clone to a subscriber, read the rest.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Everything written so far, as text (lossy where it is not UTF-8).
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_write_to_one_buffer() {
        let log = CapturedLog::default();
        let mut writer = log.clone();
        writer.write_all(b"one ").expect("written");
        log.clone().write_all(b"two").expect("written");
        assert_eq!(log.text(), "one two");
    }
}
