//! The documented range of every numeric key (`sensor.example.toml` states each one),
//! checked at load: a value that would overflow a duration, exhaust memory at allocation,
//! sleep a worker forever or be clamped silently is a one-line configuration error
//! instead. The baseline's keys are checked by its own settings type.

use super::{Config, ConfigError, MAX_BURST};

/// `value` of `key` within `lo..=hi`; NaN is outside every range.
fn within<T>(key: &str, value: T, lo: T, hi: T) -> Result<(), ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if lo <= value && value <= hi {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{key} = {value} is out of range: {lo} to {hi}"
        )))
    }
}

/// Checks every numeric key of `c` outside `[baseline]`.
pub(super) fn check(c: &Config) -> Result<(), ConfigError> {
    within("stats_interval_secs", c.stats_interval_secs, 0.0, 86_400.0)?;
    within("control.mode", c.control.mode, 0, 0o777)?;
    within("control.max_clients", c.control.max_clients, 1, 1024)?;
    within("control.timeout_secs", c.control.timeout_secs, 0.1, 3600.0)?;
    within(
        "control.reload_max_loss",
        c.control.reload_max_loss,
        0.0,
        1.0,
    )?;
    within("eve.queue_size", c.eve.queue_size, 1, 1 << 20)?;
    within("ports.queues", c.ports.queues, 1, 128)?;
    within("ports.rx_descriptors", c.ports.rx_descriptors, 32, 16_384)?;
    within("ports.tx_descriptors", c.ports.tx_descriptors, 32, 16_384)?;
    within("workers.burst_size", c.workers.burst_size, 1, MAX_BURST)?;
    within("workers.tx_retries", c.workers.tx_retries, 0, 1000)?;
    within("workers.idle_sleep_us", c.workers.idle_sleep_us, 0, 100_000)?;
    within(
        "workers.stall_timeout_secs",
        c.workers.stall_timeout_secs,
        0.0,
        3600.0,
    )?;
    // The watchdog must not take an idle worker's nap for a stall.
    let idle_secs = c.workers.idle_sleep_us as f64 / 1e6;
    if c.workers.stall_timeout_secs > 0.0 && c.workers.stall_timeout_secs < 0.1 + idle_secs {
        return Err(ConfigError(format!(
            "workers.stall_timeout_secs = {} is out of range: 0 (off), or at least 0.1 s plus \
             workers.idle_sleep_us",
            c.workers.stall_timeout_secs
        )));
    }
    within("mempool.size", c.mempool.size, 1, 1 << 24)?;
    within("mempool.cache_size", c.mempool.cache_size, 0, 512)?;
    within("mempool.data_room", c.mempool.data_room, 384, u16::MAX)?;
    within("detect.flow_capacity", c.detect.flow_capacity, 16, 1 << 24)?;
    within("detect.stream_window", c.detect.stream_window, 0, 1 << 16)?;
    within("defrag.memcap", c.defrag.memcap, 1 << 16, 1 << 36)?;
    within("stream.memcap", c.stream.memcap, 1 << 16, 1 << 36)?;
    within(
        "http.request_body_limit",
        c.http.request_body_limit,
        0,
        1 << 30,
    )?;
    within(
        "http.response_body_limit",
        c.http.response_body_limit,
        0,
        1 << 30,
    )?;
    within("http.header_limit", c.http.header_limit, 256, 1 << 20)?;
    within("http.memcap", c.http.memcap, 1 << 16, 1 << 36)?;
    within("tls.memcap", c.tls.memcap, 1 << 16, 1 << 36)?;
    within("defrag.timeout_secs", c.defrag.timeout_secs, 1, 86_400)?;
    within("defrag.max_fragments", c.defrag.max_fragments, 1, 8192)?;
    within("dns.answer_ttl", c.dns.answer_ttl, 0, 2_147_483_647)?;
    within("dns.watch_capacity", c.dns.watch_capacity, 0, 1 << 24)?;
    within("dns.watch_max_secs", c.dns.watch_max_secs, 0, 2_147_483_647)?;
    within("dns.max_answers", c.dns.max_answers, 1, 1024)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_in_range() {
        assert_eq!(check(&Config::default()), Ok(()));
    }

    #[test]
    fn values_that_crashed_or_hung_are_refused_with_their_key() {
        type Set = fn(&mut Config);
        let cases: [(&str, Set); 7] = [
            ("stats_interval_secs", |c| c.stats_interval_secs = 1e300),
            ("control.timeout_secs", |c| {
                c.control.timeout_secs = f64::INFINITY
            }),
            ("control.timeout_secs", |c| {
                c.control.timeout_secs = f64::NAN
            }),
            ("control.timeout_secs", |c| c.control.timeout_secs = -1.0),
            ("detect.flow_capacity", |c| {
                c.detect.flow_capacity = 1_000_000_000_000
            }),
            ("eve.queue_size", |c| c.eve.queue_size = 1_000_000_000_000),
            ("workers.idle_sleep_us", |c| {
                c.workers.idle_sleep_us = u64::MAX
            }),
        ];
        for (key, set) in cases {
            let mut c = Config::default();
            set(&mut c);
            let e = check(&c).unwrap_err().0;
            assert!(e.starts_with(key) && e.contains("out of range"), "{e}");
        }
    }
}
