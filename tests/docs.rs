//! Docs that cannot drift: every shell example in README.md and docs/ is either run here or
//! says, on the line above its fence, why it is not.
//!
//! - A ` ```console ` block is run by trycmd: each `$ mailgate ...` line is a command (the
//!   binary under test, from the repository root, so `./policies` is the policy set), and the
//!   lines after it are its exact output, stdout and stderr together (`...` on its own line
//!   elides lines, `[..]` part of a line; `? failed` or `? 1` under the command expects that
//!   exit).
//! - Any other block that looks like a shell session (` ```sh `, ` ```bash `, ` ```shell `, ...,
//!   or any block with a line starting `$ `) must have `<!-- not executed: REASON -->` on the
//!   line directly above its fence.
//! - A fence with no language is refused: trycmd would run it as commands.

use crate::util;
use std::path::{Path, PathBuf};

/// Languages of shell blocks that are not run and therefore need the marker.
const SHELL_LANGS: &[&str] = &[
    "sh",
    "bash",
    "shell",
    "zsh",
    "fish",
    "powershell",
    "pwsh",
    "ps1",
    "cmd",
    "bat",
    "shell-session",
    "shellsession",
];

/// The marker a shell block that is not executed carries on the line above its fence.
const MARKER: &str = "<!-- not executed:";

/// README.md and every `*.md` under docs/, sorted.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![util::repo_path("README.md")];
    walk(&util::repo_path("docs"), &mut files);
    files
}

/// One code block: the line of its opening fence (1-based), its info string and its lines.
struct Block<'a> {
    line: usize,
    /// The fence is indented (in a list item, say): trycmd does not see it.
    indented: bool,
    info: &'a str,
    above: Option<&'a str>,
    body: Vec<&'a str>,
}

/// The fenced code blocks of a markdown text (backtick fences, as trycmd reads them).
fn blocks(text: &str) -> Vec<Block<'_>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        let ticks = line.chars().take_while(|&c| c == '`').count();
        if ticks < 3 {
            i += 1;
            continue;
        }
        let fence = &line[..ticks];
        let mut block = Block {
            line: i + 1,
            indented: line.len() != lines[i].len(),
            info: line[ticks..].trim(),
            above: i.checked_sub(1).map(|j| lines[j]),
            body: Vec::new(),
        };
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with(fence) {
            block.body.push(lines[i]);
            i += 1;
        }
        i += 1; // the closing fence
        out.push(block);
    }
    out
}

/// Every problem with the shell blocks of one markdown text: `line: message`.
fn shell_block_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for block in blocks(text) {
        let mut info = block.info.split(',').map(str::trim);
        let lang = info.next().unwrap_or("");
        let ignored = info.any(|x| x == "ignore");
        let marked = block.above.is_some_and(|l| {
            let l = l.trim();
            l.strip_prefix(MARKER)
                .and_then(|rest| rest.strip_suffix("-->"))
                .is_some_and(|reason| !reason.trim().is_empty())
        });
        if lang.is_empty() {
            problems.push(format!(
                "{}: a code block needs a language (trycmd runs a bare fence as commands; \
                 use ```console for an executed example, or ```text)",
                block.line
            ));
        } else if lang == "console" || lang == "trycmd" {
            if block.indented && !(ignored && marked) {
                problems.push(format!(
                    "{}: an indented ```{lang} block is not run (trycmd reads only fences at the \
                     start of a line): move it out of the list or quote",
                    block.line
                ));
            } else if ignored && !marked {
                problems.push(format!(
                    "{}: ```{} is not executed, so it needs `{MARKER} REASON -->` on the line above",
                    block.line, block.info
                ));
            }
            if !ignored && !block.indented {
                problems.extend(console_problems(&block));
            }
        } else {
            let shell_lang = SHELL_LANGS.contains(&lang);
            let has_prompt = block.body.iter().any(|l| l.starts_with("$ "));
            if (shell_lang || has_prompt) && !marked {
                problems.push(format!(
                    "{}: this ```{lang} block is a shell example: make it an executed ```console \
                     block, or put `{MARKER} REASON -->` on the line directly above its fence",
                    block.line
                ));
            }
        }
    }
    problems
}

/// Problems of one executed console block: commands other than `mailgate`, and output that
/// does not end with a blank line.
fn console_problems(block: &Block<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    // (line of the command, its output lines)
    let mut commands: Vec<(usize, Vec<&str>)> = Vec::new();
    for (k, l) in block.body.iter().enumerate() {
        let line = block.line + 1 + k;
        if let Some(cmd) = l.strip_prefix("$ ") {
            let bin = cmd.split_whitespace().find(|w| !w.contains('='));
            if bin != Some("mailgate") {
                problems.push(format!(
                    "{line}: only `mailgate` runs in a ```console block, not `{cmd}` \
                     (no shell: no pipes, `&&` or other programs)"
                ));
            }
            commands.push((line, Vec::new()));
        } else if let Some((_, output)) = commands.last_mut() {
            let continuation = output.is_empty() && (l.starts_with("> ") || l.starts_with("? "));
            if !continuation {
                output.push(l);
            }
        } else {
            problems.push(format!(
                "{line}: a ```console block starts with `$ mailgate ...`"
            ));
        }
    }
    for (line, output) in commands {
        if output.last().is_some_and(|l| !l.is_empty() && *l != "...") {
            problems.push(format!(
                "{line}: end this command's output with a blank line (trycmd drops one newline \
                 from the shown output), or with `...`"
            ));
        }
    }
    problems
}

#[test]
fn the_shell_block_check_finds_unmarked_and_bare_blocks() {
    let text = "intro\n\
                ```sh\ncargo build\n```\n\
                <!-- not executed: needs a running server -->\n```sh\ncurl -s localhost\n```\n\
                ```text\n$ mailgate check\nok\n```\n\
                ```\n$ mailgate check\n```\n\
                ```console\n$ mailgate check\nok\n$ echo hi | mailgate eval --batch -\n```\n\
                ```console,ignore\n$ mailgate serve\n```\n\
                <!-- not executed:  -->\n```bash\nls\n```\n\
                ```text\nplain output\n```\n\
                ```console\n$ RUST_LOG=x mailgate check\n```\n\
                ```console\n$ mailgate check\nok\n$ mailgate test\n? failed\nfailed\n\n```\n\
                - item\n\n  ```console\n  $ mailgate check\n\n  ```\n";
    let problems = shell_block_problems(text);
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap())
        .collect();
    // 2: unmarked sh; 9: text with a prompt; 13: bare fence; 19: `echo` in console; 17: its
    // output (`ok`) without the closing blank line; 21: console,ignore unmarked; 25: marker
    // without a reason; 35: output without the blank line; 44: an indented console block. Not: the marked sh (6), the plain
    // text block, the console block with an env assignment before `mailgate`, a command with
    // no output, a command with `? failed` and a blank line after its output.
    assert_eq!(
        lines,
        ["2", "9", "13", "19", "17", "21", "25", "35", "44"],
        "{problems:#?}"
    );
}

#[test]
fn every_shell_block_in_the_docs_is_executed_or_says_why_not() {
    let files = markdown_files();
    assert!(files.len() > 5, "README.md and docs/*.md: {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap().replace("\r\n", "\n");
        let rel = file
            .strip_prefix(util::repo())
            .unwrap_or(file)
            .display()
            .to_string();
        problems.extend(
            shell_block_problems(&text)
                .into_iter()
                .map(|p| format!("{rel}:{p}")),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_console_block_in_the_docs_runs_and_prints_what_it_shows() {
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("mailgate", Path::new(env!("CARGO_BIN_EXE_mailgate")))
        // A watchdog against a hang, not a timing assertion.
        .timeout(std::time::Duration::from_secs(300));
    for file in markdown_files() {
        cases.case(file);
    }
    cases.run();
}
