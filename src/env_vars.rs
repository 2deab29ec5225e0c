//! Names of the environment variables git-okr sets on its own child processes, in one
//! neutral place so the modules that set them and the ones that read them need not import
//! each other.

/// Set while one of our hooks runs, and on every `git` that git-okr itself runs for
/// transport: a hook that sees it does not measure again (no recursion).
pub const HOOK_GUARD: &str = "GIT_OKR_HOOK";

/// Set on the jobs the daemon runs: the daemon shows and logs their notices itself (as
/// `okr.daemon.notify` says), so a job must not show the same notice a second time.
pub const DAEMON_JOB: &str = "GIT_OKR_DAEMON_JOB";

/// On the jobs the daemon runs: why the job runs (`cron 0 2 * * *`, `event metrics_recorded
/// refs/okr/state 1a2b3c4..5d6e7f8`), recorded as the commit's `Okr-Trigger` trailer.
pub const DAEMON_TRIGGER: &str = "GIT_OKR_DAEMON_TRIGGER";

/// On the jobs the daemon runs: the clone's identity, recorded as `Okr-Clone`.
pub const DAEMON_CLONE: &str = "GIT_OKR_DAEMON_CLONE";
