//! Cloudberry's `TableLogger` (`gppylib/utils.py`): the one routine behind every aligned table.
//!
//! Each column is as wide as its longest value plus three spaces; a row's last field is not
//! padded. INFO rows are logged as three spaces plus the row; WARNING rows are logged without
//! the indent and get an extra `<<<<<<<<` column (which takes part in the width computation).
//! A separator is an INFO line of 52 dashes.

use crate::log::{self, Level};

/// The separator line.
pub const SEPARATOR: &str = "----------------------------------------------------";

#[derive(Debug, Clone)]
enum Row {
    Info(Vec<String>),
    Warn(Vec<String>),
    Separator,
}

/// Rows collected for one aligned table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an INFO row.
    pub fn info<S: Into<String>>(&mut self, cols: impl IntoIterator<Item = S>) -> &mut Self {
        self.rows
            .push(Row::Info(cols.into_iter().map(Into::into).collect()));
        self
    }

    /// Add a WARNING row (gets the `<<<<<<<<` column).
    pub fn warn<S: Into<String>>(&mut self, cols: impl IntoIterator<Item = S>) -> &mut Self {
        let mut v: Vec<String> = cols.into_iter().map(Into::into).collect();
        v.push("<<<<<<<<".to_string());
        self.rows.push(Row::Warn(v));
        self
    }

    /// Add a WARNING row if `warn`, else an INFO row.
    pub fn info_or_warn<S: Into<String>>(
        &mut self,
        warn: bool,
        cols: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        if warn {
            self.warn(cols)
        } else {
            self.info(cols)
        }
    }

    /// Add a separator.
    pub fn separator(&mut self) -> &mut Self {
        self.rows.push(Row::Separator);
        self
    }

    /// The lines the table logs, with their levels.
    pub fn render(&self) -> Vec<(Level, String)> {
        let mut widths: Vec<usize> = Vec::new();
        for r in &self.rows {
            if let Row::Info(c) | Row::Warn(c) = r {
                if widths.len() < c.len() {
                    widths.resize(c.len(), 0);
                }
                for (i, f) in c.iter().enumerate() {
                    widths[i] = widths[i].max(f.chars().count());
                }
            }
        }
        let join = |c: &[String]| {
            let mut s = String::new();
            for (i, f) in c.iter().enumerate() {
                s.push_str(f);
                if i + 1 < c.len() {
                    let pad = widths[i] + 3 - f.chars().count();
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
            s
        };
        self.rows
            .iter()
            .map(|r| match r {
                Row::Separator => (Level::Info, SEPARATOR.to_string()),
                Row::Info(c) => (Level::Info, format!("   {}", join(c))),
                Row::Warn(c) => (Level::Warning, join(c)),
            })
            .collect()
    }

    /// Log the table.
    pub fn output(&self) {
        log::emit(&self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(t: &Table) -> Vec<String> {
        t.render()
            .into_iter()
            .map(|(l, s)| format!("[{}]:-{}", l.name(), s))
            .collect()
    }

    #[test]
    fn standby_details_layout() {
        let mut t = Table::new();
        t.info(["Standby address", "= scdw"]);
        t.info([
            "Standby data directory",
            "= /data0/database/coordinator/gpseg-1",
        ]);
        t.info(["Standby port", "= 5432"]);
        t.info(["Standby PID", "= 4321"]);
        t.info(["Standby status", "= Standby host passive"]);
        let l = lines(&t);
        assert_eq!(l[0], "[INFO]:-   Standby address          = scdw");
        assert_eq!(
            l[1],
            "[INFO]:-   Standby data directory   = /data0/database/coordinator/gpseg-1"
        );
        assert_eq!(
            l[4],
            "[INFO]:-   Standby status           = Standby host passive"
        );
    }

    #[test]
    fn warnings_get_arrows_and_widen_the_value_column() {
        let mut t = Table::new();
        t.info(["Standby address", "= scdw"]);
        t.warn(["Standby PID", "= 0"]);
        t.warn(["Standby status", "= Standby process not running"]);
        let l = lines(&t);
        assert_eq!(l[0], "[INFO]:-   Standby address   = scdw");
        assert_eq!(
            l[1],
            format!(
                "[WARNING]:-Standby PID       = 0{}<<<<<<<<",
                " ".repeat(29 + 3 - 3)
            )
        );
        assert_eq!(
            l[2],
            "[WARNING]:-Standby status    = Standby process not running   <<<<<<<<"
        );
    }

    #[test]
    fn separator_is_52_dashes() {
        let mut t = Table::new();
        t.separator().info(["Coordinator instance", "= Active"]);
        let l = lines(&t);
        assert_eq!(l[0], format!("[INFO]:-{}", "-".repeat(52)));
        assert_eq!(l[1], "[INFO]:-   Coordinator instance   = Active");
    }

    #[test]
    fn matches_published_gpstate_b_warning_row() {
        // From a published Greenplum log: label column 58 wide, value column "= 24" + 3.
        let mut t = Table::new();
        t.info(["Total mirror segments", "= 24"]);
        t.warn(["Total mirror segment failures (at master)", "= 1"]);
        t.info([
            "Total number mirror segments acting as primary segments",
            "= 0",
        ]);
        let l = lines(&t);
        assert_eq!(
            l[1],
            "[WARNING]:-Total mirror segment failures (at master)                 = 1    <<<<<<<<"
        );
        assert_eq!(
            l[2],
            "[INFO]:-   Total number mirror segments acting as primary segments   = 0"
        );
    }
}
