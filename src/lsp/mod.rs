//! `mailgate lsp`: the Language Server Protocol over standard input and output.
//!
//! The server is synchronous (the `lsp-server` message types, no async runtime): a policy
//! set loads in about a millisecond, so every question is answered on one thread, in order.
//! A reader thread frames the input; when several edits arrive together, the set is
//! reloaded once for all of them.
//!
//! - **Diagnostics** are exactly what `mailgate check` reports: the same loader runs on the
//!   policy folder with the text of the open buffers in place of the files on disk. Every
//!   file of the set gets its list (an empty one once it is clean), `schema.yaml` included.
//!   Secondary labels become related information; a did-you-mean becomes a quick fix.
//! - **Hover, definition, completion** read the tokens around the cursor (see
//!   `features`), so they work while the text is being typed and does not parse.
//! - **Formatting** is `mailgate fmt`'s: one edit that replaces the whole document.
//! - **Scenario files** (`scenarios/*.yaml` of a policy folder) are decided with the set
//!   as loaded for the editor (see `scenarios`): each request's decision is an inlay hint,
//!   a disagreeing `expect` an error, and a code action adds the first why-not option as a
//!   comment. A reload of the set decides the open scenario files again.
//! - **Positions** are converted between byte offsets and the client's UTF-16 (or UTF-8,
//!   when offered) columns by `text::LineIndex`.
//!
//! Nothing but protocol messages is written to standard output.

mod features;
mod lexer;
mod scenarios;
mod text;
mod transport;
mod workspace;

use crate::source::SourceMap;
use features::CompletionKind;
use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use text::{Encoding, LineIndex, path_to_uri, uri_to_path};
use workspace::Analysis;

/// Errors that end the server.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    /// Standard input or output failed.
    #[error("language server I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// How `mailgate lsp` was started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--policies DIR`: the policy folder for files that are not under a folder with a
    /// `schema.yaml` of their own.
    pub policies: Option<PathBuf>,
}

/// How the session ended: whether `exit` came after `shutdown` (exit code 0) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `shutdown` then `exit`.
    Clean,
    /// `exit` without `shutdown`, or the input ended.
    Abrupt,
}

/// Serves the protocol on standard input and output until `exit` or the end of input.
pub fn serve_stdio(options: &Options) -> Result<Ending, LspError> {
    let input = std::io::BufReader::new(std::io::stdin());
    let mut output = std::io::stdout().lock();
    serve(input, &mut output, options)
}

/// Serves the protocol on any pair of streams.
pub fn serve<R, W>(input: R, output: &mut W, options: &Options) -> Result<Ending, LspError>
where
    R: BufRead + Send + 'static,
    W: Write,
{
    let rx = transport::spawn_reader(input)?;
    let mut server = Server::new(options);
    let ending = run_loop(&rx, &mut server, output);
    // Messages produced last (for example the reply to `shutdown`).
    flush(&mut server, output)?;
    ending
}

fn run_loop<W: Write>(
    rx: &Receiver<transport::Incoming>,
    server: &mut Server,
    output: &mut W,
) -> Result<Ending, LspError> {
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(incoming) = next.take() {
            if let Some(ending) = server.incoming(incoming) {
                return Ok(ending);
            }
            flush(server, output)?;
            next = rx.try_recv().ok();
        }
        server.refresh();
        flush(server, output)?;
    }
    Ok(Ending::Abrupt)
}

fn flush<W: Write>(server: &mut Server, output: &mut W) -> Result<(), LspError> {
    for msg in server.outbox.drain(..) {
        transport::write_frame(output, &msg)?;
    }
    Ok(())
}

/// An open buffer.
#[derive(Debug)]
struct Doc {
    /// The URI the client uses for it.
    uri: lt::Uri,
    /// Its current text.
    text: String,
    /// The policy folder it belongs to, if any.
    root: Option<PathBuf>,
    /// Whether it is a scenario file of that folder (`scenarios/*.yaml`).
    scenario: bool,
}

/// A policy folder the server has loaded.
struct RootState {
    analysis: Analysis,
    /// URIs that have diagnostics published (possibly empty lists).
    published: BTreeSet<String>,
}

/// The server's state. Messages go in through [`Server::incoming`]; replies and
/// notifications collect in `outbox`.
struct Server {
    options: Options,
    encoding: Encoding,
    initialized: bool,
    shutdown: bool,
    /// Open buffers, by canonical path.
    docs: HashMap<PathBuf, Doc>,
    roots: BTreeMap<PathBuf, RootState>,
    /// Folders whose files changed since they were last loaded.
    dirty: BTreeSet<PathBuf>,
    /// Open scenario files, decided.
    scenarios: HashMap<PathBuf, scenarios::ScenarioView>,
    /// Open scenario files whose text changed since they were last decided.
    scenarios_dirty: BTreeSet<PathBuf>,
    /// Whether the client takes `workspace/inlayHint/refresh`.
    inlay_refresh: bool,
    /// Ids of the requests the server sends.
    next_id: u64,
    outbox: Vec<Value>,
}

/// Folders searched upwards from a file for `schema.yaml`.
const MAX_ROOT_SEARCH: usize = 64;

impl Server {
    fn new(options: &Options) -> Self {
        let policies = options.policies.as_ref().map(|p| canonical(p));
        Server {
            options: Options { policies },
            encoding: Encoding::Utf16,
            initialized: false,
            shutdown: false,
            docs: HashMap::new(),
            roots: BTreeMap::new(),
            dirty: BTreeSet::new(),
            scenarios: HashMap::new(),
            scenarios_dirty: BTreeSet::new(),
            inlay_refresh: false,
            next_id: 0,
            outbox: Vec::new(),
        }
    }

    fn send(&mut self, msg: &Message) {
        if let Ok(mut v) = serde_json::to_value(msg) {
            if let Some(o) = v.as_object_mut() {
                o.insert("jsonrpc".to_owned(), json!("2.0"));
            }
            self.outbox.push(v);
        }
    }

    /// Publishes an empty list for `uri`, so the client drops what it shows for it.
    fn clear_diagnostics(&mut self, uri: lt::Uri) {
        self.notify(
            "textDocument/publishDiagnostics",
            lt::PublishDiagnosticsParams {
                uri,
                diagnostics: Vec::new(),
                version: None,
            },
        );
    }

    fn notify(&mut self, method: &str, params: impl serde::Serialize) {
        self.send(&Message::Notification(Notification::new(
            method.to_owned(),
            params,
        )));
    }

    fn log(&mut self, text: &str) {
        self.notify(
            "window/logMessage",
            lt::LogMessageParams {
                typ: lt::MessageType::LOG,
                message: text.to_owned(),
            },
        );
    }

    /// Handles one incoming message; `Some` when the session is over.
    fn incoming(&mut self, incoming: transport::Incoming) -> Option<Ending> {
        match incoming {
            transport::Incoming::Message(Message::Request(req)) => self.request(req),
            transport::Incoming::Message(Message::Notification(n)) => return self.notification(n),
            transport::Incoming::Message(Message::Response(_)) => {}
            transport::Incoming::Malformed(why) => {
                self.outbox.push(json!({
                    "jsonrpc": "2.0",
                    "id": null,
                    "error": { "code": ErrorCode::ParseError as i32, "message": why },
                }));
            }
        }
        None
    }

    fn reply_err(&mut self, id: RequestId, code: ErrorCode, message: impl Into<String>) {
        self.send(&Message::Response(Response::new_err(
            id,
            code as i32,
            message.into(),
        )));
    }

    fn reply(&mut self, id: RequestId, result: impl serde::Serialize) {
        self.send(&Message::Response(Response::new_ok(id, result)));
    }

    fn request(&mut self, req: Request) {
        if self.shutdown {
            return self.reply_err(
                req.id,
                ErrorCode::InvalidRequest,
                "the server is shutting down",
            );
        }
        if req.method == "initialize" {
            return self.initialize(req);
        }
        if !self.initialized {
            return self.reply_err(req.id, ErrorCode::ServerNotInitialized, "initialize first");
        }
        // Questions are answered on the current text.
        self.refresh();
        let id = req.id.clone();
        let result = match req.method.as_str() {
            "shutdown" => {
                self.shutdown = true;
                Ok(Value::Null)
            }
            "textDocument/hover" => params(req).map(|p| self.hover(&p)),
            "textDocument/definition" => params(req).map(|p| self.definition(&p)),
            "textDocument/completion" => params(req).map(|p| self.completion(&p)),
            "textDocument/codeAction" => params(req).map(|p| self.code_action(&p)),
            "textDocument/inlayHint" => params(req).map(|p| self.inlay_hints(&p)),
            "textDocument/formatting" => params(req).map(|p| self.formatting(&p)),
            other => Err((
                ErrorCode::MethodNotFound,
                format!("unknown method `{other}`"),
            )),
        };
        match result {
            Ok(v) => self.reply(id, v),
            Err((code, message)) => self.reply_err(id, code, message),
        }
    }

    fn initialize(&mut self, req: Request) {
        let p: lt::InitializeParams = match serde_json::from_value(req.params) {
            Ok(p) => p,
            Err(e) => return self.reply_err(req.id, ErrorCode::InvalidParams, e.to_string()),
        };
        let offers_utf8 = p
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|encs| encs.contains(&lt::PositionEncodingKind::UTF8));
        self.inlay_refresh = p
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.inlay_hint.as_ref())
            .and_then(|i| i.refresh_support)
            .unwrap_or(false);
        self.encoding = if offers_utf8 {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        // Folders to load at once: `--policies`, and each workspace folder (or its
        // `policies/`) that holds a `schema.yaml`.
        let mut folders: Vec<PathBuf> = p
            .workspace_folders
            .unwrap_or_default()
            .iter()
            .filter_map(|f| uri_to_path(&f.uri))
            .collect();
        #[allow(deprecated, reason = "older clients send only rootUri")]
        if folders.is_empty() {
            folders.extend(p.root_uri.as_ref().and_then(uri_to_path));
        }
        let mut roots: Vec<PathBuf> = self.options.policies.iter().cloned().collect();
        for f in folders {
            for candidate in [f.clone(), f.join("policies")] {
                if candidate.join("schema.yaml").is_file() {
                    roots.push(canonical(&candidate));
                }
            }
        }
        for r in roots {
            self.dirty.insert(r);
        }
        let capabilities = lt::ServerCapabilities {
            position_encoding: Some(match self.encoding {
                Encoding::Utf8 => lt::PositionEncodingKind::UTF8,
                Encoding::Utf16 => lt::PositionEncodingKind::UTF16,
            }),
            text_document_sync: Some(lt::TextDocumentSyncCapability::Options(
                lt::TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(lt::TextDocumentSyncKind::FULL),
                    save: Some(lt::TextDocumentSyncSaveOptions::Supported(true)),
                    ..Default::default()
                },
            )),
            hover_provider: Some(lt::HoverProviderCapability::Simple(true)),
            definition_provider: Some(lt::OneOf::Left(true)),
            completion_provider: Some(lt::CompletionOptions {
                trigger_characters: Some(vec![".".to_owned(), "\"".to_owned()]),
                ..Default::default()
            }),
            document_formatting_provider: Some(lt::OneOf::Left(true)),
            inlay_hint_provider: Some(lt::OneOf::Left(true)),
            code_action_provider: Some(lt::CodeActionProviderCapability::Options(
                lt::CodeActionOptions {
                    code_action_kinds: Some(vec![lt::CodeActionKind::QUICKFIX]),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let result = lt::InitializeResult {
            capabilities,
            server_info: Some(lt::ServerInfo {
                name: "mailgate".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
        };
        self.initialized = true;
        self.reply(req.id, result);
    }

    fn notification(&mut self, n: Notification) -> Option<Ending> {
        match n.method.as_str() {
            "exit" => {
                return Some(if self.shutdown {
                    Ending::Clean
                } else {
                    Ending::Abrupt
                });
            }
            _ if !self.initialized || self.shutdown => {}
            "textDocument/didOpen" => {
                if let Ok(p) = serde_json::from_value::<lt::DidOpenTextDocumentParams>(n.params) {
                    self.open(p.text_document.uri, p.text_document.text);
                }
            }
            "textDocument/didChange" => {
                if let Ok(p) = serde_json::from_value::<lt::DidChangeTextDocumentParams>(n.params) {
                    // Full sync: the last change holds the whole text.
                    if let Some(c) = p.content_changes.into_iter().last() {
                        self.change(&p.text_document.uri, c.text);
                    }
                }
            }
            "textDocument/didClose" => {
                if let Ok(p) = serde_json::from_value::<lt::DidCloseTextDocumentParams>(n.params) {
                    self.close(&p.text_document.uri);
                }
            }
            "textDocument/didSave" => {
                if let Ok(p) = serde_json::from_value::<lt::DidSaveTextDocumentParams>(n.params) {
                    self.touch(&p.text_document.uri);
                }
            }
            "workspace/didChangeWatchedFiles" => {
                if let Ok(p) = serde_json::from_value::<lt::DidChangeWatchedFilesParams>(n.params) {
                    for c in p.changes {
                        self.touch(&c.uri);
                    }
                }
            }
            _ => {}
        }
        None
    }

    /// The policy folder of a file: the nearest folder above it with a `schema.yaml`, else
    /// `--policies` when the file is under it.
    fn root_of(&self, path: &Path) -> Option<PathBuf> {
        if let Some(p) = &self.options.policies
            && path.starts_with(p)
        {
            return Some(p.clone());
        }
        path.ancestors()
            .skip(1)
            .take(MAX_ROOT_SEARCH)
            .find(|d| d.join("schema.yaml").is_file())
            .map(Path::to_path_buf)
    }

    fn open(&mut self, uri: lt::Uri, text: String) {
        let Some(path) = uri_to_path(&uri).map(|p| canonical(&p)) else {
            return;
        };
        let root = self.root_of(&path);
        let scenario = root
            .as_ref()
            .is_some_and(|r| scenarios::is_scenario(r, &path));
        if scenario {
            // Decided with the folder's set: load it if it is not loaded yet.
            if let Some(r) = root.as_ref().filter(|r| !self.roots.contains_key(*r)) {
                self.dirty.insert(r.clone());
            }
            self.scenarios_dirty.insert(path.clone());
        } else if let Some(r) = &root {
            self.dirty.insert(r.clone());
        } else if path.extension().is_some_and(|e| e == "policy") {
            let msg = format!(
                "mailgate: no schema.yaml in the folders above {}; start the server with --policies DIR",
                path.display()
            );
            self.log(&msg);
        }
        self.docs.insert(
            path,
            Doc {
                uri,
                text,
                root,
                scenario,
            },
        );
    }

    fn doc_path(&self, uri: &lt::Uri) -> Option<PathBuf> {
        let path = canonical(&uri_to_path(uri)?);
        self.docs.contains_key(&path).then_some(path)
    }

    fn change(&mut self, uri: &lt::Uri, text: String) {
        let Some(path) = self.doc_path(uri) else {
            return;
        };
        if let Some(doc) = self.docs.get_mut(&path) {
            doc.text = text;
            if doc.scenario {
                // A scenario is not part of the set: only it is decided again.
                self.scenarios_dirty.insert(path);
            } else if let Some(r) = doc.root.clone() {
                self.dirty.insert(r);
            }
        }
    }

    fn close(&mut self, uri: &lt::Uri) {
        let Some(path) = self.doc_path(uri) else {
            return;
        };
        match self.docs.remove(&path) {
            Some(Doc {
                scenario: true,
                uri,
                ..
            }) => {
                // Only open scenario files are decided: its diagnostics go with it.
                self.scenarios.remove(&path);
                self.scenarios_dirty.remove(&path);
                self.clear_diagnostics(uri);
            }
            Some(Doc { root: Some(r), .. }) => {
                self.dirty.insert(r);
            }
            _ => {}
        }
    }

    /// A file changed on disk: reload the folder it belongs to.
    fn touch(&mut self, uri: &lt::Uri) {
        if let Some(path) = uri_to_path(uri) {
            let path = canonical(&path);
            if self.docs.get(&path).is_some_and(|d| d.scenario)
                || self.roots.keys().any(|r| scenarios::is_scenario(r, &path))
            {
                // Not part of a set; an open scenario is decided on its buffer's text.
                return;
            }
            for root in self.roots.keys() {
                if path.starts_with(root) {
                    self.dirty.insert(root.clone());
                }
            }
            if let Some(r) = self.root_of(&path)
                && (self.roots.contains_key(&r)
                    || self.docs.values().any(|d| d.root.as_ref() == Some(&r)))
            {
                self.dirty.insert(r);
            }
        }
    }

    /// Reloads every folder that changed and publishes its diagnostics, then decides the
    /// open scenario files again (those of a reloaded folder, and those edited).
    fn refresh(&mut self) {
        let reloaded = std::mem::take(&mut self.dirty);
        for root in reloaded.iter().cloned() {
            let overlay: HashMap<PathBuf, String> = self
                .docs
                .iter()
                .filter(|(_, d)| d.root.as_ref() == Some(&root))
                .map(|(p, d)| (p.clone(), d.text.clone()))
                .collect();
            let analysis = Analysis::load(&root, &overlay);
            let previous = self
                .roots
                .remove(&root)
                .map(|s| s.published)
                .unwrap_or_default();
            let published = self.publish(&analysis, &previous);
            self.roots.insert(
                root,
                RootState {
                    analysis,
                    published,
                },
            );
        }
        let mut redecided = false;
        for (path, doc) in &self.docs {
            if doc.scenario && doc.root.as_ref().is_some_and(|r| reloaded.contains(r)) {
                self.scenarios_dirty.insert(path.clone());
                redecided = true;
            }
        }
        for path in std::mem::take(&mut self.scenarios_dirty) {
            self.decide_scenario(&path);
        }
        // The hints of scenario files the client shows may have changed with the policies:
        // ask it to fetch them again.
        if redecided && self.inlay_refresh {
            self.next_id += 1;
            let id = RequestId::from(format!("mailgate-{}", self.next_id));
            self.send(&Message::Request(Request::new(
                id,
                "workspace/inlayHint/refresh".to_owned(),
                Value::Null,
            )));
        }
    }

    /// Decides the open scenario file `path` with its folder's set and publishes its
    /// diagnostics.
    fn decide_scenario(&mut self, path: &Path) {
        let Some(doc) = self.docs.get(path) else {
            return;
        };
        let set = doc
            .root
            .as_ref()
            .and_then(|r| self.roots.get(r))
            .and_then(|s| s.analysis.set.as_ref());
        let view = scenarios::evaluate(set, &path.display().to_string(), &doc.text);
        let mut indexes = HashMap::new();
        let diagnostics = view
            .diagnostics
            .iter()
            .map(|d| self.convert(&view.sources, d, &mut indexes))
            .collect();
        let uri = doc.uri.clone();
        self.scenarios.insert(path.to_path_buf(), view);
        self.notify(
            "textDocument/publishDiagnostics",
            lt::PublishDiagnosticsParams {
                uri,
                diagnostics,
                version: None,
            },
        );
    }

    /// The URI for a file of a set: the client's own for an open buffer.
    fn uri_for(&self, name: &str) -> Option<lt::Uri> {
        let path = Path::new(name);
        match self.docs.get(path) {
            Some(d) => Some(d.uri.clone()),
            None => path_to_uri(path),
        }
    }

    fn publish(&mut self, a: &Analysis, previous: &BTreeSet<String>) -> BTreeSet<String> {
        let mut by_file: BTreeMap<crate::source::FileId, Vec<lt::Diagnostic>> =
            a.sources.files().map(|(id, _)| (id, Vec::new())).collect();
        let mut indexes: HashMap<crate::source::FileId, LineIndex> = HashMap::new();
        for d in &a.diagnostics {
            let file = match (&d.primary, &d.file) {
                (Some(l), _) => Some(l.span.file),
                (None, Some(name)) => a
                    .sources
                    .files()
                    .find(|(_, f)| f.name == *name)
                    .map(|(id, _)| id)
                    .or(a.schema_file),
                (None, None) => a.schema_file,
            };
            let Some(file) = file else {
                continue;
            };
            let diag = self.convert(&a.sources, d, &mut indexes);
            by_file.entry(file).or_default().push(diag);
        }
        let mut published = BTreeSet::new();
        for (file, diagnostics) in by_file {
            let Some(uri) = self.uri_for(&a.sources.get(file).name) else {
                continue;
            };
            published.insert(uri.as_str().to_owned());
            self.notify(
                "textDocument/publishDiagnostics",
                lt::PublishDiagnosticsParams {
                    uri,
                    diagnostics,
                    version: None,
                },
            );
        }
        for gone in previous.difference(&published) {
            if let Ok(uri) = gone.parse::<lt::Uri>() {
                self.clear_diagnostics(uri);
            }
        }
        published
    }

    fn range(
        &self,
        sources: &SourceMap,
        span: crate::source::Span,
        indexes: &mut HashMap<crate::source::FileId, LineIndex>,
    ) -> lt::Range {
        let text = &sources.get(span.file).text;
        indexes
            .entry(span.file)
            .or_insert_with(|| LineIndex::new(text))
            .range(text, span.range(), self.encoding)
    }

    fn convert(
        &self,
        sources: &SourceMap,
        d: &crate::diagnostics::Diagnostic,
        indexes: &mut HashMap<crate::source::FileId, LineIndex>,
    ) -> lt::Diagnostic {
        let range = d
            .primary
            .as_ref()
            .map_or_else(lt::Range::default, |l| self.range(sources, l.span, indexes));
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        for note in &d.notes {
            message.push_str("\nnote: ");
            message.push_str(note);
        }
        let related: Vec<lt::DiagnosticRelatedInformation> = d
            .secondary
            .iter()
            .filter_map(|l| {
                Some(lt::DiagnosticRelatedInformation {
                    location: lt::Location {
                        uri: self.uri_for(&sources.get(l.span.file).name)?,
                        range: self.range(sources, l.span, indexes),
                    },
                    message: if l.text.is_empty() {
                        d.message.clone()
                    } else {
                        l.text.clone()
                    },
                })
            })
            .collect();
        // The did-you-mean, as the text that replaces the primary span.
        let fix = d.help.as_deref().and_then(suggestion).and_then(|name| {
            let old = sources.slice(d.primary.as_ref()?.span);
            if old.len() >= 2 && old.starts_with('"') && old.ends_with('"') {
                Some(lexer::quote(name))
            } else if !old.is_empty()
                && old
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                Some(name.to_owned())
            } else {
                None
            }
        });
        lt::Diagnostic {
            range,
            severity: Some(if d.is_error() {
                lt::DiagnosticSeverity::ERROR
            } else {
                lt::DiagnosticSeverity::WARNING
            }),
            source: Some("mailgate".to_owned()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            code: d.code.clone().map(lt::NumberOrString::String),
            data: match &d.fix {
                // A fix with its own range (a lint's): the edit to make.
                Some((span, text)) => Some(json!({
                    "edit": { "range": self.range(sources, *span, indexes), "newText": text },
                    "title": if text.is_empty() { "Remove the redundant condition" } else { "Apply the fix" },
                })),
                None => fix.map(|f| json!({ "replacement": f })),
            },
            ..Default::default()
        }
    }

    /// The open buffer a request is about, with its folder's analysis.
    /// Only `.policy` files: an open `schema.yaml` gets diagnostics, not policy features.
    fn target(&self, uri: &lt::Uri) -> Result<(&Doc, &Analysis), (ErrorCode, String)> {
        let path = self
            .doc_path(uri)
            .filter(|p| p.extension().is_some_and(|e| e == "policy"))
            .ok_or_else(|| {
                (
                    ErrorCode::InvalidParams,
                    format!("`{}` is not an open policy file", uri.as_str()),
                )
            })?;
        let doc = self.docs.get(&path).ok_or_else(|| {
            (
                ErrorCode::InvalidParams,
                format!("`{}` is not open", uri.as_str()),
            )
        })?;
        let analysis = doc
            .root
            .as_ref()
            .and_then(|r| self.roots.get(r))
            .map(|s| &s.analysis)
            .ok_or_else(|| {
                (
                    ErrorCode::RequestFailed,
                    "the file is not part of a policy set".to_owned(),
                )
            })?;
        Ok((doc, analysis))
    }

    fn hover(&self, p: &lt::HoverParams) -> Value {
        let tp = &p.text_document_position_params;
        let Ok((doc, a)) = self.target(&tp.text_document.uri) else {
            return Value::Null;
        };
        let idx = LineIndex::new(&doc.text);
        let offset = idx.offset(&doc.text, tp.position, self.encoding);
        let Some(h) = features::hover(a, &doc.text, offset) else {
            return Value::Null;
        };
        json!(lt::Hover {
            contents: lt::HoverContents::Markup(lt::MarkupContent {
                kind: lt::MarkupKind::Markdown,
                value: h.markdown,
            }),
            range: Some(idx.range(&doc.text, h.range, self.encoding)),
        })
    }

    fn definition(&self, p: &lt::GotoDefinitionParams) -> Value {
        let tp = &p.text_document_position_params;
        let Ok((doc, a)) = self.target(&tp.text_document.uri) else {
            return Value::Null;
        };
        let idx = LineIndex::new(&doc.text);
        let offset = idx.offset(&doc.text, tp.position, self.encoding);
        let Some(span) = features::definition(a, &doc.text, offset) else {
            return Value::Null;
        };
        let Some(uri) = self.uri_for(&a.sources.get(span.file).name) else {
            return Value::Null;
        };
        let range = self.range(&a.sources, span, &mut HashMap::new());
        json!(lt::Location { uri, range })
    }

    /// The whole document in the `mailgate fmt` style, as one edit; no edit when it is
    /// already formatted, and `null` when it cannot be formatted (a syntax error, which the
    /// diagnostics show).
    fn formatting(&self, p: &lt::DocumentFormattingParams) -> Value {
        let Some(doc) = self
            .doc_path(&p.text_document.uri)
            .filter(|p| p.extension().is_some_and(|e| e == "policy"))
            .and_then(|path| self.docs.get(&path))
        else {
            return Value::Null;
        };
        match crate::fmt::format_source(&doc.text) {
            Ok(formatted) if formatted == doc.text => json!([]),
            Ok(formatted) => {
                let idx = LineIndex::new(&doc.text);
                let range = idx.range(&doc.text, 0..doc.text.len(), self.encoding);
                json!([lt::TextEdit {
                    range,
                    new_text: formatted
                }])
            }
            Err(_) => Value::Null,
        }
    }

    /// The open scenario file `uri`, its text and its decisions.
    fn scenario(&self, uri: &lt::Uri) -> Option<(&Doc, &scenarios::ScenarioView)> {
        let path = self.doc_path(uri)?;
        let doc = self.docs.get(&path).filter(|d| d.scenario)?;
        Some((doc, self.scenarios.get(&path)?))
    }

    /// Each request's decision (`allow`, or `deny: REASON`) at the end of its first line;
    /// none for other files.
    fn inlay_hints(&self, p: &lt::InlayHintParams) -> Value {
        let Some((doc, view)) = self.scenario(&p.text_document.uri) else {
            return json!([]);
        };
        let idx = LineIndex::new(&doc.text);
        let hints: Vec<lt::InlayHint> = view
            .requests
            .iter()
            .filter_map(|r| {
                let position = idx
                    .range(&doc.text, r.hint_at..r.hint_at, self.encoding)
                    .start;
                let visible =
                    p.range.start.line <= position.line && position.line <= p.range.end.line;
                visible.then(|| lt::InlayHint {
                    position,
                    label: lt::InlayHintLabel::String(r.label.clone()),
                    kind: None,
                    text_edits: None,
                    tooltip: Some(lt::InlayHintTooltip::String(r.tooltip.clone())),
                    padding_left: Some(true),
                    padding_right: None,
                    data: None,
                })
            })
            .collect();
        json!(hints)
    }

    /// The quick fixes the diagnostics carry (see [`quick_fixes`]); in a scenario file
    /// also, for each request on the lines asked about, the first why-not option added as
    /// a comment above it.
    fn code_action(&self, p: &lt::CodeActionParams) -> Value {
        let Some((doc, view)) = self.scenario(&p.text_document.uri) else {
            return code_action(p);
        };
        // A did-you-mean of the scenario loader (an unknown id or attribute).
        let mut actions = quick_fixes(p);
        let Some(set) = doc
            .root
            .as_ref()
            .and_then(|r| self.roots.get(r))
            .and_then(|s| s.analysis.set.as_ref())
        else {
            return json!(actions);
        };
        let idx = LineIndex::new(&doc.text);
        let analyzer = scenarios::analyzer(set);
        let mut tried = 0;
        for r in &view.requests {
            let range = idx.range(&doc.text, r.line.clone(), self.encoding);
            if range.start.line < p.range.start.line || range.start.line > p.range.end.line {
                continue;
            }
            // A whole file selected, or thousands of requests on one line: the first few
            // are enough for a menu, and each costs an analysis.
            if tried == scenarios::MAX_WHY_NOT_ACTIONS {
                break;
            }
            tried += 1;
            let Some(comment) = scenarios::why_not_comment(&analyzer, &r.request) else {
                continue;
            };
            let line_start = doc.text[..r.line.start].rfind('\n').map_or(0, |i| i + 1);
            let indent: String = doc.text[line_start..]
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect();
            // Not twice: the line above already says it.
            let above = doc.text[..line_start.saturating_sub(1)]
                .rsplit('\n')
                .next()
                .unwrap_or("");
            if line_start > 0 && above.trim() == comment {
                continue;
            }
            let at = idx
                .range(&doc.text, line_start..line_start, self.encoding)
                .start;
            let edit = lt::TextEdit {
                range: lt::Range { start: at, end: at },
                new_text: format!("{indent}{comment}\n"),
            };
            // The disagreement this request shows, if any, is what the action answers.
            let diagnostics: Vec<lt::Diagnostic> = p
                .context
                .diagnostics
                .iter()
                .filter(|d| d.range.start.line == range.start.line)
                .cloned()
                .collect();
            #[allow(clippy::mutable_key_type, reason = "lsp-types keys edits by Uri")]
            let changes = HashMap::from([(p.text_document.uri.clone(), vec![edit])]);
            actions.push(lt::CodeActionOrCommand::CodeAction(lt::CodeAction {
                title: "Add the first why-not option as a comment".to_owned(),
                kind: Some(lt::CodeActionKind::QUICKFIX),
                diagnostics: (!diagnostics.is_empty()).then_some(diagnostics),
                edit: Some(lt::WorkspaceEdit {
                    changes: Some(changes),
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
        json!(actions)
    }

    fn completion(&self, p: &lt::CompletionParams) -> Value {
        let tp = &p.text_document_position;
        let Ok((doc, a)) = self.target(&tp.text_document.uri) else {
            return Value::Null;
        };
        let idx = LineIndex::new(&doc.text);
        let offset = idx.offset(&doc.text, tp.position, self.encoding);
        let items: Vec<lt::CompletionItem> = features::complete(a, &doc.text, offset)
            .into_iter()
            .map(|c| lt::CompletionItem {
                label: c.label,
                kind: Some(match c.kind {
                    CompletionKind::Action => lt::CompletionItemKind::FUNCTION,
                    CompletionKind::Root => lt::CompletionItemKind::MODULE,
                    CompletionKind::Attribute => lt::CompletionItemKind::FIELD,
                    CompletionKind::Member => lt::CompletionItemKind::ENUM_MEMBER,
                    CompletionKind::Let => lt::CompletionItemKind::CONSTANT,
                    CompletionKind::Keyword => lt::CompletionItemKind::KEYWORD,
                }),
                detail: c.detail,
                text_edit: Some(lt::CompletionTextEdit::Edit(lt::TextEdit {
                    range: idx.range(&doc.text, c.replace, self.encoding),
                    new_text: c.insert,
                })),
                ..Default::default()
            })
            .collect();
        json!(lt::CompletionResponse::Array(items))
    }
}

/// Quick fixes: each diagnostic that carries a did-you-mean replacement offers it.
fn code_action(p: &lt::CodeActionParams) -> Value {
    json!(quick_fixes(p))
}

/// The quick fixes the diagnostics of `p` carry (a lint's edit, or a did-you-mean).
fn quick_fixes(p: &lt::CodeActionParams) -> Vec<lt::CodeActionOrCommand> {
    let mut actions = Vec::new();
    for d in &p.context.diagnostics {
        let Some(data) = &d.data else { continue };
        let (title, edit) = if let Some(edit) = data.get("edit")
            && let Ok(edit) = serde_json::from_value::<lt::TextEdit>(edit.clone())
        {
            let title = data
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("Apply the fix")
                .to_owned();
            (title, edit)
        } else if let Some(replacement) = data.get("replacement").and_then(Value::as_str) {
            let edit = lt::TextEdit {
                range: d.range,
                new_text: replacement.to_owned(),
            };
            (format!("Replace with `{replacement}`"), edit)
        } else {
            continue;
        };
        #[allow(clippy::mutable_key_type, reason = "lsp-types keys edits by Uri")]
        let changes = HashMap::from([(p.text_document.uri.clone(), vec![edit])]);
        actions.push(lt::CodeActionOrCommand::CodeAction(lt::CodeAction {
            title,
            kind: Some(lt::CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(lt::WorkspaceEdit {
                changes: Some(changes),
                ..Default::default()
            }),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    actions
}

/// The parameters of a request, or an `InvalidParams` error.
fn params<P: serde::de::DeserializeOwned>(req: Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(req.params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

/// `X` from "did you mean `X`?".
fn suggestion(help: &str) -> Option<&str> {
    help.strip_prefix("did you mean `")?.strip_suffix("`?")
}

/// The canonical form of a path (symbolic links resolved), as far as it exists: the
/// longest existing ancestor is resolved and the rest appended. A loop, not recursion, so
/// a `file://` URI with 130,000 components cannot overflow the stack; a path longer than
/// `PATH_MAX` cannot exist, and is kept as it is.
fn canonical(path: &Path) -> PathBuf {
    const PATH_MAX: usize = 4096;
    if path.as_os_str().len() > PATH_MAX {
        return path.to_path_buf();
    }
    let mut tail = Vec::new();
    let mut at = path;
    loop {
        if let Ok(mut p) = std::fs::canonicalize(at) {
            p.extend(tail.iter().rev());
            return p;
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                tail.push(name);
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod scenario_tests;
