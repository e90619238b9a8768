//! Shared helpers: repository paths, a fluent runner for the real `mailgate` binary,
//! loading policy sets from texts, and the insta settings every snapshot suite uses.

use mailgate::diagnostics::render_all;
use mailgate::policy_set::{self, Loaded};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root (where `Cargo.toml` is).
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under the repository root.
pub(crate) fn repo_path(rel: &str) -> PathBuf {
    repo().join(rel)
}

/// Reads a file under the repository root, with CRLF normalised to LF.
pub(crate) fn read(rel: &str) -> String {
    let path = repo_path(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .replace("\r\n", "\n")
}

/// The shipped schema text.
pub(crate) fn shipped_schema() -> String {
    read("policies/schema.yaml")
}

/// Settings shared by every snapshot: no module prefix, no expression in the header.
pub(crate) fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s.set_snapshot_path(repo_path("tests/snapshots"));
    s
}

/// Loads a policy set from texts; on failure returns the rendered diagnostics.
pub(crate) fn load_texts(schema: &str, files: &[(&str, &str)]) -> Result<Loaded, String> {
    policy_set::load_texts(schema, files)
        .map_err(|failure| render_all(&failure.diagnostics, &failure.sources))
}

/// Loads a policy set that must be valid.
pub(crate) fn load_ok(schema: &str, files: &[(&str, &str)]) -> Loaded {
    load_texts(schema, files).unwrap_or_else(|diags| panic!("policy set has errors:\n{diags}"))
}

/// Loads a policy set that must be invalid; returns the rendered diagnostics.
pub(crate) fn load_err(schema: &str, files: &[(&str, &str)]) -> String {
    match load_texts(schema, files) {
        Ok(_) => panic!("policy set loaded, but errors were expected"),
        Err(diags) => diags,
    }
}

/// A fresh, empty folder under the system temp dir, unique to this process and `name`.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailgate-tests-{}-{name}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a folder recursively.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A run of the real `mailgate` binary, built fluently.
#[must_use]
pub(crate) struct Mailgate {
    args: Vec<String>,
    dir: PathBuf,
    stdin: Option<Vec<u8>>,
    watchdog: std::time::Duration,
}

/// How long a run may take before the runner kills it and fails the test as a hang. It is
/// a watchdog, not a performance check: it is long enough for a loaded, slow machine, and
/// catches a hang or a quadratic blow-up on a large input, which would take far longer.
pub(crate) const WATCHDOG: std::time::Duration = std::time::Duration::from_secs(300);

/// `mailgate ARGS...`, run from the repository root unless [`Mailgate::dir`] says otherwise.
pub(crate) fn mailgate(args: &[&str]) -> Mailgate {
    Mailgate {
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        dir: repo(),
        stdin: None,
        watchdog: WATCHDOG,
    }
}

impl Mailgate {
    /// Adds an argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(arg.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Runs in `dir`.
    pub(crate) fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// Feeds `text` on standard input.
    pub(crate) fn stdin(mut self, text: impl Into<String>) -> Self {
        self.stdin = Some(text.into().into_bytes());
        self
    }

    /// Feeds raw bytes on standard input.
    pub(crate) fn stdin_bytes(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// Runs the binary and collects its output.
    pub(crate) fn run(self) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start mailgate");
        if let Some(input) = self.stdin {
            // Written from a thread, so a large input cannot dead-lock against a full
            // stdout; a command that does not read its input may close the pipe early.
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        // The watchdog kills the run (by its process id) if it has not ended in time.
        let pid = child.id().to_string();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let watchdog = self.watchdog;
        let guard = std::thread::spawn(move || {
            let timed_out = matches!(
                finished.recv_timeout(watchdog),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
            if timed_out {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
            timed_out
        });
        let out = child.wait_with_output().unwrap();
        let _ = done.send(());
        let timed_out = guard.join().unwrap_or(false);
        assert!(
            !timed_out,
            "`mailgate {}` did not end within {:?} (a hang or a quadratic blow-up)",
            self.args.join(" "),
            self.watchdog
        );
        let code = out.status.code().expect("mailgate was killed by a signal");
        let output = Output {
            args: self.args.join(" "),
            stdout: String::from_utf8(out.stdout).expect("stdout is not UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is not UTF-8"),
            code,
        };
        assert_ne!(code, 101, "mailgate panicked:\n{}", output.stderr);
        assert!(
            !output.stderr.contains("panicked"),
            "mailgate panicked:\n{}",
            output.stderr
        );
        output
    }
}

/// What a run printed and how it exited.
#[derive(Debug)]
pub(crate) struct Output {
    /// The arguments, for messages.
    pub(crate) args: String,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
    /// The exit code.
    pub(crate) code: i32,
}

impl Output {
    /// Asserts the exit code, showing everything on failure.
    #[track_caller]
    pub(crate) fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "`mailgate {}` exited {}, expected {expected}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    /// The last non-empty line of standard output.
    pub(crate) fn last_line(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// Standard output, standard error and exit code as one text for snapshots.
    pub(crate) fn transcript(&self) -> String {
        format!(
            "$ mailgate {}\n--- exit code: {}\n--- stdout\n{}--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

/// What `check` should say of the shipped policies, counted from the files themselves (not
/// through mailgate's parser): `.policy` files in `policies/`, lines that start a rule or an
/// invariant, and the keys under the schema's `actions:`.
pub(crate) fn shipped_check_summary() -> String {
    let (files, rules, invariants) = shipped_policy_counts();
    let schema: serde_json::Value = serde_saphyr::from_str(&read("policies/schema.yaml")).unwrap();
    let actions = schema["actions"].as_object().unwrap().len();
    format!("ok: {files} policy files, {rules} rules, {actions} actions, {invariants} invariants")
}

/// The shipped `.policy` files, rules and invariants, counted line by line.
pub(crate) fn shipped_policy_counts() -> (usize, usize, usize) {
    let (mut files, mut rules, mut invariants) = (0, 0, 0);
    for entry in std::fs::read_dir(repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "policy") {
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().map(str::trim_start) {
                rules += usize::from(line.starts_with("rule "));
                invariants += usize::from(line.starts_with("invariant "));
            }
        }
    }
    (files, rules, invariants)
}

/// The shipped scenario files, sorted.
pub(crate) fn shipped_scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("policies/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// How many requests of the scenario files (paths relative to the repository) carry an
/// `expect`, read with a YAML parser rather than through mailgate.
pub(crate) fn expectations(files: &[PathBuf]) -> usize {
    count_requests(files, |r| r.get("expect").is_some())
}

/// How many requests the scenario files hold.
pub(crate) fn requests(files: &[PathBuf]) -> usize {
    count_requests(files, |_| true)
}

fn count_requests(files: &[PathBuf], keep: impl Fn(&serde_json::Value) -> bool) -> usize {
    files
        .iter()
        .map(|f| {
            let doc: serde_json::Value =
                serde_saphyr::from_str(&std::fs::read_to_string(repo().join(f)).unwrap()).unwrap();
            doc["requests"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| keep(r))
                .count()
        })
        .sum()
}
