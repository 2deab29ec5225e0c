//! `okrs/permissions.yml`: which agent may propose changes for which owner.
//!
//! Two forms are accepted. The README form:
//! `default_policy: deny|allow` + `permissions: [{agent, can_propose_for: [{owner}]}]`.
//! The form OKRchestra's code reads (real workspaces carry it):
//! `permissions: {read: [all], write: [owner_id_match, delegated_explicitly]}` +
//! `delegations: {<owner_id>: [<agent>…]}`.
//! `approvers` (people's emails or names) may approve; empty means any person.

use super::ids::{check_id, check_line};
use super::{at, line_of};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    #[default]
    Deny,
    Allow,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentRule {
    pub agent: String,
    #[serde(default)]
    pub can_propose_for: Vec<OwnerRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OwnerRef {
    pub owner: String,
}

/// The `write` modes of OKRchestra's code form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    OwnerIdMatch,
    DelegatedExplicitly,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Modes {
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<WriteMode>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Permissions {
    pub default_policy: Policy,
    pub rules: Vec<AgentRule>,
    pub modes: Option<Modes>,
    pub delegations: BTreeMap<String, Vec<String>>,
    pub approvers: Vec<String>,
}

#[derive(Deserialize)]
struct ListForm {
    #[serde(default)]
    default_policy: Policy,
    #[serde(default)]
    permissions: Vec<AgentRule>,
    #[serde(default)]
    delegations: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    approvers: Vec<String>,
}

#[derive(Deserialize)]
struct ModeForm {
    #[serde(default)]
    default_policy: Policy,
    permissions: Modes,
    #[serde(default)]
    delegations: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    approvers: Vec<String>,
}

/// Why an agent may or may not propose for an owner: the rule that decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub rule: String,
}

/// An owner in a rule: an id, or `*` for every owner.
fn check_owner(owner: &str) -> std::result::Result<(), String> {
    if owner == "*" {
        return Ok(());
    }
    check_id(owner)
}

impl Permissions {
    pub fn parse(path: &str, text: &str) -> Result<Permissions> {
        if text.trim().is_empty() {
            return Ok(Permissions::default());
        }
        let value: serde_yaml::Value = super::parse_yaml(path, text)?;
        if !value.is_mapping() {
            bail!("{path}:1: expected a mapping with default_policy and permissions");
        }
        // Parse the chosen form from the text (not the Value) so errors keep their line numbers.
        let perms = if value.get("permissions").is_some_and(|p| p.is_mapping()) {
            let f: ModeForm = super::parse_yaml(path, text)?;
            Permissions {
                default_policy: f.default_policy,
                rules: Vec::new(),
                modes: Some(f.permissions),
                delegations: f.delegations,
                approvers: f.approvers,
            }
        } else {
            let f: ListForm = super::parse_yaml(path, text)?;
            Permissions {
                default_policy: f.default_policy,
                rules: f.permissions,
                modes: None,
                delegations: f.delegations,
                approvers: f.approvers,
            }
        };
        for (i, rule) in perms.rules.iter().enumerate() {
            if rule.agent.trim().is_empty() {
                bail!(
                    "{}: permissions[{i}].agent is empty",
                    at(path, line_of(text, "agent", "", 0))
                );
            }
            check_id(&rule.agent).map_err(|e| {
                anyhow!(
                    "{}: permissions[{i}].agent {e}",
                    at(path, super::line_of_key(text, "agent", i))
                )
            })?;
            for owner in &rule.can_propose_for {
                check_owner(&owner.owner).map_err(|e| {
                    anyhow!(
                        "{}: permissions[{i}].can_propose_for owner {e}",
                        at(path, line_of(text, "owner", &owner.owner, 0))
                    )
                })?;
            }
        }
        for (owner, agents) in &perms.delegations {
            check_owner(owner).map_err(|e| anyhow!("{path}: delegations key {e}"))?;
            for agent in agents {
                check_id(agent).map_err(|e| anyhow!("{path}: delegations.{owner} agent {e}"))?;
            }
        }
        for (i, approver) in perms.approvers.iter().enumerate() {
            if approver.trim().is_empty() {
                bail!("{path}: approvers[{i}] is empty");
            }
            check_line(approver).map_err(|e| anyhow!("{path}: approvers[{i}] {e}"))?;
        }
        Ok(perms)
    }

    /// May `agent` propose changes to an objective or KR owned by `owner`?
    pub fn may_propose(&self, agent: &str, owner: Option<&str>) -> Decision {
        let owner_name = owner.unwrap_or("");
        for rule in self.rules.iter().filter(|r| r.agent == agent) {
            if rule
                .can_propose_for
                .iter()
                .any(|o| o.owner == owner_name || o.owner == "*")
            {
                return Decision {
                    allowed: true,
                    rule: format!("permissions: agent {agent} can_propose_for owner {owner_name}"),
                };
            }
        }
        if let Some(modes) = &self.modes {
            if modes.write.contains(&WriteMode::OwnerIdMatch) && owner == Some(agent) {
                return Decision {
                    allowed: true,
                    rule: "permissions.write: owner_id_match".into(),
                };
            }
            if modes.write.contains(&WriteMode::DelegatedExplicitly)
                && self
                    .delegations
                    .get(owner_name)
                    .is_some_and(|agents| agents.iter().any(|a| a == agent))
            {
                return Decision {
                    allowed: true,
                    rule: format!(
                        "permissions.write: delegated_explicitly (delegations.{owner_name})"
                    ),
                };
            }
        } else if self
            .delegations
            .get(owner_name)
            .is_some_and(|agents| agents.iter().any(|a| a == agent))
        {
            return Decision {
                allowed: true,
                rule: format!("delegations.{owner_name}"),
            };
        }
        let known = self.rules.iter().any(|r| r.agent == agent);
        match self.default_policy {
            Policy::Allow if !known => Decision {
                allowed: true,
                rule: "default_policy: allow".into(),
            },
            Policy::Allow => Decision {
                allowed: false,
                rule: format!(
                    "permissions: agent {agent} is listed but not for owner {owner_name}"
                ),
            },
            Policy::Deny => Decision {
                allowed: false,
                rule: "default_policy: deny".into(),
            },
        }
    }

    /// May this person approve proposals? Empty `approvers` means any person may.
    pub fn may_approve(&self, name: &str, email: &str) -> bool {
        self.approvers.is_empty() || self.approvers.iter().any(|a| a == name || a == email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_form() {
        let p = Permissions::parse(
            "okrs/permissions.yml",
            "default_policy: deny\npermissions:\n  - agent: team-backend\n    can_propose_for:\n      - owner: team-backend\n",
        )
        .unwrap();
        assert!(p.may_propose("team-backend", Some("team-backend")).allowed);
        let no = p.may_propose("team-backend", Some("team-web"));
        assert!(!no.allowed);
        assert_eq!(no.rule, "default_policy: deny");
        assert!(!p.may_propose("stranger", Some("team-backend")).allowed);
    }

    #[test]
    fn allow_policy_covers_unknown_agents_only() {
        let p = Permissions::parse(
            "p",
            "default_policy: allow\npermissions:\n  - agent: a\n    can_propose_for:\n      - owner: x\n",
        )
        .unwrap();
        assert!(p.may_propose("stranger", Some("x")).allowed);
        assert!(!p.may_propose("a", Some("y")).allowed);
    }

    #[test]
    fn code_form() {
        let p = Permissions::parse(
            "p",
            "permissions:\n  read: [all]\n  write: [owner_id_match, delegated_explicitly]\ndelegations:\n  alice: [codex]\n",
        )
        .unwrap();
        assert!(p.may_propose("alice", Some("alice")).allowed);
        assert!(p.may_propose("codex", Some("alice")).allowed);
        assert!(!p.may_propose("codex", Some("bob")).allowed);
    }

    #[test]
    fn malformed_files_are_located() {
        let err = Permissions::parse("okrs/permissions.yml", "default_policy: maybe\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("okrs/permissions.yml:1:"), "{err}");
        let err = Permissions::parse(
            "okrs/permissions.yml",
            "permissions:\n  write: [everything]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("okrs/permissions.yml:2:"), "{err}");
    }
}
