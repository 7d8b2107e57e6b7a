//! The engine's one error type. Front ends branch on the kind, not on the
//! text: the CLI prints the message and exits 125, the API service answers
//! with the status code Docker gives for it (404, 409, 400, 500).

use pocky_store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("no such image: {0}")]
    NoSuchImage(String),
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// Another object missing, or one of the above under added context.
    #[error("{0}")]
    NotFound(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    /// The operation does not fit the object's state or collides with
    /// another object (a name in use, an image a container uses).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong: a bad flag value, filter, name.
    #[error("{0}")]
    Invalid(String),
    /// Something the object's configuration cannot do, as Docker's 501
    /// (`logs` of a container with the none log driver).
    #[error("{0}")]
    NotImplemented(String),
    /// A record that cannot be read: `rm -f`/`rmi` still remove it.
    #[error("container {id} has an unreadable record ({reason})")]
    BrokenContainer { id: String, reason: String },
    #[error("image {id} has an unreadable record ({reason})")]
    BrokenImage { id: String, reason: String },
    /// A build's RUN exited non-zero: the build failed, pocky did not.
    #[error("{message}")]
    BuildStep { message: String, code: i32 },
    /// Something failed underneath: the kernel, the disk, a registry.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// What kind of failure, for a front end's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    Conflict,
    Invalid,
    NotImplemented,
    Internal,
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::NoSuchContainer(_)
            | Error::NoSuchImage(_)
            | Error::NoSuchVolume(_)
            | Error::NoSuchNetwork(_)
            | Error::NotFound(_) => Kind::NotFound,
            Error::NotRunning(_) | Error::Conflict(_) => Kind::Conflict,
            Error::Invalid(_) | Error::BuildStep { .. } => Kind::Invalid,
            Error::NotImplemented(_) => Kind::NotImplemented,
            Error::BrokenContainer { .. } | Error::BrokenImage { .. } | Error::Internal(_) => {
                Kind::Internal
            }
        }
    }

    /// The Docker Engine API's status code for this error.
    pub fn status(&self) -> u16 {
        match self.kind() {
            Kind::NotFound => 404,
            Kind::Conflict => 409,
            Kind::Invalid => 400,
            Kind::NotImplemented => 501,
            Kind::Internal => 500,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match (store_kind(&e), e) {
            (_, StoreError::NoSuchContainer(q)) => Error::NoSuchContainer(q),
            (_, StoreError::NoSuchImage(q)) => Error::NoSuchImage(q),
            (_, StoreError::NoSuchVolume(q)) => Error::NoSuchVolume(q),
            (_, StoreError::BrokenContainer { id, reason }) => {
                Error::BrokenContainer { id, reason }
            }
            (_, StoreError::BrokenImage { id, reason }) => Error::BrokenImage { id, reason },
            (Kind::Conflict, e) => Error::Conflict(e.to_string()),
            (Kind::Invalid, e) => Error::Invalid(e.to_string()),
            (_, e) => Error::Internal(e.into()),
        }
    }
}

/// The engine's internals use `anyhow` for context; a typed error raised
/// inside (or a store error passed up) keeps its kind on the way out, and
/// under added context its kind with the whole message. Anything else is
/// internal.
impl From<anyhow::Error> for Error {
    fn from(mut e: anyhow::Error) -> Self {
        // anyhow downcasts through context to the error beneath: take the
        // typed error as it is only when no context was added over it.
        let top = e.to_string();
        if e.downcast_ref::<Error>()
            .is_some_and(|t| t.to_string() == top)
        {
            match e.downcast::<Error>() {
                Ok(typed) => return typed,
                Err(back) => e = back,
            }
        }
        if e.downcast_ref::<StoreError>()
            .is_some_and(|t| t.to_string() == top)
        {
            match e.downcast::<StoreError>() {
                Ok(store) => return store.into(),
                Err(back) => e = back,
            }
        }
        let kind = e.chain().find_map(|c| {
            if let Some(typed) = c.downcast_ref::<Error>() {
                Some(typed.kind())
            } else if let Some(store) = c.downcast_ref::<StoreError>() {
                Some(store_kind(store))
            } else if let Some(net) = c.downcast_ref::<pocky_net::NetError>() {
                Some(net_kind(net))
            } else {
                c.downcast_ref::<pocky_registry::RegistryError>()
                    .map(registry_kind)
            }
        });
        let message = || crate::one_line(&e);
        match kind {
            Some(Kind::NotFound) => Error::NotFound(message()),
            Some(Kind::Conflict) => Error::Conflict(message()),
            Some(Kind::Invalid) => Error::Invalid(message()),
            Some(Kind::NotImplemented) => Error::NotImplemented(message()),
            Some(Kind::Internal) | None => Error::Internal(e),
        }
    }
}

fn store_kind(e: &StoreError) -> Kind {
    match e {
        StoreError::NoSuchContainer(_)
        | StoreError::NoSuchImage(_)
        | StoreError::NoSuchVolume(_) => Kind::NotFound,
        StoreError::NameInUse { .. }
        | StoreError::ImageInUse { .. }
        | StoreError::VolumeInUse { .. } => Kind::Conflict,
        StoreError::Ambiguous { .. } | StoreError::BadVolumeName(_) | StoreError::BadDigest(_) => {
            Kind::Invalid
        }
        _ => Kind::Internal,
    }
}

/// Errors of the crates beneath are internal unless the engine says
/// otherwise where it calls them.
macro_rules! internal_from {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Internal(e.into())
            }
        })*
    };
}

internal_from!(
    std::io::Error,
    pocky_cgroup::CgroupError,
    pocky_fs::FsError,
    pocky_ns::NsError,
    pocky_runtime::RuntimeError,
);

/// A bad reference is the caller's mistake; a registry that has no such
/// image (or no variant for the platform) is Docker's 404.
impl From<pocky_registry::RegistryError> for Error {
    fn from(e: pocky_registry::RegistryError) -> Self {
        match registry_kind(&e) {
            Kind::Invalid => Error::Invalid(e.to_string()),
            Kind::NotFound => Error::NotFound(e.to_string()),
            _ => Error::Internal(e.into()),
        }
    }
}

impl From<pocky_net::NetError> for Error {
    fn from(e: pocky_net::NetError) -> Self {
        match (net_kind(&e), e) {
            (_, pocky_net::NetError::NoSuchNetwork(n)) => Error::NoSuchNetwork(n),
            (Kind::Conflict, e) => Error::Conflict(e.to_string()),
            (Kind::Invalid, e) => Error::Invalid(e.to_string()),
            (_, e) => Error::Internal(e.into()),
        }
    }
}

fn net_kind(e: &pocky_net::NetError) -> Kind {
    use pocky_net::NetError as N;
    match e {
        N::NoSuchNetwork(_) => Kind::NotFound,
        N::NetworkExists(_)
        | N::InUse { .. }
        | N::PortAllocated { .. }
        | N::AddressTaken { .. }
        | N::SubnetOverlaps(_) => Kind::Conflict,
        N::BadSubnet(_)
        | N::BadPort { .. }
        | N::BadName(_)
        | N::AddressOutside { .. }
        | N::Invalid(_) => Kind::Invalid,
        _ => Kind::Internal,
    }
}

fn registry_kind(e: &pocky_registry::RegistryError) -> Kind {
    use pocky_registry::RegistryError as R;
    match e {
        R::InvalidReference { .. } | R::InvalidDigest { .. } | R::InvalidPlatform { .. } => {
            Kind::Invalid
        }
        R::Status { status: 404, .. } | R::NoMatchingPlatform { .. } => Kind::NotFound,
        _ => Kind::Internal,
    }
}

/// `bail!(invalid!("bad {x}"))` inside anyhow code: the kind survives.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::Error::Invalid(format!($($arg)*))
    };
}

/// `bail!(conflict!("..."))` inside anyhow code.
#[macro_export]
macro_rules! conflict {
    ($($arg:tt)*) => {
        $crate::Error::Conflict(format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_survive_anyhow_and_the_store() {
        let e: Error = anyhow::Error::new(StoreError::NoSuchContainer("x".into())).into();
        assert_eq!(e.kind(), Kind::NotFound);
        assert_eq!(e.to_string(), "no such container: x");
        let e: Error = anyhow::Error::new(invalid!("bad {}", 1)).into();
        assert_eq!((e.kind(), e.status()), (Kind::Invalid, 400));
        let e: Error = StoreError::NameInUse {
            name: "a".into(),
            id: "b".into(),
        }
        .into();
        assert_eq!(e.status(), 409);
        let e: Error = anyhow::Error::new(invalid!("bad"))
            .context("parsing -v")
            .into();
        assert_eq!(
            (e.kind(), e.to_string().as_str()),
            (Kind::Invalid, "parsing -v: bad")
        );
        let e: Error = anyhow::anyhow!("disk on fire").into();
        assert_eq!(
            (e.kind(), e.to_string().as_str()),
            (Kind::Internal, "disk on fire")
        );
    }
}
