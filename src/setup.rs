//! A configuration and what it opened: the sinks, the spool and audit trail under `dataDir`,
//! and the scrubber. Each captured error holds the setup it was captured under, so an `init`
//! that changes the DSN does not reroute errors already on their way; the old sinks close
//! once their last error is delivered.

use crate::audit::Audit;
use crate::event::Host;
use crate::ledger::SinkKind;
use crate::log;
use crate::options::{Config, ConfigError};
use crate::scrub::{self, Scrubber};
use crate::sinks::{self, Fanout, Finished};
use crate::spool::{Durable, Spool};
use std::sync::Arc;

pub struct Setup {
    pub config: Config,
    pub host: Host,
    pub scrubber: Scrubber,
    /// The sinks, and the window of events they hold (`sinks/window.rs`).
    pub sinks: Arc<Fanout>,
    pub durable: Arc<Durable>,
}

impl Setup {
    /// Opens what `config` asks for. Fails only when `dataDir` was given as an option and
    /// events cannot be kept there: a programming error the caller must hear of. From the
    /// environment (or by default) the same trouble is one warning and `stats().storageError`.
    pub fn open(config: Config, host: Host) -> Result<Setup, ConfigError> {
        let (spool, problem) = match Spool::open(&config.data_dir) {
            Ok(spool) => (Some(spool), None),
            Err(e) => {
                let problem = format!(
                    "cannot keep events under {} ({e}): no spool, outbox or audit trail, so a \
                     crash or an outage loses what is waiting",
                    config.data_dir.display()
                );
                if config.data_dir_given {
                    return Err(ConfigError {
                        field: "dataDir".to_owned(),
                        message: problem,
                        variable: None,
                    });
                }
                log::warn(format_args!("{problem}"));
                // The audit trail and the outbox fail for the same reason: said once, here.
                log::covered("audit");
                log::covered("outbox");
                (None, Some(problem))
            }
        };
        let durable = Arc::new(Durable {
            spool,
            audit: Audit::new(config.data_dir.join("audit"), config.audit_retention_days),
            problem,
            release: config.release.as_deref().map(Arc::from),
            environment: Some(Arc::from(config.environment.as_str())),
        });
        Ok(Setup {
            scrubber: Scrubber::sharing(&config.scrub, scrub::process_memory()),
            sinks: Fanout::new(sinks::for_config(&config), durable.clone()),
            durable,
            config,
            host,
        })
    }

    /// Whether this setup has any of the sinks in `owed`.
    pub fn serves(&self, owed: &[SinkKind]) -> bool {
        !self.sinks.sinks_for(owed).is_empty()
    }

    /// The kinds of this setup's sinks: what a freshly finished event is owed to.
    pub fn kinds(&self) -> Vec<SinkKind> {
        self.sinks.iter().map(|s| s.kind()).collect()
    }

    /// The one fan-out, for the worker's events and replayed ones alike: hands `finished` to
    /// each of this setup's sinks that it is owed to, within their window
    /// (`sinks/window.rs`). Those it is owed to that this setup lacks keep it owed in the
    /// spool, untouched, for a start that has them.
    pub fn hand_over(&self, finished: Finished, owed: &[SinkKind]) {
        self.sinks.hand_over(finished, owed);
    }
}
