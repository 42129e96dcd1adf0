//! A real SMTP server over TCP that the tests script: replies to DATA in order (421, 451,
//! 550 …), a dropped connection mid-DATA, a stall, rejected recipients. Plain std threads, so
//! it runs beside any test.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does when a message's DATA ends.
#[derive(Debug, Clone)]
pub enum AfterData {
    Reply(&'static str),
    /// Close the connection without a reply.
    Drop,
    /// Say nothing for this long, then hang up.
    Stall(Duration),
    /// Take this long, then accept.
    Slow(Duration),
}

#[derive(Default)]
pub struct SmtpState {
    /// Consumed one per message; when empty, messages are accepted with 250.
    pub script: VecDeque<AfterData>,
    /// Recipient address → reply to its RCPT TO.
    pub reject_rcpt: HashMap<String, &'static str>,
    /// Every DATA payload received, accepted or not.
    pub received: Vec<String>,
    /// Payloads answered with 250.
    pub accepted: Vec<String>,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<SmtpState>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(SmtpState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        SmtpServer { addr, state }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn script(&self, steps: impl IntoIterator<Item = AfterData>) {
        self.state.lock().unwrap().script.extend(steps);
    }
}

fn serve(stream: TcpStream, state: &Mutex<SmtpState>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 test.local ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let verb = upper.split([' ', ':']).next().unwrap_or("");
        match verb {
            "EHLO" | "HELO" => out.write_all(b"250 test.local\r\n")?,
            "MAIL" | "RSET" | "NOOP" => out.write_all(b"250 OK\r\n")?,
            "RCPT" => {
                let address = line.split(['<', '>']).nth(1).unwrap_or("").to_string();
                let reply = state.lock().unwrap().reject_rcpt.get(&address).copied();
                match reply {
                    Some(r) => out.write_all(format!("{r}\r\n").as_bytes())?,
                    None => out.write_all(b"250 OK\r\n")?,
                }
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let mut payload = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    payload.push_str(&line);
                }
                let step = {
                    let mut s = state.lock().unwrap();
                    s.received.push(payload.clone());
                    s.script.pop_front()
                };
                match step {
                    None => {
                        state.lock().unwrap().accepted.push(payload);
                        out.write_all(b"250 2.0.0 queued\r\n")?;
                    }
                    Some(AfterData::Reply(r)) => {
                        if r.starts_with('2') {
                            state.lock().unwrap().accepted.push(payload);
                        }
                        out.write_all(format!("{r}\r\n").as_bytes())?;
                    }
                    Some(AfterData::Drop) => return Ok(()),
                    Some(AfterData::Slow(d)) => {
                        std::thread::sleep(d);
                        state.lock().unwrap().accepted.push(payload);
                        out.write_all(b"250 2.0.0 queued\r\n")?;
                    }
                    Some(AfterData::Stall(d)) => {
                        std::thread::sleep(d);
                        return Ok(());
                    }
                }
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
    }
}
