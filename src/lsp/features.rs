//! Hover, go to definition and completion, answered from tokens around the cursor (so they
//! work while the text is broken) and the loaded set (schema, `let`s and rules).

use super::lexer::{self, KEYWORDS, Kind, Token};
use super::workspace::Analysis;
use crate::schema::{ActionId, EntityId, EnumId, Schema, Type};
use crate::source::Span;
use std::ops::Range;

/// What a completion offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompletionKind {
    /// An action name.
    Action,
    /// A slot, the context or `request`.
    Root,
    /// An attribute or parameter.
    Attribute,
    /// An enum member inside a string.
    Member,
    /// A `let` name.
    Let,
    /// A keyword.
    Keyword,
}

/// One completion: what to show and what to put where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    /// The name shown.
    pub(crate) label: String,
    /// Its kind.
    pub(crate) kind: CompletionKind,
    /// A short description (a type, an entity).
    pub(crate) detail: Option<String>,
    /// The byte range it replaces.
    pub(crate) replace: Range<usize>,
    /// The text that replaces it.
    pub(crate) insert: String,
}

/// A hover: markdown, and the byte range it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hover {
    /// The text, in markdown.
    pub(crate) markdown: String,
    /// The range of the word or string hovered.
    pub(crate) range: Range<usize>,
}

/// What a path's first segment names.
enum Root {
    /// The context (`org`).
    Context,
    /// `request`: the action's parameters.
    Request,
    /// A slot, filled by these entity types.
    Slot(Vec<EntityId>),
}

/// The text being edited, tokenized, with the set it belongs to.
struct Ctx<'a> {
    analysis: &'a Analysis,
    schema: &'a Schema,
    src: &'a str,
    toks: Vec<Token>,
}

impl<'a> Ctx<'a> {
    fn new(analysis: &'a Analysis, src: &'a str) -> Option<Self> {
        Some(Ctx {
            analysis,
            schema: analysis.schema.as_ref()?,
            src,
            toks: lexer::tokens(src),
        })
    }

    fn text(&self, i: usize) -> &'a str {
        self.toks.get(i).map_or("", |t| t.text(self.src))
    }

    fn is_punct(&self, i: usize, p: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_punct(self.src, p))
    }

    fn is_word(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(|t| t.kind == Kind::Word)
    }

    /// Whether tokens `i` and `i + 1` touch (no space between them).
    fn adjacent(&self, i: usize) -> bool {
        match (self.toks.get(i), self.toks.get(i + 1)) {
            (Some(a), Some(b)) => a.end == b.start,
            _ => false,
        }
    }

    /// The token the cursor is in, or the word it is right after.
    fn token_at(&self, offset: usize) -> Option<usize> {
        let i = self.toks.partition_point(|t| t.end <= offset);
        if self.toks.get(i).is_some_and(|t| t.start <= offset) {
            return Some(i);
        }
        let prev = i.checked_sub(1)?;
        (self.toks[prev].end == offset && self.toks[prev].kind == Kind::Word).then_some(prev)
    }

    /// For a word that is part of `root.attr`: the index of the root, and of the attribute.
    fn path_at(&self, i: usize) -> Option<(usize, usize)> {
        if i >= 2
            && self.is_punct(i - 1, ".")
            && self.is_word(i - 2)
            && self.adjacent(i - 2)
            && self.adjacent(i - 1)
        {
            return Some((i - 2, i));
        }
        if self.is_punct(i + 1, ".")
            && self.is_word(i + 2)
            && self.adjacent(i)
            && self.adjacent(i + 1)
        {
            return Some((i, i + 2));
        }
        None
    }

    /// The actions of the rule (or invariant) around token `i`: `None` outside a rule (in
    /// a `let`), where paths may use the slots of any action.
    fn enclosing_actions(&self, i: usize) -> Option<Vec<ActionId>> {
        let mut j = i.min(self.toks.len());
        while j > 0 {
            j -= 1;
            let t = self.toks[j];
            if t.kind == Kind::Punct && t.text(self.src) == "}" {
                return None;
            }
            if t.kind != Kind::Word {
                continue;
            }
            match t.text(self.src) {
                "allow" | "deny" | "on" if j > 0 && self.is_punct(j - 1, "{") => {
                    return Some(
                        self.action_list(j + 1)
                            .iter()
                            .filter_map(|&k| self.schema.action_id(self.text(k)))
                            .collect(),
                    );
                }
                "let" | "rule" | "invariant" => return None,
                _ => {}
            }
        }
        None
    }

    /// The indexes of the action names of a list that starts at token `k`.
    fn action_list(&self, mut k: usize) -> Vec<usize> {
        let mut out = Vec::new();
        while self.is_word(k) && !KEYWORDS.contains(&self.text(k)) {
            out.push(k);
            if !self.is_punct(k + 1, ",") {
                break;
            }
            k += 2;
        }
        out
    }

    fn actions_or_all(&self, actions: Option<&Vec<ActionId>>) -> Vec<ActionId> {
        match actions {
            Some(a) if !a.is_empty() => a.clone(),
            _ => (0..self.schema.actions.len())
                .filter_map(|i| ActionId::try_from(i).ok())
                .collect(),
        }
    }

    fn root(&self, name: &str, actions: Option<&Vec<ActionId>>) -> Option<Root> {
        if name == self.schema.context_name() {
            return Some(Root::Context);
        }
        if name == "request" {
            return Some(Root::Request);
        }
        let mut entities = Vec::new();
        for a in self.actions_or_all(actions) {
            if let Some(s) = self.schema.action(a).slot(name)
                && !entities.contains(&s.entity)
            {
                entities.push(s.entity);
            }
        }
        (!entities.is_empty()).then_some(Root::Slot(entities))
    }

    /// The type of `root.attr`, and the entity that declares it (`None` for a parameter).
    fn attr_type(
        &self,
        root: &Root,
        attr: &str,
        actions: Option<&Vec<ActionId>>,
    ) -> Option<(Type, Option<EntityId>)> {
        match root {
            Root::Context => {
                let def = self.schema.context();
                def.attr(attr)
                    .map(|i| (def.attrs[i].ty, Some(self.schema.context)))
            }
            Root::Slot(entities) => entities.iter().find_map(|&e| {
                let def = self.schema.entity(e);
                def.attr(attr).map(|i| (def.attrs[i].ty, Some(e)))
            }),
            Root::Request => self
                .actions_or_all(actions)
                .into_iter()
                .find_map(|a| self.schema.action(a).param(attr).map(|p| (p.ty, None))),
        }
    }

    /// The enum a string token is compared with: the nearest path before it in the same
    /// comparison (`user.roles contains any ["a", "b"]`), or after it (`"a" in user.roles`).
    fn enum_for_string(&self, i: usize) -> Option<EnumId> {
        let skip = |k: usize| {
            let t = self.toks[k];
            match t.kind {
                Kind::Str { .. } | Kind::Comment => true,
                Kind::Punct => matches!(t.text(self.src), "," | "[" | "]" | "=" | "!" | "<" | ">"),
                Kind::Word => matches!(t.text(self.src), "in" | "contains" | "any" | "all"),
            }
        };
        let actions = self.enclosing_actions(i);
        let enum_of = |attr_idx: usize| {
            let (root_idx, attr_idx) = self.path_at(attr_idx)?;
            let root = self.root(self.text(root_idx), actions.as_ref())?;
            match self
                .attr_type(&root, self.text(attr_idx), actions.as_ref())?
                .0
            {
                Type::Enum(e) | Type::Set(e) => Some(e),
                _ => None,
            }
        };
        let mut k = i;
        while k > 0 {
            k -= 1;
            if !skip(k) {
                if let Some(e) = self.is_word(k).then(|| enum_of(k)).flatten() {
                    return Some(e);
                }
                break;
            }
        }
        let mut k = i + 1;
        while k < self.toks.len() {
            if !skip(k) {
                // The root of a path after the string.
                return self.is_word(k).then(|| enum_of(k)).flatten();
            }
            k += 1;
        }
        None
    }

    fn location(&self, span: Span) -> String {
        let loc = self.analysis.sources.location(span);
        let file = std::path::Path::new(loc.file);
        let shown = file.strip_prefix(&self.analysis.root).unwrap_or(file);
        format!("{}:{}", shown.display(), loc.line)
    }

    fn members(&self, e: EnumId) -> String {
        self.schema
            .enum_def(e)
            .values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn type_text(&self, ty: Type) -> String {
        let mut s = format!("`{}`", self.schema.type_name(ty));
        if let Type::Enum(e) | Type::Set(e) = ty {
            s.push_str(&format!("\n\nmembers: {}", self.members(e)));
        }
        s
    }

    fn entity_text(&self, e: EntityId) -> String {
        let def = self.schema.entity(e);
        let attrs: Vec<String> = def
            .attrs
            .iter()
            .map(|a| format!("`{}`: `{}`", a.name, self.schema.type_name(a.ty)))
            .collect();
        format!("attributes: {}", attrs.join(", "))
    }

    fn action_text(&self, a: ActionId) -> String {
        let def = self.schema.action(a);
        let slots: Vec<String> = def
            .slots
            .iter()
            .map(|s| format!("`{}`: `{}`", s.name, self.schema.entity(s.entity).name))
            .collect();
        let mut text = format!("**action `{}`**\n\nslots: {}", def.name, slots.join(", "));
        if !def.params.is_empty() {
            let params: Vec<String> = def
                .params
                .iter()
                .map(|p| format!("`{}`: `{}`", p.name, self.schema.type_name(p.ty)))
                .collect();
            text.push_str(&format!("\n\nparameters: {}", params.join(", ")));
        }
        text
    }
}

/// The hover at byte `offset` of `src` (the text of a file of `analysis`).
pub(crate) fn hover(analysis: &Analysis, src: &str, offset: usize) -> Option<Hover> {
    let cx = Ctx::new(analysis, src)?;
    let i = cx.token_at(offset)?;
    let tok = cx.toks[i];
    let range = tok.start..tok.end;
    let markdown = match tok.kind {
        Kind::Str { .. } => {
            let e = cx.enum_for_string(i)?;
            let value = lexer::unquote(tok.text(src));
            let def = cx.schema.enum_def(e);
            match def.lookup(&value) {
                Some(n) => format!(
                    "**`{value}`**: member {} of {} of enum `{}`\n\nmembers: {}",
                    n + 1,
                    def.values.len(),
                    def.name,
                    cx.members(e)
                ),
                None => format!(
                    "`{value}` is not a member of enum `{}`\n\nmembers: {}",
                    def.name,
                    cx.members(e)
                ),
            }
        }
        Kind::Word => word_hover(&cx, i)?,
        Kind::Comment | Kind::Punct => return None,
    };
    Some(Hover { markdown, range })
}

fn word_hover(cx: &Ctx<'_>, i: usize) -> Option<String> {
    let word = cx.text(i);
    let actions = cx.enclosing_actions(i);
    if let Some((r, a)) = cx.path_at(i) {
        let root = cx.root(cx.text(r), actions.as_ref())?;
        if i == r {
            return Some(match root {
                Root::Context => format!(
                    "**`{word}`**: the context\n\n{}",
                    cx.entity_text(cx.schema.context)
                ),
                Root::Request => "**`request`**: the parameters of the request".to_owned(),
                Root::Slot(entities) => entities
                    .iter()
                    .map(|&e| {
                        format!(
                            "**`{word}`**: slot, entity type `{}`\n\n{}",
                            cx.schema.entity(e).name,
                            cx.entity_text(e)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n\n---\n\n"),
            });
        }
        let attr = cx.text(a);
        let (ty, entity) = cx.attr_type(&root, attr, actions.as_ref())?;
        let mut text = format!("**`{}.{attr}`**: {}", cx.text(r), cx.type_text(ty));
        if let Some(e) = entity {
            let def = cx.schema.entity(e);
            let required = match def.attr(attr).and_then(|k| def.attrs[k].default.as_ref()) {
                Some(d) => format!("default: `{}`", cx.schema.display_const(ty, d)),
                None => "required".to_owned(),
            };
            text.push_str(&format!("\n\n{required}; declared by `{}`", def.name));
        } else {
            text.push_str("\n\na parameter of the request");
        }
        return Some(text);
    }
    if KEYWORDS.contains(&word) {
        return None;
    }
    let in_header = i > 0 && matches!(cx.text(i - 1), "rule" | "invariant");
    if !in_header {
        if let Some(l) = cx.analysis.find_let(word) {
            let span = l.name.span.join(l.body.span);
            let start = cx
                .analysis
                .sources
                .get(span.file)
                .text
                .get(..span.start as usize)
                .and_then(|t| t.rfind("let"))
                .unwrap_or(span.start as usize);
            let body = cx
                .analysis
                .sources
                .get(span.file)
                .text
                .get(start..span.end as usize)
                .unwrap_or("");
            return Some(format!(
                "```mailgate\n{body}\n```\n\ndefined at {}",
                cx.location(l.name.span)
            ));
        }
        if let Some(a) = cx.schema.action_id(word) {
            return Some(cx.action_text(a));
        }
    }
    let after_invariant = i > 0 && cx.text(i - 1) == "invariant";
    let rule = match cx.analysis.find_rule(word) {
        Some(r) if !after_invariant => r,
        _ => return invariant_hover(cx, word),
    };
    let names: Vec<String> = rule
        .actions
        .iter()
        .map(|a| format!("`{}`", a.name))
        .collect();
    let mut text = format!(
        "**rule `{}`**: {} {}\n\ndefined at {}",
        rule.id.name,
        rule.effect.as_str(),
        names.join(", "),
        cx.location(rule.id.span)
    );
    if let Some(reason) = &rule.reason {
        text.push_str(&format!("\n\nreason: {reason}"));
    }
    Some(text)
}

fn invariant_hover(cx: &Ctx<'_>, word: &str) -> Option<String> {
    let inv = cx.analysis.find_invariant(word)?;
    let names: Vec<String> = inv
        .actions
        .iter()
        .map(|a| format!("`{}`", a.name))
        .collect();
    let condition = cx.analysis.sources.slice(inv.condition.span);
    let mut text = format!(
        "**invariant `{}`**: on {}, {} `{condition}`\n\ndefined at {}",
        inv.id.name,
        names.join(", "),
        inv.form.as_str(),
        cx.location(inv.id.span)
    );
    if let Some(reason) = &inv.reason {
        text.push_str(&format!("\n\nreason: {reason}"));
    }
    Some(text)
}

/// Where the name at byte `offset` of `src` is declared: a span in `analysis.sources`.
pub(crate) fn definition(analysis: &Analysis, src: &str, offset: usize) -> Option<Span> {
    let cx = Ctx::new(analysis, src)?;
    let i = cx.token_at(offset)?;
    let tok = cx.toks[i];
    let index = &analysis.index;
    match tok.kind {
        Kind::Str { .. } => {
            let e = cx.enum_for_string(i)?;
            let value = lexer::unquote(tok.text(src));
            let (_, members) = index.enums.get(&cx.schema.enum_def(e).name)?;
            members.iter().find(|(m, _)| *m == value).map(|(_, s)| *s)
        }
        Kind::Word => {
            let word = cx.text(i);
            let actions = cx.enclosing_actions(i);
            if let Some((r, a)) = cx.path_at(i) {
                let root = cx.root(cx.text(r), actions.as_ref())?;
                let entity_name = |e: EntityId| cx.schema.entity(e).name.clone();
                if i == r {
                    let name = match root {
                        Root::Context => cx.schema.context_name().to_owned(),
                        Root::Slot(es) => entity_name(*es.first()?),
                        Root::Request => return None,
                    };
                    return index.entities.get(&name).map(|(s, _)| *s);
                }
                let attr = cx.text(a);
                return match cx.attr_type(&root, attr, actions.as_ref())? {
                    (_, Some(e)) => index.entities.get(&entity_name(e))?.1.get(attr).copied(),
                    (_, None) => cx.actions_or_all(actions.as_ref()).iter().find_map(|&act| {
                        index
                            .actions
                            .get(&cx.schema.action(act).name)?
                            .1
                            .get(attr)
                            .copied()
                    }),
                };
            }
            if KEYWORDS.contains(&word) {
                return None;
            }
            let header = if i > 0 { cx.text(i - 1) } else { "" };
            if header != "rule" && header != "invariant" {
                if let Some(l) = analysis.find_let(word) {
                    return Some(l.name.span);
                }
                if let Some((span, _)) = index.actions.get(word) {
                    return Some(*span);
                }
            }
            let rule = analysis.find_rule(word).map(|r| r.id.span);
            let invariant = analysis.find_invariant(word).map(|v| v.id.span);
            if header == "invariant" {
                invariant.or(rule)
            } else {
                rule.or(invariant)
            }
        }
        Kind::Comment | Kind::Punct => None,
    }
}

/// Completions at byte `offset` of `src`.
pub(crate) fn complete(analysis: &Analysis, src: &str, offset: usize) -> Vec<Completion> {
    let Some(cx) = Ctx::new(analysis, src) else {
        return Vec::new();
    };
    let offset = offset.min(src.len());
    let mut out = Vec::new();
    // Inside a string: enum members.
    let i = cx.toks.partition_point(|t| t.end < offset);
    if let Some(t) = cx.toks.get(i) {
        let inside = matches!(t.kind, Kind::Str { closed } if t.start < offset && (offset < t.end || !closed));
        if inside {
            if i > 0 && cx.text(i - 1) == "reason" {
                return out;
            }
            let Some(e) = cx.enum_for_string(i) else {
                return out;
            };
            let end = if matches!(t.kind, Kind::Str { closed: true }) {
                t.end - 1
            } else {
                t.end
            };
            for v in &cx.schema.enum_def(e).values {
                out.push(Completion {
                    label: v.clone(),
                    kind: CompletionKind::Member,
                    detail: Some(cx.schema.enum_def(e).name.clone()),
                    replace: t.start + 1..end,
                    insert: lexer::escape(v),
                });
            }
            return out;
        }
        if t.kind == Kind::Comment && t.start < offset {
            return out;
        }
    }
    // The word being typed (possibly empty), and the token before it.
    let (word_start, word_end, prev) = match cx.toks.get(i) {
        Some(t) if t.kind == Kind::Word && t.start <= offset => (t.start, t.end, i.checked_sub(1)),
        _ => {
            let before = cx.toks.partition_point(|t| t.end <= offset);
            (offset, offset, before.checked_sub(1))
        }
    };
    let replace = word_start..word_end;
    let Some(prev) = prev else {
        return keywords(&["rule", "let", "invariant"], replace);
    };
    let prev_text = cx.text(prev);
    let actions = cx.enclosing_actions(prev + 1);
    // After `root.`: attributes.
    if prev_text == "."
        && prev >= 1
        && cx.is_word(prev - 1)
        && cx.adjacent(prev - 1)
        && cx.toks[prev].end == word_start
    {
        let Some(root) = cx.root(cx.text(prev - 1), actions.as_ref()) else {
            return out;
        };
        let mut push = |name: &str, ty: Type| {
            if !out.iter().any(|c: &Completion| c.label == name) {
                out.push(Completion {
                    label: name.to_owned(),
                    kind: CompletionKind::Attribute,
                    detail: Some(cx.schema.type_name(ty)),
                    replace: replace.clone(),
                    insert: name.to_owned(),
                });
            }
        };
        match root {
            Root::Context => {
                for a in &cx.schema.context().attrs {
                    push(&a.name, a.ty);
                }
            }
            Root::Slot(es) => {
                for e in es {
                    for a in &cx.schema.entity(e).attrs {
                        push(&a.name, a.ty);
                    }
                }
            }
            Root::Request => {
                for a in cx.actions_or_all(actions.as_ref()) {
                    for p in &cx.schema.action(a).params {
                        push(&p.name, p.ty);
                    }
                }
            }
        }
        return out;
    }
    // In an action list: after `allow`, `deny`, `on`, or a `,` that follows an action.
    let in_actions = match prev_text {
        "allow" | "deny" | "on" => prev > 0 && cx.is_punct(prev - 1, "{"),
        "," => {
            let mut k = prev;
            loop {
                if k < 2 || !cx.is_word(k - 1) {
                    break false;
                }
                let before = cx.text(k - 2);
                if matches!(before, "allow" | "deny" | "on") {
                    break k >= 3 && cx.is_punct(k - 3, "{");
                }
                if before != "," {
                    break false;
                }
                k -= 2;
            }
        }
        _ => false,
    };
    if in_actions {
        for a in &cx.schema.actions {
            out.push(Completion {
                label: a.name.clone(),
                kind: CompletionKind::Action,
                detail: Some("action".to_owned()),
                replace: replace.clone(),
                insert: a.name.clone(),
            });
        }
        return out;
    }
    match prev_text {
        "rule" | "let" | "invariant" | "reason" | "." | "{" => return out,
        "}" => return keywords(&["rule", "let", "invariant"], replace),
        _ => {}
    }
    if actions.is_none() && !inside_let(&cx, prev) {
        return keywords(&["rule", "let", "invariant"], replace);
    }
    // An expression: roots, `let`s, a few keywords.
    let mut roots: Vec<(String, String)> = vec![(
        cx.schema.context_name().to_owned(),
        "the context".to_owned(),
    )];
    for a in cx.actions_or_all(actions.as_ref()) {
        let def = cx.schema.action(a);
        for s in &def.slots {
            if !roots.iter().any(|(n, _)| *n == s.name) {
                roots.push((
                    s.name.clone(),
                    format!("slot: {}", cx.schema.entity(s.entity).name),
                ));
            }
        }
        if !def.params.is_empty() && !roots.iter().any(|(n, _)| n == "request") {
            roots.push(("request".to_owned(), "the request's parameters".to_owned()));
        }
    }
    for (name, detail) in roots {
        out.push(Completion {
            label: name.clone(),
            kind: CompletionKind::Root,
            detail: Some(detail),
            replace: replace.clone(),
            insert: name,
        });
    }
    for l in analysis.lets() {
        if !out.iter().any(|c| c.label == l.name.name) {
            out.push(Completion {
                label: l.name.name.clone(),
                kind: CompletionKind::Let,
                detail: Some("let".to_owned()),
                replace: replace.clone(),
                insert: l.name.name.clone(),
            });
        }
    }
    out.extend(keywords(&["not", "true", "false"], replace));
    out
}

/// Whether token `k` is inside a `let` (after its `=`), not between items.
fn inside_let(cx: &Ctx<'_>, k: usize) -> bool {
    let mut j = k + 1;
    while j > 0 {
        j -= 1;
        match cx.text(j) {
            "let" if cx.is_word(j) => return true,
            "}" | "rule" | "invariant" => return false,
            _ => {}
        }
    }
    false
}

fn keywords(words: &[&str], replace: Range<usize>) -> Vec<Completion> {
    words
        .iter()
        .map(|w| Completion {
            label: (*w).to_owned(),
            kind: CompletionKind::Keyword,
            detail: None,
            replace: replace.clone(),
            insert: (*w).to_owned(),
        })
        .collect()
}
