//! HTTP/1 messages framed from one direction's reassembled bytes: a head (request or
//! status line and headers) split anywhere across segments is gathered until its blank
//! line, then its body is read by its framing (`Transfer-Encoding: chunked`,
//! `Content-Length`, or for a response without either, until the connection closes;
//! none after a HEAD request or for 1xx, 204 and 304), de-chunked and decoded
//! ([`Body`]) within the configured limits, and the next message (pipelining) follows.
//! A stream that does not open like HTTP, or whose head passes the header limit, is
//! no longer parsed.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::body::{Body, Encoding};
use super::{parse_request, parse_response, starts_like_a_request};

/// The `[http]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Decoded bytes of a request body kept for inspection (libhtp's 100 KiB).
    pub request_body_limit: usize,
    /// Decoded bytes of a response body kept for inspection (libhtp's 100 KiB).
    pub response_body_limit: usize,
    /// Bytes a message head may take; a longer one ends HTTP parsing of its stream.
    pub header_limit: usize,
    /// Bytes of heads and bodies a worker holds at most; past it a flow's bodies are no
    /// longer kept.
    pub memcap: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_body_limit: 100 << 10,
            response_body_limit: 100 << 10,
            header_limit: 16 << 10,
            memcap: 64 << 20,
        }
    }
}

/// A message whose head is complete.
#[derive(Debug, Default)]
pub struct Message {
    /// The head: start line and headers through the blank line.
    pub head: Vec<u8>,
    /// The body so far.
    pub body: Body,
    /// The head completed in the packet being inspected.
    pub head_new: bool,
}

impl Message {
    /// Whether the packet being inspected brought anything of it: its head or body bytes.
    pub fn is_new(&self) -> bool {
        self.head_new || self.body.data().len() > self.body.seen
    }
}

/// Where the parser is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between messages (empty lines allowed).
    Start,
    /// Gathering a head.
    Head,
    /// A body of this many bytes still to come.
    Length(u64),
    /// A chunk-size line.
    ChunkSize,
    /// Chunk data, this many bytes still to come.
    ChunkData(u64),
    /// The line end after chunk data.
    ChunkEnd,
    /// Trailer lines after the last chunk.
    Trailer,
    /// A body that ends when the connection closes.
    UntilClose,
    /// Not HTTP (any more): nothing is parsed.
    Off,
}

/// Longest chunk-size or trailer line.
const LINE_LIMIT: usize = 1024;

/// One direction's messages.
#[derive(Debug)]
pub struct MessageStream {
    response: bool,
    phase: Phase,
    /// A head, chunk-size line or trailer line in progress.
    partial: Vec<u8>,
    /// The message whose body is being read.
    pub current: Option<Message>,
    /// Messages completed in the packet being inspected.
    pub finished: Vec<Message>,
    /// The head passed the header limit.
    pub head_too_long: bool,
}

impl MessageStream {
    /// The requests (`response` false) or responses of a connection.
    pub fn new(response: bool) -> Self {
        MessageStream {
            response,
            phase: Phase::Start,
            partial: Vec::new(),
            current: None,
            finished: Vec::new(),
            head_too_long: false,
        }
    }

    /// Whether the stream is parsed (it opened like HTTP).
    pub fn is_on(&self) -> bool {
        self.phase != Phase::Off
    }

    /// Starts a packet: what earlier packets brought counts as inspected.
    pub fn begin_packet(&mut self) {
        self.finished.clear();
        if let Some(m) = self.current.as_mut() {
            m.head_new = false;
            m.body.seen = m.body.data().len();
        }
    }

    /// The messages the packet brought something of, in order.
    pub fn to_inspect(&self) -> impl Iterator<Item = &Message> {
        self.finished
            .iter()
            .chain(self.current.iter().filter(|m| m.is_new()))
    }

    /// How many messages [`MessageStream::to_inspect`] yields.
    pub fn inspect_len(&self) -> usize {
        self.finished.len() + usize::from(self.current.as_ref().is_some_and(Message::is_new))
    }

    /// The `i`th message [`MessageStream::to_inspect`] yields.
    pub fn inspect_nth(&self, i: usize) -> Option<&Message> {
        match self.finished.get(i) {
            Some(m) => Some(m),
            None if i == self.finished.len() => self.current.as_ref().filter(|m| m.is_new()),
            None => None,
        }
    }

    /// Bytes held, for the memory cap.
    pub fn footprint(&self) -> usize {
        let message = |m: &Message| m.head.capacity() + m.body.footprint();
        self.partial.capacity()
            + self.current.as_ref().map_or(0, message)
            + self.finished.iter().map(message).sum::<usize>()
    }

    /// Stops keeping bodies (the memory cap).
    pub fn shed(&mut self) {
        if let Some(m) = self.current.as_mut() {
            m.body.shed();
        }
    }

    /// The connection closed this way: a body read until the close is complete.
    pub fn close(&mut self) {
        if self.phase == Phase::UntilClose {
            self.complete();
        }
    }

    /// Parses `data`, the next in-order bytes. `no_body` carries, from the requests to
    /// the responses, whether each request was a HEAD (its response has no body).
    pub fn feed(&mut self, mut data: &[u8], cfg: &HttpConfig, no_body: &mut VecDeque<bool>) {
        let limit = if self.response {
            cfg.response_body_limit
        } else {
            cfg.request_body_limit
        };
        while !data.is_empty() {
            match self.phase {
                Phase::Off => return,
                Phase::Start => {
                    let skip = data
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                    data = &data[skip..];
                    if !data.is_empty() {
                        self.phase = Phase::Head;
                    }
                }
                Phase::Head => data = self.head(data, cfg, no_body, limit),
                Phase::Length(n) => {
                    let k = (n.min(data.len() as u64)) as usize;
                    self.push_body(&data[..k], limit);
                    data = &data[k..];
                    self.phase = Phase::Length(n - k as u64);
                    if n == k as u64 {
                        self.complete();
                    }
                }
                Phase::ChunkSize => {
                    let Some((line, rest)) = self.line(data) else {
                        return;
                    };
                    data = rest;
                    let hex = line
                        .split(|&b| b == b';')
                        .next()
                        .unwrap_or(&[])
                        .trim_ascii();
                    let size = std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u64::from_str_radix(h, 16).ok());
                    self.phase = match size {
                        Some(0) => Phase::Trailer,
                        Some(n) => Phase::ChunkData(n),
                        None => Phase::Off,
                    };
                }
                Phase::ChunkData(n) => {
                    let k = (n.min(data.len() as u64)) as usize;
                    self.push_body(&data[..k], limit);
                    data = &data[k..];
                    self.phase = if n == k as u64 {
                        Phase::ChunkEnd
                    } else {
                        Phase::ChunkData(n - k as u64)
                    };
                }
                Phase::ChunkEnd => match data[0] {
                    b'\r' => data = &data[1..],
                    b'\n' => {
                        data = &data[1..];
                        self.phase = Phase::ChunkSize;
                    }
                    _ => self.phase = Phase::ChunkSize,
                },
                Phase::Trailer => {
                    let Some((line, rest)) = self.line(data) else {
                        return;
                    };
                    data = rest;
                    if line.trim_ascii().is_empty() {
                        self.complete();
                    }
                }
                Phase::UntilClose => {
                    self.push_body(data, limit);
                    data = &[];
                }
            }
        }
    }

    /// Takes the line that `data` ends (with what `partial` held before it), and the
    /// bytes after it; `None` when the line is not complete yet (kept in `partial`).
    fn line<'d>(&mut self, data: &'d [u8]) -> Option<(Vec<u8>, &'d [u8])> {
        match memchr::memchr(b'\n', data) {
            Some(i) => {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&data[..i]);
                Some((line, &data[i + 1..]))
            }
            None => {
                self.partial.extend_from_slice(data);
                if self.partial.len() > LINE_LIMIT {
                    self.phase = Phase::Off;
                }
                None
            }
        }
    }

    /// Gathers head bytes from `data`; returns what follows the head.
    fn head<'d>(
        &mut self,
        data: &'d [u8],
        cfg: &HttpConfig,
        no_body: &mut VecDeque<bool>,
        limit: usize,
    ) -> &'d [u8] {
        let before = self.partial.len();
        let room = cfg.header_limit + 4 - before.min(cfg.header_limit + 4);
        self.partial
            .extend_from_slice(&data[..data.len().min(room)]);
        if !self.opens_like_http() {
            self.phase = Phase::Off;
            self.partial = Vec::new();
            return &[];
        }
        let from = before.saturating_sub(3);
        let end = head_end(&self.partial[from..]).map(|e| from + e);
        let Some(end) = end else {
            if self.partial.len() > cfg.header_limit {
                self.head_too_long = true;
                self.phase = Phase::Off;
                self.partial = Vec::new();
            }
            return &[];
        };
        let used = end.saturating_sub(before);
        // The head gets a buffer of its own; `partial` keeps its capacity for the next.
        let head = self.partial[..end].to_vec();
        self.partial.clear();
        self.start_message(head, no_body, limit);
        &data[used..]
    }

    /// Whether what `partial` holds can begin a message of this direction.
    fn opens_like_http(&self) -> bool {
        let p = &self.partial;
        if self.response {
            let n = p.len().min(5);
            p[..n].eq_ignore_ascii_case(&b"HTTP/"[..n])
        } else {
            // A method token then a space; fewer bytes may still become one.
            starts_like_a_request(p) || p.iter().all(|&b| super::is_token(b))
        }
    }

    /// A head is complete: the message begins, framed by its headers (its body kept up
    /// to `limit` bytes).
    fn start_message(&mut self, head: Vec<u8>, no_body: &mut VecDeque<bool>, limit: usize) {
        let (framing, encoding, length_hint) = if self.response {
            let Some(r) = parse_response(&head) else {
                self.phase = Phase::Off;
                return;
            };
            let status = std::str::from_utf8(r.stat_code)
                .ok()
                .and_then(|s| s.parse::<u16>().ok())
                .unwrap_or(0);
            let interim = (100..200).contains(&status);
            let after_head = if interim {
                false
            } else {
                no_body.pop_front().unwrap_or(false)
            };
            let bodiless = interim || status == 204 || status == 304 || after_head;
            let framing = if bodiless {
                None
            } else {
                Some(framing(r.transfer_encoding, r.content_len).unwrap_or(Phase::UntilClose))
            };
            (framing, Encoding::of(r.content_encoding), r.content_len)
        } else {
            let Some(r) = parse_request(&head) else {
                self.phase = Phase::Off;
                return;
            };
            if no_body.len() < 64 {
                no_body.push_back(r.method.eq_ignore_ascii_case(b"HEAD"));
            }
            let encoding = Encoding::of(content_encoding(r.headers));
            (
                framing(r.transfer_encoding, r.content_len),
                encoding,
                r.content_len,
            )
        };
        let hint = length_hint.and_then(|l| std::str::from_utf8(l.trim_ascii()).ok()?.parse().ok());
        self.current = Some(Message {
            head,
            body: Body::with_hint(encoding, hint, limit),
            head_new: true,
        });
        self.phase = framing.unwrap_or(Phase::Start);
        if matches!(self.phase, Phase::Start | Phase::Length(0)) {
            self.complete();
        }
    }

    fn push_body(&mut self, bytes: &[u8], limit: usize) {
        if let Some(m) = self.current.as_mut() {
            m.body.push(bytes, limit);
        }
    }

    /// The current message is complete: kept for this packet's inspection if it brought
    /// something of it.
    fn complete(&mut self) {
        if let Some(m) = self.current.take() {
            if m.is_new() {
                self.finished.push(m);
            }
        }
        self.phase = Phase::Start;
    }
}

/// The body framing a message's headers give: chunked, a length, or `None` (neither).
fn framing(transfer_encoding: Option<&[u8]>, content_len: Option<&[u8]>) -> Option<Phase> {
    let chunked = transfer_encoding.is_some_and(|te| {
        te.split(|&b| b == b',')
            .any(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
    });
    if chunked {
        return Some(Phase::ChunkSize);
    }
    let len = std::str::from_utf8(content_len?.trim_ascii())
        .ok()?
        .parse()
        .ok()?;
    Some(Phase::Length(len))
}

/// A request's Content-Encoding value, from its header block.
fn content_encoding(headers: &[u8]) -> Option<&[u8]> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let colon = memchr::memchr(b':', line)?;
        line[..colon]
            .trim_ascii()
            .eq_ignore_ascii_case(b"content-encoding")
            .then(|| line[colon + 1..].trim_ascii())
    })
}

/// Where a head ends in `bytes` (just past its blank line: `\r\n\r\n` or `\n\n`).
fn head_end(bytes: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', bytes).find_map(|i| match bytes.get(i + 1) {
        Some(b'\n') => Some(i + 2),
        Some(b'\r') if bytes.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
