//! Personal offer codes: short enough to read aloud at a till, unambiguous to type
//! (no 0/O, 1/I/L), unguessable (ten characters of a 31-letter alphabet: 49 random bits from
//! the operating system's generator), with the rule's prefix in front: `BACK-7KQ3M-9XDP2`.

/// The characters a code is made of: digits and upper-case letters without 0, O, 1, I and L.
const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Two groups of this many characters.
const GROUP: usize = 5;

/// A fresh code with the prefix (empty: no prefix).
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 2 * GROUP];
    getrandom::fill(&mut bytes).expect("the operating system's random generator is available");
    // Rejection sampling keeps every character equally likely: 248 = 8 × 31.
    let mut chars = Vec::with_capacity(2 * GROUP);
    let mut pool = bytes.to_vec();
    while chars.len() < 2 * GROUP {
        match pool.pop() {
            Some(b) if usize::from(b) < 8 * ALPHABET.len() => {
                chars.push(ALPHABET[usize::from(b) % ALPHABET.len()])
            }
            Some(_) => {}
            None => {
                let mut more = [0u8; 2 * GROUP];
                getrandom::fill(&mut more).expect("the operating system's random generator is available");
                pool.extend_from_slice(&more);
            }
        }
    }
    join(prefix, &chars)
}

/// What a message shows before its code exists (a preview): the real prefix, `X`s for the rest.
pub fn placeholder(prefix: &str) -> String {
    join(prefix, &[b'X'; 2 * GROUP])
}

fn join(prefix: &str, chars: &[u8]) -> String {
    let (a, b) = chars.split_at(GROUP);
    let body = format!(
        "{}-{}",
        std::str::from_utf8(a).expect("ASCII"),
        std::str::from_utf8(b).expect("ASCII")
    );
    if prefix.is_empty() {
        body
    } else {
        format!("{prefix}-{body}")
    }
}

/// A code as a person typed it: surrounding space dropped, upper-cased (a till may not
/// shift letters).
pub fn normalize(typed: &str) -> String {
    typed.trim().to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_prefix_two_groups_and_no_ambiguous_characters() {
        for _ in 0..1000 {
            let code = generate("BACK");
            let rest = code.strip_prefix("BACK-").expect("prefix");
            let groups: Vec<&str> = rest.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [5, 5],
                "{code}"
            );
            assert!(rest.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)), "{code}");
            assert!(!rest.contains(['0', 'O', '1', 'I', 'L']), "{code}");
        }
        assert_eq!(placeholder("BACK"), "BACK-XXXXX-XXXXX");
        assert_eq!(placeholder(""), "XXXXX-XXXXX");
        assert_eq!(normalize(" back-7kq3m-9xdp2\n"), "BACK-7KQ3M-9XDP2");
    }

    #[test]
    fn a_hundred_thousand_codes_are_all_different() {
        let codes: std::collections::HashSet<String> = (0..100_000).map(|_| generate("BACK")).collect();
        assert_eq!(codes.len(), 100_000);
    }

    #[test]
    fn every_character_is_used() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            seen.extend(generate("").bytes().filter(|b| *b != b'-'));
        }
        assert_eq!(seen.len(), ALPHABET.len());
    }
}
