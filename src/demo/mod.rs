//! `rekindle demo`: a complete workspace on the embedded defaults — a generated café book of
//! business, a configuration, the SQLite store — that a newcomer can run with nothing installed.

mod book;
pub mod response;

use std::path::{Path, PathBuf};

pub use book::{BookSpec, write_book};

/// The demo business: a café in Budapest with a few hundred customers.
pub const DEMO_CUSTOMERS: usize = 400;
pub const DEMO_SEED: u64 = 2026;
pub const DEMO_ZONE: &str = "Europe/Budapest";

/// The shipped example rules, compiled in so the demo works wherever the binary is.
pub const EXAMPLE_RULES: [(&str, &str); 9] = [
    ("anniversary.toml", include_str!("../../rules/anniversary.toml")),
    (
        "at-risk-health.toml",
        include_str!("../../rules/at-risk-health.toml"),
    ),
    ("birthday.toml", include_str!("../../rules/birthday.toml")),
    (
        "booking-no-show.toml",
        include_str!("../../rules/booking-no-show.toml"),
    ),
    (
        "feedback-request.toml",
        include_str!("../../rules/feedback-request.toml"),
    ),
    (
        "overdue-regular.toml",
        include_str!("../../rules/overdue-regular.toml"),
    ),
    ("tenth-visit.toml", include_str!("../../rules/tenth-visit.toml")),
    (
        "welcome-first-booking.toml",
        include_str!("../../rules/welcome-first-booking.toml"),
    ),
    ("win-back-30d.toml", include_str!("../../rules/win-back-30d.toml")),
];

/// How many past days the demo replays, one round a day.
pub const DEMO_DAYS: i64 = 28;

pub struct DemoFiles {
    pub config: PathBuf,
    pub customers: PathBuf,
    pub events: PathBuf,
    pub events_written: u64,
}

/// Writes the demo workspace into `dir` (created if needed): `rekindle.toml`, the example rules
/// and the book of business as CSV under `data/`, a year of history ending at `until`.
pub fn prepare(dir: &Path, until: i64) -> std::io::Result<DemoFiles> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let config = dir.join("rekindle.toml");
    std::fs::write(
        &config,
        format!(
            "# The demo café's settings; see deploy/rekindle.toml.example for every key.\n\
             default_timezone = \"{DEMO_ZONE}\"\n\n[database]\nurl = \"sqlite://rekindle.db\"\n\n\
             [email]\nfrom = \"Café Aroma <hello@cafe-aroma.example>\"\n\n\
             # The colour of buttons and links in every email.\n\
             [email.style]\naccent = \"#8a4b2a\"\n\n\
             # Named on the unsubscribe page, on top of and under every email.\n\
             [business]\nname = \"Café Aroma\"\naddress = \"Baross tér 3, 9021 Győr\"\n\
             website = \"https://cafe-aroma.example\"\n\n\
             # Who served them, as history.favourite.staff in templates.\n\
             [history]\nfavourite_properties = [\"staff\"]\n\n\
             # A café's habit is its visits; bookings and purchases happen around them.\n\
             [health]\nactivity_events = [\"visit\"]\n"
        ),
    )?;
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules)?;
    for (name, text) in EXAMPLE_RULES {
        std::fs::write(rules.join(name), text)?;
    }
    let customers = data.join("customers.csv");
    let events = data.join("events.csv");
    let spec = BookSpec {
        seed: DEMO_SEED,
        customers: DEMO_CUSTOMERS,
        until,
    };
    let (_, events_written) = write_book(
        &spec,
        std::io::BufWriter::new(std::fs::File::create(&customers)?),
        std::io::BufWriter::new(std::fs::File::create(&events)?),
    )?;
    Ok(DemoFiles {
        config,
        customers,
        events,
        events_written,
    })
}
