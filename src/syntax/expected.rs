//! Human labels for grammar rules, used in "expected ..." messages.
//!
//! pest reports the rules it tried at the failing position; users should read words, not
//! rule names.

use super::grammar::Rule;

/// The label for a rule, or `None` for rules that never appear in messages on their own.
pub(crate) fn label(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        // pest names the whole file when its very first token is wrong.
        Rule::file => "`let`, `rule` or `invariant`",
        Rule::let_decl | Rule::kw_let => "`let`",
        Rule::rule_decl | Rule::kw_rule => "`rule`",
        Rule::invariant_decl | Rule::kw_invariant => "`invariant`",
        Rule::kw_on => "`on`",
        Rule::form_allow_only_when | Rule::form_allow_when | Rule::form_deny_when => {
            "an invariant form (`allow only when`, `allow when`, `deny when`)"
        }
        Rule::let_name => "a name for the `let`",
        Rule::rule_id => "a rule id",
        Rule::effect => "`allow` or `deny`",
        Rule::action_name | Rule::action_list => "an action name",
        Rule::when_clause | Rule::kw_when => "`when`",
        Rule::reason_clause | Rule::kw_reason => "`reason`",
        Rule::expr | Rule::paren | Rule::path | Rule::name | Rule::list => "a condition or value",
        Rule::string => "a string",
        Rule::int => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::op_not => "`not`",
        Rule::op_or
        | Rule::chained_cmp
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_in
        | Rule::op_contains
        | Rule::op_contains_any
        | Rule::op_contains_all => "an operator",
        Rule::assign => "`=`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::comma => "`,`",
        Rule::EOI => "end of file",
        _ => return None,
    })
}
