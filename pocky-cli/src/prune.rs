//! `pocky system prune`: the engine's prune, printed as Docker prints it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::store::Store;

use crate::cli::{ContainerPruneArgs, PruneArgs};
use crate::format;

pub fn prune(root: &Path, args: &PruneArgs) -> Result<ExitCode> {
    let _ = args.force; // pocky never asks
    let store = Store::open(root)?;
    let report = pocky_engine::prune::prune_with(
        &store,
        &pocky_engine::prune::SystemPrune {
            volumes: args.volumes,
            all_images: args.all,
            filters: args.filter.clone(),
        },
    )?;
    if !report.containers.is_empty() {
        println!("Deleted Containers:");
        for id in &report.containers {
            println!("{id}");
        }
        println!();
    }
    if !report.networks.is_empty() {
        println!("Deleted Networks:");
        for name in &report.networks {
            println!("{name}");
        }
        println!();
    }
    if !report.images.is_empty() || !report.removed_images.is_empty() {
        println!("Deleted Images:");
        for r in &report.removed_images {
            match r {
                pocky_engine::images::Removal::Untagged(t) => println!("untagged: {t}"),
                pocky_engine::images::Removal::Deleted(d) => println!("deleted: {d}"),
            }
        }
        for id in &report.images {
            println!("deleted: {id}");
        }
        println!();
    }
    if report.build_cache > 0 {
        println!("Deleted build cache objects: {}\n", report.build_cache);
    }
    if !report.volumes.is_empty() {
        println!("Deleted Volumes:");
        for name in &report.volumes {
            println!("{name}");
        }
        println!();
    }
    if !report.layers.is_empty() {
        println!("Deleted Layers:");
        for id in &report.layers {
            println!("deleted: {id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", format::size(report.reclaimed));
    Ok(ExitCode::SUCCESS)
}

/// `pocky container prune`: the stopped containers only.
pub fn prune_containers(root: &Path, args: &ContainerPruneArgs) -> Result<ExitCode> {
    let _ = args.force; // pocky never asks
    let store = Store::open(root)?;
    let report = pocky_engine::prune::prune_containers(&store, &args.filter)?;
    if !report.containers.is_empty() {
        println!("Deleted Containers:");
        for id in &report.containers {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", format::size(report.reclaimed));
    Ok(ExitCode::SUCCESS)
}
