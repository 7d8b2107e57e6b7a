//! An in-process stub registry on 127.0.0.1 for the integration tests.
#![allow(dead_code)]

pub mod upload;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use pocky_registry::{ClientOptions, Digest};

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or(&self.url)
    }
}

/// A canned response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
        Resp::new(200)
            .header("Content-Type", content_type)
            .body(body)
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Resp {
        self.body = b.into();
        self
    }
    pub fn not_found() -> Resp {
        Resp::new(404)
            .header("Content-Type", "application/json")
            .body(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#)
    }
}

type Handler = Box<dyn Fn(&Req) -> Resp + Send + Sync>;

/// A tiny_http server answering with a handler; it records every request.
pub struct Stub {
    server: Arc<tiny_http::Server>,
    pub port: u16,
    log: Arc<Mutex<Vec<Req>>>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    /// `make` gets the port, so handlers can point at their own server.
    pub fn start<F, H>(make: F) -> Stub
    where
        F: FnOnce(u16) -> H,
        H: Fn(&Req) -> Resp + Send + Sync + 'static,
    {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let handler: Handler = Box::new(make(port));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (srv, lg) = (server.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            for mut request in srv.incoming_requests() {
                let mut body = Vec::new();
                let _ = std::io::Read::read_to_end(request.as_reader(), &mut body);
                let req = Req {
                    method: request.method().to_string(),
                    url: request.url().to_string(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                };
                lg.lock().unwrap().push(req.clone());
                let r = handler(&req);
                let mut resp = tiny_http::Response::from_data(r.body).with_status_code(r.status);
                for (k, v) in r.headers {
                    resp.add_header(
                        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                    );
                }
                let _ = request.respond(resp);
            }
        });
        Stub {
            server,
            port,
            log,
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, pred: impl Fn(&Req) -> bool) -> usize {
        self.requests().iter().filter(|r| pred(r)).count()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A raw TCP server for behaviour tiny_http cannot produce (dropping a
/// connection mid-body). `serve` gets the request head and the stream.
pub struct RawStub {
    pub port: u16,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl RawStub {
    pub fn start(
        connections: usize,
        serve: impl Fn(usize, &str, &mut std::net::TcpStream) + Send + 'static,
    ) -> RawStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let h = heads.clone();
        std::thread::spawn(move || {
            for i in 0..connections {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                h.lock().unwrap().push(head.clone());
                serve(i, &head, &mut stream);
                let _ = stream.flush();
                // Dropping the stream closes the connection.
            }
        });
        RawStub { port, heads }
    }
}

pub fn write_raw(
    stream: &mut std::net::TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(body);
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// An image's blobs and manifest, ready to serve.
#[derive(Clone)]
pub struct Image {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub layers: Vec<(Digest, Vec<u8>)>,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub media_type: &'static str,
}

impl Image {
    pub fn new(arch: &str, layers: &[&[u8]], docker: bool) -> Image {
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        )
        .into_bytes();
        let config_digest = Digest::sha256_of(&config);
        let layers: Vec<(Digest, Vec<u8>)> = layers
            .iter()
            .map(|l| (Digest::sha256_of(l), l.to_vec()))
            .collect();
        let (mt, cfg_mt, layer_mt) = if docker {
            (
                DOCKER_MANIFEST,
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        } else {
            (
                OCI_MANIFEST,
                "application/vnd.oci.image.config.v1+json",
                OCI_LAYER,
            )
        };
        let layer_json: Vec<String> = layers
            .iter()
            .map(|(d, b)| {
                format!(
                    r#"{{"mediaType":"{layer_mt}","digest":"{d}","size":{}}}"#,
                    b.len()
                )
            })
            .collect();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{mt}","config":{{"mediaType":"{cfg_mt}","digest":"{config_digest}","size":{}}},"layers":[{}]}}"#,
            config.len(),
            layer_json.join(",")
        )
        .into_bytes();
        Image {
            manifest_digest: Digest::sha256_of(&manifest),
            config,
            config_digest,
            layers,
            manifest,
            media_type: mt,
        }
    }

    /// Blob path -> body, for a content map.
    pub fn add_to(&self, repo: &str, content: &mut HashMap<String, Resp>) {
        content.insert(
            format!("/v2/{repo}/blobs/{}", self.config_digest),
            Resp::ok("application/octet-stream", self.config.clone()),
        );
        for (d, b) in &self.layers {
            content.insert(
                format!("/v2/{repo}/blobs/{d}"),
                Resp::ok("application/octet-stream", b.clone()),
            );
        }
        content.insert(
            format!("/v2/{repo}/manifests/{}", self.manifest_digest),
            Resp::ok(self.media_type, self.manifest.clone()),
        );
    }
}

/// An index over `(image, os, arch, variant)` entries.
pub fn index(media_type: &str, entries: &[(&Image, &str, &str, Option<&str>)]) -> Vec<u8> {
    let list: Vec<String> = entries
        .iter()
        .map(|(img, os, arch, variant)| {
            let v = variant.map(|v| format!(r#","variant":"{v}""#)).unwrap_or_default();
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"{os}","architecture":"{arch}"{v}}}}}"#,
                img.media_type,
                img.manifest_digest,
                img.manifest.len()
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{media_type}","manifests":[{}]}}"#,
        list.join(",")
    )
    .into_bytes()
}

/// Serves a fixed path -> response map, 404 for anything else.
pub fn serve_map(content: HashMap<String, Resp>) -> impl Fn(&Req) -> Resp + Send + Sync + 'static {
    move |req: &Req| {
        content
            .get(req.path())
            .cloned()
            .unwrap_or_else(Resp::not_found)
    }
}

/// Options for tests: no real docker config, few retries.
pub fn options(dir: &std::path::Path) -> ClientOptions {
    ClientOptions {
        docker_config: Some(dir.join("no-config.json")),
        retries: 3,
        ..ClientOptions::default()
    }
}
