//! Differential fuzzing of the parsers: the plain reader that `parse` tries first on a document,
//! the hand-written descent pass it tries next, and the chumsky grammar (its `EmptyErr` pass)
//! that stays the parser of record.
//!
//! A finding (a crash) is the plain reader or the descent pass accepting an input that chumsky
//! rejects, or building a different tree (nodes or spans), for a document or a lone expression. The descent pass
//! giving up on input chumsky accepts is only slow, not wrong: such inputs are counted and
//! printed (the first few), written to `$TUSK_DIFF_GIVE_UPS/` when that is set, and are crashes
//! only with `TUSK_DIFF_STRICT=1`.

#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use tusk_parser::ParseOptions;
use tusk_parser::differential::{self, Outcome, Pass};

static GIVE_UPS: AtomicUsize = AtomicUsize::new(0);

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    // A small depth limit as well as the default one: deep inputs then reach the limit's edge.
    for max_depth in [256, 12] {
        let options = ParseOptions { max_depth };
        let chumsky = differential::document(source, options, Pass::Chumsky);
        if let Some(plain) = differential::plain_document(source, options) {
            match &chumsky {
                Outcome::Accepted(expected) => assert!(
                    *expected == plain,
                    "the plain reader built a different document for {source:?}\nchumsky: {expected:#?}\nplain: {plain:#?}"
                ),
                other => panic!("the plain reader accepted a document that chumsky made {other:?} of: {source:?}"),
            }
        }
        compare(source, "document", chumsky, differential::document(source, options, Pass::Descent));
        compare(
            source,
            "expression",
            differential::expression(source, options, Pass::Chumsky),
            differential::expression(source, options, Pass::Descent),
        );
    }
});

fn compare<T: PartialEq + std::fmt::Debug>(source: &str, what: &str, chumsky: Outcome<T>, descent: Outcome<T>) {
    match (chumsky, descent) {
        (Outcome::Accepted(expected), Outcome::Accepted(found)) => {
            assert!(
                expected == found,
                "the descent pass built a different {what} for {source:?}\nchumsky: {expected:#?}\ndescent: {found:#?}"
            );
        }
        (Outcome::Rejected, Outcome::Accepted(found)) => {
            panic!("the descent pass accepted a {what} that chumsky rejects: {source:?}\n{found:#?}")
        }
        (Outcome::Accepted(_), Outcome::Rejected) => give_up(source, what),
        (Outcome::Rejected, Outcome::Rejected) | (Outcome::NotParsed, Outcome::NotParsed) => {}
        (chumsky, descent) => panic!("lexing and layout differ between the passes: {chumsky:?} / {descent:?}"),
    }
}

/// The descent pass gave up on valid input: a performance bug, reported but not fatal.
fn give_up(source: &str, what: &str) {
    let count = GIVE_UPS.fetch_add(1, Ordering::Relaxed) + 1;
    if std::env::var_os("TUSK_DIFF_STRICT").is_some_and(|value| value == "1") {
        panic!("the descent pass gave up on a valid {what}: {source:?}");
    }
    if count <= 20 || count.is_power_of_two() {
        eprintln!("give-up #{count}: the descent pass gave up on a valid {what}: {source:?}");
    }
    if let Some(dir) = std::env::var_os("TUSK_DIFF_GIVE_UPS") {
        let dir = std::path::PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let name = format!("{what}-{:016x}", fnv1a(source.as_bytes()));
        let _ = std::fs::write(dir.join(name), source);
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}
