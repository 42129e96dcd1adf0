//! A local HTTP server playing an SMS provider (Twilio's API, a webhook gateway): scripted
//! answers in order, every request recorded. Runs on its own thread and runtime.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// A scripted answer: status, extra headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

#[derive(Default)]
pub struct HttpState {
    pub script: VecDeque<Answer>,
    /// When the script is empty.
    pub default: Option<Answer>,
    pub requests: Vec<Request>,
    /// When each request arrived.
    pub arrivals: Vec<std::time::Instant>,
}

pub struct HttpServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<HttpState>>,
}

impl HttpServer {
    pub fn start(default: Answer) -> HttpServer {
        let state = Arc::new(Mutex::new(HttpState {
            default: Some(default),
            ..HttpState::default()
        }));
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                    let state = shared.clone();
                    async move { answer(&state, uri, headers, body) }
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        HttpServer {
            addr: rx.recv().unwrap(),
            state,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn answer(state: &Mutex<HttpState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    s.arrivals.push(std::time::Instant::now());
    s.requests.push(Request {
        path: uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let (status, extra, body) = s
        .script
        .pop_front()
        .or_else(|| s.default.clone())
        .expect("an answer");
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (k, v) in extra {
        response.headers_mut().insert(k, v.parse().unwrap());
    }
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}
