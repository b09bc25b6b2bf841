//! Per-process metrics read from `/proc/self`.
//!
//! [`ProcessCollector`] reads `/proc` at each scrape, so the values are as fresh as the scrape. A
//! file that cannot be read or parsed leaves its metrics out of that scrape rather than failing it:
//! a missing series is visible in Prometheus, a failed scrape hides every other metric too.
//!
//! [`register`] adds the collector and `build_info` to a registry whose prefix is `aiut`, giving
//! the `aiut_process_*` and `aiut_build_info` names every service shares.

use std::fs;
use std::path::PathBuf;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// Registers the process collector and `build_info{service,version}` (always 1) in `registry`,
/// which must carry the `aiut` prefix and no other.
pub fn register(registry: &mut Registry, service: &str, version: &str) {
    registry.register_collector(Box::new(ProcessCollector::new()));
    register_build_info(registry, service, version);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service: String,
    version: String,
}

/// Registers `build_info{service,version}`, a gauge at 1, in `registry`.
pub fn register_build_info(registry: &mut Registry, service: &str, version: &str) {
    let info = Family::<BuildLabels, Gauge>::default();
    info.get_or_create(&BuildLabels {
        service: service.to_owned(),
        version: version.to_owned(),
    })
    .set(1);
    registry.register(
        "build_info",
        "Always 1; the labels name the service and its version",
        info,
    );
}

/// Exports `process_*` metrics of the current process, read from `/proc` at each scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    /// `/proc/self`, or a copy of its files in tests.
    process_dir: PathBuf,
    /// `/proc/stat`, for the boot time.
    system_stat: PathBuf,
    clock_ticks_per_second: u64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl ProcessCollector {
    pub fn new() -> ProcessCollector {
        ProcessCollector {
            process_dir: PathBuf::from("/proc/self"),
            system_stat: PathBuf::from("/proc/stat"),
            clock_ticks_per_second: rustix::param::clock_ticks_per_second(),
        }
    }

    /// A snapshot of the process, each field `None` when its source could not be read.
    pub fn sample(&self) -> ProcessSample {
        let read = |name: &str| fs::read_to_string(self.process_dir.join(name)).ok();
        let stat = read("stat").and_then(|text| parse_stat(&text));
        let status = read("status").map(|text| parse_status(&text));
        let boot_time = fs::read_to_string(&self.system_stat)
            .ok()
            .and_then(|text| parse_boot_time(&text));
        let ticks = self.clock_ticks_per_second;
        let cpu_seconds = stat
            .filter(|_| ticks > 0)
            .map(|stat| (stat.utime + stat.stime) as f64 / ticks as f64);
        let start_time_seconds = match (stat, boot_time) {
            (Some(stat), Some(boot_time)) if ticks > 0 => {
                Some(boot_time as f64 + stat.start_time as f64 / ticks as f64)
            }
            _ => None,
        };
        let open_fds = fs::read_dir(self.process_dir.join("fd"))
            .ok()
            .map(|entries| entries.count() as u64);
        let max_fds = read("limits").and_then(|text| parse_max_open_files(&text));
        ProcessSample {
            cpu_seconds,
            resident_memory_bytes: status.and_then(|s| s.resident_bytes),
            virtual_memory_bytes: status.and_then(|s| s.virtual_bytes),
            open_fds,
            max_fds,
            threads: status.and_then(|s| s.threads),
            start_time_seconds,
        }
    }
}

/// What one scrape read; `None` leaves the metric out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessSample {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub threads: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sample = self.sample();
        if let Some(seconds) = sample.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent by the process, in seconds",
                None,
                counter.metric_type(),
            )?)?;
        }
        let gauges: [(&str, &str, Option<f64>); 6] = [
            (
                "process_resident_memory_bytes",
                "Resident memory of the process, in bytes",
                sample.resident_memory_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory of the process, in bytes",
                sample.virtual_memory_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "File descriptors the process holds open",
                sample.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Soft limit on the process's open file descriptors (RLIMIT_NOFILE)",
                sample.max_fds.map(|v| v as f64),
            ),
            (
                "process_threads",
                "Threads of the process",
                sample.threads.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "When the process started, in seconds since the Unix epoch",
                sample.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}

/// The fields of `/proc/<pid>/stat` read by this crate and by the operations tools (which read other
/// processes' files with the same parser); times in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// `R` running, `S` sleeping, `Z` zombie, …
    pub state: char,
    pub parent: u32,
    pub process_group: u32,
    pub utime: u64,
    pub stime: u64,
    /// Ticks after boot when the process started.
    pub start_time: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) sits in parentheses and may itself hold
/// spaces and parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let id = |n: usize| fields.get(n - 3)?.parse::<u32>().ok();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        parent: id(4)?,
        process_group: id(5)?,
        utime: field(14)?,
        stime: field(15)?,
        start_time: field(22)?,
    })
}

/// The fields of `/proc/<pid>/status` used here; each is `None` when missing or malformed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub threads: Option<u64>,
}

/// Parses `/proc/<pid>/status` (`VmRSS`, `VmSize` in kB, `Threads`).
pub fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "VmRSS" => status.resident_bytes = parse_kilobytes(value),
            "VmSize" => status.virtual_bytes = parse_kilobytes(value),
            "Threads" => status.threads = value.trim().parse().ok(),
            _ => {}
        }
    }
    status
}

/// `"   1234 kB"` → 1 263 616 bytes (the kernel's kB are KiB).
fn parse_kilobytes(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let number: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => number.checked_mul(1024),
        _ => None,
    }
}

/// The soft limit of the `Max open files` line of `/proc/<pid>/limits`; `None` when unlimited,
/// since no finite number would be true.
pub fn parse_max_open_files(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The `btime` line of `/proc/stat`: boot time in seconds since the Unix epoch.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (aiut (api) x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 \
                        250 75 0 0 20 0 9 0 123456 104857600 2048 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 17990 0 0 0 17 1 0 0 0 0 0\n";

    const STATUS: &str = "Name:\taiut-api\nUmask:\t0022\nState:\tS (sleeping)\n\
                          VmPeak:\t  110000 kB\nVmSize:\t  102400 kB\nVmRSS:\t    8192 kB\n\
                          Threads:\t9\nSigQ:\t0/63230\n";

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
                          Max cpu time              unlimited            unlimited            seconds   \n\
                          Max open files            1024                 524288               files     \n\
                          Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn parses_stat_counting_from_the_last_parenthesis() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                state: 'S',
                parent: 1,
                process_group: 4242,
                utime: 250,
                stime: 75,
                start_time: 123456
            })
        );
    }

    #[test]
    fn malformed_stat_is_none() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("4242 no parenthesis S 1 2 3"), None);
        assert_eq!(parse_stat("4242 (api) S 1 2 3"), None, "too few fields");
        let bad = STAT.replace(" 250 ", " x250 ");
        assert_eq!(parse_stat(&bad), None, "a non-number");
        assert_eq!(parse_stat("4242 (api) S 1 2 3 -5 \u{fffd}"), None);
    }

    #[test]
    fn parses_status() {
        assert_eq!(
            parse_status(STATUS),
            Status {
                resident_bytes: Some(8192 * 1024),
                virtual_bytes: Some(102400 * 1024),
                threads: Some(9),
            }
        );
    }

    #[test]
    fn malformed_status_fields_are_none_one_by_one() {
        let text = "VmRSS:\t  lots kB\nVmSize:\t 1024\nThreads:\t3\n";
        assert_eq!(
            parse_status(text),
            Status {
                resident_bytes: None,
                virtual_bytes: None,
                threads: Some(3),
            }
        );
        assert_eq!(parse_status(""), Status::default());
        assert_eq!(
            parse_status("VmRSS:\t99999999999999999999 kB\n").resident_bytes,
            None
        );
    }

    #[test]
    fn parses_the_soft_open_files_limit() {
        assert_eq!(parse_max_open_files(LIMITS), Some(1024));
        assert_eq!(
            parse_max_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
        assert_eq!(
            parse_max_open_files("Max cpu time  unlimited unlimited seconds\n"),
            None
        );
        assert_eq!(parse_max_open_files(""), None);
    }

    #[test]
    fn parses_boot_time() {
        let text = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1700000000\nprocesses 7\n";
        assert_eq!(parse_boot_time(text), Some(1_700_000_000));
        assert_eq!(parse_boot_time("btime soon\n"), None);
        assert_eq!(parse_boot_time("cpu 1 2 3\n"), None);
    }

    fn fake_proc(stat: &str, status: &str, limits: &str, proc_stat: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "aiut-telemetry-{}-{}",
            std::process::id(),
            next_id()
        ));
        fs::create_dir_all(dir.join("self/fd")).expect("creates the fake /proc");
        fs::write(dir.join("self/stat"), stat).expect("writes");
        fs::write(dir.join("self/status"), status).expect("writes");
        fs::write(dir.join("self/limits"), limits).expect("writes");
        fs::write(dir.join("stat"), proc_stat).expect("writes");
        for fd in ["0", "1", "2"] {
            fs::write(dir.join("self/fd").join(fd), "").expect("writes");
        }
        dir
    }

    fn next_id() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    fn collector_at(dir: &std::path::Path) -> ProcessCollector {
        ProcessCollector {
            process_dir: dir.join("self"),
            system_stat: dir.join("stat"),
            clock_ticks_per_second: 100,
        }
    }

    fn encode(collector: ProcessCollector) -> String {
        let mut registry = Registry::with_prefix("aiut");
        registry.register_collector(Box::new(collector));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        text
    }

    #[test]
    fn samples_fake_proc_files() {
        let dir = fake_proc(STAT, STATUS, LIMITS, "btime 1700000000\n");
        let sample = collector_at(&dir).sample();
        assert_eq!(
            sample,
            ProcessSample {
                cpu_seconds: Some(3.25),
                resident_memory_bytes: Some(8192 * 1024),
                virtual_memory_bytes: Some(102400 * 1024),
                open_fds: Some(3),
                max_fds: Some(1024),
                threads: Some(9),
                start_time_seconds: Some(1_700_000_000.0 + 1234.56),
            }
        );
        let text = encode(collector_at(&dir));
        assert!(
            text.contains("# TYPE aiut_process_cpu_seconds counter\n"),
            "{text}"
        );
        assert!(
            text.contains("aiut_process_cpu_seconds_total 3.25\n"),
            "{text}"
        );
        assert!(
            text.contains("aiut_process_resident_memory_bytes 8388608"),
            "{text}"
        );
        assert!(text.contains("aiut_process_open_fds 3"), "{text}");
        assert!(text.contains("aiut_process_max_fds 1024"), "{text}");
        assert!(text.contains("aiut_process_threads 9"), "{text}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn malformed_files_leave_their_metrics_out() {
        let dir = fake_proc("garbage", "VmRSS: ?\n", "", "");
        let text = encode(collector_at(&dir));
        assert!(!text.contains("process_cpu_seconds"), "{text}");
        assert!(!text.contains("process_resident_memory_bytes"), "{text}");
        assert!(!text.contains("process_start_time_seconds"), "{text}");
        assert!(!text.contains("process_max_fds"), "{text}");
        assert!(text.contains("aiut_process_open_fds 3"), "{text}");
        let _ = fs::remove_dir_all(&dir);
        // With nothing there at all, the scrape still succeeds, empty.
        let text = encode(collector_at(&dir));
        assert_eq!(text, "# EOF\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let mut registry = Registry::with_prefix("aiut");
        register(&mut registry, "api", "1.2.3");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for name in [
            "aiut_process_cpu_seconds_total ",
            "aiut_process_resident_memory_bytes ",
            "aiut_process_virtual_memory_bytes ",
            "aiut_process_open_fds ",
            "aiut_process_max_fds ",
            "aiut_process_threads ",
            "aiut_process_start_time_seconds ",
            "aiut_build_info{service=\"api\",version=\"1.2.3\"} 1\n",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        let sample = ProcessCollector::new().sample();
        assert!(sample.resident_memory_bytes.unwrap_or(0) > 0);
        assert!(sample.threads.unwrap_or(0) >= 1);
        let started = sample.start_time_seconds.unwrap_or(0.0);
        assert!(started > 1_600_000_000.0, "{started}");
    }
}
