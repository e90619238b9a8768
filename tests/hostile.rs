//! Hostile input: mailgate must never crash, never hang, and never allow by mistake.
//!
//! Every test runs the real binary on generated or fixture input and checks that
//! it ends with exit 1 (never 101, a panic, and never a signal such as a stack overflow),
//! that the message names the limit or the problem together with the file and the line,
//! and, for batch input, that every input line gets exactly one output line and that no bad
//! line is ever `allow`. Large inputs are generated into a fresh folder under the system
//! temporary folder; small ones live in `tests/fixtures/hostile/`.
//!
//! Regression tests for what the fuzz targets and this suite found are named after the
//! finding and marked `// Found by:`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util;
use mailgate::limits;

const SCHEMA: &str = include_str!("../policies/schema.yaml");

/// A line the shipped policies allow (an Exchange Online approver with delegation).
const ALLOWED_LINE: &str = r#"{"action":"approve_mailbox","org":{"version":"9.2.22104.00170"},"user":{"security_roles":["System Administrator","Delegated Mailbox Approver"],"privileges":["Approve Email Addresses for Users or Queues"]},"mailbox":{"owner_kind":"user","email":"a@contoso.com","approval":"pending_approval","server":"exchange_online"}}"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_policies() -> PathBuf {
    repo().join("policies")
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/hostile").join(name)
}

/// A fresh folder under the system temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mailgate-hostile-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A policy folder with the shipped schema and `files` (name, bytes).
    fn policy_set(name: &str, files: &[(&str, &[u8])]) -> Self {
        let d = TempDir::new(name);
        d.write("schema.yaml", SCHEMA.as_bytes());
        for (f, bytes) in files {
            d.write(f, bytes);
        }
        d
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of the binary produced.
type Run = util::Output;

/// Runs mailgate with `args` (and `stdin`) from the temp folder. The shared runner checks
/// that it ended by itself with an exit code of its own (never a signal, never 101), and
/// its watchdog ([`util::WATCHDOG`]) fails a run that hangs. The inputs here are large
/// enough that a quadratic path would run into the watchdog; timing itself lives in the
/// benchmarks.
fn mailgate(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut m = util::mailgate(args).dir(std::env::temp_dir());
    if let Some(input) = stdin {
        m = m.stdin_bytes(input);
    }
    m.run()
}

fn tail(s: &str) -> &str {
    let cut = s.len().saturating_sub(4000);
    s.get(cut..).unwrap_or(s)
}

/// `mailgate check --policies DIR`, expected to fail with every `needle` on stderr.
fn check_fails(dir: &Path, needles: &[&str]) -> Run {
    let r = mailgate(&["check", "--policies", dir.to_str().unwrap()], None);
    assert_eq!(r.code, 1, "stderr:\n{}", tail(&r.stderr));
    assert!(r.stdout.is_empty(), "stdout: {}", r.stdout);
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "stderr lacks `{n}`:\n{}",
            tail(&r.stderr)
        );
    }
    r
}

/// `mailgate check --policies DIR`, expected to succeed with `summary` on stdout.
fn check_ok(dir: &Path, summary: &str) {
    let r = mailgate(&["check", "--policies", dir.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "stderr:\n{}", tail(&r.stderr));
    assert!(r.stdout.contains(summary), "stdout: {}", r.stdout);
}

/// `mailgate test --policies <shipped> FILE`, expected to fail with every `needle`.
fn scenario_fails(file: &Path, needles: &[&str]) {
    let shipped = shipped_policies();
    for command in ["test", "eval"] {
        let r = mailgate(
            &[
                command,
                "--policies",
                shipped.to_str().unwrap(),
                file.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(r.code, 1, "{command}: stderr:\n{}", tail(&r.stderr));
        assert!(
            !r.stdout.contains("allow"),
            "{command} decided something: {}",
            r.stdout
        );
        for n in needles {
            assert!(
                r.stderr.contains(n),
                "{command}: stderr lacks `{n}`:\n{}",
                tail(&r.stderr)
            );
        }
    }
}

/// Bytes that are not UTF-8 (a simple generator, so the test needs no dependency).
fn binary_noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    // Make sure it is not valid UTF-8 whatever the generator produced.
    out[len / 2] = 0xff;
    out
}

// ---- policy text --------------------------------------------------------------------

#[test]
fn hundred_thousand_open_parentheses_are_an_error_not_a_stack_overflow() {
    let text = format!(
        "rule r {{ allow approve_mailbox when {}user.upn == \"a\" }}\n",
        "(".repeat(100_000)
    );
    let d = TempDir::policy_set("parens", &[("deep.policy", text.as_bytes())]);
    check_fails(
        d.path(),
        &[
            &format!(
                "nesting is deeper than the limit of {} levels",
                limits::MAX_NESTING
            ),
            "deep.policy:1:",
        ],
    );
}

#[test]
fn deep_lists_are_an_error() {
    let text = format!(
        "\n\nrule r {{ allow approve_mailbox when user.upn in {}\"a\" }}\n",
        "[".repeat(100_000)
    );
    let d = TempDir::policy_set("lists", &[("lists.policy", text.as_bytes())]);
    check_fails(d.path(), &["nesting is deeper", "lists.policy:3:"]);
}

#[test]
fn deep_not_chains_are_an_error() {
    let text = format!(
        "# line 1\nrule r {{ allow approve_mailbox when {}user.upn == \"a\" }}\n",
        "not ".repeat(100_000)
    );
    let d = TempDir::policy_set("nots", &[("nots.policy", text.as_bytes())]);
    check_fails(
        d.path(),
        &[
            &format!(
                "nesting is deeper than the limit of {} levels",
                limits::MAX_NESTING
            ),
            "nots.policy:2:",
        ],
    );
}

#[test]
fn not_chains_within_the_limit_check() {
    // An even number of `not`s: the rule still reads its condition.
    let text = format!(
        "rule r {{ allow approve_mailbox when {}user.upn == \"a\" reason \"x\" }}\n",
        "not ".repeat(limits::MAX_NESTING - 4)
    );
    let d = TempDir::policy_set("few-nots", &[("nots.policy", text.as_bytes())]);
    check_ok(d.path(), "1 rules");
}

// Found by: this suite. Lowering a chain of n `and`s copied the growing list at every
// step (O(n²)); 50,000 terms took about 20 seconds in a debug build.
#[test]
fn and_chain_of_50000_terms_checks_without_a_stack_overflow() {
    let mut cond = String::new();
    for i in 0..50_000 {
        if i > 0 {
            cond.push_str(if i % 8 == 0 { "\n  and " } else { " and " });
        }
        write!(cond, "user.upn != \"u{i}\"").unwrap();
    }
    let text = format!("rule long {{ allow approve_mailbox when {cond} reason \"long\" }}\n");
    let d = TempDir::policy_set("and", &[("and.policy", text.as_bytes())]);
    check_ok(d.path(), "ok: 1 policy files, 1 rules");
}

#[test]
fn or_chain_of_50000_terms_checks() {
    let cond: Vec<String> = (0..50_000)
        .map(|i| format!("user.upn == \"u{i}\""))
        .collect();
    let text = format!(
        "rule long {{ allow approve_mailbox when {} reason \"long\" }}\n",
        cond.join(" or ")
    );
    let d = TempDir::policy_set("or", &[("or.policy", text.as_bytes())]);
    check_ok(d.path(), "1 rules");
}

#[test]
fn twenty_thousand_generated_rules_check() {
    let mut text = String::new();
    for i in 0..20_000 {
        let effect = if i % 3 == 0 { "deny" } else { "allow" };
        writeln!(
            text,
            "rule r{i} {{\n  {effect} approve_mailbox, reject_mailbox\n  when user.upn == \"u{i}@contoso.com\" and mailbox.approval != \"approved\"\n  reason \"generated {i}\"\n}}"
        )
        .unwrap();
    }
    // Spread over several files, as a real set would be.
    let chunks: Vec<&str> = text.split_inclusive("}\n").collect();
    let files: Vec<(String, String)> = chunks
        .chunks(5_000)
        .enumerate()
        .map(|(i, c)| (format!("gen-{i}.policy"), c.concat()))
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_bytes()))
        .collect();
    let d = TempDir::policy_set("twenty-k", &refs);
    check_ok(d.path(), "ok: 4 policy files, 20000 rules");
}

#[test]
fn too_many_rules_is_an_error_that_names_the_limit() {
    let mut text = String::new();
    for i in 0..=limits::MAX_RULES {
        writeln!(text, "rule r{i} {{ allow sync_incoming_email }}").unwrap();
    }
    let d = TempDir::policy_set("too-many", &[("many.policy", text.as_bytes())]);
    let over = limits::MAX_RULES + 1;
    check_fails(
        d.path(),
        &[
            &format!(
                "the policy set has {over} rules, over the limit of {}",
                limits::MAX_RULES
            ),
            &format!("many.policy:{over}:"),
        ],
    );
}

#[test]
fn a_policy_file_over_the_size_limit_is_refused_before_reading() {
    let mut text = b"rule ok { allow sync_incoming_email }\n# ".to_vec();
    text.resize(limits::MAX_FILE_BYTES + 1, b'x');
    let d = TempDir::policy_set("big-policy", &[("big.policy", &text)]);
    check_fails(
        d.path(),
        &[
            &format!("over the limit of {} bytes", limits::MAX_FILE_BYTES),
            "big.policy",
        ],
    );
}

#[test]
fn cyclic_lets_are_an_error() {
    let d = TempDir::policy_set(
        "cycle",
        &[(
            "cycle.policy",
            &std::fs::read(fixture("cyclic-lets.policy")).unwrap(),
        )],
    );
    check_fails(
        d.path(),
        &[
            "`let` definitions refer to each other in a cycle: a -> b -> c -> a",
            "cycle.policy:3:5",
            "cycle: self -> self",
            "cycle.policy:8:5",
        ],
    );
}

// Found by: this suite. Every diagnostic handed the renderer the whole file, so the
// 20,000 errors of this file took a minute to print; now only the lines of each span.
#[test]
fn long_let_chains_are_an_error_that_names_the_limit() {
    let mut text = String::from("let l0 = user.upn == \"a\"\n");
    for i in 1..20_000 {
        writeln!(text, "let l{i} = l{} and user.upn != \"b\"", i - 1).unwrap();
    }
    text.push_str("rule r { allow approve_mailbox when l19999 reason \"r\" }\n");
    let d = TempDir::policy_set("let-chain", &[("chain.policy", text.as_bytes())]);
    check_fails(
        d.path(),
        &[
            &format!(
                "after expanding `let`s, over the limit of {}",
                limits::MAX_EXPANDED_DEPTH
            ),
            "chain.policy:",
        ],
    );
}

#[test]
fn lets_that_double_each_other_are_an_error() {
    let mut text = String::from("let l0 = user.upn == \"a\"\n");
    for i in 1..64 {
        writeln!(text, "let l{i} = l{p} and l{p}", p = i - 1).unwrap();
    }
    text.push_str("rule r { allow approve_mailbox when l63 reason \"r\" }\n");
    let d = TempDir::policy_set("let-double", &[("double.policy", text.as_bytes())]);
    check_fails(
        d.path(),
        &[
            &format!(
                "node count is 1048575 after expanding `let`s, over the limit of {}",
                limits::MAX_EXPANDED_NODES
            ),
            "double.policy:21:5",
        ],
    );
}

// Found by: this suite. Each rule was limited to a million nodes once `let`s were
// expanded, but the set was not: a few lines that each used a let of half a million nodes
// made `check` allocate gigabytes. The whole set now has a budget.
#[test]
fn many_rules_using_a_large_let_are_refused_without_exhausting_memory() {
    let mut text = String::from("let l0 = user.upn == \"a\"\n");
    for i in 1..18 {
        writeln!(text, "let l{i} = l{p} and l{p}", p = i - 1).unwrap();
    }
    for j in 0..1_000 {
        writeln!(text, "rule r{j} {{ allow approve_mailbox when l17 }}").unwrap();
    }
    let d = TempDir::policy_set("let-budget", &[("budget.policy", text.as_bytes())]);
    let r = check_fails(
        d.path(),
        &[
            &format!(
                "node count of the whole policy set is 2097148 after expanding `let`s, over the limit of {}",
                limits::MAX_SET_NODES
            ),
            "budget.policy:22:",
        ],
    );
    // Reported once, not once per rule.
    assert_eq!(r.stderr.matches("whole policy set").count(), 1);
}

// ---- encoding -----------------------------------------------------------------------

#[test]
fn invalid_utf8_in_a_policy_names_the_file_and_line() {
    let d = TempDir::policy_set(
        "utf8-policy",
        &[(
            "bad.policy",
            &std::fs::read(fixture("invalid-utf8.policy")).unwrap(),
        )],
    );
    let r = check_fails(
        d.path(),
        &[
            "file is not valid UTF-8",
            "bad.policy:4:",
            "invalid byte here",
        ],
    );
    // Never silently replaced.
    assert!(!r.stderr.contains('\u{fffd}'), "{}", r.stderr);
}

#[test]
fn binary_policy_file_is_an_error() {
    let noise = binary_noise(64 * 1024, 1);
    let d = TempDir::policy_set("binary-policy", &[("noise.policy", &noise)]);
    check_fails(d.path(), &["file is not valid UTF-8", "noise.policy:"]);
}

#[test]
fn nul_bytes_in_a_policy_are_an_error_with_their_position() {
    let d = TempDir::policy_set(
        "nul-policy",
        &[("nul.policy", &std::fs::read(fixture("nul.policy")).unwrap())],
    );
    check_fails(
        d.path(),
        &[
            "control character U+0000 is not allowed in policy text",
            "nul.policy:5:51",
        ],
    );
}

#[test]
fn control_characters_in_comments_are_an_error() {
    let d = TempDir::policy_set(
        "esc-policy",
        &[(
            "esc.policy",
            b"rule ok { allow sync_incoming_email }\n# hidden \x1b[8m text\n",
        )],
    );
    check_fails(d.path(), &["U+001B", "esc.policy:2:10"]);
}

#[test]
fn invalid_utf8_in_the_schema_is_an_error() {
    let mut schema = SCHEMA.as_bytes().to_vec();
    let at = schema.len() / 2;
    schema.insert(at, 0xc3);
    schema.insert(at + 1, 0x28);
    let d = TempDir::new("utf8-schema");
    d.write("schema.yaml", &schema);
    d.write("a.policy", b"rule ok { allow sync_incoming_email }\n");
    let line = 1 + String::from_utf8_lossy(&schema[..at]).matches('\n').count();
    check_fails(
        d.path(),
        &["file is not valid UTF-8", &format!("schema.yaml:{line}:")],
    );
}

#[test]
fn binary_schema_is_an_error() {
    let d = TempDir::new("binary-schema");
    d.write("schema.yaml", &binary_noise(4096, 2));
    d.write("a.policy", b"rule ok { allow sync_incoming_email }\n");
    check_fails(d.path(), &["file is not valid UTF-8", "schema.yaml:"]);
}

#[test]
fn nul_byte_in_the_schema_is_an_error_with_its_position() {
    let schema = SCHEMA.replacen("plural: users", "plural: us\0ers", 1);
    let line = 1 + schema[..schema.find('\0').unwrap()].matches('\n').count();
    let d = TempDir::new("nul-schema");
    d.write("schema.yaml", schema.as_bytes());
    d.write("a.policy", b"rule ok { allow sync_incoming_email }\n");
    check_fails(
        d.path(),
        &[
            "control character U+0000 is not allowed",
            &format!("schema.yaml:{line}:"),
        ],
    );
}

#[test]
fn invalid_utf8_in_a_scenario_is_an_error() {
    scenario_fails(
        &fixture("invalid-utf8.yaml"),
        &["file is not valid UTF-8", "invalid-utf8.yaml:5:"],
    );
}

#[test]
fn binary_scenario_is_an_error() {
    let d = TempDir::new("binary-scenario");
    let p = d.write("noise.yaml", &binary_noise(8192, 3));
    scenario_fails(&p, &["file is not valid UTF-8", "noise.yaml:"]);
}

// Found by: this suite. The YAML reader rejects a NUL byte but reported it at line 1,
// column 1, wherever it was.
#[test]
fn nul_byte_in_a_scenario_is_reported_at_its_line() {
    scenario_fails(
        &fixture("nul.yaml"),
        &["control character U+0000 is not allowed", "nul.yaml:4:17"],
    );
}

// ---- YAML budgets ---------------------------------------------------------------------

// Found by: this suite. Budget errors came out as `budget breached: Events { events:
// 1000001 }`; they now name the limit.
#[test]
fn yaml_alias_bomb_in_a_scenario_is_an_error_that_names_the_limit() {
    scenario_fails(
        &fixture("alias-bomb.yaml"),
        &[
            &format!(
                "YAML has more than the limit of {} nodes",
                limits::MAX_YAML_NODES
            ),
            "alias-bomb.yaml:",
        ],
    );
}

#[test]
fn yaml_alias_bomb_in_the_schema_is_an_error() {
    let mut schema = SCHEMA.to_owned();
    schema.push_str(&std::fs::read_to_string(fixture("alias-bomb.yaml")).unwrap());
    let d = TempDir::new("bomb-schema");
    d.write("schema.yaml", schema.as_bytes());
    d.write("a.policy", b"rule ok { allow sync_incoming_email }\n");
    check_fails(
        d.path(),
        &["YAML has more than the limit of", "schema.yaml:"],
    );
}

#[test]
fn too_many_yaml_aliases_is_an_error_that_names_the_limit() {
    let uses = vec!["*a"; limits::MAX_YAML_ALIASES + 1].join(", ");
    let d = TempDir::new("aliases");
    let p = d.write(
        "aliases.yaml",
        format!("description: &a many aliases\nrequests: []\nx: [{uses}]\n").as_bytes(),
    );
    scenario_fails(
        &p,
        &[
            &format!(
                "YAML uses more than the limit of {} aliases",
                limits::MAX_YAML_ALIASES
            ),
            "aliases.yaml:3:",
        ],
    );
}

#[test]
fn deep_yaml_in_a_scenario_is_an_error_that_names_the_limit() {
    let limit = format!(
        "YAML is nested deeper than the limit of {} levels",
        limits::MAX_YAML_DEPTH
    );
    let d = TempDir::new("deep-yaml");
    // Flow style, far past the reader's own recursion guard.
    let flow = d.write(
        "flow.yaml",
        format!("description: deep\nrequests: {}\n", "[".repeat(100_000)).as_bytes(),
    );
    scenario_fails(&flow, &[&limit, "flow.yaml:"]);
    // Flow style just past our limit.
    let depth = limits::MAX_YAML_DEPTH + 2;
    let flow = d.write(
        "flow-near.yaml",
        format!(
            "description: deep\nrequests: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
        .as_bytes(),
    );
    scenario_fails(&flow, &[&limit, "flow-near.yaml:2:"]);
    // Block style.
    scenario_fails(&fixture("deep-block.yaml"), &[&limit, "deep-block.yaml:"]);
}

#[test]
fn deep_yaml_in_the_schema_is_an_error() {
    let mut schema = SCHEMA.to_owned();
    schema.push_str("extra:\n");
    for i in 1..100 {
        writeln!(schema, "{}k{i}:", " ".repeat(i)).unwrap();
    }
    let d = TempDir::new("deep-schema");
    d.write("schema.yaml", schema.as_bytes());
    d.write("a.policy", b"rule ok { allow sync_incoming_email }\n");
    check_fails(
        d.path(),
        &["YAML is nested deeper than the limit of", "schema.yaml:"],
    );
}

#[test]
fn huge_yaml_in_a_scenario_is_an_error_that_names_the_limit() {
    let d = TempDir::new("huge-yaml");
    let mut text = String::from("description: huge\nrequests: []\nx: [");
    text.push_str(&"1,".repeat(limits::MAX_YAML_NODES + 10));
    text.push_str("]\n");
    let p = d.write("huge.yaml", text.as_bytes());
    scenario_fails(
        &p,
        &[
            &format!(
                "YAML has more than the limit of {} nodes",
                limits::MAX_YAML_NODES
            ),
            "huge.yaml:3:",
        ],
    );
}

#[test]
fn too_many_scenario_requests_is_an_error_that_names_the_limit() {
    let d = TempDir::new("many-requests");
    let mut text = String::from(
        "org: { version: 9.2.22104.00170 }\nmailboxes:\n  q: { owner_kind: queue, email: q@contoso.com, approval: approved, server: exchange_online }\nrequests:\n",
    );
    for _ in 0..=limits::MAX_SCENARIO_REQUESTS {
        text.push_str("- { action: sync_incoming_email, mailbox: q }\n");
    }
    let p = d.write("many.yaml", text.as_bytes());
    scenario_fails(
        &p,
        &[&format!(
            "over the limit of {}",
            limits::MAX_SCENARIO_REQUESTS
        )],
    );
}

#[test]
fn huge_yaml_in_the_schema_is_an_error() {
    let mut schema = SCHEMA.to_owned();
    schema.push_str("extra: [");
    schema.push_str(&"a,".repeat(limits::MAX_YAML_NODES + 10));
    schema.push_str("]\n");
    let d = TempDir::new("huge-schema");
    d.write("schema.yaml", schema.as_bytes());
    d.write("a.policy", b"rule ok { allow sync_incoming_email }\n");
    check_fails(
        d.path(),
        &["YAML has more than the limit of", "schema.yaml:"],
    );
}

#[test]
fn scenario_and_schema_over_the_size_limit_are_refused() {
    let d = TempDir::new("big-yaml");
    let mut big = b"description: big\nrequests: []\n# ".to_vec();
    big.resize(limits::MAX_FILE_BYTES + 1, b'x');
    let p = d.write("big.yaml", &big);
    let limit = format!("over the limit of {} bytes", limits::MAX_FILE_BYTES);
    scenario_fails(&p, &[&limit, "big.yaml"]);

    let s = TempDir::new("big-schema");
    s.write("schema.yaml", &big);
    s.write("a.policy", b"rule ok { allow sync_incoming_email }\n");
    check_fails(s.path(), &[&limit, "schema.yaml"]);
}

// ---- a broken set is never used ----------------------------------------------------------

#[test]
fn a_policy_set_with_an_error_is_never_used_by_any_command() {
    // One good allow rule, and one file with an error.
    let d = TempDir::policy_set(
        "broken-set",
        &[
            ("a.policy", b"rule open { allow approve_mailbox }\n"),
            (
                "b.policy",
                b"rule broken { allow approve_mailbox when user.nope }\n",
            ),
        ],
    );
    let dir = d.path().to_str().unwrap();
    let scenario = shipped_policies().join("scenarios/approval-exchange-online-dma.yaml");
    let scenario = scenario.to_str().unwrap();
    let batch = format!("{ALLOWED_LINE}\n");
    for (args, stdin) in [
        (vec!["check", "--policies", dir], None),
        (vec!["eval", "--policies", dir, scenario], None),
        (
            vec!["eval", "--policies", dir, "--format", "json", scenario],
            None,
        ),
        (vec!["test", "--policies", dir, scenario], None),
        (vec!["test", "--policies", dir], None),
        (
            vec!["eval", "--policies", dir, "--batch", "-"],
            Some(batch.as_bytes()),
        ),
    ] {
        let r = mailgate(&args, stdin);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            !r.stdout.contains("allow"),
            "{args:?} decided: {}",
            r.stdout
        );
        assert!(r.stderr.contains("b.policy:1:"), "{args:?}: {}", r.stderr);
    }
}

// ---- batch input ------------------------------------------------------------------------

/// Runs `eval --batch -` on the shipped policies and returns the records, after checking
/// that there is exactly one per input line, in order, and that every bad line was denied.
fn batch(input: &[u8]) -> (Run, Vec<serde_json::Value>) {
    let shipped = shipped_policies();
    let r = mailgate(
        &[
            "eval",
            "--policies",
            shipped.to_str().unwrap(),
            "--batch",
            "-",
        ],
        Some(input),
    );
    let lines = input.split(|&b| b == b'\n').count() - usize::from(input.ends_with(b"\n"));
    let records: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        records.len(),
        lines,
        "one record per line; stderr:\n{}",
        tail(&r.stderr)
    );
    for (i, rec) in records.iter().enumerate() {
        assert_eq!(rec["line"], i + 1, "{rec}");
        for key in ["decision", "rules", "reasons", "errors"] {
            assert!(rec.get(key).is_some(), "record lacks `{key}`: {rec}");
        }
        if rec["cause"] == "invalid_request" {
            assert_eq!(rec["decision"], "deny", "a bad line was allowed: {rec}");
            assert!(rec["error"].is_string(), "{rec}");
        }
    }
    (r, records)
}

fn assert_bad(rec: &serde_json::Value, needle: &str) {
    assert_eq!(rec["decision"], "deny", "{rec}");
    assert_eq!(rec["cause"], "invalid_request", "{rec}");
    let error = rec["error"].as_str().unwrap_or_default();
    assert!(error.contains(needle), "error lacks `{needle}`: {rec}");
}

#[test]
fn batch_fixture_every_line_gets_one_record_and_no_bad_line_is_allowed() {
    let input = std::fs::read(fixture("garbage.jsonl")).unwrap();
    let (r, records) = batch(&input);
    assert_eq!(r.code, 1, "bad lines make the run fail");
    // The fixture's first and last lines are the one good request, which is allowed:
    // garbage between them does not stop or shift the run.
    for rec in [&records[0], records.last().unwrap()] {
        assert_eq!(rec["decision"], "allow", "{rec}");
    }
    let bad = records
        .iter()
        .filter(|r| r["cause"] == "invalid_request")
        .count();
    assert_eq!(bad, records.len() - 2, "every other line is bad");
}

#[test]
fn truncated_batch_lines_are_bad_lines() {
    let mut input = Vec::new();
    // Every prefix of a good line: none of them may be allowed.
    for cut in (0..ALLOWED_LINE.len()).step_by(7) {
        input.extend_from_slice(&ALLOWED_LINE.as_bytes()[..cut]);
        input.push(b'\n');
    }
    let (r, records) = batch(&input);
    assert_eq!(r.code, 1);
    for rec in &records {
        assert_bad(rec, "");
    }
}

#[test]
fn garbage_and_binary_batch_lines_are_bad_lines() {
    let mut input = Vec::new();
    for (i, chunk) in binary_noise(64 * 1024, 4).chunks(300).enumerate() {
        // Keep the line count known: no newline inside a line.
        input.extend(chunk.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
        input.push(b'\n');
        if i % 10 == 0 {
            input.extend_from_slice(ALLOWED_LINE.as_bytes());
            input.push(b'\n');
        }
    }
    let (r, records) = batch(&input);
    assert_eq!(r.code, 1);
    let allowed = records.iter().filter(|r| r["decision"] == "allow").count();
    assert_eq!(allowed, 22, "only the good lines are allowed");
}

#[test]
fn deep_json_in_a_batch_line_is_a_bad_line_that_names_the_limit() {
    let limit = format!(
        "JSON nesting is deeper than the limit of {} levels",
        limits::MAX_JSON_DEPTH
    );
    let deep_value = format!(
        "{{\"action\":\"approve_mailbox\",\"user\":{{\"security_roles\":{}{}}}}}",
        "[".repeat(limits::MAX_JSON_DEPTH + 1),
        "]".repeat(limits::MAX_JSON_DEPTH + 1)
    );
    let input = format!(
        "{}\n{}\n{deep_value}\n{ALLOWED_LINE}\n",
        "[".repeat(1_000_000),
        "{\"a\":".repeat(100_000)
    );
    let (r, records) = batch(input.as_bytes());
    assert_eq!(r.code, 1);
    // A deep array is not even an object; the other two go over the depth limit.
    assert_bad(&records[0], "");
    for rec in &records[1..3] {
        assert_bad(rec, &limit);
    }
    assert_eq!(records[3]["decision"], "allow");
}

#[test]
fn very_long_batch_lines_are_bad_lines_that_name_the_limit() {
    let long_string = format!(
        "{{\"action\":\"approve_mailbox\",\"user\":{{\"upn\":\"{}\"}}}}",
        "a".repeat(limits::MAX_BATCH_LINE_BYTES)
    );
    let mut spaces = ALLOWED_LINE.to_owned();
    spaces.insert_str(1, &" ".repeat(limits::MAX_BATCH_LINE_BYTES));
    let input = format!(
        "{long_string}\n{ALLOWED_LINE}\n{spaces}\n{}\n{ALLOWED_LINE}\n",
        "x".repeat(5 * limits::MAX_BATCH_LINE_BYTES)
    );
    let (r, records) = batch(input.as_bytes());
    assert_eq!(r.code, 1);
    let limit = format!("over the limit of {} bytes", limits::MAX_BATCH_LINE_BYTES);
    for i in [0, 2, 3] {
        assert_bad(&records[i], &limit);
    }
    for i in [1, 4] {
        assert_eq!(records[i]["decision"], "allow", "{}", records[i]);
    }
}

#[test]
fn nul_bytes_and_invalid_utf8_in_batch_lines_are_bad_lines() {
    let mut input = Vec::new();
    input.extend_from_slice(b"\0\n");
    input.extend_from_slice(&ALLOWED_LINE.as_bytes()[..40]);
    input.push(0);
    input.extend_from_slice(&ALLOWED_LINE.as_bytes()[40..]);
    input.push(b'\n');
    // Invalid UTF-8 inside a string value.
    let bad_utf8 = ALLOWED_LINE.replacen("a@contoso.com", "a@cont\u{1}oso.com", 1);
    let mut bytes = bad_utf8.into_bytes();
    let at = bytes.iter().position(|&b| b == 1).unwrap();
    bytes[at] = 0xff;
    input.extend_from_slice(&bytes);
    input.push(b'\n');
    // An escaped NUL in a key and in an enum value.
    input.extend_from_slice(
        ALLOWED_LINE
            .replacen("\"user\"", "\"user\\u0000\"", 1)
            .as_bytes(),
    );
    input.push(b'\n');
    input.extend_from_slice(
        ALLOWED_LINE
            .replacen("pending_approval", "pending_approval\\u0000", 1)
            .as_bytes(),
    );
    input.push(b'\n');
    let (r, records) = batch(&input);
    assert_eq!(r.code, 1);
    for rec in &records {
        assert_bad(rec, "");
    }
}

#[test]
fn batch_lines_that_do_not_fit_the_schema_are_bad_lines() {
    let cases = [
        (
            ALLOWED_LINE.replacen("approve_mailbox", "approve_mailboxes", 1),
            "unknown action",
        ),
        (
            ALLOWED_LINE.replacen("pending_approval", "Pending Approval", 1),
            "Pending Approval",
        ),
        (
            ALLOWED_LINE.replacen("\"System Administrator\"", "\"System Admin\"", 1),
            "System Admin",
        ),
        (
            ALLOWED_LINE.replacen("\"9.2.22104.00170\"", "9.2", 1),
            "version",
        ),
        (
            ALLOWED_LINE.replacen("\"9.2.22104.00170\"", "\"nine\"", 1),
            "nine",
        ),
        (ALLOWED_LINE.replacen("\"a@contoso.com\"", "17", 1), "email"),
        (
            r#"{"action":"approve_mailbox","org":{},"user":{"security_roles":[]}}"#.to_owned(),
            "mailbox",
        ),
        (r#"{"org":{}}"#.to_owned(), "action"),
        (r#"["approve_mailbox"]"#.to_owned(), ""),
        (r#""approve_mailbox""#.to_owned(), ""),
        (format!("{ALLOWED_LINE} {ALLOWED_LINE}"), ""),
        (format!("{ALLOWED_LINE}}}"), ""),
    ];
    let input: String = cases.iter().fold(String::new(), |mut s, (l, _)| {
        s.push_str(l);
        s.push('\n');
        s
    });
    let (r, records) = batch(input.as_bytes());
    assert_eq!(r.code, 1);
    for (rec, (line, needle)) in records.iter().zip(&cases) {
        assert_eq!(rec["cause"], "invalid_request", "{line}: {rec}");
        assert_bad(rec, needle);
    }
}

#[test]
fn missing_attributes_in_batch_lines_fail_closed_and_report_errors() {
    // Drop each attribute the allow rule reads: the line is a valid request, the value is
    // missing at run time, and the decision must be deny with the error reported.
    let removals = [
        (
            "\"security_roles\":[\"System Administrator\",\"Delegated Mailbox Approver\"],",
            "",
        ),
        ("\"approval\":\"pending_approval\",", ""),
        ("\"server\":\"exchange_online\"", "\"email2\":1"),
        ("\"version\":\"9.2.22104.00170\"", ""),
    ];
    let mut input = String::new();
    for (from, to) in removals {
        let line = ALLOWED_LINE.replacen(from, to, 1);
        assert_ne!(line, ALLOWED_LINE);
        input.push_str(&line);
        input.push('\n');
    }
    let (_, records) = batch(input.as_bytes());
    for rec in &records {
        assert_eq!(rec["decision"], "deny", "{rec}");
        if rec["cause"] != "invalid_request" {
            assert!(
                !rec["errors"].as_array().unwrap().is_empty(),
                "errors are reported: {rec}"
            );
        }
    }
    // Missing `security_roles`, `approval` and `version` are run-time errors, not bad lines.
    for i in [0, 1, 3] {
        assert_ne!(records[i]["cause"], "invalid_request", "{}", records[i]);
    }
    // A missing `approval` makes the `no-reapproval` deny rule match: explicit deny.
    assert_eq!(records[1]["cause"], "denied_by_rule", "{}", records[1]);
}

#[test]
fn batch_from_a_file_with_a_missing_final_newline_and_blank_lines() {
    let d = TempDir::new("batch-file");
    let p = d.write(
        "in.jsonl",
        format!("{ALLOWED_LINE}\n\n   \n{ALLOWED_LINE}\r\n{ALLOWED_LINE}").as_bytes(),
    );
    let shipped = shipped_policies();
    let r = mailgate(
        &[
            "eval",
            "--policies",
            shipped.to_str().unwrap(),
            "--batch",
            p.to_str().unwrap(),
        ],
        None,
    );
    let records: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5, "{}", r.stdout);
    for (i, rec) in records.iter().enumerate() {
        assert_eq!(rec["line"], i + 1);
        let expected = if i == 1 || i == 2 { "deny" } else { "allow" };
        assert_eq!(rec["decision"], expected, "{rec}");
    }
}

#[test]
fn a_batch_file_that_does_not_exist_is_an_error() {
    let shipped = shipped_policies();
    let r = mailgate(
        &[
            "eval",
            "--policies",
            shipped.to_str().unwrap(),
            "--batch",
            "/nonexistent/mailgate/input.jsonl",
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("/nonexistent/mailgate/input.jsonl"));
}

// ---- malformed schemas ----------------------------------------------------------------

// Found by review: a schema with actions but no context or entities indexed an empty
// entity list while checking slot names, and the binary panicked (exit 101).
#[test]
fn a_schema_with_actions_but_no_context_or_entities_is_an_error() {
    let d = TempDir::new("no-context");
    d.write("schema.yaml", b"actions:\n  a: {}\n");
    d.write("a.policy", b"rule ok { allow a }\n");
    check_fails(
        d.path(),
        &[
            "schema.yaml:1:1",
            "missing key `context`",
            "schema.yaml:2:6",
            "missing key `slots` for action `a`",
        ],
    );
}

#[test]
fn malformed_schemas_are_errors_with_their_line() {
    let cases: &[(&str, &str)] = &[
        (
            "actions:\n  a: { slots: { u: user } }\n",
            "unknown entity type `user`",
        ),
        (
            "context: { name: org }\nactions:\n  a: { slots: { org: user } }\n",
            "schema.yaml:3:",
        ),
        (
            "context: { name: org }\nactions:\n  a: { slots: { u: org } }\n",
            "unknown entity type `org`",
        ),
        ("context: 3\nactions: {}\n", "schema.yaml:1:10"),
        ("context: { name: org }\nactions: []\n", "schema.yaml:2:10"),
        (
            "entities: { u: {} }\ncontext: {}\nactions: {}\n",
            "schema.yaml:1:",
        ),
        (
            "enums: { e: 3 }\ncontext: { name: org }\nactions: {}\n",
            "schema.yaml:1:",
        ),
        ("", "schema.yaml:1:1"),
        ("[]\n", "schema.yaml:1:1"),
    ];
    for (i, (schema, needle)) in cases.iter().enumerate() {
        let d = TempDir::new(&format!("bad-schema-{i}"));
        d.write("schema.yaml", schema.as_bytes());
        d.write("a.policy", b"rule ok { allow a }\n");
        check_fails(d.path(), &[needle]);
    }
}

// ---- size: loading stays linear ----------------------------------------------------------
//
// Each input below is built at n and at 4n, and the run at 4n must take at most 8 times as
// long as the run at n (a linear path takes about 4 times, a quadratic one 16). The larger
// size is also large enough that a quadratic path would run into the runner's watchdog;
// the benchmark `loading` shows the growth.

const MANY: usize = 40_000;

/// Builds an input at `MANY / 4` and at `MANY`, runs `run` on each three times, and asserts
/// that the fastest run at 4n took at most 8 times the fastest at n (both at least 50 ms, the
/// process's own start-up, so that noise around a tiny figure cannot fail it).
fn assert_linear<T>(build: impl Fn(usize) -> T, run: impl Fn(&T)) {
    assert_linear_from(MANY / 4, build, run);
}

/// [`assert_linear`] at `n` and `4 * n`.
fn assert_linear_from<T>(n: usize, build: impl Fn(usize) -> T, run: impl Fn(&T)) {
    let fastest = |n: usize| {
        let input = build(n);
        (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                run(&input);
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let (t1, t4) = (fastest(n), fastest(4 * n));
    assert!(
        t4 <= 8.0 * t1.max(0.05),
        "n = {n}: {t1:.3} s, 4n = {}: {t4:.3} s (more than 8 times: not linear)",
        4 * n
    );
}

/// A folder with `schema` and one small policy.
fn schema_dir(name: &str, schema: &str) -> TempDir {
    let d = TempDir::new(name);
    d.write("schema.yaml", schema.as_bytes());
    d.write("a.policy", b"rule ok { allow a0 }\n");
    d
}

/// `check` on a schema of every size, expected to fail naming `needle` (each schema below
/// ends with a mistake that needs the rest of it to be found), in linear time.
fn big_schema_fails_in_linear_time(name: &str, schema: impl Fn(usize) -> String, needle: &str) {
    assert_linear(
        |n| schema_dir(name, &schema(n)),
        |d| {
            check_fails(d.path(), &[needle, "schema.yaml:"]);
        },
    );
}

fn big_schema(enums: &str, entities: &str, actions: &str) -> String {
    let enums = if enums.is_empty() {
        " {}\n".to_owned()
    } else {
        format!("\n{enums}")
    };
    format!(
        "enums:{enums}entities:\n  user:\n    plural: users\n    attributes: {{ level: {{ type: int }} }}\n{entities}context:\n  name: org\nactions:\n  a0: {{ slots: {{ user: user }} }}\n{actions}"
    )
}

#[test]
fn a_schema_with_many_enums_loads_in_linear_time() {
    let schema = |n: usize| {
        let mut enums = String::new();
        for i in 0..n {
            writeln!(enums, "  e{i}: [a, b]").unwrap();
        }
        let actions = format!(
            "  last: {{ slots: {{ user: user }}, params: {{ p: e{}x }} }}\n",
            n - 1
        );
        big_schema(&enums, "", &actions)
    };
    // The misspelt type's name is checked at 4n (the text differs only in its number).
    assert_linear(
        |n| {
            (
                schema_dir("many-enums", &schema(n)),
                format!("unknown type `e{}x`", n - 1),
            )
        },
        |(d, needle)| {
            check_fails(d.path(), &[needle, "schema.yaml:"]);
        },
    );
}

#[test]
fn a_schema_with_many_entity_types_loads_in_linear_time() {
    big_schema_fails_in_linear_time(
        "many-entities",
        |n| {
            let mut entities = String::new();
            for i in 0..n {
                writeln!(entities, "  t{i}: {{ plural: p{i} }}").unwrap();
            }
            entities.push_str("  extra: { plural: p3 }\n");
            big_schema("", &entities, "")
        },
        "duplicate plural `p3`",
    );
}

/// `n - 1` actions with a parameter each, one action with `n` slots and a clash, and a last
/// action with an unknown entity type.
fn many_actions_and_slots(n: usize) -> String {
    let mut actions = String::new();
    for i in 1..n {
        writeln!(
            actions,
            "  a{i}: {{ slots: {{ user: user }}, params: {{ p{i}: int }} }}"
        )
        .unwrap();
    }
    let slots: Vec<String> = (0..n).map(|i| format!("s{i}: user")).collect();
    writeln!(
        actions,
        "  wide: {{ slots: {{ {} }}, params: {{ s5: int }} }}",
        slots.join(", ")
    )
    .unwrap();
    actions.push_str("  last: { slots: { user: usr } }\n");
    big_schema("", "", &actions)
}

#[test]
fn a_schema_with_many_actions_and_slots_loads_in_linear_time() {
    assert_linear(
        |n| schema_dir("many-slots", &many_actions_and_slots(n)),
        |d| {
            check_fails(
                d.path(),
                &[
                    "duplicate slot or parameter `s5`",
                    "unknown entity type `usr`",
                    "schema.yaml:",
                ],
            );
        },
    );
}

#[test]
fn an_entity_with_many_attributes_loads_in_linear_time() {
    big_schema_fails_in_linear_time(
        "many-attrs",
        |n| {
            let attrs: Vec<String> = (0..n).map(|i| format!("x{i}: {{ type: int }}")).collect();
            let entities = format!(
                "  wide:\n    plural: wides\n    attributes: {{ {}, last: {{ type: x11 }} }}\n",
                attrs.join(", ")
            );
            big_schema("", &entities, "")
        },
        "unknown type `x11`",
    );
}

#[test]
fn many_unknown_names_with_many_candidates_stay_linear() {
    // n lets, and n uses of names that are not lets: each unknown name gets a did-you-mean,
    // which looks at a bounded number of candidates (`MAX_SUGGESTION_CANDIDATES`, 2,000, so
    // from n = 2,000 on each name costs the same, and a quadratic path would show).
    assert_linear_from(
        2_000,
        |n| {
            let mut text = String::new();
            for i in 0..n {
                writeln!(text, "let l{i} = user.upn == \"u{i}\"").unwrap();
            }
            let uses: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            writeln!(
                text,
                "rule r {{ allow approve_mailbox when {} reason \"x\" }}",
                uses.join("\n  or ")
            )
            .unwrap();
            let d = TempDir::policy_set("unknown-names", &[("a.policy", text.as_bytes())]);
            // Every unknown name is an error; `check` prints the first 100 and counts the rest.
            (d, format!("and {} more errors", n - 100))
        },
        |(d, more)| {
            check_fails(d.path(), &["unknown name `m0`", "a.policy:", more]);
        },
    );
}

#[test]
fn a_scenario_with_many_entities_and_unknown_keys_loads_in_linear_time() {
    assert_linear(
        |n| {
            let mut text = String::from("org: { version: 9.2.22104.00170 }\nusers:\n");
            for i in 0..n {
                writeln!(text, "  u{i}: {{ security_roles: [], upn: u{i} }}").unwrap();
            }
            text.push_str("mailboxes:\n  m:\n    owner_kind: user\n    email: a@b.c\n    approval: approved\n    server: exchange_online\n");
            for i in 0..n {
                writeln!(text, "    junk{i}: 1").unwrap();
            }
            text.push_str("requests:\n");
            for i in 0..n {
                writeln!(
                    text,
                    "  - {{ action: approve_mailbox, user: u{i}, mailbox: m }}"
                )
                .unwrap();
            }
            let d = TempDir::new("big-scenario");
            let p = d.write("big.yaml", text.as_bytes());
            (d, p, format!("`mailbox` has no attribute `junk{}`", n - 1))
        },
        |(_, p, needle)| {
            scenario_fails(p, &[needle, "big.yaml:"]);
        },
    );
}

// ---- hostile folders (issue 19) ------------------------------------------------------

/// The shipped policy files (not the scenarios), name and bytes.
fn shipped_files() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(shipped_policies())
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A Kubernetes `ConfigMap` volume holding the shipped policy files, laid out as kubelet
/// does: the files in `..2026_12_05_13_00_00.000000001/`, `..data` linking to it, and one
/// link per key (`approval.policy -> ..data/approval.policy`).
fn configmap_volume() -> TempDir {
    let d = TempDir::new("configmap");
    let stamp = "..2026_12_05_13_00_00.000000001";
    std::fs::create_dir(d.path().join(stamp)).unwrap();
    for (name, bytes) in shipped_files() {
        std::fs::write(d.path().join(stamp).join(&name), bytes).unwrap();
        std::os::unix::fs::symlink(format!("..data/{name}"), d.path().join(&name)).unwrap();
    }
    std::os::unix::fs::symlink(stamp, d.path().join("..data")).unwrap();
    d
}

/// `ok: N policy files, ...` for the shipped set, counted from the folder.
fn shipped_policy_count() -> usize {
    shipped_files()
        .iter()
        .filter(|(n, _)| n.ends_with(".policy"))
        .count()
}

#[test]
fn a_kubernetes_configmap_volume_loads_each_file_once_in_check() {
    let d = configmap_volume();
    let shipped = mailgate(
        &["check", "--policies", shipped_policies().to_str().unwrap()],
        None,
    );
    assert_eq!(shipped.code, 0, "{}", shipped.stderr);
    let r = mailgate(&["check", "--policies", d.path().to_str().unwrap()], None);
    assert_eq!(r.code, 0, "stderr:\n{}", tail(&r.stderr));
    assert!(
        r.stdout
            .starts_with(&format!("ok: {} policy files,", shipped_policy_count())),
        "{}",
        r.stdout
    );
    // The same set as the shipped folder: same rules, same actions.
    assert_eq!(r.stdout, shipped.stdout);
}

#[test]
fn a_kubernetes_configmap_volume_loads_in_serve() {
    use std::io::{BufRead, BufReader};
    let d = configmap_volume();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--policies"])
        .arg(d.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("listening on ") {
                let _ = tx.send(Ok(seen.clone()));
            }
        }
        let _ = tx.send(Err(seen));
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(60));
    let _ = child.kill();
    let status = child.wait().unwrap();
    match got {
        Ok(Ok(seen)) => assert!(!seen.contains("error"), "{seen}"),
        Ok(Err(seen)) => panic!("serve did not start ({status}):\n{}", tail(&seen)),
        Err(e) => panic!("serve did not start within 60 s: {e}"),
    }
}

#[test]
fn a_link_to_outside_the_policy_folder_is_refused_and_not_read() {
    let outside = TempDir::new("outside");
    let secret = outside.write(
        "secret.policy",
        b"# SECRET-TOKEN-1234\nrule leaked { allow approve_mailbox }\n",
    );
    let d = TempDir::policy_set("link-out", &[]);
    std::os::unix::fs::symlink(&secret, d.path().join("env.policy")).unwrap();
    let r = check_fails(d.path(), &["links outside the policy folder", "env.policy"]);
    assert!(!r.stderr.contains("SECRET-TOKEN"), "{}", r.stderr);
    // The same for a link to a file that is not a policy at all.
    let d2 = TempDir::policy_set("link-environ", &[]);
    std::os::unix::fs::symlink("/proc/self/environ", d2.path().join("env.policy")).unwrap();
    check_fails(
        d2.path(),
        &["links outside the policy folder", "env.policy"],
    );
}

#[test]
fn a_link_to_dev_zero_is_refused_without_reading() {
    let d = TempDir::policy_set("dev-zero", &[]);
    std::os::unix::fs::symlink("/dev/zero", d.path().join("zero.policy")).unwrap();
    check_fails(
        d.path(),
        &["zero.policy", "links outside the policy folder"],
    );
}

#[test]
fn a_fifo_in_the_policy_folder_is_an_error_not_a_hang() {
    let d = TempDir::policy_set("fifo", &[]);
    let fifo = d.path().join("pipe.policy");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        assert!(std::env::var("CI").is_err(), "mkfifo is needed under CI");
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    check_fails(d.path(), &["pipe.policy", "is a FIFO"]);
    // Named on the command line too (`fmt`), it is refused the same way.
    let r = mailgate(&["fmt", "--check", fifo.to_str().unwrap()], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is a FIFO"), "{}", r.stderr);
}

#[test]
fn a_device_named_on_the_command_line_is_refused() {
    let r = mailgate(&["fmt", "--check", "/dev/zero"], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is a device"), "{}", r.stderr);
}

#[test]
fn a_file_linked_twice_inside_the_folder_is_read_once() {
    let d = TempDir::policy_set(
        "linked-twice",
        &[("a.policy", b"rule r { allow approve_mailbox }\n")],
    );
    std::os::unix::fs::symlink("a.policy", d.path().join("b.policy")).unwrap();
    check_ok(d.path(), "ok: 1 policy files, 1 rules");
}

#[test]
fn hidden_entries_are_skipped_in_every_walk() {
    let d = TempDir::policy_set(
        "hidden",
        &[("a.policy", b"rule r { allow approve_mailbox }\n")],
    );
    std::fs::create_dir(d.path().join(".git")).unwrap();
    d.write(".git/x.policy", b"rule r { allow approve_mailbox }\n");
    d.write(".swap.policy", b"not a policy at all\n");
    check_ok(d.path(), "ok: 1 policy files, 1 rules");
    let r = mailgate(&["fmt", "--check", d.path().to_str().unwrap()], None);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains(".swap") && !all.contains(".git"), "{all}");
}

#[test]
fn a_scenario_folder_link_to_outside_is_refused() {
    let outside = TempDir::new("outside-scenario");
    let secret = outside.write("s.yaml", b"SECRET-SCENARIO: 1\n");
    let d = TempDir::new("scenario-link");
    std::os::unix::fs::symlink(&secret, d.path().join("s.yaml")).unwrap();
    let r = mailgate(
        &[
            "test",
            "--policies",
            shipped_policies().to_str().unwrap(),
            d.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("links outside the scenario folder"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("SECRET"), "{}", r.stderr);
}

#[test]
fn load_order_is_by_path_component() {
    // `a/b.policy` and `a.policy` sort differently as strings ('.' < '/') and as paths;
    // every loader (folder, built-in set, language server) uses the path order. The
    // language server's side is `lsp::workspace::tests::loads_in_the_folder_order`.
    use mailgate::files::load_order;
    let mut names = ["policies/a.policy", "policies/a/b.policy"];
    names.sort_by(|a, b| load_order(a, b));
    assert_eq!(names, ["policies/a/b.policy", "policies/a.policy"]);
}

#[test]
fn a_lone_carriage_return_is_an_error_at_its_line_and_column() {
    // Terminals and editors show a rule on the second line; the parser saw a comment.
    let d = TempDir::policy_set(
        "lone-cr",
        &[("cr.policy", b"# note\rrule r { allow approve_mailbox }\n")],
    );
    check_fails(
        d.path(),
        &[
            "a carriage return without a line feed (U+000D)",
            "cr.policy:1:7",
        ],
    );
}

#[test]
fn trojan_source_characters_are_errors_with_line_and_column() {
    for (c, what) in [
        ('\u{2028}', "a line separator"),
        ('\u{2029}', "a paragraph separator"),
        ('\u{200B}', "a zero-width character"),
        ('\u{2060}', "a zero-width character"),
        ('\u{FEFF}', "a zero-width character"),
        ('\u{202E}', "control character U+202E"),
        ('\u{2067}', "control character U+2067"),
    ] {
        let text = format!("rule r {{ allow approve_mailbox }}\n# é{c}\n");
        let d = TempDir::policy_set("trojan", &[("t.policy", text.as_bytes())]);
        check_fails(d.path(), &[what, "t.policy:2:4"]);
    }
}

#[test]
fn a_byte_order_mark_at_the_start_of_a_policy_is_skipped() {
    let d = TempDir::policy_set(
        "bom",
        &[(
            "bom.policy",
            "\u{FEFF}rule r { allow approve_mailbox }\n".as_bytes(),
        )],
    );
    check_ok(d.path(), "ok: 1 policy files, 1 rules");
}

#[test]
fn a_bad_first_token_names_what_was_expected() {
    let d = TempDir::policy_set("first-token", &[("f.policy", b"foo bar\n")]);
    check_fails(
        d.path(),
        &[
            "expected `let`, `rule` or `invariant`, found `foo`",
            "f.policy:1:1",
        ],
    );
}

/// `mailgate check` on a set whose schema is the shipped one with `from` replaced by `to`,
/// expected to fail with a schema error naming `needle` at `schema.yaml:LINE:COLUMN`.
fn schema_edit_fails(from: &str, to: &str, needles: &[&str]) {
    assert!(SCHEMA.contains(from), "{from}");
    let schema = SCHEMA.replacen(from, to, 1);
    let d = TempDir::new("schema-name");
    d.write("schema.yaml", schema.as_bytes());
    let r = check_fails(d.path(), needles);
    // The position is the name's own line and column.
    let offset = schema.find(to).unwrap() + to.find(needles[0].trim_matches('`')).unwrap_or(0);
    let line = schema[..offset].matches('\n').count() + 1;
    let column = schema[..offset]
        .rsplit('\n')
        .next()
        .unwrap()
        .chars()
        .count()
        + 1;
    assert!(
        r.stderr.contains(&format!("schema.yaml:{line}:{column}")),
        "want schema.yaml:{line}:{column}:\n{}",
        r.stderr
    );
}

#[test]
fn schema_names_policies_cannot_write_are_schema_errors() {
    schema_edit_fails(
        "  sync_incoming_email:",
        "  sync-email:",
        &[
            "`sync-email`",
            "action `sync-email` cannot be written in a policy",
        ],
    );
    schema_edit_fails(
        "  reject_mailbox:",
        "  deny:",
        &[
            "`deny`",
            "action `deny` cannot be written in a policy",
            "keyword",
        ],
    );
    schema_edit_fails(
        "      profile_active:",
        "      is-active:",
        &[
            "`is-active`",
            "attribute `is-active` cannot be written in a policy",
        ],
    );
    schema_edit_fails(
        "  owner_kind: [",
        "  owner kind: [",
        &[
            "`owner kind`",
            "enum `owner kind` cannot be written in a policy",
        ],
    );
    schema_edit_fails(
        "{ slots: { mailbox: mailbox } }",
        "{ slots: { when: mailbox } }",
        &[
            "`when`",
            "slot or parameter `when` cannot be written in a policy",
        ],
    );
    schema_edit_fails(
        "[user, queue, forward]",
        "[user, queue, \"for\\u200Bward\"]",
        &["\"for", "enum member", "cannot be written in a policy"],
    );
}

#[test]
fn slot_names_that_are_scenario_keys_are_schema_errors() {
    for key in ["action", "expect"] {
        schema_edit_fails(
            "{ slots: { mailbox: mailbox } }",
            &format!("{{ slots: {{ {key}: mailbox }} }}"),
            &[
                &format!("`{key}`"),
                &format!("slot or parameter name `{key}` is reserved"),
            ],
        );
    }
}

/// A policy set with one rule that lists `approve_mailbox` `n` times (n - 1 errors, all
/// on one line).
fn repeated_actions(n: usize) -> TempDir {
    let text = format!(
        "rule r {{ allow {} }}\n",
        vec!["approve_mailbox"; n].join(", ")
    );
    TempDir::policy_set("repeated", &[("r.policy", text.as_bytes())])
}

/// The fastest of three runs of `check` on `dir`, in seconds.
fn check_seconds(dir: &Path) -> f64 {
    (0..3)
        .map(|_| {
            let start = std::time::Instant::now();
            let r = mailgate(&["check", "--policies", dir.to_str().unwrap()], None);
            assert_eq!(r.code, 1);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn many_errors_on_one_long_line_cost_linear_time() {
    // Each error used to render its whole line: n errors on a line of n names was
    // quadratic (over 10 minutes at 100,000). The same input at n and at 4n must take at
    // most 8 times as long.
    let small = repeated_actions(25_000);
    let large = repeated_actions(100_000);
    let (t1, t4) = (check_seconds(small.path()), check_seconds(large.path()));
    assert!(t4 <= 8.0 * t1.max(0.05), "n: {t1:.3} s, 4n: {t4:.3} s");
}

#[test]
fn check_prints_a_hundred_errors_then_counts_the_rest() {
    let d = repeated_actions(1_000);
    let r = check_fails(d.path(), &["… and 899 more errors", "has 999 errors"]);
    assert_eq!(r.stderr.matches("is listed twice").count(), 100);
    // The location of an error far along the line is its real column.
    let column = "rule r { allow ".len() + 50 * "approve_mailbox, ".len() + 1;
    assert!(
        r.stderr.contains(&format!("r.policy:1:{column}\n")),
        "{}",
        tail(&r.stderr)
    );
    let r = mailgate(
        &[
            "check",
            "--max-errors",
            "3",
            "--policies",
            d.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.stderr.matches("is listed twice").count(), 3);
    assert!(
        r.stderr.contains("… and 996 more errors"),
        "{}",
        tail(&r.stderr)
    );
    // JSON output keeps every error.
    let r = mailgate(
        &[
            "check",
            "--format",
            "json",
            "--policies",
            d.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.stdout.matches("is listed twice").count(), 999);
}

/// One LSP message with its `Content-Length` header.
fn lsp_frame(out: &mut Vec<u8>, msg: &serde_json::Value) {
    let body = msg.to_string();
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
}

#[test]
fn the_language_server_survives_a_uri_with_130000_components() {
    // Found by: issue 19 (canonical() recursed once per component and overflowed the stack).
    let uri = format!("file:///{}x.policy", "a/".repeat(130_000));
    let mid = format!("file:///tmp/{}x.policy", "a/".repeat(1_500));
    let mut input = Vec::new();
    lsp_frame(
        &mut input,
        &serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {}, "rootUri": uri } }),
    );
    lsp_frame(
        &mut input,
        &serde_json::json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }),
    );
    for u in [&uri, &mid] {
        let doc = serde_json::json!({ "uri": u });
        lsp_frame(
            &mut input,
            &serde_json::json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": { "uri": u, "languageId": "mailgate", "version": 1, "text": "rule r { allow approve_mailbox }\n" } } }),
        );
        lsp_frame(
            &mut input,
            &serde_json::json!({ "jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": { "textDocument": doc, "position": { "line": 0, "character": 16 } } }),
        );
        lsp_frame(
            &mut input,
            &serde_json::json!({ "jsonrpc": "2.0", "method": "textDocument/didClose", "params": { "textDocument": doc } }),
        );
    }
    lsp_frame(
        &mut input,
        &serde_json::json!({ "jsonrpc": "2.0", "id": 3, "method": "shutdown" }),
    );
    lsp_frame(
        &mut input,
        &serde_json::json!({ "jsonrpc": "2.0", "method": "exit" }),
    );
    let r = mailgate(&["lsp"], Some(&input));
    assert_eq!(r.code, 0, "stderr:\n{}", tail(&r.stderr));
    assert!(r.stdout.contains("\"id\":3"), "no answer to shutdown");
}
