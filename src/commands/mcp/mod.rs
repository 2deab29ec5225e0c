//! `git okr mcp`: an MCP server on stdio for coding agents. It acts as one agent (never
//! as a person) and offers what the CLI offers an agent: reading the OKRs and proposing
//! changes under the same permissions. There is no tool to approve, reject or apply.

mod server;
mod types;

use crate::ctx::{Actor, Ctx};
use anyhow::{bail, Result};
use rmcp::ServiceExt;

pub fn run(ctx: &Ctx) -> Result<()> {
    let agent = match &ctx.actor {
        Actor::Agent(agent) => agent.clone(),
        Actor::Person { email, .. } => bail!(
            "git okr mcp serves agents only: start it with --agent NAME or OKR_AGENT=NAME \
             (it would otherwise act as {email}, and agents must not act as people)"
        ),
        Actor::Daemon { .. } => {
            bail!("git okr mcp serves agents only: start it with --agent NAME or OKR_AGENT=NAME")
        }
    };
    let dir = ctx.store.git_cwd();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let service = server::OkrServer::new(dir, agent)
            .serve(rmcp::transport::stdio())
            .await?;
        service.waiting().await?;
        Ok(())
    })
}
