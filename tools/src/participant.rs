//! Which participants a load run (and its no-engine baseline) calls: the shipped user,
//! payment and order services, or the lean participant (`crate::lean`) that plays all three
//! as cheaply as a correct TCC participant can.

/// `--participant`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Participant {
    /// The user, payment and order services (`sagaflow service`), each on its own database.
    #[default]
    Services,
    /// One lean server for all three, on one database: a barrier insert and one conditional
    /// update per call.
    Lean,
}

impl Participant {
    pub fn name(self) -> &'static str {
        match self {
            Participant::Services => "services",
            Participant::Lean => "lean",
        }
    }
}

impl std::fmt::Display for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
