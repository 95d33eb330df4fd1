//! The commands' wiring, above every stage: `check-rules`, `check-lists` and `replay`
//! prepare what `run` gets.

pub mod check_lists;
pub mod check_rules;
pub mod configured_policy;
pub mod replay;
pub mod run;
pub mod stdout;
