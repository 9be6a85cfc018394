//! Reading a scenario file into a [`Scenario`], with every error at its line, column and field.
//!
//! The text is parsed once into TOML's spanned tables, and [`Fields`] records where every key and
//! value is. Each part is then deserialized on its own: the top level with `[topology]`, then
//! every `[[step]]` as the struct of its `action`. Serde's internally tagged enums would buffer a
//! step and lose every position inside it, so the `action` is read and checked here instead, and
//! the struct sees the rest of the table with its spans intact.
//!
//! Serde's messages are kept, named by their place and field, and completed: an unknown name
//! gets the nearest valid one (`suggest.rs`), Rust type names become words.

use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::IgnoredAny;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::{Place, ScenarioError};
use super::model::{
    ActivateStep, CheckStep, FaultStep, GpstateStep, InitStandbyStep, MoveStep, Scenario, SqlStep,
    StaleFilesStep, Step, StopStep, WorkloadStartStep, WorkloadStopStep, WriteStep,
};
use super::suggest;
use crate::cluster::{Topology, TopologyError};

/// The top level of a scenario file; the steps are read one by one, see the module doc.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    topology: Topology,
    /// Random choices, already substituted (see [`super::choice`]); read here for its type.
    #[serde(default)]
    choose: std::collections::BTreeMap<String, Vec<toml::Value>>,
    /// Read by [`read_step`]; listed here so that an unknown top-level field is offered `step`.
    #[serde(default, rename = "step")]
    _step: IgnoredAny,
}

/// Where one key of a table is, by its dotted name below the table (`expect.sync_state`).
#[derive(Debug, Clone)]
struct FieldSpan {
    name: String,
    key: Range<usize>,
    value: Range<usize>,
}

/// Where the keys and values of one table of the file are: the top level (with `[topology]`
/// as `topology.*`) or one `[[step]]`.
#[derive(Debug, Clone, Default)]
pub(super) struct Fields {
    /// The table's own span: for a step, its `[[step]]` header.
    pub(super) header: Range<usize>,
    entries: Vec<FieldSpan>,
}

impl Fields {
    fn of(header: Range<usize>, table: &DeTable<'_>) -> Fields {
        fn collect(prefix: &str, table: &DeTable<'_>, out: &mut Vec<FieldSpan>) {
            for (key, value) in table.iter() {
                let name = if prefix.is_empty() {
                    key.get_ref().to_string()
                } else {
                    format!("{prefix}.{}", key.get_ref())
                };
                out.push(FieldSpan {
                    name: name.clone(),
                    key: key.span(),
                    value: value.span(),
                });
                if let DeValue::Table(inner) = value.get_ref() {
                    collect(&name, inner, out);
                }
            }
        }
        let mut entries = Vec::new();
        collect("", table, &mut entries);
        Fields { header, entries }
    }

    /// The innermost field whose key or value holds byte `offset`.
    fn at(&self, offset: usize) -> Option<&str> {
        let holds = |r: &Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        self.entries
            .iter()
            .filter(|e| holds(&e.key) || holds(&e.value))
            .max_by_key(|e| e.name.matches('.').count())
            .map(|e| e.name.as_str())
    }

    /// Where the value of field `name` (dotted) is, when the file sets it.
    pub(super) fn value(&self, name: &str) -> Option<Range<usize>> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.value.clone())
    }
}

/// The file being loaded and where its parts are, to turn a byte offset into an error.
pub(super) struct Document<'a> {
    pub(super) path: &'a Path,
    pub(super) source: &'a str,
    /// The top level, `[topology]` included.
    pub(super) top: Fields,
    /// One per `[[step]]`, in order.
    pub(super) steps: Vec<Fields>,
}

impl Document<'_> {
    /// 1-based line and column of a byte offset.
    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count()
            + 1;
        (line, column)
    }

    /// The place and field (dotted below the place) at a byte offset.
    fn locate(&self, offset: usize) -> (Place, Option<String>) {
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(field) = step.at(offset) {
                return (Place::Step(i + 1), Some(field.to_string()));
            }
            if step.header.contains(&offset) {
                return (Place::Step(i + 1), None);
            }
        }
        match self.top.at(offset) {
            Some("topology") => (Place::Topology, None),
            Some(field) => match field.strip_prefix("topology.") {
                Some(field) => (Place::Topology, Some(field.to_string())),
                None => (Place::File, Some(field.to_string())),
            },
            None => self.locate_in_text(offset),
        }
    }

    /// For text that does not parse, where the parsed tables know nothing: the table whose
    /// header comes last before `offset`, and the key that starts its line.
    fn locate_in_text(&self, offset: usize) -> (Place, Option<String>) {
        let step = self
            .steps
            .iter()
            .rposition(|s| s.header.end <= offset && !s.header.is_empty());
        let topology = self
            .top
            .value("topology")
            .filter(|r| r.end <= offset)
            .map(|r| r.start);
        let place = match (step, topology) {
            (Some(i), Some(t)) if t > self.steps[i].header.start => Place::Topology,
            (Some(i), _) => Place::Step(i + 1),
            (None, Some(_)) => Place::Topology,
            (None, None) => Place::File,
        };
        let line_start = self.source[..offset.min(self.source.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let field = KEY
            .captures(&self.source[line_start..])
            .map(|c| c[1].to_string());
        (place, field)
    }

    /// A [`ScenarioError::Syntax`] at `offset` with a message written here.
    fn error(
        &self,
        offset: usize,
        place: Place,
        field: Option<&str>,
        message: String,
    ) -> ScenarioError {
        let (line, column) = self.position(offset);
        ScenarioError::Syntax {
            path: self.path.to_path_buf(),
            line,
            column,
            place,
            field: field.map(str::to_string),
            message,
        }
    }

    /// A TOML or serde error, placed and explained. `fallback` is where it is when the error
    /// has no position of its own (the table it was raised for).
    fn toml_error(&self, error: &toml::de::Error, fallback: usize) -> ScenarioError {
        let offset = error.span().map_or(fallback, |s| s.start);
        let (place, field) = self.locate(offset);
        let (field, message) = explain(error.message().trim(), field);
        self.error(offset, place, field.as_deref(), message)
    }
}

/// `unknown field `x`, expected ...` and `unknown variant `x`, expected ...`, as serde words them.
static UNKNOWN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^unknown (field|variant) `([^`]*)`, (?:expected (.*)|there are no \w+)$")
        .expect("the unknown-name pattern is valid")
});

/// The key that starts a line, bare or dotted.
static KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[ \t]*([A-Za-z0-9_.-]+)[ \t]*=").expect("the key pattern is valid")
});

/// A name in backquotes.
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`([^`]*)`").expect("the quoted-name pattern is valid"));

/// Completes serde's `message` about `field` (dotted, where the error is), and says which field
/// to show beside it: for an unknown field, the table it is in (the message names the field).
fn explain(message: &str, field: Option<String>) -> (Option<String>, String) {
    let leaf = |f: &str| f.rsplit('.').next().unwrap_or(f).to_string();
    if let Some(m) = UNKNOWN.captures(message) {
        let typed = &m[2];
        let expected: Vec<&str> = m
            .get(3)
            .map(|e| {
                QUOTED
                    .captures_iter(e.as_str())
                    .map(|c| c.get(1).map_or("", |g| g.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let hint = suggest::did_you_mean(typed, expected.iter().copied());
        return if &m[1] == "field" {
            let parent = field.and_then(|f| f.rsplit_once('.').map(|(p, _)| p.to_string()));
            (parent, format!("{message}{hint}"))
        } else {
            let what = field.as_deref().map_or_else(|| "value".to_string(), leaf);
            let expected = m.get(3).map_or("nothing", |e| e.as_str());
            (
                field,
                format!("unknown {what} `{typed}`, expected {expected}{hint}"),
            )
        };
    }
    if message.starts_with("missing field `") {
        return (None, message.to_string());
    }
    if message == "duplicate key" {
        return (
            field,
            "duplicate key, expected each field at most once".into(),
        );
    }
    let mut message = message.to_string();
    for (rust, words) in [
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected variant identifier", "expected a string"),
    ] {
        if let Some(head) = message.strip_suffix(rust) {
            message = format!("{head}{words}");
        }
    }
    (field, message)
}

/// The topology field to change for `reason`: the first of the fields involved that the file
/// sets, else the first of them.
fn topology_field(reason: &TopologyError, t: &Topology, top: &Fields) -> &'static str {
    let host_fields = |host: &str| {
        let mut fields = Vec::new();
        if t.standby.as_deref() == Some(host) {
            fields.push("standby");
        }
        if t.coordinator == host {
            fields.push("coordinator");
        }
        fields
    };
    let involved: Vec<&'static str> = match reason {
        TopologyError::NoSegmentHosts(_) | TopologyError::MirrorsNeedTwoHosts => {
            vec!["segment_hosts", "mirrors"]
        }
        TopologyError::NoPrimaries(_) => vec!["primaries_per_host"],
        TopologyError::DuplicateHost(host) | TopologyError::BadHostName(host) => host_fields(host),
        TopologyError::PortClash(..) => vec![
            "coordinator_port",
            "port_base",
            "mirror_port_base",
            "primaries_per_host",
        ],
    };
    involved
        .iter()
        .find(|f| top.value(&format!("topology.{f}")).is_some())
        .or(involved.first())
        .copied()
        .unwrap_or("coordinator")
}

/// Deserializes a step's table (without `action`) as the struct of `action`.
fn step_of(action: &str, table: Spanned<DeTable<'_>>) -> Option<Result<Step, toml::de::Error>> {
    let de = toml::de::Deserializer::from(table);
    Some(match action {
        "sql" => SqlStep::deserialize(de).map(Step::Sql),
        "write" => WriteStep::deserialize(de).map(Step::Write),
        "workload_start" => WorkloadStartStep::deserialize(de).map(Step::WorkloadStart),
        "workload_stop" => WorkloadStopStep::deserialize(de).map(Step::WorkloadStop),
        "fault" => FaultStep::deserialize(de).map(Step::Fault),
        "heal" => FaultStep::deserialize(de).map(Step::Heal),
        "activate_standby" => ActivateStep::deserialize(de).map(Step::ActivateStandby),
        "move_datadir" => MoveStep::deserialize(de).map(Step::MoveDatadir),
        "remove_stale_files" => StaleFilesStep::deserialize(de).map(Step::RemoveStaleFiles),
        "init_standby" => InitStandbyStep::deserialize(de).map(Step::InitStandby),
        "stop_coordinator_only" => StopStep::deserialize(de).map(Step::StopCoordinatorOnly),
        "gpstate" => GpstateStep::deserialize(de).map(Step::Gpstate),
        "check" => CheckStep::deserialize(de).map(Step::Check),
        _ => return None,
    })
}

/// Reads one `[[step]]` table (number `n`, 1-based).
fn read_step(
    doc: &Document<'_>,
    n: usize,
    span: Range<usize>,
    table: &DeTable<'_>,
) -> Result<Step, ScenarioError> {
    let place = Place::Step(n);
    let expected = suggest::one_of(&Step::ACTIONS);
    let Some(action) = table.get("action") else {
        // A misspelt `action` is more likely than a forgotten one.
        let misspelt = table
            .iter()
            .find(|(key, _)| suggest::nearest(key.get_ref(), ["action"]).is_some());
        return Err(match misspelt {
            Some((key, _)) => doc.error(
                key.span().start,
                place,
                None,
                format!(
                    "unknown field `{}`, expected `action` and the fields of the action; \
                     did you mean `action`?",
                    key.get_ref()
                ),
            ),
            None => doc.error(
                span.start,
                place,
                None,
                format!("missing field `action`, expected {expected}"),
            ),
        });
    };
    let Some(name) = action.get_ref().as_str() else {
        return Err(doc.error(
            action.span().start,
            place,
            Some("action"),
            format!(
                "invalid type: {} `{}`, expected a string, {expected}",
                action.get_ref().type_str(),
                &doc.source[action.span()]
            ),
        ));
    };
    let mut body = table.clone();
    body.remove("action");
    match step_of(name, Spanned::new(span.clone(), body)) {
        Some(step) => step.map_err(|e| doc.toml_error(&e, span.start)),
        None => Err(doc.error(
            action.span().start,
            place,
            Some("action"),
            format!(
                "unknown action `{name}`, expected {expected}{}",
                suggest::did_you_mean(name, Step::ACTIONS)
            ),
        )),
    }
}

impl Scenario {
    /// A scenario without steps on `topology`, named `name` (for `cbh up` without a file).
    pub fn bare(name: &str, topology: Topology) -> Scenario {
        Scenario {
            name: name.to_string(),
            description: String::new(),
            topology,
            steps: Vec::new(),
            step_lines: Vec::new(),
            path: std::path::PathBuf::new(),
            source: String::new(),
            choices: Default::default(),
        }
    }

    /// Reads, parses and validates a scenario file, making its random choices with the seed
    /// of [`super::choice::default_seed`].
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::load_seeded(path, super::choice::default_seed())
    }

    /// [`Scenario::load`] with the random choices of `seed`.
    pub fn load_seeded(path: &Path, seed: u64) -> Result<Scenario, ScenarioError> {
        let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse_seeded(path, &source, seed)
    }

    /// Parses and validates scenario text (random choices with seed 0); `path` is used in
    /// messages.
    pub fn parse(path: &Path, source: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_seeded(path, source, 0)
    }

    /// [`Scenario::parse`] with the random choices of `seed`. Messages point into the text
    /// with the choices substituted (the same lines; columns after a substitution may move).
    pub fn parse_seeded(path: &Path, source: &str, seed: u64) -> Result<Scenario, ScenarioError> {
        let (text, choices) = super::choice::apply(source, seed);
        let mut scenario = Scenario::parse_substituted(path, &text)?;
        scenario.source = source.to_string();
        scenario.choices = choices;
        Ok(scenario)
    }

    fn parse_substituted(path: &Path, source: &str) -> Result<Scenario, ScenarioError> {
        let (root, errors) = DeTable::parse_recoverable(source);
        let step_values: Vec<&Spanned<DeValue<'_>>> = match root.get_ref().get("step") {
            Some(value) => match value.get_ref() {
                DeValue::Array(items) => items.iter().collect(),
                _ => vec![value],
            },
            None => Vec::new(),
        };
        let mut doc = Document {
            path,
            source,
            top: Fields::of(root.span(), root.get_ref()),
            steps: Vec::new(),
        };
        for value in &step_values {
            let fields = match value.get_ref() {
                DeValue::Table(table) => Fields::of(value.span(), table),
                _ => Fields::default(),
            };
            doc.steps.push(fields);
        }
        if let Some(error) = errors.first() {
            return Err(doc.toml_error(error, 0));
        }
        let header = Header::deserialize(toml::de::Deserializer::from(root.clone()))
            .map_err(|e| doc.toml_error(&e, 0))?;
        if let Some((name, _)) = header.choose.iter().find(|(_, values)| values.is_empty()) {
            let offset = doc
                .top
                .value(&format!("choose.{name}"))
                .map_or(0, |r| r.start);
            return Err(doc.error(
                offset,
                Place::File,
                Some(&format!("choose.{name}")),
                format!("choice `{name}` has no values, expected a list of at least one"),
            ));
        }
        header.topology.validate().map_err(|reason| {
            let field = topology_field(&reason, &header.topology, &doc.top);
            let offset = doc
                .top
                .value(&format!("topology.{field}"))
                .or_else(|| doc.top.value("topology"))
                .map_or(0, |r| r.start);
            let (line, column) = doc.position(offset);
            ScenarioError::Topology {
                path: path.to_path_buf(),
                line,
                column,
                field: field.to_string(),
                reason,
            }
        })?;
        if let Some(value) = root.get_ref().get("step") {
            if !matches!(value.get_ref(), DeValue::Array(_)) {
                return Err(doc.error(
                    value.span().start,
                    Place::File,
                    Some("step"),
                    format!(
                        "invalid type: {} `{}`, expected an array of tables: write each step \
                         as `[[step]]`",
                        value.get_ref().type_str(),
                        &source[value.span()]
                    ),
                ));
            }
        }
        let mut steps = Vec::new();
        for (i, value) in step_values.iter().enumerate() {
            let DeValue::Table(table) = value.get_ref() else {
                return Err(doc.error(
                    value.span().start,
                    Place::Step(i + 1),
                    None,
                    format!(
                        "invalid type: {}, expected a table",
                        value.get_ref().type_str()
                    ),
                ));
            };
            steps.push(read_step(&doc, i + 1, value.span(), table)?);
        }
        if steps.is_empty() {
            return Err(doc.error(
                source.len(),
                Place::File,
                None,
                "no steps, expected at least one `[[step]]` table".into(),
            ));
        }
        let name = header.name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        let scenario = Scenario {
            name,
            description: header.description.unwrap_or_default(),
            topology: header.topology,
            step_lines: doc
                .steps
                .iter()
                .map(|f| doc.position(f.header.start).0)
                .collect(),
            steps,
            path: path.to_path_buf(),
            source: source.to_string(),
            choices: Default::default(),
        };
        super::validate::validate(&scenario, &doc)?;
        Ok(scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("scenarios/t.toml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_scenario_uses_the_default_topology_and_the_file_stem() {
        let s = parse("[[step]]\naction = \"gpstate\"\nmode = \"full\"\n").unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.topology, Topology::default());
        assert_eq!(s.step_lines, [1]);
        assert_eq!(s.steps[0].action(), "gpstate");
    }

    #[test]
    fn every_action_reads_as_the_step_of_that_name() {
        for action in Step::ACTIONS {
            // An empty table: the struct of the action is asked for it, fields missing or not.
            match step_of(action, DeTable::parse("").unwrap()).expect("a known action") {
                Ok(step) => assert_eq!(step.action(), action),
                Err(e) => assert!(e.message().starts_with("missing field"), "{action}: {e}"),
            }
        }
        assert!(step_of("explode", DeTable::parse("").unwrap()).is_none());
    }

    #[test]
    fn an_unknown_action_points_at_its_value_and_suggests_the_nearest() {
        let err = error("name = \"x\"\n\n[[step]]\naction = \"activate_stanby\"\n");
        assert!(
            err.starts_with(
                "scenarios/t.toml:4:10: step 1 (`action`): unknown action `activate_stanby`, \
                 expected one of `sql`, `write`,"
            ),
            "{err}"
        );
        assert!(err.ends_with("; did you mean `activate_standby`?"), "{err}");
    }

    #[test]
    fn an_unknown_field_points_at_its_key_and_suggests_the_nearest() {
        let err =
            error("[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"cdw\"\nhots = 1\n");
        assert_eq!(
            err,
            "scenarios/t.toml:5:1: step 1: unknown field `hots`, expected one of `fault`, `host`, \
             `peer`, `probability`, `rate`, `delay`; did you mean `host`?"
        );
    }

    #[test]
    fn an_unknown_field_of_a_sub_table_names_the_sub_table() {
        let err =
            error("[[step]]\naction = \"gpstate\"\nmode = \"full\"\nexpect.sync_stat = \"x\"\n");
        assert!(
            err.starts_with("scenarios/t.toml:4:8: step 1 (`expect`): unknown field `sync_stat`"),
            "{err}"
        );
        assert!(err.ends_with("did you mean `sync_state`?"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_points_at_the_value_and_says_what_was_expected() {
        let err = error("[[step]]\naction = \"write\"\ntable = \"t\"\nrows = \"ten\"\n");
        assert_eq!(
            err,
            "scenarios/t.toml:4:8: step 1 (`rows`): invalid type: string \"ten\", expected a \
             whole number from 0 to 4294967295"
        );
    }

    #[test]
    fn a_missing_field_points_at_the_step_header() {
        let err = error("description = \"d\"\n[[step]]\naction = \"write\"\ntable = \"t\"\n");
        assert_eq!(err, "scenarios/t.toml:2:1: step 1: missing field `rows`");
    }

    #[test]
    fn text_that_is_not_toml_is_placed_in_its_step_and_field() {
        let err = error("[[step]]\naction = \"sql\nsql = 1\n");
        assert!(
            err.starts_with("scenarios/t.toml:2:14: step 1 (`action`): invalid basic string"),
            "{err}"
        );
    }

    #[test]
    fn columns_count_characters() {
        let err = error(
            "description = \"é\"\n[[step]]\naction = \"write\"\ntable = \"é\"\nrows = \"x\"\n",
        );
        assert!(err.starts_with("scenarios/t.toml:5:8: "), "{err}");
    }

    #[test]
    fn a_file_without_steps_is_rejected() {
        assert_eq!(
            error("description = \"nothing\"\n"),
            "scenarios/t.toml:2:1: no steps, expected at least one `[[step]]` table"
        );
    }

    #[test]
    fn an_impossible_topology_points_at_the_field_to_change() {
        let err = error("[topology]\nsegment_hosts = 1\n");
        assert_eq!(
            err,
            "scenarios/t.toml:2:17: [topology] (`segment_hosts`): mirrors need at least two \
             segment hosts (segment_hosts = 1); set mirrors = false"
        );
        let err = error("[topology]\nstandby = \"cdw\"\n");
        assert!(
            err.starts_with(
                "scenarios/t.toml:2:11: [topology] (`standby`): host name `cdw` is used twice"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_timeout_is_a_duration() {
        let s =
            parse("[[step]]\naction = \"activate_standby\"\nhost = \"scdw\"\ntimeout = \"2m\"\n")
                .unwrap();
        let Step::ActivateStandby(a) = &s.steps[0] else {
            panic!("{:?}", s.steps[0]);
        };
        assert_eq!(a.timeout, Some(std::time::Duration::from_secs(120)));
        let err =
            error("[[step]]\naction = \"init_standby\"\nstandby = \"sdw1\"\ntimeout = \"soon\"\n");
        assert!(
            err.starts_with("scenarios/t.toml:4:11: step 1 (`timeout`): invalid duration `soon`"),
            "{err}"
        );
    }
}
