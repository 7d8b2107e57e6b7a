//! What a front end sees of a failure: the kind, hence the exit or status
//! code, not only the text.

use pocky_engine::{Error, Kind, lifecycle};
use pocky_store::Store;

#[test]
fn operations_say_what_kind_of_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let e = lifecycle::pause(&store, "nosuch").unwrap_err();
    assert!(
        matches!(e, Error::NoSuchContainer(ref n) if n == "nosuch"),
        "{e:?}"
    );
    assert_eq!(e.status(), 404);
    let e = lifecycle::rename(&store, "nosuch", "bad name!").unwrap_err();
    assert_eq!(e.kind(), Kind::Invalid, "{e:?}");
    let e = pocky_engine::lookup::find(&store, "nosuch:1").unwrap_err();
    assert!(matches!(e, Error::NoSuchImage(_)), "{e:?}");
    let e: Error = pocky_engine::flags::memory("1k").unwrap_err().into();
    assert_eq!(e.status(), 400, "{e}");
    let e: Error = pocky_engine::filters::ContainerFilter::parse(&["nosuch=1".into()])
        .unwrap_err()
        .into();
    assert_eq!(e.kind(), Kind::Invalid, "{e}");
}
