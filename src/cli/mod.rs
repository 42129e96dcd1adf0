//! The commands of the `rekindle` binary, one file each; `main.rs` only parses and dispatches.
//! Each command gets a `Ctx` (the configuration, the store, the business's time zone) and
//! returns its exit code; errors go back to `main`, which prints them once.

pub mod args;
mod customers;
mod demo;
mod evaluate;
mod generate;
mod health;
mod import;
pub mod messages;
mod offers;
pub mod output;
mod render;
mod report;
mod rules;
mod run_once;
mod store_copy;
mod suppressions;
mod unsubscribe;
mod users;
pub mod when;

use std::process::ExitCode;

use anyhow::Context;
use args::{Cli, Command, ExportCommand, MessagesCommand, OffersCommand, RulesCommand, StoreCommand};
use rekindle::config::Config;
use rekindle::store::Store;
use when::When;

use crate::out;

/// Exit code when an import finished but rejected some rows (fatal errors exit 1, usage 2).
pub const EXIT_ROWS_REJECTED: u8 = 3;

/// What every command that works on a store is given.
pub struct Ctx {
    pub config: Config,
    pub store: Store,
}

impl Ctx {
    /// An instant option: a date is midnight in the business's zone; none means now.
    pub fn at(&self, when: Option<When>) -> anyhow::Result<i64> {
        when.map_or_else(|| Ok(now()), |w| w.resolve(self.config.default_timezone.tz()))
    }

    /// An optional instant option that stays optional.
    pub fn maybe(&self, when: Option<When>) -> anyhow::Result<Option<i64>> {
        when.map(|w| w.resolve(self.config.default_timezone.tz()))
            .transpose()
    }
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Commands that need no configuration.
    match &cli.command {
        Command::Demo { dir } => return demo::run(dir).await,
        Command::Generate {
            customers,
            seed,
            until,
            out,
        } => return generate::run(*customers, *seed, *until, out),
        _ => {}
    }
    // Adding a user edits the file itself, and works before there is one.
    if let Command::Users(args::UsersCommand::Add { name }) = &cli.command {
        return users::add(cli.config.as_deref(), name);
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Rules(RulesCommand::Check { dir }) = &cli.command {
        return rules::check(&config, dir.as_deref());
    }
    // Sending email without a way to unsubscribe is refused before anything else happens.
    if matches!(cli.command, Command::Serve | Command::Run { .. }) {
        rekindle::delivery::email::Unsubscribe::from_config(
            &config.email,
            &config.secrets,
            config.public_url.as_deref(),
        )?;
        // So is an own email layout that cannot be rendered: found before anything is decided.
        rekindle::compose::Branding::from_config(&config).context("email.style.layout")?;
    }
    // A rule problem is said before anything touches the store.
    let rules = match cli.command {
        Command::Rules(RulesCommand::Preview { .. } | RulesCommand::Simulate { .. })
        | Command::Evaluate { .. }
        | Command::Render { .. }
        | Command::Run { .. } => Some(rules::load(
            &config.rules_dir,
            &config.history.favourite_properties,
        )?),
        _ => None,
    };
    // Commands that only read never create a database; the others create or upgrade it.
    let read_only = matches!(
        cli.command,
        Command::Report { .. }
            | Command::Customers(_)
            | Command::Rules(RulesCommand::Preview { .. } | RulesCommand::Simulate { .. })
            | Command::Render { .. }
            | Command::Messages(MessagesCommand::List { .. })
            | Command::Offers(OffersCommand::Show { .. })
    );
    let store = if read_only {
        Store::open_existing(&config.database).await?
    } else {
        Store::open(&config.database).await.context("opening the store")?
    };
    let ctx = Ctx { config, store };
    let rules = || rules.expect("loaded above for this command");
    let code = match cli.command {
        Command::Rules(RulesCommand::Preview { rule_ids, at, format }) => {
            rules::preview(&ctx, &rules(), &rule_ids, at, format).await?
        }
        Command::Rules(RulesCommand::Simulate {
            rule_ids,
            from,
            days,
            format,
            output,
        }) => rules::simulate(&ctx, &rules(), &rule_ids, from, days, format, output.as_deref()).await?,
        Command::Serve => {
            let metrics = rekindle::metrics::install().context("installing the metrics recorder")?;
            rekindle::serve::serve(ctx.store.clone(), ctx.config.clone(), Some(metrics)).await?;
            ExitCode::SUCCESS
        }
        Command::Run { once, at, full } => run_once::run(&ctx, &rules(), once, at, full).await?,
        Command::Report {
            since,
            until,
            rule,
            format,
            output,
            coming_days,
        } => report::run(&ctx, since, until, rule, format, output.as_deref(), coming_days).await?,
        Command::Evaluate { at, full } => evaluate::run(&ctx, &rules(), at, full).await?,
        Command::Migrate => {
            out!("database schema is up to date ({})", ctx.store.backend());
            ExitCode::SUCCESS
        }
        Command::Import(what) => import::run(&ctx, what).await?,
        Command::Export(ExportCommand::Suppressions { file }) => {
            suppressions::export(&ctx.store, &file).await?;
            ExitCode::SUCCESS
        }
        Command::Store(StoreCommand::Copy { to, force }) => {
            store_copy::copy(&ctx.store, &ctx.config.database, &to, force).await?;
            ExitCode::SUCCESS
        }
        Command::Customers(args::CustomersCommand::Show { id, at, format }) => {
            customers::show(&ctx, &id, at, format).await?
        }
        Command::Health(args::HealthCommand::Recompute { at }) => health::recompute(&ctx, at).await?,
        Command::Messages(MessagesCommand::List {
            select,
            limit,
            format,
        }) => messages::list(&ctx, &select, limit, format).await?,
        Command::Messages(MessagesCommand::Retry { ids, select }) => {
            messages::retry(&ctx, &ids, &select).await?
        }
        Command::Offers(OffersCommand::Show { code, format }) => offers::show(&ctx, &code, format).await?,
        Command::Offers(OffersCommand::Redeem { code, at, amount }) => {
            offers::redeem(&ctx, &code, at, amount).await?
        }
        Command::Render {
            rule_id,
            customer_id,
            at,
            output,
        } => render::run(&ctx, &rules(), &rule_id, &customer_id, at, output.as_deref()).await?,
        Command::Unsubscribe { token } => {
            unsubscribe::apply(&ctx.store, &ctx.config.secrets, &token, now()).await?;
            ExitCode::SUCCESS
        }
        Command::Rules(RulesCommand::Check { .. })
        | Command::Demo { .. }
        | Command::Generate { .. }
        | Command::Users(_) => {
            unreachable!("handled before the store is opened")
        }
    };
    // A pool closes once its statements are done; one still running for a tick that a stop
    // abandoned (waiting on a lock, say) would hold the exit. The database finishes or drops
    // it on its own, each statement being whole.
    if tokio::time::timeout(std::time::Duration::from_secs(5), ctx.store.close())
        .await
        .is_err()
    {
        tracing::warn!("a statement was still running at exit; left to the database");
    }
    Ok(code)
}
