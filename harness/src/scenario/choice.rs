//! Random choices in a scenario, reproducible from a seed.
//!
//! A scenario may declare a `[choose]` table: names, each with a list of values
//! (`fault = ["crash", "stop"]`, `rows = [10, 200]`). Before the file is read, one value of each
//! is chosen, in name order, with a small generator seeded by `--seed N` (`CBH_SEED`; default:
//! the clock), and every `"{name}"` in the file is replaced: a whole string `"{name}"` by the
//! chosen value as TOML (a number stays a number), `{name}` inside a longer string by its text.
//! Names the table does not declare are left alone (SQL may hold braces). The seed and the
//! choices are printed by every run and written to its bundle, so any run can be repeated.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The choices made for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// The seed they were made with.
    pub seed: u64,
    /// Name → the chosen value, as TOML.
    pub chosen: BTreeMap<String, String>,
}

impl std::fmt::Display for Choices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.seed)?;
        if !self.chosen.is_empty() {
            let list: Vec<String> = self
                .chosen
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            write!(f, " ({})", list.join(", "))?;
        }
        Ok(())
    }
}

/// The seed of a run that was given none: `CBH_SEED` when set, else the clock.
pub fn default_seed() -> u64 {
    if let Some(seed) = std::env::var("CBH_SEED").ok().and_then(|s| s.parse().ok()) {
        return seed;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Only the `[choose]` table; everything else is read later, with its own error messages.
#[derive(Deserialize)]
struct Declared {
    #[serde(default)]
    choose: BTreeMap<String, Vec<toml::Value>>,
}

/// `source` with the choices of `seed` substituted, and the choices. A file that does not parse,
/// or whose `[choose]` is malformed, comes back unchanged: reading it reports the error.
pub fn apply(source: &str, seed: u64) -> (String, Choices) {
    let mut choices = Choices {
        seed,
        chosen: BTreeMap::new(),
    };
    let Ok(declared) = toml::from_str::<Declared>(source) else {
        return (source.to_string(), choices);
    };
    let mut rng = SplitMix64(seed);
    let mut text = source.to_string();
    for (name, values) in &declared.choose {
        if values.is_empty() {
            continue;
        }
        let value = &values[(rng.next() % values.len() as u64) as usize];
        let as_toml = value.to_string();
        let as_text = value
            .as_str()
            .map(str::to_string)
            .unwrap_or(as_toml.clone());
        let pattern = format!("{{{name}}}");
        text = text
            .replace(&format!("\"{pattern}\""), &as_toml)
            .replace(&pattern, &as_text);
        choices.chosen.insert(name.clone(), as_toml);
    }
    (text, choices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[choose]\nfault = [\"crash\", \"stop\", \"freeze\"]\nrows = [10, 200]\n\n\
                        [[step]]\naction = \"write\"\ntable = \"t\"\nrows = \"{rows}\"\n\n\
                        [[step]]\naction = \"fault\"\nfault = \"{fault}\"\nhost = \"cdw\"\n\
                        [[step]]\naction = \"sql\"\nsql = \"SELECT '{1,2}'::int[], '{fault} done'\"\n";

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        assert_eq!(apply(FILE, 7), apply(FILE, 7));
    }

    #[test]
    fn every_value_is_chosen_by_some_seed() {
        let faults: std::collections::BTreeSet<String> = (0..64)
            .map(|seed| apply(FILE, seed).1.chosen["fault"].clone())
            .collect();
        assert_eq!(faults.len(), 3, "{faults:?}");
    }

    #[test]
    fn a_whole_string_becomes_the_value_and_a_part_its_text() {
        let (text, choices) = apply(FILE, 7);
        let fault = choices.chosen["fault"].trim_matches('"').to_string();
        let rows = &choices.chosen["rows"];
        assert!(text.contains(&format!("rows = {rows}\n")), "{text}");
        assert!(text.contains(&format!("fault = \"{fault}\"\n")), "{text}");
        assert!(text.contains(&format!("'{fault} done'")), "{text}");
        // Braces that are not a declared name stay.
        assert!(text.contains("'{1,2}'::int[]"), "{text}");
        assert_eq!(
            choices.to_string(),
            format!("7 (fault = \"{fault}\", rows = {rows})")
        );
    }

    #[test]
    fn a_file_without_choices_is_unchanged() {
        let plain = "[[step]]\naction = \"sql\"\nsql = \"SELECT 1\"\n";
        assert_eq!(
            apply(plain, 1),
            (
                plain.to_string(),
                Choices {
                    seed: 1,
                    chosen: BTreeMap::new()
                }
            )
        );
    }
}
