//! The kernel's TCP counters (`/proc/net/snmp` and `/proc/net/netstat`) around the users' run:
//! what a reset or a refused connection comes from shows there (a full accept queue, a socket
//! closed with data unread, resets sent), where the client sees only "connection reset".
//! The counters are the network namespace's, so other traffic on the machine adds to them.

use std::collections::BTreeMap;

/// The counters kept, by `<group>.<name>` as the kernel names them.
const KEPT: [&str; 12] = [
    "Tcp.ActiveOpens",
    "Tcp.PassiveOpens",
    "Tcp.AttemptFails",
    "Tcp.EstabResets",
    "Tcp.OutRsts",
    "TcpExt.ListenOverflows",
    "TcpExt.ListenDrops",
    "TcpExt.TCPReqQFullDrop",
    "TcpExt.TCPReqQFullDoCookies",
    "TcpExt.SyncookiesSent",
    "TcpExt.TCPAbortOnData",
    "TcpExt.TCPAbortOnClose",
];

/// The kept counters at one moment.
#[derive(Debug, Clone, Default)]
pub(super) struct TcpCounters {
    values: BTreeMap<String, u64>,
}

impl TcpCounters {
    pub(super) fn take() -> TcpCounters {
        let mut text = String::new();
        for file in ["/proc/net/snmp", "/proc/net/netstat"] {
            if let Ok(read) = std::fs::read_to_string(file) {
                text.push_str(&read);
            }
        }
        TcpCounters::parse(&text)
    }

    /// The files hold each group as two lines: `Group: Name1 Name2 …` then `Group: 1 2 …`.
    fn parse(text: &str) -> TcpCounters {
        let mut values = BTreeMap::new();
        let mut lines = text.lines();
        while let (Some(names), Some(numbers)) = (lines.next(), lines.next()) {
            let (Some((group, names)), Some((same_group, numbers))) =
                (names.split_once(':'), numbers.split_once(':'))
            else {
                break;
            };
            if group != same_group {
                break;
            }
            for (name, number) in names.split_whitespace().zip(numbers.split_whitespace()) {
                let key = format!("{group}.{name}");
                if KEPT.contains(&key.as_str())
                    && let Ok(number) = number.parse::<u64>()
                {
                    values.insert(key, number);
                }
            }
        }
        TcpCounters { values }
    }

    /// How much each counter grew since `earlier`, in the order of [`KEPT`].
    pub(super) fn since(&self, earlier: &TcpCounters) -> Vec<(String, u64)> {
        KEPT.iter()
            .filter_map(|name| {
                let now = self.values.get(*name)?;
                let before = earlier.values.get(*name).copied().unwrap_or(0);
                Some(((*name).to_owned(), now.saturating_sub(before)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kept_counters_of_each_group() {
        let before = TcpCounters::parse(
            "Tcp: RtoAlgorithm ActiveOpens EstabResets OutRsts\nTcp: 1 10 2 5\n\
             TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 0 7\n",
        );
        let after = TcpCounters::parse(
            "Tcp: RtoAlgorithm ActiveOpens EstabResets OutRsts\nTcp: 1 30 2 9\n\
             TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 0 19\n",
        );
        let grown = after.since(&before);
        let value = |name: &str| {
            grown
                .iter()
                .find(|(kept, _)| kept == name)
                .map(|(_, value)| *value)
        };
        assert_eq!(value("Tcp.ActiveOpens"), Some(20));
        assert_eq!(value("Tcp.OutRsts"), Some(4));
        assert_eq!(value("TcpExt.ListenOverflows"), Some(12));
        assert_eq!(value("Tcp.RtoAlgorithm"), None, "only the kept counters");
        assert_eq!(
            value("TcpExt.TCPAbortOnData"),
            None,
            "absent from the files"
        );
    }
}
