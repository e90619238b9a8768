//! JSON-RPC framing over a byte stream: `Content-Length: N`, a blank line, N bytes of JSON.
//!
//! Reading happens on its own thread, so the server can see whether more messages are
//! waiting (and reload a policy set once for a burst of edits). Hostile framing is
//! bounded: a header line over [`MAX_HEADER_LINE`] bytes or a malformed header ends the
//! stream (there is no way to find the next message), and a body over [`MAX_MESSAGE_BYTES`]
//! is skipped without being stored.

use lsp_server::Message;
use std::io::{self, BufRead, Read as _, Write};
use std::sync::mpsc::{Receiver, sync_channel};

/// The longest header line accepted.
const MAX_HEADER_LINE: u64 = 8 * 1024;

/// The largest message accepted (a policy file is at most 16 MiB; JSON escaping can add to
/// that).
pub(crate) const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// What the reader passes on.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A message.
    Message(Message),
    /// A frame that was not a JSON-RPC message, or too large: the reason.
    Malformed(String),
}

/// Reads frames from `input` on a new thread. The channel closes at the end of the input,
/// after an `exit` notification, or at a framing error (reported as a last `Malformed`).
pub(crate) fn spawn_reader<R: BufRead + Send + 'static>(
    mut input: R,
) -> io::Result<Receiver<Incoming>> {
    let (tx, rx) = sync_channel(64);
    std::thread::Builder::new()
        .name("mailgate-lsp-reader".to_owned())
        .spawn(move || {
            loop {
                let incoming = match read_frame(&mut input) {
                    Ok(None) => break,
                    Ok(Some(Frame::Body(body))) => match serde_json::from_slice::<Message>(&body) {
                        Ok(msg) => Incoming::Message(msg),
                        Err(e) => Incoming::Malformed(format!("not a JSON-RPC message: {e}")),
                    },
                    Ok(Some(Frame::TooLarge(n))) => Incoming::Malformed(format!(
                        "message of {n} bytes skipped: over the limit of {MAX_MESSAGE_BYTES} bytes"
                    )),
                    Err(e) => {
                        let _ = tx.send(Incoming::Malformed(format!("stream ended: {e}")));
                        break;
                    }
                };
                let exit = matches!(&incoming, Incoming::Message(Message::Notification(n)) if n.method == "exit");
                if tx.send(incoming).is_err() || exit {
                    break;
                }
            }
        })?;
    Ok(rx)
}

enum Frame {
    Body(Vec<u8>),
    TooLarge(usize),
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_frame(r: &mut impl BufRead) -> io::Result<Option<Frame>> {
    let mut size: Option<usize> = None;
    let mut first = true;
    loop {
        let mut line = String::new();
        let n = r.by_ref().take(MAX_HEADER_LINE).read_line(&mut line)?;
        if n == 0 {
            return if first {
                Ok(None)
            } else {
                Err(bad("end of input inside a header"))
            };
        }
        first = false;
        let Some(line) = line.strip_suffix("\r\n") else {
            return Err(bad(format!("malformed header line {line:?}")));
        };
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(format!("malformed header line {line:?}")));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            size = Some(
                value
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("bad Content-Length {:?}", value.trim())))?,
            );
        }
    }
    let size = size.ok_or_else(|| bad("no Content-Length header"))?;
    if size > MAX_MESSAGE_BYTES {
        let skipped = io::copy(&mut r.by_ref().take(size as u64), &mut io::sink())?;
        if skipped < size as u64 {
            return Err(bad("end of input inside a message"));
        }
        return Ok(Some(Frame::TooLarge(size)));
    }
    let mut body = vec![0; size];
    r.read_exact(&mut body)?;
    Ok(Some(Frame::Body(body)))
}

/// Writes one message (a JSON value) with its header.
pub(crate) fn write_frame(w: &mut impl Write, msg: &serde_json::Value) -> io::Result<()> {
    let text = serde_json::to_string(msg)?;
    write!(w, "Content-Length: {}\r\n\r\n", text.len())?;
    w.write_all(text.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut r = io::Cursor::new(input.to_vec());
        let mut out = Vec::new();
        loop {
            match read_frame(&mut r) {
                Ok(None) => break,
                Ok(Some(Frame::Body(b))) => out.push(String::from_utf8_lossy(&b).into_owned()),
                Ok(Some(Frame::TooLarge(n))) => out.push(format!("too large: {n}")),
                Err(e) => {
                    out.push(format!("error: {e}"));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn reads_frames_and_stops_at_bad_headers() {
        assert_eq!(
            frames(b"Content-Length: 2\r\n\r\n{}content-length:3\r\nContent-Type: x\r\n\r\n[1]"),
            vec!["{}", "[1]"]
        );
        assert_eq!(
            frames(b"Content-Length: -1\r\n\r\n{}"),
            vec!["error: bad Content-Length \"-1\""]
        );
        assert_eq!(
            frames(b"Content-Length: 2\n\n{}"),
            vec!["error: malformed header line \"Content-Length: 2\\n\""]
        );
        assert_eq!(frames(b"\r\n{}"), vec!["error: no Content-Length header"]);
        assert_eq!(
            frames(b"Content-Length: 9\r\n\r\n{}"),
            vec!["error: failed to fill whole buffer"]
        );
        let huge = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_BYTES + 1);
        assert_eq!(
            frames(huge.as_bytes()),
            vec!["error: end of input inside a message"]
        );
    }
}
