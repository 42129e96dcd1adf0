//! Links customers follow from a message: one-click unsubscribe (RFC 8058), click tracking and
//! the open pixel. Tokens are HMAC-signed message ids, so they can be neither forged nor
//! enumerated; a bad token gets the same plain 404 whatever is wrong with it.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::{ApiError, Shared, now};
use crate::links::LinkKind;

/// Escapes text for HTML: a business name may hold `&` or `<`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page in the customer's language, naming the business that sent the message.
fn page(
    state: &super::AppState,
    language: Option<&str>,
    status: StatusCode,
    title: &str,
    body: &str,
) -> Response {
    let lang = language.unwrap_or(state.config.messages.default_language.as_str());
    let business = &state.config.business;
    let texts = crate::wording::texts(language, state.config.messages.default_language.as_str());
    let footer = match (&business.name, &business.address) {
        (None, None) => String::new(),
        (name, address) => {
            let name = name
                .as_deref()
                .map(|n| texts.sent_by.replace("{name}", &escape(n)));
            let lines: Vec<String> = name.into_iter().chain(address.as_deref().map(escape)).collect();
            format!(
                "<footer style=\"margin-top:3em;color:#555;font-size:.9em\">{}</footer>",
                lines.join("<br>")
            )
        }
    };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em\">\
         <h1 style=\"font-size:1.4em\">{title}</h1>{body}{footer}</body></html>",
        lang = escape(lang),
        title = escape(title),
    );
    (status, Html(html)).into_response()
}

fn invalid_link(state: &super::AppState) -> Response {
    let t = crate::wording::texts(None, state.config.messages.default_language.as_str());
    page(
        state,
        None,
        StatusCode::NOT_FOUND,
        &t.invalid_title,
        &format!("<p>{}</p>", escape(&t.invalid_body)),
    )
}

/// A GET never unsubscribes: mail scanners fetch links. It shows a button that POSTs.
pub async fn unsubscribe_page(State(state): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    let Some(id) = state
        .links
        .as_ref()
        .and_then(|l| l.verify(LinkKind::Unsubscribe, &token))
    else {
        return Ok(invalid_link(&state));
    };
    // The customer's language, when the message is still there to say whose it was.
    let language = state
        .store
        .sent_message(id)
        .await?
        .and_then(|m| m.customer_language);
    let t = crate::wording::texts(
        language.as_deref(),
        state.config.messages.default_language.as_str(),
    );
    Ok(page(
        &state,
        language.as_deref(),
        StatusCode::OK,
        &t.unsubscribe_title,
        &format!(
            "<p>{}</p><form method=\"post\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">{}</button></form>",
            escape(&t.unsubscribe_question),
            escape(&t.unsubscribe_button)
        ),
    ))
}

/// RFC 8058 one-click: no cookies, no auth, effective at once, 200 without a redirect.
pub async fn unsubscribe_now(State(state): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    let Some(id) = state
        .links
        .as_ref()
        .and_then(|l| l.verify(LinkKind::Unsubscribe, &token))
    else {
        return Ok(invalid_link(&state));
    };
    let Some(m) = state.store.sent_message(id).await? else {
        return Ok(invalid_link(&state));
    };
    let channel = m.channel;
    state.store.unsubscribe_by_message(id, channel, now()).await?;
    metrics::counter!(crate::metrics::UNSUBSCRIBES, "channel" => channel.as_str(), "source" => "link")
        .increment(1);
    tracing::info!(message = id, customer = %m.customer_external_id, rule = %m.rule_id, "unsubscribed by link");
    let t = crate::wording::texts(
        m.customer_language.as_deref(),
        state.config.messages.default_language.as_str(),
    );
    Ok(page(
        &state,
        m.customer_language.as_deref(),
        StatusCode::OK,
        &t.done_title,
        &format!("<p>{}</p>", escape(&t.done_body)),
    ))
}

/// Records the click and redirects to the URL that was in the message at that position:
/// never anywhere else, so the endpoint is no open redirect.
pub async fn click(State(state): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    let Some((id, n)) = state.links.as_ref().and_then(|l| l.verify_click(&token)) else {
        return Ok(invalid_link(&state));
    };
    let Some((body, links)) = state.store.message_links(id).await? else {
        return Ok(invalid_link(&state));
    };
    let url = match links {
        Some(links) => serde_json::from_str::<Vec<String>>(&links)
            .ok()
            .and_then(|l| l.into_iter().nth(n)),
        // Sent before links were tracked selectively: numbered over the whole body, as then.
        None => crate::links::nth_url(&body, n).map(str::to_string),
    };
    // An erased customer's message has no body or links left; a URL that cannot stand in a
    // Location header is refused rather than answered with a 500.
    let Some(url) = url.filter(|u| axum::http::HeaderValue::from_str(u).is_ok()) else {
        return Ok(invalid_link(&state));
    };
    if state.store.record_click(id, now()).await? {
        tracing::info!(message = id, "first click");
    }
    Ok(Redirect::to(&url).into_response())
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
    0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

pub async fn open_pixel(State(state): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    let Some(id) = state
        .links
        .as_ref()
        .and_then(|l| l.verify(LinkKind::Open, &token))
    else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    if state.store.sent_message(id).await?.is_some() {
        state.store.record_open(id, now()).await?;
    }
    Ok((
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PIXEL,
    )
        .into_response())
}
