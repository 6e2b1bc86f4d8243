//! A loopback HTTP/1.1 proxy in front of moto that injects the faults AWS shows in real life,
//! for a fraction of requests: a slow answer, a connection reset before the request reaches
//! the server, a reset *after* the server acted (the answer is lost, so the client's retry
//! meets its own earlier write), and error answers with the bodies S3 and DynamoDB send
//! (`503 SlowDown`, `400 ProvisionedThroughputExceededException`, `500 InternalError`).
//!
//! The proxy forwards bytes unchanged (so SigV4 signatures stay valid), one upstream
//! connection per request, framing requests and answers by `Content-Length` or chunked
//! encoding. It runs on its own thread and runtime so synchronous tests can use it, and stops
//! when dropped. Decisions come from a seeded generator: a run is repeatable in what it
//! decides, if not in timing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Delay,
    ResetBefore,
    ResetAfter,
    Throttle,
    ServerError,
}

/// Counts of injected faults, for tests to prove the faults happened.
#[derive(Debug, Default)]
pub struct FaultStats {
    pub requests: AtomicU64,
    pub delayed: AtomicU64,
    pub reset_before: AtomicU64,
    pub reset_after: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
}

impl FaultStats {
    pub fn faults(&self) -> u64 {
        self.delayed.load(Ordering::Relaxed)
            + self.reset_before.load(Ordering::Relaxed)
            + self.reset_after.load(Ordering::Relaxed)
            + self.throttled.load(Ordering::Relaxed)
            + self.server_errors.load(Ordering::Relaxed)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} requests: {} delayed, {} reset before, {} reset after, {} throttled, {} server errors",
            self.requests.load(Ordering::Relaxed),
            self.delayed.load(Ordering::Relaxed),
            self.reset_before.load(Ordering::Relaxed),
            self.reset_after.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
            self.server_errors.load(Ordering::Relaxed)
        )
    }
}

/// A running proxy; stops on drop.
pub struct FaultProxy {
    pub url: String,
    pub stats: Arc<FaultStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// xorshift64*: tiny, seeded, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    upstream: String,
    rate: f64,
    /// Every faulted request gets this fault instead of a random one.
    only: Option<Fault>,
    rng: Mutex<Rng>,
    stats: Arc<FaultStats>,
}

impl Shared {
    fn pick(&self) -> (Fault, f64) {
        let mut rng = self.rng.lock().unwrap();
        let (roll, kind, extra) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
        if roll >= self.rate {
            return (Fault::None, extra);
        }
        if let Some(fault) = self.only {
            return (fault, extra);
        }
        let fault = match (kind * 5.0) as u32 {
            0 => Fault::Delay,
            1 => Fault::ResetBefore,
            2 => Fault::ResetAfter,
            3 => Fault::Throttle,
            _ => Fault::ServerError,
        };
        (fault, extra)
    }
}

impl FaultProxy {
    /// Proxies `upstream` (`http://host:port`) with `rate` (0.0–1.0) of requests faulted.
    pub fn start(upstream: &str, rate: f64, seed: u64) -> FaultProxy {
        Self::start_with(upstream, rate, seed, None)
    }

    /// Every request gets `fault`.
    pub fn always(upstream: &str, fault: Fault) -> FaultProxy {
        Self::start_with(upstream, 1.0, 1, Some(fault))
    }

    fn start_with(upstream: &str, rate: f64, seed: u64, only: Option<Fault>) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let stats = Arc::new(FaultStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream,
            rate,
            only,
            rng: Mutex::new(Rng(seed | 1)),
            stats: stats.clone(),
        });
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                while !stop_flag.load(Ordering::Relaxed) {
                    // Wake up now and then to notice `stop`.
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
                    if let Ok(Ok((client, _))) = accepted {
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            let _ = serve(client, shared).await;
                        });
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        FaultProxy {
            url,
            stats,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP message read off a stream: the head and the complete body bytes, as received.
struct Message {
    head: String,
    raw: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    fn first_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// Reads one message. `no_body` for answers to HEAD and bodiless statuses. `Ok(None)` on a
/// clean end of stream before any byte.
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    no_body: impl Fn(&str) -> bool,
) -> std::io::Result<Option<Message>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let msg = Message {
        head: head.clone(),
        raw: Vec::new(),
    };
    let body_len = if no_body(msg.first_line()) {
        Some(0)
    } else if let Some(len) = msg.header("content-length") {
        Some(len.parse::<usize>().unwrap_or(0))
    } else if msg
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        None
    } else if head.starts_with("HTTP/") {
        // An answer without framing ends when the server closes.
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await?;
        buf.extend_from_slice(&rest);
        Some(buf.len() - head_end)
    } else {
        Some(0)
    };
    let total = match body_len {
        Some(len) => {
            while buf.len() < head_end + len {
                let mut chunk = [0u8; 64 * 1024];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            head_end + len
        }
        None => loop {
            if let Some(end) = chunked_end(&buf[head_end..]) {
                break head_end + end;
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        },
    };
    let raw: Vec<u8> = buf.drain(..total).collect();
    Ok(Some(Message { head, raw }))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where a complete chunked body ends (after the last chunk and trailers), if it is complete.
fn chunked_end(body: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let line_end = pos + find(&body[pos..], b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[pos..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let end = pos + find(&body[pos..], b"\r\n")?;
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Some(pos);
                }
            }
        }
        if body.len() < pos + size + 2 {
            return None;
        }
        pos += size + 2;
    }
}

/// Drops the connection with a TCP reset rather than a clean close.
// `set_linger` is deprecated because a non-zero linger blocks the thread on drop; a zero
// linger never blocks, it just sends RST.
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

fn error_answer(status: &str, content_type: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_message(&mut client, &mut buf, |_| false).await? else {
            return Ok(());
        };
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let is_head = request.first_line().starts_with("HEAD ");
        let dynamo = request
            .header("x-amz-target")
            .is_some_and(|t| t.starts_with("DynamoDB"));
        let (fault, extra) = shared.pick();
        match fault {
            Fault::ResetBefore => {
                shared.stats.reset_before.fetch_add(1, Ordering::Relaxed);
                reset(client);
                return Ok(());
            }
            Fault::Throttle => {
                shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
                let answer = if dynamo {
                    // DynamoDB throttles with a 400 and this error type.
                    error_answer(
                        "400 Bad Request",
                        "application/x-amz-json-1.0",
                        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
                        "x-amzn-ErrorType: ProvisionedThroughputExceededException\r\n",
                    )
                } else {
                    error_answer(
                        "503 Slow Down",
                        "application/xml",
                        if is_head {
                            ""
                        } else {
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>"
                        },
                        "",
                    )
                };
                client.write_all(&answer).await?;
                continue;
            }
            Fault::ServerError => {
                shared.stats.server_errors.fetch_add(1, Ordering::Relaxed);
                let answer = if dynamo {
                    error_answer(
                        "500 Internal Server Error",
                        "application/x-amz-json-1.0",
                        r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
                        "",
                    )
                } else {
                    error_answer(
                        "500 Internal Server Error",
                        "application/xml",
                        if is_head {
                            ""
                        } else {
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>fault</RequestId></Error>"
                        },
                        "",
                    )
                };
                client.write_all(&answer).await?;
                continue;
            }
            Fault::Delay => {
                shared.stats.delayed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200 + (extra * 600.0) as u64)).await;
            }
            Fault::None | Fault::ResetAfter => {}
        }

        let mut upstream = TcpStream::connect(&shared.upstream).await?;
        upstream.write_all(&request.raw).await?;
        let mut up_buf = Vec::new();
        let answer = read_message(&mut upstream, &mut up_buf, |status_line| {
            let code = status_line.split_whitespace().nth(1).unwrap_or("");
            is_head || code.starts_with('1') || code == "204" || code == "304"
        })
        .await?;
        let Some(answer) = answer else {
            reset(client);
            return Ok(());
        };
        if fault == Fault::ResetAfter {
            // The server acted; the client never hears of it.
            shared.stats.reset_after.fetch_add(1, Ordering::Relaxed);
            reset(client);
            return Ok(());
        }
        client.write_all(&answer.raw).await?;
        let closing = answer
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if closing {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_framed() {
        assert_eq!(chunked_end(b"3\r\nabc\r\n0\r\n\r\n"), Some(13));
        assert_eq!(chunked_end(b"3\r\nabc\r\n0\r\n"), None);
        assert_eq!(chunked_end(b"3\r\nab"), None);
    }
}
