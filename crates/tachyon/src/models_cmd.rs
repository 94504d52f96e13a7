//! `tachyon models`: the model registry (add, list, promote, roll back).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use tachyon_live::Registry;

/// Options of `tachyon models`.
#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// The registry folder (created if missing).
    #[arg(long, value_name = "DIR", global = true, default_value = "tachyon-registry")]
    pub registry: PathBuf,
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// List the models, the live one marked `*`, and the promotions.
    List,
    /// Add a model file (checked against the served features and compiled first); prints its id.
    Add {
        /// The model file.
        file: PathBuf,
    },
    /// Make a model live (a running `tachyon run --registry` picks it up within a millisecond).
    Promote {
        /// The model's id.
        id: u32,
    },
    /// Undo the last promotion: the model live before it is live again.
    Rollback,
}

/// Runs `tachyon models`.
pub fn run(args: &ModelsArgs) -> Result<()> {
    let registry = Registry::open(&args.registry)?;
    match &args.action {
        Action::List => {
            let live = registry.current()?.map(|p| p.id);
            for id in registry.ids()? {
                let mark = if Some(id) == live { "*" } else { " " };
                println!("{mark} {id:>6}  {}", registry.model_path(id).display());
            }
            for p in registry.promotions()? {
                println!("promoted {} at {} ns (Unix)", p.id, p.unix_ns);
            }
        }
        Action::Add { file } => println!("{}", registry.add(file)?),
        Action::Promote { id } => {
            registry.promote(*id)?;
            println!("model {id} is live");
        }
        Action::Rollback => println!("model {} is live", registry.rollback()?.id),
    }
    Ok(())
}
