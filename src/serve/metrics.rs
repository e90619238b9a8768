//! Prometheus metrics, kept and encoded by the Prometheus organisation's `prometheus-client`
//! crate (the `OpenMetrics` text format): a few counters, two gauges and one histogram. Labels are
//! bounded: action names come from the schema, handlers from the fixed routes, never from a
//! request's values.
//!
//! The hot path never allocates: each action's four decision counters are looked up once
//! (by name, in a map read under a read lock) and then counted with one atomic add, and the
//! HTTP histogram's labels are `&'static str`s and a status code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, RwLock};
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

/// The labels of `mailgate_decisions_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    action: String,
    decision: &'static str,
    cause: &'static str,
}

/// The labels of `mailgate_http_request_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    handler: &'static str,
    method: &'static str,
    code: u16,
}

/// The label of `mailgate_policy_reloads_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

/// The label of `mailgate_policy_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RevisionLabels {
    revision: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type HttpFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// Every metric of the service.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    /// Each action's counters, in the order of [`Outcome`], so that counting one decision is
    /// a map lookup by `&str` and an atomic add.
    by_action: RwLock<BTreeMap<String, [OnceLock<Counter>; 4]>>,
    http: HttpFamily,
    pub(crate) reloads_ok: Counter,
    pub(crate) reloads_failed: Counter,
    pub(crate) last_reload_success: Gauge,
    info: Family<RevisionLabels, Gauge>,
    /// The revision `info` shows; held while encoding, so two scrapes never interleave.
    shown_revision: Mutex<String>,
    pub(crate) log_dropped: Counter,
    /// The decision log's write failures and whether it is writing.
    pub(crate) log: super::log::LogHealth,
}

impl Default for Metrics {
    fn default() -> Self {
        let decisions = Family::<DecisionLabels, Counter>::default();
        let http = HttpFamily::new_with_constructor(latency_histogram);
        let reloads = Family::<ReloadLabels, Counter>::default();
        let reloads_ok = reloads
            .get_or_create(&ReloadLabels { result: "success" })
            .clone();
        let reloads_failed = reloads
            .get_or_create(&ReloadLabels { result: "refused" })
            .clone();
        let last_reload_success = Gauge::default();
        let info = Family::<RevisionLabels, Gauge>::default();
        let log_dropped = Counter::default();
        let log = super::log::LogHealth::default();
        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder adds it to the samples.
        registry.register(
            "mailgate_decisions",
            "Decisions made, by action, decision and cause",
            decisions.clone(),
        );
        registry.register(
            "mailgate_http_request_duration_seconds",
            "Time to answer an HTTP request",
            http.clone(),
        );
        registry.register(
            "mailgate_policy_reloads",
            "Policy reloads, by result",
            reloads,
        );
        registry.register(
            "mailgate_policy_last_reload_success_timestamp_seconds",
            "When the active policy set was last (re)loaded",
            last_reload_success.clone(),
        );
        registry.register(
            "mailgate_policy_info",
            "The active policy set",
            info.clone(),
        );
        registry.register(
            "mailgate_decision_log_dropped",
            "Decision log events dropped because the writer fell behind",
            log_dropped.clone(),
        );
        registry.register(
            "mailgate_decision_log_write_errors",
            "Decision log writes that failed",
            log.write_errors.clone(),
        );
        Metrics {
            registry,
            decisions,
            by_action: RwLock::default(),
            http,
            reloads_ok,
            reloads_failed,
            last_reload_success,
            info,
            shown_revision: Mutex::default(),
            log_dropped,
            log,
        }
    }
}

impl Metrics {
    /// Adds `counts` (in the order of [`Outcome`]) to `action`'s counters. A series is
    /// created at its first count, so one that cannot happen (an allow of an unknown
    /// action) never shows.
    fn add(&self, action: Option<&str>, counts: [u64; 4]) {
        let action = action.unwrap_or(INVALID_ACTION);
        let add = |c: &[OnceLock<Counter>; 4]| {
            for ((slot, n), o) in c.iter().zip(counts).zip(Outcome::ALL) {
                if n > 0 {
                    slot.get_or_init(|| {
                        let (decision, cause) = o.labels();
                        self.decisions
                            .get_or_create(&DecisionLabels {
                                action: action.to_owned(),
                                decision,
                                cause,
                            })
                            .clone()
                    })
                    .inc_by(n);
                }
            }
        };
        if let Ok(map) = self.by_action.read()
            && let Some(c) = map.get(action)
        {
            add(c);
            return;
        }
        if let Ok(mut map) = self.by_action.write() {
            add(map.entry(action.to_owned()).or_default());
        }
    }

    /// Counts one decision.
    pub(crate) fn decision(&self, action: Option<&str>, outcome: Outcome) {
        let mut counts = [0; 4];
        counts[outcome as usize] = 1;
        self.add(action, counts);
    }

    /// Adds the counts of a batch.
    pub(crate) fn merge(&self, counts: &DecisionCounts) {
        for (action, c) in &counts.0 {
            self.add(Some(action), *c);
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
        self.http
            .get_or_create(&HttpLabels {
                handler,
                method,
                code,
            })
            .observe(took.as_secs_f64());
    }

    /// The `OpenMetrics` text exposition, with `revision` as the active set.
    pub(crate) fn render(&self, revision: &str) -> String {
        let mut s = String::with_capacity(4096);
        let Ok(mut shown) = self.shown_revision.lock() else {
            return s;
        };
        if *shown != revision {
            self.info.clear();
            self.info
                .get_or_create(&RevisionLabels {
                    revision: revision.to_owned(),
                })
                .set(1);
            revision.clone_into(&mut shown);
        }
        // Writing to a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
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
        let bucket = |le: &str, n: u64| {
            format!(
                "mailgate_http_request_duration_seconds_bucket{{le=\"{le}\",handler=\"/v1/decide\",method=\"POST\",code=\"200\"}} {n}\n"
            )
        };
        for (le, n) in [("0.00025", 0), ("0.0005", 1), ("5.0", 2), ("+Inf", 2)] {
            assert!(text.contains(&bucket(le, n)), "{le}: {text}");
        }
        // Only series that happened: no allow for the unknown action `-`.
        assert_eq!(
            text.matches("mailgate_decisions_total{").count(),
            2,
            "{text}"
        );
        assert!(text.contains("mailgate_policy_info{revision=\"abc\"} 1\n"));
        assert!(text.contains("mailgate_policy_reloads_total{result=\"refused\"} 0\n"));
        assert!(text.ends_with("# EOF\n"));
        // A new revision replaces the old one.
        let text = m.render("def");
        assert!(text.contains("mailgate_policy_info{revision=\"def\"} 1\n"));
        assert!(!text.contains("revision=\"abc\""), "{text}");
    }

    #[test]
    fn a_batch_adds_to_the_same_counters() {
        let m = Metrics::default();
        m.decision(Some("a"), Outcome::Allowed);
        let mut counts = DecisionCounts::default();
        counts.add_counts(Some("a"), [1, 0, 1, 0]);
        m.merge(&counts);
        let text = m.render("r");
        assert!(
            text.contains(
                "mailgate_decisions_total{action=\"a\",decision=\"allow\",cause=\"allowed\"} 2\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "mailgate_decisions_total{action=\"a\",decision=\"deny\",cause=\"no_rule_allows\"} 1\n"
        ), "{text}");
    }
}
