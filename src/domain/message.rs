//! The vocabulary of the delivery ledger: channels and message statuses, one spelling each.
//! The database stores their `as_str` text; `store/` converts at its edge, and nothing else
//! compares status or channel strings.

/// How a message reaches a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

impl TryFrom<String> for Channel {
    type Error = String;

    fn try_from(s: String) -> Result<Channel, String> {
        Channel::parse(&s).ok_or_else(|| format!("unknown channel {s:?} in the store"))
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a message is in its life: `queued → sending → sent → delivered`, or it ends
/// `bounced`, `failed`, `skipped` or `expired`. A retry goes from `sending` back to `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Bounced,
    Failed,
    Skipped,
    Expired,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 8] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Bounced,
        MessageStatus::Failed,
        MessageStatus::Skipped,
        MessageStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Bounced => "bounced",
            MessageStatus::Failed => "failed",
            MessageStatus::Skipped => "skipped",
            MessageStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// A person may put it back in the queue (`messages retry`): it gave up, or waited too long.
    pub fn is_retryable(self) -> bool {
        matches!(self, MessageStatus::Failed | MessageStatus::Expired)
    }
}

impl TryFrom<String> for MessageStatus {
    type Error = String;

    fn try_from(s: String) -> Result<MessageStatus, String> {
        MessageStatus::parse(&s).ok_or_else(|| format!("unknown message status {s:?} in the store"))
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_itself() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MessageStatus::parse("lost"), None);
        assert_eq!(Channel::try_from("sms".to_string()), Ok(Channel::Sms));
        assert!(Channel::try_from("fax".to_string()).is_err());
    }
}
