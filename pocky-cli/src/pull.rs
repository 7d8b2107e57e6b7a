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
