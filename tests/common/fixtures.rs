//! OKR files the integration tests share, named by what they exercise.

/// One objective with one KR on a manual metric (daemon, hooks).
pub const ONE_KR: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Grow x
    key_results:
      - kr_id: KR-1.1
        metric_key: manual.x
        baseline: 0
        target: 100
        status: not_started
";

/// One CI KR owned by a team (runs: the agent acts as its owner).
pub const ONE_OWNED_KR: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Ship it
    owner_id: team-backend
    key_results:
      - kr_id: KR-1.1
        description: Complete 100 unit tests
        metric_key: ci.test_count
        baseline: 0
        target: 100
        status: not_started
        owner_id: team-backend
";

/// An increasing KR on CI, a decreasing KR on a manual metric, and a KR a person
/// blocked (measure: status rules both ways, `blocked` never touched).
pub const THREE_KRS_ONE_BLOCKED: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Ship production-ready feature
    key_results:
      - kr_id: KR-1.1
        description: Complete 100 unit tests
        metric_key: ci.test_count
        baseline: 0
        target: 100
        status: not_started
      - kr_id: KR-1.2
        description: p95 latency in ms
        metric_key: manual.latency_ms
        baseline: 300
        target: 200
        status: not_started
      - kr_id: KR-1.3
        description: blocked by a vendor
        metric_key: manual.vendor
        baseline: 0
        target: 10
        status: blocked
";

/// Two objectives owned by two teams, one KR achieved, one without a status
/// (plans: selection by KR/objective, owners, evidence).
pub const TWO_TEAMS: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Ship production-ready feature
    owner_id: team-backend
    key_results:
      - kr_id: KR-1.1
        description: Complete 100 unit tests
        metric_key: ci.test_count
        baseline: 0
        target: 100
        status: not_started
        owner_id: team-backend
        evidence: [\"ci run 41\"]
      - kr_id: KR-1.2
        description: p95 latency in ms
        metric_key: manual.latency_ms
        baseline: 300
        target: 200
        status: not_started
        owner_id: team-backend
  - objective_id: OBJ-2
    objective: Docs
    owner_id: team-web
    key_results:
      - kr_id: KR-2.1
        description: Pages of docs
        metric_key: manual.docs_pages
        baseline: 0
        target: 4
        status: achieved
        owner_id: team-web
      - kr_id: KR-2.2
        description: Tutorials
        metric_key: manual.tutorials
        baseline: 0
        target: 3
        owner_id: team-web
";

/// A due date and an objective title with HTML metacharacters, three KRs (report).
pub const DUE_DATE_AND_MARKUP: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Faster & better <releases>
    due: 2026-03-01
    key_results:
      - kr_id: KR-1.1
        description: Complete 100 unit tests
        metric_key: ci.test_count
        baseline: 0
        target: 100
        status: in_progress
      - kr_id: KR-1.2
        description: p95 latency in ms
        metric_key: manual.latency_ms
        baseline: 300
        target: 200
        status: in_progress
  - objective_id: OBJ-2
    objective: Docs
    key_results:
      - kr_id: KR-2.1
        description: pages written
        metric_key: manual.docs_pages
        baseline: 0
        target: 10
        status: not_started
";

/// A committed objective in cycle 2026-Q4 with an increasing CI KR and a decreasing
/// manual KR, an aspirational objective in the same cycle, and fields git-okr does not
/// know (cycles: check-ins, grading, carry-over keeping every field).
pub const CYCLE_Q4: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Ship production-ready feature
    owner_id: team-backend
    cycle: 2026-Q4
    type: committed
    due: 2026-12-31
    notes: kept across cycles
    key_results:
      - kr_id: KR-1.1
        description: Complete 100 unit tests
        metric_key: ci.test_count
        baseline: 0
        target: 100
        status: not_started
        owner_id: alice
        weight: 2
        unit: tests
        custom_field: {team: core, tags: [a, b]}
      - kr_id: KR-1.2
        description: p95 latency in ms
        metric_key: manual.latency_ms
        baseline: 300
        target: 200
        status: not_started
  - objective_id: OBJ-2
    objective: Delight users
    cycle: 2026-Q4
    key_results:
      - kr_id: KR-2.1
        description: NPS
        metric_key: manual.nps
        baseline: 10
        target: 50
        status: not_started
";
/// Two objectives due 2026-03-01: KR-A.1 moving too slowly for its target, KR-A.2 on
/// pace, and OBJ-B's KR already achieved (the loop: likely to miss, plan selection).
pub const TWO_PACES: &str = "scope: org
objectives:
  - objective_id: OBJ-A
    objective: Ship the importer
    due: 2026-03-01
    owner_id: team-a
    key_results:
      - kr_id: KR-A.1
        description: Importer coverage
        metric_key: manual.coverage
        baseline: 0
        target: 100
        status: in_progress
        owner_id: team-a
      - kr_id: KR-A.2
        description: Importer speed
        metric_key: manual.speed
        baseline: 0
        target: 100
        status: in_progress
        owner_id: team-a
  - objective_id: OBJ-B
    objective: Docs
    due: 2026-03-01
    key_results:
      - kr_id: KR-B.1
        description: Pages of docs
        metric_key: manual.pages
        baseline: 0
        target: 4
        status: achieved
";

/// Snapshots for [`TWO_PACES`] ten days apart: coverage 10 -> 12 (misses 100 by
/// March), speed 10 -> 60 (reaches it).
pub const TWO_PACES_SNAPSHOTS: [(&str, &str); 2] = [
    (
        "metrics/snapshots/2026-01-01.json",
        r#"{"schema_version":1,"as_of":"2026-01-01","measured_at":"2026-01-01T12:00:00Z","points":[{"key":"manual.coverage","value":10,"timestamp":"2026-01-01T12:00:00Z","source":"manual"},{"key":"manual.speed","value":10,"timestamp":"2026-01-01T12:00:00Z","source":"manual"}],"key_results":[]}"#,
    ),
    (
        "metrics/snapshots/2026-01-11.json",
        r#"{"schema_version":1,"as_of":"2026-01-11","measured_at":"2026-01-11T12:00:00Z","points":[{"key":"manual.coverage","value":12,"timestamp":"2026-01-11T12:00:00Z","source":"manual"},{"key":"manual.speed","value":60,"timestamp":"2026-01-11T12:00:00Z","source":"manual"}],"key_results":[]}"#,
    ),
];
