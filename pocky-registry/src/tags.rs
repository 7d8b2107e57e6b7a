//! A repository's tags (`GET /v2/<name>/tags/list`), followed through the
//! `Link: <...>; rel="next"` pages of the distribution spec, for `pull
//! --all-tags`. The registry is hostile: pages, their size and the number
//! of tags are bounded, each tag must be a valid one, and a next page must
//! stay on the same registry and repository.

use std::io::Read;

use serde::Deserialize;
use ureq::http::Uri;

use crate::client::Client;
use crate::error::{RegistryError, Result};
use crate::reference::{Reference, check_tag};
use crate::url::redact;

const MAX_PAGE_BYTES: u64 = 4 << 20;
const MAX_PAGES: usize = 1000;
const MAX_TAGS: usize = 100_000;

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Client {
    /// Every tag of `r`'s repository, in the registry's order (the spec
    /// says lexical).
    pub fn list_tags(&self, r: &Reference) -> Result<Vec<String>> {
        let first = format!("/v2/{}/tags/list", r.repository);
        let mut url = first.clone();
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.transport.get(
                Client::target(r),
                &url,
                &[("Accept", "application/json".to_owned())],
            )?;
            let next = resp
                .headers()
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link);
            let mut body = Vec::new();
            resp.into_body()
                .into_reader()
                .take(MAX_PAGE_BYTES + 1)
                .read_to_end(&mut body)
                .map_err(|e| RegistryError::Io {
                    what: "tag list",
                    url: redact(&url),
                    source: e,
                })?;
            let bad = |reason: String| RegistryError::Transport {
                url: redact(&url),
                reason,
            };
            if body.len() as u64 > MAX_PAGE_BYTES {
                return Err(bad(format!("tag list page over {MAX_PAGE_BYTES} bytes")));
            }
            let page: TagList = serde_json::from_slice(&body)
                .map_err(|e| bad(format!("malformed tag list: {e}")))?;
            for t in page.tags.unwrap_or_default() {
                check_tag(&t)
                    .map_err(|reason| bad(format!("the registry listed a bad tag: {reason}")))?;
                tags.push(t);
            }
            if tags.len() > MAX_TAGS {
                return Err(bad(format!("more than {MAX_TAGS} tags")));
            }
            match next {
                None => return Ok(tags),
                Some(n) => {
                    url = same_repository(r, &first, &n).ok_or_else(|| {
                        bad(format!(
                            "the next page {} leaves the repository's tag list",
                            redact(&n)
                        ))
                    })?
                }
            }
        }
        Err(RegistryError::Transport {
            url: redact(&first),
            reason: format!("more than {MAX_PAGES} pages of tags"),
        })
    }
}

/// The target of `<url>; rel="next"` in one Link header value.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_owned())
    })
}

/// The next page as a path on the registry, if it is this repository's
/// tag list (an absolute URL only on the registry's own host).
fn same_repository(r: &Reference, first: &str, next: &str) -> Option<String> {
    let path_and_query = if next.starts_with('/') {
        next.to_owned()
    } else {
        let uri: Uri = next.parse().ok()?;
        if !uri
            .authority()
            .is_some_and(|a| a.as_str().eq_ignore_ascii_case(r.api_host()))
        {
            return None;
        }
        uri.path_and_query()?.as_str().to_owned()
    };
    let path = path_and_query.split('?').next()?;
    (path == first).then_some(path_and_query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_pages_come_from_the_link_header() {
        assert_eq!(
            next_link("</v2/a/tags/list?last=x&n=2>; rel=\"next\"").as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(next_link("</x>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
        let r = Reference::parse("127.0.0.1:5000/a").unwrap();
        let first = "/v2/a/tags/list";
        assert!(same_repository(&r, first, "/v2/a/tags/list?last=x").is_some());
        assert!(same_repository(&r, first, "http://127.0.0.1:5000/v2/a/tags/list?n=1").is_some());
        assert!(same_repository(&r, first, "http://evil:5000/v2/a/tags/list").is_none());
        assert!(same_repository(&r, first, "/v2/b/tags/list").is_none());
        assert!(same_repository(&r, first, "/v2/a/blobs/x").is_none());
    }
}
