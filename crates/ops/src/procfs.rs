//! What `/proc` says about the processes this crate started: whether one lives, the members of a
//! process group, memory and CPU time. The files are parsed by `telemetry::process`, which reads
//! the same files about the services' own process for their metrics.

use std::fs;

use telemetry::process::{Stat, parse_stat, parse_status};

fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process id `/proc` lists now.
fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Whether the process exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    stat(pid).is_some_and(|stat| stat.state != 'Z')
}

/// The live processes of a process group.
pub fn group_members(group: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            stat(pid).is_some_and(|stat| stat.state != 'Z' && stat.process_group == group)
        })
        .collect()
}

/// Resident memory in KiB (`VmRSS`).
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
        .resident_bytes
        .map(|bytes| bytes / 1024)
}

fn cpu_ticks(stat: &Stat) -> u64 {
    stat.utime + stat.stime
}

/// CPU ticks used so far by `pid` and its direct children (nginx's master and its workers).
pub fn cpu_ticks_with_children(pid: u32) -> u64 {
    let own = stat(pid).as_ref().map_or(0, cpu_ticks);
    let children: u64 = all_pids()
        .into_iter()
        .filter_map(stat)
        .filter(|stat| stat.parent == pid)
        .map(|stat| cpu_ticks(&stat))
        .sum();
    own + children
}

/// The live direct children of `pid` whose command line contains `text` (nginx's workers:
/// `nginx: worker process`).
pub fn children_running(pid: u32, text: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&child| {
            stat(child).is_some_and(|stat| stat.parent == pid && stat.state != 'Z')
                && fs::read(format!("/proc/{child}/cmdline"))
                    .is_ok_and(|line| String::from_utf8_lossy(&line).contains(text))
        })
        .collect()
}

/// CPU ticks used so far by each of `pids` that still exists, summed.
pub fn cpu_ticks_of(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|&pid| stat(pid))
        .map(|stat| cpu_ticks(&stat))
        .sum()
}

/// CPU ticks used so far by every process whose command name (`/proc/<pid>/comm`) is `name`:
/// a server's backends together (Postgres forks one per connection).
pub fn cpu_ticks_of_command(name: &str) -> u64 {
    all_pids()
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .filter_map(stat)
        .map(|stat| cpu_ticks(&stat))
        .sum()
}

/// CPU ticks the whole machine spent busy (every state of `/proc/stat`'s `cpu` line but idle and
/// I/O wait), summed over its CPUs.
pub fn machine_busy_ticks() -> u64 {
    fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| busy_ticks(&text))
        .unwrap_or(0)
}

fn busy_ticks(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let all: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some(all.saturating_sub(idle))
}

/// Clock ticks per second, for `/proc`'s CPU times.
pub fn clock_ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_ticks_leave_out_idle_and_io_wait() {
        let text = "cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\n";
        assert_eq!(busy_ticks(text), Some(161));
        assert_eq!(busy_ticks("intr 1 2 3\n"), None);
    }

    #[test]
    fn fields_survive_odd_command_names() {
        let stat = parse_stat(
            "4242 (nginx: worker (x)) S 4241 4240 4240 0 -1 4194624 100 0 0 0 \
             170 30 0 0 20 0 1 0 12345 1000 200",
        )
        .expect("fields");
        assert_eq!(
            (stat.state, stat.parent, stat.process_group),
            ('S', 4241, 4240)
        );
        assert_eq!(cpu_ticks(&stat), 200);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        assert!(is_alive(std::process::id()));
        assert!(!is_alive(u32::MAX - 1));
        assert!(resident_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(clock_ticks_per_second() > 0.0);
    }

    #[test]
    fn children_are_found_by_their_command_line() {
        let mut child = std::process::Command::new("sleep")
            .arg("30.25")
            .spawn()
            .expect("sleep starts");
        // Between fork and exec the child still shows this test's command line: look until the
        // exec has happened, within a bound.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = children_running(std::process::id(), "30.25");
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            found = children_running(std::process::id(), "30.25");
        }
        let other = children_running(std::process::id(), "no such command line");
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, vec![child.id()]);
        assert!(other.is_empty());
    }
}
