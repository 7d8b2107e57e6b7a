//! The OCI/Docker registry client of pocky.
//!
//! [`Reference::parse`] normalises names the way Docker does
//! (`busybox` is `docker.io/library/busybox:latest`). A [`Client`] resolves a
//! reference for a [`Platform`] into a verified manifest and image config
//! ([`Client::resolve`]) and streams layers through a [`BlobReader`] that
//! checks size and digest as it reads and resumes broken downloads.
//!
//! Registries are treated as hostile: every manifest fetched by digest must
//! hash to it, media types must agree with Content-Type, sizes are capped,
//! credentials never follow a redirect to another origin, and HTTPS is used
//! unless the registry is on loopback (plain HTTP, no TLS probe) or the
//! client is `insecure`.
//!
//! Pushing ([`Client::blob_exists`], [`Client::mount_blob`],
//! [`Client::push_blob`], [`Client::put_manifest`]) asks for the scope
//! `repository:<name>:pull,push`; a mount adds `repository:<from>:pull`.
//! Pulls ask for `repository:<name>:pull`. Tokens are cached per registry
//! and scope, and an upload's Location on another origin gets no credentials.
//!
//! Credentials come from the Docker config as docker finds them:
//! `credHelpers`, then `credsStore` (the `docker-credential-<name>` helper
//! protocol), then `auths`. [`DockerConfig::store_login`] and
//! [`DockerConfig::remove_login`] write them back; [`Client::check_login`]
//! checks a login against the registry.

mod auth;
mod blob;
mod challenge;
mod client;
mod credhelper;
mod digest;
mod error;
mod manifest;
mod platform;
mod push;
mod reference;
mod tags;
mod transport;
mod url;

pub use auth::{Credentials, DockerConfig, HUB_SERVER_URL, registry_of_server};
pub use blob::BlobReader;
pub use client::{Client, ClientOptions, LayerDescriptor, Resolved};
pub use digest::{Algorithm, Digest};
pub use error::RegistryError;
pub use manifest::{
    DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
pub use platform::Platform;
pub use push::OpenBlob;
pub use reference::{DOCKER_HUB, Reference};
pub use url::PLAIN_HTTP_CIDRS;

#[cfg(test)]
mod assert_traits {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn client_is_shareable_and_reader_is_send() {
        send_sync::<super::Client>();
        send::<super::BlobReader>();
    }
}
