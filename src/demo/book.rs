//! A seeded generator for a realistic book of business: weekly regulars, monthly and quarterly
//! clients, lapsed and new customers, occasional guests; visits with bookings before them,
//! purchases and feedback after some. The same seed and size always give the same files, so the
//! demo and the benchmarks are reproducible.

use std::io::Write;

use crate::health::DAY_SECONDS;

const FIRST_NAMES: [&str; 24] = [
    "Anna", "Bence", "Csilla", "Dávid", "Emma", "Farkas", "Gréta", "Hugo", "Ilona", "János", "Kata", "Lili",
    "Márk", "Nóra", "Olivér", "Petra", "Réka", "Sára", "Tamás", "Zoé", "Maya", "Liam", "Noah", "Mia",
];
const LAST_NAMES: [&str; 16] = [
    "Kovács", "Nagy", "Tóth", "Szabó", "Horváth", "Varga", "Kiss", "Molnár", "Németh", "Farkas", "Balogh",
    "Papp", "Smith", "Garcia", "Müller", "Rossi",
];
const OTHER_ZONES: [&str; 5] = [
    "Europe/London",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];
const TAGS: [&str; 4] = ["brunch", "coffee", "vip", "student"];

/// How a customer tends to come, which decides their whole history.
#[derive(Clone, Copy)]
enum Habit {
    Weekly,
    Monthly,
    Quarterly,
    Lapsed,
    New,
    Occasional,
}

pub struct BookSpec {
    pub seed: u64,
    pub customers: usize,
    /// The present: histories end at or before it (Unix seconds).
    pub until: i64,
}

/// Writes `customers.csv` and `events.csv` content; returns (customers, events) written.
pub fn write_book(spec: &BookSpec, customers: impl Write, events: impl Write) -> std::io::Result<(u64, u64)> {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let mut cw = csv::Writer::from_writer(customers);
    let mut ew = Events {
        w: csv::Writer::from_writer(events),
        written: 0,
    };
    // The import's own columns, plus the extra one the demo's rules use as an attribute.
    cw.write_record(crate::import::CUSTOMER_COLUMNS.iter().chain(&["tier"]))?;
    ew.w.write_record(crate::import::EVENT_COLUMNS.iter().chain(&["staff"]))?;
    let year = 365 * DAY_SECONDS;
    for n in 0..spec.customers {
        let id = format!("c{n:06}");
        let first = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
        let email = if rng.f32() < 0.85 {
            format!("{}.{}{}@example.com", ascii(first), ascii(last), n)
        } else {
            String::new()
        };
        let phone = if rng.f32() < 0.7 {
            format!("+3630{:07}", rng.u32(..10_000_000))
        } else {
            String::new()
        };
        let birthday = match rng.u8(..10) {
            0..=4 => format!(
                "{}-{:02}-{:02}",
                rng.i32(1950..2006),
                rng.u8(1..13),
                rng.u8(1..29)
            ),
            5..=6 => format!("--{:02}-{:02}", rng.u8(1..13), rng.u8(1..29)),
            _ => String::new(),
        };
        let zone = if rng.f32() < 0.1 {
            OTHER_ZONES[rng.usize(..OTHER_ZONES.len())]
        } else {
            ""
        };
        let consent_email = rng.f32() < 0.8;
        let consent_sms = rng.f32() < 0.5;
        let tags: Vec<&str> = TAGS.iter().copied().filter(|_| rng.f32() < 0.25).collect();
        let tier = ["", "", "silver", "gold"][rng.usize(..4)];
        cw.write_record([
            id.as_str(),
            &format!("{first} {last}"),
            &email,
            &phone,
            &birthday,
            zone,
            if consent_email { "yes" } else { "no" },
            if consent_sms { "yes" } else { "no" },
            &tags.join(";"),
            // The demo's rules are written in English, the default language.
            "",
            tier,
        ])?;

        let habit = match rng.u8(..100) {
            0..15 => Habit::Weekly,
            15..40 => Habit::Monthly,
            40..50 => Habit::Quarterly,
            50..70 => Habit::Lapsed,
            70..85 => Habit::New,
            _ => Habit::Occasional,
        };
        let (gap_days, start, stop) = match habit {
            Habit::Weekly => (7.0, spec.until - year, spec.until - rng.i64(0..30) * DAY_SECONDS),
            Habit::Monthly => (30.0, spec.until - year, spec.until - rng.i64(0..45) * DAY_SECONDS),
            Habit::Quarterly => (91.0, spec.until - year, spec.until),
            Habit::Lapsed => (
                20.0,
                spec.until - year,
                spec.until - rng.i64(40..200) * DAY_SECONDS,
            ),
            Habit::New => (10.0, spec.until - rng.i64(1..30) * DAY_SECONDS, spec.until),
            Habit::Occasional => (80.0, spec.until - year, spec.until),
        };
        // Visits at a jittered cadence, each at a plausible local opening hour (in UTC here).
        let mut t = start + rng.i64(0..(gap_days as i64 * DAY_SECONDS).max(1));
        let staff = ["Eva", "Marco", "Lin"][rng.usize(..3)];
        while t <= stop {
            let visit = t - t.rem_euclid(DAY_SECONDS) + rng.i64(7..19) * 3600;
            if visit > spec.until {
                break;
            }
            if rng.f32() < 0.5 {
                let booked = visit - rng.i64(1..8) * DAY_SECONDS;
                ew.emit(&id, "booking", booked, None, None, "")?;
            }
            ew.emit(&id, "visit", visit, None, None, staff)?;
            if rng.f32() < 0.4 {
                let amount = f64::from(rng.u32(350..6000)) / 100.0;
                ew.emit(&id, "purchase", visit + 1800, Some(amount), None, staff)?;
            }
            if rng.f32() < 0.1 && visit + 7200 <= spec.until {
                let score = f64::from(rng.u8(3..11));
                ew.emit(&id, "feedback", visit + 7200, None, Some(score), "")?;
            }
            let jitter = 1.0 + (rng.f64() - 0.5) * 0.3;
            t += ((gap_days * jitter) * DAY_SECONDS as f64) as i64;
        }
    }
    cw.flush()?;
    ew.w.flush()?;
    Ok((spec.customers as u64, ew.written))
}

/// The events file with its running event number.
struct Events<W: Write> {
    w: csv::Writer<W>,
    written: u64,
}

impl<W: Write> Events<W> {
    fn emit(
        &mut self,
        customer: &str,
        kind: &str,
        at: i64,
        amount: Option<f64>,
        score: Option<f64>,
        staff: &str,
    ) -> std::io::Result<()> {
        self.written += 1;
        let when = jiff::Timestamp::from_second(at).map_err(std::io::Error::other)?;
        self.w.write_record([
            format!("e{}", self.written).as_str(),
            customer,
            kind,
            &when.to_string(),
            &amount.map(|a| format!("{a:.2}")).unwrap_or_default(),
            &score.map(|s| s.to_string()).unwrap_or_default(),
            staff,
        ])?;
        Ok(())
    }
}

/// Email-safe lower-case ASCII form of a name.
fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' | 'ö' | 'ő' => 'o',
            'ú' | 'ü' | 'ű' => 'u',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}
