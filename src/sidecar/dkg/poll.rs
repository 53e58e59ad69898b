//! One poll of the Obol API: the definitions that name our operator,
//! classified for this node, and what the status says about them.

use super::*;

/// One poll: returns a definition to run the DKG for, or how long to wait.
/// Each poll is one change of the status (its count, what it found and when
/// the next one comes together), so one ConfigMap write at most.
pub(super) async fn poll_once(
    api: &ObolApi,
    us: &OurNode,
    reporter: &mut Reporter,
    backoff: &mut crate::obol_api::Backoff,
    metrics: &Metrics,
) -> anyhow::Result<(Option<Definition>, Duration)> {
    let result = api.definitions_for_operator(&us.operator).await;
    metrics.poll();
    if let Err(error) = &result {
        metrics.api_error(error.kind());
    }
    let polled_at = SystemTime::now();
    let listed = match result {
        Ok(listed) => listed,
        Err(error) if error.is_retryable() => {
            let delay =
                error.retry_after().unwrap_or_default().max(backoff.next_delay()).max(Duration::from_millis(100));
            tracing::warn!(%error, kind = ?error.kind(), ?delay, "polling the Obol API failed");
            let reason = poll_failure(&api.config().endpoint(), &error);
            reporter.update(|s| s.poll_failed(polled_at, delay, reason));
            return Ok((None, delay));
        }
        Err(error) => {
            reporter.update(|s| s.poll_made(polled_at, None));
            return Err(error).context("polling the Obol API");
        }
    };

    let mut found = Found::sort(listed, us);
    if !found.ready.is_empty() {
        // No poll is due while the DKG runs (or after the error below).
        reporter.update(|s| s.poll_answered(polled_at, None));
        ensure!(
            found.ready.len() == 1,
            "{} fully signed definitions name this operator ({}); set charon.dkgSidecar.targetConfigHash to the one to join",
            found.ready.len(),
            found.ready.iter().map(Definition::config_hash_hex).collect::<Vec<_>>().join(", ")
        );
        return Ok((found.ready.pop(), Duration::ZERO));
    }
    if let Some(pending) = found.pending {
        // Signatures are arriving: poll at the initial interval so the DKG
        // starts within one interval of the last signature.
        backoff.reset();
        let delay = api.config().retry.initial;
        reporter.update(|s| {
            s.poll_answered(polled_at, Some(delay));
            s.invite_pending(pending.awaiting_us, invite_status(&pending.definition, pending.signed, pending.missing));
        });
        return Ok((None, delay));
    }
    let delay = backoff.next_delay().max(Duration::from_millis(100));
    let detail = no_invite_detail(&api.config().endpoint(), us, found.unusable.as_ref());
    reporter.update(|s| {
        s.poll_answered(polled_at, Some(delay));
        s.waiting_for_invite(Some(detail));
    });
    Ok((None, delay))
}

/// The first listed definition that waits for signatures.
struct Pending {
    definition: Definition,
    awaiting_us: bool,
    signed: usize,
    missing: Vec<String>,
}

/// What one poll's definitions are to this node.
struct Found {
    ready: Vec<Definition>,
    pending: Option<Pending>,
    /// The nearest to usable of those that name us but cannot be used.
    unusable: Option<Invite>,
}

impl Found {
    fn sort(listed: Vec<crate::obol_api::ListedDefinition>, us: &OurNode) -> Self {
        let mut found = Found { ready: Vec::new(), pending: None, unusable: None };
        for item in listed {
            let definition = match item.parsed {
                Ok(definition) => definition,
                Err(error) => {
                    tracing::warn!(config_hash = ?item.config_hash, %error, "ignoring a definition Charon cannot read");
                    continue;
                }
            };
            match classify(&definition, us) {
                Invite::Ready => found.ready.push(definition),
                Invite::AwaitingOurSignature { signed, missing, .. } => {
                    found.pending.get_or_insert(Pending { definition, awaiting_us: true, signed, missing });
                }
                Invite::WaitingForOthers { signed, missing, .. } => {
                    found.pending.get_or_insert(Pending { definition, awaiting_us: false, signed, missing });
                }
                Invite::NotForUs => {}
                invite => {
                    if let Invite::Invalid { reason } = &invite {
                        tracing::warn!(config_hash = %definition.config_hash_hex(), %reason, "refusing an invalid definition");
                    }
                    if found.unusable.as_ref().is_none_or(|u| nearness(&invite) > nearness(u)) {
                        found.unusable = Some(invite);
                    }
                }
            }
        }
        found
    }
}

/// What the status says about a poll that failed and is retried.
pub(super) fn poll_failure(endpoint: &str, error: &ApiError) -> String {
    match error {
        ApiError::Transient { kind: ErrorKind::Connect | ErrorKind::Timeout, reason, .. } => format!(
            "cannot reach the Obol API at {endpoint}: {reason}. Check charon.dkgSidecar.apiEndpoint, and that this pod \
             may connect to it (DNS, NetworkPolicy egress, proxy)"
        ),
        other => other.to_string(),
    }
}

/// How near an invite that names our operator but cannot be used came to
/// usable: the nearest one says what to fix.
pub(super) fn nearness(invite: &Invite) -> u8 {
    match invite {
        Invite::Invalid { .. } => 2,
        Invite::WrongNetwork { .. } => 1,
        _ => 0,
    }
}

/// Why a poll found nothing to join, and which value to check: `unusable`
/// is the nearest invite that names our operator, if any does.
pub(super) fn no_invite_detail(endpoint: &str, us: &OurNode, unusable: Option<&Invite>) -> String {
    let operator = us.operator;
    match unusable {
        Some(Invite::Invalid { reason }) => {
            format!("the cluster invite on {endpoint} for operator {operator} cannot be used: {reason}")
        }
        Some(Invite::WrongNetwork { definition, ours }) => format!(
            "the cluster invite on {endpoint} for operator {operator} is for {}, but this node is for {ours}: check \
             the chart's network value",
            definition.map_or("an unknown network".to_string(), |n| n.to_string())
        ),
        Some(Invite::NotTarget { target }) => format!(
            "cluster invites on {endpoint} name operator {operator}, but none has config hash {target}: check \
             charon.dkgSidecar.targetConfigHash"
        ),
        _ => format!(
            "no cluster invite on {endpoint} names operator {operator}. If you have accepted one in the Obol \
             Launchpad, compare this address with the one it shows there (it is set by charon.operatorAddress)"
        ),
    }
}

pub(super) fn invite_status(definition: &Definition, signed: usize, missing: Vec<String>) -> status::Invite {
    status::Invite {
        config_hash: definition.config_hash_hex(),
        name: definition.name.clone(),
        signed,
        total: definition.operators.len(),
        missing,
        operators: definition.operators.iter().map(|o| o.address.clone()).collect(),
    }
}
