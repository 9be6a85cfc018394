//! "Did you mean ...?": the nearest valid name to a misspelt one, for scenario errors.
//!
//! The distance is the optimal string alignment distance (Levenshtein plus the transposition of
//! two neighbouring characters, so `hots` is one edit from `host`), over lower-cased characters.
//! A candidate is suggested only when it is close enough that the suggestion is likely right:
//! at most a third of the shorter name's length in edits, and at least one edit is always
//! allowed. Ties go to the candidate listed first.

/// Edits (insertions, deletions, substitutions, transpositions of neighbours) from `a` to `b`,
/// ignoring case.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rows are enough for transpositions.
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..width {
            let substitution = previous[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(previous[j] + 1).min(current[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[width - 1]
}

/// The candidate nearest to `typed`, when one is close enough to suggest.
pub(crate) fn nearest<'a, I>(typed: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let d = distance(typed, candidate);
        let shorter = typed.chars().count().min(candidate.chars().count());
        let allowed = (shorter / 3).max(1);
        if candidate == typed || d > allowed {
            continue;
        }
        if best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean `x`?"` for the nearest candidate, or nothing.
pub(crate) fn did_you_mean<'a, I>(typed: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    nearest(typed, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Names as serde lists them: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
pub(crate) fn one_of<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        more => format!("one of {}", more.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_insertions_deletions_substitutions_and_swaps() {
        assert_eq!(distance("host", "host"), 0);
        assert_eq!(distance("hots", "host"), 1);
        assert_eq!(distance("activate_stanby", "activate_standby"), 1);
        assert_eq!(distance("cdw9", "cdw"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("CDW", "cdw"), 0);
    }

    #[test]
    fn the_nearest_close_candidate_is_suggested() {
        let actions = ["sql", "write", "activate_standby", "init_standby"];
        assert_eq!(
            nearest("activate_stanby", actions),
            Some("activate_standby")
        );
        assert_eq!(nearest("wirte", actions), Some("write"));
        assert_eq!(
            nearest("sdw3", ["cdw", "scdw", "sdw1", "sdw2"]),
            Some("sdw1")
        );
        assert_eq!(nearest("CDW", ["cdw", "scdw"]), Some("cdw"));
    }

    #[test]
    fn nothing_is_suggested_when_no_candidate_is_close() {
        assert_eq!(nearest("explode", ["sql", "write", "fault"]), None);
        assert_eq!(nearest("xy", ["sql"]), None);
        assert_eq!(nearest("sql", ["sql"]), None);
        assert_eq!(did_you_mean("explode", ["sql"]), "");
    }

    #[test]
    fn names_are_listed_the_way_serde_lists_them() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b"]), "`a` or `b`");
        assert_eq!(one_of(&["a", "b", "c"]), "one of `a`, `b`, `c`");
    }
}
