//! The check between a compiled ruleset and the workers that keeps a careless edit from
//! switching protection off.
//!
//! A rules file truncated to nothing, or caught half-written by a reload, parses cleanly:
//! it simply holds fewer rules. Published as it is, prevention would stop dropping with
//! no error anywhere. [`check`] refuses such a ruleset: none of the configured rules
//! loads, none of the configured list entries loads, or more than `max_loss` of the
//! running rules (or list entries) would go. The caller keeps the running ruleset and
//! says why; an operator who means it reloads with `force`. At start nothing runs yet, so
//! only the first two apply, and they are a warning on stderr: the sensor starts without
//! the rules or lists (nothing it was doing is switched off). Costs two comparisons.

use std::fmt;

/// What a ruleset protects with, as far as the guard counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Rules loaded.
    pub rules: usize,
    /// Domain-list entries loaded.
    pub list_entries: usize,
}

/// What is configured to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Configured {
    /// Rule paths in `detect.rules`.
    pub rule_paths: usize,
    /// Lists in `[lists]`.
    pub lists: usize,
}

/// Why a ruleset is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Rule paths are configured and no rule loaded from them.
    NoRules {
        /// How many paths are configured.
        paths: usize,
    },
    /// Lists are configured and none of them has an entry.
    NoListEntries {
        /// How many lists are configured.
        lists: usize,
    },
    /// Publishing would drop more than the allowed share of what runs now.
    Loss {
        /// `rules` or `list entries`.
        what: &'static str,
        /// How many run now.
        running: usize,
        /// How many the new ruleset has.
        new: usize,
        /// The largest share that may go (`control.reload_max_loss`).
        max_loss: f64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoRules { paths } => write!(
                f,
                "no rule loaded from the {paths} configured detect.rules path(s) (an empty \
                 or truncated file?)"
            ),
            Refusal::NoListEntries { lists } => write!(
                f,
                "no entry loaded from the {lists} configured list(s) (an empty or truncated \
                 file?)"
            ),
            Refusal::Loss {
                what,
                running,
                new,
                max_loss,
            } => write!(
                f,
                "it has {new} {what} where {running} run now, a loss of {:.1}% (more than \
                 control.reload_max_loss = {:.1}%; a half-written file?)",
                100.0 * (running - new) as f64 / *running as f64,
                100.0 * max_loss
            ),
        }
    }
}

/// Checks `new` against what is configured and against `running` (`None` at start).
/// `max_loss` is the share (0 to 1) of the running rules, and separately of the running
/// list entries, that a reload may drop.
pub fn check(
    configured: Configured,
    running: Option<Coverage>,
    new: Coverage,
    max_loss: f64,
) -> Result<(), Refusal> {
    if configured.rule_paths > 0 && new.rules == 0 {
        return Err(Refusal::NoRules {
            paths: configured.rule_paths,
        });
    }
    if configured.lists > 0 && new.list_entries == 0 {
        return Err(Refusal::NoListEntries {
            lists: configured.lists,
        });
    }
    let Some(running) = running else {
        return Ok(());
    };
    for (what, running, new) in [
        ("rules", running.rules, new.rules),
        ("list entries", running.list_entries, new.list_entries),
    ] {
        if new < running && (running - new) as f64 > max_loss * running as f64 {
            return Err(Refusal::Loss {
                what,
                running,
                new,
                max_loss,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Configured = Configured {
        rule_paths: 1,
        lists: 1,
    };

    fn cov(rules: usize, list_entries: usize) -> Coverage {
        Coverage {
            rules,
            list_entries,
        }
    }

    #[test]
    fn an_empty_ruleset_is_refused_where_rules_or_lists_are_configured() {
        assert_eq!(
            check(BOTH, None, cov(0, 5), 0.2),
            Err(Refusal::NoRules { paths: 1 })
        );
        assert_eq!(
            check(BOTH, Some(cov(10, 5)), cov(10, 0), 1.0),
            Err(Refusal::NoListEntries { lists: 1 })
        );
        let lists_only = Configured {
            rule_paths: 0,
            lists: 2,
        };
        assert_eq!(check(lists_only, None, cov(0, 3), 0.2), Ok(()));
        assert_eq!(check(Configured::default(), None, cov(0, 0), 0.2), Ok(()));
    }

    #[test]
    fn losing_more_than_the_allowed_share_is_refused() {
        let running = Some(cov(1000, 100));
        assert_eq!(check(BOTH, running, cov(800, 100), 0.2), Ok(()));
        let refused = check(BOTH, running, cov(799, 100), 0.2).unwrap_err();
        assert!(matches!(
            refused,
            Refusal::Loss {
                what: "rules",
                running: 1000,
                new: 799,
                ..
            }
        ));
        assert!(refused.to_string().contains("a loss of 20.1%"), "{refused}");
        assert!(matches!(
            check(BOTH, running, cov(1000, 10), 0.5),
            Err(Refusal::Loss {
                what: "list entries",
                ..
            })
        ));
        // Growing, or a share of 1, never refuses (short of nothing at all).
        assert_eq!(check(BOTH, running, cov(5000, 900), 0.0), Ok(()));
        assert_eq!(check(BOTH, running, cov(1, 1), 1.0), Ok(()));
    }
}
