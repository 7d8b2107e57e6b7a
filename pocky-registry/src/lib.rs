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
//! client is `insecure`. Credentials come from the `auths` of the Docker
//! config; credential helpers are not supported. Bearer tokens are requested
//! for the scope `repository:<name>:pull` and cached per registry and scope.

mod auth;
mod blob;
mod client;
mod digest;
mod error;
mod manifest;
mod platform;
mod reference;
mod transport;
mod url;

pub use auth::{Credentials, DockerConfig};
pub use blob::BlobReader;
pub use client::{Client, ClientOptions, LayerDescriptor, Resolved};
pub use digest::{Algorithm, Digest};
pub use error::RegistryError;
pub use manifest::{
    DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
pub use platform::Platform;
pub use reference::{DOCKER_HUB, Reference};

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
