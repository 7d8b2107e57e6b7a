//! Published ports: `-p` parsing and the choice of a free host port.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::NetError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port. `host_port` 0 means "pick a free one".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Host address to listen on; `None` for all of them.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        write!(
            f,
            "{ip}:{}->{}/{}",
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

impl PortMapping {
    /// Parses Docker's `[[ip:]hostPort:]containerPort[/tcp|/udp]`.
    pub fn parse(spec: &str) -> Result<Self, NetError> {
        let bad = |why: &str| NetError::BadPort {
            spec: spec.to_owned(),
            why: why.to_owned(),
        };
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, "tcp")) => (r, Proto::Tcp),
            Some((r, "udp")) => (r, Proto::Udp),
            Some(_) => return Err(bad("protocol must be tcp or udp")),
            None => (spec, Proto::Tcp),
        };
        let port = |s: &str, zero_ok: bool| -> Result<u16, NetError> {
            match s.parse::<u16>() {
                Ok(0) if !zero_ok => Err(bad("port 0")),
                Ok(p) => Ok(p),
                Err(_) => Err(bad("ports are numbers from 1 to 65535")),
            }
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (host_ip, host_port, container) = match parts.as_slice() {
            [c] => (None, 0, *c),
            [h, c] => (None, port(h, false)?, *c),
            [ip, h, c] => {
                let ip: Ipv4Addr = ip.parse().map_err(|_| bad("host address is not IPv4"))?;
                let h = if h.is_empty() { 0 } else { port(h, false)? };
                (Some(ip).filter(|i| !i.is_unspecified()), h, *c)
            }
            _ => return Err(bad("too many ':'")),
        };
        Ok(Self {
            host_ip,
            host_port,
            container_port: port(container, false)?,
            proto,
        })
    }
}

impl PortMapping {
    /// Whether the two would take the same host port: same protocol and
    /// port, and addresses that overlap (unset means every address).
    pub fn clashes_with(&self, other: &PortMapping) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && match (self.host_ip, other.host_ip) {
                (Some(a), Some(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
                _ => true,
            }
    }
}

/// Refuses `wanted` ports (explicit ones, `host_port` set) that clash
/// with one `taken` by another container, or with each other.
pub fn check_free(wanted: &[PortMapping], taken: &[PortMapping]) -> Result<(), NetError> {
    for (i, p) in wanted.iter().enumerate() {
        if p.host_port == 0 {
            continue;
        }
        let earlier = &wanted[..i];
        if taken.iter().chain(earlier).any(|t| p.clashes_with(t)) {
            return Err(NetError::PortAllocated {
                addr: p
                    .host_ip
                    .map_or_else(|| "0.0.0.0".to_owned(), |ip| ip.to_string()),
                port: p.host_port,
                proto: p.proto.as_str(),
            });
        }
    }
    Ok(())
}

/// A host port free now for `proto`, from the kernel's ephemeral range.
pub fn free_port(proto: Proto, avoid: &[u16]) -> Result<u16, NetError> {
    for _ in 0..32 {
        let port = match proto {
            Proto::Tcp => TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port()),
            Proto::Udp => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port()),
        };
        if let Ok(p) = port
            && !avoid.contains(&p)
        {
            return Ok(p);
        }
    }
    Err(NetError::NoFreePort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashes_need_protocol_port_and_overlapping_addresses() {
        let p = |s: &str| PortMapping::parse(s).unwrap();
        let taken = [p("8080:80"), p("127.0.0.1:9000:90"), p("5353:53/udp")];
        assert!(check_free(&[p("8080:81")], &taken).is_err());
        assert!(
            check_free(&[p("10.0.0.1:8080:81")], &taken).is_err(),
            "0.0.0.0 covers it"
        );
        assert!(
            check_free(&[p("9000:90")], &taken).is_err(),
            "all addresses cover 127.0.0.1"
        );
        assert!(check_free(&[p("10.0.0.1:9000:90")], &taken).is_ok());
        assert!(
            check_free(&[p("5353:53")], &taken).is_ok(),
            "tcp and udp differ"
        );
        assert!(
            check_free(&[p("8081:80"), p("8081:81")], &[]).is_err(),
            "twice in one run"
        );
        let e = check_free(&[p("8080:80")], &taken).unwrap_err().to_string();
        assert_eq!(
            e,
            "Bind for 0.0.0.0:8080/tcp failed: port is already allocated"
        );
    }

    #[test]
    fn docker_forms() {
        let p = PortMapping::parse("8080:80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.proto),
            (None, 8080, 80, Proto::Tcp)
        );
        let p = PortMapping::parse("127.0.0.1:53:5353/udp").unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(
            (p.host_port, p.container_port, p.proto),
            (53, 5353, Proto::Udp)
        );
        let p = PortMapping::parse("80").unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 80));
        let p = PortMapping::parse("0.0.0.0::80/tcp").unwrap();
        assert_eq!((p.host_ip, p.host_port), (None, 0));
        for bad in [
            "",
            "x",
            "80/sctp",
            "1:2:3:4",
            "70000",
            "0",
            "::1:80:80",
            "a.b:1:2",
        ] {
            assert!(PortMapping::parse(bad).is_err(), "{bad}");
        }
    }
}
