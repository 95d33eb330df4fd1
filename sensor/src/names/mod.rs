//! Domain names: [`suffix_set`] (exact names and label-aligned suffixes in one lookup) and
//! [`domain_lists`] (plain, hosts, AdBlock and RPZ files loaded into those sets). Uses
//! nothing else of the sensor's.

pub mod domain_lists;
pub mod suffix_set;
