//! What an SMS costs: its encoding and its segments. A text written only in the GSM 03.38
//! alphabet (its basic set, plus the extension table whose characters take two septets) goes
//! as GSM-7: 160 septets in one message, 153 per part once it is split (the concatenation header
//! takes the rest). One character outside it — a Hungarian `ő`, a Slovak `č` — turns the whole
//! text into UCS-2: 70 UTF-16 units in one message, 67 per part. Parts never split an escape
//! pair or a surrogate pair. Providers bill per segment.

use serde::Serialize;

/// GSM 03.38's basic character set (the escape code 0x1B itself is not a character).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: each character is sent as ESC + code, two septets.
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

const GSM_SINGLE: usize = 160;
const GSM_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PART: usize = 67;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

/// An SMS as the network carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsShape {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

fn septets(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Its encoding and segment count. An empty text is one (empty) segment.
pub fn measure(text: &str) -> SmsShape {
    let gsm: Option<Vec<usize>> = text.chars().map(septets).collect();
    match gsm {
        Some(sizes) => shape(SmsEncoding::Gsm7, &sizes, GSM_SINGLE, GSM_PART),
        None => {
            let sizes: Vec<usize> = text.chars().map(char::len_utf16).collect();
            shape(SmsEncoding::Ucs2, &sizes, UCS2_SINGLE, UCS2_PART)
        }
    }
}

/// Fills parts greedily with indivisible units (an escape pair, a surrogate pair).
fn shape(encoding: SmsEncoding, sizes: &[usize], single: usize, part: usize) -> SmsShape {
    let units: usize = sizes.iter().sum();
    if units <= single {
        return SmsShape {
            encoding,
            units,
            segments: 1,
        };
    }
    let (mut segments, mut used) = (1, 0);
    for &size in sizes {
        if used + size > part {
            segments += 1;
            used = 0;
        }
        used += size;
    }
    SmsShape {
        encoding,
        units,
        segments,
    }
}

/// The closest readable GSM-7 spelling of a letter outside the alphabet: the Hungarian long
/// umlauts become the short ones (which GSM-7 has), every other accent is dropped. Covers every
/// letter of the Hungarian and Slovak alphabets (and the Czech ones they share).
fn fallback(c: char) -> Option<&'static str> {
    Some(match c {
        'ő' => "ö",
        'Ő' => "Ö",
        'ű' => "ü",
        'Ű' => "Ü",
        'á' => "a",
        'Á' => "A",
        'í' => "i",
        'Í' => "I",
        'ó' | 'ô' => "o",
        'Ó' | 'Ô' => "O",
        'ú' | 'ů' => "u",
        'Ú' | 'Ů' => "U",
        'č' | 'ç' => "c",
        'Č' => "C",
        'ď' => "d",
        'Ď' => "D",
        'ě' | 'ê' | 'ë' => "e",
        'Ě' | 'Ê' | 'Ë' => "E",
        'ĺ' | 'ľ' => "l",
        'Ĺ' | 'Ľ' => "L",
        'ň' => "n",
        'Ň' => "N",
        'ŕ' | 'ř' => "r",
        'Ŕ' | 'Ř' => "R",
        'š' => "s",
        'Š' => "S",
        'ť' => "t",
        'Ť' => "T",
        'ý' => "y",
        'Ý' => "Y",
        'ž' => "z",
        'Ž' => "Z",
        // Typographic punctuation word processors put in: plain forms are in GSM-7.
        '\u{2018}' | '\u{2019}' | '\u{201a}' => "'",
        '\u{201c}' | '\u{201d}' | '\u{201e}' => "\"",
        '\u{2013}' | '\u{2014}' => "-",
        '\u{2026}' => "...",
        '\u{a0}' => " ",
        _ => return None,
    })
}

/// The text with every character outside GSM-7 replaced by its readable fall-back where it
/// has one (`sms_charset = "gsm7"`). A character with none (an emoji) is kept, and the SMS
/// stays UCS-2: nothing a customer wrote is silently lost.
pub fn transliterate_gsm7(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match (septets(c), fallback(c)) {
            (Some(_), _) | (None, None) => out.push(c),
            (None, Some(f)) => out.push_str(f),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(text: &str) -> (SmsEncoding, usize, usize) {
        let s = measure(text);
        (s.encoding, s.units, s.segments)
    }

    #[test]
    fn gsm7_boundaries() {
        assert_eq!(shape_of(""), (SmsEncoding::Gsm7, 0, 1));
        assert_eq!(shape_of(&"a".repeat(160)), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(shape_of(&"a".repeat(161)), (SmsEncoding::Gsm7, 161, 2));
        assert_eq!(shape_of(&"a".repeat(306)), (SmsEncoding::Gsm7, 306, 2));
        assert_eq!(shape_of(&"a".repeat(307)), (SmsEncoding::Gsm7, 307, 3));
        // é, ö, ü and friends are in the basic set: still one septet each.
        assert_eq!(shape_of("Kérünk, jöjjön vissza"), (SmsEncoding::Gsm7, 21, 1));
    }

    #[test]
    fn extension_characters_count_double_and_never_split() {
        for c in ['€', '[', ']', '{', '}', '^', '~', '\\', '|'] {
            assert_eq!(shape_of(&c.to_string()), (SmsEncoding::Gsm7, 2, 1), "{c}");
        }
        assert_eq!(shape_of(&"€".repeat(80)), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(shape_of(&"€".repeat(81)).2, 2);
        // 152 septets, then an escape pair that does not fit in the first part's 153.
        let text = format!("{}€", "a".repeat(152));
        assert_eq!(shape_of(&text), (SmsEncoding::Gsm7, 154, 1));
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(shape_of(&text).2, 2);
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(
            shape_of(&text),
            (SmsEncoding::Gsm7, 306, 3),
            "the pair moves to part two"
        );
    }

    #[test]
    fn ucs2_boundaries() {
        assert_eq!(shape_of(&"ő".repeat(70)), (SmsEncoding::Ucs2, 70, 1));
        assert_eq!(shape_of(&"ő".repeat(71)), (SmsEncoding::Ucs2, 71, 2));
        assert_eq!(shape_of(&"ő".repeat(134)), (SmsEncoding::Ucs2, 134, 2));
        assert_eq!(shape_of(&"ő".repeat(135)), (SmsEncoding::Ucs2, 135, 3));
        // One accented letter makes the whole text UCS-2.
        assert_eq!(
            shape_of(&format!("{}á", "a".repeat(69))),
            (SmsEncoding::Ucs2, 70, 1)
        );
        // An emoji is two UTF-16 units and is never split.
        assert_eq!(
            shape_of(&format!("{}🙂", "a".repeat(68))),
            (SmsEncoding::Ucs2, 70, 1)
        );
        assert_eq!(shape_of(&format!("{}🙂{}", "a".repeat(66), "a".repeat(3))).2, 2);
        // Lower-case ç is not in the basic set (only Ç is).
        assert_eq!(shape_of("ç").0, SmsEncoding::Ucs2);
    }

    #[test]
    fn every_hungarian_and_slovak_letter_transliterates_into_gsm7() {
        let hungarian = "aábcdeéfghiíjklmnoóöőpqrstuúüűvwxyz";
        let slovak = "aáäbcčdďeéfghiíjklĺľmnňoóôpqrŕsštťuúvwxyýzž";
        for alphabet in [hungarian, slovak] {
            for text in [alphabet.to_string(), alphabet.to_uppercase()] {
                let t = transliterate_gsm7(&text);
                assert_eq!(measure(&t).encoding, SmsEncoding::Gsm7, "{text} → {t}");
                assert_eq!(t.chars().count(), text.chars().count(), "one letter for one: {t}");
            }
        }
        assert_eq!(transliterate_gsm7("Győr, Hűség"), "Györ, Hüség");
        assert_eq!(
            transliterate_gsm7("Košice, ďakujeme, Ľubica"),
            "Kosice, dakujeme, Lubica"
        );
        assert_eq!(
            transliterate_gsm7("Árvíztűrő tükörfúrógép"),
            "Arviztürö tükörfurogép"
        );
        // Nothing to spare is kept: an emoji stays, so the message stays UCS-2.
        assert_eq!(transliterate_gsm7("Szia 🙂"), "Szia 🙂");
    }

    #[test]
    fn transliteration_turns_three_segments_into_one() {
        let body = "Szia Ildikó! Hiányzol nekünk: gyere be a héten, és a kávé mellé 10% kedvezményt adunk. Üdvözlettel, Aroma kávézó, Győr";
        assert!(measure(body).segments >= 2);
        let t = transliterate_gsm7(body);
        assert_eq!(
            measure(&t),
            SmsShape {
                encoding: SmsEncoding::Gsm7,
                units: t.chars().count(),
                segments: 1
            }
        );
    }
}

/// How an SMS's text is encoded: `auto` keeps UCS-2 when a character needs it; `gsm7`
/// transliterates first (see `transliterate_gsm7`), so a customer gets one segment, not three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsCharset {
    #[default]
    Auto,
    Gsm7,
}

impl SmsCharset {
    pub fn parse(s: &str) -> Option<SmsCharset> {
        match s {
            "auto" => Some(SmsCharset::Auto),
            "gsm7" => Some(SmsCharset::Gsm7),
            _ => None,
        }
    }

    /// The text as it will be sent.
    pub fn apply(self, text: String) -> String {
        match self {
            SmsCharset::Auto => text,
            SmsCharset::Gsm7 => transliterate_gsm7(&text),
        }
    }
}
