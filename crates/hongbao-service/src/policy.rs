//! The risk policy as a TOML file: parsed, validated with errors that name the line and the key, and
//! written back out. Amounts are decimal strings (`"5000.00"`), so that no float touches money.
//!
//! ```toml
//! [limits]
//! per_transaction_max = "50000.00"
//! daily_outgoing_max = "200000.00"
//! daily_packet_count = 1000
//!
//! [tags.strangers]
//! per_transaction_max = "2000.00"
//! daily_max = "5000.00"
//!
//! [velocity]
//! max_actions = 5
//! window_seconds = 600
//! freeze_seconds = 1800
//!
//! [alerts]
//! large_transaction = "1000.00"
//!
//! [confirmation]
//! threshold = "5000.00"
//! ttl_seconds = 600
//!
//! [case_refunds]
//! approval_above = "1000.00"
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hongbao_core::Amount;
use hongbao_core::risk::{RiskPolicy, TagLimits, VelocityRule, valid_tag};

/// Why a policy file was refused: where, which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, key `{key}`: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// The line (1-based) where `key` (dotted, such as `velocity.max_actions`) is set, found by following
/// the table headers; 1 when it cannot be told.
fn line_of(text: &str, key: &str) -> usize {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[').and_then(|rest| rest.split(']').next()) {
            current = header.trim().replace(['"', ' '], "");
            if leaf.is_empty() || current == key {
                return index + 1;
            }
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else { continue };
        let name = name.trim().trim_matches('"');
        let full = if current.is_empty() { name.to_owned() } else { format!("{current}.{name}") };
        if full == key || (current == table && name == leaf) {
            return index + 1;
        }
    }
    // A key inside an inline table (`limits = { per_transaction_max = 5 }`): the line that sets the
    // table's own key with the leaf inside the braces.
    let table_leaf = table.rsplit('.').next().unwrap_or(table);
    if !table.is_empty()
        && let Some(index) = text.lines().position(|line| {
            line.split_once('=').is_some_and(|(name, rest)| name.trim().trim_matches('"') == table_leaf && rest.contains('{') && rest.contains(leaf))
        })
    {
        return index + 1;
    }
    // A whole table (for an unknown one): its header line.
    text.lines().position(|line| line.trim().trim_start_matches('[').starts_with(key)).map_or(1, |index| index + 1)
}

struct Reader<'a> {
    text: &'a str,
}

impl Reader<'_> {
    fn error(&self, key: &str, message: impl Into<String>) -> PolicyError {
        PolicyError { line: line_of(self.text, key), key: key.to_owned(), message: message.into() }
    }

    fn table<'t>(&self, parent: &'t toml::Table, name: &str, path: &str) -> Result<Option<&'t toml::Table>, PolicyError> {
        match parent.get(name) {
            None => Ok(None),
            Some(toml::Value::Table(table)) => Ok(Some(table)),
            Some(_) => Err(self.error(path, "must be a table")),
        }
    }

    fn only_keys(&self, table: &toml::Table, path: &str, allowed: &[&str]) -> Result<(), PolicyError> {
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                let full = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                return Err(self.error(&full, format!("unknown key; expected one of {}", allowed.join(", "))));
            }
        }
        Ok(())
    }

    fn amount(&self, table: &toml::Table, name: &str, path: &str) -> Result<Option<Amount>, PolicyError> {
        let key = format!("{path}.{name}");
        match table.get(name) {
            None => Ok(None),
            Some(toml::Value::String(text)) => match Amount::parse_decimal(text) {
                Ok(amount) if !amount.is_zero() => Ok(Some(amount)),
                Ok(_) => Err(self.error(&key, "must be more than zero")),
                Err(error) => Err(self.error(&key, format!("{error}"))),
            },
            Some(_) => Err(self.error(&key, "amounts are decimal strings, such as \"5000.00\"")),
        }
    }

    fn integer(&self, table: &toml::Table, name: &str, path: &str, range: std::ops::RangeInclusive<i64>) -> Result<Option<i64>, PolicyError> {
        let key = format!("{path}.{name}");
        match table.get(name) {
            None => Ok(None),
            Some(toml::Value::Integer(value)) if range.contains(value) => Ok(Some(*value)),
            Some(toml::Value::Integer(_)) => Err(self.error(&key, format!("must be from {} to {}", range.start(), range.end()))),
            Some(_) => Err(self.error(&key, "must be a whole number")),
        }
    }
}

/// Parses and validates a policy. Keys left out keep their defaults; unknown keys are refused, so a
/// misspelt limit cannot be silently ignored.
pub fn parse_policy(text: &str) -> Result<RiskPolicy, PolicyError> {
    let root: toml::Table = text.parse().map_err(|error: toml::de::Error| {
        let line = error.span().map_or(1, |span| text.as_bytes()[..span.start.min(text.len())].iter().filter(|byte| **byte == b'\n').count() + 1);
        PolicyError { line, key: String::new(), message: error.message().to_owned() }
    })?;
    let reader = Reader { text };
    reader.only_keys(&root, "", &["limits", "tags", "velocity", "alerts", "confirmation", "case_refunds"])?;
    let mut policy = RiskPolicy::default();
    if let Some(limits) = reader.table(&root, "limits", "limits")? {
        reader.only_keys(limits, "limits", &["per_transaction_max", "daily_outgoing_max", "daily_packet_count"])?;
        if let Some(amount) = reader.amount(limits, "per_transaction_max", "limits")? {
            policy.per_transaction_max = amount;
        }
        if let Some(amount) = reader.amount(limits, "daily_outgoing_max", "limits")? {
            policy.daily_outgoing_max = amount;
        }
        if let Some(count) = reader.integer(limits, "daily_packet_count", "limits", 1..=1_000_000)? {
            policy.daily_packet_count = count as u32;
        }
    }
    if let Some(tags) = reader.table(&root, "tags", "tags")? {
        policy.tags = BTreeMap::new();
        for (tag, limits) in tags {
            let path = format!("tags.{tag}");
            if !valid_tag(tag) {
                return Err(reader.error(&path, "a tag is 1 to 32 lowercase letters, digits, - and _"));
            }
            let toml::Value::Table(limits) = limits else { return Err(reader.error(&path, "must be a table")) };
            reader.only_keys(limits, &path, &["per_transaction_max", "daily_max"])?;
            let limits =
                TagLimits { per_transaction_max: reader.amount(limits, "per_transaction_max", &path)?, daily_max: reader.amount(limits, "daily_max", &path)? };
            policy.tags.insert(tag.clone(), limits);
        }
    }
    if let Some(velocity) = reader.table(&root, "velocity", "velocity")? {
        reader.only_keys(velocity, "velocity", &["max_actions", "window_seconds", "freeze_seconds"])?;
        let defaults = policy.velocity.clone();
        policy.velocity = VelocityRule {
            max_actions: reader.integer(velocity, "max_actions", "velocity", 1..=10_000)?.map_or(defaults.max_actions, |value| value as u32),
            window_seconds: reader.integer(velocity, "window_seconds", "velocity", 1..=7 * 86_400)?.unwrap_or(defaults.window_seconds),
            freeze_seconds: reader.integer(velocity, "freeze_seconds", "velocity", 1..=30 * 86_400)?.unwrap_or(defaults.freeze_seconds),
        };
    }
    if let Some(alerts) = reader.table(&root, "alerts", "alerts")? {
        reader.only_keys(alerts, "alerts", &["large_transaction"])?;
        if let Some(amount) = reader.amount(alerts, "large_transaction", "alerts")? {
            policy.alert_threshold = amount;
        }
    }
    if let Some(confirmation) = reader.table(&root, "confirmation", "confirmation")? {
        reader.only_keys(confirmation, "confirmation", &["threshold", "ttl_seconds"])?;
        if let Some(amount) = reader.amount(confirmation, "threshold", "confirmation")? {
            policy.confirmation_threshold = amount;
        }
        if let Some(seconds) = reader.integer(confirmation, "ttl_seconds", "confirmation", 10..=86_400)? {
            policy.confirmation_ttl_seconds = seconds;
        }
    }
    if let Some(case_refunds) = reader.table(&root, "case_refunds", "case_refunds")? {
        reader.only_keys(case_refunds, "case_refunds", &["approval_above"])?;
        if let Some(amount) = reader.amount(case_refunds, "approval_above", "case_refunds")? {
            policy.case_refund_approval_above = amount;
        }
    }
    Ok(policy)
}

/// Whether a valid policy file sets no key at all (empty, blank or only comments): it would mean every
/// default.
pub fn sets_nothing(text: &str) -> bool {
    text.parse::<toml::Table>().is_ok_and(|root| root.is_empty())
}

/// The policy as a complete TOML file, every key written out.
pub fn render_policy(policy: &RiskPolicy) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "[limits]");
    let _ = writeln!(out, "per_transaction_max = \"{}\"", policy.per_transaction_max);
    let _ = writeln!(out, "daily_outgoing_max = \"{}\"", policy.daily_outgoing_max);
    let _ = writeln!(out, "daily_packet_count = {}", policy.daily_packet_count);
    if policy.tags.is_empty() {
        // A file without the table keeps the default tags; an empty table says there are none.
        let _ = writeln!(out, "\n[tags]");
    }
    for (tag, limits) in &policy.tags {
        let _ = writeln!(out, "\n[tags.{tag}]");
        if let Some(amount) = limits.per_transaction_max {
            let _ = writeln!(out, "per_transaction_max = \"{amount}\"");
        }
        if let Some(amount) = limits.daily_max {
            let _ = writeln!(out, "daily_max = \"{amount}\"");
        }
    }
    let velocity = &policy.velocity;
    let _ = writeln!(
        out,
        "\n[velocity]\nmax_actions = {}\nwindow_seconds = {}\nfreeze_seconds = {}",
        velocity.max_actions, velocity.window_seconds, velocity.freeze_seconds
    );
    let _ = writeln!(out, "\n[alerts]\nlarge_transaction = \"{}\"", policy.alert_threshold);
    let _ = writeln!(out, "\n[confirmation]\nthreshold = \"{}\"\nttl_seconds = {}", policy.confirmation_threshold, policy.confirmation_ttl_seconds);
    let _ = writeln!(out, "\n[case_refunds]\napproval_above = \"{}\"", policy.case_refund_approval_above);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_round_trips_through_its_file() {
        let policy = RiskPolicy::default();
        assert_eq!(parse_policy(&render_policy(&policy)), Ok(policy));
        assert_eq!(parse_policy(""), Ok(RiskPolicy::default()), "an empty file keeps every default");
        assert!(sets_nothing("") && sets_nothing("  \n# only a comment\n"), "an empty file sets nothing");
        assert!(!sets_nothing(&render_policy(&RiskPolicy::default())) && !sets_nothing("[velocity]\n"), "a file with a table sets something");
    }

    #[test]
    fn a_policy_without_tags_round_trips_through_its_file() {
        // Found by fuzzing (fuzz/corpus/policy/empty-tags): the written file left the empty tags out,
        // and reading it back brought the default tags back.
        let policy = parse_policy("[tags]\n").expect("valid");
        assert!(policy.tags.is_empty());
        assert_eq!(parse_policy(&render_policy(&policy)), Ok(policy));
    }

    #[test]
    fn a_file_sets_what_it_names_and_keeps_the_rest() {
        let policy = parse_policy("[limits]\ndaily_packet_count = 3\n\n[tags.family]\ndaily_max = \"100.00\"\n").expect("valid");
        assert_eq!(policy.daily_packet_count, 3);
        assert_eq!(policy.tags.len(), 1, "tags given replace the default tags");
        assert_eq!(policy.tags["family"].daily_max, Some(Amount::new(100_00).expect("amount")));
        assert_eq!(policy.velocity, RiskPolicy::default().velocity);
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let error = |text: &str| parse_policy(text).expect_err("invalid").to_string();
        assert_eq!(
            error("[limits]\nper_transaction_max = 5000\n"),
            "line 2, key `limits.per_transaction_max`: amounts are decimal strings, such as \"5000.00\""
        );
        assert_eq!(error("# risk\n[velocity]\nmax_actions = 0\n"), "line 3, key `velocity.max_actions`: must be from 1 to 10000");
        assert_eq!(
            error("[alerts]\nlarge_transaction = \"1000.00\"\nlarge_transactoin = \"1.00\"\n"),
            "line 3, key `alerts.large_transactoin`: unknown key; expected one of large_transaction"
        );
        assert_eq!(error("[tags.Family]\ndaily_max = \"1.00\"\n"), "line 1, key `tags.Family`: a tag is 1 to 32 lowercase letters, digits, - and _");
        assert_eq!(error("[confirmation]\nthreshold = \"-5.00\"\n").split(':').next(), Some("line 2, key `confirmation.threshold`"));
        assert!(error("[limits\n").starts_with("line 1, key ``: "), "a syntax error names its line");
    }
}
