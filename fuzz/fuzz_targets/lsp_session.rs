//! `mailgate lsp` on hostile input. With the first byte even, the rest is the raw input
//! stream (framing, headers, JSON). With it odd, the rest is the text of an open policy
//! file in the shipped set (1 modulo 8) or of an open scenario file in its `scenarios/`
//! (5 modulo 8), and the session asks for hover, definition, completion, code actions,
//! inlay hints and formatting at a position taken from the next two bytes. With it 3 modulo 4,
//! the rest is the path of a `file://` URI (long, deep, odd: `-max_len` reaches 1 MiB) that
//! is opened, asked about, changed and closed. The server must never panic and must
//! always end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::lsp::{Options, serve};
use serde_json::json;
use std::io::Cursor;

fn frame(out: &mut Vec<u8>, msg: &serde_json::Value) {
    let body = msg.to_string();
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode % 2 == 0 {
        rest.to_vec()
    } else if mode % 4 == 3 {
        let uri = format!("file://{}", String::from_utf8_lossy(rest));
        let doc = json!({ "uri": uri });
        let at = json!({ "textDocument": doc, "position": { "line": 0, "character": 0 } });
        let mut input = Vec::new();
        frame(&mut input, &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {}, "rootUri": uri } }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": { "uri": uri, "languageId": "mailgate", "version": 1, "text": "rule r { allow approve_mailbox }\n" } } }));
        for (id, method) in ["textDocument/hover", "textDocument/definition", "textDocument/completion"].iter().enumerate() {
            frame(&mut input, &json!({ "jsonrpc": "2.0", "id": id + 2, "method": method, "params": at }));
        }
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": { "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": "" }] } }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "textDocument/didClose", "params": { "textDocument": doc } }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "id": 10, "method": "shutdown" }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "exit" }));
        input
    } else {
        let (pos, text) = rest.split_at(rest.len().min(2));
        let line = pos.first().copied().unwrap_or(0) % 16;
        let character = pos.get(1).copied().unwrap_or(0) % 64;
        let text = String::from_utf8_lossy(text);
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
        let uri = if mode % 8 == 5 {
            format!("file://{root}/scenarios/zz-fuzz.yaml")
        } else {
            format!("file://{root}/zz-fuzz.policy")
        };
        let at = json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
        let mut input = Vec::new();
        frame(&mut input, &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": { "uri": uri, "languageId": "mailgate", "version": 1, "text": text } } }));
        for (id, method) in ["textDocument/hover", "textDocument/definition", "textDocument/completion"].iter().enumerate() {
            frame(&mut input, &json!({ "jsonrpc": "2.0", "id": id + 2, "method": method, "params": at }));
        }
        let range = json!({ "start": { "line": line, "character": 0 }, "end": { "line": line, "character": character } });
        frame(&mut input, &json!({ "jsonrpc": "2.0", "id": 7, "method": "textDocument/inlayHint", "params": { "textDocument": { "uri": uri }, "range": range } }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "id": 8, "method": "textDocument/codeAction", "params": { "textDocument": { "uri": uri }, "range": range, "context": { "diagnostics": [] } } }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "id": 9, "method": "textDocument/formatting", "params": { "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } } }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "id": 10, "method": "shutdown" }));
        frame(&mut input, &json!({ "jsonrpc": "2.0", "method": "exit" }));
        input
    };
    let mut output = Vec::new();
    let _ = serve(Cursor::new(input), &mut output, &Options::default());
});
