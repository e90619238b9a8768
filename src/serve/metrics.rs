//! Prometheus metrics, written by hand in the text exposition format: a few counters, two
//! gauges and one histogram. Labels are bounded: action names come from the schema,
//! handlers from the fixed routes, never from a request's values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The outcome label of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Allowed,
    DeniedByRule,
    NoRuleAllows,
    InvalidRequest,
}

impl Outcome {
    const ALL: [Outcome; 4] = [
        Outcome::Allowed,
        Outcome::DeniedByRule,
        Outcome::NoRuleAllows,
        Outcome::InvalidRequest,
    ];

    pub(crate) fn from_cause(c: crate::eval::Cause) -> Self {
        match c {
            crate::eval::Cause::Allowed => Outcome::Allowed,
            crate::eval::Cause::DeniedByRule => Outcome::DeniedByRule,
            crate::eval::Cause::NoRuleAllows => Outcome::NoRuleAllows,
        }
    }

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Outcome::Allowed => ("allow", "allowed"),
            Outcome::DeniedByRule => ("deny", "denied_by_rule"),
            Outcome::NoRuleAllows => ("deny", "no_rule_allows"),
            Outcome::InvalidRequest => ("deny", "invalid_request"),
        }
    }
}

/// Decisions counted per action and outcome.
#[derive(Debug, Default)]
pub(crate) struct DecisionCounts(pub(crate) BTreeMap<String, [u64; 4]>);

impl DecisionCounts {
    /// Counts one decision. `action` is `None` for a request that named no known action.
    pub(crate) fn add(&mut self, action: Option<&str>, outcome: Outcome) {
        let action = action.unwrap_or(INVALID_ACTION);
        let i = outcome as usize;
        if let Some(c) = self.0.get_mut(action) {
            c[i] += 1;
        } else {
            let mut c = [0; 4];
            c[i] = 1;
            self.0.insert(action.to_owned(), c);
        }
    }

    /// Adds counts per outcome (in the order of [`Outcome`]) for one action; nothing
    /// when they are all zero.
    pub(crate) fn add_counts(&mut self, action: Option<&str>, counts: [u64; 4]) {
        if counts == [0; 4] {
            return;
        }
        let e = self
            .0
            .entry(action.unwrap_or(INVALID_ACTION).to_owned())
            .or_default();
        for (a, b) in e.iter_mut().zip(counts) {
            *a += b;
        }
    }
}

/// The `action` label of a request that was not valid.
pub(crate) const INVALID_ACTION: &str = "-";

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
    5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_ns: u128,
}

/// Every metric of the service.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    decisions: Mutex<DecisionCounts>,
    http: Mutex<BTreeMap<(&'static str, &'static str, u16), Histogram>>,
    pub(crate) reloads_ok: AtomicU64,
    pub(crate) reloads_failed: AtomicU64,
    pub(crate) last_reload_success: AtomicU64,
    pub(crate) log_dropped: AtomicU64,
    /// The decision log's write failures and whether it is writing.
    pub(crate) log: super::log::LogHealth,
}

impl Metrics {
    /// Counts one decision.
    pub(crate) fn decision(&self, action: Option<&str>, outcome: Outcome) {
        if let Ok(mut d) = self.decisions.lock() {
            d.add(action, outcome);
        }
    }

    /// Adds the counts of a batch.
    pub(crate) fn merge(&self, counts: &DecisionCounts) {
        if let Ok(mut d) = self.decisions.lock() {
            for (action, c) in &counts.0 {
                let e = d.0.entry(action.clone()).or_default();
                for (a, b) in e.iter_mut().zip(c) {
                    *a += b;
                }
            }
        }
    }

    /// Records one HTTP request.
    pub(crate) fn request(
        &self,
        handler: &'static str,
        method: &'static str,
        code: u16,
        took: Duration,
    ) {
        let secs = took.as_secs_f64();
        if let Ok(mut h) = self.http.lock() {
            let h = h.entry((handler, method, code)).or_default();
            for (c, &bound) in h.counts.iter_mut().zip(&BUCKETS) {
                if secs <= bound {
                    *c += 1;
                }
            }
            h.count += 1;
            h.sum_ns += took.as_nanos();
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self, revision: &str) -> String {
        let mut s = String::with_capacity(4096);
        s.push_str(
            "# HELP mailgate_decisions_total Decisions made, by action, decision and cause.\n\
             # TYPE mailgate_decisions_total counter\n",
        );
        if let Ok(d) = self.decisions.lock() {
            for (action, counts) in &d.0 {
                for o in Outcome::ALL {
                    let n = counts[o as usize];
                    if n > 0 {
                        let (decision, cause) = o.labels();
                        let _ = writeln!(
                            s,
                            "mailgate_decisions_total{{action=\"{}\",decision=\"{decision}\",cause=\"{cause}\"}} {n}",
                            escape(action)
                        );
                    }
                }
            }
        }
        s.push_str(
            "# HELP mailgate_http_request_duration_seconds Time to answer an HTTP request.\n\
             # TYPE mailgate_http_request_duration_seconds histogram\n",
        );
        if let Ok(h) = self.http.lock() {
            for ((handler, method, code), h) in h.iter() {
                let labels = format!("handler=\"{handler}\",method=\"{method}\",code=\"{code}\"");
                for (c, bound) in h.counts.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        s,
                        "mailgate_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {c}"
                    );
                }
                let _ = writeln!(
                    s,
                    "mailgate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                #[expect(clippy::cast_precision_loss, reason = "a sum of seconds")]
                let sum = h.sum_ns as f64 / 1e9;
                let _ = writeln!(
                    s,
                    "mailgate_http_request_duration_seconds_sum{{{labels}}} {sum}"
                );
                let _ = writeln!(
                    s,
                    "mailgate_http_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        let _ = write!(
            s,
            "# HELP mailgate_policy_reloads_total Policy reloads, by result.\n\
             # TYPE mailgate_policy_reloads_total counter\n\
             mailgate_policy_reloads_total{{result=\"success\"}} {}\n\
             mailgate_policy_reloads_total{{result=\"refused\"}} {}\n\
             # HELP mailgate_policy_last_reload_success_timestamp_seconds When the active policy set was last (re)loaded.\n\
             # TYPE mailgate_policy_last_reload_success_timestamp_seconds gauge\n\
             mailgate_policy_last_reload_success_timestamp_seconds {}\n\
             # HELP mailgate_policy_info The active policy set.\n\
             # TYPE mailgate_policy_info gauge\n\
             mailgate_policy_info{{revision=\"{}\"}} 1\n\
             # HELP mailgate_decision_log_dropped_total Decision log events dropped because the writer fell behind.\n\
             # TYPE mailgate_decision_log_dropped_total counter\n\
             mailgate_decision_log_dropped_total {}\n\
             # HELP mailgate_decision_log_write_errors_total Decision log writes that failed.\n\
             # TYPE mailgate_decision_log_write_errors_total counter\n\
             mailgate_decision_log_write_errors_total {}\n",
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
            self.last_reload_success.load(Ordering::Relaxed),
            escape(revision),
            self.log_dropped.load(Ordering::Relaxed),
            self.log.write_errors.load(Ordering::Relaxed),
        );
        s
    }
}

/// Escapes a label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.decision(Some("approve_mailbox"), Outcome::Allowed);
        m.decision(Some("approve_mailbox"), Outcome::Allowed);
        m.decision(None, Outcome::InvalidRequest);
        m.request("/v1/decide", "POST", 200, Duration::from_micros(300));
        m.request("/v1/decide", "POST", 200, Duration::from_secs(2));
        let text = m.render("abc");
        assert!(text.contains(
            "mailgate_decisions_total{action=\"approve_mailbox\",decision=\"allow\",cause=\"allowed\"} 2\n"
        ));
        assert!(text.contains(
            "mailgate_decisions_total{action=\"-\",decision=\"deny\",cause=\"invalid_request\"} 1\n"
        ));
        assert!(text.contains("le=\"0.00025\"} 0\n"));
        assert!(text.contains("le=\"0.0005\"} 1\n"));
        assert!(text.contains("le=\"5\"} 2\n"));
        assert!(text.contains("le=\"+Inf\"} 2\n"));
        assert!(text.contains("mailgate_policy_info{revision=\"abc\"} 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
