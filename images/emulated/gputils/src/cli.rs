//! A small option parser with Python `optparse` semantics, which the real utilities use:
//! short flags may be clustered (`-aq`), a short option's value may be attached (`-Mfast`) or
//! separate (`-M fast`), long options take `--opt=value` or `--opt value`, and anything else is a
//! positional argument. Errors read like optparse's (`no such option: -x`).

use std::collections::HashMap;

/// One option: its spellings (`-M`, `--mode`), whether it takes a value, and its key.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// The key under which the option is stored (usually its first spelling without dashes).
    pub key: &'static str,
    /// Every spelling, e.g. `&["-M", "--mode"]`.
    pub names: &'static [&'static str],
    /// Whether the option consumes a value.
    pub value: bool,
}

/// A flag without a value.
pub const fn flag(key: &'static str, names: &'static [&'static str]) -> Opt {
    Opt {
        key,
        names,
        value: false,
    }
}

/// An option with a value.
pub const fn valued(key: &'static str, names: &'static [&'static str]) -> Opt {
    Opt {
        key,
        names,
        value: true,
    }
}

/// The parsed command line.
#[derive(Debug, Default)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    /// Positional arguments, in order.
    pub args: Vec<String>,
}

impl Parsed {
    /// Whether the option was given (at least once).
    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The last value given for the option.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
    }
}

/// Parse `args` for `prog` as its optparse does: a bad option prints the usage error on stderr
/// and the utility exits 2 (the `Err` value).
pub fn parse_or_usage(prog: &str, spec: &[Opt], args: &[String]) -> Result<Parsed, i32> {
    parse(spec, args).map_err(|e| {
        eprintln!("Usage: {prog} [options]\n\n{prog}: error: {e}");
        2
    })
}

/// Logger settings from the common options: `-l DIR`, `-q`, and `verbose_flag` (`-v` or `-D`).
pub fn log_options(opts: &Parsed, verbose_flag: &str) -> crate::log::Options {
    crate::log::Options {
        dir: opts.value("l").map(Into::into),
        verbose: opts.has(verbose_flag),
        quiet: opts.has("q"),
        no_file: false,
    }
}

/// Parse `args` against `spec`. The error is optparse's message, without the program name.
pub fn parse(spec: &[Opt], args: &[String]) -> Result<Parsed, String> {
    let find = |name: &str| spec.iter().find(|o| o.names.contains(&name));
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.args.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (a.clone(), None),
            };
            let opt = find(&name).ok_or_else(|| format!("no such option: {name}"))?;
            let v = if opt.value {
                match inline {
                    Some(v) => v,
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return Err(format!("{name} option requires an argument")),
                }
            } else if inline.is_some() {
                return Err(format!("{name} option does not take a value"));
            } else {
                String::new()
            };
            out.values.entry(opt.key).or_default().push(v);
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let name = format!("-{}", chars[j]);
                let opt = find(&name).ok_or_else(|| format!("no such option: {name}"))?;
                j += 1;
                if opt.value {
                    let rest: String = chars[j..].iter().collect();
                    let v = if !rest.is_empty() {
                        rest
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(format!("{name} option requires an argument"));
                    };
                    out.values.entry(opt.key).or_default().push(v);
                    break;
                }
                out.values.entry(opt.key).or_default().push(String::new());
            }
        } else {
            out.args.push(a.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[Opt] = &[
        flag("a", &["-a"]),
        flag("m", &["-m", "--master_only", "-c", "--coordinator_only"]),
        valued("M", &["-M", "--mode"]),
        valued("d", &["-d"]),
    ];

    fn p(args: &[&str]) -> Result<Parsed, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(SPEC, &v)
    }

    #[test]
    fn clusters_and_values() {
        let r = p(&["-am", "-Mfast", "x"]).unwrap();
        assert!(r.has("a") && r.has("m"));
        assert_eq!(r.value("M"), Some("fast"));
        assert_eq!(r.args, vec!["x"]);
        let r = p(&["-M", "immediate", "--mode=smart", "-c"]).unwrap();
        assert_eq!(r.value("M"), Some("smart"));
        assert!(r.has("m"));
        let r = p(&["-d", "/data"]).unwrap();
        assert_eq!(r.value("d"), Some("/data"));
    }

    #[test]
    fn errors_read_like_optparse() {
        assert_eq!(p(&["-x"]).unwrap_err(), "no such option: -x");
        assert_eq!(p(&["-d"]).unwrap_err(), "-d option requires an argument");
        assert_eq!(p(&["--nope"]).unwrap_err(), "no such option: --nope");
    }
}
