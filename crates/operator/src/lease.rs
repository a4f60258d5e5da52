//! Leader election with a `coordination.k8s.io/v1` Lease, the way client-go does it: the
//! holder renews the lease every `retry_period`; a candidate takes it over only after it has
//! seen the lease record unchanged for a whole `lease_duration` on its own clock (so clock skew
//! between nodes does not matter); the holder stops acting when it could not renew for
//! `renew_deadline`, which is shorter than `lease_duration`, so two replicas never act at once.
//! Every write carries the `resourceVersion` it read, so two candidates cannot both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

use crate::Result;

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone)]
pub struct LeaseTiming {
    /// A candidate takes over a lease it has seen unchanged for this long.
    pub lease_duration: Duration,
    /// The holder stops acting when it could not renew for this long (< `lease_duration`).
    pub renew_deadline: Duration,
    /// How often the holder renews and candidates retry.
    pub retry_period: Duration,
}

impl Default for LeaseTiming {
    /// client-go's defaults.
    fn default() -> Self {
        LeaseTiming {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One candidate's view of one Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    /// The lease record last read (its resourceVersion) and when this process first saw it.
    observed: Option<(String, Instant)>,
}

impl LeaseLock {
    pub fn new(api: Api<Lease>, name: &str, identity: &str, timing: LeaseTiming) -> Self {
        LeaseLock {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn timing(&self) -> &LeaseTiming {
        &self.timing
    }

    /// Takes the lease if it is free or expired, renews it if held; true when this candidate
    /// holds it now. `Err` only for API failures other than losing a race.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let now = MicroTime(Timestamp::now());
        let seconds = self.timing.lease_duration.as_secs().max(1) as i32;
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return self.write(self.api.create(&PostParams::default(), &lease).await);
        };
        let version = current
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        let first_seen = match &self.observed {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((version, at));
                at
            }
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let held_by_me = holder == self.identity;
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(self.timing.lease_duration);
        if !held_by_me && !holder.is_empty() && first_seen.elapsed() < duration {
            return Ok(false);
        }
        let mut lease = current;
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(seconds),
            acquire_time: if held_by_me {
                spec.acquire_time.clone()
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if held_by_me {
                transitions
            } else {
                transitions + 1
            }),
            ..spec
        });
        let written = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await;
        self.write(written)
    }

    /// Gives the lease up (on shutdown) so another replica need not wait for it to expire.
    pub async fn release(&mut self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        self.write(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await,
        )?;
        Ok(())
    }

    /// A write succeeded (true), lost a race to another candidate (false) or failed.
    fn write(&mut self, result: kube::Result<Lease>) -> Result<bool> {
        match result {
            Ok(lease) => {
                let version = lease.metadata.resource_version.unwrap_or_default();
                self.observed = Some((version, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
