//! The model-free functions: sentence splitting, word tokenization and normalisation. They work
//! on any machine, without a model or a tokenizer file.

use tokenizers::normalizers::StripAccents;
use tokenizers::{NormalizedString, Normalizer as _};

/// Abbreviations whose period does not end a sentence (compared lowercased, without the period).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "cf", "no", "fig", "inc", "ltd",
    "co", "corp", "mt", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx",
];

/// Splits text into sentences: a sentence ends at `.`, `!`, `?` or `…` (with any closing quotes
/// or brackets) followed by whitespace and then an uppercase letter, a digit or an opening quote,
/// except after a known abbreviation or a single initial ("J. Smith"); a line break between
/// two non-empty lines also ends one (`\n\n`). Each sentence is trimmed.
pub fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        let paragraph = c == '\n' && chars.get(i + 1).is_some_and(|(_, next)| *next == '\n');
        if matches!(c, '.' | '!' | '?' | '…') || paragraph {
            let mut end = i + 1;
            while end < chars.len()
                && matches!(chars[end].1, '.' | '!' | '?' | '…' | '"' | '\'' | ')' | ']' | '”' | '’')
            {
                end += 1;
            }
            let mut next = end;
            while next < chars.len() && chars[next].1.is_whitespace() {
                next += 1;
            }
            let at_end = next == chars.len();
            let spaced = next > end;
            let starts_sentence = chars.get(next).is_some_and(|(_, n)| {
                n.is_uppercase() || n.is_ascii_digit() || matches!(n, '"' | '\'' | '“' | '‘' | '(' | '[')
            });
            let split =
                paragraph || at_end || (spaced && starts_sentence && !(c == '.' && abbreviation_before(&chars, i)));
            if split {
                let byte_end = chars.get(end).map_or(text.len(), |(at, _)| *at);
                let sentence = text[start..byte_end].trim();
                if !sentence.is_empty() {
                    out.push(sentence.to_string());
                }
                start = chars.get(next).map_or(text.len(), |(at, _)| *at);
                i = next;
                continue;
            }
        }
        i += 1;
    }
    let rest = text[start.min(text.len())..].trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// True when the word before the period at `dot` is an abbreviation or a single letter.
fn abbreviation_before(chars: &[(usize, char)], dot: usize) -> bool {
    let mut begin = dot;
    while begin > 0 && (chars[begin - 1].1.is_alphabetic() || chars[begin - 1].1 == '.') {
        begin -= 1;
    }
    let word: String = chars[begin..dot].iter().map(|(_, c)| c.to_ascii_lowercase()).collect();
    word.chars().count() == 1 || ABBREVIATIONS.contains(&word.as_str())
}

/// Splits text into words and punctuation: letters and digits (with inner apostrophes, hyphens,
/// and decimal points or thousands separators between digits) form one word; every other
/// non-space character is a token of its own.
pub fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let joins = match c {
            '\'' | '’' | '-' => {
                previous.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric)
            }
            '.' | ',' => previous.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit()),
            _ => false,
        };
        if c.is_alphanumeric() || (joins && !current.is_empty()) {
            current.push(c);
            continue;
        }
        if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// What `normalize` does.
#[derive(Clone, Copy, Debug)]
pub struct Normalisation {
    pub nfkc: bool,
    pub lowercase: bool,
    pub strip_accents: bool,
    pub collapse_whitespace: bool,
}

impl Default for Normalisation {
    fn default() -> Normalisation {
        Normalisation { nfkc: true, lowercase: true, strip_accents: true, collapse_whitespace: true }
    }
}

/// Unicode compatibility composition (NFKC: full-width letters, ligatures), lowercase, accents
/// removed, runs of whitespace as one space and trimmed: each step can be turned off.
pub fn normalize(text: &str, how: Normalisation) -> String {
    let mut normalized = NormalizedString::from(text);
    if how.nfkc {
        normalized.nfkc();
    }
    if how.lowercase {
        normalized.lowercase();
    }
    if how.strip_accents {
        normalized.nfd();
        // StripAccents only filters combining marks; it cannot fail.
        let _ = StripAccents.normalize(&mut normalized);
        normalized.nfc();
    }
    let text = normalized.get();
    if how.collapse_whitespace { text.split_whitespace().collect::<Vec<_>>().join(" ") } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_end_at_terminators_but_not_abbreviations_or_decimals() {
        assert_eq!(
            sentences("Dr. Smith paid $3.50 for it. Was it worth it?  Yes! \"Indeed,\" he said. The end"),
            ["Dr. Smith paid $3.50 for it.", "Was it worth it?", "Yes!", "\"Indeed,\" he said.", "The end"]
        );
        assert_eq!(
            sentences("See e.g. the manual. J. R. Tolkien wrote it."),
            ["See e.g. the manual.", "J. R. Tolkien wrote it."]
        );
        assert_eq!(sentences("First line\n\nSecond paragraph..."), ["First line", "Second paragraph..."]);
        assert_eq!(sentences("   "), Vec::<String>::new());
        assert_eq!(sentences("no terminator"), ["no terminator"]);
    }

    #[test]
    fn words_keep_contractions_numbers_and_split_punctuation() {
        assert_eq!(
            words("Don't pay $1,000.50 for state-of-the-art e-mail!"),
            ["Don't", "pay", "$", "1,000.50", "for", "state-of-the-art", "e-mail", "!"]
        );
        assert_eq!(words("Grüße, naïve café"), ["Grüße", ",", "naïve", "café"]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn normalisation_steps() {
        assert_eq!(normalize("  Ｈｅｌｌｏ   Wörld\tﬁne  ", Normalisation::default()), "hello world fine");
        let keep_case = Normalisation { lowercase: false, ..Normalisation::default() };
        assert_eq!(normalize("Crème Brûlée", keep_case), "Creme Brulee");
        let only_spaces =
            Normalisation { nfkc: false, lowercase: false, strip_accents: false, collapse_whitespace: true };
        assert_eq!(normalize(" a \n b ", only_spaces), "a b");
    }
}
