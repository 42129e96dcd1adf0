//! `rekindle unsubscribe --token T`: applies an unsubscribe request that reached the
//! `unsubscribe_mailto` mailbox (the token is in the subject line of the reply).

use rekindle::config::Secrets;
use rekindle::delivery::email::MAILTO_SUBJECT_PREFIX;
use rekindle::links::{LinkKind, LinkSigner};
use rekindle::store::Store;

use crate::out;

pub async fn apply(store: &Store, secrets: &Secrets, token: &str, now: i64) -> anyhow::Result<()> {
    let Some(signer) = LinkSigner::from_secrets(None, secrets)? else {
        anyhow::bail!(
            "{} is not set: unsubscribe tokens cannot be checked without the secret that signed them",
            rekindle::links::SECRET_VAR
        );
    };
    // People paste the whole subject line, perhaps with "Re: " in front.
    let token = token.trim();
    let token = token
        .rfind(MAILTO_SUBJECT_PREFIX)
        .map_or(token, |i| &token[i + MAILTO_SUBJECT_PREFIX.len()..]);
    let Some(id) = signer.verify(LinkKind::Unsubscribe, token) else {
        anyhow::bail!("not a valid unsubscribe token (it may be incomplete, or signed with another secret)");
    };
    let Some(m) = store.sent_message(id).await? else {
        anyhow::bail!("the token is genuine but message {id} is not in this store");
    };
    let channel = m.channel;
    store.unsubscribe_by_message(id, channel, now).await?;
    metrics::counter!(rekindle::metrics::UNSUBSCRIBES, "channel" => channel.as_str(), "source" => "mailto")
        .increment(1);
    out!(
        "unsubscribed customer {} from {} (message {id})",
        crate::cli::messages::display_customer(&m.customer_external_id),
        channel.as_str()
    );
    Ok(())
}
