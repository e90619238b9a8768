//! In-process tests of the editor features, on the shipped policy set with one extra file
//! held in memory (as an open, unsaved buffer).

use super::features::{self, CompletionKind};
use super::workspace::Analysis;
use std::collections::HashMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// Loads the shipped set plus `text` (with the cursor marker `$0` removed) as a new file;
/// returns the analysis, the text and the cursor's byte offset.
fn with_buffer(marked: &str) -> (Analysis, String, usize) {
    let offset = marked.find("$0").expect("the text has a `$0` cursor");
    let text = marked.replacen("$0", "", 1);
    let overlay = HashMap::from([(root().join("zz-editor.policy"), text.clone())]);
    (Analysis::load(&root(), &overlay), text, offset)
}

fn hover(marked: &str) -> String {
    let (a, text, offset) = with_buffer(marked);
    features::hover(&a, &text, offset).map_or_else(String::new, |h| h.markdown)
}

/// The text and file of the definition, as `file-name: text`.
fn definition(marked: &str) -> String {
    let (a, text, offset) = with_buffer(marked);
    let Some(span) = features::definition(&a, &text, offset) else {
        return String::new();
    };
    let file = a.sources.get(span.file);
    let name = PathBuf::from(&file.name);
    let short = name
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "{short}:{}: {}",
        file.line(span.start as usize),
        file.slice(span)
    )
}

fn labels(marked: &str) -> Vec<String> {
    let (a, text, offset) = with_buffer(marked);
    features::complete(&a, &text, offset)
        .into_iter()
        .map(|c| c.label)
        .collect()
}

/// `file:line: name`, where the line is the first of the shipped `file` that starts with
/// `prefix` (after indentation).
fn expect(file: &str, prefix: &str, name: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .map_or(0, |i| i + 1);
    format!("{file}:{line}: {name}")
}

const RULE: &str = "rule t {\n  allow approve_mailbox\n  when ";

/// A buffer the folder walk would not find (under a hidden folder, as a config map's
/// `..data/` copy is) does not join the set: a copy of a shipped file opened there is not a
/// second definition of its rules. The same copy beside the others is.
#[test]
fn a_buffer_under_a_hidden_folder_does_not_join_the_set() {
    let text = std::fs::read_to_string(root().join("approval.policy")).unwrap();
    let duplicates = |a: &Analysis| {
        a.diagnostics
            .iter()
            .filter(|d| d.message.contains("duplicate rule id"))
            .count()
    };
    for hidden in [
        "..data/approval.policy",
        ".git/approval.policy",
        "..2026_12_05/x/approval.policy",
    ] {
        let overlay = HashMap::from([(root().join(hidden), text.clone())]);
        assert_eq!(
            duplicates(&Analysis::load(&root(), &overlay)),
            0,
            "{hidden}"
        );
    }
    let overlay = HashMap::from([(root().join("copy/approval.policy"), text)]);
    assert!(duplicates(&Analysis::load(&root(), &overlay)) > 0);
}

#[test]
fn hover_on_an_attribute_shows_its_type_members_and_default() {
    let h = hover(&format!(
        "{RULE}user.secu$0rity_roles contains \"Basic User\"\n}}\n"
    ));
    assert!(
        h.contains("**`user.security_roles`**: `set<security_role>`"),
        "{h}"
    );
    assert!(h.contains("`Delegated Mailbox Approver`"), "{h}");
    assert!(h.contains("required"), "{h}");
    let h = hover(&format!("{RULE}mailbox.profile_$0active\n}}\n"));
    assert!(h.contains("`bool`") && h.contains("default: `true`"), "{h}");
}

#[test]
fn hover_on_a_slot_names_its_entity_type() {
    let h = hover(&format!("{RULE}mail$0box.approval == \"approved\"\n}}\n"));
    assert!(
        h.starts_with("**`mailbox`**: slot, entity type `mailbox`"),
        "{h}"
    );
    assert!(h.contains("`approval`: `approval_status`"), "{h}");
}

#[test]
fn hover_on_an_enum_member_inside_a_string() {
    let h = hover(&format!(
        "{RULE}user.security_roles contains \"Basic $0User\"\n}}\n"
    ));
    assert!(
        h.starts_with("**`Basic User`**: member 5 of 5 of enum `security_role`"),
        "{h}"
    );
    // In a list after `contains any`, and before the path (`"x" in path` reads forward).
    let h = hover(&format!(
        "{RULE}user.directory_roles contains any [\"Global Administrator\", \"Exch$0ange Administrator\"]\n}}\n"
    ));
    assert!(h.contains("enum `directory_role`"), "{h}");
    let h = hover(&format!("{RULE}\"approv$0ed\" == mailbox.approval\n}}\n"));
    assert!(h.contains("enum `approval_status`"), "{h}");
    // A reason is not compared with anything.
    assert_eq!(
        hover(&format!("{RULE}true\n  reason \"Basic $0User\"\n}}\n")),
        ""
    );
}

#[test]
fn hover_on_a_let_shows_its_text_and_place() {
    let h = hover(&format!("{RULE}has_exchange_$0rights\n}}\n"));
    assert!(h.contains("let has_exchange_rights ="), "{h}");
    assert!(h.contains("user.directory_roles contains any"), "{h}");
    assert!(h.contains("defined at approvers.policy:"), "{h}");
}

#[test]
fn hover_on_a_rule_and_an_action() {
    let h = hover("rule t$0t {\n  deny approve_mailbox, reject_mailbox\n  reason \"no\"\n}\n");
    assert!(
        h.starts_with("**rule `tt`**: deny `approve_mailbox`, `reject_mailbox`"),
        "{h}"
    );
    assert!(
        h.contains("defined at zz-editor.policy:1") && h.contains("reason: no"),
        "{h}"
    );
    let h = hover("rule tt {\n  allow assign_$0role\n}\n");
    assert!(h.contains("**action `assign_role`**"), "{h}");
    assert!(
        h.contains("`actor`: `user`") && h.contains("parameters: `role`: `security_role`"),
        "{h}"
    );
    // Keywords, punctuation and comments have no hover.
    assert_eq!(hover("rule tt {\n  al$0low assign_role\n}\n"), "");
    assert_eq!(hover("# user.secu$0rity_roles\n"), "");
}

#[test]
fn definitions_go_to_the_schema_and_to_lets_and_rules() {
    assert_eq!(
        definition(&format!(
            "{RULE}user.secu$0rity_roles contains \"Basic User\"\n}}\n"
        )),
        expect("schema.yaml", "security_roles:", "security_roles")
    );
    assert_eq!(
        definition(&format!(
            "{RULE}user.security_roles contains \"Basic$0 User\"\n}}\n"
        )),
        expect("schema.yaml", "security_role:", "Basic User")
    );
    assert_eq!(
        definition(&format!("{RULE}mail$0box.approval == \"approved\"\n}}\n")),
        expect("schema.yaml", "mailbox:", "mailbox")
    );
    assert_eq!(
        definition(&format!("{RULE}o$0rg.version >= \"9.1\"\n}}\n")),
        expect("schema.yaml", "context:", "context")
    );
    assert_eq!(
        definition(&format!("{RULE}has_exchange_$0rights\n}}\n")),
        expect(
            "approvers.policy",
            "let has_exchange_rights ",
            "has_exchange_rights"
        )
    );
    assert_eq!(
        definition("rule tt {\n  allow approve_$0mailbox\n}\n"),
        expect("schema.yaml", "approve_mailbox:", "approve_mailbox")
    );
    assert_eq!(
        definition("rule tt {\n  allow assign_role\n  when request.ro$0le == \"Basic User\"\n}\n"),
        expect("schema.yaml", "assign_role:", "role")
    );
    assert_eq!(
        definition("rule t$0t {\n  allow assign_role\n}\n"),
        "zz-editor.policy:1: tt"
    );
}

#[test]
fn completion_after_a_slot_offers_its_attributes() {
    let l = labels(&format!("{RULE}user.$0\n}}\n"));
    assert!(
        l.contains(&"security_roles".to_owned()) && l.contains(&"upn".to_owned()),
        "{l:?}"
    );
    assert!(!l.contains(&"email".to_owned()), "{l:?}");
    // While typing the attribute, and with the rest of the file missing (it does not parse).
    let l = labels(&format!("{RULE}mailbox.ap$0"));
    assert!(
        l.contains(&"approval".to_owned()) && l.contains(&"email".to_owned()),
        "{l:?}"
    );
    let l = labels(&format!("{RULE}org.$0"));
    assert!(l.contains(&"version".to_owned()), "{l:?}");
    let l = labels("rule tt {\n  allow assign_role\n  when request.$0");
    assert_eq!(l, vec!["role"]);
}

#[test]
fn completion_in_a_string_offers_the_enum_members() {
    let (a, text, offset) = with_buffer(&format!(
        "{RULE}user.security_roles contains \"Sys$0tem\"\n}}\n"
    ));
    let items = features::complete(&a, &text, offset);
    let labels: Vec<&str> = items.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "System Administrator",
            "System Customizer",
            "Delegated Mailbox Approver",
            "Salesperson",
            "Basic User"
        ]
    );
    // Each replaces the whole content of the string, quotes kept.
    assert_eq!(text.get(items[0].replace.clone()), Some("System"));
    assert!(items.iter().all(|c| c.kind == CompletionKind::Member));
    // An unclosed string at the end of the text, and a list.
    let l = labels_of(&format!(
        "{RULE}mailbox.server in [\"exchange_online\", \"$0"
    ));
    assert!(l.contains(&"imap_smtp".to_owned()), "{l:?}");
    // Not in a reason.
    assert!(labels_of(&format!("{RULE}true\n  reason \"$0\"\n}}\n")).is_empty());
}

fn labels_of(marked: &str) -> Vec<String> {
    labels(marked)
}

#[test]
fn completion_of_actions_lets_roots_and_keywords() {
    let l = labels("rule tt {\n  allow $0");
    assert!(
        l.contains(&"approve_mailbox".to_owned()) && l.contains(&"assign_role".to_owned()),
        "{l:?}"
    );
    let l = labels("rule tt {\n  deny approve_mailbox, rej$0");
    assert!(l.contains(&"reject_mailbox".to_owned()), "{l:?}");
    let l = labels(&format!("{RULE}$0"));
    for want in ["user", "mailbox", "org", "has_exchange_rights", "not"] {
        assert!(l.contains(&want.to_owned()), "{want} missing from {l:?}");
    }
    assert!(!l.contains(&"request".to_owned()), "{l:?}");
    let l = labels("rule tt {\n  allow assign_role\n  when $0");
    assert!(
        l.contains(&"request".to_owned()) && l.contains(&"actor".to_owned()),
        "{l:?}"
    );
    // Between items: only `rule` and `let`; in a comment: nothing.
    assert_eq!(
        labels("rule tt {\n  allow assign_role\n}\n$0"),
        vec!["rule", "let", "invariant"]
    );
    assert!(labels("# user.$0").is_empty());
    assert!(labels("let x = user.$0").contains(&"upn".to_owned()));
}

#[test]
fn invariants_have_hover_definition_and_action_completion() {
    let text = "invariant only-admins {\n  on approve_mailbox, reject_mailbox\n  allow only when user.security_roles contains \"System Administrator\"\n  reason \"admins only\"\n}\n";
    let marked = text.replacen("only-admins", "only-ad$0mins", 1);
    let h = hover(&marked);
    assert!(
        h.starts_with("**invariant `only-admins`**: on `approve_mailbox`, `reject_mailbox`, allow only when `user.security_roles contains \"System Administrator\"`"),
        "{h}"
    );
    assert!(h.contains("reason: admins only"), "{h}");
    assert_eq!(definition(&marked), "zz-editor.policy:1: only-admins");
    // Paths inside use the invariant's actions.
    let h = hover(&text.replacen("security_roles", "security$0_roles", 1));
    assert!(h.contains("`set<security_role>`"), "{h}");
    assert_eq!(
        definition(&text.replacen("System Administrator", "System$0 Administrator", 1)),
        expect("schema.yaml", "security_role:", "System Administrator")
    );
    let l = labels("invariant x {\n  on appr$0");
    assert!(l.contains(&"approve_mailbox".to_owned()), "{l:?}");
}

#[test]
fn canonical_of_a_path_with_130000_components_does_not_overflow_the_stack() {
    let long = PathBuf::from(format!("/{}", "a/".repeat(130_000)));
    assert_eq!(super::canonical(&long), long);
    // Within PATH_MAX it walks up in a loop: a small stack is enough.
    let deep = PathBuf::from(format!("/nonexistent-mailgate/{}x", "a/".repeat(2_000)));
    let got = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || super::canonical(&deep))
        .unwrap()
        .join()
        .unwrap();
    assert!(got.ends_with("a/a/x"), "{}", got.display());
}
