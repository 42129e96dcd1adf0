//! The owner's report, live: `GET /report` and `/report/rules/{id}` behind a login a marketer
//! can use from a browser. A login form checks `[http] dashboard_users` (argon2id hashes) and
//! issues a session cookie — HttpOnly, SameSite=Strict, Secure when `public_url` is https,
//! signed with `REKINDLE_LINK_SECRET`, valid for 12 hours. The API's bearer tokens are never
//! accepted here, and never travel in a URL.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AppState, Shared};
use crate::compose::markdown::escape;

const COOKIE_NAME: &str = "rekindle_session";
const SESSION_SECONDS: i64 = 12 * 3600;

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The signed-in user, if the request carries a genuine, unexpired session cookie.
fn user(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let signer = state.sessions.as_ref()?;
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(&format!("{COOKIE_NAME}=")))
        .find_map(|token| signer.verify_session(token, now()))
        .filter(|u| state.config.http.dashboard_users.contains_key(u))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response();
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(SET_COOKIE, c);
    }
    r
}

/// Only a path of ours: a `next` that leaves the site would make the login an open redirect.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/report") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/report",
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(state: &AppState, next: &str, problem: Option<&str>) -> String {
    let name = state.config.business.name.as_deref().unwrap_or("rekindle");
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sign in · {name}</title>\
         <style>body{{font:16px/1.5 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;background:#f6f5f3;margin:0}}\
         form{{max-width:340px;margin:12vh auto;background:#fff;padding:24px;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}}\
         label{{display:block;margin:12px 0 4px}}input{{width:100%;box-sizing:border-box;padding:8px;font:inherit}}\
         button{{margin-top:16px;padding:8px 16px;font:inherit;background:#0072b2;color:#fff;border:0;border-radius:4px}}\
         .problem{{color:#b00020}}</style></head><body>\
         <form method=\"post\" action=\"/login\"><h1 style=\"font-size:20px;margin:0\">{name}: the report</h1>{problem}\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"name\">Name</label><input id=\"name\" name=\"name\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form></body></html>",
        name = escape(name),
        next = escape(next),
        problem = problem.map_or(String::new(), |p| format!(
            "<p class=\"problem\">{}</p>",
            escape(p)
        )),
    )
}

pub async fn login_form(State(state): Shared, Query(q): Query<NextQuery>) -> Response {
    html(
        StatusCode::OK,
        login_page(&state, safe_next(q.next.as_deref()), None),
    )
}

#[derive(Debug, Deserialize)]
pub struct Login {
    name: String,
    password: String,
    next: Option<String>,
}

/// Checked against for an unknown name, so that the time taken does not tell which names
/// exist: a real hash of a random password, made once.
fn dummy_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let mut random = [0u8; 16];
        let _ = getrandom::fill(&mut random);
        crate::users::hash_password(&hex::encode(random)).unwrap_or_default()
    })
    .clone()
}

pub async fn login(State(state): Shared, Form(form): Form<Login>) -> Response {
    let next = safe_next(form.next.as_deref()).to_string();
    let Some(signer) = state.sessions.clone() else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            login_page(&state, &next, Some("Sign-in is not set up on this server.")),
        );
    };
    let hash = state.config.http.dashboard_users.get(&form.name).cloned();
    let known = hash.is_some();
    let password = form.password;
    let ok = tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordVerifier;
        let hash = hash.unwrap_or_else(dummy_hash);
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false);
    if !(ok && known) {
        tracing::info!("dashboard sign-in refused");
        return html(
            StatusCode::UNAUTHORIZED,
            login_page(&state, &next, Some("Wrong name or password.")),
        );
    }
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict{}",
        signer.session_token(&form.name, now() + SESSION_SECONDS),
        if secure { "; Secure" } else { "" }
    );
    redirect(&next, Some(cookie))
}

pub async fn logout() -> Response {
    redirect(
        "/login",
        Some(format!(
            "{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        )),
    )
}

pub async fn report(State(state): Shared, headers: HeaderMap) -> Response {
    page(state, headers, None, "/report".to_string()).await
}

pub async fn report_rule(State(state): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let next = format!("/report/rules/{id}");
    page(state, headers, Some(id), next).await
}

async fn page(state: Arc<AppState>, headers: HeaderMap, rule: Option<String>, next: String) -> Response {
    if user(&state, &headers).is_none() {
        let query = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
        return redirect(&format!("/login?{query}"), None);
    }
    match build(&state, rule.as_deref()).await {
        Ok(Some(body)) => html(StatusCode::OK, body),
        Ok(None) => html(
            StatusCode::NOT_FOUND,
            format!(
                "<!DOCTYPE html><p>No rule {:?} in the rules directory or the history. <a href=\"/report\">The whole report</a></p>",
                escape(rule.as_deref().unwrap_or_default())
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "the report page failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!DOCTYPE html><p>The report could not be made; the service log says why.</p>".into(),
            )
        }
    }
}

async fn build(state: &AppState, rule: Option<&str>) -> anyhow::Result<Option<String>> {
    let set = state.rules.borrow().clone();
    let cfg = &state.config;
    let until = now();
    let report = crate::insights::owner_report(
        &state.store,
        cfg,
        set.as_deref(),
        None,
        until,
        rule,
        cfg.serve.report_coming_days,
    )
    .await?;
    if rule.is_some() && report.rules.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        crate::insights::owner_page(&report, cfg).map_err(anyhow::Error::msg)?,
    ))
}
