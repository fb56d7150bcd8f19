//! The multi-host form of a MySQL URL: `mysql://user:password@host1:3311,host2:3312/db?x`
//! names one database reachable through several nodes of a cluster, tried in that order.
//! Pure parsing: no I/O.

/// Why a database URL cannot be read as a list of nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("a database URL with several hosts must be mysql:// or mariadb://")]
    NotMySql,
    #[error("empty host in the list of `{0}` (hosts are separated by single commas)")]
    EmptyHost(String),
    #[error("host `{0}` is listed twice")]
    Duplicate(String),
}

/// One database on one or more nodes, in the order they are preferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes {
    /// `mysql://user:password@` (scheme and credentials, `mariadb:` read as `mysql:`).
    prefix: String,
    /// `host:port` of each node, as written.
    hosts: Vec<String>,
    /// `/db?options`, possibly empty.
    suffix: String,
}

impl Nodes {
    /// Reads `url`. A URL that is not MySQL (SQLite) or names a single host is one node.
    pub fn parse(url: &str) -> Result<Nodes, UrlError> {
        let mysql = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"));
        let Some(rest) = mysql else {
            if url.contains(',') && !url.starts_with("sqlite:") {
                return Err(UrlError::NotMySql);
            }
            return Ok(Nodes {
                prefix: String::new(),
                hosts: vec![url.to_owned()],
                suffix: String::new(),
            });
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, suffix) = rest.split_at(end);
        // Credentials end at the last '@' (a password may hold one, percent-encoded or not).
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let mut list: Vec<String> = Vec::new();
        for host in hosts.split(',') {
            if host.is_empty() {
                return Err(UrlError::EmptyHost(hosts.to_owned()));
            }
            if list.iter().any(|h| h == host) {
                return Err(UrlError::Duplicate(host.to_owned()));
            }
            list.push(host.to_owned());
        }
        Ok(Nodes {
            prefix: format!("mysql://{userinfo}"),
            hosts: list,
            suffix: suffix.to_owned(),
        })
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Always false: a URL names at least one node.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// More than one node: the database can fail over.
    pub fn is_cluster(&self) -> bool {
        self.hosts.len() > 1
    }

    /// The single-host URL of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("{}{}{}", self.prefix, self.hosts[i], self.suffix)
    }

    /// `host:port` of node `i`, for logs and metric labels (no credentials).
    pub fn host(&self, i: usize) -> &str {
        &self.hosts[i]
    }

    /// The same database with the nodes in another order: node `first` first, the others
    /// after it in their order, wrapping around (so writers can be placed on a node).
    pub fn starting_at(&self, first: usize) -> Nodes {
        let n = self.hosts.len();
        Nodes {
            hosts: (0..n)
                .map(|k| self.hosts[(first + k) % n].clone())
                .collect(),
            ..self.clone()
        }
    }

    /// The database's name (the URL's path), for metric labels; `default` without one.
    pub fn database_label(&self) -> String {
        let path = self.suffix.trim_start_matches('/');
        let name = path.split('?').next().unwrap_or("");
        if name.is_empty() {
            "default".to_owned()
        } else {
            name.to_owned()
        }
    }

    /// The multi-host URL again.
    pub fn to_url(&self) -> String {
        format!("{}{}{}", self.prefix, self.hosts.join(","), self.suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_list_of_hosts_is_one_database_on_several_nodes() {
        let nodes = Nodes::parse(
            "mysql://saga:p%40ss@db1:3311,db2:3312,db3/saga_orchestrator?ssl-mode=disabled",
        )
        .unwrap();
        assert_eq!(nodes.len(), 3);
        assert!(nodes.is_cluster());
        assert_eq!(
            nodes.url(0),
            "mysql://saga:p%40ss@db1:3311/saga_orchestrator?ssl-mode=disabled"
        );
        assert_eq!(
            nodes.url(2),
            "mysql://saga:p%40ss@db3/saga_orchestrator?ssl-mode=disabled"
        );
        assert_eq!(nodes.host(1), "db2:3312");
        assert_eq!(nodes.database_label(), "saga_orchestrator");
        let rotated = nodes.starting_at(1);
        assert_eq!(
            (rotated.host(0), rotated.host(1), rotated.host(2)),
            ("db2:3312", "db3", "db1:3311")
        );
        assert_eq!(
            rotated.to_url(),
            "mysql://saga:p%40ss@db2:3312,db3,db1:3311/saga_orchestrator?ssl-mode=disabled"
        );
    }

    #[test]
    fn single_hosts_and_sqlite_are_one_node_unchanged() {
        for url in [
            "mysql://root@127.0.0.1:3306/saga",
            "mysql://root@127.0.0.1:3306",
            "sqlite://data/saga.db",
        ] {
            let nodes = Nodes::parse(url).unwrap();
            assert!(!nodes.is_cluster(), "{url}");
            assert_eq!(nodes.url(0), url);
        }
        // mariadb: is read as mysql:, with or without a user.
        let nodes = Nodes::parse("mariadb://h1,h2?x=1").unwrap();
        assert_eq!(nodes.url(1), "mysql://h2?x=1");
        assert_eq!(nodes.database_label(), "default");
    }

    #[test]
    fn malformed_lists_are_refused_with_what_is_wrong() {
        assert_eq!(
            Nodes::parse("mysql://u@h1,,h2/db"),
            Err(UrlError::EmptyHost("h1,,h2".into()))
        );
        assert_eq!(
            Nodes::parse("mysql://u@h1,/db"),
            Err(UrlError::EmptyHost("h1,".into()))
        );
        assert_eq!(
            Nodes::parse("mysql://u@h1:1,h1:1/db"),
            Err(UrlError::Duplicate("h1:1".into()))
        );
        assert_eq!(Nodes::parse("postgres://h1,h2/db"), Err(UrlError::NotMySql));
    }
}
