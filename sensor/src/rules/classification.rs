//! `classification.config`: classtype name to description and priority (severity).

use std::collections::HashMap;

/// Class types by name.
#[derive(Debug, Clone, Default)]
pub struct Classifications {
    by_name: HashMap<String, (String, u8)>,
}

/// The shipped `rules/classification.config`, compiled in so a sensor without it still
/// reports categories and severities.
pub const SHIPPED: &str = include_str!("../../../rules/classification.config");

impl Classifications {
    /// Parses `config classification: name,description,priority` lines; other lines are
    /// ignored.
    pub fn parse(text: &str) -> Self {
        let mut by_name = HashMap::new();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("config classification:") else {
                continue;
            };
            let mut parts = rest.splitn(3, ',').map(str::trim);
            if let (Some(name), Some(desc), Some(prio)) = (parts.next(), parts.next(), parts.next())
            {
                if let Ok(p) = prio.parse() {
                    by_name.insert(name.to_owned(), (desc.to_owned(), p));
                }
            }
        }
        Classifications { by_name }
    }

    /// The shipped table.
    pub fn shipped() -> Self {
        Self::parse(SHIPPED)
    }

    /// Description and priority of a classtype.
    pub fn get(&self, name: &str) -> Option<(&str, u8)> {
        self.by_name.get(name).map(|(d, p)| (d.as_str(), *p))
    }
}
