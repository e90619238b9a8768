//! Policy as a picture: how one action is decided, as a flowchart.
//!
//! The graph follows the engine's order. Deny rules come first: each rule's top-level
//! conditions form a chain of yes/no tests, all true leads to that rule's deny, any false
//! to the next rule. Then the allow rules the same way, each ending in an allow. Last, the
//! default deny. Because any matching deny rule wins, this sequential reading gives the
//! engine's decision. The first rule reached is the first of the engine's determining
//! rules.
//!
//! One data structure ([`Graph`]) feeds both renderers ([`Graph::to_mermaid`],
//! [`Graph::to_dot`]) and [`Graph::walk`], which follows the edges for a concrete request
//! with the engine's own condition evaluator. Tests check that the walk reaches the
//! engine's decision for every scenario request, so the picture is the policy.
//!
//! A `let` appears by its name. Its definition is listed in a "let definitions" group
//! (and, in DOT, as a tooltip on each test that uses it).

use crate::ast::Effect;
use crate::compile::{CompiledSet, Node};
use crate::coverage::{term_text, top_terms};
use crate::eval::{Cause, Request, Tri};
use crate::schema::ActionId;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Mermaid's default `maxEdges`: a diagram with more links is refused.
pub const MERMAID_MAX_EDGES: usize = 500;
/// Mermaid's default `maxTextSize`, in characters.
pub const MERMAID_MAX_TEXT: usize = 50_000;

/// Errors of `graph`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The action is not in the schema.
    #[error("unknown action `{name}`")]
    UnknownAction {
        /// What was asked for.
        name: String,
        /// A did-you-mean for the closest action, if one is close.
        help: Option<String>,
    },
}

/// How a decision ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A deny rule matched.
    Deny {
        /// The rule.
        rule: u32,
    },
    /// An allow rule matched.
    Allow {
        /// The rule.
        rule: u32,
    },
    /// No allow rule matched.
    DefaultDeny,
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphNode {
    /// Where the decision starts (labelled with the action).
    Start,
    /// A yes/no test: one top-level condition of a rule.
    Condition {
        /// The rule it belongs to.
        rule: u32,
        /// The compiled condition (for [`Graph::walk`]).
        node: u32,
        /// The condition as written (a `let` by its name).
        text: String,
        /// The `let` definitions ([`GraphNode::Let`] node indices) it uses directly.
        lets: Vec<usize>,
    },
    /// The end of a path.
    Outcome(Outcome),
    /// A `let` definition.
    Let {
        /// Its name.
        name: String,
        /// What it stands for, as written.
        body: String,
    },
}

/// What an edge means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// From the start to the first test.
    Start,
    /// Taken when the test holds.
    True,
    /// Taken when it does not.
    False,
}

/// A directed edge between two node indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// From.
    pub from: usize,
    /// To.
    pub to: usize,
    /// Its label.
    pub kind: EdgeKind,
}

/// The nodes drawn for one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleGroup {
    /// The rule.
    pub rule: u32,
    /// Its tests, in order, then its outcome.
    pub nodes: Vec<usize>,
    /// Where a failed test leads: the next rule's first node, or the default deny.
    pub next: usize,
}

/// How one action is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// The action.
    pub action: ActionId,
    /// Its name.
    pub action_name: String,
    /// Every node; index 0 is [`GraphNode::Start`].
    pub nodes: Vec<GraphNode>,
    /// Every true/false edge.
    pub edges: Vec<Edge>,
    /// Deny rules, in load order.
    pub deny: Vec<RuleGroup>,
    /// Allow rules, in load order.
    pub allow: Vec<RuleGroup>,
    /// The default deny node.
    pub default_deny: usize,
    /// The `let` definition nodes, in order of first use.
    pub lets: Vec<usize>,
}

/// Where [`Graph::walk`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// `allow` or `deny`.
    pub effect: Effect,
    /// Why.
    pub cause: Cause,
    /// The rule whose outcome was reached (none for the default deny).
    pub rule: Option<u32>,
}

/// The footnote both renderers print.
pub const FAIL_CLOSED_NOTE: &str = "A condition that cannot be evaluated (a missing value) \
    makes a deny rule match and an allow rule fail.";

impl Graph {
    /// Builds the graph of `action` (by name).
    pub fn new(set: &CompiledSet, action: &str) -> Result<Graph, GraphError> {
        let schema = set.schema();
        let Some(id) = schema.action_id(action) else {
            return Err(GraphError::UnknownAction {
                name: action.to_owned(),
                help: schema.suggest_action(action),
            });
        };
        Ok(Graph::of(set, id))
    }

    /// Builds the graph of the action `id`.
    pub fn of(set: &CompiledSet, id: ActionId) -> Graph {
        let mut g = Graph {
            action: id,
            action_name: set.schema().action(id).name.clone(),
            nodes: vec![GraphNode::Start],
            edges: Vec::new(),
            deny: Vec::new(),
            allow: Vec::new(),
            default_deny: 0,
            lets: Vec::new(),
        };
        let Some(plan) = set.plans.get(id as usize) else {
            g.default_deny = g.push(GraphNode::Outcome(Outcome::DefaultDeny));
            g.edges.push(Edge {
                from: 0,
                to: g.default_deny,
                kind: EdgeKind::Start,
            });
            return g;
        };
        let mut let_ix: HashMap<String, usize> = HashMap::new();
        let mut tests: Vec<(usize, u32)> = Vec::new();
        // Nodes first, rule by rule; edges once every rule's first node is known.
        let mut groups: Vec<(Effect, RuleGroup)> = Vec::new();
        for (effect, list) in [(Effect::Deny, &plan.deny), (Effect::Allow, &plan.allow)] {
            for r in &list.rules {
                let mut nodes = Vec::new();
                if let Some(root) = r.root {
                    for term in top_terms(set, root) {
                        let ix = g.push(GraphNode::Condition {
                            rule: r.rule,
                            node: term,
                            text: term_text(set, term),
                            lets: Vec::new(),
                        });
                        tests.push((ix, term));
                        nodes.push(ix);
                    }
                }
                let outcome = match effect {
                    Effect::Deny => Outcome::Deny { rule: r.rule },
                    Effect::Allow => Outcome::Allow { rule: r.rule },
                };
                nodes.push(g.push(GraphNode::Outcome(outcome)));
                groups.push((
                    effect,
                    RuleGroup {
                        rule: r.rule,
                        nodes,
                        next: 0,
                    },
                ));
            }
        }
        g.default_deny = g.push(GraphNode::Outcome(Outcome::DefaultDeny));
        // The let definitions come after every test, in order of first use.
        for (ix, term) in tests {
            let lets = g.lets_of(set, term, &mut let_ix);
            if let GraphNode::Condition { lets: l, .. } = &mut g.nodes[ix] {
                *l = lets;
            }
        }
        let firsts: Vec<usize> = groups.iter().map(|(_, grp)| grp.nodes[0]).collect();
        g.edges.push(Edge {
            from: 0,
            to: firsts.first().copied().unwrap_or(g.default_deny),
            kind: EdgeKind::Start,
        });
        for (i, (effect, grp)) in groups.iter_mut().enumerate() {
            grp.next = firsts.get(i + 1).copied().unwrap_or(g.default_deny);
            let tests = &grp.nodes[..grp.nodes.len() - 1];
            for (k, &n) in tests.iter().enumerate() {
                g.edges.push(Edge {
                    from: n,
                    to: grp.nodes[k + 1],
                    kind: EdgeKind::True,
                });
                g.edges.push(Edge {
                    from: n,
                    to: grp.next,
                    kind: EdgeKind::False,
                });
            }
            let grp = grp.clone();
            match effect {
                Effect::Deny => g.deny.push(grp),
                Effect::Allow => g.allow.push(grp),
            }
        }
        g
    }

    fn push(&mut self, n: GraphNode) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    /// The `let` definition nodes that `node` uses directly (itself, if it is a `let`),
    /// adding a definition node for each new name and, recursively, for the lets its
    /// body uses.
    fn lets_of(
        &mut self,
        set: &CompiledSet,
        node: u32,
        known: &mut HashMap<String, usize>,
    ) -> Vec<usize> {
        let mut found = Vec::new();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            let meta = &set.meta[n as usize];
            if let Some(name) = &meta.let_name {
                let ix = match known.get(name) {
                    Some(&ix) => ix,
                    None => {
                        let body = set
                            .sources
                            .slice(meta.span)
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ");
                        let ix = self.push(GraphNode::Let {
                            name: name.clone(),
                            body,
                        });
                        self.lets.push(ix);
                        known.insert(name.clone(), ix);
                        // The lets its body uses get their own definitions.
                        for k in children(set, n) {
                            self.lets_of(set, k, known);
                        }
                        ix
                    }
                };
                if !found.contains(&ix) {
                    found.push(ix);
                }
                continue;
            }
            // Depth-first, left to right.
            let kids = children(set, n);
            stack.extend(kids.iter().rev());
        }
        found
    }

    /// Follows the graph for `request`, evaluating each test with the engine's evaluator.
    /// A test that cannot be evaluated is passed on the `true` edge and remembered: a
    /// later `false` still leaves the rule, reaching a deny outcome denies, and reaching an
    /// allow outcome goes on to the next rule instead (fail closed).
    pub fn walk(&self, set: &CompiledSet, request: &Request) -> Walked {
        let values = request.values.as_slice();
        // Where each node's edges lead, and where each allow outcome's rule goes next.
        let mut next: Vec<[Option<usize>; 3]> = vec![[None; 3]; self.nodes.len()];
        for e in &self.edges {
            next[e.from][e.kind as usize] = Some(e.to);
        }
        let mut after_allow: HashMap<usize, usize> = HashMap::new();
        for g in &self.allow {
            if let Some(&last) = g.nodes.last() {
                after_allow.insert(last, g.next);
            }
        }
        let edge = |from: usize, kind: EdgeKind| next[from][kind as usize];
        let default = Walked {
            effect: Effect::Deny,
            cause: Cause::NoRuleAllows,
            rule: None,
        };
        if request.action != self.action {
            return default;
        }
        let mut at = edge(0, EdgeKind::Start).unwrap_or(self.default_deny);
        let mut errored = false;
        // Every edge leads to a later node, so this ends; the bound is a second guard.
        for _ in 0..=self.nodes.len() {
            match &self.nodes[at] {
                GraphNode::Condition { node, .. } => {
                    let kind = match set.eval(*node, values) {
                        Tri::True => EdgeKind::True,
                        Tri::Error(_) => {
                            errored = true;
                            EdgeKind::True
                        }
                        Tri::False => {
                            errored = false;
                            EdgeKind::False
                        }
                    };
                    at = edge(at, kind).unwrap_or(self.default_deny);
                }
                GraphNode::Outcome(Outcome::Deny { rule }) => {
                    return Walked {
                        effect: Effect::Deny,
                        cause: Cause::DeniedByRule,
                        rule: Some(*rule),
                    };
                }
                GraphNode::Outcome(Outcome::Allow { rule }) => {
                    if !errored {
                        return Walked {
                            effect: Effect::Allow,
                            cause: Cause::Allowed,
                            rule: Some(*rule),
                        };
                    }
                    errored = false;
                    at = after_allow.get(&at).copied().unwrap_or(self.default_deny);
                }
                GraphNode::Outcome(Outcome::DefaultDeny)
                | GraphNode::Start
                | GraphNode::Let { .. } => return default,
            }
        }
        default
    }

    fn rule_title(set: &CompiledSet, rule: u32) -> String {
        let info = set.rule(rule);
        format!(
            "{} rule {} ({}:{})",
            info.effect.as_str(),
            info.id,
            info.file,
            info.line
        )
    }

    /// The text lines of node `n`'s label, before escaping.
    fn label(&self, set: &CompiledSet, n: usize) -> Vec<String> {
        match &self.nodes[n] {
            GraphNode::Start => vec![format!("{}", self.action_name)],
            GraphNode::Condition { text, .. } => wrap(text, 40),
            GraphNode::Outcome(o) => {
                let (head, rule) = match o {
                    Outcome::Deny { rule } => ("DENY", Some(*rule)),
                    Outcome::Allow { rule } => ("ALLOW", Some(*rule)),
                    Outcome::DefaultDeny => ("DENY", None),
                };
                match rule {
                    Some(r) => {
                        let info = set.rule(r);
                        let mut lines = vec![format!("{head}: {}", info.id)];
                        if let Some(reason) = &info.reason {
                            lines.extend(wrap(reason, 50));
                        }
                        lines
                    }
                    None => vec![format!("{head}: no rule allows {}", self.action_name)],
                }
            }
            GraphNode::Let { name, body } => wrap(&format!("{name} = {body}"), 60),
        }
    }

    /// The node's tooltip: the definitions of the lets a test uses.
    fn tooltip(&self, n: usize) -> Option<String> {
        let GraphNode::Condition { lets, .. } = &self.nodes[n] else {
            return None;
        };
        let defs: Vec<String> = lets
            .iter()
            .filter_map(|&l| match &self.nodes[l] {
                GraphNode::Let { name, body } => Some(format!("{name} = {body}")),
                _ => None,
            })
            .collect();
        (!defs.is_empty()).then(|| defs.join("\n"))
    }

    /// Mermaid flowchart text (GitHub renders it in a ```` ```mermaid ```` block).
    pub fn to_mermaid(&self, set: &CompiledSet) -> String {
        let mut out = String::from("flowchart TB\n");
        let label = |n: usize| {
            self.label(set, n)
                .iter()
                .map(|l| mermaid_escape(l))
                .collect::<Vec<_>>()
                .join("<br/>")
        };
        let node = |out: &mut String, indent: &str, n: usize| {
            let l = label(n);
            let _ = match &self.nodes[n] {
                GraphNode::Start | GraphNode::Outcome(_) => {
                    writeln!(out, "{indent}n{n}([\"{l}\"])")
                }
                GraphNode::Condition { .. } => writeln!(out, "{indent}n{n}{{\"{l}\"}}"),
                GraphNode::Let { .. } => writeln!(out, "{indent}n{n}[\"{l}\"]"),
            };
        };
        node(&mut out, "  ", 0);
        for (title, groups, id) in [
            (
                "deny rules, checked first: any match denies",
                &self.deny,
                "deny_rules",
            ),
            (
                "then allow rules: any match allows",
                &self.allow,
                "allow_rules",
            ),
        ] {
            if groups.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  subgraph {id}[\"{}\"]", mermaid_escape(title));
            for g in groups {
                let _ = writeln!(
                    out,
                    "    subgraph r{}[\"{}\"]",
                    g.nodes[0],
                    mermaid_escape(&Graph::rule_title(set, g.rule))
                );
                for &n in &g.nodes {
                    node(&mut out, "      ", n);
                }
                let _ = writeln!(out, "    end");
            }
            let _ = writeln!(out, "  end");
        }
        node(&mut out, "  ", self.default_deny);
        if !self.lets.is_empty() {
            let _ = writeln!(out, "  subgraph lets[\"let definitions\"]");
            for &n in &self.lets {
                node(&mut out, "    ", n);
            }
            let _ = writeln!(out, "  end");
        }
        let _ = writeln!(
            out,
            "  fail_closed[\"{}\"]",
            mermaid_escape(FAIL_CLOSED_NOTE)
        );
        for e in &self.edges {
            let _ = match e.kind {
                EdgeKind::Start => writeln!(out, "  n{} --> n{}", e.from, e.to),
                EdgeKind::True => writeln!(out, "  n{} -->|true| n{}", e.from, e.to),
                EdgeKind::False => writeln!(out, "  n{} -->|false| n{}", e.from, e.to),
            };
        }
        let (allow, deny) = self.outcome_ids("n", ",");
        let _ = writeln!(out, "  classDef allow fill:#d8f0d8,stroke:#2e7d32");
        let _ = writeln!(out, "  classDef deny fill:#f8dcdc,stroke:#c62828");
        if !allow.is_empty() {
            let _ = writeln!(out, "  class {allow} allow");
        }
        let _ = writeln!(out, "  class {deny} deny");
        out
    }

    /// Ids of the allow outcomes and of the deny outcomes, joined by `sep`.
    fn outcome_ids(&self, prefix: &str, sep: &str) -> (String, String) {
        let (mut allow, mut deny) = (Vec::new(), Vec::new());
        for (i, n) in self.nodes.iter().enumerate() {
            match n {
                GraphNode::Outcome(Outcome::Allow { .. }) => allow.push(format!("{prefix}{i}")),
                GraphNode::Outcome(_) => deny.push(format!("{prefix}{i}")),
                _ => {}
            }
        }
        (allow.join(sep), deny.join(sep))
    }

    /// Graphviz DOT text.
    pub fn to_dot(&self, set: &CompiledSet) -> String {
        let mut out = format!(
            "digraph \"{}\" {{\n  graph [fontname=\"Helvetica\", label=\"{}\", labelloc=b];\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\"];\n",
            dot_escape(&self.action_name),
            dot_escape(FAIL_CLOSED_NOTE)
        );
        let node = |out: &mut String, indent: &str, n: usize| {
            let l = self
                .label(set, n)
                .iter()
                .map(|l| dot_escape(l))
                .collect::<Vec<_>>()
                .join("\\n");
            let attrs = match &self.nodes[n] {
                GraphNode::Start => "shape=oval".to_owned(),
                GraphNode::Condition { .. } => "shape=diamond".to_owned(),
                GraphNode::Outcome(Outcome::Allow { .. }) => {
                    "shape=box, style=\"rounded,filled\", fillcolor=\"#d8f0d8\"".to_owned()
                }
                GraphNode::Outcome(_) => {
                    "shape=box, style=\"rounded,filled\", fillcolor=\"#f8dcdc\"".to_owned()
                }
                GraphNode::Let { .. } => "shape=note".to_owned(),
            };
            let tooltip = self
                .tooltip(n)
                .map(|t| format!(", tooltip=\"{}\"", dot_escape(&t)))
                .unwrap_or_default();
            let _ = writeln!(out, "{indent}\"n{n}\" [{attrs}, label=\"{l}\"{tooltip}];");
        };
        node(&mut out, "  ", 0);
        for (title, groups, id) in [
            (
                "deny rules, checked first: any match denies",
                &self.deny,
                "deny_rules",
            ),
            (
                "then allow rules: any match allows",
                &self.allow,
                "allow_rules",
            ),
        ] {
            if groups.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  subgraph \"cluster_{id}\" {{\n    label=\"{}\";",
                dot_escape(title)
            );
            for g in groups {
                let _ = writeln!(
                    out,
                    "    subgraph \"cluster_r{}\" {{\n      label=\"{}\";",
                    g.nodes[0],
                    dot_escape(&Graph::rule_title(set, g.rule))
                );
                for &n in &g.nodes {
                    node(&mut out, "      ", n);
                }
                let _ = writeln!(out, "    }}");
            }
            let _ = writeln!(out, "  }}");
        }
        node(&mut out, "  ", self.default_deny);
        if !self.lets.is_empty() {
            let _ = writeln!(
                out,
                "  subgraph \"cluster_lets\" {{\n    label=\"let definitions\";"
            );
            for &n in &self.lets {
                node(&mut out, "    ", n);
            }
            let _ = writeln!(out, "  }}");
        }
        for e in &self.edges {
            let label = match e.kind {
                EdgeKind::Start => String::new(),
                EdgeKind::True => " [label=\"true\"]".to_owned(),
                EdgeKind::False => " [label=\"false\"]".to_owned(),
            };
            let _ = writeln!(out, "  \"n{}\" -> \"n{}\"{label};", e.from, e.to);
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(feature = "serve")]
impl Graph {
    /// An SVG picture of the graph, laid out by `layout-rs` (no Graphviz needed), for the
    /// console. The root `svg` carries `data-graph="ACTION"`; each node's shape sits in a
    /// `g` with `data-node` and, for a rule's nodes, `data-rule="ID"`, and each outcome's
    /// label starts with its rule id, so every rule id of the action appears as text.
    pub fn to_svg(&self, set: &CompiledSet) -> String {
        use layout::backends::svg::SVGWriter;
        use layout::core::base::Orientation;
        use layout::core::color::Color;
        use layout::core::geometry::{Point, get_size_for_str};
        use layout::core::style::StyleAttr;
        use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
        use layout::topo::layout::VisualGraph;

        const FONT: usize = 14;
        let mut vg = VisualGraph::new(Orientation::TopToBottom);
        let mut handles = Vec::with_capacity(self.nodes.len());
        for (n, node) in self.nodes.iter().enumerate() {
            // `let` definitions stand apart from the flow (the DOT and Mermaid pictures
            // list them); laid out side by side they would only widen the picture.
            if matches!(node, GraphNode::Let { .. }) {
                handles.push(None);
                continue;
            }
            let label = self.label(set, n).join("\n");
            let (fill, rule, kind) = match node {
                GraphNode::Start => (0xe8e8_f0ff, None, "start"),
                GraphNode::Condition { rule, .. } => (0xfff8_e0ff, Some(*rule), "condition"),
                GraphNode::Outcome(Outcome::Allow { rule }) => (0xd8f0_d8ff, Some(*rule), "allow"),
                GraphNode::Outcome(Outcome::Deny { rule }) => (0xf8dc_dcff, Some(*rule), "deny"),
                GraphNode::Outcome(Outcome::DefaultDeny) => (0xf8dc_dcff, None, "default-deny"),
                GraphNode::Let { .. } => (0xf0f0_f0ff, None, "let"),
            };
            let mut props = format!("data-node=\"{n}\" data-kind=\"{kind}\"");
            if let Some(r) = rule {
                let _ = write!(props, " data-rule=\"{}\"", xml_escape(&set.rule(r).id));
            }
            let look = StyleAttr::new(Color::new(0x4040_40ff), 1, Some(Color::new(fill)), 6, FONT);
            let size = get_size_for_str(&label, FONT);
            let size = Point::new(size.x * 0.62 + 20.0, size.y + 16.0);
            let shape = ShapeKind::new_box(&label);
            handles.push(Some(vg.add_node(Element::create_with_properties(
                shape,
                look,
                Orientation::TopToBottom,
                size,
                props,
            ))));
        }
        for e in &self.edges {
            let text = match e.kind {
                EdgeKind::Start => "",
                EdgeKind::True => "true",
                EdgeKind::False => "false",
            };
            if let (Some(Some(from)), Some(Some(to))) = (handles.get(e.from), handles.get(e.to)) {
                vg.add_edge(Arrow::simple(text), *from, *to);
            }
        }
        let mut svg = SVGWriter::new();
        vg.do_it(false, false, false, &mut svg);
        let out = svg.finalize();
        // Inline in HTML: no XML declaration, and the root names its action.
        let out = out.find("<svg").map_or(out.as_str(), |i| &out[i..]);
        out.replacen(
            "<svg ",
            &format!(
                "<svg data-graph=\"{}\" role=\"img\" aria-label=\"decision flow of {}\" ",
                xml_escape(&self.action_name),
                xml_escape(&self.action_name)
            ),
            1,
        )
    }
}

/// Escapes text for an XML attribute or element.
#[cfg(feature = "serve")]
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The children of a compiled condition node.
fn children(set: &CompiledSet, n: u32) -> Vec<u32> {
    match set.nodes[n as usize] {
        Node::And(s, e) | Node::Or(s, e) => set.kids[s as usize..e as usize].to_vec(),
        Node::Not(k) => vec![k],
        _ => Vec::new(),
    }
}

/// Breaks `text` into lines of about `width` characters at spaces (a longer word stays
/// whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Escapes text for a double-quoted Mermaid label, in one pass: `#` first becomes
/// `#35;`, then `"`, `<`, `>`, `&`, `` ` `` and `|` become entity codes. Line breaks
/// become spaces (a label's lines are joined with `<br/>` by the caller).
pub fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '|' => out.push_str("#124;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double-quoted DOT string: `\` and `"` get a backslash, a line
/// break becomes `\n`.
pub fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_labels_escape_every_special_character_once() {
        assert_eq!(
            mermaid_escape(r#"a "b" <c> & #d `e` |f| end"#),
            "a #quot;b#quot; #lt;c#gt; #amp; #35;d #96;e#96; #124;f#124; end"
        );
        // `#` is escaped first, so an entity in the input is not mistaken for one.
        assert_eq!(mermaid_escape("#quot;"), "#35;quot;");
        assert_eq!(mermaid_escape("a\nb"), "a b");
    }

    #[test]
    fn dot_labels_escape_quotes_and_backslashes() {
        assert_eq!(dot_escape(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(dot_escape("x\ny"), "x\\ny");
        assert_eq!(dot_escape("é <ok>"), "é <ok>");
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh x", 3), vec!["abcdefgh", "x"]);
        assert_eq!(wrap("", 3), vec![""]);
    }
}
