//! `pocky pull`: the engine's pull pipeline with Docker's output.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::pull::pull;
use pocky_engine::store::Store;
use pocky_registry::{Client, ClientOptions, Platform, Reference};

use crate::cli::PullArgs;
use crate::progress::Progress;

pub fn run(root: &Path, args: &PullArgs) -> Result<ExitCode> {
    if args.disable_content_trust == Some(false) {
        anyhow::bail!(
            "--disable-content-trust=false is not supported: pocky verifies no image signatures"
        );
    }
    let reference = match &args.tag {
        Some(tag) => Reference::with_tag(&args.image, tag)?,
        None => Reference::parse(&args.image)?,
    };
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let client = Client::new(ClientOptions {
        insecure: !args.tls_verify,
        ..ClientOptions::default()
    })?;
    let store = Store::open(root)?;
    let progress = Progress::new(args.quiet);
    if args.all_tags {
        return all_tags(
            &store, &client, &reference, &platform, &progress, args.quiet,
        );
    }
    let outcome = pull(&store, &client, &reference, &platform, &progress)?;
    if args.quiet {
        println!("{reference}");
    } else {
        println!("Digest: {}", outcome.manifest_digest);
        let status = if outcome.downloaded {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        println!("Status: {status} {reference}");
        println!("{reference}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `pull -a`: Docker's output, each tag's digest, then one status for the
/// repository and its name.
fn all_tags(
    store: &Store,
    client: &Client,
    repository: &Reference,
    platform: &Platform,
    progress: &Progress,
    quiet: bool,
) -> Result<ExitCode> {
    let pulled = pocky_engine::pull::pull_all_tags(
        store,
        client,
        repository,
        platform,
        progress,
        &mut |_, outcome| {
            if !quiet {
                println!("Digest: {}", outcome.manifest_digest);
            }
        },
    )?;
    let name = format!("{}/{}", repository.registry, repository.repository);
    if !quiet {
        let status = match pulled.iter().any(|(_, o)| o.downloaded) {
            true => "Downloaded newer image for",
            false => "Image is up to date for",
        };
        println!("Status: {status} {name}");
    }
    println!("{name}");
    Ok(ExitCode::SUCCESS)
}
