//! Resource limits: every input that could grow without bound has one.
//!
//! Exceeding a limit is an ordinary error that names the limit; nothing is truncated and
//! nothing overflows the stack. docs/robustness.md lists these defaults.

/// Largest policy, schema or scenario file, in bytes.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Deepest nesting of parentheses, lists and `not`s in one expression.
pub const MAX_NESTING: usize = 64;

/// Most rules in one policy set.
pub const MAX_RULES: usize = 100_000;

/// Deepest chain of expressions after `let`s are expanded (each `let` adds its own depth).
pub const MAX_EXPANDED_DEPTH: usize = 256;

/// Most expression nodes in one rule after `let`s are expanded.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Most expression nodes in all the rules of a policy set together, after `let`s are
/// expanded and counted once per action of each rule, since each action compiles its own
/// copy (a few lines of `let`s that double each other can otherwise ask for gigabytes).
pub const MAX_SET_NODES: usize = 2_000_000;

/// Longest line of `eval --batch` input, in bytes.
pub const MAX_BATCH_LINE_BYTES: usize = 1024 * 1024;

/// Deepest JSON nesting in one batch line.
pub const MAX_JSON_DEPTH: usize = 16;

/// Deepest YAML nesting in a schema or scenario.
pub const MAX_YAML_DEPTH: usize = 32;

/// Most YAML aliases (`*name`) in one schema or scenario file.
pub const MAX_YAML_ALIASES: usize = 1_000;

/// Most YAML nodes in one schema or scenario file.
pub const MAX_YAML_NODES: usize = 1_000_000;

/// Most requests in one scenario file.
pub const MAX_SCENARIO_REQUESTS: usize = 100_000;

/// Most names a did-you-mean compares an unknown name with (the first ones in order).
pub const MAX_SUGGESTION_CANDIDATES: usize = 2_000;

/// Longest unknown name, in characters, that gets a did-you-mean.
pub const MAX_SUGGESTION_NAME_CHARS: usize = 64;

/// Most nodes in one decision diagram of the analysis (`eval --why-not`): the diagram of an
/// action's decision, or any step that builds it. Past it, analysis of that action stops
/// with an error naming the action; decisions themselves are unaffected.
pub const MAX_ANALYSIS_NODES: usize = 1_000_000;

/// Most rules of one action that `check`'s lints analyse. Lints compare rules pairwise
/// (`subsumed`), so past this an action gets a note that it was not linted.
pub const MAX_LINT_RULES: usize = 2_000;

/// Most operands of `and`/`or` in one action's rules that `check`'s lints analyse
/// (`redundant-condition` weighs each operand against its siblings); past it, a note.
pub const MAX_LINT_OPERANDS: usize = 4_096;

/// Largest file of an audit export bundle, in bytes (`mailgate audit`). A bundle of
/// 100,000 mailboxes with every annotation is about 150 MB; larger exports are written in
/// pages, each file at most this size.
pub const MAX_BUNDLE_FILE_BYTES: usize = 256 * 1024 * 1024;
